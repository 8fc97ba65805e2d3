import Autograd
import Communication
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
///
/// Started by `mpirun`, every process runs this same loop on its slice of each global batch
/// (`solver.ims_per_batch` is the global batch): the main process (rank 0) builds or loads the
/// state and broadcasts it, and alone writes checkpoints, metrics, curves and the progress line;
/// the others log to `log.rankN` in the output folder.
public final class TrainingRun {
    public let config: TrainConfig
    public let outputDir: String
    /// The processes of the run (one, or Open MPI's world).
    public let communicator: Communicator
    public let data: TrainingData
    public let model: M2FModel
    public let step: TrainStep
    /// The resolved config as written to `config.yaml` and into every checkpoint.
    public let configYAML: String
    /// Run after every step, in order (see `Hooks.swift`); append your own before `run`.
    public var hooks: [TrainingHook] = [PeriodicCheckpointer(), PeriodicEvaluation(), MetricsWriter(), ParameterCheck(), CurvesWriter()]
    /// The last evaluation and the iteration it followed (set by `PeriodicEvaluation`).
    public var latestEvaluation: (iteration: Int, report: EvaluationReport)?
    /// Where log lines go (set by `run`).
    public private(set) var log: (String) -> Void = { print($0) }

    /// Opens and checks every dataset (training and validation splits) and builds the model
    /// with the reference initialisation.
    public init(config: TrainConfig, outputDir: String? = nil, communicator: Communicator = processCommunicator()) throws {
        self.config = config
        self.outputDir = outputDir ?? config.outputDir
        self.communicator = communicator
        guard config.solver.imsPerBatch % communicator.size == 0 else {
            throw InputError("solver.ims_per_batch", "\(config.solver.imsPerBatch) images per (global) batch cannot be split evenly over \(communicator.size) processes")
        }
        data = try TrainingData(config)
        var rng = SeededRNG(seed: config.seed)
        model = M2FModel(config.model, rng: &rng)
        model.applyReferenceInitialization(rng: &rng)
        step = TrainStep(model: model, labelSpace: data.labelSpace, loss: config.loss, solver: config.solver, seed: config.seed,
                         communicator: communicator, heldOut: data.heldOut)
        configYAML = try ConfigLoader.yaml(config)
    }

