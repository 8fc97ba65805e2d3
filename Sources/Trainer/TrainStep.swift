import Autograd
import Core
import Datasets
import Dispatch
import Losses
import Matching
import Models
import Targets
#if canImport(Glibc)
import Glibc
#endif

/// One training iteration, the same for training, `bench step` and `train forward`:
/// batch → model → the batch's dataset's columns of the unified classifier → per prediction
/// set: match, then the dataset's losses → sum → backward → clip → schedule → AdamW.
public final class TrainStep {
    public let model: M2FModel
    public let labelSpace: UnifiedLabelSpace
    public let criterion: SetCriterion
    public let optimizer: AdamW
    public let solver: SolverConfig
    let seed: UInt64
    let parameters: [Tensor]
    /// Wall and process-CPU seconds of each phase of the last iteration (`bench step`).
    public private(set) var clock = PhaseClock()
    /// Record forward and backward time by op (`bench step --breakdown`).
    public var profileOps = false

    public init(model: M2FModel, labelSpace: UnifiedLabelSpace, loss: LossConfig, solver: SolverConfig, seed: UInt64) {
        self.model = model
        self.labelSpace = labelSpace
        self.solver = solver
        self.seed = seed
        criterion = SetCriterion(config: loss, labelSpace: labelSpace)
        optimizer = AdamW(groups: model.referenceParameterGroups(weightDecay: solver.weightDecay, backboneLRMultiplier: solver.backboneMultiplier),
                          learningRate: solver.baseLR, beta1: solver.betas[0], beta2: solver.betas[1])
        parameters = model.parameters
    }

    /// What the forward half of an iteration found.
    public struct Output {
        /// The model's prediction sets (all unified classes and the background).
        public var predictions: [TransformerDecoder.Prediction]
        /// Each weighted loss summed over the prediction sets, by name.
        public var byName: [String: Double]
        /// Their sum: what `backward` differentiates.
        public var total: Tensor
        /// Per prediction set: its losses and its assignments (one per image; none for image labels).
        public var perSet: [(losses: [(name: String, value: Tensor)], assignments: [Assignment])]
    }

    /// A whole iteration; returns what the forward half found and the learning rate used.
    @discardableResult
    public func callAsFunction(_ batch: TrainingBatch) throws -> (output: Output, learningRate: Float) {
        let output = try forwardAndLosses(batch)
        return (output, update(output.total, iteration: batch.iteration))
    }

    /// Forward, matching and losses of `batch` (with the decoder's attention masks given, for
    /// parity checks). A non-finite loss is an error naming the iteration, the term and the dataset.
    public func forwardAndLosses(_ batch: TrainingBatch, attentionMasks: [BoolMask]? = nil) throws -> Output {
        clock.start()
        if profileOps { OpProfile.phase = .forward }
        let predictions = model(batch.images, classEmbeddings: labelSpace.embeddings, attentionMasks: attentionMasks)
        OpProfile.phase = nil
        clock.lap(.forward)
        let targets = batch.targets
        var rng = SeededRNG(seed: seed &* 0x2545_F491_4F6C_DD1D &+ UInt64(batch.iteration))
        var byName: [String: Double] = [:], total: Tensor? = nil
        var perSet: [(losses: [(name: String, value: Tensor)], assignments: [Assignment])] = []
        for p in predictions {
            let set = PredictionSet(logits: labelSpace.restrict(p.logits, to: batch.dataset), masks: p.masks, unifiedCosines: p.cosines)
            let assignments: [Assignment], losses: [(name: String, value: Tensor)]
            do {
                assignments = targets.supervision == .imageLabels ? [] : try withoutGrad { try criterion.match(set, targets, rng: &rng) }
                clock.lap(.matching)
                losses = try criterion.losses(set, targets, assignments: assignments, numMasks: targets.targetCount, rng: &rng)
                clock.lap(.losses)
            } catch let error as HungarianMatcher.MatchError {
                throw InputError("iteration \(batch.iteration), dataset \(labelSpace.datasets[batch.dataset].name)", "\(error)")
            }
            for (name, value) in losses {
                guard value.item.isFinite else {
                    throw InputError("iteration \(batch.iteration), dataset \(labelSpace.datasets[batch.dataset].name)",
                                     "\(name) is \(value.item) — the run stops")
                }
                byName[name, default: 0] += Double(value.item)
                total = total.map { $0 + value } ?? value
            }
            perSet.append((losses, assignments))
        }
        return Output(predictions: predictions, byName: byName, total: total!, perSet: perSet)
    }

    /// Backward from `total`, clipping, the learning rate of `iteration`, the optimiser step.
    /// Returns the learning rate.
    @discardableResult
    public func update(_ total: Tensor, iteration: Int) -> Float {
        clock.lap(nil)
        optimizer.zeroGrad()
        if profileOps { OpProfile.phase = .backward }
        total.backward()
        OpProfile.phase = nil
        clock.lap(.backward)
        if solver.clipNorm > 0 { clipGradNorm(parameters, maxNorm: solver.clipNorm) }
        let lr = solver.learningRate(at: iteration)
        optimizer.learningRate = lr
        optimizer.step()
        clock.lap(.optimizer)
        return lr
    }
}

/// Wall and process-CPU time by phase of a training iteration: CPU / wall = cores kept busy.
public struct PhaseClock {
    public enum Phase: Int, CaseIterable { case forward, matching, losses, backward, optimizer }
    public private(set) var wall = [Double](repeating: 0, count: Phase.allCases.count)
    public private(set) var cpu = [Double](repeating: 0, count: Phase.allCases.count)
    private var lastWall: UInt64 = 0, lastCPU: UInt64 = 0

    public init() {}

    mutating func start() {
        wall = wall.map { _ in 0 }
        cpu = cpu.map { _ in 0 }
        lap(nil)
    }

    /// Adds the time since the last lap to `phase` (nil: to none).
    mutating func lap(_ phase: Phase?) {
        let w = DispatchTime.now().uptimeNanoseconds
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        let c = UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
        if let phase {
            wall[phase.rawValue] += Double(w - lastWall) / 1e9
            cpu[phase.rawValue] += Double(c - lastCPU) / 1e9
        }
        (lastWall, lastCPU) = (w, c)
    }
}
