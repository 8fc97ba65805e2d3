import Autograd
import Datasets
import Dispatch
import Foundation
import HDF5
import Losses
import Matching
import Models
import Samplers

public struct TrainingError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// One line of `metrics.jsonl` (Detectron2's key names).
public struct MetricsLine: Sendable {
    public var iteration: Int
    public var totalLoss: Double
    public var losses: [String: Double]
    public var lr: Double
    public var time: Double
    public var dataTime: Double

    var json: [String: Any] {
        var o: [String: Any] = ["iteration": iteration, "total_loss": totalLoss, "lr": lr, "time": time, "data_time": dataTime]
        for (k, v) in losses { o[k] = v }
        return o
    }
}

/// A training run: multi-dataset batches (DaTaSeg), the model with one text-embedding classifier
/// over the union of every dataset's classes, each dataset's losses, AdamW with the reference
/// groups, warm-up and schedule, clipping, metrics, checkpoints and exact resume.
public final class TrainingRun {
    public let config: TrainConfig
    public let outputDir: String
    public let model: M2FModel
    let optimizer: AdamW
    let sources: [DatasetSource]
    /// Where each dataset's classes start in the unified label space.
    let offsets: [Int]
    let unified: Tensor
    let criterion: SetCriterion

    public init(config: TrainConfig, outputDir: String? = nil) throws {
        self.config = config
        self.outputDir = outputDir ?? config.outputDir
        var rng = SeededRNG(seed: config.seed)
        model = M2FModel(config.model, rng: &rng)
        model.applyReferenceInitialization(rng: &rng)
        optimizer = AdamW(groups: model.referenceParameterGroups(weightDecay: config.solver.weightDecay,
                                                                 backboneLRMultiplier: config.solver.backboneMultiplier),
                          learningRate: config.solver.baseLR, beta1: config.solver.betas[0], beta2: config.solver.betas[1])
        var sources: [DatasetSource] = [], offsets: [Int] = [], embeddings: [Float] = []
        for d in config.data.datasets {
            let folder = (config.data.root as NSString).appendingPathComponent(d.path)
            let source: DatasetSource
            do { source = try DatasetSource(folder: folder, split: d.trainSplit) } catch { throw TrainingError(message: "dataset \(d.name): \(error)") }
            offsets.append(embeddings.count / config.model.embeddingDim)
            if let e = source.classes.embeddings, e.dim == config.model.embeddingDim {
                embeddings += e.values
            } else {
                let path = (config.data.labelspaces as NSString).appendingPathComponent("\(d.name).h5")
                let space: LabelSpace
                do { space = try LabelSpace.load(path) } catch {
                    throw TrainingError(message: "dataset \(d.name): its shards carry no class embeddings and \(path) cannot be read (\(error))")
                }
                guard space.names == source.classes.names, space.dim == config.model.embeddingDim else {
                    throw TrainingError(message: "\(path): classes or embedding size differ from dataset \(d.name)'s")
                }
                embeddings += space.embeddings
            }
            sources.append(source)
        }
        self.sources = sources
        self.offsets = offsets
        unified = Tensor(shape: [embeddings.count / config.model.embeddingDim, config.model.embeddingDim], data: embeddings)
        criterion = SetCriterion(config: config.loss, labelSimilarity: LabelSpaceLosses.labelSimilarity(unified))
    }

