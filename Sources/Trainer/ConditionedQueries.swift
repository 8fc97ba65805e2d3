import Autograd
import Core
import Datasets
import Losses
import Matching
import Models
import Targets

/// The extra queries a training batch feeds the decoder beside the learnable ones, each given
/// one target's region as its cross-attention mask and its class's text embedding as content
/// (`PilotedQueries`): MP-Former's piloted queries (`loss.mask_piloting`: the target's mask,
/// noised) or OpenSeeD's box-conditioned queries (`loss.box_conditioned_masks`: the target's box).
extension TrainStep {
    /// The batch's extra queries, the target index of each per image, and the suffix of their
    /// losses' names; nil when neither option applies to the batch's supervision. Per image and
    /// group a slot per chosen target (mask piloting: every segment, or the things with
    /// `piloting_things_only`; box conditioning: every box, or on mask data the thing segments,
    /// whose boxes are taken from their masks), as many slots as the most targets of an image
    /// in the whole batch, so every process builds the same shapes.
    func conditionedQueries(_ batch: TrainingBatch, stepSeed: UInt64) throws -> (queries: PilotedQueries, targets: [[Int]], suffix: String)? {
        let loss = criterion.config, targets = batch.targets
        let piloting = loss.maskPiloting && targets.supervision == .masks
        let boxed = loss.boxConditionedMasks && targets.supervision != .imageLabels
        guard piloting || boxed else { return nil }
        let space = labelSpace, part = space.datasets[batch.dataset], dim = space.embeddings.shape[1], rows = space.embeddings.data
        let thingsOnly = piloting ? loss.pilotingThingsOnly : targets.supervision == .masks
        let chosen = targets.images.map { image in image.classes.indices.filter { !thingsOnly || part.isThing[image.classes[$0]] } }
        var most = [Double(chosen.map(\.count).max() ?? 0)]
        communicator.allReduceMax(&most)
        let perGroup = Int(most[0]), b = targets.images.count
        guard perGroup > 0 else { return nil }
        let (h, w) = (batch.images.shape[2], batch.images.shape[3])
        var settings = PilotedQueries.Settings()
        if piloting {
            settings.groups = loss.pilotingGroups
            (settings.pointNoise, settings.shiftNoise, settings.scaleNoise) = (loss.pilotingPointNoise, loss.pilotingShiftNoise, loss.pilotingScaleNoise)
            settings.layers = loss.pilotingLayers
        }
        let labelNoise = piloting ? loss.pilotingLabelNoise : 0
        let p = settings.groups * perGroup
        var embeddings = [Float](repeating: 0, count: b * p * dim), masks: [[[UInt8]]] = [], seeds: [UInt64] = []
        for (i, image) in targets.images.enumerated() {
            let imageSeed = stepSeed ^ 0x5851_F42D_4C95_7F2D ^ (UInt64(batch.firstSlot + i) &* 0xBF58_476D_1CE4_E5B9)
            var rng = SeededRNG(seed: imageSeed)
            seeds.append(imageSeed)
            if let boxes = image.boxes {
                let stride = Float(M2FModel.maskStride)
                masks.append(chosen[i].map { t in
                    let (x0, y0, x1, y1) = boxes[t]
                    return Self.rectangle(rows: Self.span(y0 * stride, y1 * stride, limit: h), cols: Self.span(x0 * stride, x1 * stride, limit: w),
                                          height: h, width: w)
                })
            } else {
                guard let m = image.masks, m.rank == 3, m.shape[0] == image.classes.count, m.shape[1] == h, m.shape[2] == w else {
                    throw InputError("iteration \(batch.iteration), dataset \(part.name)", "\(piloting ? "mask piloting" : "box conditioning") needs target masks at the input's \(h)x\(w)")
                }
                let values = m.data
                masks.append(chosen[i].map { t in
                    let mask: [UInt8] = values[(t * h * w)..<((t + 1) * h * w)].map { $0 >= 0.5 ? 1 : 0 }
                    return piloting ? mask : Self.boundingRectangle(of: mask, height: h, width: w)
                })
            }
            for g in 0..<settings.groups {
                for (slot, t) in chosen[i].enumerated() {
                    let c = image.classes[t]
                    let shown = rng.nextUniform() < labelNoise ? rng.nextInt(below: part.classNames.count) : c
                    let column = part.columns[shown], row = (i * p + g * perGroup + slot) * dim
                    embeddings.replaceSubrange(row..<(row + dim), with: rows[(column * dim)..<((column + 1) * dim)])
                }
            }
        }
        let queries = PilotedQueries(settings: settings, perGroup: perGroup, segmentCounts: chosen.map(\.count),
                                     classEmbeddings: Tensor(shape: [b * p, dim], data: embeddings), masks: masks, height: h, width: w, seeds: seeds)
        return (queries, chosen, piloting ? "_piloted" : "_conditioned")
    }

