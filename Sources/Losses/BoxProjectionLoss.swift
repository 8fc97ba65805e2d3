import Autograd
import Matching

/// The box-supervised mask loss of DaTaSeg / BoxInst: the predicted mask's maxima along rows
/// and along columns must match the box's. For matched pairs: `maskLogits` `[M, H, W]` (stride
/// 4) and their boxes in pixels of that map.
/// L = D(max over rows) + D(max over columns), D(p, t) = 1 − 2Σpt / (Σp² + Σt² + 1e-5),
/// averaged over the matched targets (or divided by `count`, the whole batch's, when given).
public enum BoxProjectionLoss {
    public static func loss(_ maskLogits: Tensor, boxes: [(Float, Float, Float, Float)], count: Float? = nil) -> Tensor {
        let (m, h, w) = (maskLogits.shape[0], maskLogits.shape[1], maskLogits.shape[2])
        precondition(boxes.count == m, "box projection loss: \(boxes.count) boxes for \(m) masks")
        var cols = [Float](repeating: 0, count: m * w), rows = [Float](repeating: 0, count: m * h)
        for (i, box) in boxes.enumerated() {
            let (xs, ys) = boxSpans(box, height: h, width: w)
            for x in xs { cols[i * w + x] = 1 }
            for y in ys { rows[i * h + y] = 1 }
        }
        let s = maskLogits.sigmoid()
        func d(_ p: Tensor, _ t: Tensor) -> Tensor {
            1 - (p * t).sum(axis: 1) * 2 / ((p * p).sum(axis: 1) + (t * t).sum(axis: 1) + 1e-5)
        }
        let colLoss = d(s.max(axis: 1), Tensor(shape: [m, w], data: cols))
        let rowLoss = d(s.max(axis: 2), Tensor(shape: [m, h], data: rows))
        return (colLoss + rowLoss).sum() / (count ?? Float(max(m, 1)))
    }
}
