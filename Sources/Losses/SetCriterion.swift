import Autograd
import Core
import Matching
import Targets

/// Loss weights and options: the `loss` section of a training config (snake-case keys; a key
/// left out keeps its default).
public struct LossConfig: Equatable, Codable, Sendable {
    public var classWeight: Float = 2
    public var maskWeight: Float = 5
    public var diceWeight: Float = 5
    public var noObjectWeight: Float = 0.1
    /// Weight of the box projection loss (and of the projection term in box matching).
    public var boxProjectionWeight: Float = 5
    public var imageLabelWeight: Float = 0.1
    public var imageLabelRule: ImageLabelLoss.Rule = .maxSize
    /// ScaleDet losses over the unified label space; 0 turns one off.
    public var scaleDetHardWeight: Float = 0
    public var scaleDetSoftWeight: Float = 0
    /// Temperature of the classifier's cosine logits (for the hard label loss).
    public var temperature: Float = 0.07
    /// Points per mask for the losses and for matching.
    public var points: Int = 12544
    public var oversampleRatio: Int = 3
    public var importanceSampleRatio: Float = 0.75
    /// Match and compute the mask losses on every pixel centre of the predicted mask map instead
    /// of sampled points (the parity fixtures' "dense" loss; exact, but slower).
    public var densePoints: Bool = false
    /// Sigmoid focal loss instead of BCE for the mask term.
    public var useFocal: Bool = false
    public var focalAlpha: Float = 0.25
    public var focalGamma: Float = 2
    /// MP-Former's mask-piloted training for batches with masks (`PilotedQueries`): groups of
    /// piloted queries per image, the noise of their ground-truth attention masks (point,
    /// shift, scale), the share of their classes replaced by a random class of the dataset,
    /// and the decoder layers piloted (empty: all). Defaults as MP-Former's published run: one
    /// group, no mask noise, label noise 0.2, every layer.
    public var maskPiloting: Bool = false
    public var pilotingGroups: Int = 1
    public var pilotingPointNoise: Float = 0
    public var pilotingShiftNoise: Float = 0
    public var pilotingScaleNoise: Float = 0
    public var pilotingLabelNoise: Float = 0.2
    public var pilotingLayers: [Int] = []
    /// Pilot the thing segments only (stuff segments train the learnable queries alone).
    public var pilotingThingsOnly: Bool = false
    /// Entity segmentation's class-agnostic training: on batches with masks or boxes the
    /// classifier's foreground columns are pooled into one "entity" logit (their log-sum-exp)
    /// against the background, so matching and the class loss ask only "object or not" and the
    /// masks are trained without naming. Evaluation then scores a query by its whole foreground
    /// probability (`InferenceOptions.objectness`). Image-label batches train as before.
    public var classAgnostic: Bool = false
    /// OneFormer's query-text contrastive loss (`ContrastiveLoss`) on the final prediction set
    /// of batches with masks or boxes; 0 turns it off (OneFormer uses 0.5).
    public var contrastiveWeight: Float = 0
    /// OpenSeeD's conditioned mask decoding (`ConditionedQueries.swift`): beside the learnable
    /// queries, one query per target box (its class's text embedding, cross-attention limited to
    /// the box), trained on mask data (thing segments' boxes against their masks) and on box
    /// data (the box projection loss); from iteration `box_conditioned_start` on, its mask
    /// inside the box becomes the pseudo mask target of the learnable query matched to the box.
    public var boxConditionedMasks: Bool = false
    public var boxConditionedStart: Int = 500