    /// Trains to `solver.max_iter`, from the newest checkpoint when `resume`. Returns the
    /// metrics lines written.
    @discardableResult
    public func run(resume: Bool = false, progress: Bool = false, log: (String) -> Void = { print($0) }) throws -> [MetricsLine] {
        try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        let yaml = try ConfigLoader.yaml(config)
        try writeText(yaml, to: (outputDir as NSString).appendingPathComponent("config.yaml"))
        let counts = sources.map(\.count)
        let ratios = config.data.datasets.map(\.ratio)
        let factors: [[Double]?] = zip(sources, config.data.datasets).map { s, d in
            d.repeatThreshold > 0 ? EpochSampler.repeatFactors(imageClasses: s.sampleClasses(), threshold: d.repeatThreshold) : nil
        }
        var sampler = MultiDatasetSampler(counts: counts, ratios: ratios, seed: config.seed &+ 17, repeatFactors: factors)
        var start = 0
        if resume, let path = Checkpoint.latest(in: outputDir) {
            let saved = try Checkpoint.load(path, model: model, optimizer: optimizer)
            sampler = MultiDatasetSampler(counts: counts, ratios: ratios, repeatFactors: factors, restoring: saved.samplerState)
            start = saved.iteration + 1
            log("resumed from \(path) at iteration \(start)")
        }
        let loader = DataLoader(sources: sources, augmentations: config.data.datasets.map(\.augmentation), sampler: sampler,
                                batchSize: config.solver.imsPerBatch, seed: config.seed &+ 29, startIteration: start, prefetch: config.data.prefetch)
        defer { loader.stop() }
        let metricsPath = (outputDir as NSString).appendingPathComponent("metrics.jsonl")
        var lines: [MetricsLine] = []
        var lastState = sampler.state
        let parameters = model.parameters
        if start >= config.solver.maxIter { return lines }
        for iteration in start..<config.solver.maxIter {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let batch = try loader.next()
            let t1 = DispatchTime.now().uptimeNanoseconds
            let (losses, total) = try step(batch, iteration: iteration)
            optimizer.zeroGrad()
            total.backward()
            if config.solver.clipNorm > 0 { clipGradNorm(parameters, maxNorm: config.solver.clipNorm) }
            let lr = config.solver.learningRate(at: iteration)
            optimizer.learningRate = lr
            optimizer.step()
            lastState = batch.samplerState
            let t2 = DispatchTime.now().uptimeNanoseconds
            let line = MetricsLine(iteration: iteration, totalLoss: Double(total.item), losses: losses, lr: Double(lr),
                                   time: Double(t2 - t0) / 1e9, dataTime: Double(t1 - t0) / 1e9)
            lines.append(line)
            if progress {
                // A progress line on a terminal: iteration, loss, ETA from the mean step time.
                let mean = lines.map(\.time).reduce(0, +) / Double(lines.count)
                let eta = Int(mean * Double(config.solver.maxIter - iteration - 1))
                print(String(format: "\r[%d/%d] total_loss %.4f  %.2f s/it  ETA %d:%02d:%02d   ", iteration + 1, config.solver.maxIter,
                             line.totalLoss, mean, eta / 3600, eta / 60 % 60, eta % 60), terminator: "")
                fflush(stdout)
            }
            if iteration % config.solver.logPeriod == 0 || iteration == config.solver.maxIter - 1 {
                try appendLine(line.json, to: metricsPath)
                if progress { print("") }
                log(String(format: "iter %d  total_loss %.4f  lr %.2e  %@  time %.3f s", iteration, line.totalLoss, lr,
                           losses.keys.sorted().map { String(format: "%@ %.4f", $0, losses[$0]!) }.joined(separator: "  "), line.time))
            }
            let last = iteration == config.solver.maxIter - 1
            if (config.test.evalPeriod > 0 && (iteration + 1) % config.test.evalPeriod == 0) || last {
                let report = try evaluate(maxImages: config.test.maxImages, log: log)
                var line: [String: Any] = ["iteration": iteration]
                for (dataset, kinds) in report { for (kind, values) in kinds { for (k, v) in values { line["\(dataset)/\(kind)/\(k)"] = v } } }
                try appendLine(line, to: metricsPath)
            }
            if (iteration + 1) % config.solver.checkpointPeriod == 0 || last {
                try Checkpoint.save(to: outputDir, name: last ? "model_final.h5" : String(format: "model_%07d.h5", iteration),
                                    model: model, optimizer: optimizer, iteration: iteration, sampler: lastState,
                                    configYAML: yaml, keep: config.solver.keepCheckpoints)
            }
        }
        try CurvesPicture.write(metrics: metricsPath, to: (outputDir as NSString).appendingPathComponent("curves.svg"))
        return lines
    }

    /// Loads model weights from a checkpoint (`model/<name>`) or a plain weights file.
    public func loadWeights(_ path: String) throws {
        do {
            if (try? HDF5File(path))?.contains("model") == true {
                _ = try Checkpoint.load(path, model: model, optimizer: nil)
            } else {
                try ParameterFile.load(model, from: path)
            }
        } catch let error as HDF5Error {
            throw TrainingError(message: error.description)
        }
    }

