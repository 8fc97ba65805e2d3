import Core
import Autograd
#if canImport(Glibc)
import Glibc
#endif

extension M2FModel {
    /// The reference initialisation for training from scratch (`m2f-tiny.md`, "Details that
    /// decide parity", 10): backbone convolutions kaiming-normal (fan_out, relu); input
    /// projections xavier-uniform, bias 0; lateral, output and mask-feature convolutions
    /// kaiming-uniform (a = 1), bias 0; deformable attention with zero offset weights and
    /// biases pointing each head in its own direction, (point + 1) pixels out, zero attention
    /// weights, xavier-uniform value/output projections; decoder attention projections
    /// xavier-uniform, bias 0. Norms start at weight 1, bias 0; tables N(0, 1); the rest keeps
    /// PyTorch's defaults.
    public func applyReferenceInitialization(rng: inout SeededRNG) {
        func fill(_ t: Tensor, _ f: (inout SeededRNG) -> Float) { for i in t.data.indices { t.data[i] = f(&rng) } }
        func zero(_ t: Tensor?) { if let t { for i in t.data.indices { t.data[i] = 0 } } }
        func xavier(_ linear: Linear) {
            let (fanOut, fanIn) = (linear.weight.shape[0], linear.weight.shape[1])
            let bound = (6 / Float(fanIn + fanOut)).squareRoot()
            fill(linear.weight) { -bound + 2 * bound * $0.nextUniform() }
            zero(linear.bias)
        }
        func xavierConv(_ conv: Conv2d) {
            let s = conv.weight.shape, receptive = s[2] * s[3]
            let bound = (6 / Float(s[1] * receptive + s[0] * receptive)).squareRoot()
            fill(conv.weight) { -bound + 2 * bound * $0.nextUniform() }
            zero(conv.bias)
        }
        func kaimingUniformA1(_ conv: Conv2d) {
            let s = conv.weight.shape
            let bound = (3 / Float(s[1] * s[2] * s[3])).squareRoot()      // sqrt(6 / ((1 + a²) fan_in)), a = 1
            fill(conv.weight) { -bound + 2 * bound * $0.nextUniform() }
            zero(conv.bias)
        }
        for (name, p) in backbone.namedParameters() where p.rank == 4 {
            _ = name
            let std = (2 / Float(p.shape[0] * p.shape[2] * p.shape[3])).squareRoot()   // fan_out, relu
            fill(p) { $0.nextNormal() * std }
        }
        for proj in pixelDecoder.inputProj.items { xavierConv(proj.conv) }
        kaimingUniformA1(pixelDecoder.lateralConv.conv)
        kaimingUniformA1(pixelDecoder.outputConv.conv)
        kaimingUniformA1(pixelDecoder.maskFeatures)
        for layer in pixelDecoder.encoder.layers.items {
            let a = layer.selfAttn
            zero(a.samplingOffsets.weight)
            var bias = [Float](repeating: 0, count: a.heads * a.levels * a.points * 2)
            for h in 0..<a.heads {
                let theta = 2 * Float.pi * Float(h) / Float(a.heads)
                var (dx, dy) = (cosf(theta), sinf(theta))
                let m = max(abs(dx), abs(dy))
                (dx, dy) = (dx / m, dy / m)
                for l in 0..<a.levels {
                    for p in 0..<a.points {
                        let i = ((h * a.levels + l) * a.points + p) * 2
                        bias[i] = dx * Float(p + 1)
                        bias[i + 1] = dy * Float(p + 1)
                    }
                }
            }
            a.samplingOffsets.bias!.data = bias
            zero(a.attentionWeights.weight)
            zero(a.attentionWeights.bias)
            xavier(a.valueProj)
            xavier(a.outputProj)
        }
        for layer in predictor.layers.items {
            for attention in [layer.crossAttn, layer.selfAttn] {
                for linear in [attention.qProj, attention.kProj, attention.vProj, attention.outProj] { xavier(linear) }
            }
        }
    }
}
