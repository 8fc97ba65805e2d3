/// Entity segmentation's class-agnostic measure: every segment and every object is an
/// "entity" of one class, so the metrics show how well the model separates things (and stuff
/// regions) regardless of what it calls them. Wraps a metric evaluator built for the one
/// category `ClassAgnosticEvaluator.entity`: ground truth and prediction reach it with every
/// category id 0 (semantic labels dropped: one class has no mIoU), and its metrics come back
/// under `<kind>_agnostic/...`.
public final class ClassAgnosticEvaluator: DatasetEvaluator {
    /// The single category: a thing, so that every segment is matched as an instance.
    public static let entity = EvaluationCategories(names: ["entity"], isThing: [true], sourceIDs: [1])

    let wrapped: DatasetEvaluator

    public init(_ wrapped: DatasetEvaluator) { self.wrapped = wrapped }

    public func reset() { wrapped.reset() }

    public func process(_ image: EvaluatedImage) throws {
        var agnostic = image
        agnostic.groundTruth = Self.agnostic(image.groundTruth)
        agnostic.prediction = Self.agnostic(image.prediction)
        try wrapped.process(agnostic)
    }

    public func evaluate() throws -> [String: Double] {
        var out: [String: Double] = [:]
        for (key, value) in try wrapped.evaluate() {
            guard let cut = key.firstIndex(of: "/") else { out[key] = value; continue }
            out[key[..<cut] + "_agnostic" + key[cut...]] = value
        }
        return out
    }

    /// Every category id 0.
    static func agnostic(_ a: ImageAnnotations) -> ImageAnnotations {
        var out = ImageAnnotations()
        if var p = a.panoptic {
            for i in p.segments.indices { p.segments[i].categoryID = 0 }
            out.panoptic = p
        }
        out.instances = a.instances.map { $0.map { var o = $0; o.categoryID = 0; return o } }
        return out
    }
}
