import Core
import Foundation

// The standard hooks, in the order `TrainingRun` runs them after each step: checkpoint, then
// evaluation, then the writers — so that if evaluation fails, the step's checkpoint is
// already on disk (Detectron2's order, for the same reason).

/// Saves a checkpoint every `solver.checkpoint_period` iterations and `model_final.h5` at the end.
public final class PeriodicCheckpointer: TrainingHook {
    public init() {}
    public func afterStep(_ run: TrainingRun, _ step: StepRecord) throws {
        guard run.communicator.isMain, (step.iteration + 1) % run.config.solver.checkpointPeriod == 0 || step.isLast else { return }
        try Checkpoint.save(to: run.outputDir, name: step.isLast ? "model_final.h5" : String(format: "model_%07d.h5", step.iteration),
                            model: run.model, optimizer: run.step.optimizer, iteration: step.iteration, sampler: step.samplerState,
                            configYAML: run.configYAML, keep: run.config.solver.keepCheckpoints, worldSize: run.communicator.size,
                            datasets: run.datasetRecords, labelSpace: run.data.labelSpace)
    }
}

/// Evaluates on every validation split every `test.eval_period` iterations and at the end (all
/// processes predict, the main one scores); the report is left in `run.latestEvaluation` for
/// the writers.
public final class PeriodicEvaluation: TrainingHook {
    public init() {}
    public func afterStep(_ run: TrainingRun, _ step: StepRecord) throws {
        let period = run.config.test.evalPeriod
        guard (period > 0 && (step.iteration + 1) % period == 0) || step.isLast else { return }
        let options = InferenceOptions(run.config)
        let report = try ModelEvaluation.run(model: run.model, data: run.data, options: options, maxImages: run.config.test.maxImages,
                                             communicator: run.communicator, log: run.log)
        run.latestEvaluation = (step.iteration, report)
    }
}

/// `metrics.jsonl` (the main process): a line per `solver.log_period` iterations (and the last)
/// with Detectron2's keys, and a line per evaluation with keys `<dataset>/<kind>/<metric>`.
public final class MetricsWriter: TrainingHook {
    public init() {}
    var path = ""
    public func beforeTraining(_ run: TrainingRun) throws { path = (run.outputDir as NSString).appendingPathComponent("metrics.jsonl") }
    public func afterStep(_ run: TrainingRun, _ step: StepRecord) throws {
        guard run.communicator.isMain else { return }
        if step.iteration % run.config.solver.logPeriod == 0 || step.isLast { try append(step.metrics.json) }
        if let (iteration, report) = run.latestEvaluation, iteration == step.iteration {
            var line: [String: Any] = ["iteration": iteration]
            for (dataset, kinds) in report { for (kind, values) in kinds { for (k, v) in values { line["\(dataset)/\(kind)/\(k)"] = v } } }
            try append(line)
        }
    }

    func append(_ object: [String: Any]) throws {
        var data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        data.append(0x0A)
        guard let handle = FileHandle(forWritingAtPath: path) else { return try AtomicFile.write(data, to: path) }
        defer { handle.closeFile() }
        handle.seekToEndOfFile()
        handle.write(data)
    }
}

/// The console: on a terminal a progress line with the ETA after every step (the main
/// process); a log line with the losses every `solver.log_period` iterations (other processes
/// log to `log.rankN`).
public final class ConsoleWriter: TrainingHook {
    let progress: Bool
    var seconds = 0.0, steps = 0
    public init(progress: Bool) { self.progress = progress }

    public func afterStep(_ run: TrainingRun, _ step: StepRecord) throws {
        let m = step.metrics, maxIter = run.config.solver.maxIter
        seconds += m.time
        steps += 1
        if progress && run.communicator.isMain {
            let mean = seconds / Double(steps), eta = Int(mean * Double(maxIter - m.iteration - 1))
            print(String(format: "\r[%d/%d] total_loss %.4f  %.2f s/it  ETA %d:%02d:%02d   ", m.iteration + 1, maxIter,
                         m.totalLoss, mean, eta / 3600, eta / 60 % 60, eta % 60), terminator: "")
            fflush(stdout)
        }
        guard m.iteration % run.config.solver.logPeriod == 0 || step.isLast else { return }
        if progress && run.communicator.isMain { print("") }
        run.log(String(format: "iter %d  total_loss %.4f  lr %.2e  %@  time %.3f s", m.iteration, m.totalLoss, m.lr,
                       m.losses.keys.sorted().map { String(format: "%@ %.4f", $0, m.losses[$0]!) }.joined(separator: "  "), m.time))
    }
}

/// `curves.svg`: the losses and the evaluation metrics against iterations, at the end.
public final class CurvesWriter: TrainingHook {
    public init() {}
    public func afterTraining(_ run: TrainingRun) throws {
        guard run.communicator.isMain else { return }
        try CurvesPicture.write(metrics: (run.outputDir as NSString).appendingPathComponent("metrics.jsonl"),
                                to: (run.outputDir as NSString).appendingPathComponent("curves.svg"))
    }
}

/// Every `solver.log_period` iterations, checks that every process holds the same parameters
/// (a checksum compared across processes): a diverged data-parallel run stops with a message
/// instead of training on. One process: nothing to compare.
public final class ParameterCheck: TrainingHook {
    public init() {}
    public func afterStep(_ run: TrainingRun, _ step: StepRecord) throws {
        guard run.communicator.size > 1, step.iteration % run.config.solver.logPeriod == 0 || step.isLast else { return }
        var sum = 0.0, weighted = 0.0, position = 0.0
        for p in run.model.parameters {
            p.data.withUnsafeBufferPointer { v in
                for x in v { sum += Double(x); position += 1; weighted += Double(x) * position }
            }
        }
        var extremes = [sum, weighted, -sum, -weighted]
        run.communicator.allReduceMax(&extremes)
        guard extremes[0] == -extremes[2], extremes[1] == -extremes[3] else {
            throw InputError("iteration \(step.iteration)", "the processes' parameters differ (checksums \(extremes[0]) vs \(-extremes[2])): the data-parallel run diverged and stops")
        }
    }
}