    public init() {}

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case classWeight = "class_weight", maskWeight = "mask_weight", diceWeight = "dice_weight", noObjectWeight = "no_object_weight"
        case boxProjectionWeight = "box_projection_weight", imageLabelWeight = "image_label_weight", imageLabelRule = "image_label_rule"
        case scaleDetHardWeight = "scaledet_hard_weight", scaleDetSoftWeight = "scaledet_soft_weight", temperature, points
        case oversampleRatio = "oversample_ratio", importanceSampleRatio = "importance_sample_ratio", densePoints = "dense_points"
        case useFocal = "focal", focalAlpha = "focal_alpha", focalGamma = "focal_gamma"
        case maskPiloting = "mask_piloting", pilotingGroups = "piloting_groups", pilotingPointNoise = "piloting_point_noise"
        case pilotingShiftNoise = "piloting_shift_noise", pilotingScaleNoise = "piloting_scale_noise"
        case pilotingLabelNoise = "piloting_label_noise", pilotingLayers = "piloting_layers", pilotingThingsOnly = "piloting_things_only"
        case classAgnostic = "class_agnostic", contrastiveWeight = "contrastive_weight"
        case boxConditionedMasks = "box_conditioned_masks", boxConditionedStart = "box_conditioned_start"
    }
}

/// One prediction set of a batch (Mask2Former predicts one per decoder layer plus one before).
public struct PredictionSet {
    /// `[B, Q, K+1]`: the dataset's K classes and the no-object (background) class last.
    public var logits: Tensor
    /// `[B, Q, H, W]` mask logits (stride 4).
    public var masks: Tensor
    /// `[B, Q, U]` cosine similarities of each query to every class of the unified label
    /// space (for the ScaleDet losses), when the model provides them.
    public var unifiedCosines: Tensor?

    public init(logits: Tensor, masks: Tensor, unifiedCosines: Tensor? = nil) {
        self.logits = logits
        self.masks = masks
        self.unifiedCosines = unifiedCosines
    }
}

/// The batch-wide counts the losses divide by (Mask2Former's `num_masks` and the like). In a
/// data-parallel run they are the whole global batch's, so that the processes' losses add up
/// to the loss one process would compute on the whole batch.
public struct LossNormalizers: Equatable, Sendable {
    /// Images in the batch (the image-label loss's divisor).
    public var images: Int
    /// Queries per image.
    public var queries: Int
    /// Target masks or boxes in the batch, at least 1 (the mask and dice losses' divisor).
    public var targets: Float
    /// Matched queries of a prediction set, Σ min(Q, T_i) (box projection and ScaleDet divisor).
    public var matched: Int

    public init(images: Int, queries: Int, targets: Float, matched: Int) {
        (self.images, self.queries, self.targets, self.matched) = (images, queries, targets, matched)
    }

    /// The counts of `targets` alone (one process, or one process's share before an all-reduce).
    public init(_ targets: BatchTargets, queries: Int) {
        let images = targets.supervision == .imageLabels ? targets.imageLabels.count : targets.images.count
        self.init(images: images, queries: queries, targets: targets.targetCount,
                  matched: targets.images.reduce(0) { $0 + min(queries, $1.classes.count) })
    }

    /// The sum of the classification weights over every query of the batch: matched queries 1,
    /// the others `noObjectWeight` (the divisor of PyTorch's weighted cross-entropy).
    public func classWeightSum(noObjectWeight: Float) -> Float {
        Float(matched) + Float(images * queries - matched) * noObjectWeight
    }
}

/// Matching plus every loss that applies to a batch's supervision, for one prediction set.
/// Loss names follow Mask2Former / Detectron2 (`loss_ce`, `loss_mask`, `loss_dice`, ...), each
/// already multiplied by its weight.
public struct SetCriterion {
    public var config: LossConfig
    /// The classes of every dataset (for the ScaleDet losses: offsets and label similarity).
    public var labelSpace: UnifiedLabelSpace?
    /// OpenSeeD's decoupled queries (`model.decoupled_queries`): queries `0..<thingQueries`
    /// are matched only to thing targets, the rest only to stuff targets (the label space's
    /// thing flags). nil: any query to any target.
    public var thingQueries: Int? = nil

    public init(config: LossConfig, labelSpace: UnifiedLabelSpace? = nil) {
        self.config = config
        self.labelSpace = labelSpace
    }

