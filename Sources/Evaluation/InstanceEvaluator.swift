import COCOMask
import Core
/// COCO box and mask mAP, computed as the COCO API (pycocotools' `COCOeval`) computes them:
/// evaluate per image and category, accumulate, summarise. Streaming: each image is evaluated
/// when it is added and only what accumulation needs is kept (scores, match flags, ignore
/// flags), so memory grows with the detections, not with masks.

/// One ground-truth object or detection of one image.
public struct InstanceObject: Sendable {
    public var categoryID: Int
    /// Ground truth: the annotation's `area` field. Detection: its mask area or box w·h.
    public var area: Double
    /// `[x, y, w, h]`.
    public var box: [Double]
    /// The mask (segm evaluation).
    public var mask: RLE? { didSet { maskBox = mask?.boundingBox } }
    /// The mask's bounding box, computed once.
    public private(set) var maskBox: [Double]?
    /// Ground truth only.
    public var isCrowd: Bool
    /// Detection only.
    public var score: Double

    public init(categoryID: Int, area: Double, box: [Double], mask: RLE? = nil, isCrowd: Bool = false, score: Double = 0) {
        self.categoryID = categoryID
        self.area = area
        self.box = box
        self.mask = mask
        self.maskBox = mask?.boundingBox
        self.isCrowd = isCrowd
        self.score = score
    }
}

/// The 12 numbers of COCO's summary, and AP per category.
public struct InstanceMetrics: Equatable, Sendable {
    public static let names = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
    /// In the order of `names`; −1 where undefined.
    public var stats: [Double]
    /// AP at IoU .50:.95, all areas, 100 detections, by category id (−1 without ground truth).
    public var perCategory: [Int: Double]

    /// The summary lines exactly as the COCO API prints them.
    public var summaryLines: [String] {
        let rows: [(Bool, Double?, String, Int)] = [
            (true, nil, "all", 100), (true, 0.5, "all", 100), (true, 0.75, "all", 100),
            (true, nil, "small", 100), (true, nil, "medium", 100), (true, nil, "large", 100),
            (false, nil, "all", 1), (false, nil, "all", 10), (false, nil, "all", 100),
            (false, nil, "small", 100), (false, nil, "medium", 100), (false, nil, "large", 100),
        ]
        return zip(rows, stats).map { row, value in
            let (ap, iou, area, maxDets) = row
            let title = ap ? "Average Precision" : "Average Recall"
            let type = ap ? "(AP)" : "(AR)"
            let iouText = iou.map { formatFixed($0, 2) } ?? "0.50:0.95"
            return " " + pad(title, 18) + " " + type + " @[ IoU=" + pad(iouText, 9) + " | area=" + padLeft(area, 6)
                + " | maxDets=" + padLeft(String(maxDets), 3) + " ] = " + formatFixed(value, 3)
        }
    }
}

public struct InstanceEvaluator: Sendable {
    public enum IoUType: String, Sendable { case bbox, segm }

    public let iouType: IoUType
    /// Evaluated categories, ascending (the ground truth's).
    public let categoryIDs: [Int]
    /// 0.50:0.05:0.95 as `np.linspace` makes them.
    public static let iouThresholds: [Double] = {
        let step = (0.95 - 0.5) / 9
        return (0..<10).map { $0 == 9 ? 0.95 : Double($0) * step + 0.5 }
    }()
    /// 0:0.01:1 as `np.linspace` makes them.
    public static let recallThresholds: [Double] = (0...100).map { $0 == 100 ? 1.0 : Double($0) * 0.01 }
    public static let maxDetections = [1, 10, 100]
    public static let areaRanges: [(Double, Double)] = [(0, 1e10), (0, 1024), (1024, 9216), (9216, 1e10)]

    /// What accumulation needs of one (image, category, area range). Flat arrays: a COCO-sized
    /// file makes some 10^5 of these, and an array per threshold cost more to allocate and free
    /// than to evaluate.
    struct ImageResult: Sendable {
        static let matched: UInt8 = 1, ignored: UInt8 = 2

        var imageID: Int
        /// Detection scores, sorted (stable) descending, at most 100.
        var scores: [Double]
        /// `flags[ti * scores.count + d]`: `matched` (to a ground truth at IoU threshold ti)
        /// and `ignored` bits of detection d.
        var flags: [UInt8]
        /// Ground truths not ignored.
        var gtCount: Int
    }

