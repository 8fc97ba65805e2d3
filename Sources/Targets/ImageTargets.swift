import Autograd

/// The targets of one image for matching and losses.
public struct ImageTargets {
    /// Class of each target (indices into the image's dataset vocabulary).
    public var classes: [Int]
    /// Target masks `[T, H, W]` (values in [0, 1]) for mask-supervised data. Fixed at init: the
    /// matcher samples `maskCrops`, cut from them once (not once per prediction set).
    public let masks: Tensor?
    /// Each target mask cut to where it is not 0 (none without masks).
    public let maskCrops: [MaskCrop]
    /// Target boxes for box-only data, `(x0, y0, x1, y1)` in pixels of the predicted mask map
    /// (the image's pixels divided by the model's mask stride); a box covers the pixels whose index lies in `floor(x0)..<ceil(x1)` (and the
    /// same for y), clipped to the map.
    public var boxes: [(Float, Float, Float, Float)]?

    public init(classes: [Int], masks: Tensor? = nil, boxes: [(Float, Float, Float, Float)]? = nil) {
        self.classes = classes
        self.masks = masks
        self.maskCrops = masks.map { MaskCrop.of($0) } ?? []
        self.boxes = boxes
    }

    /// The targets without those of `dropped` classes (their masks and boxes too).
    public func removing(classes dropped: Set<Int>) -> ImageTargets {
        let kept = classes.indices.filter { !dropped.contains(classes[$0]) }
        guard kept.count < classes.count else { return self }
        return selecting(kept)
    }

    /// Targets `kept` (indices, in their order), with their masks and boxes.
    public func selecting(_ kept: [Int]) -> ImageTargets {
        var keptMasks: Tensor? = nil
        if let masks, masks.rank == 3 {
            let plane = masks.shape[1] * masks.shape[2], values = masks.data
            keptMasks = Tensor(shape: [kept.count, masks.shape[1], masks.shape[2]],
                               data: kept.flatMap { values[($0 * plane)..<(($0 + 1) * plane)] })
        }
        return ImageTargets(classes: kept.map { classes[$0] }, masks: keptMasks, boxes: boxes.map { b in kept.map { b[$0] } })
    }
}
