import Autograd
import Datasets
import Evaluation
import Foundation

/// The classes a prediction may take in `evaluate`.
public enum EvaluationLabelSpace: String, CaseIterable, Sendable {
    /// The evaluated dataset's own classes (and no-object): the classifier restricted to them.
    case dataset
    /// Every training dataset's classes: the unified classifier as trained. A class of another
    /// dataset with exactly the same name counts as the dataset's own; a query or pixel predicted
    /// as any other foreign class, a synonym included, counts as no prediction
    /// (dropped detections and segments, an uncounted pixel), so the metrics also show how
    /// often the model answers in a foreign vocabulary.
    case union

    /// For each class of the unified space, the evaluated dataset's class it counts as: its own
    /// (at `offset`), or another dataset's of exactly the same name (same text embedding, so
    /// the same logit), else -1 (foreign).
    public static func unionClassMap(unifiedNames: [String], offset: Int, names: [String]) -> [Int] {
        let own = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        return unifiedNames.enumerated().map { j, name in j >= offset && j < offset + names.count ? j - offset : own[name] ?? -1 }
    }
}

/// Evaluation on each dataset's validation split: the model's final prediction set, Mask2Former's
/// post-processing, and the metrics of the dataset's task — for panoptic data PQ, mIoU and the
/// things' mask mAP (as Mask2Former reports COCO panoptic), mIoU for semantic data, box mAP for
/// box-only data, box and mask mAP for instance data. Image-label datasets have no pixel or box
/// annotations to score and are skipped.
extension TrainingRun {
    /// Metrics by dataset, then by evaluation (`panoptic`, `semantic`, `bbox`, `segm`), with the
    /// key names of the `score` commands. With `dump`, each dataset's predictions and ground
    /// truth are also written there in the standard formats (see `PredictionDump`).
    public func evaluate(maxImages: Int = 0, labelSpace: EvaluationLabelSpace = .dataset, dump: String? = nil,
                         log: (String) -> Void = { print($0) }) throws -> [String: [String: [String: Double]]] {
        var report: [String: [String: [String: Double]]] = [:]
        let unifiedIsThing = sources.flatMap(\.classes.isThing), unifiedNames = sources.flatMap(\.classes.names)
        for (d, spec) in config.data.datasets.enumerated() {
            let folder = (config.data.root as NSString).appendingPathComponent(spec.path)
            let source: DatasetSource
            do { source = try DatasetSource(folder: folder, split: spec.valSplit) } catch {
                throw TrainingError(message: "dataset \(spec.name): no validation split '\(spec.valSplit)' (\(error))")
            }
            if source.task == .imageLabels { continue }
            let k = source.classes.count, u = unified.shape[0], offset = offsets[d]
            let unionToLocal = EvaluationLabelSpace.unionClassMap(unifiedNames: unifiedNames, offset: offset, names: source.classes.names)
            var panoptic = PanopticEvaluator(categories: (0..<k).map { ($0, source.classes.isThing[$0]) })
            var semantic = SemanticEvaluator(numClasses: k)
            var boxes = InstanceEvaluator(iouType: .bbox, categoryIDs: Array(0..<k))
            var masks = InstanceEvaluator(iouType: .segm, categoryIDs: Array(0..<k))
            let count = maxImages > 0 ? min(maxImages, source.count) : source.count
            var dumped = try dump.map { try PredictionDump(root: $0, dataset: spec.name, task: source.task, classes: source.classes) }
            for i in 0..<count {
                let sample = try source.decoded(i)
                let (h, w) = (sample.image.height, sample.image.width)
                var pixels = [Float](repeating: 0, count: 3 * h * w)
                for p in 0..<(h * w) { for c in 0..<3 { pixels[c * h * w + p] = Float(sample.image.pixels[p * 3 + c]) } }
                let last = withoutGrad { model(Tensor(shape: [1, 3, h, w], data: pixels), classEmbeddings: unified) }.last!
                // Classes as the post-processing numbers them, and their dataset class (-1: foreign).
                let logits: Tensor, isThing: [Bool], local: (Int) -> Int
                switch labelSpace {
                case .dataset:
                    logits = withoutGrad {
                        Tensor.concat([last.logits.slice(axis: 2, offset..<(offset + k)), last.logits.slice(axis: 2, u..<(u + 1))], axis: 2)
                            .reshape([-1, k + 1])
                    }
                    (isThing, local) = (source.classes.isThing, { $0 })
                case .union:
                    logits = withoutGrad { last.logits.reshape([-1, u + 1]) }
                    (isThing, local) = (unifiedIsThing, { unionToLocal[$0] })
                }
                let maskLogits = withoutGrad { last.masks.resizeBilinear(to: (h, w)).reshape([-1, h, w]) }
                switch source.task {
                case .panoptic:
                    var (ids, segments) = PostProcessing.panoptic(logits: logits, masks: maskLogits, isThing: isThing,
                                                                   objectMaskThreshold: config.test.objectMaskThreshold,
                                                                   overlapThreshold: config.test.overlapThreshold)
                    if labelSpace == .union {
                        // Foreign segments become void; stuff segments that now share a class merge,
                        // as the post-processing merges them.
                        var newID: [UInt32: UInt32] = [:], stuffID: [Int: UInt32] = [:], kept: [PanopticSegment] = []
                        for s in segments {
                            let c = local(s.categoryID)
                            if c < 0 { newID[s.id] = 0; continue }
                            if !source.classes.isThing[c], let first = stuffID[c] { newID[s.id] = first; continue }
                            if !source.classes.isThing[c] { stuffID[c] = s.id }
                            kept.append(PanopticSegment(id: s.id, categoryID: c))
                        }
                        if !newID.isEmpty { for p in ids.indices { if let n = newID[ids[p]] { ids[p] = n } } }
                        segments = kept
                    }
                    let gt = PanopticMap(width: w, height: h, ids: sample.panoptic ?? [], segments: sample.segments.map {
                        PanopticSegment(id: UInt32(bitPattern: $0.id), categoryID: Int($0.classID), isCrowd: $0.isCrowd, area: Int($0.area))
                    })
                    let prediction = PanopticMap(width: w, height: h, ids: ids, segments: segments)
                    try panoptic.add(.init(imageID: i, groundTruth: gt, prediction: prediction))
                    try dumped?.addPanoptic(imageID: i, image: sample.image, groundTruth: gt, prediction: prediction)
                    // The same predictions read as semantic segmentation and as thing instances.
                    try semantic.add(.init(prediction: PostProcessing.semantic(logits: logits, masks: maskLogits).map { Int32(local(Int($0))) },
                                           label: Self.semanticLabel(of: gt, ignore: 255)))
                    let things = PostProcessing.instances(logits: logits, masks: maskLogits, keepClass: { local($0) >= 0 && source.classes.isThing[local($0)] })
                    masks.add(imageID: i, groundTruth: Self.thingInstances(of: gt, isThing: source.classes.isThing), detections: things.map { det in
                        let rle = RLE(rowMajor: det.mask, height: h, width: w)
                        return InstanceObject(categoryID: local(det.classID), area: Double(rle.area), box: det.box, mask: rle, score: det.score)
                    })
                case .semantic:
                    // Ignored pixels as 255, the evaluator's ignore index, whatever the shard uses.
                    let ignore = sample.ignoreLabel
                    let label = (sample.semantic ?? []).map { $0 == ignore ? 255 : Int32($0) }
                    let prediction = PostProcessing.semantic(logits: logits, masks: maskLogits).map { Int32(local(Int($0))) }
                    try semantic.add(.init(prediction: prediction, label: label))
                    try dumped?.addSemantic(imageID: i, image: sample.image, label: label, prediction: prediction)
                case .detection, .instance:
                    let detections = PostProcessing.instances(logits: logits, masks: maskLogits).compactMap { d in
                        local(d.classID) < 0 ? nil : (classID: local(d.classID), score: d.score, mask: d.mask, box: d.box)
                    }
                    let gtBoxes = sample.segments.enumerated().map { j, s in
                        InstanceObject(categoryID: Int(s.classID), area: source.task == .instance ? Double(s.area) : Double(s.bbox[2] * s.bbox[3]),
                                       box: s.bbox.map(Double.init),
                                       mask: sample.instanceMasks.map { RLE(rowMajor: $0[j], height: h, width: w) }, isCrowd: s.isCrowd)
                    }
                    let dtBoxes = detections.map { InstanceObject(categoryID: $0.classID, area: $0.box[2] * $0.box[3], box: $0.box, score: $0.score) }
                    boxes.add(imageID: i, groundTruth: gtBoxes, detections: dtBoxes)
                    if source.task == .instance {
                        let dtMasks = detections.map { det -> InstanceObject in
                            let rle = RLE(rowMajor: det.mask, height: h, width: w)
                            return InstanceObject(categoryID: det.classID, area: Double(rle.area), box: det.box, mask: rle, score: det.score)
                        }
                        masks.add(imageID: i, groundTruth: gtBoxes, detections: dtMasks)
                    }
                    try dumped?.addInstances(imageID: i, image: sample.image, groundTruth: gtBoxes, detections: detections)
                case .imageLabels:
                    break
                }
            }
            try dumped?.finish()
            // Summary numbers, then per class as Detectron2 names them (`AP-<class>`, `IoU-<class>`),
            // for the classes that occur.
            let names = source.classes.names
            func instances(_ m: InstanceMetrics) -> [String: Double] {
                var out = Dictionary(uniqueKeysWithValues: zip(InstanceMetrics.names, m.stats))
                for (c, ap) in m.perCategory where ap >= 0 && c < names.count { out["AP-" + names[c]] = ap }
                return out
            }
            func semanticEntry(_ m: SemanticMetrics) -> [String: Double] {
                var out = ["mIoU": m.mIoU, "mAcc": m.mAcc, "aAcc": m.aAcc]
                for (c, iou) in m.iou.enumerated() where c < names.count { if let iou { out["IoU-" + names[c]] = iou } }
                return out
            }
            var entry: [String: [String: Double]] = [:]
            switch source.task {
            case .panoptic:
                let m = panoptic.summarize()
                entry["panoptic"] = ["PQ": m.all.pq, "SQ": m.all.sq, "RQ": m.all.rq, "PQ_th": m.things.pq, "PQ_st": m.stuff.pq]
                entry["semantic"] = semanticEntry(semantic.summarize())
                entry["segm"] = instances(masks.summarize())
            case .semantic:
                entry["semantic"] = semanticEntry(semantic.summarize())
            case .detection, .instance:
                entry["bbox"] = instances(boxes.summarize())
                if source.task == .instance { entry["segm"] = instances(masks.summarize()) }
            case .imageLabels:
                break
            }
            report[spec.name] = entry
            for (kind, values) in entry.sorted(by: { $0.key < $1.key }) {
                let shown = values.keys.filter { !$0.contains("-") }.sorted().prefix(6)
                    .map { String(format: "%@ %.2f", $0, 100 * values[$0]!) }.joined(separator: "  ")
                let perClass = values.keys.filter { $0.contains("-") }.sorted()
                    .map { String(format: "%@ %.1f", String($0.drop { $0 != "-" }.dropFirst()), 100 * values[$0]!) }.joined(separator: ", ")
                log("\(spec.name) \(kind) (\(count) images\(labelSpace == .union ? ", union label space" : "")): \(shown)")
                if !perClass.isEmpty { log("    per class: \(perClass)") }
            }
        }
        return report
    }

    /// Per pixel the class of its panoptic segment; void and crowd pixels `ignore`.
    static func semanticLabel(of map: PanopticMap, ignore: Int32) -> [Int32] {
        var classOf: [UInt32: Int32] = [:]
        for s in map.segments where !s.isCrowd { classOf[s.id] = Int32(s.categoryID) }
        return map.ids.map { classOf[$0] ?? ignore }
    }

    /// The thing segments of a panoptic map as COCO instance annotations (area = segment area),
    /// as panopticapi's conversion to COCO instances makes them.
    static func thingInstances(of map: PanopticMap, isThing: [Bool]) -> [InstanceObject] {
        map.segments.compactMap { s in
            guard s.categoryID >= 0, s.categoryID < isThing.count, isThing[s.categoryID] else { return nil }
            let mask = map.ids.map { $0 == s.id ? UInt8(1) : 0 }
            let rle = RLE(rowMajor: mask, height: map.height, width: map.width)
            return InstanceObject(categoryID: s.categoryID, area: s.area.map(Double.init) ?? Double(rle.area), box: rle.boundingBox,
                                  mask: rle, isCrowd: s.isCrowd)
        }
    }
}
