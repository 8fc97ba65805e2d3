/// Panoptic quality as the COCO panoptic API (panopticapi's `pq_compute`) computes it.

/// One segment of a panoptic map.
public struct PanopticSegment: Sendable {
    public var id: UInt32
    public var categoryID: Int
    public var isCrowd: Bool
    /// Ground truth: the JSON's `area` (panopticapi uses it rather than the PNG's count).
    public var area: Int?
    public init(id: UInt32, categoryID: Int, isCrowd: Bool = false, area: Int? = nil) {
        self.id = id
        self.categoryID = categoryID
        self.isCrowd = isCrowd
        self.area = area
    }
}

/// A panoptic map: a segment id per pixel (0 = void) and the segments' information.
public struct PanopticMap: Sendable {
    public var width: Int
    public var height: Int
    public var ids: [UInt32]
    public var segments: [PanopticSegment]
    public init(width: Int, height: Int, ids: [UInt32], segments: [PanopticSegment]) {
        self.width = width
        self.height = height
        self.ids = ids
        self.segments = segments
    }

}

public struct PanopticMetrics: Equatable, Sendable {
    public struct Summary: Equatable, Sendable { public var pq, sq, rq: Double; public var n: Int }
    public var all: Summary, things: Summary, stuff: Summary
    /// Every category of the ground truth, zeros where it does not occur.
    public var perClass: [(id: Int, pq: Double, sq: Double, rq: Double)]

    public static func == (a: PanopticMetrics, b: PanopticMetrics) -> Bool {
        a.all == b.all && a.things == b.things && a.stuff == b.stuff
            && a.perClass.map(\.id) == b.perClass.map(\.id) && a.perClass.map(\.pq) == b.perClass.map(\.pq)
    }
}

public struct PanopticError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { message }
}

public struct PanopticEvaluator {
    /// Categories in the ground truth's order, with `isthing`.
    public let categories: [(id: Int, isThing: Bool)]
    private let known: Set<Int>
    private var iou: [Int: Double] = [:], tp: [Int: Int] = [:], fp: [Int: Int] = [:], fn: [Int: Int] = [:]

    public init(categories: [(id: Int, isThing: Bool)]) {
        self.categories = categories
        known = Set(categories.map(\.id))
    }

    public mutating func reset() { iou = [:]; tp = [:]; fp = [:]; fn = [:] }

    public struct Sample {
        public var imageID: Int
        public var groundTruth: PanopticMap
        public var prediction: PanopticMap
        public init(imageID: Int, groundTruth: PanopticMap, prediction: PanopticMap) {
            self.imageID = imageID
            self.groundTruth = groundTruth
            self.prediction = prediction
        }
    }

