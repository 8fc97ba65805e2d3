import Autograd
import Communication
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
///
/// Data-parallel (`communicator.size > 1`): each process has its slice of the global batch;
/// the losses are divided by the whole batch's counts (one small all-reduce) and the gradients
/// summed over the processes (one all-reduce of one buffer), so every process takes the same
/// AdamW step the single process would take on the whole batch. Every image draws its random
/// points from a generator of (seed, iteration, prediction set, its slot in the global batch).
public final class TrainStep {
    public let model: M2FModel
    public let labelSpace: UnifiedLabelSpace
    public let criterion: SetCriterion
    public let optimizer: AdamW
    public let solver: SolverConfig
    public let communicator: Communicator
    let seed: UInt64
    let parameters: [Tensor]
    /// Per dataset: its restricted logits' columns of held-out classes (`data.held_out_classes`),
    /// filled with a large negative value so that they take no part in matching or losses.
    let heldOutColumns: [BoolMask?]
    /// All gradients in one buffer for the all-reduce (and a flag per parameter: has one).
    private var gradientBuffer: [Float] = []
    /// Wall and process-CPU seconds of each phase of the last iteration (`bench step`).
    public private(set) var clock = PhaseClock()
    /// Record forward and backward time by op (`bench step --breakdown`).
    public var profileOps = false

    public init(model: M2FModel, labelSpace: UnifiedLabelSpace, loss: LossConfig, solver: SolverConfig, seed: UInt64,
                communicator: Communicator = SingleProcess(), heldOut: [Set<Int>] = []) {
        self.model = model
        self.communicator = communicator
        self.labelSpace = labelSpace
        self.solver = solver
        self.seed = seed
        var criterion = SetCriterion(config: loss, labelSpace: labelSpace)
        if model.config.decoupledQueries.count == 2 { criterion.thingQueries = model.config.decoupledQueries[0] }
        self.criterion = criterion
        optimizer = AdamW(groups: model.referenceParameterGroups(weightDecay: solver.weightDecay, backboneLRMultiplier: solver.backboneMultiplier),
                          learningRate: solver.baseLR, beta1: solver.betas[0], beta2: solver.betas[1])
        parameters = model.parameters
        heldOutColumns = labelSpace.datasets.indices.map { d in
            guard d < heldOut.count, !heldOut[d].isEmpty else { return nil }
            let k = labelSpace.datasets[d].classNames.count
            return BoolMask(shape: [1, 1, k + 1], values: (0...k).map { heldOut[d].contains($0) })
        }
    }

