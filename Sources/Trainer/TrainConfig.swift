import Datasets
import Losses
import Models

/// The one typed schema of a training run. YAML keys are the snake-case names below and follow
/// Detectron2's where it has one (`solver.base_lr`, `solver.max_iter`, `solver.ims_per_batch`,
/// `test.eval_period`, `output_dir`, ...). Every key has a default; a key the schema does not
/// know is an error (see `ConfigLoader`).
public struct TrainConfig: Codable, Equatable, Sendable {
    public var seed: UInt64 = 0
    public var outputDir = "output/synth-joint"
    public var model = M2FConfig()
    public var data = DataConfig()
    public var loss = LossConfig()
    public var solver = SolverConfig()
    public var test = TestConfig()

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case seed, outputDir = "output_dir", model, data, loss, solver, test
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var d = TrainConfig()
        if let v = try c.decodeIfPresent(UInt64.self, forKey: .seed) { d.seed = v }
        if let v = try c.decodeIfPresent(String.self, forKey: .outputDir) { d.outputDir = v }
        if let v = try c.decodeIfPresent(M2FConfig.self, forKey: .model) { d.model = v }
        if let v = try c.decodeIfPresent(DataConfig.self, forKey: .data) { d.data = v }
        if let v = try c.decodeIfPresent(LossConfig.self, forKey: .loss) { d.loss = v }
        if let v = try c.decodeIfPresent(SolverConfig.self, forKey: .solver) { d.solver = v }
        if let v = try c.decodeIfPresent(TestConfig.self, forKey: .test) { d.test = v }
        self = d
    }
}

/// Datasets and how they are mixed.
public struct DataConfig: Codable, Equatable, Sendable {
    /// The folder dataset paths are relative to.
    public var root = "data/synth"
    public var datasets: [DatasetConfig] = []
    /// Where label-space files (text embeddings) are looked up by dataset name.
    public var labelspaces = "labelspaces"
    /// Batches prepared ahead by the loader.
    public var prefetch = 2

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable { case root, datasets, labelspaces, prefetch }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        if let v = try c.decodeIfPresent(String.self, forKey: .root) { root = v }
        if let v = try c.decodeIfPresent([DatasetConfig].self, forKey: .datasets) { datasets = v }
        if let v = try c.decodeIfPresent(String.self, forKey: .labelspaces) { labelspaces = v }
        if let v = try c.decodeIfPresent(Int.self, forKey: .prefetch) { prefetch = v }
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
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        if let v = try c.decodeIfPresent(String.self, forKey: .name) { name = v }
        if let v = try c.decodeIfPresent(String.self, forKey: .path) { path = v }
        if let v = try c.decodeIfPresent(String.self, forKey: .trainSplit) { trainSplit = v }
        if let v = try c.decodeIfPresent(String.self, forKey: .valSplit) { valSplit = v }
        if let v = try c.decodeIfPresent(Double.self, forKey: .ratio) { ratio = v }
        if let v = try c.decodeIfPresent(Double.self, forKey: .repeatThreshold) { repeatThreshold = v }
        if let v = try c.decodeIfPresent(AugmentationConfig.self, forKey: .augmentation) { augmentation = v }
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
    /// `poly` (power 0.9) or `step` (times `gamma` at each of `steps`).
    public var schedule = "poly"
    public var steps: [Int] = []
    public var gamma: Float = 0.1
    public var checkpointPeriod = 500
    /// Checkpoints kept (the newest).
    public var keepCheckpoints = 3
    /// Iterations between metrics lines.
    public var logPeriod = 20

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case baseLR = "base_lr", maxIter = "max_iter", imsPerBatch = "ims_per_batch", weightDecay = "weight_decay"
        case backboneMultiplier = "backbone_multiplier", betas, clipNorm = "clip_norm", warmupIters = "warmup_iters"
        case warmupFactor = "warmup_factor", schedule, steps, gamma, checkpointPeriod = "checkpoint_period"
        case keepCheckpoints = "keep_checkpoints", logPeriod = "log_period"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        func take<T: Decodable>(_ k: CodingKeys, _ v: inout T) throws { if let x = try c.decodeIfPresent(T.self, forKey: k) { v = x } }
        try take(.baseLR, &baseLR); try take(.maxIter, &maxIter); try take(.imsPerBatch, &imsPerBatch)
        try take(.weightDecay, &weightDecay); try take(.backboneMultiplier, &backboneMultiplier); try take(.betas, &betas)
        try take(.clipNorm, &clipNorm); try take(.warmupIters, &warmupIters); try take(.warmupFactor, &warmupFactor)
        try take(.schedule, &schedule); try take(.steps, &steps); try take(.gamma, &gamma)
        try take(.checkpointPeriod, &checkpointPeriod); try take(.keepCheckpoints, &keepCheckpoints); try take(.logPeriod, &logPeriod)
    }

    /// The learning rate at `iteration`: linear warm-up from `warmupFactor`, then the schedule.
    public func learningRate(at iteration: Int) -> Float {
        var lr = baseLR
        switch schedule {
        case "step": lr *= powf(gamma, Float(steps.filter { iteration >= $0 }.count))
        default: lr *= powf(max(0, 1 - Float(iteration) / Float(max(maxIter, 1))), 0.9)
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
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case evalPeriod = "eval_period", maxImages = "max_images"
        case objectMaskThreshold = "object_mask_threshold", overlapThreshold = "overlap_threshold"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        if let v = try c.decodeIfPresent(Int.self, forKey: .evalPeriod) { evalPeriod = v }
        if let v = try c.decodeIfPresent(Int.self, forKey: .maxImages) { maxImages = v }
        if let v = try c.decodeIfPresent(Float.self, forKey: .objectMaskThreshold) { objectMaskThreshold = v }
        if let v = try c.decodeIfPresent(Float.self, forKey: .overlapThreshold) { overlapThreshold = v }
    }
}

#if canImport(Glibc)
import Glibc
#endif
