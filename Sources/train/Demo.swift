import ArgumentParser
import Autograd
import Trainer
import Core

/// A small convolutional classifier fitted on generated images: a quick end-to-end check
/// that the autograd, the layers and the optimiser learn. Prints the loss as it falls.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fit a small convnet on generated images (bars and squares) and print its loss falling.")

    @Option(help: "Training iterations.") var iterations = 150
    @Option(help: "Images per batch.") var batch = 32
    @Option(help: "Learning rate (AdamW).") var lr: Float = 3e-3
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Write the trained weights to this HDF5 file (one dataset per parameter).") var save: String?

    func validate() throws {
        guard iterations > 0, batch > 0, lr > 0 else { throw ValidationError("iterations, batch and lr must be positive") }
    }

    func run() throws {
        var rng = SeededRNG(seed: seed)
        let model = DemoNet(rng: &rng)
        let decay = model.namedParameters().filter { $0.name.hasSuffix("weight") && !$0.name.contains("norm") }.map(\.tensor)
        let rest = model.namedParameters().filter { p in !decay.contains { $0 === p.tensor } }.map(\.tensor)
        let optimizer = AdamW(groups: [ParameterGroup(decay, weightDecay: 1e-4), ParameterGroup(rest)], learningRate: lr)
        print("demo: \(model.parameterCount) parameters, \(DemoImages.classes.count) classes \(DemoImages.classes), batch \(batch)")
        var smoothed: Float? = nil
        for it in 1...iterations {
            let (images, labels) = DemoImages.batch(batch, rng: &rng)
            let logits = model(images)
            let loss = crossEntropy(logits, labels)
            optimizer.zeroGrad()
            loss.backward()
            optimizer.step()
            smoothed = smoothed.map { 0.9 * $0 + 0.1 * loss.item } ?? loss.item
            if it == 1 || it % 10 == 0 || it == iterations {
                print("iter \(it)  loss \(format(loss.item))  smoothed \(format(smoothed!))")
            }
        }
        var held = SeededRNG(seed: seed &+ 1_000_003)
        let (images, labels) = DemoImages.batch(512, rng: &held)
        let logits = withoutGrad { model(images) }
        let k = DemoImages.classes.count
        var correct = 0
        for i in 0..<labels.count {
            let row = logits.data[(i * k)..<((i + 1) * k)]
            if row.firstIndex(of: row.max()!)! - i * k == labels[i] { correct += 1 }
        }
        print("held-out accuracy: \(correct)/\(labels.count) = \(format(Float(correct) / Float(labels.count) * 100))%")
        if let save {
            try model.saveWeights(to: save)
            print("saved \(model.namedParameters().count) parameters to \(save)")
        }
    }
}

/// Softmax cross-entropy of `logits` `[N, K]` against class indices, averaged over N.
func crossEntropy(_ logits: Tensor, _ labels: [Int]) -> Tensor {
    let picked = logits.logSoftmax(axis: 1).gather(axis: 1, index: labels, indexShape: [labels.count, 1])
    return -picked.mean()
}

/// conv-GN-ReLU twice, global average pooling, a linear classifier.
final class DemoNet: Module {
    let conv1: Conv2d, norm1: GroupNorm, conv2: Conv2d, norm2: GroupNorm, head: Linear

    init(rng: inout SeededRNG) {
        conv1 = Conv2d(1, 16, kernel: 3, padding: 1, bias: false, rng: &rng)
        norm1 = GroupNorm(groups: 4, channels: 16)
        conv2 = Conv2d(16, 32, kernel: 3, stride: 2, padding: 1, bias: false, rng: &rng)
        norm2 = GroupNorm(groups: 8, channels: 32)
        head = Linear(32, DemoImages.classes.count, rng: &rng)
    }

    var children: [(String, Module)] {
        [("conv1", conv1), ("norm1", norm1), ("conv2", conv2), ("norm2", norm2), ("head", head)]
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let h = norm2(conv2(norm1(conv1(x)).relu())).relu()
        return head(h.mean(axes: [2, 3]))
    }
}

/// 16x16 grey images of one horizontal bar, one vertical bar or one filled square, at random
/// places and brightness, over noise.
enum DemoImages {
    static let classes = ["horizontal bar", "vertical bar", "square"]
    static let size = 16

    static func batch(_ n: Int, rng: inout SeededRNG) -> (Tensor, [Int]) {
        var pixels = [Float](repeating: 0, count: n * size * size)
        var labels = [Int]()
        for i in 0..<n {
            let label = rng.nextInt(below: classes.count)
            labels.append(label)
            let (h, w): (Int, Int) = label == 0 ? (2, 10) : label == 1 ? (10, 2) : (5, 5)
            let y0 = rng.nextInt(below: size - h + 1), x0 = rng.nextInt(below: size - w + 1)
            let brightness = 0.6 + 0.4 * rng.nextUniform()
            for y in 0..<size {
                for x in 0..<size {
                    let inside = y >= y0 && y < y0 + h && x >= x0 && x < x0 + w
                    pixels[(i * size + y) * size + x] = (inside ? brightness : 0) + 0.3 * (rng.nextUniform() - 0.5)
                }
            }
        }
        return (Tensor(shape: [n, 1, size, size], data: pixels), labels)
    }
}

func format(_ x: Float, digits: Int = 4) -> String {
    var s = String(Double(x))
    if let dot = s.firstIndex(of: "."), s.distance(from: dot, to: s.endIndex) > digits + 1, !s.contains("e") {
        s = String(s[..<s.index(dot, offsetBy: digits + 1)])
    }
    return s
}
