import Autograd
import COCOMask
import Communication
import Datasets
import Evaluation
import Foundation
import Models
import Targets

/// The classes a prediction may take in evaluation.
public enum EvaluationLabelSpace: String, CaseIterable, Sendable {
    /// The evaluated dataset's own classes (and no-object): the classifier restricted to them.
    case dataset
    /// Every training dataset's classes: the unified classifier as trained, one softmax over
    /// all of them. Each unified class is reported as the evaluated dataset's class it maps to
    /// (`UnifiedLabelSpace.unionMap`: its own, one of the same name, or with
    /// `test.union_similarity` <= 1 a synonym by text similarity), the probabilities of the
    /// classes reported alike summed; a query or pixel whose most probable answer is a foreign
    /// class counts as no prediction (dropped detections and segments, an uncounted pixel), so
    /// the metrics also show how often the model answers in a foreign vocabulary.
    case union
}

/// Mask2Former's inference settings (Detectron2's `TEST` keys).
public struct InferenceOptions: Sendable {
    public var labelSpace = EvaluationLabelSpace.dataset
    public var objectMaskThreshold: Float = 0.8
    public var overlapThreshold: Float = 0.8
    /// Union label space: the text similarity from which another dataset's class is reported
    /// as the evaluated dataset's most similar class (1: same names only; `test.union_similarity`).
    public var unionSimilarity: Float = 1
    /// Detections scoring above it are drawn in overlay pictures (`test.overlay_threshold`).
    public var overlayThreshold: Float = 0.5
    /// Union label space: pairs of unified columns that stand for one class (`LearnedMerges`).
    public var unionMerges: [(Int, Int)] = []
    /// Also score every split with all classes merged into one (entity segmentation).
    public var classAgnostic = false
    /// Score a query by its whole foreground probability (1 − P(background)), named by its most
    /// probable class: how a model trained with `loss.class_agnostic` is read.
    public var objectness = false
    /// UniDetector's calibration (`test.calibration`): the power, and the images of a split
    /// whose mean predicted probabilities are its classes' priors.
    public var calibration = CalibrationConfig()
    /// The evaluated columns' priors (set per split by `ModelEvaluation` when calibrating).
    public var classPrior: [Float]? = nil
    public init() {}

    /// The settings of a config: its `test` section, and objectness for a class-agnostic model.
    public init(_ config: TrainConfig, labelSpace: EvaluationLabelSpace = .dataset) {
        let test = config.test
        self.labelSpace = labelSpace
        objectMaskThreshold = test.objectMaskThreshold
        overlapThreshold = test.overlapThreshold
        unionSimilarity = test.unionSimilarity
        overlayThreshold = test.overlayThreshold
        calibration = test.calibration
        objectness = config.loss.classAgnostic
    }
}

/// Runs `model` on the first `count` images of `split` and hands each image's ground truth and
/// post-processed prediction to `evaluator` (Detectron2's `inference_on_dataset`). With several
/// processes each predicts a contiguous share of every block of images and the main process
/// gathers the predictions and alone feeds `evaluator`, in image order: the same metrics as one
/// process (the others' `evaluator` sees nothing).
public func inferenceOnDataset(model: M2FModel, labelSpace: UnifiedLabelSpace, split: TrainingData.ValidationSplit, count: Int,
                               options: InferenceOptions, evaluator: DatasetEvaluator,
                               communicator: Communicator = SingleProcess()) throws {
    let source = split.source, isThing = source.classes.isThing
    evaluator.reset()
    guard source.task != .imageLabels else { return }
    let processes = communicator.size, rank = communicator.rank
    let block = processes == 1 ? 1 : 4 * processes
    for start in stride(from: 0, to: count, by: block) {
        let n = min(block, count - start)
        let mine = (start + n * rank / processes)..<(start + n * (rank + 1) / processes)
        if processes == 1 {
            for i in mine {
                let sample = try source.decoded(i)
                let prediction = predict(model: model, labelSpace: labelSpace, split: split, sample: sample, options: options)
                try evaluator.process(EvaluatedImage(imageID: i, image: sample.image,
                                                     groundTruth: annotations(of: sample, task: source.task, isThing: isThing), prediction: prediction))
            }
            continue
        }
        let records = try mine.map { i in
            PredictionRecord(predict(model: model, labelSpace: labelSpace, split: split, sample: try source.decoded(i), options: options))
        }
        guard let gathered = communicator.gatherToMain(try JSONEncoder().encode(records)) else { continue }
        let all = try gathered.flatMap { try JSONDecoder().decode([PredictionRecord].self, from: $0) }
        for (k, record) in all.enumerated() {
            let sample = try source.decoded(start + k)
            try evaluator.process(EvaluatedImage(imageID: start + k, image: sample.image,
                                                 groundTruth: annotations(of: sample, task: source.task, isThing: isThing),
                                                 prediction: record.annotations(height: sample.image.height, width: sample.image.width)))
        }
    }
}

