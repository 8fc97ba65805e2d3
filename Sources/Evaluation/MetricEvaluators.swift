import COCOMask

/// Panoptic quality (panopticapi) of the predicted panoptic maps: `panoptic/PQ`, `SQ`, `RQ`,
/// `PQ_th`, `PQ_st`, and `panoptic/PQ-<class>` for the classes that occur.
public final class PanopticQualityEvaluator: DatasetEvaluator {
    let categories: EvaluationCategories
    var metric: PanopticEvaluator

    public init(categories: EvaluationCategories) {
        self.categories = categories
        metric = PanopticEvaluator(categories: (0..<categories.count).map { ($0, categories.isThing[$0]) })
    }

    public func reset() { metric.reset() }

    public func process(_ image: EvaluatedImage) throws {
        guard let gt = image.groundTruth.panoptic, let pred = image.prediction.panoptic else {
            throw EvaluationError("image \(image.imageID): panoptic evaluation needs a panoptic ground truth and prediction")
        }
        try metric.add(.init(imageID: image.imageID, groundTruth: gt, prediction: pred))
    }

    public func evaluate() throws -> [String: Double] {
        let m = metric.summarize()
        // −1 where a kind has no category (class-agnostic scoring has no stuff), as the interface's "undefined".
        var out = ["panoptic/PQ": m.all.pq, "panoptic/SQ": m.all.sq, "panoptic/RQ": m.all.rq,
                   "panoptic/PQ_th": m.things.n == 0 ? -1 : m.things.pq, "panoptic/PQ_st": m.stuff.n == 0 ? -1 : m.stuff.pq]
        // Per class that occurs (panopticapi's per_class), named as the other per-class keys.
        for c in m.perClass where c.id < categories.count && metric.occurs(c.id) { out["panoptic/PQ-" + categories.names[c.id]] = c.pq }
        return out
    }
}

/// mIoU as mmsegmentation computes it: `semantic/mIoU`, `mAcc`, `aAcc` and, for the classes
/// that occur, `semantic/IoU-<class>` (Detectron2's per-class keys).
public final class SemanticSegmentationEvaluator: DatasetEvaluator {
    let categories: EvaluationCategories
    var metric: SemanticEvaluator

    public init(categories: EvaluationCategories) {
        self.categories = categories
        metric = SemanticEvaluator(numClasses: max(1, categories.count))
    }

    public func reset() { metric.reset() }

    public func process(_ image: EvaluatedImage) throws {
        guard let label = image.groundTruth.semantic, let pred = image.prediction.semantic else {
            throw EvaluationError("image \(image.imageID): semantic evaluation needs a label map and a prediction")
        }
        try metric.add(.init(prediction: pred, label: label))
    }

    public func evaluate() throws -> [String: Double] {
        let m = metric.summarize()
        var out = ["semantic/mIoU": m.mIoU, "semantic/mAcc": m.mAcc, "semantic/aAcc": m.aAcc]
        for (c, iou) in m.iou.enumerated() where c < categories.count { if let iou { out["semantic/IoU-" + categories.names[c]] = iou } }
        return out
    }
}

/// COCO box or mask mAP (pycocotools' COCOeval) of the predicted instances: `bbox/AP`, ...,
/// `bbox/ARl` (or `segm/...`) and `AP-<class>` for the classes with ground truth. A
/// detection's area is its box's w·h (bbox) or its mask's area (segm), as pycocotools'
/// `loadRes` sets it.
public final class COCOEvaluator: DatasetEvaluator {
    let categories: EvaluationCategories
    let iouType: InstanceEvaluator.IoUType
    var metric: InstanceEvaluator

    public init(iouType: InstanceEvaluator.IoUType, categories: EvaluationCategories) {
        self.iouType = iouType
        self.categories = categories
        metric = InstanceEvaluator(iouType: iouType, categoryIDs: Array(0..<categories.count))
    }

    public func reset() { metric = InstanceEvaluator(iouType: iouType, categoryIDs: Array(0..<categories.count)) }

    public func process(_ image: EvaluatedImage) throws {
        guard let gt = image.groundTruth.instances, let pred = image.prediction.instances else {
            throw EvaluationError("image \(image.imageID): \(iouType) evaluation needs ground-truth and predicted instances")
        }
        let detections = try pred.map { d -> InstanceObject in
            var d = d
            switch iouType {
            case .bbox: d.area = d.box[2] * d.box[3]
            case .segm:
                guard let mask = d.mask else { throw EvaluationError("image \(image.imageID): a predicted instance has no mask") }
                d.area = Double(mask.area)
            }
            return d
        }
        metric.add(imageID: image.imageID, groundTruth: gt, detections: detections)
    }

    public func evaluate() throws -> [String: Double] {
        let m = metric.summarize(), kind = iouType.rawValue
        var out = Dictionary(uniqueKeysWithValues: zip(InstanceMetrics.names.map { "\(kind)/\($0)" }, m.stats))
        for (c, ap) in m.perCategory where ap >= 0 && c < categories.count { out["\(kind)/AP-" + categories.names[c]] = ap }
        return out
    }
}

extension PanopticMap {
    /// Per pixel the class of its segment; void and crowd pixels `ignore` (panopticapi's
    /// conversion to semantic segmentation).
    public func semanticLabels(ignore: Int32 = 255) -> [Int32] {
        var classOf: [UInt32: Int32] = [:]
        for s in segments where !s.isCrowd { classOf[s.id] = Int32(s.categoryID) }
        return ids.map { classOf[$0] ?? ignore }
    }

    /// The thing segments as COCO instance annotations (area = the segment's area), as
    /// panopticapi's conversion to COCO instances makes them.
    public func thingInstances(isThing: [Bool]) -> [InstanceObject] {
        segments.compactMap { s in
            guard s.categoryID >= 0, s.categoryID < isThing.count, isThing[s.categoryID] else { return nil }
            let mask = ids.map { $0 == s.id ? UInt8(1) : 0 }
            let rle = RLE(rowMajor: mask, height: height, width: width)
            return InstanceObject(categoryID: s.categoryID, area: s.area.map(Double.init) ?? Double(rle.area), box: rle.boundingBox,
                                  mask: rle, isCrowd: s.isCrowd)
        }
    }
}