    /// Forward and losses of one batch: the summed weighted losses by name (over the prediction
    /// sets) and the total. A non-finite loss stops the run, naming the iteration and the term.
    func step(_ batch: Batch, iteration: Int) throws -> ([String: Double], Tensor) {
        let d = batch.dataset, source = sources[d]
        let size = batch.images[0].image.width
        let b = batch.images.count
        var pixels = [Float](repeating: 0, count: b * 3 * size * size)
        for (i, s) in batch.images.enumerated() {
            for p in 0..<(size * size) { for c in 0..<3 { pixels[((i * 3 + c) * size * size) + p] = Float(s.image.pixels[p * 3 + c]) } }
        }
        let images = Tensor(shape: [b, 3, size, size], data: pixels)
        let predictions = model(images, classEmbeddings: unified)
        let k = source.classes.count, u = unified.shape[0], offset = offsets[d]
        let targets = batchTargets(batch, task: source.task, offset: offset)
        var rng = SeededRNG(seed: config.seed &* 0x2545_F491_4F6C_DD1D &+ UInt64(iteration))
        var byName: [String: Double] = [:]
        var total: Tensor? = nil
        for p in predictions {
            // The dataset's columns of the unified classifier, and the background last.
            let logits = Tensor.concat([p.logits.slice(axis: 2, offset..<(offset + k)), p.logits.slice(axis: 2, u..<(u + 1))], axis: 2)
            let set = PredictionSet(logits: logits, masks: p.masks, unifiedCosines: p.cosines)
            let losses: [(name: String, value: Tensor)]
            do {
                losses = try criterion.losses(set, targets, numMasks: targets.targetCount, rng: &rng)
            } catch let error as HungarianMatcher.MatchError {
                throw TrainingError(message: "iteration \(iteration): \(error) — the last checkpoint in \(outputDir) is intact")
            }
            for (name, value) in losses {
                guard value.item.isFinite else {
                    throw TrainingError(message: "iteration \(iteration): \(name) is \(value.item) (dataset \(source.name)) — the run stops; the last checkpoint in \(outputDir) is intact")
                }
                byName[name, default: 0] += Double(value.item)
                total = total.map { $0 + value } ?? value
            }
        }
        return (byName, total!)
    }

    /// The batch's targets for the criterion: masks at image resolution, boxes at the mask
    /// logits' stride 4, or image labels.
    func batchTargets(_ batch: Batch, task: ShardTask, offset: Int) -> BatchTargets {
        let size = batch.images[0].image.width
        switch task {
        case .panoptic, .semantic, .instance:
            return BatchTargets(supervision: .masks, images: batch.targets.map { t in
                ImageTargets(classes: t.classes, masks: Tensor(shape: [t.classes.count, size, size],
                                                               data: (t.masks ?? []).flatMap { $0.map { Float($0) } }))
            }, unifiedOffset: offset)
        case .detection:
            return BatchTargets(supervision: .boxes, images: batch.targets.map { t in
                ImageTargets(classes: t.classes, boxes: (t.boxes ?? []).map { ($0[0] / 4, $0[1] / 4, $0[2] / 4, $0[3] / 4) })
            }, unifiedOffset: offset)
        case .imageLabels:
            return BatchTargets(supervision: .imageLabels, imageLabels: batch.targets.map(\.classes), unifiedOffset: offset)
        }
    }
}

func writeText(_ text: String, to path: String) throws {
    let tmp = path + ".tmp"
    try text.write(toFile: tmp, atomically: false, encoding: .utf8)
    guard rename(tmp, path) == 0 else { throw TrainingError(message: "cannot write \(path)") }
}

func appendLine(_ object: [String: Any], to path: String) throws {
    var data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    data.append(0x0A)
    if let handle = FileHandle(forWritingAtPath: path) {
        handle.seekToEndOfFile()
        handle.write(data)
        handle.closeFile()
    } else {
        try data.write(to: URL(fileURLWithPath: path))
    }
}

#if canImport(Glibc)
import Glibc
#endif
