import Autograd

/// Detic's image-label loss for samples that carry only image-level labels: one query per
/// image takes every label of the image, and its class logits are trained with BCE.
public enum ImageLabelLoss {
    public enum Rule: String, Codable, CaseIterable, Sendable {
        /// The query whose predicted mask is largest (most logits > 0; lowest index on ties).
        case maxSize = "max_size"
        /// For each label, the query with the highest score for it.
        case maxScore = "max_score"
    }

    /// `classLogits` `[B, Q, K]` (the dataset's K classes, no background), `maskLogits`
    /// `[B, Q, H, W]`, `labels[b]` the classes present in image b. For each label l of image b:
    /// BCE with logits summed over the K classes, one-hot at l, divided by the number of labels
    /// of the image; summed over images, divided by the batch size (`images`, the whole batch's in
    /// a data-parallel run, when given). (The 0.1 weight of Detic is
    /// applied by the criterion, from the config.)
    public static func loss(classLogits: Tensor, maskLogits: Tensor, labels: [[Int]], rule: Rule = .maxSize, images: Float? = nil) -> Tensor {
        let (b, q, k) = (classLogits.shape[0], classLogits.shape[1], classLogits.shape[2])
        precondition(labels.count == b, "image-label loss: \(labels.count) label lists for a batch of \(b)")
        var total: Tensor? = nil
        for i in 0..<b where !labels[i].isEmpty {
            let logitsI = classLogits.slice(axis: 0, i..<(i + 1)).reshape([q, k])
            var picks: [Int] = []
            switch rule {
            case .maxSize:
                let query = largestMaskQuery(maskLogits, image: i)
                picks = [Int](repeating: query, count: labels[i].count)
            case .maxScore:
                picks = labels[i].map { l in
                    (0..<q).max { logitsI.data[$0 * k + l] < logitsI.data[$1 * k + l] || (logitsI.data[$0 * k + l] == logitsI.data[$1 * k + l] && $0 > $1) }!
                }
            }
            var onehot = [Float](repeating: 0, count: labels[i].count * k)
            for (j, l) in labels[i].enumerated() { onehot[j * k + l] = 1 }
            let x = logitsI.indexSelect(axis: 0, picks)
            let t = Tensor(shape: [labels[i].count, k], data: onehot)
            let term = (x.softplus() - x * t).sum() / Float(labels[i].count)
            total = total.map { $0 + term } ?? term
        }
        guard let total else { return (classLogits * 0).sum() }
        return total / (images ?? Float(b))
    }

    /// The query of image `image` with the most mask logits > 0 (lowest index on ties).
    static func largestMaskQuery(_ maskLogits: Tensor, image: Int) -> Int {
        let q = maskLogits.shape[1], hw = maskLogits.shape[2] * maskLogits.shape[3]
        var best = 0, bestArea = -1
        maskLogits.data.withUnsafeBufferPointer { p in
            for j in 0..<q {
                var area = 0
                let base = (image * q + j) * hw
                for e in 0..<hw where p[base + e] > 0 { area += 1 }
                if area > bestArea { best = j; bestArea = area }
            }
        }
        return best
    }
}