    public mutating func add(_ sample: Sample) throws {
        let (gt, pred, image) = (sample.groundTruth, sample.prediction, sample.imageID)
        guard gt.width == pred.width, gt.height == pred.height else {
            throw PanopticError(message: "image \(image): prediction is \(pred.width)x\(pred.height), ground truth \(gt.width)x\(gt.height)")
        }
        // Dense indices: 0 = void, then the segments in JSON order.
        func index(_ segments: [PanopticSegment], _ what: String) throws -> [UInt32: Int] {
            var out: [UInt32: Int] = [:]
            for (i, s) in segments.enumerated() {
                guard s.id != 0 else { throw PanopticError(message: "image \(image): \(what) segment with id 0 (void)") }
                guard out[s.id] == nil else { throw PanopticError(message: "image \(image): \(what) segment id \(s.id) appears twice in the JSON") }
                out[s.id] = i + 1
            }
            return out
        }
        let gtIndex = try index(gt.segments, "ground-truth"), predIndex = try index(pred.segments, "predicted")
        for s in pred.segments where !known.contains(s.categoryID) {
            throw PanopticError(message: "image \(image): segment \(s.id) has unknown category_id \(s.categoryID)")
        }
        let ng = gt.segments.count + 1, np = pred.segments.count + 1
        var counts = [Int](repeating: 0, count: ng * np)
        var lastG: UInt32 = 0, lastGI = 0, lastP: UInt32 = 0, lastPI = 0
        for k in 0..<gt.ids.count {
            let g = gt.ids[k], p = pred.ids[k]
            if g != lastG || k == 0 {
                guard g == 0 || gtIndex[g] != nil else {
                    throw PanopticError(message: "image \(image): segment id \(g) is in the ground-truth PNG and not in its JSON")
                }
                lastG = g
                lastGI = g == 0 ? 0 : gtIndex[g]!
            }
            if p != lastP || k == 0 {
                guard p == 0 || predIndex[p] != nil else {
                    throw PanopticError(message: "image \(image): segment id \(p) is in the predicted PNG and not in its JSON")
                }
                lastP = p
                lastPI = p == 0 ? 0 : predIndex[p]!
            }
            counts[lastGI * np + lastPI] += 1
        }
        var predArea = [Int](repeating: 0, count: np)
        for gi in 0..<ng { for pi in 0..<np { predArea[pi] += counts[gi * np + pi] } }
        for (i, s) in pred.segments.enumerated() where predArea[i + 1] == 0 {
            throw PanopticError(message: "image \(image): segment id \(s.id) is in the predicted JSON and not in its PNG")
        }
        // Matches, in ascending (ground-truth id, predicted id) order as panopticapi's np.unique.
        var gtMatched = Set<Int>(), predMatched = Set<Int>()
        let gtOrder = (1..<ng).sorted { gt.segments[$0 - 1].id < gt.segments[$1 - 1].id }
        let predOrder = (1..<np).sorted { pred.segments[$0 - 1].id < pred.segments[$1 - 1].id }
        for gi in gtOrder {
            let g = gt.segments[gi - 1]
            if g.isCrowd { continue }
            for pi in predOrder {
                let intersection = counts[gi * np + pi]
                if intersection == 0 { continue }
                let p = pred.segments[pi - 1]
                if g.categoryID != p.categoryID { continue }
                let union = predArea[pi] + (g.area ?? 0) - intersection - counts[0 * np + pi]
                let value = Double(intersection) / Double(union)
                if value > 0.5 {
                    tp[g.categoryID, default: 0] += 1
                    iou[g.categoryID, default: 0] += value
                    gtMatched.insert(gi)
                    predMatched.insert(pi)
                }
            }
        }
        var crowdOfCategory: [Int: Int] = [:]
        for gi in 1..<ng where !gtMatched.contains(gi) {
            let g = gt.segments[gi - 1]
            if g.isCrowd { crowdOfCategory[g.categoryID] = gi; continue }
            fn[g.categoryID, default: 0] += 1
        }
        for pi in 1..<np where !predMatched.contains(pi) {
            let p = pred.segments[pi - 1]
            var overlap = counts[0 * np + pi]
            if let crowd = crowdOfCategory[p.categoryID] { overlap += counts[crowd * np + pi] }
            if Double(overlap) / Double(predArea[pi]) > 0.5 { continue }
            fp[p.categoryID, default: 0] += 1
        }
    }

    /// Whether category `id` has a ground-truth or predicted segment counted (its PQ is defined).
    public func occurs(_ id: Int) -> Bool { (tp[id] ?? 0) + (fp[id] ?? 0) + (fn[id] ?? 0) > 0 }

    public func summarize() -> PanopticMetrics {
        var perClass: [(id: Int, pq: Double, sq: Double, rq: Double)] = []
        func average(_ filter: Bool?) -> PanopticMetrics.Summary {
            var pq = 0.0, sq = 0.0, rq = 0.0, n = 0
            for c in categories where filter == nil || c.isThing == filter! {
                let (t, f, m, i) = (tp[c.id] ?? 0, fp[c.id] ?? 0, fn[c.id] ?? 0, iou[c.id] ?? 0)
                if t + f + m == 0 { continue }
                n += 1
                let denominator = Double(t) + 0.5 * Double(f) + 0.5 * Double(m)
                pq += i / denominator
                sq += t != 0 ? i / Double(t) : 0
                rq += Double(t) / denominator
            }
            // panopticapi divides by n without a check; an empty set is reported as zeros here.
            return n == 0 ? .init(pq: 0, sq: 0, rq: 0, n: 0) : .init(pq: pq / Double(n), sq: sq / Double(n), rq: rq / Double(n), n: n)
        }
        for c in categories {
            let (t, f, m, i) = (tp[c.id] ?? 0, fp[c.id] ?? 0, fn[c.id] ?? 0, iou[c.id] ?? 0)
            if t + f + m == 0 { perClass.append((c.id, 0, 0, 0)); continue }
            let denominator = Double(t) + 0.5 * Double(f) + 0.5 * Double(m)
            perClass.append((c.id, i / denominator, t != 0 ? i / Double(t) : 0, Double(t) / denominator))
        }
        return PanopticMetrics(all: average(nil), things: average(true), stuff: average(false), perClass: perClass)
    }
}
