import Autograd

/// OneFormer's query-text contrastive loss, per image of the batch: the image's matched queries
/// (their unit class-space embeddings, summed and normalised) against the text of its ground
/// truth (its targets' class embeddings, likewise), each image's pair the positive and the
/// batch's other images the negatives, in both directions (query → text and text → query), as
/// CLIP's symmetric cross-entropy that OneFormer uses.
public enum ContrastiveLoss {
    /// `queries` `[M, D]` the matched queries' embeddings, `imageOf[m]` the image (0..<n) of
    /// query m; `texts` `[n, D]` per image its text vector (no gradient). Returns the sum over
    /// the n images of (row + column cross-entropy) / 2, divided by `divisor`.
    public static func loss(queries: Tensor, imageOf: [Int], texts: Tensor, temperature: Float, divisor: Float) -> Tensor {
        let n = texts.shape[0], m = queries.shape[0]
        precondition(imageOf.count == m && imageOf.allSatisfy { (0..<n).contains($0) }, "ContrastiveLoss: \(imageOf.count) image indices for \(m) queries of \(n) images")
        var select = [Float](repeating: 0, count: n * m)
        for (j, i) in imageOf.enumerated() { select[i * m + j] = 1 }
        let pooled = unit(Tensor.matmul(Tensor(shape: [n, m], data: select), queries))             // [n, D]
        let logits = Tensor.matmul(pooled, unit(texts), transB: true) / temperature               // [n, n]
        var identity = [Float](repeating: 0, count: n * n)
        for i in 0..<n { identity[i * n + i] = 1 }
        let eye = Tensor(shape: [n, n], data: identity)
        let rows = (logits.logSoftmax(axis: 1) * eye).sum(), columns = (logits.logSoftmax(axis: 0) * eye).sum()
        return (rows + columns) * (-0.5 / divisor)
    }

    /// Rows scaled to unit length.
    static func unit(_ x: Tensor) -> Tensor {
        x / x.square().sum(axis: -1, keepDims: true).sqrt().clamp(min: 1e-12)
    }
}
