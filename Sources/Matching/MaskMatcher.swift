import Autograd

/// The targets of one image for matching and losses.
public struct ImageTargets {
    /// Class of each target (indices into the image's dataset vocabulary).
    public var classes: [Int]
    /// Target masks `[T, H, W]` (values in [0, 1]) for mask-supervised data.
    public var masks: Tensor?
    /// Target boxes for box-only data, `(x0, y0, x1, y1)` in pixels of the predicted mask map
    /// (stride 4); a box covers the pixels whose index lies in `floor(x0)..<ceil(x1)` (and the
    /// same for y), clipped to the map.
    public var boxes: [(Float, Float, Float, Float)]?

    public init(classes: [Int], masks: Tensor? = nil, boxes: [(Float, Float, Float, Float)]? = nil) {
        self.classes = classes
        self.masks = masks
        self.boxes = boxes
    }
}

/// Mask2Former's Hungarian matcher: per image, cost = w_class·(−softmax prob of the target
/// class) + w_mask·(sigmoid BCE) + w_dice·(dice) on points drawn uniformly at random (one set
/// shared by every prediction and target of the image); for box targets the mask terms are
/// replaced by w_mask·(projection dice) against the box. No gradient flows through it.
public struct HungarianMatcher {
    public var classWeight: Float
    public var maskWeight: Float
    public var diceWeight: Float
    public var points: Int
    /// Fixed points (`[P, 2]`, x then y, normalised to [−1, 1]) instead of random ones: the
    /// dense variant uses every pixel centre of the prediction map.
    public var fixedGrid: [Float]?

    public init(classWeight: Float = 2, maskWeight: Float = 5, diceWeight: Float = 5, points: Int = 12544, fixedGrid: [Float]? = nil) {
        self.classWeight = classWeight
        self.maskWeight = maskWeight
        self.diceWeight = diceWeight
        self.points = points
        self.fixedGrid = fixedGrid
    }

    /// Every pixel centre of a `height` x `width` map as grid coordinates (x, y) in [−1, 1].
    public static func pixelCentres(height: Int, width: Int) -> [Float] {
        var grid = [Float](repeating: 0, count: height * width * 2)
        for y in 0..<height {
            for x in 0..<width {
                grid[(y * width + x) * 2] = 2 * (Float(x) + 0.5) / Float(width) - 1
                grid[(y * width + x) * 2 + 1] = 2 * (Float(y) + 0.5) / Float(height) - 1
            }
        }
        return grid
    }

    public enum MatchError: Error, CustomStringConvertible {
        case nonFiniteCost(image: Int)
        case badTargets(String)
        public var description: String {
            switch self {
            case .nonFiniteCost(let i): return "matching: non-finite cost in image \(i): the model diverged (NaN or inf in its outputs)"
            case .badTargets(let s): return "matching: \(s)"
            }
        }
    }

    /// The cost matrix `[Q, T]` (row-major) of one image: `logits` `[Q, K+1]`, `masks` `[Q, H, W]`
    /// mask logits.
    public func costMatrix(logits: Tensor, masks: Tensor, targets: ImageTargets, rng: inout SeededRNG) throws -> [Double] {
        let q = logits.shape[0], k1 = logits.shape[1], t = targets.classes.count
        guard masks.rank == 3, masks.shape[0] == q else {
            throw MatchError.badTargets("prediction masks \(masks.shape) do not fit logits \(logits.shape)")
        }
        for c in targets.classes where c < 0 || c >= k1 - 1 {
            throw MatchError.badTargets("target class \(c) is outside 0..<\(k1 - 1)")
        }
        if t == 0 { return [] }
        let probs = withoutGrad { logits.softmax(axis: 1) }.data
        var cost = [Double](repeating: 0, count: q * t)
        for i in 0..<q {
            for j in 0..<t { cost[i * t + j] = Double(-classWeight * probs[i * k1 + targets.classes[j]]) }
        }
        if let targetMasks = targets.masks {
            guard targetMasks.rank == 3, targetMasks.shape[0] == t else {
                throw MatchError.badTargets("target masks \(targetMasks.shape) for \(t) classes")
            }
            var grid = fixedGrid ?? [Float](repeating: 0, count: points * 2)
            if fixedGrid == nil { for i in grid.indices { grid[i] = 2 * rng.nextUniform() - 1 } }
            let maskCost = pointMaskCost(masks, targetMasks, grid: grid)
            for e in cost.indices { cost[e] += maskCost[e] }
        } else if let boxes = targets.boxes {
            guard boxes.count == t else { throw MatchError.badTargets("\(boxes.count) boxes for \(t) classes") }
            let boxCost = projectionCost(masks, boxes)
            for e in cost.indices { cost[e] += Double(maskWeight) * boxCost[e] }
        } else {
            throw MatchError.badTargets("targets carry neither masks nor boxes")
        }
        return cost
    }

