import Datasets
import Losses
import Models
import Targets

/// The one typed schema of a training run. YAML keys are the snake-case names below and follow
/// Detectron2's where it has one (`solver.base_lr`, `solver.max_iter`, `solver.ims_per_batch`,
/// `test.eval_period`, `output_dir`, ...). Every key has a default; a key the schema does not
/// know is an error (see `ConfigLoader`, which decodes a file over these defaults: a new key
/// is declared here once, with its default, and nowhere else).
public struct TrainConfig: Codable, Equatable, Sendable {
    /// The schema's version; this build reads `currentVersion`.
    public var version = TrainConfig.currentVersion
    public static let currentVersion = 1
    public var seed: UInt64 = 0
    public var outputDir = "output/synth-joint"
    public var model = M2FConfig()
    public var data = DataConfig()
    public var loss = LossConfig()
    public var solver = SolverConfig()
    public var test = TestConfig()

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case version, seed, outputDir = "output_dir", model, data, loss, solver, test
    }
}

/// Datasets and how they are mixed.
public struct DataConfig: Codable, Equatable, Sendable {
    /// The folder dataset paths are relative to.
    public var root = "data/synth"
    public var datasets: [DatasetConfig] = []
    /// Where label-space files (text embeddings) are looked up by dataset name.
    public var labelspaces = "labelspaces"
    /// How the datasets' classes form the unified classifier: `concatenated` (ScaleDet: every
    /// dataset's classes, a shared name twice) or `merged` (a name shared by several datasets
    /// is one class). See `UnifiedLabelSpace`.
    public var labelSpace = UnifiedLabelSpace.Form.concatenated
    /// Batches prepared ahead by the loader.
    public var prefetch = 2
    /// A training sample that does not decode or breaks the format: `stop` the run naming it
    /// (the default), or `skip` it (another sample of its dataset takes its place), counted.
    public var onBadSample = BadSamplePolicy.stop
    /// With `skip`: the run stops once more than this share of a dataset's training samples
    /// turned out bad.
    public var maxBadFraction = 0.01
    /// Classes (by name, in every dataset that has them) whose labels training never sees: their
    /// segments, boxes and image labels are dropped from the targets and their classifier
    /// columns take no part in the training losses, so the class is known by its name alone
    /// (the held-out class of an open-vocabulary experiment; see `test.calibration`).
    public var heldOutClasses: [String] = []

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case root, datasets, labelspaces, labelSpace = "label_space", prefetch, onBadSample = "on_bad_sample", maxBadFraction = "max_bad_fraction"
        case heldOutClasses = "held_out_classes"
    }
}

/// One dataset of the mix.
public struct DatasetConfig: Codable, Equatable, Sendable {
    public var name = ""
    /// Folder of its shards, relative to `data.root`.
    public var path = ""
    public var trainSplit = "train"
    public var valSplit = "val"
    /// Sampling weight of the dataset (DaTaSeg): batches come from it in this proportion.
    public var ratio = 1.0
    /// LVIS repeat-factor threshold; 0 turns repeat-factor sampling off.
    public var repeatThreshold = 0.0
    public var augmentation = AugmentationConfig()

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, path, trainSplit = "train_split", valSplit = "val_split", ratio, repeatThreshold = "repeat_threshold", augmentation
    }
}

/// The optimiser and schedule (Detectron2's `SOLVER` keys).
public struct SolverConfig: Codable, Equatable, Sendable {
    public var baseLR: Float = 1e-4
    public var maxIter = 1000
    public var imsPerBatch = 4
    public var weightDecay: Float = 0.05
    public var backboneMultiplier: Float = 0.1
    public var betas: [Float] = [0.9, 0.999]
    /// Global-norm gradient clipping; 0 turns it off.
    public var clipNorm: Float = 0.01
    public var warmupIters = 100
    public var warmupFactor: Float = 0.001
    public var schedule = Schedule.poly
    public var steps: [Int] = []
    public var gamma: Float = 0.1
    public var checkpointPeriod = 500
    /// Checkpoints kept (the newest).
    public var keepCheckpoints = 3
    /// Iterations between metrics lines.
    public var logPeriod = 20

    /// The learning-rate schedule after warm-up.
    public enum Schedule: String, Codable, CaseIterable, Sendable {
        /// `(1 − iteration / max_iter)^0.9` (Mask2Former's).
        case poly
        /// Times `gamma` at each of `steps`.
        case step
    }

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case baseLR = "base_lr", maxIter = "max_iter", imsPerBatch = "ims_per_batch", weightDecay = "weight_decay"
        case backboneMultiplier = "backbone_multiplier", betas, clipNorm = "clip_norm", warmupIters = "warmup_iters"
        case warmupFactor = "warmup_factor", schedule, steps, gamma, checkpointPeriod = "checkpoint_period"
        case keepCheckpoints = "keep_checkpoints", logPeriod = "log_period"
    }

    /// The learning rate at `iteration`: linear warm-up from `warmupFactor`, then the schedule.
    public func learningRate(at iteration: Int) -> Float {
        var lr = baseLR
        switch schedule {
        case .step: lr *= powf(gamma, Float(steps.filter { iteration >= $0 }.count))
        case .poly: lr *= powf(max(0, 1 - Float(iteration) / Float(max(maxIter, 1))), 0.9)
        }
        if iteration < warmupIters {
            let alpha = Float(iteration) / Float(max(warmupIters, 1))
            lr *= warmupFactor * (1 - alpha) + alpha
        }
        return lr
    }
}

/// Evaluation during and after training (Detectron2's `TEST` keys).
public struct TestConfig: Codable, Equatable, Sendable {
    /// Iterations between evaluations; 0: only at the end.
    public var evalPeriod = 0
    /// Validation images per dataset (0: all).
    public var maxImages = 0
    /// Panoptic inference: a query is kept when its top class is not no-object and its
    /// probability exceeds this (Mask2Former's `OBJECT_MASK_THRESHOLD`).
    public var objectMaskThreshold: Float = 0.8
    /// Panoptic inference: a kept query is dropped when less than this share of its mask
    /// survives the overlap with higher-scoring queries (`OVERLAP_THRESHOLD`).
    public var overlapThreshold: Float = 0.8
    /// Evaluation over the union label space (`train evaluate --label-space union`): another
    /// dataset's class is reported as the evaluated dataset's most similar class when their
    /// text embeddings' cosine reaches this; 1: only classes of the same name.
    public var unionSimilarity: Float = 1
    /// The score from which `train evaluate --dump` and `train predict` draw an instance or a
    /// detection in their overlay pictures.
    public var overlayThreshold: Float = 0.5
    /// UniDetector's probability calibration (off at power 0).
    public var calibration = CalibrationConfig()
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case evalPeriod = "eval_period", maxImages = "max_images"
        case objectMaskThreshold = "object_mask_threshold", overlapThreshold = "overlap_threshold"
        case unionSimilarity = "union_similarity", overlayThreshold = "overlay_threshold", calibration
    }
}

/// UniDetector's calibration (`test.calibration`): each class's probability is divided by its
/// prior raised to `power` — the prior being the class's mean predicted probability over the
/// first `images` images of the evaluated split — so that classes the model rarely predicts
/// (seen only through other datasets, or only by name) are not drowned by the classes trained
/// most. A query's foreground probability is kept; only how it splits among the classes changes.
public struct CalibrationConfig: Codable, Equatable, Sendable {
    /// 0: no calibration; UniDetector uses 0.3-1.
    public var power: Float = 0
    public var images = 100
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable { case power, images }
}

#if canImport(Glibc)
import Glibc
#endif
