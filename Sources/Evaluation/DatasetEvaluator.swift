import Images

/// The one evaluator interface (Detectron2's `DatasetEvaluator`): `reset`, `process` each
/// validation image's ground truth and prediction, `evaluate` to flat metrics keyed
/// `kind/name` (`panoptic/PQ`, `semantic/mIoU`, `bbox/AP-ball`, ...), values as fractions,
/// −1 where undefined. No associated types: a dataset's evaluators are a plain list.
public protocol DatasetEvaluator: AnyObject {
    func reset()
    func process(_ image: EvaluatedImage) throws
    func evaluate() throws -> [String: Double]
}

/// One validation image as the evaluators see it: the image and, in the metrics' own types,
/// its ground truth and the model's post-processed prediction.
public struct EvaluatedImage {
    public var imageID: Int
    /// RGB, for evaluators that draw (the dump's overlays).
    public var image: Image8
    public var groundTruth: ImageAnnotations
    public var prediction: ImageAnnotations

    public init(imageID: Int, image: Image8, groundTruth: ImageAnnotations, prediction: ImageAnnotations) {
        self.imageID = imageID
        self.image = image
        self.groundTruth = groundTruth
        self.prediction = prediction
    }
}

/// What a task annotates or predicts of one image; a field is nil where the task has none.
public struct ImageAnnotations {
    public var panoptic: PanopticMap?
    /// Per pixel a class; 255 = ignore (ground truth only).
    public var semantic: [Int32]?
    /// Objects: `[x, y, w, h]` boxes, masks where known, scores (predictions), areas (ground
    /// truth: the annotation's; predictions: set by the evaluator from the box or the mask).
    public var instances: [InstanceObject]?

    public init(panoptic: PanopticMap? = nil, semantic: [Int32]? = nil, instances: [InstanceObject]? = nil) {
        self.panoptic = panoptic
        self.semantic = semantic
        self.instances = instances
    }
}

/// A dataset's classes as the evaluators name them (per-class keys, dumped category lists).
public struct EvaluationCategories: Sendable {
    public var names: [String]
    public var isThing: [Bool]
    /// The ids the classes had in the source annotations.
    public var sourceIDs: [Int]
    public init(names: [String], isThing: [Bool], sourceIDs: [Int]) {
        self.names = names
        self.isThing = isThing
        self.sourceIDs = sourceIDs
    }
    public var count: Int { names.count }
}

public struct EvaluationError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Several evaluators as one: every image goes to each; their metrics are joined, and two
/// evaluators giving the same key is an error rather than one silently hiding the other.
public final class DatasetEvaluators: DatasetEvaluator {
    public let evaluators: [DatasetEvaluator]
    public init(_ evaluators: [DatasetEvaluator]) { self.evaluators = evaluators }

    public func reset() { evaluators.forEach { $0.reset() } }

    public func process(_ image: EvaluatedImage) throws {
        for e in evaluators { try e.process(image) }
    }

    public func evaluate() throws -> [String: Double] {
        var out: [String: Double] = [:]
        for e in evaluators {
            for (key, value) in try e.evaluate() {
                guard out.updateValue(value, forKey: key) == nil else {
                    throw EvaluationError("two evaluators report the metric '\(key)' (\(type(of: e)) and an earlier one)")
                }
            }
        }
        return out
    }
}
