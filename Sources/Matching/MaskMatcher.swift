import Autograd
import Core
import Targets

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

    /// The random points (`[points, 2]`, unit square) `costMatrix` draws for `targets`, or nil
    /// when it draws none (no targets, box targets, a fixed grid). Drawing every image's points
    /// first, in image order, lets the images be matched in parallel on the same random stream.
    public func randomPoints(for targets: ImageTargets, rng: inout SeededRNG) -> [Float]? {
        guard fixedGrid == nil, !targets.classes.isEmpty, targets.masks != nil else { return nil }
        var unit = [Float](repeating: 0, count: points * 2)
        for i in unit.indices { unit[i] = rng.nextUniform() }
        return unit
    }

    /// The cost matrix `[Q, T]` (row-major) of one image: `logits` `[Q, K+1]`, `masks` `[Q, H, W]`
    /// mask logits.
    public func costMatrix(logits: Tensor, masks: Tensor, targets: ImageTargets, rng: inout SeededRNG) throws -> [Double] {
        try costMatrix(logits: logits, masks: masks, targets: targets, points: randomPoints(for: targets, rng: &rng))
    }

    /// `costMatrix` on points drawn beforehand by `randomPoints(for:rng:)`. `logits` and `masks`
    /// are one image's `[Q, K+1]` and `[Q, H, W]`, or a batch's `[B, Q, K+1]` and
    /// `[B, Q, H, W]` of which entry `image` is read in place (no copy of its masks).
    public func costMatrix(logits: Tensor, masks: Tensor, targets: ImageTargets, image: Int = 0,
                           points drawn: [Float]?) throws -> [Double] {
        let batched = masks.rank == 4
        guard logits.rank == (batched ? 3 : 2), masks.rank == (batched ? 4 : 3),
              masks.shape.dropLast(2) == logits.shape.dropLast(), !batched || (0..<logits.shape[0]).contains(image) else {
            throw MatchError.badTargets("prediction masks \(masks.shape) do not fit logits \(logits.shape)\(batched ? " (image \(image))" : "")")
        }
        let (q, k1, t) = (logits.shape[logits.rank - 2], logits.shape[logits.rank - 1], targets.classes.count)
        let (h, w) = (masks.shape[masks.rank - 2], masks.shape[masks.rank - 1])
        let first = batched ? image : 0
        for c in targets.classes where c < 0 || c >= k1 - 1 {
            throw MatchError.badTargets("target class \(c) is outside 0..<\(k1 - 1)")
        }
        if t == 0 { return [] }
        let imageLogits = Tensor(shape: [q, k1], data: Array(logits.data[(first * q * k1)..<((first + 1) * q * k1)]))
        let probs = withoutGrad { imageLogits.softmax(axis: 1) }.data
        var cost = [Double](repeating: 0, count: q * t)
        for i in 0..<q {
            for j in 0..<t { cost[i * t + j] = Double(-classWeight * probs[i * k1 + targets.classes[j]]) }
        }
        if let targetMasks = targets.masks {
            guard targetMasks.rank == 3, targetMasks.shape[0] == t else {
                throw MatchError.badTargets("target masks \(targetMasks.shape) for \(t) classes")
            }
            guard let unit = fixedGrid?.map({ ($0 + 1) / 2 }) ?? drawn, unit.count == 2 * points || fixedGrid != nil else {
                throw MatchError.badTargets("mask targets need \(points) points drawn by randomPoints(for:rng:)")
            }
            let maskCost = masks.data.withUnsafeBufferPointer {
                pointMaskCost($0.baseAddress! + first * q * h * w, queries: q, height: h, width: w,
                              targets: targets.maskCrops, targetHeight: targetMasks.shape[1], targetWidth: targetMasks.shape[2],
                              points: unit)
            }
            for e in cost.indices { cost[e] += maskCost[e] }
        } else if let boxes = targets.boxes {
            guard boxes.count == t else { throw MatchError.badTargets("\(boxes.count) boxes for \(t) classes") }
            let boxCost = masks.data.withUnsafeBufferPointer {
                projectionCost($0.baseAddress! + first * q * h * w, queries: q, height: h, width: w, boxes)
            }
            for e in cost.indices { cost[e] += Double(maskWeight) * boxCost[e] }
        } else {
            throw MatchError.badTargets("targets carry neither masks nor boxes")
        }
        return cost
    }

    /// Matches one image: the assignment of queries (rows) to targets (cols).
    public func match(logits: Tensor, masks: Tensor, targets: ImageTargets, image: Int = 0,
                      rng: inout SeededRNG) throws -> Assignment {
        try match(logits: logits, masks: masks, targets: targets, image: image, points: randomPoints(for: targets, rng: &rng))
    }

    /// `match` on points drawn beforehand by `randomPoints(for:rng:)`; `logits` and `masks` as
    /// in `costMatrix(logits:masks:targets:image:points:)` (one image, or entry `image` of a batch).
    /// With `decoupled` (OpenSeeD), queries `0..<thingQueries` take only the targets flagged
    /// thing and the others only the rest: two assignments, one per kind.
    public func match(logits: Tensor, masks: Tensor, targets: ImageTargets, image: Int = 0,
                      points: [Float]?, decoupled: (thingQueries: Int, targetIsThing: [Bool])? = nil) throws -> Assignment {
        let cost = try costMatrix(logits: logits, masks: masks, targets: targets, image: image, points: points)
        if cost.contains(where: { !$0.isFinite }) { throw MatchError.nonFiniteCost(image: image) }
        let (q, t) = (logits.shape[logits.rank - 2], targets.classes.count)
        guard let (thingQueries, targetIsThing) = decoupled else { return try linearSumAssignment(cost, rows: q, cols: t) }
        guard targetIsThing.count == t, (0...q).contains(thingQueries) else {
            throw MatchError.badTargets("decoupled matching: \(targetIsThing.count) kinds for \(t) targets, \(thingQueries) thing queries of \(q)")
        }
        var pairs: [(row: Int, col: Int)] = [], total = 0.0
        for things in [true, false] {
            let rows = things ? 0..<thingQueries : thingQueries..<q, cols = (0..<t).filter { targetIsThing[$0] == things }
            guard !rows.isEmpty, !cols.isEmpty else { continue }
            let sub = rows.flatMap { r in cols.map { cost[r * t + $0] } }
            let a = try linearSumAssignment(sub, rows: rows.count, cols: cols.count)
            pairs += zip(a.rows, a.cols).map { (rows.lowerBound + $0, cols[$1]) }
            total += a.totalCost
        }
        pairs.sort { $0.row < $1.row }
        return Assignment(rows: pairs.map(\.row), cols: pairs.map(\.col), totalCost: total)
    }

    /// w_mask·BCE + w_dice·dice, `[Q, T]`, on `points` (`[P, 2]`, x then y, in the unit square
    /// of `PointSampling`), the same points for every prediction and target.
    ///
    /// BCE(x, y) summed over points = Σ softplus(x) − x·y, and dice needs Σ sigmoid(x)·y, so
    /// each prediction needs its softplus and sigmoid sums plus two dot products with every
    /// target. The predictions are laid out pixel-major (`[H·W, Q]`, Q padded to 8) so that
    /// sampling a point reads four contiguous rows of Q values (no per-value gathers), and every
    /// later loop runs along Q (`pointSums`). A target is 0 at most points, and a zero adds
    /// nothing to its dot products: each target visits only its nonzero points
    /// (`SparseTargetSamples`, sampled from the targets' crops).
    func pointMaskCost(_ pred: UnsafePointer<Float>, queries q: Int, height: Int, width: Int, targets crops: [MaskCrop],
                       targetHeight: Int, targetWidth: Int, points random: [Float]) -> [Double] {
        let t = crops.count, p = random.count / 2
        let plane = height * width
        // The sums do not depend on the order of the points; visiting them in raster order of
        // the prediction map keeps neighbouring taps in cache (the pixel-major map is ~1 MB) and
        // puts the points near a target in one range.
        let (unit, pixelStarts) = Self.rasterOrdered(random, height: height, width: width)
        let lanes = (q + 7) / 8 * 8
        let taps = BilinearTaps(unitPoints: unit, height: height, width: width)
        let y = SparseTargetSamples(crops: crops, height: targetHeight, width: targetWidth, points: unit,
                                    pixelStarts: pixelStarts, gridWidth: width)
        // The pixel-major map comes from the scratch pool: a fresh megabyte would be faulted in
        // page by page on every call.
        let sums = ScratchPool.withBuffer(plane * lanes) { M in
            Parallel.forRanges((plane + 15) / 16, costPerElement: 16 * q) { tiles in
                let pixels = (tiles.lowerBound * 16)..<Swift.min(tiles.upperBound * 16, plane)
                transposeMatrix(rows: q, cols: pixels.count, pred + pixels.lowerBound, lds: plane,
                                M + pixels.lowerBound * lanes, ldd: lanes)
                for o in pixels { for i in q..<lanes { M[o * lanes + i] = 0 } }
            }
            return Self.pointSums(M, lanes: lanes, taps: taps, targets: y, count: p)
        }
        var cost = [Double](repeating: 0, count: q * t)
        for i in 0..<q {
            for j in 0..<t {
                let softSum = sums[i], sigSum = sums[lanes + i]
                let xy = sums[(2 + 2 * j) * lanes + i], sy = sums[(3 + 2 * j) * lanes + i]
                let bceCost = (softSum - xy) / Double(p)
                let dice = 1 - (2 * sy + 1) / (sigSum + y.sums[j] + 1)
                cost[i * t + j] = Double(maskWeight) * bceCost + Double(diceWeight) * dice
            }
        }
        return cost
    }

    /// The sums `pointMaskCost` needs over the `count` points of `taps`, on the pixel-major
    /// predictions `M` (`lanes` per pixel): [Σ softplus, Σ sigmoid, then Σ x·y_j and
    /// Σ sigmoid·y_j for each target j], each `lanes` wide. Points go in blocks of 256: Float
    /// sums within a block, block sums added in block order in Double (the result does not
    /// depend on the thread count).
    static func pointSums(_ M: UnsafePointer<Float>, lanes: Int, taps: BilinearTaps, targets y: SparseTargetSamples,
                          count p: Int) -> [Double] {
        let t = y.sums.count
        let perBlock = (2 + 2 * t) * lanes
        let block = 256, blocks = (p + block - 1) / block
        var partial = [Double](repeating: 0, count: blocks * perBlock)
        y.index.withUnsafeBufferPointer { ip in y.value.withUnsafeBufferPointer { vp in
            partial.withUnsafeMutableBufferPointer { pp in
                let (IDX, VAL, P) = (ip.baseAddress, vp.baseAddress, pp.baseAddress!)
                Parallel.forRanges(blocks, costPerElement: block * lanes * 32) { range in
                    let xb = UnsafeMutablePointer<Float>.allocate(capacity: block * lanes)
                    let sig = UnsafeMutablePointer<Float>.allocate(capacity: block * lanes)
                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 4 * lanes)
                    let acc = UnsafeMutablePointer<Float>.allocate(capacity: perBlock)
                    defer { xb.deallocate(); sig.deallocate(); scratch.deallocate(); acc.deallocate() }
                    for b in range {
                        let k0 = b * block, n = Swift.min(block, p - k0)
                        taps.sampleChannelsLast(M, channels: lanes, k0..<(k0 + n), into: xb)
                        acc.update(repeating: 0, count: perBlock)
                        sigmoidSoftplusSums(xb, rows: n, lanes: lanes, sigmoid: sig, softplusSum: acc,
                                            sigmoidSum: acc + lanes, scratch: scratch)
                        for j in 0..<t {
                            // The target's nonzero points in this block.
                            let lo = y.firstEntry(of: j, atOrAfter: k0), hi = y.firstEntry(of: j, atOrAfter: k0 + n)
                            if lo == hi { continue }
                            let (IDX, VAL) = (IDX!, VAL!)
                            let out = acc + (2 + 2 * j) * lanes
                            // 32 lanes at a time (8 independent sums hide the add latency),
                            // then 16, then 8.
                            var c = 0
                            while c + 32 <= lanes {
                                var (a0, a1, a2, a3) = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
                                var (s0, s1, s2, s3) = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
                                for i in lo..<hi {
                                    let k = Int(IDX[i]) &- k0
                                    let v = SIMD8<Float>(repeating: VAL[i])
                                    let xr = xb + k * lanes + c, sr = sig + k * lanes + c
                                    a0 += v * load8(xr); a1 += v * load8(xr + 8)
                                    a2 += v * load8(xr + 16); a3 += v * load8(xr + 24)
                                    s0 += v * load8(sr); s1 += v * load8(sr + 8)
                                    s2 += v * load8(sr + 16); s3 += v * load8(sr + 24)
                                }
                                store8(out + c, a0); store8(out + c + 8, a1)
                                store8(out + c + 16, a2); store8(out + c + 24, a3)
                                store8(out + lanes + c, s0); store8(out + lanes + c + 8, s1)
                                store8(out + lanes + c + 16, s2); store8(out + lanes + c + 24, s3)
                                c += 32
                            }
                            while c + 16 <= lanes {
                                var (a0, a1, s0, s1) = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
                                for i in lo..<hi {
                                    let k = Int(IDX[i]) &- k0
                                    let v = SIMD8<Float>(repeating: VAL[i])
                                    let xr = xb + k * lanes + c, sr = sig + k * lanes + c
                                    a0 += v * load8(xr); a1 += v * load8(xr + 8)
                                    s0 += v * load8(sr); s1 += v * load8(sr + 8)
                                }
                                store8(out + c, a0); store8(out + c + 8, a1)
                                store8(out + lanes + c, s0); store8(out + lanes + c + 8, s1)
                                c += 16
                            }
                            if c < lanes {
                                var a = SIMD8<Float>(), s = SIMD8<Float>()
                                for i in lo..<hi {
                                    let k = Int(IDX[i]) &- k0
                                    let v = SIMD8<Float>(repeating: VAL[i])
                                    a += v * load8(xb + k * lanes + c)
                                    s += v * load8(sig + k * lanes + c)
                                }
                                store8(out + c, a)
                                store8(out + lanes + c, s)
                            }
                        }
                        let out = P + b * perBlock
                        for e in 0..<perBlock { out[e] = Double(acc[e]) }
                    }
                }
            }
        }}
        var sums = [Double](repeating: 0, count: perBlock)
        for b in 0..<blocks { for e in 0..<perBlock { sums[e] += partial[b * perBlock + e] } }
        return sums
    }

    /// `points` (`[P, 2]`, x then y in the unit square) sorted by the pixel of a `height` x
    /// `width` map they fall in (a stable counting sort), and where each pixel's points start in
    /// the sorted points (`height · width + 1` entries, the last `P`).
    static func rasterOrdered(_ points: [Float], height: Int, width: Int) -> (points: [Float], pixelStarts: [Int]) {
        let p = points.count / 2
        var pixel = [Int](repeating: 0, count: p)
        var start = [Int](repeating: 0, count: height * width + 1)
        for k in 0..<p {
            let x = Swift.min(Swift.max(Int(points[2 * k] * Float(width)), 0), width - 1)
            let y = Swift.min(Swift.max(Int(points[2 * k + 1] * Float(height)), 0), height - 1)
            pixel[k] = y * width + x
            start[pixel[k] + 1] += 1
        }
        for i in 0..<(height * width) { start[i + 1] += start[i] }
        let pixelStarts = start
        var sorted = [Float](repeating: 0, count: points.count)
        for k in 0..<p {
            let slot = start[pixel[k]]
            start[pixel[k]] += 1
            sorted[2 * slot] = points[2 * k]
            sorted[2 * slot + 1] = points[2 * k + 1]
        }
        return (sorted, pixelStarts)
    }

    /// Projection dice `[Q, T]` between each predicted mask (`q` maps of `height` x `width` mask
    /// logits at `pred`, read in place) and each box (BoxInst / DaTaSeg).
    func projectionCost(_ pred: UnsafePointer<Float>, queries q: Int, height h: Int, width w: Int,
                        _ boxes: [(Float, Float, Float, Float)]) -> [Double] {
        var cost = [Double](repeating: 0, count: q * boxes.count)
        for i in 0..<q {
            var colMax = [Float](repeating: 0, count: w), rowMax = [Float](repeating: 0, count: h)
            for y in 0..<h {
                for x in 0..<w {
                    let v = fastSigmoid(pred[(i * h + y) * w + x])   // Tensor.sigmoid's function
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