    /// Trains to `solver.max_iter`, from the newest checkpoint when `resume`; with `progress`, a
    /// progress line on the console. Returns the metrics of the iterations run.
    @discardableResult
    /// A folder that holds another run is refused unless `resume` (continue it) or `overwrite`
    /// (delete its files first): a new run would mix its metrics with the old ones.
    public func run(resume: Bool = false, overwrite: Bool = false, progress: Bool = false,
                    log: @escaping (String) -> Void = { print($0) }) throws -> [MetricsLine] {
        // The main process looks (the others would see the files it is about to write).
        let previous = try communicator.broadcast(communicator.isMain ? Checkpoint.runFiles(in: outputDir) : [])
        if !resume && !previous.isEmpty {
            guard overwrite else {
                throw InputError(outputDir, "holds another run (\(previous.prefix(4).joined(separator: ", "))\(previous.count > 4 ? ", ..." : "")): continue it with --resume, or start over with --overwrite")
            }
            if communicator.isMain {
                for name in previous { try FileManager.default.removeItem(atPath: (outputDir as NSString).appendingPathComponent(name)) }
            }
            communicator.barrier()
        }
        try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        self.log = communicator.isMain ? log : try Self.rankLog((outputDir as NSString).appendingPathComponent("log.rank\(communicator.rank)"))
        if communicator.isMain {
            for note in data.notes { self.log(note) }
            for name in AtomicFile.removeLeftovers(in: outputDir) { self.log("removed \(name), left by an interrupted write") }
            try AtomicFile.write(configYAML, to: (outputDir as NSString).appendingPathComponent("config.yaml"))
        }
        let solver = config.solver, sources = data.sources
        let counts = sources.map(\.count), ratios = config.data.datasets.map(\.ratio)
        let factors: [[Double]?] = zip(sources, config.data.datasets).map { s, d in
            d.repeatThreshold > 0 ? EpochSampler.repeatFactors(imageClasses: s.sampleClasses(), threshold: d.repeatThreshold) : nil
        }
        // The main process starts or resumes; the others receive its state.
        var start = 0, samplerState = MultiDatasetSampler(counts: counts, ratios: ratios, seed: config.seed &+ 17, repeatFactors: factors).state
        if communicator.isMain, resume, let (path, note) = Checkpoint.latest(in: outputDir) {
            if let note { self.log(note) }
            let saved = try Checkpoint.load(path, model: model, optimizer: step.optimizer)
            try checkResumable(saved, path: path, counts: counts)
            (start, samplerState) = (saved.iteration + 1, saved.samplerState)
            self.log("resumed from \(path) at iteration \(start)")
            if saved.worldSize != communicator.size {
                self.log("warning: \(path) was trained by \(saved.worldSize) process(es), this run has \(communicator.size): the losses now equal an uninterrupted run's only to float tolerance")
            }
        }
        if communicator.size > 1 { try broadcastState(start: &start, sampler: &samplerState) }
        let sampler = MultiDatasetSampler(counts: counts, ratios: ratios, repeatFactors: factors, restoring: samplerState)
        let hooks = self.hooks + [ConsoleWriter(progress: progress)]
        for hook in hooks { try hook.beforeTraining(self) }
        let share = solver.imsPerBatch / communicator.size
        let loader = DataLoader(sources: sources, augmentations: config.data.datasets.map(\.augmentation), sampler: sampler,
                                batchSize: solver.imsPerBatch, slots: (communicator.rank * share)..<((communicator.rank + 1) * share),
                                maskStride: M2FModel.maskStride, seed: config.seed &+ 29, startIteration: start, prefetch: config.data.prefetch,
                                onBadSample: config.data.onBadSample, maxBadFraction: config.data.maxBadFraction,
                                rules: TargetRules(heldOut: data.heldOut, sampleTasks: config.model.taskConditioning))
        defer { loader.stop() }
        var lines: [MetricsLine] = []
        var badSamples = [Double](repeating: 0, count: sources.count)     // skipped so far by this process
        for iteration in start..<max(start, solver.maxIter) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let batch: TrainingBatch
            do { batch = try loader.next() } catch let error as LocatedError {
                throw InputError(error.location, "\(error.problem); the last checkpoint in \(outputDir) is intact")
            }
            for name in batch.skipped { self.log("skipped a bad sample: \(name)") }
            badSamples[batch.dataset] = Double(batch.badSoFar)
            let t1 = DispatchTime.now().uptimeNanoseconds
            let (output, lr): (TrainStep.Output, Float)
            do { (output, lr) = try step(batch) } catch let error as LocatedError {
                throw InputError(error.location, "\(error.problem); the last checkpoint in \(outputDir) is intact")
            }
            let t2 = DispatchTime.now().uptimeNanoseconds
            var times = [Double(t2 - t0) / 1e9, Double(t1 - t0) / 1e9]
            communicator.allReduceMax(&times)     // the slowest process's
            var line = MetricsLine(iteration: iteration, totalLoss: output.totalLoss, losses: output.byName, lr: Double(lr),
                                   time: times[0], dataTime: times[1])
            var counts = badSamples
            communicator.allReduceSum(&counts)     // every process's skips, by dataset
            for (d, count) in counts.enumerated() where count > 0 { line.counters["bad_samples/\(config.data.datasets[d].name)"] = count }
            lines.append(line)
            let record = StepRecord(metrics: line, samplerState: batch.samplerState!, isLast: iteration == solver.maxIter - 1)
            for hook in hooks { try hook.afterStep(self, record) }
        }
        for hook in hooks { try hook.afterTraining(self) }
        return lines
    }

    /// A checkpoint can resume this run only with the same training datasets, each as large as
    /// it was (the sampler's state is positions in their epochs).
    func checkResumable(_ saved: Checkpoint.Contents, path: String, counts: [Int]) throws {
        let now = datasetRecords
        if !saved.datasets.isEmpty && saved.datasets != now {
            let was = saved.datasets.map { "\($0.name) (\($0.samples))" }.joined(separator: ", ")
            let isNow = now.map { "\($0.name) (\($0.samples))" }.joined(separator: ", ")
            throw InputError(path, "was trained on datasets \(was); this config has \(isNow) (name (training samples)): a resume needs the same datasets")
        }
        guard saved.samplerState.datasets.count == counts.count else {
            throw InputError(path, "its sampler state has \(saved.samplerState.datasets.count) datasets; this config has \(counts.count)")
        }
    }

    /// The main process's parameters, optimiser state, start iteration and sampler state, everywhere.
    func broadcastState(start: inout Int, sampler: inout MultiDatasetSampler.State) throws {
        struct Position: Codable { var start: Int; var sampler: MultiDatasetSampler.State; var optimizerStep: Int }
        let position = try communicator.broadcast(Position(start: start, sampler: sampler, optimizerStep: step.optimizer.stepCount))
        (start, sampler) = (position.start, position.sampler)
        let parameters = model.parameters, order = step.optimizer.groups.flatMap(\.parameters)
        var values = parameters.flatMap(\.data)
        communicator.broadcast(&values, root: 0)
        var at = 0
        for p in parameters { p.data = Array(values[at..<(at + p.count)]); at += p.count }
        var moments = (step.optimizer.firstMoments + step.optimizer.secondMoments).flatMap { $0 }
        communicator.broadcast(&moments, root: 0)
        var first: [[Float]] = [], second: [[Float]] = []
        at = 0
        for p in order { first.append(Array(moments[at..<(at + p.count)])); at += p.count }
        for p in order { second.append(Array(moments[at..<(at + p.count)])); at += p.count }
        try step.optimizer.restore(stepCount: position.optimizerStep, firstMoments: first, secondMoments: second)
    }

    /// A log that appends lines to `path` (the other processes' log files).
    static func rankLog(_ path: String) throws -> (String) -> Void {
        FileManager.default.createFile(atPath: path, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: path) else { throw InputError(path, "cannot write the log") }
        return { line in handle.write(Data((line + "\n").utf8)) }
    }

    /// The training datasets as checkpoints record them.
    public var datasetRecords: [Checkpoint.DatasetRecord] {
        zip(config.data.datasets, data.sources).map { Checkpoint.DatasetRecord(name: $0.name, samples: $1.count) }
    }
}
