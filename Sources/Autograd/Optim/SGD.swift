/// Stochastic gradient descent with momentum and (coupled) weight decay, as PyTorch's
/// `torch.optim.SGD`: `g ← g + wd·p; b ← μ·b + g (b = g on the first step); p ← p − lr·b`.
public final class SGD: Optimizer {
    public var learningRate: Float
    public let momentum: Float
    public private(set) var groups: [ParameterGroup]
    /// Momentum buffers, one per parameter in group order (nil until its first step).
    public internal(set) var buffers: [[Float]?]

    public init(groups: [ParameterGroup], learningRate: Float, momentum: Float = 0) {
        self.groups = groups
        self.learningRate = learningRate
        self.momentum = momentum
        buffers = [[Float]?](repeating: nil, count: groups.reduce(0) { $0 + $1.parameters.count })
    }

    public func step() {
        var index = 0
        for group in groups {
            let lr = learningRate * group.lrMultiplier, wd = group.weightDecay
            for p in group.parameters {
                defer { index += 1 }
                guard var d = p.grad else { continue }
                if wd != 0 { for i in d.indices { d[i] += wd * p.data[i] } }
                if momentum != 0 {
                    if var b = buffers[index] {
                        for i in b.indices { b[i] = momentum * b[i] + d[i] }
                        buffers[index] = b
                        d = b
                    } else {
                        buffers[index] = d
                    }
                }
                p.data.withUnsafeMutableBufferPointer { pp in for i in pp.indices { pp[i] -= lr * d[i] } }
            }
        }
    }
}