    /// What the forward half of an iteration found.
    public struct Output {
        /// The model's prediction sets (all unified classes and the background).
        public var predictions: [TransformerDecoder.Prediction]
        /// Each weighted loss summed over the prediction sets, by name.
        public var byName: [String: Double]
        /// This process's share of their sum: what `backward` differentiates.
        public var total: Tensor
        /// The whole batch's total loss (all processes' shares added).
        public var totalLoss: Double
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
        let stepSeed = seed &* 0x2545_F491_4F6C_DD1D &+ UInt64(batch.iteration)
        let conditioned = try conditionedQueries(batch, stepSeed: stepSeed), piloted = conditioned?.queries
        let (predictions, pilotedPredictions): ([TransformerDecoder.Prediction], [TransformerDecoder.Prediction])
        if attentionMasks == nil {
            (predictions, pilotedPredictions) = model.forward(batch.images, classEmbeddings: labelSpace.embeddings, piloted: piloted,
                                                              tasks: batch.targets.tasks.isEmpty ? nil : batch.targets.tasks.map(\.rawValue))
        } else {
            (predictions, pilotedPredictions) = (model(batch.images, classEmbeddings: labelSpace.embeddings, attentionMasks: attentionMasks), [])
        }
        OpProfile.phase = nil
        clock.lap(.forward)
        defer { OpProfile.phase = nil }
        let b = batch.images.shape[0], q = predictions[0].logits.shape[1]
        // The whole batch's counts: what every loss divides by.
        let local = LossNormalizers(batch.targets, queries: q)
        var counts = [Double(local.images), Double(batch.targets.images.reduce(0) { $0 + $1.classes.count }), Double(local.matched)]
        communicator.allReduceSum(&counts)
        let normalizers = LossNormalizers(images: Int(counts[0]), queries: q, targets: Float(max(1, counts[1])), matched: Int(counts[2]))
        var byName: [String: Double] = [:], names: [String] = [], total: Tensor? = nil
        var perSet: [(losses: [(name: String, value: Tensor)], assignments: [Assignment])] = []
        /// Each loss into its name's sum and into the total.
        func add(_ losses: [(name: String, value: Tensor)]) {
            for (name, value) in losses {
                if byName[name] == nil { names.append(name) }
                byName[name, default: 0] += Double(value.item)
                total = total.map { $0 + value } ?? value
            }
        }
        let targets = criterion.config.classAgnostic ? Self.entityTargets(batch.targets) : batch.targets
        // Every prediction set matched at once (all its images' problems in parallel), then the
        // losses set by set; set s's generators are its own, so the order changes no number.
        let sets = predictions.map { predictionSet($0, batch) }
        var rngs = sets.indices.map { s in
            (0..<b).map { i in
                SeededRNG(seed: stepSeed ^ (UInt64(s) &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(batch.firstSlot + i) &* 0xBF58_476D_1CE4_E5B9))
            }
        }
        do {
            // The matching runs on Dispatch's threads, outside the op tables (its time and cores
            // are the clock's `.matching` phase): the losses' profile starts after it.
            let assignments = targets.supervision == .imageLabels ? sets.map { _ in [] }
                : try withoutGrad { try criterion.match(sets, targets, rngs: &rngs) }
            clock.lap(.matching)
            if profileOps { OpProfile.phase = .losses }
            for (s, set) in sets.enumerated() {
                let losses = try criterion.losses(set, targets, assignments: assignments[s], normalizers: normalizers, rngs: &rngs[s])
                add(losses)
                perSet.append((losses, assignments[s]))
            }
            clock.lap(.losses)
        } catch let error as HungarianMatcher.MatchError {
            throw InputError("iteration \(batch.iteration), dataset \(labelSpace.datasets[batch.dataset].name)", "\(error)")
        }
        if criterion.config.contrastiveWeight > 0, let loss = contrastiveLoss(predictions.last!, batch, assignments: perSet.last!.assignments,
                                                                              images: normalizers.images) {
            add([("loss_contrastive", loss * criterion.config.contrastiveWeight)])
        }
        // Mask piloting or box conditioning: each such prediction set against its targets,
        // matched by construction; then box-only data's pseudo masks.
        if let (piloted, pilotedTargets, suffix) = conditioned {
            let groups = piloted.settings.groups
            var segments = [Double(pilotedTargets.reduce(0) { $0 + $1.count })]
            communicator.allReduceSum(&segments)
            let pilotedNormalizers = LossNormalizers(images: normalizers.images, queries: piloted.count,
                                                     targets: Float(groups) * Float(max(1, segments[0])), matched: groups * Int(segments[0]))
            let assignments = (0..<b).map { i in
                let slots = (0..<piloted.count).filter { piloted.segment(image: i, slot: $0) != nil }
                return Assignment(rows: slots, cols: slots.map { pilotedTargets[i][piloted.segment(image: i, slot: $0)!] }, totalCost: 0)
            }
            for (s, p) in pilotedPredictions.enumerated() {
                let set = predictionSet(p, batch)
                var rngs = (0..<b).map { i in
                    SeededRNG(seed: stepSeed ^ (UInt64(s + 1) &* 0xD1B5_4A32_D192_ED03) ^ (UInt64(batch.firstSlot + i) &* 0xBF58_476D_1CE4_E5B9))
                }
                let losses: [(name: String, value: Tensor)]
                do {
                    losses = try criterion.losses(set, targets, assignments: assignments, normalizers: pilotedNormalizers, rngs: &rngs)
                        .map { ($0.name + suffix, $0.value) }
                } catch let error as HungarianMatcher.MatchError {
                    throw InputError("iteration \(batch.iteration), dataset \(labelSpace.datasets[batch.dataset].name)", "\(error)")
                }
                add(losses)
            }
            if criterion.config.boxConditionedMasks, targets.supervision == .boxes, batch.iteration >= criterion.config.boxConditionedStart {
                add(pseudoMaskLosses(predictions, perSet.map(\.assignments), conditioned: pilotedPredictions.last!, piloted, pilotedTargets,
                                     targets, numMasks: normalizers.targets))
            }
            clock.lap(.losses)
        }
        // The whole batch's losses (the processes' shares add up), checked everywhere alike.
        var values = names.map { byName[$0]! } + [Double(total!.item)]
        communicator.allReduceSum(&values)
        let totalLoss = values.removeLast()
        for (name, value) in zip(names, values) {
            guard value.isFinite else {
                throw InputError("iteration \(batch.iteration), dataset \(labelSpace.datasets[batch.dataset].name)", "\(name) is \(Float(value)) — the run stops")
            }
            byName[name] = value
        }
        return Output(predictions: predictions, byName: byName, total: total!, totalLoss: totalLoss, perSet: perSet)
    }

