import Core
/// The basic layers, with PyTorch's parameter names, layouts and default initialisation.

/// `y = x · weightᵀ + bias`, weight `[out, in]`.
public final class Linear: Module {
    public let weight: Tensor
    public let bias: Tensor?

    /// PyTorch's default: weight and bias uniform in ±1/sqrt(in).
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, rng: inout SeededRNG) {
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = .uniform([outFeatures, inFeatures], low: -bound, high: bound, rng: &rng, requiresGrad: true)
        self.bias = bias ? .uniform([outFeatures], low: -bound, high: bound, rng: &rng, requiresGrad: true) : nil
    }

    public var ownParameters: [(String, Tensor)] { [("weight", weight)] + (bias.map { [("bias", $0)] } ?? []) }

    public func callAsFunction(_ x: Tensor) -> Tensor { .linear(x, weight: weight, bias: bias) }
}

/// 2-D convolution, weight `[out, in/groups, kh, kw]`.
public final class Conv2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int

    /// PyTorch's default: uniform in ±1/sqrt(fan_in).
    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true, rng: inout SeededRNG) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "Conv2d: channels \(inChannels)->\(outChannels) do not divide into \(groups) groups")
        let fanIn = inChannels / groups * kernel * kernel
        let bound = 1 / Float(fanIn).squareRoot()
        weight = .uniform([outChannels, inChannels / groups, kernel, kernel], low: -bound, high: bound, rng: &rng, requiresGrad: true)
        self.bias = bias ? .uniform([outChannels], low: -bound, high: bound, rng: &rng, requiresGrad: true) : nil
        self.stride = (stride, stride)
        self.padding = (padding, padding)
        self.dilation = (dilation, dilation)
        self.groups = groups
    }

    public var ownParameters: [(String, Tensor)] { [("weight", weight)] + (bias.map { [("bias", $0)] } ?? []) }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        .conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

/// Group norm over `[N, C, *]`, affine per channel.
public final class GroupNorm: Module {
    public let groups: Int
    public let eps: Float
    public let weight: Tensor
    public let bias: Tensor

    public init(groups: Int, channels: Int, eps: Float = 1e-5) {
        precondition(channels % groups == 0, "GroupNorm: \(channels) channels do not divide into \(groups) groups")
        self.groups = groups
        self.eps = eps
        weight = .ones([channels], requiresGrad: true)
        bias = .zeros([channels], requiresGrad: true)
    }

    public var ownParameters: [(String, Tensor)] { [("weight", weight), ("bias", bias)] }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.groupNorm(groups: groups, weight: weight, bias: bias, eps: eps) }
}

/// Layer norm over the last axis.
public final class LayerNorm: Module {
    public let eps: Float
    public let weight: Tensor
    public let bias: Tensor

    public init(_ features: Int, eps: Float = 1e-5) {
        self.eps = eps
        weight = .ones([features], requiresGrad: true)
        bias = .zeros([features], requiresGrad: true)
    }

    public var ownParameters: [(String, Tensor)] { [("weight", weight), ("bias", bias)] }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm(weight: weight, bias: bias, eps: eps) }
}

/// A learnable table of `count` rows; looked up by row index.
public final class Embedding: Module {
    public let weight: Tensor

    /// PyTorch's default: N(0, 1).
    public init(_ count: Int, _ features: Int, rng: inout SeededRNG) {
        weight = .randn([count, features], rng: &rng, requiresGrad: true)
    }

    public var ownParameters: [(String, Tensor)] { [("weight", weight)] }

    /// Rows `indices`, shape `[indices.count, features]`.
    public func callAsFunction(_ indices: [Int]) -> Tensor { weight.indexSelect(axis: 0, indices) }
}

/// Linear layers with ReLU between them (not after the last): Mask2Former's `MLP`,
/// parameters `layers.0`, `layers.1`, ...
public final class MLP: Module {
    public let layers: ModuleList<Linear>

    public init(input: Int, hidden: Int, output: Int, layers count: Int, rng: inout SeededRNG) {
        precondition(count >= 1, "MLP: needs at least one layer")
        let dims = [input] + [Int](repeating: hidden, count: count - 1) + [output]
        layers = ModuleList((0..<count).map { Linear(dims[$0], dims[$0 + 1], rng: &rng) })
    }

    public var children: [(String, Module)] { [("layers", layers)] }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        var y = x
        for (i, layer) in layers.items.enumerated() {
            y = layer(y)
            if i < layers.count - 1 { y = y.relu() }
        }
        return y
    }
}

/// Multi-head attention with separate query, key, value and output projections
/// (`q_proj`, `k_proj`, `v_proj`, `out_proj`), batch first: inputs `[B, L, dModel]`.
public final class MultiheadAttention: Module {
    public let heads: Int
    public let qProj, kProj, vProj, outProj: Linear

    public init(dModel: Int, heads: Int, rng: inout SeededRNG) {
        precondition(dModel % heads == 0, "MultiheadAttention: \(dModel) features do not divide into \(heads) heads")
        self.heads = heads
        qProj = Linear(dModel, dModel, rng: &rng)
        kProj = Linear(dModel, dModel, rng: &rng)
        vProj = Linear(dModel, dModel, rng: &rng)
        outProj = Linear(dModel, dModel, rng: &rng)
    }

    public var children: [(String, Module)] {
        [("q_proj", qProj), ("k_proj", kProj), ("v_proj", vProj), ("out_proj", outProj)]
    }

    /// `blocked` (true = may not attend) is `[Lq, Lk]` or `[B, Lq, Lk]`, the same for every head.
    public func callAsFunction(query: Tensor, key: Tensor, value: Tensor, blocked: BoolMask? = nil) -> Tensor {
        let (b, lq, d) = (query.shape[0], query.shape[1], query.shape[2])
        let lk = key.shape[1], hd = d / heads
        func split(_ x: Tensor, _ l: Int) -> Tensor { x.reshape([b, l, heads, hd]).permute([0, 2, 1, 3]) }
        let q = split(qProj(query), lq), k = split(kProj(key), lk), v = split(vProj(value), lk)
        var mask = blocked
        if let m = blocked, m.shape.count == 3 {
            mask = BoolMask(shape: [m.shape[0], 1, m.shape[1], m.shape[2]], values: m.values)
        }
        let out = Tensor.attention(q: q, k: k, v: v, blocked: mask)
        return outProj(out.permute([0, 2, 1, 3]).reshape([b, lq, d]))
    }
}
