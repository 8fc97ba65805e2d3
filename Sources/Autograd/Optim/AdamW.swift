import Core
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// AdamW (Loshchilov & Hutter): Adam with bias correction and decoupled weight decay
/// `p ← p·(1 − lr·wd)`, computed in the order of PyTorch's `torch.optim.AdamW` (single-tensor
/// path) so that the same gradients give the same parameters.
public final class AdamW: Optimizer {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, eps: Float
    public private(set) var groups: [ParameterGroup]
    /// Steps taken so far (the bias correction's t).
    public internal(set) var stepCount: Int = 0
    /// First and second moments, one array per parameter in group order.
    public internal(set) var firstMoments: [[Float]]
    public internal(set) var secondMoments: [[Float]]

    public init(groups: [ParameterGroup], learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8) {
        self.groups = groups
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        let all = groups.flatMap(\.parameters)
        firstMoments = all.map { [Float](repeating: 0, count: $0.count) }
        secondMoments = firstMoments
    }

    public func step() {
        stepCount += 1
        let t = Float(stepCount)
        let bc1 = 1 - powf(beta1, t), bc2 = 1 - powf(beta2, t)
        let bc2Sqrt = bc2.squareRoot()
        var index = 0
        for group in groups {
            let lr = learningRate * group.lrMultiplier
            let decay = 1 - lr * group.weightDecay
            let stepSize = lr / bc1
            for p in group.parameters {
                defer { index += 1 }
                guard let g = p.grad else { continue }
                let (b1, b2, eps) = (beta1, beta2, self.eps)
                p.data.withUnsafeMutableBufferPointer { pp in
                    firstMoments[index].withUnsafeMutableBufferPointer { mp in
                        secondMoments[index].withUnsafeMutableBufferPointer { vp in
                            g.withUnsafeBufferPointer { gp in
                                let P = pp.baseAddress!, M = mp.baseAddress!, V = vp.baseAddress!, G = gp.baseAddress!
                                Parallel.forRanges(pp.count, costPerElement: 8) { r in
                                    // Eight lanes at a time (the compiler would not vectorise the
                                    // four-array loop); the same operations in the same order.
                                    var i = r.lowerBound
                                    while i + 8 <= r.upperBound {
                                        let g = load8(G + i), m0 = load8(M + i), v0 = load8(V + i)
                                        let m = m0 + (g - m0) * (1 - b1)          // lerp, as PyTorch
                                        let v = v0 * b2 + (1 - b2) * g * g
                                        let denom = v.squareRoot() / bc2Sqrt + eps
                                        store8(M + i, m)
                                        store8(V + i, v)
                                        store8(P + i, load8(P + i) * decay - stepSize * m / denom)
                                        i += 8
                                    }
                                    while i < r.upperBound {
                                        let g = G[i]
                                        let m = M[i] + (g - M[i]) * (1 - b1)
                                        let v = V[i] * b2 + (1 - b2) * g * g
                                        let denom = v.squareRoot() / bc2Sqrt + eps
                                        M[i] = m
                                        V[i] = v
                                        P[i] = P[i] * decay - stepSize * m / denom
                                        i += 1
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Restores the moments and step count saved from an optimiser over the same parameters.
    public func restore(stepCount: Int, firstMoments: [[Float]], secondMoments: [[Float]]) throws {
        let sizes = groups.flatMap(\.parameters).map(\.count)
        guard firstMoments.map(\.count) == sizes, secondMoments.map(\.count) == sizes else {
            throw OptimizerStateError(detail: "AdamW state does not fit the parameters (sizes differ)")
        }
        self.stepCount = stepCount
        self.firstMoments = firstMoments
        self.secondMoments = secondMoments
    }
}

public struct OptimizerStateError: Error, CustomStringConvertible {
    public let detail: String
    public var description: String { detail }
}
