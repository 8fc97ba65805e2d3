import Dispatch
import XCTest
@testable import Autograd
import TestSupport
import Core

final class TapeModuleOptimTests: XCTestCase {
    func testGradientsAccumulateAndGraphIsReleased() {
        let x = Tensor(shape: [2], data: [1, 2], requiresGrad: true)
        let y = (x * x).sum()
        y.backward()
        XCTAssertEqual(x.grad!, [2, 4])
        XCTAssertNil(y.node)
        (x * 3).sum().backward()
        XCTAssertEqual(x.grad!, [5, 7])
        x.zeroGrad()
        XCTAssertNil(x.grad)
    }

    func testSharedSubexpressionGetsBothPaths() {
        let x = Tensor(shape: [1], data: [3], requiresGrad: true)
        let h = x * x          // used twice
        (h * h + h).sum().backward()   // d/dx (x^4 + x^2) = 4x^3 + 2x
        XCTAssertEqual(x.grad![0], 4 * 27 + 6, accuracy: 1e-4)
    }

    func testNoGradScopeRecordsNothing() {
        let x = Tensor(shape: [2], data: [1, 2], requiresGrad: true)
        let y = withoutGrad { (x * x).exp() }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertNil(y.node)
        XCTAssertTrue((x * x).requiresGrad)
    }

    func testDeepGraphBackward() {
        // Iterative topological sort: a long chain must not overflow the stack.
        let x = Tensor(shape: [1], data: [1], requiresGrad: true)
        var y = x
        for _ in 0..<20_000 { y = y * 1.0001 }
        y.sum().backward()
        XCTAssertEqual(x.grad![0], powf(1.0001, 20_000), accuracy: 1e-2)
    }

    func testModuleNamesAndStateDict() {
        var rng = SeededRNG(seed: 1)
        let mha = MultiheadAttention(dModel: 8, heads: 2, rng: &rng)
        let names = mha.namedParameters().map(\.name)
        XCTAssertEqual(names, ["q_proj.weight", "q_proj.bias", "k_proj.weight", "k_proj.bias",
                               "v_proj.weight", "v_proj.bias", "out_proj.weight", "out_proj.bias"])
        let mlp = MLP(input: 4, hidden: 6, output: 2, layers: 3, rng: &rng)
        XCTAssertEqual(mlp.namedParameters(prefix: "mask_embed.").map(\.name).first, "mask_embed.layers.0.weight")
        XCTAssertEqual(mlp.parameterCount, 4 * 6 + 6 + 6 * 6 + 6 + 6 * 2 + 2)

        var state = Dictionary(uniqueKeysWithValues: mlp.stateDict().map { ($0.name, (shape: $0.shape, values: $0.values.map { $0 + 1 })) })
        let before = mlp.layers[0].weight.data
        XCTAssertNoThrow(try mlp.loadStateDict(state))
        XCTAssertEqual(mlp.layers[0].weight.data, before.map { $0 + 1 })
        state["layers.0.wieght"] = state["layers.0.weight"]
        XCTAssertThrowsError(try mlp.loadStateDict(state)) { XCTAssertTrue("\($0)".contains("did you mean 'layers.0.weight'"), "\($0)") }
        state["layers.0.wieght"] = nil
        state["layers.1.bias"] = (shape: [7], values: [Float](repeating: 0, count: 7))
        let snapshot = mlp.layers[0].weight.data
        XCTAssertThrowsError(try mlp.loadStateDict(state)) { XCTAssertTrue("\($0)".contains("layers.1.bias"), "\($0)") }
        XCTAssertEqual(mlp.layers[0].weight.data, snapshot, "a failed load changes nothing")
    }

    func testModuleGradients() {
        var rng = SeededRNG(seed: 2)
        let mha = MultiheadAttention(dModel: 8, heads: 2, rng: &rng)
        let q = param([2, 3, 8], 3), kv = param([2, 4, 8], 4)
        let mask = BoolMask(shape: [2, 3, 4], values: (0..<24).map { $0 % 5 == 0 })
        checkGradients([q, kv] + mha.parameters) { t in mha(query: t[0], key: t[1], value: t[1], blocked: mask) }
        let conv = Conv2d(2, 4, kernel: 3, stride: 2, padding: 1, rng: &rng)
        let gn = GroupNorm(groups: 2, channels: 4), ln = LayerNorm(4)
        let x = param([2, 2, 5, 5], 5)
        checkGradients([x] + conv.parameters + gn.parameters, atol: 5e-3) { gn(conv($0[0])).tanh() }  // smooth: relu's kink would defeat finite differences
        checkGradients([x] + ln.parameters, atol: 5e-3) { ln($0[0].permute([0, 2, 3, 1]).slice(axis: 3, 0..<2).reshape([2, 5, 10]).slice(axis: 2, 0..<4)) }
        let emb = Embedding(5, 3, rng: &rng)
        checkGradients(emb.parameters) { _ in emb([4, 0, 4]) }
    }