/// The model's post-processed prediction for one validation sample, in the dataset's classes
/// (`options.labelSpace == .union`: predicted over every class, then mapped back).
/// A task-conditioned model (OneFormer) is told each metric's task: on panoptic data the
/// panoptic map comes from the panoptic task, the semantic labels from the semantic task and
/// the instances from the instance task (three forward passes).
func predict(model: M2FModel, labelSpace: UnifiedLabelSpace, split: TrainingData.ValidationSplit, sample: DecodedSample,
             options: InferenceOptions) -> ImageAnnotations {
    func run(_ told: SegmentationTask) -> ImageAnnotations {
        let e = evaluatedLogits(model: model, labelSpace: labelSpace, split: split, sample: sample, options: options, task: told)
        return postProcessed(logits: e.logits, masks: e.masks, task: split.source.task, columnIsThing: e.isThing, reported: e.local,
                             classIsThing: split.source.classes.isThing, options: options)
    }
    guard model.config.taskConditioning, split.source.task == .panoptic else { return run(SegmentationTask(split.source.task)) }
    var out = run(.panoptic)
    out.semantic = run(.semantic).semantic
    out.instances = run(.instance).instances
    return out
}

/// UniDetector's class priors: the mean predicted probability of each evaluated column over
/// every query of the first `count` images of `split` (the columns of `evaluatedLogits`).
func classPrior(model: M2FModel, labelSpace: UnifiedLabelSpace, split: TrainingData.ValidationSplit, count: Int,
                options: InferenceOptions) throws -> [Float] {
    var sums: [Double] = [], rows = 0
    for i in 0..<count {
        let logits = evaluatedLogits(model: model, labelSpace: labelSpace, split: split, sample: try split.source.decoded(i), options: options,
                                     task: SegmentationTask(split.source.task)).logits
        if sums.isEmpty { sums = [Double](repeating: 0, count: logits.shape[1] - 1) }
        rows += addClassProbabilities(logits, to: &sums)
    }
    return sums.map { Float($0 / Double(max(rows, 1))) }
}

/// Adds each class's softmax probability over the queries of `logits` `[Q, C + 1]` (the last
/// column no-object) to `sums` (C entries); returns Q. The sums behind UniDetector's priors.
func addClassProbabilities(_ logits: Tensor, to sums: inout [Double]) -> Int {
    let (q, c1) = (logits.shape[0], logits.shape[1])
    precondition(sums.count == c1 - 1, "class probabilities: \(sums.count) sums for \(c1 - 1) classes")
    let p = withoutGrad { logits.softmax(axis: -1) }.data
    for r in 0..<q { for c in 0..<(c1 - 1) { sums[c] += Double(p[r * c1 + c]) } }
    return q
}

/// One sample's class logits `[Q, C + 1]` in the columns the post-processing numbers (the
/// dataset's classes, or with the union space its classes and then the foreign ones), each
/// column's thing flag and the dataset class it is reported as (-1: foreign), and its mask
/// logits at the image's size `[Q, H, W]`.
func evaluatedLogits(model: M2FModel, labelSpace: UnifiedLabelSpace, split: TrainingData.ValidationSplit, sample: DecodedSample,
                     options: InferenceOptions, task told: SegmentationTask) -> (logits: Tensor, masks: Tensor, isThing: [Bool], local: [Int]) {
    let source = split.source, d = split.dataset, classes = source.classes
    let k = classes.count, u = labelSpace.count
    // Classes as the post-processing numbers them, and the dataset class each counts as (-1: foreign).
    let isThing: [Bool], local: [Int]
    let (h, w) = (sample.image.height, sample.image.width)
    var pixels = [Float](repeating: 0, count: 3 * h * w)
    pixels.withUnsafeMutableBufferPointer { sample.image.writePlanarRGB(into: $0.baseAddress!) }
    let last = withoutGrad {
        model.finalPrediction(Tensor(shape: [1, 3, h, w], data: pixels), classEmbeddings: labelSpace.embeddings, tasks: [told.rawValue])
    }
    let logits: Tensor
    switch options.labelSpace {
    case .dataset:
        (isThing, local) = (classes.isThing, Array(0..<k))
        logits = withoutGrad { labelSpace.restrict(last.logits, to: d).reshape([-1, k + 1]) }
    case .union:
        // The K classes (each unified class reported as one of them summed in), then every
        // foreign class in its own column, then the background.
        let map = labelSpace.unionMap(to: d, minSimilarity: options.unionSimilarity, merges: options.unionMerges)
        let foreign = map.indices.filter { map[$0] < 0 }
        (isThing, local) = (classes.isThing + foreign.map { labelSpace.isThing[$0] }, Array(0..<k) + foreign.map { _ in -1 })
        logits = reportedLogits(last.logits.reshape([-1, u + 1]), map: map, classes: k)
    }
    let masks = withoutGrad { last.masks.resizeBilinear(to: (h, w)).reshape([-1, h, w]) }
    return (logits, masks, isThing, local)
}