    /// The matcher for predicted masks of `height` x `width`.
    public func matcher(height: Int, width: Int) -> HungarianMatcher {
        HungarianMatcher(classWeight: config.classWeight, maskWeight: config.maskWeight, diceWeight: config.diceWeight,
                         points: config.points,
                         fixedGrid: config.densePoints ? HungarianMatcher.pixelCentres(height: height, width: width) : nil)
    }

    /// One generator per image, split off `rng` in image order.
    public static func imageGenerators(_ count: Int, from rng: inout SeededRNG) -> [SeededRNG] {
        (0..<count).map { _ in SeededRNG(seed: rng.next()) }
    }

    /// The matched (query, target) pairs of each image, queries ascending. No gradient.
    public func match(_ set: PredictionSet, _ targets: BatchTargets, rng: inout SeededRNG) throws -> [Assignment] {
        var rngs = Self.imageGenerators(set.logits.shape[0], from: &rng)
        return try match(set, targets, rngs: &rngs)
    }

    /// The same with one generator per image (`rngs[i]` draws image i's random points), so that
    /// an image's matching does not depend on the other images of its batch or process.
    public func match(_ set: PredictionSet, _ targets: BatchTargets, rngs: inout [SeededRNG]) throws -> [Assignment] {
        var perSet = [rngs]
        defer { rngs = perSet[0] }
        return try match([set], targets, rngs: &perSet)[0]
    }

    /// Several prediction sets of one batch (the decoder's layers) matched at once, `rngs[s][i]`
    /// drawing set s's points of image i: the random points first, set by set, then every
    /// (set, image) problem in parallel — 14 for m2f-tiny's 7 sets of 2 images, where one set at
    /// a time would keep at most 2 cores busy.
    public func match(_ sets: [PredictionSet], _ targets: BatchTargets, rngs: inout [[SeededRNG]]) throws -> [[Assignment]] {
        guard rngs.count == sets.count else {
            throw HungarianMatcher.MatchError.badTargets("\(rngs.count) generator sets for \(sets.count) prediction sets")
        }
        var kinds: [Bool]? = nil
        if thingQueries != nil {
            guard let space = labelSpace, targets.dataset < space.datasets.count else {
                throw HungarianMatcher.MatchError.badTargets("decoupled queries need the label space's thing flags")
            }
            kinds = space.datasets[targets.dataset].isThing
        }
        var matchers: [HungarianMatcher] = [], points: [[[Float]?]] = [], problems: [(set: Int, image: Int)] = []
        for (s, set) in sets.enumerated() {
            let b = set.logits.shape[0]
            guard targets.images.count == b, rngs[s].count == b else {
                throw HungarianMatcher.MatchError.badTargets("\(targets.images.count) target sets and \(rngs[s].count) generators for a batch of \(b)")
            }
            var m = matcher(height: set.masks.shape[2], width: set.masks.shape[3])
            if targets.supervision == .boxes { m.maskWeight = config.boxProjectionWeight }
            points.append((0..<b).map { m.randomPoints(for: targets.images[$0], rng: &rngs[s][$0]) })
            matchers.append(m)
            problems += (0..<b).map { (s, $0) }
        }
        let thingQueries = self.thingQueries, (matcherList, pointList) = (matchers, points)
        let flat = try Parallel.map(problems.count) { q in
            let (s, i) = problems[q]
            return try matcherList[s].match(logits: sets[s].logits, masks: sets[s].masks, targets: targets.images[i], image: i,
                                            points: pointList[s][i],
                                            decoupled: thingQueries.map { ($0, targets.images[i].classes.map { kinds![$0] }) })
        }
        var out: [[Assignment]] = [], next = 0
        for set in sets {
            out.append(Array(flat[next..<(next + set.logits.shape[0])]))
            next += set.logits.shape[0]
        }
        return out
    }