    /// Indexed by category index, then area range.
    private var results: [[[ImageResult]]]
    private let categoryIndex: [Int: Int]

    public init(iouType: IoUType, categoryIDs: [Int]) {
        self.iouType = iouType
        self.categoryIDs = categoryIDs.sorted()
        var index: [Int: Int] = [:]
        for (k, c) in self.categoryIDs.enumerated() { index[c] = k }
        categoryIndex = index
        results = Array(repeating: Array(repeating: [], count: Self.areaRanges.count), count: categoryIDs.count)
    }

    public mutating func reset() {
        results = Array(repeating: Array(repeating: [], count: Self.areaRanges.count), count: categoryIDs.count)
    }

    /// Adds one image: its ground truth and its detections, detections in the order of the
    /// results file (it decides the order of equal scores). Objects of categories outside the
    /// evaluated set are left out, as the COCO API does.
    public mutating func add(imageID: Int, groundTruth: [InstanceObject], detections: [InstanceObject]) {
        append(imageResults(imageID: imageID, groundTruth: groundTruth, detections: detections))
    }

    /// Adds many images at once, evaluated in parallel (`COCOeval.evaluate` over a whole file).
    public mutating func add(images: [(imageID: Int, groundTruth: [InstanceObject], detections: [InstanceObject])]) {
        let evaluated = Parallel.map(images.count) { i in
            self.imageResults(imageID: images[i].imageID, groundTruth: images[i].groundTruth, detections: images[i].detections)
        }
        for e in evaluated { append(e) }
    }

    private mutating func append(_ perCategory: [(category: Int, perArea: [ImageResult])]) {
        for (k, perArea) in perCategory { for (a, r) in perArea.enumerated() { results[k][a].append(r) } }
    }

    /// One image's results: per category present (its index), one per area range.
    private func imageResults(imageID: Int, groundTruth: [InstanceObject], detections: [InstanceObject]) -> [(category: Int, perArea: [ImageResult])] {
        // Objects by category as indices (the objects themselves are not copied).
        var gtByCategory: [Int: [Int]] = [:], dtByCategory: [Int: [Int]] = [:]
        for (i, g) in groundTruth.enumerated() where categoryIndex[g.categoryID] != nil { gtByCategory[g.categoryID, default: []].append(i) }
        for (i, d) in detections.enumerated() where categoryIndex[d.categoryID] != nil { dtByCategory[d.categoryID, default: []].append(i) }
        return Set(gtByCategory.keys).union(dtByCategory.keys).sorted().map { category in
            let k = categoryIndex[category]!
            let gts = gtByCategory[category] ?? [], dts = dtByCategory[category] ?? []
            // Detections by score, stable, at most 100 (computeIoU and evaluateImg).
            let order = dts.indices.sorted {
                let (a, b) = (detections[dts[$0]].score, detections[dts[$1]].score)
                return a > b || (a == b && $0 < $1)
            }
            let sortedDts = order.prefix(Self.maxDetections.last!).map { dts[$0] }
            let ious = iouMatrix(sortedDts, of: detections, gts, of: groundTruth)
            let gtObjects = gts.map { (area: groundTruth[$0].area, isCrowd: groundTruth[$0].isCrowd) }
            let dtObjects = sortedDts.map { (area: detections[$0].area, score: detections[$0].score) }
            return (k, Self.areaRanges.map { evaluate(imageID: imageID, gts: gtObjects, dts: dtObjects, ious: ious, range: $0) })
        }
    }

    /// IoUs of detections `dts` (indices into `detections`) with ground truths `gts` (indices
    /// into `groundTruth`), `[detection * gts.count + ground truth]`.
    private func iouMatrix(_ dts: [Int], of detections: [InstanceObject], _ gts: [Int], of groundTruth: [InstanceObject]) -> [Double] {
        var ious = [Double](repeating: 0, count: dts.count * gts.count)
        for (i, di) in dts.enumerated() {
            let d = detections[di]
            for (j, gi) in gts.enumerated() {
                let g = groundTruth[gi]
                switch iouType {
                case .bbox:
                    ious[i * gts.count + j] = boxIoU(d.box, g.box, crowd: g.isCrowd)
                case .segm:
                    guard let dm = d.mask, let gm = g.mask else { continue }
                    ious[i * gts.count + j] = maskIoU(dm, gm, crowd: g.isCrowd, dBox: d.maskBox ?? [0, 0, 0, 0], gBox: g.maskBox ?? [0, 0, 0, 0])
                }
            }
        }
        return ious
    }

