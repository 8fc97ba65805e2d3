import Autograd
import Targets

/// ScaleDet's losses over the unified label space (`UnifiedLabelSpace`: the concatenation of
/// every dataset's classes, synonyms kept as separate entries). Both average over the matched
/// queries, or divide by `count` (the whole batch's, in a data-parallel run) when given.
public enum LabelSpaceLosses {
    /// Hard label loss: BCE with logits over all U unified classes (`logits` `[M, U]` = cos/τ of
    /// the matched queries), one-hot at each query's unified class; summed over classes,
    /// averaged over the matched queries.
    public static func hard(_ logits: Tensor, targets: [Int], count: Float? = nil) -> Tensor {
        let m = logits.shape[0], u = logits.shape[1]
        precondition(targets.count == m, "scaledet hard: \(targets.count) targets for logits \(logits.shape)")
        var onehot = [Float](repeating: 0, count: m * u)
        for (i, t) in targets.enumerated() { onehot[i * u + t] = 1 }
        let t = Tensor(shape: [m, u], data: onehot)
        return (logits.softplus() - logits * t).sum() / (count ?? Float(max(m, 1)))
    }

    /// Soft label loss: MSE between each matched query's cosine similarities to all U classes
    /// (`cosines` `[M, U]`, no temperature) and the similarity-matrix row of its target class;
    /// mean over classes, averaged over the matched queries.
    public static func soft(_ cosines: Tensor, targets: [Int], similarity: [Float], count: Float? = nil) -> Tensor {
        let m = cosines.shape[0], u = cosines.shape[1]
        precondition(similarity.count == u * u, "scaledet soft: similarity matrix is not \(u) x \(u)")
        var rows = [Float](repeating: 0, count: m * u)
        for (i, t) in targets.enumerated() {
            for k in 0..<u { rows[i * u + k] = similarity[t * u + k] }
        }
        return (cosines - Tensor(shape: [m, u], data: rows)).square().mean(axis: 1).sum() / (count ?? Float(max(m, 1)))
    }
}
