import Samplers

/// Something that happens around the training loop (Detectron2's `HookBase`): checkpoints,
/// evaluation, metrics files, the console, pictures. Adding one (EMA weights, another writer)
/// is a new hook in `TrainingRun.hooks`, not an edit of the loop. Hooks run in list order.
public protocol TrainingHook: AnyObject {
    func beforeTraining(_ run: TrainingRun) throws
    func afterStep(_ run: TrainingRun, _ step: StepRecord) throws
    func afterTraining(_ run: TrainingRun) throws
}

extension TrainingHook {
    public func beforeTraining(_ run: TrainingRun) throws {}
    public func afterStep(_ run: TrainingRun, _ step: StepRecord) throws {}
    public func afterTraining(_ run: TrainingRun) throws {}
}

/// What one iteration did, as hooks see it; `metrics` is its line of `metrics.jsonl`.
public struct StepRecord: Sendable {
    public var metrics: MetricsLine
    /// The sampler's state after the iteration's batch: what a checkpoint saves.
    public var samplerState: MultiDatasetSampler.State
    /// The run's last iteration.
    public var isLast: Bool
    public var iteration: Int { metrics.iteration }
}

/// One line of `metrics.jsonl` (Detectron2's key names).
public struct MetricsLine: Sendable {
    public var iteration: Int
    public var totalLoss: Double
    public var losses: [String: Double]
    public var lr: Double
    public var time: Double
    public var dataTime: Double
    /// Other counts of the line, e.g. `bad_samples/<dataset>` (skipped so far).
    public var counters: [String: Double] = [:]

    var json: [String: Any] {
        var o: [String: Any] = ["iteration": iteration, "total_loss": totalLoss, "lr": lr, "time": time, "data_time": dataTime]
        for (k, v) in losses { o[k] = v }
        for (k, v) in counters { o[k] = v }
        return o
    }
}