    /// Matches one image: the assignment of queries (rows) to targets (cols).
    public func match(logits: Tensor, masks: Tensor, targets: ImageTargets, image: Int = 0,
                      rng: inout SeededRNG) throws -> Assignment {
        let cost = try costMatrix(logits: logits, masks: masks, targets: targets, rng: &rng)
        if cost.contains(where: { !$0.isFinite }) { throw MatchError.nonFiniteCost(image: image) }
        return try linearSumAssignment(cost, rows: logits.shape[0], cols: targets.classes.count)
    }

    /// w_mask·BCE + w_dice·dice, `[Q, T]`, on the points `grid` (`[P, 2]`, x then y, in the
    /// normalised [−1, 1] coordinates of `gridSample`).
    func pointMaskCost(_ pred: Tensor, _ target: Tensor, grid: [Float]) -> [Double] {
        let q = pred.shape[0], t = target.shape[0], p = grid.count / 2
        let gridTensor = Tensor(shape: [1, 1, p, 2], data: grid)
        let (x, y) = withoutGrad {
            (Tensor.gridSample(pred.reshape([1, q] + Array(pred.shape[1...])), grid: gridTensor).data,
             Tensor.gridSample(target.reshape([1, t] + Array(target.shape[1...])), grid: gridTensor).data)
        }
        // BCE(x, y) summed over points = Σ softplus(−x)·y + softplus(x)·(1−y)
        //                             = −x·yᵀ + Σ softplus(x)   (softplus(−x) − softplus(x) = −x),
        // so one GEMM gives every pair.
        var diff = [Float](repeating: 0, count: q * p), sig = diff
        var negSum = [Float](repeating: 0, count: q), sigSum = negSum
        x.withUnsafeBufferPointer { xp in
            diff.withUnsafeMutableBufferPointer { dp in
                sig.withUnsafeMutableBufferPointer { sp in
                    negSum.withUnsafeMutableBufferPointer { np in
                        sigSum.withUnsafeMutableBufferPointer { ssp in
                            let X = xp.baseAddress!, D = dp.baseAddress!, S = sp.baseAddress!, N = np.baseAddress!, SS = ssp.baseAddress!
                            Parallel.forRanges(q, costPerElement: p * 8) { queries in
                                for i in queries {
                                    let x = X + i * p, d = D + i * p, s = S + i * p
                                    // Elementwise first (this loop vectorises), sums after.
                                    // softplus(v) = max(v, 0) + log(1 + e) and sigmoid(v) share
                                    // e = exp(−|v|); log(1 + e) is within 1e-7 of log1p(e).
                                    for k in 0..<p {
                                        let v = x[k]
                                        let e = fastExp(-Swift.abs(v))
                                        let r = 1 / (1 + e)
                                        s[k] = v >= 0 ? r : e * r
                                        d[k] = Swift.max(v, 0) + fastLog(1 + e)     // softplus, summed below
                                    }
                                    var ns: Float = 0, ss: Float = 0
                                    for k in 0..<p {
                                        ns += d[k]
                                        ss += s[k]
                                        d[k] = -x[k]
                                    }
                                    N[i] = ns
                                    SS[i] = ss
                                }
                            }
                        }
                    }
                }
            }
        }
        var targetSum = [Float](repeating: 0, count: t)
        for j in 0..<t { for k in 0..<p { targetSum[j] += y[j * p + k] } }
        var bce = [Float](repeating: 0, count: q * t), inter = bce
        diff.withUnsafeBufferPointer { d in
            y.withUnsafeBufferPointer { yp in
                bce.withUnsafeMutableBufferPointer { b in
                    sgemm(transB: true, m: q, n: t, k: p, a: d.baseAddress!, b: yp.baseAddress!, c: b.baseAddress!)
                }
                sig.withUnsafeBufferPointer { s in
                    inter.withUnsafeMutableBufferPointer { o in
                        sgemm(transB: true, m: q, n: t, k: p, a: s.baseAddress!, b: yp.baseAddress!, c: o.baseAddress!)
                    }
                }
            }
        }
        var cost = [Double](repeating: 0, count: q * t)
        for i in 0..<q {
            for j in 0..<t {
                let bceCost = (Double(bce[i * t + j]) + Double(negSum[i])) / Double(p)
                let dice = 1 - (2 * Double(inter[i * t + j]) + 1) / (Double(sigSum[i]) + Double(targetSum[j]) + 1)
                cost[i * t + j] = Double(maskWeight) * bceCost + Double(diceWeight) * dice
            }
        }
        return cost
    }

