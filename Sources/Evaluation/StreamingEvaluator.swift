/// The one interface of every metric: reset, add one image's predictions and ground truth,
/// summarise. Evaluators keep only what their metric needs between images, so `train evaluate`
/// can score a validation set of any size as it predicts it.
public protocol StreamingEvaluator {
    associatedtype Sample
    associatedtype Metrics
    mutating func reset()
    mutating func add(_ sample: Sample) throws
    func summarize() -> Metrics
}

extension InstanceEvaluator: StreamingEvaluator {
    public struct Sample {
        public var imageID: Int
        public var groundTruth: [InstanceObject]
        public var detections: [InstanceObject]
        public init(imageID: Int, groundTruth: [InstanceObject], detections: [InstanceObject]) {
            self.imageID = imageID
            self.groundTruth = groundTruth
            self.detections = detections
        }
    }

    public mutating func add(_ sample: Sample) {
        add(imageID: sample.imageID, groundTruth: sample.groundTruth, detections: sample.detections)
    }
}