    /// The weighted losses of one prediction set, by name; `numMasks` is the batch's target
    /// count (the same for every prediction set). Image generators are split off `rng`; the
    /// assignments are made here unless given.
    public func losses(_ set: PredictionSet, _ targets: BatchTargets, assignments given: [Assignment]? = nil, numMasks: Float,
                       rng: inout SeededRNG) throws -> [(name: String, value: Tensor)] {
        var rngs = Self.imageGenerators(set.logits.shape[0], from: &rng)
        var normalizers = LossNormalizers(targets, queries: set.logits.shape[1])
        normalizers.targets = numMasks
        let assignments = try given ?? (targets.supervision == .imageLabels ? [] : match(set, targets, rngs: &rngs))
        return try losses(set, targets, assignments: assignments, normalizers: normalizers, rngs: &rngs)
    }

    /// The weighted losses of one prediction set with its `assignments` (from `match`), each
    /// divided by `normalizers` (the whole batch's counts), random points from the images'
    /// generators (`rngs[i]` for the matched masks of image i).
    public func losses(_ set: PredictionSet, _ targets: BatchTargets, assignments: [Assignment], normalizers: LossNormalizers,
                       rngs: inout [SeededRNG]) throws -> [(name: String, value: Tensor)] {
        let (b, q, k1) = (set.logits.shape[0], set.logits.shape[1], set.logits.shape[2])
        let (h, w) = (set.masks.shape[2], set.masks.shape[3])
        if targets.supervision == .imageLabels {
            let classLogits = set.logits.slice(axis: 2, 0..<(k1 - 1))
            let loss = ImageLabelLoss.loss(classLogits: classLogits, maskLogits: set.masks,
                                           labels: targets.imageLabels, rule: config.imageLabelRule, images: Float(normalizers.images))
            return [("loss_image_label", loss * config.imageLabelWeight)]
        }
        guard targets.images.count == b, assignments.count == b, rngs.count == b else {
            throw HungarianMatcher.MatchError.badTargets("\(targets.images.count) target sets, \(assignments.count) assignments and \(rngs.count) generators for a batch of \(b)")
        }
        let numMasks = normalizers.targets

        // Classification over every query: matched ones their class, the rest no-object.
        var classTargets = [Int](repeating: k1 - 1, count: b * q)
        var flatQueries: [Int] = [], matchedClasses: [Int] = []
        for (i, a) in assignments.enumerated() {
            for (query, target) in zip(a.rows, a.cols) {
                classTargets[i * q + query] = targets.images[i].classes[target]
                flatQueries.append(i * q + query)
                matchedClasses.append(targets.images[i].classes[target])
            }
        }
        var out: [(name: String, value: Tensor)] = []
        let ce = ClassificationLoss.crossEntropy(set.logits.reshape([b * q, k1]), targets: classTargets,
                                                 noObjectWeight: config.noObjectWeight,
                                                 // The batch alone: its weights summed as PyTorch sums them.
                                                 weightSum: normalizers.images == b ? nil : normalizers.classWeightSum(noObjectWeight: config.noObjectWeight))
        out.append(("loss_ce", ce * config.classWeight))

        let matchedMasks = set.masks.reshape([b * q, h, w]).indexSelect(axis: 0, flatQueries)
        switch targets.supervision {
        case .masks:
            let p = config.densePoints ? h * w : config.points
            let coords = config.densePoints
                ? Array(repeating: HungarianMatcher.pixelCentres(height: h, width: w).map { ($0 + 1) / 2 }, count: matchedMasks.shape[0]).flatMap { $0 }
                : PointSampling.importance(logits: matchedMasks, count: p, oversample: config.oversampleRatio,
                                           importance: config.importanceSampleRatio,
                                           seeds: assignments.indices.flatMap { i in assignments[i].cols.map { _ in rngs[i].next() } })
            let predPoints = PointSampling.sample(matchedMasks, at: coords, count: p)
            let targetPoints = try sampleTargets(assignments, targets, at: coords, count: p)
            let maskLoss = config.useFocal
                ? MaskLosses.sigmoidFocal(predPoints, targetPoints, numMasks: numMasks, alpha: config.focalAlpha, gamma: config.focalGamma)
                : MaskLosses.sigmoidBCE(predPoints, targetPoints, numMasks: numMasks)
            out.append(("loss_mask", maskLoss * config.maskWeight))
            out.append(("loss_dice", MaskLosses.dice(predPoints, targetPoints, numMasks: numMasks) * config.diceWeight))
        case .boxes:
            var boxes: [(Float, Float, Float, Float)] = []
            for (i, a) in assignments.enumerated() { for t in a.cols { boxes.append(targets.images[i].boxes![t]) } }
            out.append(("loss_box_proj", BoxProjectionLoss.loss(matchedMasks, boxes: boxes, count: Float(normalizers.matched)) * config.boxProjectionWeight))
        case .imageLabels:
            break
        }

        if let cosines = set.unifiedCosines, config.scaleDetHardWeight > 0 || config.scaleDetSoftWeight > 0 {
            let u = cosines.shape[2]
            let matched = cosines.reshape([b * q, u]).indexSelect(axis: 0, flatQueries)
            guard let space = labelSpace, targets.dataset < space.datasets.count, space.count == u else {
                throw HungarianMatcher.MatchError.badTargets("the ScaleDet losses need the unified label space of the \(u) classes the model scored")
            }
            let unified = matchedClasses.map { space.datasets[targets.dataset].columns[$0] }
            if config.scaleDetHardWeight > 0 {
                out.append(("loss_scaledet_hard", LabelSpaceLosses.hard(matched / config.temperature, targets: unified,
                                                                        count: Float(normalizers.matched)) * config.scaleDetHardWeight))
            }
            if config.scaleDetSoftWeight > 0 {
                out.append(("loss_scaledet_soft", LabelSpaceLosses.soft(matched, targets: unified, similarity: space.similarity,
                                                                        count: Float(normalizers.matched)) * config.scaleDetSoftWeight))
            }
        }
        return out
    }

