import Autograd
import Core

/// Multi-scale deformable self-attention over the tokens of all levels (Deformable DETR).
final class MSDeformAttention: Module {
    let heads: Int, levels: Int, points: Int, dModel: Int
    let samplingOffsets: Linear, attentionWeights: Linear, valueProj: Linear, outputProj: Linear

    init(dModel: Int, levels: Int, heads: Int, points: Int, rng: inout SeededRNG) {
        (self.dModel, self.levels, self.heads, self.points) = (dModel, levels, heads, points)
        samplingOffsets = Linear(dModel, heads * levels * points * 2, rng: &rng)
        attentionWeights = Linear(dModel, heads * levels * points, rng: &rng)
        valueProj = Linear(dModel, dModel, rng: &rng)
        outputProj = Linear(dModel, dModel, rng: &rng)
    }

    var children: [(String, Module)] {
        [("sampling_offsets", samplingOffsets), ("attention_weights", attentionWeights), ("value_proj", valueProj), ("output_proj", outputProj)]
    }

    /// `query`, `input` `[B, S, d]`; `reference` `[S, 2]` normalised (x, y), the same for every
    /// level and image; `shapes` the levels' (H, W).
    func callAsFunction(query: Tensor, input: Tensor, reference: [Float], shapes: [(Int, Int)]) -> Tensor {
        let (b, s) = (query.shape[0], query.shape[1])
        let value = valueProj(input).reshape([b, s, heads, dModel / heads])
        let offsets = samplingOffsets(query).reshape([b, s, heads, levels, points, 2])
        let weights = attentionWeights(query).reshape([b, s, heads, levels * points]).softmax(axis: -1)
            .reshape([b, s, heads, levels, points])
        // location = reference + offset / (W_l, H_l)
        var scale = [Float](repeating: 0, count: levels * points * 2)
        for l in 0..<levels { for p in 0..<points { scale[(l * points + p) * 2] = 1 / Float(shapes[l].1); scale[(l * points + p) * 2 + 1] = 1 / Float(shapes[l].0) } }
        var ref = [Float](repeating: 0, count: s * levels * points * 2)
        for t in 0..<s { for k in 0..<(levels * points) { ref[(t * levels * points + k) * 2] = reference[2 * t]; ref[(t * levels * points + k) * 2 + 1] = reference[2 * t + 1] } }
        let locations = offsets * Tensor(shape: [1, 1, 1, levels, points, 2], data: scale)
            + Tensor(shape: [1, s, 1, levels, points, 2], data: ref)
        let out = Tensor.deformableAttention(value: value, shapes: shapes, locations: locations, weights: weights)
        return outputProj(out)
    }
}

/// Deformable self-attention + residual + LN, FFN + residual + LN (post-norm).
final class EncoderLayer: Module {
    let selfAttn: MSDeformAttention, norm1: LayerNorm, linear1: Linear, linear2: Linear, norm2: LayerNorm

    init(_ c: M2FConfig, levels: Int, rng: inout SeededRNG) {
        selfAttn = MSDeformAttention(dModel: c.convDim, levels: levels, heads: c.encoderHeads, points: c.encoderPoints, rng: &rng)
        norm1 = LayerNorm(c.convDim)
        linear1 = Linear(c.convDim, c.encoderFFN, rng: &rng)
        linear2 = Linear(c.encoderFFN, c.convDim, rng: &rng)
        norm2 = LayerNorm(c.convDim)
    }

    var children: [(String, Module)] {
        [("self_attn", selfAttn), ("norm1", norm1), ("linear1", linear1), ("linear2", linear2), ("norm2", norm2)]
    }

    func callAsFunction(_ src: Tensor, pos: Tensor, reference: [Float], shapes: [(Int, Int)]) -> Tensor {
        let attended = norm1(src + selfAttn(query: src + pos, input: src, reference: reference, shapes: shapes))
        return norm2(attended + linear2(linear1(attended).relu()))
    }
}