    func testAdamWMatchesHandComputation() {
        // One parameter, two steps, lr 0.1, wd 0.5, computed by hand with PyTorch's formulas.
        let p = Tensor(shape: [1], data: [1], requiresGrad: true)
        let opt = AdamW(groups: [ParameterGroup([p], lrMultiplier: 1, weightDecay: 0.5)], learningRate: 0.1)
        var expected: Double = 1, m: Double = 0, v: Double = 0
        for (t, g) in [(1.0, 0.2), (2.0, -0.4)] {
            p.grad = [Float(g)]
            opt.step()
            expected *= 1 - 0.1 * 0.5
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            let denom = v.squareRoot() / (1 - pow(0.999, t)).squareRoot() + 1e-8
            expected -= 0.1 / (1 - pow(0.9, t)) * m / denom
            XCTAssertEqual(Double(p.data[0]), expected, accuracy: 1e-6)
        }
    }

    func testSGDMomentumAndClipping() {
        let p = Tensor(shape: [2], data: [1, 1], requiresGrad: true)
        let opt = SGD(groups: [ParameterGroup([p])], learningRate: 0.1, momentum: 0.9)
        p.grad = [1, 2]; opt.step()              // b = g
        p.grad = [1, 2]; opt.step()              // b = 0.9 b + g = 1.9 g
        assertClose(p.data, [1 - 0.1 - 0.19, 1 - 0.2 - 0.38], "sgd")
        let q = Tensor(shape: [2], data: [0, 0], requiresGrad: true)
        q.grad = [3, 4]
        XCTAssertEqual(clipGradNorm([q], maxNorm: 1), 5)
        assertClose(q.grad!, [0.6, 0.8], atol: 1e-6, "clipped")
        q.grad = [0.3, 0.4]
        clipGradNorm([q], maxNorm: 1)
        assertClose(q.grad!, [0.3, 0.4], "not clipped below the limit")
        // Squares past Float's range are summed in Double; a long gradient is scaled in parallel.
        q.grad = [3e20, 4e20]
        XCTAssertEqual(clipGradNorm([q], maxNorm: 1), 5e20, accuracy: 1e15)
        assertClose(q.grad!, [0.6, 0.8], atol: 1e-6, "huge gradients clipped")
        let long = Tensor(shape: [40_001], data: [Float](repeating: 0, count: 40_001), requiresGrad: true)
        long.grad = [Float](repeating: 0.01, count: 40_001)
        XCTAssertEqual(clipGradNorm([long], maxNorm: 1), 0.01 * Float(40_001).squareRoot(), accuracy: 1e-5)
        let expected = 0.01 / (0.01 * Float(40_001).squareRoot() + 1e-6)
        XCTAssertTrue(long.grad!.allSatisfy { abs($0 - expected) < 1e-6 * expected })
    }

    /// AdamW's eight-lane loop and its scalar tail compute exactly the scalar formula.
    func testAdamWLanesMatchTheScalarFormula() {
        let n = 37
        let start = (0..<n).map { Float($0) * 0.37 - 5 }
        let p = Tensor(shape: [n], data: start, requiresGrad: true)
        let opt = AdamW(groups: [ParameterGroup([p], weightDecay: 0.05)], learningRate: 1e-2)
        var (x, m, v) = (start, [Float](repeating: 0, count: n), [Float](repeating: 0, count: n))
        for step in 1...3 {
            let g = (0..<n).map { Float(($0 * 7 + step * 3) % 11) * 0.1 - 0.5 }
            p.grad = g
            opt.step()
            let bc1 = 1 - powf(0.9, Float(step)), bc2Sqrt = (1 - powf(0.999, Float(step))).squareRoot()
            let decay: Float = 1 - 1e-2 * 0.05, stepSize: Float = 1e-2 / bc1
            for i in 0..<n {
                m[i] = m[i] + (g[i] - m[i]) * (1 - 0.9)
                v[i] = v[i] * 0.999 + (1 - 0.999) * g[i] * g[i]
                x[i] = x[i] * decay - stepSize * m[i] / (v[i].squareRoot() / bc2Sqrt + 1e-8)
            }
        }
        XCTAssertEqual(p.data, x)
    }