    /// OneFormer's query-text contrastive loss of the final prediction set (`ContrastiveLoss`):
    /// each image of this process's share with a target, its matched queries against the text
    /// embeddings of its targets' classes, the share's other images the negatives, summed and
    /// divided by the whole batch's `images`. None with fewer than two such images.
    func contrastiveLoss(_ last: TransformerDecoder.Prediction, _ batch: TrainingBatch, assignments: [Assignment], images: Int) -> Tensor? {
        let targets = batch.targets
        guard targets.supervision != .imageLabels else { return nil }
        let used = assignments.indices.filter { !assignments[$0].rows.isEmpty }
        guard used.count >= 2 else { return nil }
        let (q, dim) = (last.embeddings.shape[1], last.embeddings.shape[2])
        let part = labelSpace.datasets[batch.dataset], rows = labelSpace.embeddings.data
        var flat: [Int] = [], imageOf: [Int] = [], texts = [Float](repeating: 0, count: used.count * dim)
        for (n, i) in used.enumerated() {
            for r in assignments[i].rows { flat.append(i * q + r); imageOf.append(n) }
            for c in targets.images[i].classes {
                let column = part.columns[c]
                let v = rows[(column * dim)..<((column + 1) * dim)], norm = max(1e-12, v.reduce(0) { $0 + $1 * $1 }.squareRoot())
                for (e, x) in v.enumerated() { texts[n * dim + e] += x / norm }
            }
        }
        let queries = last.embeddings.reshape([-1, dim]).indexSelect(axis: 0, flat)
        return ContrastiveLoss.loss(queries: queries, imageOf: imageOf, texts: Tensor(shape: [used.count, dim], data: texts),
                                    temperature: criterion.config.temperature, divisor: Float(max(1, images)))
    }

    /// A prediction set as the batch's losses see it: the logits restricted to its dataset's
    /// columns (held-out classes filled out), or with `loss.class_agnostic` on a batch with
    /// masks or boxes, pooled into `[entity, background]` (`entityLogits`; no ScaleDet losses).
    func predictionSet(_ p: TransformerDecoder.Prediction, _ batch: TrainingBatch) -> PredictionSet {
        var logits = labelSpace.restrict(p.logits, to: batch.dataset)
        if let blocked = heldOutColumns[batch.dataset] { logits = logits.maskedFill(blocked, -1e4) }
        guard criterion.config.classAgnostic, batch.targets.supervision != .imageLabels else {
            return PredictionSet(logits: logits, masks: p.masks, unifiedCosines: p.cosines)
        }
        return PredictionSet(logits: Self.entityLogits(logits), masks: p.masks)
    }

