import Autograd
import Core
import Datasets
import Dispatch
import Foundation
import HDF5
import Models
import Samplers

/// A training run: the datasets opened and checked, the model with one text-embedding
/// classifier over the union of every dataset's classes, the training step, and the loop that
/// draws DaTaSeg batches, runs the step and then the hooks (checkpoint, evaluation, writers).
/// `--resume` continues exactly from the newest checkpoint.
public final class TrainingRun {
    public let config: TrainConfig
    public let outputDir: String
    public let data: TrainingData
    public let model: M2FModel
    public let step: TrainStep
    /// The resolved config as written to `config.yaml` and into every checkpoint.
    public let configYAML: String
    /// Run after every step, in order (see `Hooks.swift`); append your own before `run`.
    public var hooks: [TrainingHook] = [PeriodicCheckpointer(), PeriodicEvaluation(), MetricsWriter(), CurvesWriter()]
    /// The last evaluation and the iteration it followed (set by `PeriodicEvaluation`).
    public var latestEvaluation: (iteration: Int, report: EvaluationReport)?
    /// Where log lines go (set by `run`).
    public private(set) var log: (String) -> Void = { print($0) }

    /// Opens and checks every dataset (training and validation splits) and builds the model
    /// with the reference initialisation.
    public init(config: TrainConfig, outputDir: String? = nil) throws {
        self.config = config
        self.outputDir = outputDir ?? config.outputDir
        data = try TrainingData(config)
        var rng = SeededRNG(seed: config.seed)
        model = M2FModel(config.model, rng: &rng)
        model.applyReferenceInitialization(rng: &rng)
        step = TrainStep(model: model, labelSpace: data.labelSpace, loss: config.loss, solver: config.solver, seed: config.seed)
        configYAML = try ConfigLoader.yaml(config)
    }

    /// Trains to `solver.max_iter`, from the newest checkpoint when `resume`; with `progress`, a
    /// progress line on the console. Returns the metrics of the iterations run.
    @discardableResult
    public func run(resume: Bool = false, progress: Bool = false, log: @escaping (String) -> Void = { print($0) }) throws -> [MetricsLine] {
        self.log = log
        try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        AtomicFile.removeLeftovers(in: outputDir)
        try AtomicFile.write(configYAML, to: (outputDir as NSString).appendingPathComponent("config.yaml"))
        let solver = config.solver, sources = data.sources
        let counts = sources.map(\.count), ratios = config.data.datasets.map(\.ratio)
        let factors: [[Double]?] = zip(sources, config.data.datasets).map { s, d in
            d.repeatThreshold > 0 ? EpochSampler.repeatFactors(imageClasses: s.sampleClasses(), threshold: d.repeatThreshold) : nil
        }
        var sampler = MultiDatasetSampler(counts: counts, ratios: ratios, seed: config.seed &+ 17, repeatFactors: factors)
        var start = 0
        if resume, let path = Checkpoint.latest(in: outputDir) {
            let saved = try Checkpoint.load(path, model: model, optimizer: step.optimizer)
            sampler = MultiDatasetSampler(counts: counts, ratios: ratios, repeatFactors: factors, restoring: saved.samplerState)
            start = saved.iteration + 1
            log("resumed from \(path) at iteration \(start)")
        }
        let hooks = self.hooks + [ConsoleWriter(progress: progress)]
        for hook in hooks { try hook.beforeTraining(self) }
        let loader = DataLoader(sources: sources, augmentations: config.data.datasets.map(\.augmentation), sampler: sampler,
                                batchSize: solver.imsPerBatch, maskStride: M2FModel.maskStride, seed: config.seed &+ 29,
                                startIteration: start, prefetch: config.data.prefetch)
        defer { loader.stop() }
        var lines: [MetricsLine] = []
        for iteration in start..<max(start, solver.maxIter) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let batch = try loader.next()
            let t1 = DispatchTime.now().uptimeNanoseconds
            let (output, lr): (TrainStep.Output, Float)
            do { (output, lr) = try step(batch) } catch let error as LocatedError {
                throw InputError(error.location, "\(error.problem); the last checkpoint in \(outputDir) is intact")
            }
            let t2 = DispatchTime.now().uptimeNanoseconds
            let line = MetricsLine(iteration: iteration, totalLoss: Double(output.total.item), losses: output.byName, lr: Double(lr),
                                   time: Double(t2 - t0) / 1e9, dataTime: Double(t1 - t0) / 1e9)
            lines.append(line)
            let record = StepRecord(metrics: line, samplerState: batch.samplerState!, isLast: iteration == solver.maxIter - 1)
            for hook in hooks { try hook.afterStep(self, record) }
        }
        for hook in hooks { try hook.afterTraining(self) }
        return lines
    }

    /// Loads model weights from a checkpoint (`model/<name>`) or a plain weights file.
    public func loadWeights(_ path: String) throws { try model.loadWeights(path) }
}
