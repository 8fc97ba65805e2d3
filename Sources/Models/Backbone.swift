import Autograd
import Core

/// conv3x3(stride) + GN + ReLU, conv3x3 + GN, a projected or identity shortcut, add, ReLU.
final class BasicBlock: Module {
    let conv1: Conv2d, norm1: GroupNorm, conv2: Conv2d, norm2: GroupNorm
    let shortcut: ConvNorm?

    init(_ inChannels: Int, _ outChannels: Int, stride: Int, groups: Int, rng: inout SeededRNG) {
        conv1 = Conv2d(inChannels, outChannels, kernel: 3, stride: stride, padding: 1, bias: false, rng: &rng)
        norm1 = GroupNorm(groups: groups, channels: outChannels)
        conv2 = Conv2d(outChannels, outChannels, kernel: 3, padding: 1, bias: false, rng: &rng)
        norm2 = GroupNorm(groups: groups, channels: outChannels)
        shortcut = inChannels == outChannels && stride == 1 ? nil
            : ConvNorm(inChannels, outChannels, kernel: 1, stride: stride, bias: false, groups: groups, rng: &rng)
    }

    var children: [(String, Module)] {
        [("conv1", conv1), ("norm1", norm1), ("conv2", conv2), ("norm2", norm2)] + (shortcut.map { [("shortcut", $0 as Module)] } ?? [])
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let out = norm2(conv2(norm1(conv1(x)).relu()))
        return (out + (shortcut.map { $0(x) } ?? x)).relu()
    }
}

/// A convolution followed by group norm (`conv`, `norm`), as Detectron2's `Conv2d(norm=...)`.
final class ConvNorm: Module {
    let conv: Conv2d, norm: GroupNorm

    init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, bias: Bool, groups: Int, rng: inout SeededRNG) {
        conv = Conv2d(inChannels, outChannels, kernel: kernel, stride: stride, padding: kernel / 2, bias: bias, rng: &rng)
        norm = GroupNorm(groups: groups, channels: outChannels)
    }

    var children: [(String, Module)] { [("conv", conv), ("norm", norm)] }

    func callAsFunction(_ x: Tensor) -> Tensor { norm(conv(x)) }
}

/// The stem (two stride-2 conv-GN-ReLU) and four BasicBlock stages: features at strides 4, 8,
/// 16, 32 (`res2` ... `res5`).
public final class Backbone: Module {
    let conv1: Conv2d, norm1: GroupNorm, conv2: Conv2d, norm2: GroupNorm
    let stages: [BasicBlock]

    public init(_ c: M2FConfig, rng: inout SeededRNG) {
        conv1 = Conv2d(3, c.stemChannels[0], kernel: 3, stride: 2, padding: 1, bias: false, rng: &rng)
        norm1 = GroupNorm(groups: c.backboneGroups, channels: c.stemChannels[0])
        conv2 = Conv2d(c.stemChannels[0], c.stemChannels[1], kernel: 3, stride: 2, padding: 1, bias: false, rng: &rng)
        norm2 = GroupNorm(groups: c.backboneGroups, channels: c.stemChannels[1])
        var blocks: [BasicBlock] = []
        var channels = c.stemChannels[1]
        for (i, out) in c.stageChannels.enumerated() {
            blocks.append(BasicBlock(channels, out, stride: i == 0 ? 1 : 2, groups: c.backboneGroups, rng: &rng))
            channels = out
        }
        stages = blocks
    }

    final class Stem: Module {
        let owner: Backbone
        init(_ owner: Backbone) { self.owner = owner }
        var children: [(String, Module)] { [("conv1", owner.conv1), ("norm1", owner.norm1), ("conv2", owner.conv2), ("norm2", owner.norm2)] }
    }

    public var children: [(String, Module)] {
        [("stem", Stem(self))] + stages.enumerated().map { ("res\($0.offset + 2)", $0.element as Module) }
    }

    /// `[res2, res3, res4, res5]`.
    public func callAsFunction(_ x: Tensor) -> [Tensor] {
        var h = norm2(conv2(norm1(conv1(x)).relu())).relu()
        var out: [Tensor] = []
        for block in stages {
            h = block(h)
            out.append(h)
        }
        return out
    }
}