    /// OpenSeeD's pseudo masks for box-only data: the final conditioned prediction's mask
    /// (logit > 0) inside its box becomes the target of the learnable query matched to that box
    /// in every prediction set, with the mask and dice losses on every pixel of the mask map
    /// (`loss_mask_pseudo`, `loss_dice_pseudo`). A box whose conditioned mask is empty gives none.
    func pseudoMaskLosses(_ predictions: [TransformerDecoder.Prediction], _ assignments: [[Assignment]],
                          conditioned: TransformerDecoder.Prediction, _ queries: PilotedQueries, _ chosen: [[Int]],
                          _ targets: BatchTargets, numMasks: Float) -> [(name: String, value: Tensor)] {
        let (b, p, h, w) = (conditioned.masks.shape[0], conditioned.masks.shape[1], conditioned.masks.shape[2], conditioned.masks.shape[3])
        let logits = conditioned.masks.data
        // Per image: target index -> its pseudo mask (0/1 over the h x w map).
        var pseudo = [[Int: [Float]]](repeating: [:], count: b)
        for i in 0..<b {
            guard let boxes = targets.images[i].boxes else { continue }
            for slot in 0..<p {
                guard let segment = queries.segment(image: i, slot: slot) else { continue }
                let t = chosen[i][segment], (x0, y0, x1, y1) = boxes[t]
                let ys = Self.span(y0, y1, limit: h), xs = Self.span(x0, x1, limit: w)
                var mask = [Float](repeating: 0, count: h * w), any = false
                for y in ys { for x in xs where logits[((i * p + slot) * h + y) * w + x] > 0 { mask[y * w + x] = 1; any = true } }
                if any { pseudo[i][t] = mask }
            }
        }
        var out: [(name: String, value: Tensor)] = []
        for (s, prediction) in predictions.enumerated() {
            let q = prediction.masks.shape[1]
            var rows: [Int] = [], values: [Float] = []
            for (i, a) in assignments[s].enumerated() {
                for (r, t) in zip(a.rows, a.cols) { if let mask = pseudo[i][t] { rows.append(i * q + r); values += mask } }
            }
            guard !rows.isEmpty else { continue }
            let predicted = prediction.masks.reshape([b * q, h * w]).indexSelect(axis: 0, rows)
            let target = Tensor(shape: [rows.count, h * w], data: values)
            out.append(("loss_mask_pseudo", MaskLosses.sigmoidBCE(predicted, target, numMasks: numMasks) * criterion.config.maskWeight))
            out.append(("loss_dice_pseudo", MaskLosses.dice(predicted, target, numMasks: numMasks) * criterion.config.diceWeight))
        }
        return out
    }

    /// The pixels `floor(from)..<ceil(to)` clipped to `0..<limit` (empty when they do not meet).
    static func span(_ from: Float, _ to: Float, limit: Int) -> Range<Int> {
        guard from.isFinite, to.isFinite else { return 0..<0 }
        let lo = min(limit, max(0, Int(from.rounded(.down)))), hi = min(limit, max(0, Int(to.rounded(.up))))
        return lo..<max(lo, hi)
    }

    /// A `height` x `width` map with 1 on `rows` x `cols` (clipped to the map).
    static func rectangle(rows: Range<Int>, cols: Range<Int>, height: Int, width: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: height * width)
        for y in max(0, rows.lowerBound)..<max(0, min(height, rows.upperBound)) {
            for x in max(0, cols.lowerBound)..<max(0, min(width, cols.upperBound)) { out[y * width + x] = 1 }
        }
        return out
    }

    /// The smallest rectangle holding the mask's pixels, filled (all 0 for an empty mask).
    static func boundingRectangle(of mask: [UInt8], height: Int, width: Int) -> [UInt8] {
        var (x0, y0, x1, y1) = (width, height, 0, 0)
        for y in 0..<height { for x in 0..<width where mask[y * width + x] != 0 { x0 = min(x0, x); x1 = max(x1, x + 1); y0 = min(y0, y); y1 = max(y1, y + 1) } }
        return rectangle(rows: y0..<max(y0, y1), cols: x0..<max(x0, x1), height: height, width: width)
    }
}
