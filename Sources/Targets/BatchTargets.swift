/// The targets of a batch from one dataset: per image its `ImageTargets` (masks at the
/// image's resolution or boxes in mask-map pixels) or its image-level labels.
public struct BatchTargets {
    public var supervision: Supervision
    /// Per image (masks or boxes supervision).
    public var images: [ImageTargets]
    /// Per image (image-labels supervision): the classes present.
    public var imageLabels: [[Int]]
    /// The dataset's index in the unified label space (its classes' columns there).
    public var dataset: Int
    /// Per image, the task a task-conditioned model is told (OneFormer); empty otherwise.
    public var tasks: [SegmentationTask] = []

    public init(supervision: Supervision, images: [ImageTargets] = [], imageLabels: [[Int]] = [], dataset: Int = 0) {
        self.supervision = supervision
        self.images = images
        self.imageLabels = imageLabels
        self.dataset = dataset
    }

    /// Target masks or boxes in the batch (Mask2Former's `num_masks`), at least 1.
    public var targetCount: Float { Float(max(1, images.reduce(0) { $0 + $1.classes.count })) }
}
