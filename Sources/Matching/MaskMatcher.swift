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
            var unit = fixedGrid?.map { ($0 + 1) / 2 } ?? [Float](repeating: 0, count: points * 2)
            if fixedGrid == nil { for i in unit.indices { unit[i] = rng.nextUniform() } }
            let maskCost = pointMaskCost(masks, targetMasks, points: unit)
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

    /// w_mask·BCE + w_dice·dice, `[Q, T]`, on `points` (`[P, 2]`, x then y, in the unit square
    /// of `PointSampling`), the same points for every prediction and target.
    ///
    /// BCE(x, y) summed over points = Σ softplus(x) − x·y, and dice needs Σ sigmoid(x)·y, so
    /// each prediction row needs its softplus and sigmoid sums plus two dot products with every
    /// target row. One pass per row does all of it, a block of 512 points at a time: the row's
    /// logits at the block's points (shared taps), the elementwise loop (which vectorises), then
    /// dot products against the targets' block (`preciseSum`, `preciseDot`: float lanes folded
    /// into Doubles). No
    /// [Q, P] temporaries, no GEMM (a 50 x 8 x 12544 GEMM ran at a tenth of the machine's speed).
    func pointMaskCost(_ pred: Tensor, _ target: Tensor, points unit: [Float]) -> [Double] {
        let q = pred.shape[0], t = target.shape[0], p = unit.count / 2
        let plane = pred.shape[1] * pred.shape[2]
        let predTaps = BilinearTaps(unitPoints: unit, height: pred.shape[1], width: pred.shape[2])
        let y = Tensor.sampledValues(target, points: unit, count: p, shared: true)
        let x = pred.data
        // Per row: [softplus sum, sigmoid sum, x·y_0, sigmoid·y_0, x·y_1, ...].
        let stride = 2 + 2 * t
        var sums = [Double](repeating: 0, count: q * stride)
        let block = 512
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeBufferPointer { yp in
                sums.withUnsafeMutableBufferPointer { sp in
                    let (X, Y, S) = (xp.baseAddress!, yp.baseAddress!, sp.baseAddress!)
                    Parallel.forRanges(q, costPerElement: p * (24 + 2 * t)) { rows in
                        let xb = UnsafeMutablePointer<Float>.allocate(capacity: block)
                        let sig = UnsafeMutablePointer<Float>.allocate(capacity: block)
                        let soft = UnsafeMutablePointer<Float>.allocate(capacity: block)
                        defer { xb.deallocate(); sig.deallocate(); soft.deallocate() }
                        for i in rows {
                            let out = S + i * stride
                            var k0 = 0
                            while k0 < p {
                                let n = Swift.min(block, p - k0)
                                // This prediction at the block's points (no [Q, P] array).
                                predTaps.sample(X + i * plane, k0..<(k0 + n), into: xb)
                                // softplus(v) = max(v, 0) + log(1 + e) and sigmoid(v) share
                                // e = exp(−|v|); log(1 + e) is within 1e-7 of log1p(e).
                                for k in 0..<n {
                                    let v = xb[k]
                                    let e = fastExp(-Swift.abs(v))
                                    let r = 1 / (1 + e)
                                    sig[k] = v >= 0 ? r : e * r
                                    soft[k] = Swift.max(v, 0) + fastLog(1 + e)
                                }
                                out[0] += preciseSum(soft, n)
                                out[1] += preciseSum(sig, n)
                                for j in 0..<t {
                                    let yb = Y + j * p + k0
                                    out[2 + 2 * j] += preciseDot(xb, yb, n)
                                    out[3 + 2 * j] += preciseDot(sig, yb, n)
                                }
                                k0 += n
                            }
                        }
                    }
                }
            }
        }
        let targetSum = y.withUnsafeBufferPointer { yp in (0..<t).map { preciseSum(yp.baseAddress! + $0 * p, p) } }
        var cost = [Double](repeating: 0, count: q * t)
        for i in 0..<q {
            let r = i * stride
            for j in 0..<t {
                let bceCost = (sums[r] - sums[r + 2 + 2 * j]) / Double(p)
                let dice = 1 - (2 * sums[r + 3 + 2 * j] + 1) / (sums[r + 1] + targetSum[j] + 1)
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