/// The named container `encoder.layers.N`.
final class Encoder: Module {
    let layers: ModuleList<EncoderLayer>
    init(_ layers: [EncoderLayer]) { self.layers = ModuleList(layers) }
    var children: [(String, Module)] { [("layers", layers)] }
}

/// Mask2Former's multi-scale deformable-attention pixel decoder: projections of res5, res4,
/// res3 (levels 0, 1, 2), a deformable encoder over their tokens, an FPN step to stride 4 with
/// res2, and the mask features.
public final class PixelDecoder: Module {
    let config: M2FConfig
    let levelEmbed: Tensor
    let inputProj: ModuleList<ConvNorm>
    let encoder: Encoder
    let lateralConv: ConvNorm, outputConv: ConvNorm
    let maskFeatures: Conv2d

    public init(_ c: M2FConfig, rng: inout SeededRNG) {
        config = c
        levelEmbed = Tensor.randn([3, c.convDim], rng: &rng, requiresGrad: true)
        inputProj = ModuleList([3, 2, 1].map { ConvNorm(c.stageChannels[$0], c.convDim, kernel: 1, bias: true, groups: c.decoderGroups, rng: &rng) })
        encoder = Encoder((0..<c.encoderLayers).map { _ in EncoderLayer(c, levels: 3, rng: &rng) })
        lateralConv = ConvNorm(c.stageChannels[0], c.convDim, kernel: 1, bias: false, groups: c.decoderGroups, rng: &rng)
        outputConv = ConvNorm(c.convDim, c.convDim, kernel: 3, bias: false, groups: c.decoderGroups, rng: &rng)
        maskFeatures = Conv2d(c.convDim, c.maskDim, kernel: 1, rng: &rng)
    }

    public var ownParameters: [(String, Tensor)] { [("level_embed", levelEmbed)] }
    public var children: [(String, Module)] {
        [("input_proj", inputProj), ("encoder", encoder), ("lateral_conv", lateralConv), ("output_conv", outputConv), ("mask_features", maskFeatures)]
    }

    public struct Output {
        /// `[B, maskDim, H/4, W/4]`.
        public var maskFeatures: Tensor
        /// The encoder's maps, strides 32, 16, 8: `[B, convDim, H_l, W_l]`.
        public var multiScale: [Tensor]
    }

    /// `features` = `[res2, res3, res4, res5]`.
    public func callAsFunction(_ features: [Tensor]) -> Output {
        let b = features[0].shape[0], d = config.convDim
        let inputs = [features[3], features[2], features[1]]
        let shapes = inputs.map { ($0.shape[2], $0.shape[3]) }
        var tokens: [Tensor] = [], positions: [Tensor] = [], reference: [Float] = []
        for (l, x) in inputs.enumerated() {
            let (h, w) = shapes[l]
            let projected = inputProj[l](x)                                         // [B, d, h, w]
            tokens.append(projected.reshape([b, d, h * w]).transpose(1, 2))         // [B, hw, d]
            let pe = Tensor(shape: [d, h * w], data: sinePositionEncoding(height: h, width: w, features: d / 2)).transpose(0, 1)
            positions.append(pe + levelEmbed.slice(axis: 0, l..<(l + 1)))           // [hw, d]
            for y in 0..<h { for xx in 0..<w { reference += [(Float(xx) + 0.5) / Float(w), (Float(y) + 0.5) / Float(h)] } }
        }
        var src = Tensor.concat(tokens, axis: 1)
        let pos = Tensor.concat(positions, axis: 0).reshape([1, -1, d])
        for layer in encoder.layers.items {
            src = layer(src, pos: pos, reference: reference, shapes: shapes)
        }
        let sizes = shapes.map { $0.0 * $0.1 }
        let maps = src.split(axis: 1, sizes: sizes).enumerated().map { l, t in
            t.transpose(1, 2).reshape([b, d, shapes[l].0, shapes[l].1])
        }
        let lateral = lateralConv(features[0])
        let y = lateral + maps[2].resizeBilinear(to: (lateral.shape[2], lateral.shape[3]))
        let fpn = outputConv(y).relu()
        return Output(maskFeatures: maskFeatures(fpn), multiScale: maps)
    }
}
