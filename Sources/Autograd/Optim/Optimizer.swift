import Core
/// Optimisers update parameters in place from their accumulated gradients.

/// Parameters that share a learning-rate multiplier and a weight decay.
public struct ParameterGroup {
    public var parameters: [Tensor]
    public var lrMultiplier: Float
    public var weightDecay: Float
    public init(_ parameters: [Tensor], lrMultiplier: Float = 1, weightDecay: Float = 0) {
        self.parameters = parameters
        self.lrMultiplier = lrMultiplier
        self.weightDecay = weightDecay
    }
}

public protocol Optimizer: AnyObject {
    /// The base learning rate (schedules set it each step).
    var learningRate: Float { get set }
    var groups: [ParameterGroup] { get }
    /// One update from the current gradients; parameters without a gradient are left alone.
    func step()
}

extension Optimizer {
    public func zeroGrad() {
        for g in groups { for p in g.parameters { p.zeroGrad() } }
    }
}

/// Scales all gradients so that their global L2 norm is at most `maxNorm` (PyTorch's
/// `clip_grad_norm_`: factor `maxNorm / (norm + 1e-6)` when below 1). Returns the norm
/// before clipping.
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Float) -> Float {
    var total: Double = 0
    for p in parameters {
        guard let g = p.grad else { continue }
        g.withUnsafeBufferPointer { gp in
            guard let base = gp.baseAddress else { return }
            // Float lanes overflow past ~1.8e19 per value; such gradients are summed in Double.
            let fast = preciseDot(base, base, gp.count)
            total += fast.isFinite ? fast : gp.reduce(0.0) { $0 + Double($1) * Double($1) }
        }
    }
    let norm = Float(total.squareRoot())
    let factor = maxNorm / (norm + 1e-6)
    if factor < 1 {
        for p in parameters where p.grad != nil {
            p.grad!.withUnsafeMutableBufferPointer { gp in
                guard let g = gp.baseAddress else { return }
                Parallel.forRanges(gp.count) { r in for i in r { g[i] *= factor } }
            }
        }
    }
    return norm
}
