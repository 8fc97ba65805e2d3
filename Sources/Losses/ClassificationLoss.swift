import Autograd

public enum ClassificationLoss {
    /// Softmax cross-entropy of `logits` `[N, K+1]` against `targets` (class K = no-object),
    /// each term weighted by its target's weight (1 for classes, `noObjectWeight` for K);
    /// the weighted sum divided by the sum of those weights (PyTorch's weighted mean), or by
    /// `weightSum` when given (the whole batch's, in a data-parallel run).
    public static func crossEntropy(_ logits: Tensor, targets: [Int], noObjectWeight: Float = 0.1, weightSum: Float? = nil) -> Tensor {
        let n = logits.shape[0], k1 = logits.shape[1]
        precondition(targets.count == n, "cross_entropy: \(targets.count) targets for logits \(logits.shape)")
        precondition(targets.allSatisfy { $0 >= 0 && $0 < k1 }, "cross_entropy: target outside 0..<\(k1)")
        let weights = targets.map { $0 == k1 - 1 ? noObjectWeight : 1 }
        let picked = logits.logSoftmax(axis: 1).gather(axis: 1, index: targets, indexShape: [n, 1]).reshape([n])
        let total = weightSum ?? weights.reduce(0, +)
        return -(picked * Tensor(shape: [n], data: weights)).sum() / max(total, 1e-12)
    }
}