    func testSeededRNGIsReproducibleAndRestorable() {
        var a = SeededRNG(seed: 42), b = SeededRNG(seed: 42)
        XCTAssertEqual((0..<5).map { _ in a.next() }, (0..<5).map { _ in b.next() })
        _ = a.nextNormal()                       // leaves a cached deviate
        let saved = a.state
        let next = (0..<3).map { _ in a.nextNormal() }
        var c = SeededRNG(state: saved)
        XCTAssertEqual((0..<3).map { _ in c.nextNormal() }, next)
        var d = SeededRNG(seed: 43)
        XCTAssertNotEqual(d.next(), SeededRNG(seed: 42).state[0])
        // Normal deviates have roughly zero mean and unit variance.
        var r = SeededRNG(seed: 7)
        let xs = (0..<20_000).map { _ in Double(r.nextNormal()) }
        let mean = xs.reduce(0, +) / Double(xs.count)
        let variance = xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(xs.count)
        XCTAssertEqual(mean, 0, accuracy: 0.03)
        XCTAssertEqual(variance, 1, accuracy: 0.05)
    }

    /// The bench instruments: the GEMM census counts each shape's calls; the op profile names
    /// the ops of each phase (and nothing while off).
    func testGEMMCensusAndOpProfile() {
        let a = Tensor(shape: [3, 4], data: (0..<12).map(Float.init), requiresGrad: true)
        let w = Tensor(shape: [5, 4], data: (0..<20).map { Float($0) * 0.1 }, requiresGrad: true)
        GEMMCensus.reset()
        OpProfile.reset()
        GEMMCensus.enabled = true
        OpProfile.phase = .forward
        let loss = Tensor.linear(a, weight: w, bias: nil).relu().sum()
        OpProfile.phase = .backward
        loss.backward()
        GEMMCensus.enabled = false
        OpProfile.phase = nil
        let shapes = GEMMCensus.entries.map { ($0.shape.description, $0.entry.calls) }
        XCTAssertTrue(shapes.contains { $0.0 == "3x5x4 NT" && $0.1 == 1 }, "\(shapes)")   // forward
        XCTAssertEqual(shapes.count, 3, "\(shapes)")                                       // + two backward GEMMs
        XCTAssertEqual(OpProfile.entries(.forward).map(\.op).sorted(), ["matmul", "relu", "sum"])
        XCTAssertEqual(OpProfile.entries(.backward).map(\.op).sorted(), ["matmul", "relu", "sum"])
        XCTAssertTrue(OpProfile.entries(.backward).allSatisfy { $0.entry.calls == 1 && $0.entry.seconds > 0 })
        OpProfile.reset()
        Tensor.linear(a, weight: w, bias: nil).sum().backward()
        XCTAssertTrue(OpProfile.entries(.forward).isEmpty && OpProfile.entries(.backward).isEmpty)
        // An inference pass (no gradients) is profiled as its own phase.
        OpProfile.phase = .inference
        _ = withoutGrad { Tensor.linear(a, weight: w, bias: nil).relu() }
        OpProfile.phase = nil
        XCTAssertEqual(OpProfile.entries(.inference).map(\.op).sorted(), ["matmul", "relu"])
        XCTAssertTrue(OpProfile.entries(.forward).isEmpty)
        OpProfile.reset()
        // Ops made on another thread meanwhile (the matcher's images) are left out, not raced in.
        OpProfile.phase = .losses
        let other = DispatchGroup()
        DispatchQueue.global().async(group: other) {
            for _ in 0..<2000 { _ = withoutGrad { Tensor(shape: [3], data: [1, 2, 3]).exp() } }
        }
        for _ in 0..<2000 { _ = withoutGrad { Tensor(shape: [3], data: [1, 2, 3]).relu() } }
        other.wait()
        OpProfile.phase = nil
        XCTAssertEqual(OpProfile.entries(.losses).map(\.op), ["relu"])
        XCTAssertEqual(OpProfile.entries(.losses).first?.entry.calls, 2000)
        OpProfile.reset()
    }
}