    /// `[..., K + 1]` logits (background last) → `[..., 2]`: the log-sum-exp of the K foreground
    /// logits (the log of their softmax mass, up to the shared normaliser) and the background's,
    /// so a softmax over the two gives P(some class) and P(background) exactly.
    static func entityLogits(_ logits: Tensor) -> Tensor {
        let k = logits.shape[logits.rank - 1] - 1
        return Tensor.concat([logits.slice(axis: -1, 0..<k).logSumExp(axis: -1), logits.slice(axis: -1, k..<(k + 1))], axis: -1)
    }

    /// Every target of class 0, the one entity class (`loss.class_agnostic`; image labels as they are).
    static func entityTargets(_ targets: BatchTargets) -> BatchTargets {
        guard targets.supervision != .imageLabels else { return targets }
        var out = targets
        for i in out.images.indices { out.images[i].classes = out.images[i].classes.map { _ in 0 } }
        return out
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
        if communicator.size > 1 { allReduceGradients() }
        clock.lap(.backward)
        if solver.clipNorm > 0 { clipGradNorm(parameters, maxNorm: solver.clipNorm) }
        let lr = solver.learningRate(at: iteration)
        optimizer.learningRate = lr
        optimizer.step()
        clock.lap(.optimizer)
        return lr
    }
}

extension TrainStep {
    /// Sums every parameter's gradient over the processes, through one contiguous buffer (one
    /// all-reduce per step). A parameter without a gradient here gets the others' sum, if any.
    func allReduceGradients() {
        let flags = parameters.reduce(0) { $0 + $1.count }
        if gradientBuffer.count != flags + parameters.count { gradientBuffer = [Float](repeating: 0, count: flags + parameters.count) }
        gradientBuffer.withUnsafeMutableBufferPointer { buffer in
            var at = 0
            for (i, p) in parameters.enumerated() {
                let slot = buffer.baseAddress! + at
                if let g = p.grad { g.withUnsafeBufferPointer { slot.update(from: $0.baseAddress!, count: p.count) } } else { slot.update(repeating: 0, count: p.count) }
                buffer[flags + i] = p.grad == nil ? 0 : 1
                at += p.count
            }
        }
        communicator.allReduceSum(&gradientBuffer)
        gradientBuffer.withUnsafeBufferPointer { buffer in
            var at = 0
            for (i, p) in parameters.enumerated() {
                if buffer[flags + i] > 0 {
                    if p.grad == nil { p.grad = [Float](repeating: 0, count: p.count) }
                    p.grad!.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: buffer.baseAddress! + at, count: p.count) }
                }
                at += p.count
            }
        }
    }
}

/// Wall and process-CPU time by phase of a training iteration: CPU / wall = cores kept busy.
/// The CPU time leaves out the worker pool's polling between regions (`Parallel.spinSeconds`),
/// which the OS counts as busy; a spin that spans a lap is counted when it ends.
public struct PhaseClock {
    public enum Phase: Int, CaseIterable { case forward, matching, losses, backward, optimizer }
    public private(set) var wall = [Double](repeating: 0, count: Phase.allCases.count)
    public private(set) var cpu = [Double](repeating: 0, count: Phase.allCases.count)
    private var lastWall: UInt64 = 0, lastCPU = 0.0

    public init() {}

    public mutating func start() {
        wall = wall.map { _ in 0 }
        cpu = cpu.map { _ in 0 }
        lap(nil)
    }

    /// Adds the time since the last lap to `phase` (nil: to none).
    public mutating func lap(_ phase: Phase?) {
        let w = DispatchTime.now().uptimeNanoseconds
        let c = Parallel.workSeconds
        if let phase {
            wall[phase.rawValue] += Double(w - lastWall) / 1e9
            cpu[phase.rawValue] += c - lastCPU
        }
        (lastWall, lastCPU) = (w, c)
    }
}