    /// The matched target masks of the batch at the points `coords` (`[M, count, 2]`, unit
    /// square, in the order of the matched queries): `[M, count]`, no gradient. Each target is
    /// sampled from its crop (`ImageTargets.maskCrops`: the same values as the whole mask, read
    /// from a few kilobytes instead of the full-resolution map).
    func sampleTargets(_ assignments: [Assignment], _ targets: BatchTargets, at coords: [Float], count: Int) throws -> Tensor {
        var rows: [(crop: MaskCrop, height: Int, width: Int)] = []
        for (i, a) in assignments.enumerated() where !a.cols.isEmpty {
            guard let masks = targets.images[i].masks else {
                throw HungarianMatcher.MatchError.badTargets("image \(i) has no target masks")
            }
            guard masks.rank == 3 else {
                throw HungarianMatcher.MatchError.badTargets("image \(i): target masks \(masks.shape) are not [T, H, W]")
            }
            for t in a.cols { rows.append((targets.images[i].maskCrops[t], masks.shape[1], masks.shape[2])) }
        }
        guard coords.count == rows.count * count * 2 else {
            throw HungarianMatcher.MatchError.badTargets("\(coords.count / 2) points for \(rows.count) matched targets of \(count)")
        }
        let values = [Float](unsafeUninitializedCapacity: rows.count * count) { out, initialized in
            coords.withUnsafeBufferPointer { cp in
                Parallel.forRanges(rows.count, costPerElement: count * 16) { range in
                    for r in range {
                        let (crop, h, w) = rows[r]
                        crop.values.withUnsafeBufferPointer {
                            Tensor.sampleWindow($0, origin: (crop.cols.lowerBound - MaskCrop.border, crop.rows.lowerBound - MaskCrop.border),
                                                windowWidth: crop.windowWidth, height: h, width: w, points: cp.baseAddress! + r * count * 2,
                                                count: count, zeroRing: true, into: out.baseAddress! + r * count)
                        }
                    }
                }
            }
            initialized = rows.count * count
        }
        return Tensor(shape: [rows.count, count], data: values)
    }
}
