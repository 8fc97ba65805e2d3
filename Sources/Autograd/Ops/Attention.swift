/// Scaled dot-product attention, composed from matmul, masked fill and softmax (whose
/// backward rules it inherits).

extension Tensor {
    /// `softmax(q·kᵀ · scale, masked) · v` over the last two axes.
    ///
    /// - `q` `[..., Lq, D]`, `k` `[..., Lk, D]`, `v` `[..., Lk, Dv]` with equal leading axes.
    /// - `blocked`: true where a query may NOT attend to a key (PyTorch's boolean `attn_mask`),
    ///   broadcast to `[..., Lq, Lk]`. A query with every key blocked gets NaN, as in PyTorch;
    ///   callers that can produce such rows unblock them first (Mask2Former does).
    /// - `scale` defaults to `1/sqrt(D)`.
    public static func attention(q: Tensor, k: Tensor, v: Tensor, blocked: BoolMask? = nil,
                                 scale: Float? = nil) -> Tensor {
        guard let d = q.shape.last, k.shape.last == d else {
            shapeFailure(ShapeError(op: "attention", "query \(q.shape) and key \(k.shape) differ in the last axis"))
        }
        var scores = matmul(q, k, transB: true) * (scale ?? 1 / Float(d).squareRoot())
        if let blocked { scores = scores.maskedFill(blocked, -.infinity) }
        return matmul(scores.softmax(axis: -1), v)
    }
}
