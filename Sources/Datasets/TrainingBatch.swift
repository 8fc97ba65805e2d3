import Autograd
import Core
import Images
import Samplers
import Targets
import COCOMask

/// One training batch as the training step takes it, collated on the loader's threads: the
/// images as one tensor and the targets of the dataset's supervision.
public struct TrainingBatch {
    public var iteration: Int
    /// The dataset the batch comes from (its index in the config, and in the unified label space).
    public var dataset: Int
    /// The samples' indices in the dataset's training split.
    public var indices: [Int]
    /// The slot of the first image in the whole batch of all processes (0 when alone): image i
    /// of this batch is image `firstSlot + i` of the global batch, which seeds its randomness.
    public var firstSlot: Int
    /// `[B, 3, S, S]`, values 0-255 (the model normalises).
    public var images: Tensor
    public var targets: BatchTargets
    /// The bad samples skipped for this batch (`data.on_bad_sample: skip`), each named.
    public var skipped: [String]
    /// Bad samples of its dataset skipped so far by this loader.
    public var badSoFar: Int
    /// The sampler's state after this batch was drawn: what a checkpoint saves to resume after
    /// it (nil for batches made outside the loader: benchmarks, parity checks).
    public var samplerState: MultiDatasetSampler.State?

    public init(iteration: Int, dataset: Int, indices: [Int], firstSlot: Int = 0, skipped: [String] = [], badSoFar: Int = 0,
                images: Tensor, targets: BatchTargets, samplerState: MultiDatasetSampler.State? = nil) {
        self.skipped = skipped
        self.badSoFar = badSoFar
        self.iteration = iteration
        self.dataset = dataset
        self.indices = indices
        self.firstSlot = firstSlot
        self.images = images
        self.targets = targets
        self.samplerState = samplerState
    }
}

extension Supervision {
    /// How a dataset of `task` is supervised.
    public init(_ task: ShardTask) {
        switch task {
        case .panoptic, .semantic, .instance: self = .masks
        case .detection: self = .boxes
        case .imageLabels: self = .imageLabels
        }
    }
}

extension ImageTargets {
    /// What the losses need of one augmented sample, by the dataset's task: one mask per
    /// non-crowd segment of positive area (panoptic), per class present (semantic) or per
    /// non-crowd, non-empty instance (instance), at the image's resolution; the boxes of every
    /// segment (detection) in pixels of the predicted mask map, i.e. divided by `maskStride`.
    /// Image-label samples have no per-image targets here (`BatchTargets.imageLabels`).
    public init(_ s: DecodedSample, task: ShardTask, maskStride: Int) throws {
        let (h, w) = (s.image.height, s.image.width)
        func masks(_ maps: [[UInt8]]) -> Tensor {
            var values = [Float](repeating: 0, count: maps.count * h * w)
            for (j, m) in maps.enumerated() { for (p, v) in m.enumerated() where v != 0 { values[j * h * w + p] = 1 } }
            return Tensor(shape: [maps.count, h, w], data: values)
        }
        switch task {
        case .panoptic:
            let ids = s.panoptic ?? []
            let kept = s.segments.filter { !$0.isCrowd && $0.area > 0 }
            self.init(classes: kept.map { Int($0.classID) },
                      masks: masks(kept.map { seg in ids.map { $0 == UInt32(bitPattern: seg.id) ? 1 : 0 } }))
        case .semantic:
            let labels = s.semantic ?? []
            let present = Set(labels.filter { $0 != s.ignoreLabel }).sorted()
            self.init(classes: present.map { Int($0) }, masks: masks(present.map { c in labels.map { $0 == c ? 1 : 0 } }))
        case .instance:
            guard let instanceMasks = s.instanceMasks else {
                throw InputError("instance sample", "has no instance masks (an instance dataset's segments need RLE masks)")
            }
            let kept = s.segments.indices.filter { !s.segments[$0].isCrowd && instanceMasks[$0].contains(1) }
            self.init(classes: kept.map { Int(s.segments[$0].classID) }, masks: masks(kept.map { instanceMasks[$0] }))
        case .detection:
            let stride = Float(maskStride)
            self.init(classes: s.segments.map { Int($0.classID) }, boxes: s.segments.map {
                ($0.bbox[0] / stride, $0.bbox[1] / stride, ($0.bbox[0] + $0.bbox[2]) / stride, ($0.bbox[1] + $0.bbox[3]) / stride)
            })
        case .imageLabels:
            self.init(classes: (s.labels ?? []).map { Int($0) })
        }
    }
}

extension Image8 {
    /// The interleaved RGB pixels (`[H, W, 3]` bytes) as `[3, H, W]` floats 0-255, written to
    /// `out` (3·H·W values): the layout the model takes.
    public func writePlanarRGB(into out: UnsafeMutablePointer<Float>) {
        let hw = height * width
        pixels.withUnsafeBufferPointer { px in
            for p in 0..<hw { for c in 0..<3 { out[c * hw + p] = Float(px[p * 3 + c]) } }
        }
    }
}