    /// Projection dice `[Q, T]` between each predicted mask and each box (BoxInst / DaTaSeg).
    func projectionCost(_ pred: Tensor, _ boxes: [(Float, Float, Float, Float)]) -> [Double] {
        let q = pred.shape[0], h = pred.shape[1], w = pred.shape[2]
        let s = withoutGrad { pred.sigmoid() }.data
        var cost = [Double](repeating: 0, count: q * boxes.count)
        for i in 0..<q {
            var colMax = [Float](repeating: 0, count: w), rowMax = [Float](repeating: 0, count: h)
            for y in 0..<h {
                for x in 0..<w {
                    let v = s[(i * h + y) * w + x]
                    colMax[x] = Swift.max(colMax[x], v)
                    rowMax[y] = Swift.max(rowMax[y], v)
                }
            }
            for (j, box) in boxes.enumerated() {
                let (xs, ys) = boxSpans(box, height: h, width: w)
                cost[i * boxes.count + j] = projectionDice(colMax, xs) + projectionDice(rowMax, ys)
            }
        }
        return cost
    }
}

/// The pixel columns and rows a box covers on an `height` x `width` map.
public func boxSpans(_ box: (Float, Float, Float, Float), height: Int, width: Int) -> (Range<Int>, Range<Int>) {
    func span(_ lo: Float, _ hi: Float, _ n: Int) -> Range<Int> {
        let a = Swift.min(Swift.max(Int(lo.rounded(.down)), 0), n), b = Swift.min(Swift.max(Int(hi.rounded(.up)), a), n)
        return a..<b
    }
    return (span(box.0, box.2, width), span(box.1, box.3, height))
}

/// D(p, t) = 1 − 2Σpt / (Σp² + Σt² + 1e-5) for a binary profile `t` given by the span.
func projectionDice(_ p: [Float], _ span: Range<Int>) -> Double {
    var pt = 0.0, pp = 0.0
    for (i, v) in p.enumerated() {
        pp += Double(v) * Double(v)
        if span.contains(i) { pt += Double(v) }
    }
    return 1 - 2 * pt / (pp + Double(span.count) + 1e-5)
}

#if canImport(Glibc)
import Glibc
#endif
