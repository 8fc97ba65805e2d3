/// What the losses need of one augmented sample, by the dataset's task: masks and classes
/// (panoptic: one per non-crowd segment; semantic: one per class present), boxes and classes
/// (detection, instance), or the classes present (image labels).
public struct TrainingTargets: Equatable, Sendable {
    public var classes: [Int]
    /// Per target, a binary map of the sample's image size (row-major).
    public var masks: [[UInt8]]?
    /// Per target, (x0, y0, x1, y1) in pixels.
    public var boxes: [[Float]]?

    public init(classes: [Int], masks: [[UInt8]]? = nil, boxes: [[Float]]? = nil) {
        self.classes = classes
        self.masks = masks
        self.boxes = boxes
    }

    public static func make(_ s: DecodedSample, task: ShardTask) -> TrainingTargets {
        switch task {
        case .panoptic:
            let ids = s.panoptic ?? []
            let kept = s.segments.filter { !$0.isCrowd && $0.area > 0 }
            return TrainingTargets(classes: kept.map { Int($0.classID) },
                                   masks: kept.map { seg in ids.map { $0 == UInt32(bitPattern: seg.id) ? 1 : 0 } })
        case .semantic:
            let labels = s.semantic ?? []
            let present = Set(labels.filter { $0 != s.ignoreLabel }).sorted()
            return TrainingTargets(classes: present.map { Int($0) }, masks: present.map { c in labels.map { $0 == c ? 1 : 0 } })
        case .instance where s.instanceMasks != nil:
            let kept = s.segments.indices.filter { !s.segments[$0].isCrowd && s.instanceMasks![$0].contains(1) }
            return TrainingTargets(classes: kept.map { Int(s.segments[$0].classID) }, masks: kept.map { s.instanceMasks![$0] })
        case .detection, .instance:
            return TrainingTargets(classes: s.segments.map { Int($0.classID) },
                                   boxes: s.segments.map { [$0.bbox[0], $0.bbox[1], $0.bbox[0] + $0.bbox[2], $0.bbox[1] + $0.bbox[3]] })
        case .imageLabels:
            return TrainingTargets(classes: (s.labels ?? []).map { Int($0) })
        }
    }
}
