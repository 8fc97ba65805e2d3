import Autograd

/// Mask2Former's inference from one image's final prediction set: `logits` `[Q, K+1]` (the
/// no-object class last) and mask logits `[Q, H, W]` already at the image's size. The results
/// are plain arrays; evaluation turns them into its panoptic maps and COCO objects.
public enum PostProcessing {
    /// Semantic segmentation: score_c(pixel) = Σ_q softmax(logits)[q, c] · sigmoid(mask_q(pixel)),
    /// the no-object column dropped after the softmax; argmax over c.
    public static func semantic(logits: Tensor, masks: Tensor) -> [Int32] {
        let (q, k1) = (logits.shape[0], logits.shape[1]), hw = masks.shape[1] * masks.shape[2]
        let k = k1 - 1
        let probs = withoutGrad { logits.softmax(axis: 1) }.data
        let sig = withoutGrad { masks.sigmoid() }.data
        var classProbs = [Float](repeating: 0, count: k * q)     // [K, Q]
        for i in 0..<q { for c in 0..<k { classProbs[c * q + i] = probs[i * k1 + c] } }
        var scores = [Float](repeating: 0, count: k * hw)
        classProbs.withUnsafeBufferPointer { a in sig.withUnsafeBufferPointer { b in scores.withUnsafeMutableBufferPointer { o in
            sgemm(m: k, n: hw, k: q, a: a.baseAddress!, b: b.baseAddress!, c: o.baseAddress!)
        } } }
        return (0..<hw).map { p in
            var best = 0
            for c in 1..<max(k, 1) where scores[c * hw + p] > scores[best * hw + p] { best = c }
            return Int32(best)
        }
    }

    /// Panoptic segmentation: queries whose top class is not no-object and whose score exceeds
    /// `objectMaskThreshold`; each pixel goes to the kept query with the largest
    /// score · sigmoid(mask); a query keeps the pixels it wins with sigmoid >= 0.5, and is dropped
    /// when that is under `overlapThreshold` of its own sigmoid >= 0.5 area; stuff segments of one
    /// class merge. Segment ids from 1, 0 = void.
    public static func panoptic(logits: Tensor, masks: Tensor, isThing: [Bool], objectMaskThreshold: Float = 0.8,
                                overlapThreshold: Float = 0.8) -> (ids: [UInt32], segments: [(id: UInt32, classID: Int)]) {
        let (q, k1) = (logits.shape[0], logits.shape[1]), hw = masks.shape[1] * masks.shape[2]
        let probs = withoutGrad { logits.softmax(axis: 1) }.data
        let sig = withoutGrad { masks.sigmoid() }.data
        var kept: [(query: Int, label: Int, score: Float)] = []
        for i in 0..<q {
            var label = 0
            for c in 1..<k1 where probs[i * k1 + c] > probs[i * k1 + label] { label = c }
            let score = probs[i * k1 + label]
            if label != k1 - 1 && score > objectMaskThreshold { kept.append((i, label, score)) }
        }
        var ids = [UInt32](repeating: 0, count: hw)
        var segments: [(id: UInt32, classID: Int)] = []
        if kept.isEmpty { return (ids, segments) }
        // The winning kept query per pixel (first on ties, as argmax).
        var winner = [Int](repeating: 0, count: hw)
        for p in 0..<hw {
            var best = 0, bestValue = -Float.infinity
            for (j, k) in kept.enumerated() {
                let v = k.score * sig[k.query * hw + p]
                if v > bestValue { bestValue = v; best = j }
            }
            winner[p] = best
        }
        var stuffSegment: [Int: UInt32] = [:]
        var next: UInt32 = 0
        for (j, k) in kept.enumerated() {
            var maskArea = 0, originalArea = 0, both = 0
            for p in 0..<hw {
                let wins = winner[p] == j, on = sig[k.query * hw + p] >= 0.5
                if wins { maskArea += 1 }
                if on { originalArea += 1 }
                if wins && on { both += 1 }
            }
            guard maskArea > 0, originalArea > 0, both > 0 else { continue }
            if Float(maskArea) / Float(originalArea) < overlapThreshold { continue }
            let thing = k.label < isThing.count && isThing[k.label]
            var id: UInt32
            if !thing, let existing = stuffSegment[k.label] {
                id = existing
            } else {
                next += 1
                id = next
                if !thing { stuffSegment[k.label] = id }
                segments.append((id, k.label))
            }
            for p in 0..<hw where winner[p] == j && sig[k.query * hw + p] >= 0.5 { ids[p] = id }
        }
        return (ids, segments)
    }

    /// Instance detections: the top `topK` (query, class) pairs by class probability (no-object
    /// dropped); mask = logit > 0; score = class probability × mean sigmoid inside the mask;
    /// boxes from the masks. With `keepClass` (panoptic data: the thing classes), pairs of other
    /// classes are dropped after the top-k, as Mask2Former's instance inference on panoptic data.
    public static func instances(logits: Tensor, masks: Tensor, topK: Int = 100,
                                 keepClass: ((Int) -> Bool)? = nil) -> [(classID: Int, score: Double, mask: [UInt8], box: [Double])] {
        let (q, k1) = (logits.shape[0], logits.shape[1]), (h, w) = (masks.shape[1], masks.shape[2])
        let k = k1 - 1, hw = h * w
        let probs = withoutGrad { logits.softmax(axis: 1) }.data
        let m = masks.data
        var pairs: [(Int, Int, Float)] = []
        for i in 0..<q { for c in 0..<k { pairs.append((i, c, probs[i * k1 + c])) } }
        pairs.sort { $0.2 > $1.2 || ($0.2 == $1.2 && ($0.0, $0.1) < ($1.0, $1.1)) }
        return pairs.prefix(topK).compactMap { (i, c, p) in
            if let keepClass, !keepClass(c) { return nil }
            var mask = [UInt8](repeating: 0, count: hw)
            var inside = 0, sum: Float = 0
            var x0 = w, y0 = h, x1 = -1, y1 = -1
            for e in 0..<hw where m[i * hw + e] > 0 {
                mask[e] = 1
                inside += 1
                sum += 1 / (1 + expf(-m[i * hw + e]))
                let (y, x) = (e / w, e % w)
                x0 = min(x0, x); y0 = min(y0, y); x1 = max(x1, x); y1 = max(y1, y)
            }
            guard inside > 0 else { return nil }
            let score = Double(p) * Double(sum / Float(inside))
            return (c, score, mask, [Double(x0), Double(y0), Double(x1 - x0 + 1), Double(y1 - y0 + 1)])
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