    /// `COCOeval.evaluateImg` for one area range and 100 detections.
    private func evaluate(imageID: Int, gts: [(area: Double, isCrowd: Bool)], dts: [(area: Double, score: Double)],
                          ious: [Double], range: (Double, Double)) -> ImageResult {
        let gtIgnoreRaw = gts.map { $0.isCrowd || $0.area < range.0 || $0.area > range.1 }
        // Ground truth with non-ignored first (stable).
        let gtOrder = gts.indices.sorted { (gtIgnoreRaw[$0] ? 1 : 0, $0) < (gtIgnoreRaw[$1] ? 1 : 0, $1) }
        let gtIgnore = gtOrder.map { gtIgnoreRaw[$0] }
        let crowd = gtOrder.map { gts[$0].isCrowd }
        let t = Self.iouThresholds.count, (n, g) = (dts.count, gts.count)
        var gtMatched = [Bool](repeating: false, count: t * g)
        var flags = [UInt8](repeating: 0, count: t * n)
        for (ti, threshold) in Self.iouThresholds.enumerated() {
            for d in 0..<n {
                var best = min(threshold, 1 - 1e-10)
                var m = -1
                for (gi, gt) in gtOrder.enumerated() {
                    if gtMatched[ti * g + gi] && !crowd[gi] { continue }
                    if m > -1 && !gtIgnore[m] && gtIgnore[gi] { break }
                    let iou = ious[d * g + gt]
                    if iou < best { continue }
                    best = iou
                    m = gi
                }
                if m == -1 { continue }
                flags[ti * n + d] = ImageResult.matched | (gtIgnore[m] ? ImageResult.ignored : 0)
                gtMatched[ti * g + m] = true
            }
        }
        // Unmatched detections outside the area range are ignored.
        for d in 0..<n where dts[d].area < range.0 || dts[d].area > range.1 {
            for ti in 0..<t where flags[ti * n + d] & ImageResult.matched == 0 { flags[ti * n + d] = ImageResult.ignored }
        }
        return ImageResult(imageID: imageID, scores: dts.map(\.score), flags: flags, gtCount: gtIgnore.filter { !$0 }.count)
    }