/// Class logits `[Q, C + 1]` as the post-processing scores them: with a class prior and a
/// calibration power, each class's probability divided by its prior^power and the query's
/// foreground probability shared out again in those proportions (UniDetector); with
/// `objectness`, the whole foreground probability given to the most probable class. Returned
/// as log-probabilities (the post-processing's softmax gives them back).
func scoredLogits(_ logits: Tensor, options: InferenceOptions) -> Tensor {
    let calibrate = options.calibration.power > 0 ? options.classPrior : nil
    guard options.objectness || calibrate != nil else { return logits }
    let (q, c1) = (logits.shape[0], logits.shape[1]), c = c1 - 1
    var p = withoutGrad { logits.softmax(axis: -1) }.data
    let divisors = calibrate.map { prior in
        precondition(prior.count == c, "scoredLogits: \(prior.count) priors for \(c) classes")
        return prior.map { Foundation.pow(Double(max($0, 1e-12)), Double(options.calibration.power)) }
    }
    for r in 0..<q {
        let row = r * c1
        var foreground = 0.0
        for j in 0..<c { foreground += Double(p[row + j]) }
        if let divisors {
            var weights = (0..<c).map { Double(p[row + $0]) / divisors[$0] }
            let total = weights.reduce(0, +)
            if total > 0 { weights = weights.map { foreground * $0 / total } }
            for j in 0..<c { p[row + j] = Float(weights[j]) }
        }
        if options.objectness {
            var best = 0
            for j in 1..<max(c, 1) where p[row + j] > p[row + best] { best = j }
            for j in 0..<c { p[row + j] = j == best ? Float(foreground) : 0 }
        }
    }
    return Tensor(shape: [q, c1], data: p.map { Float(Foundation.log(Double(max($0, 1e-38)))) })
}

/// Mask2Former's inference for one image of `task`, from its class logits `[Q, C + 1]` (C
/// columns, the background last) and mask logits `[Q, H, W]`: panoptic data gives the
/// panoptic map, the semantic labels and the thing instances; semantic data the labels;
/// detection and instance data the instances. Column `c` is reported as class `reported[c]`
/// (-1: not at all: a dropped segment or detection, an uncounted pixel).
func postProcessed(logits given: Tensor, masks: Tensor, task: ShardTask, columnIsThing: [Bool], reported local: [Int],
                   classIsThing: [Bool], options: InferenceOptions) -> ImageAnnotations {
    let (h, w) = (masks.shape[1], masks.shape[2])
    let logits = scoredLogits(given, options: options)
    var prediction = ImageAnnotations()
    func instances(keep: @escaping (Int) -> Bool) -> [InstanceObject] {
        PostProcessing.instances(logits: logits, masks: masks, keepClass: { local[$0] >= 0 && keep(local[$0]) }).map { det in
            InstanceObject(categoryID: local[det.classID], area: 0, box: det.box, mask: RLE(rowMajor: det.mask, height: h, width: w), score: det.score)
        }
    }
    switch task {
    case .panoptic:
        let (ids, segments) = PostProcessing.panoptic(logits: logits, masks: masks, isThing: columnIsThing,
                                                      objectMaskThreshold: options.objectMaskThreshold,
                                                      overlapThreshold: options.overlapThreshold)
        prediction.panoptic = datasetPanoptic(ids: ids, segments: segments, width: w, height: h, local: local, isThing: classIsThing)
        prediction.semantic = PostProcessing.semantic(logits: logits, masks: masks).map { Int32(local[Int($0)]) }
        prediction.instances = instances(keep: { classIsThing[$0] })
    case .semantic:
        prediction.semantic = PostProcessing.semantic(logits: logits, masks: masks).map { Int32(local[Int($0)]) }
    case .detection, .instance:
        prediction.instances = instances(keep: { _ in true })
    case .imageLabels:
        break
    }
    return prediction
}

/// Union-space logits `[Q, U + 1]` as log-probabilities `[Q, K + F + 1]` of what they are
/// reported as: the softmax over every unified class, summed per class of the evaluated dataset
/// (`map`: unified class -> its class, -1 foreign), then the F foreign classes in their order,
/// then the background. The post-processing's softmax of these gives back those probabilities.
func reportedLogits(_ logits: Tensor, map: [Int], classes k: Int) -> Tensor {
    let q = logits.shape[0], u = logits.shape[1] - 1
    var column = map, f = 0
    for j in 0..<u where map[j] < 0 { column[j] = k + f; f += 1 }
    let width = k + f + 1
    let probabilities = withoutGrad { logits.softmax(axis: -1) }.data
    var out = [Float](repeating: 0, count: q * width)
    for i in 0..<q {
        var summed = [Double](repeating: 0, count: width)
        for j in 0..<u { summed[column[j]] += Double(probabilities[i * (u + 1) + j]) }
        summed[width - 1] = Double(probabilities[i * (u + 1) + u])
        for c in 0..<width { out[i * width + c] = Float(Foundation.log(max(summed[c], 1e-38))) }
    }
    return Tensor(shape: [q, width], data: out)
}

/// A prediction as the processes of a distributed evaluation send it to the main one.
struct PredictionRecord: Codable {
    var panopticIDs: [UInt32]?
    /// (id, category) per segment.
    var segments: [[Int]]?
    var semantic: [Int32]?
    /// (category, score, x, y, w, h) per instance, with its mask's run-length counts.
    var instances: [[Double]]?
    var masks: [[UInt32]]?

    init(_ a: ImageAnnotations) {
        panopticIDs = a.panoptic?.ids
        segments = a.panoptic?.segments.map { [Int($0.id), $0.categoryID] }
        semantic = a.semantic
        instances = a.instances?.map { [Double($0.categoryID), $0.score] + $0.box }
        masks = a.instances?.map { $0.mask?.counts ?? [] }
    }

    func annotations(height: Int, width: Int) -> ImageAnnotations {
        var a = ImageAnnotations(semantic: semantic)
        if let panopticIDs, let segments {
            a.panoptic = PanopticMap(width: width, height: height, ids: panopticIDs,
                                     segments: segments.map { PanopticSegment(id: UInt32($0[0]), categoryID: $0[1]) })
        }
        if let instances, let masks {
            a.instances = zip(instances, masks).map { v, counts in
                InstanceObject(categoryID: Int(v[0]), area: 0, box: Array(v[2...]),
                               mask: RLE(height: height, width: width, counts: counts), score: v[1])
            }
        }
        return a
    }
}

/// A predicted panoptic map in the dataset's classes: segments of foreign classes become void,
/// and stuff segments that now share a class merge, as the post-processing merges them.
func datasetPanoptic(ids: [UInt32], segments: [(id: UInt32, classID: Int)], width: Int, height: Int,
                     local: [Int], isThing: [Bool]) -> PanopticMap {
    var ids = ids
    var newID: [UInt32: UInt32] = [:], stuffID: [Int: UInt32] = [:], kept: [PanopticSegment] = []
    for s in segments {
        let c = local[s.classID]
        if c < 0 { newID[s.id] = 0; continue }
        if !isThing[c], let first = stuffID[c] { newID[s.id] = first; continue }
        if !isThing[c] { stuffID[c] = s.id }
        kept.append(PanopticSegment(id: s.id, categoryID: c))
    }
    if !newID.isEmpty { for p in ids.indices { if let n = newID[ids[p]] { ids[p] = n } } }
    return PanopticMap(width: width, height: height, ids: ids, segments: kept)
}

/// A validation sample's ground truth as the evaluators of its task read it: panoptic data as
/// a panoptic map, its semantic labels and its thing instances (the three ways Mask2Former
/// scores COCO panoptic); semantic data as labels (ignore = 255, whatever the shard uses);
/// detection and instance data as COCO objects (area: the mask's for instance data, the box's
/// for box-only data).
func annotations(of sample: DecodedSample, task: ShardTask, isThing: [Bool]) -> ImageAnnotations {
    let (h, w) = (sample.image.height, sample.image.width)
    switch task {
    case .panoptic:
        let map = PanopticMap(width: w, height: h, ids: sample.panoptic ?? [], segments: sample.segments.map {
            PanopticSegment(id: UInt32(bitPattern: $0.id), categoryID: Int($0.classID), isCrowd: $0.isCrowd, area: Int($0.area))
        })
        return ImageAnnotations(panoptic: map, semantic: map.semanticLabels(ignore: 255), instances: map.thingInstances(isThing: isThing))
    case .semantic:
        let ignore = sample.ignoreLabel
        return ImageAnnotations(semantic: (sample.semantic ?? []).map { $0 == ignore ? 255 : Int32($0) })
    case .detection, .instance:
        return ImageAnnotations(instances: sample.segments.enumerated().map { j, s in
            InstanceObject(categoryID: Int(s.classID), area: task == .instance ? Double(s.area) : Double(s.bbox[2] * s.bbox[3]),
                           box: s.bbox.map(Double.init),
                           mask: sample.instanceMasks.map { RLE(rowMajor: $0[j], height: h, width: w) }, isCrowd: s.isCrowd)
        })
    case .imageLabels:
        return ImageAnnotations()
    }
}