    /// `COCOeval.accumulate` + `summarize`.
    public func summarize() -> InstanceMetrics {
        let t = Self.iouThresholds.count, r = Self.recallThresholds.count
        let (kCount, aCount, mCount) = (categoryIDs.count, Self.areaRanges.count, Self.maxDetections.count)
        // precision[t][r][k][a][m], recall[t][k][a][m]; −1 where no ground truth.
        var precision = [Double](repeating: -1, count: t * r * kCount * aCount * mCount)
        var recall = [Double](repeating: -1, count: t * kCount * aCount * mCount)
        func pIndex(_ ti: Int, _ ri: Int, _ k: Int, _ a: Int, _ m: Int) -> Int { (((ti * r + ri) * kCount + k) * aCount + a) * mCount + m }
        func rIndex(_ ti: Int, _ k: Int, _ a: Int, _ m: Int) -> Int { ((ti * kCount + k) * aCount + a) * mCount + m }
        // Each (category, area range) is independent: in parallel, each block's precision
        // [t][r][m] and recall [t][m] scattered into place afterwards.
        let blocks = Parallel.map(kCount * aCount) { block -> (precision: [Double], recall: [Double])? in
            let (k, a) = (block / aCount, block % aCount)
            // Images in ascending id order, as the COCO API's sorted image ids.
            let images = results[k][a].sorted { $0.imageID < $1.imageID }
            let gtCount = images.reduce(0) { $0 + $1.gtCount }
            if gtCount == 0 { return nil }
            var p = [Double](repeating: -1, count: t * r * mCount), rec = [Double](repeating: -1, count: t * mCount)
            for (mi, maxDet) in Self.maxDetections.enumerated() {
                var scores: [Double] = [], owner: [(Int, Int)] = []
                for (i, e) in images.enumerated() {
                    for d in 0..<min(maxDet, e.scores.count) { scores.append(e.scores[d]); owner.append((i, d)) }
                }
                let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
                for ti in 0..<t {
                    var (rc, pr) = Self.curve(order: order, owner: owner, images: images, ti: ti, gtCount: gtCount)
                    let nd = rc.count
                    rec[ti * mCount + mi] = nd > 0 ? rc[nd - 1] : 0
                    if nd > 1 { for i in stride(from: nd - 1, to: 0, by: -1) where pr[i] > pr[i - 1] { pr[i - 1] = pr[i] } }
                    var q = [Double](repeating: 0, count: r)
                    var start = 0
                    for (ri, threshold) in Self.recallThresholds.enumerated() {
                        // searchsorted(rc, threshold, side="left")
                        var lo = start, hi = nd
                        while lo < hi { let mid = (lo + hi) / 2; if rc[mid] < threshold { lo = mid + 1 } else { hi = mid } }
                        start = lo
                        if lo >= nd { break }
                        q[ri] = pr[lo]
                    }
                    for ri in 0..<r { p[(ti * r + ri) * mCount + mi] = q[ri] }
                }
            }
            return (p, rec)
        }
        for (block, values) in blocks.enumerated() {
            guard let values else { continue }
            let (k, a) = (block / aCount, block % aCount)
            for ti in 0..<t {
                for mi in 0..<mCount {
                    recall[rIndex(ti, k, a, mi)] = values.recall[ti * mCount + mi]
                    for ri in 0..<r { precision[pIndex(ti, ri, k, a, mi)] = values.precision[(ti * r + ri) * mCount + mi] }
                }
            }
        }
        func meanOf(_ values: [Double]) -> Double {
            let kept = values.filter { $0 > -1 }
            return kept.isEmpty ? -1 : kept.reduce(0, +) / Double(kept.count)
        }
        func ap(_ iou: Double?, _ a: Int, _ m: Int) -> Double {
            var values: [Double] = []
            for ti in 0..<t where iou == nil || Self.iouThresholds[ti] == iou! {
                for ri in 0..<r { for k in 0..<kCount { values.append(precision[pIndex(ti, ri, k, a, m)]) } }
            }
            return meanOf(values)
        }
        func ar(_ a: Int, _ m: Int) -> Double {
            var values: [Double] = []
            for ti in 0..<t { for k in 0..<kCount { values.append(recall[rIndex(ti, k, a, m)]) } }
            return meanOf(values)
        }
        let stats = [ap(nil, 0, 2), ap(0.5, 0, 2), ap(0.75, 0, 2), ap(nil, 1, 2), ap(nil, 2, 2), ap(nil, 3, 2),
                     ar(0, 0), ar(0, 1), ar(0, 2), ar(1, 2), ar(2, 2), ar(3, 2)]
        var perCategory: [Int: Double] = [:]
        for (k, c) in categoryIDs.enumerated() {
            var values: [Double] = []
            for ti in 0..<t { for ri in 0..<r { values.append(precision[pIndex(ti, ri, k, 0, 2)]) } }
            perCategory[c] = meanOf(values)
        }
        return InstanceMetrics(stats: stats, perCategory: perCategory)
    }

    /// Recall and precision after each detection in score order, from cumulative true and
    /// false positives that ignored detections do not advance (numpy's cumsum, as the COCO API).
    private static func curve(order: [Int], owner: [(Int, Int)], images: [ImageResult], ti: Int,
                              gtCount: Int) -> ([Double], [Double]) {
        var tp = 0.0, fp = 0.0
        var rc = [Double](repeating: 0, count: order.count), pr = rc
        for (n, o) in order.enumerated() {
            let (i, d) = owner[o]
            let flags = images[i].flags[ti * images[i].scores.count + d]
            if flags & ImageResult.ignored == 0 {
                if flags & ImageResult.matched != 0 { tp += 1 } else { fp += 1 }
            }
            rc[n] = tp / Double(gtCount)
            pr[n] = tp / (fp + tp + Double.ulpOfOne)
        }
        return (rc, pr)
    }
}

func formatFixed(_ x: Double, _ digits: Int) -> String {
    // Python's '{:0.Nf}' rounds half to even on the binary value; String(format:) does the same.
    String(format: "%.\(digits)f", x)
}

func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s : s + String(repeating: " ", count: width - s.count) }
func padLeft(_ s: String, _ width: Int) -> String { s.count >= width ? s : String(repeating: " ", count: width - s.count) + s }

#if canImport(Foundation)
import Foundation
#endif
