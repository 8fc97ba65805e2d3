import Autograd
import Core

/// MP-Former's mask-piloted training (Zhang et al., CVPR 2023): besides the learnable queries,
/// the decoder gets *piloted* queries, one per ground-truth segment and group, made from the
/// segment's class (its text embedding through the classifier's projection, transposed) and
/// given the (noised) ground-truth mask as their cross-attention mask at every piloted layer.
/// They are matched to their segment by construction and trained with the same losses; in
/// self-attention they see only their own group, and the learnable queries do not see them,
/// so the learnable queries' outputs are what they would be without them. Inference is
/// unchanged (no piloted queries).
public struct PilotedQueries {
    /// The noise and layer settings (`loss.piloting_*` keys).
    public struct Settings: Equatable, Sendable {
        public var groups = 1
        /// Point noise: each cell of a level's mask flips with probability `pointNoise` x the
        /// mask's share of the cells (MP-Former's point noise).
        public var pointNoise: Float = 0
        /// Shift noise: the mask moves by up to this share of its box's size in x and y.
        public var shiftNoise: Float = 0
        /// Scale noise: the mask scales about its box's centre by a factor in 1 ± this.
        public var scaleNoise: Float = 0
        /// Decoder layers (0-based) whose piloted queries attend through the ground-truth mask;
        /// the others attend through their own predicted masks. Empty: every layer.
        public var layers: [Int] = []
        public init() {}
    }

    public let settings: Settings
    /// Slots per group: the most segments of an image in the (global) batch.
    public let perGroup: Int
    /// Segments per image.
    public let segmentCounts: [Int]
    /// `[B * P, D]` each slot's class text embedding (zero rows for empty slots).
    public let classEmbeddings: Tensor
    /// Per image, per segment: its mask at the input's resolution (`height` x `width`, 0/1).
    public let masks: [[[UInt8]]]
    public let height: Int, width: Int
    /// Per image: the seed of its noise.
    public let seeds: [UInt64]

    public init(settings: Settings, perGroup: Int, segmentCounts: [Int], classEmbeddings: Tensor, masks: [[[UInt8]]],
                height: Int, width: Int, seeds: [UInt64]) {
        precondition(settings.groups >= 1 && perGroup >= 1, "PilotedQueries: at least one group and one slot")
        precondition(segmentCounts.allSatisfy { $0 <= perGroup } && masks.map(\.count) == segmentCounts && seeds.count == segmentCounts.count,
                     "PilotedQueries: segment counts, masks and seeds disagree")
        precondition(classEmbeddings.rank == 2 && classEmbeddings.shape[0] == segmentCounts.count * settings.groups * perGroup,
                     "PilotedQueries: \(classEmbeddings.shape) class embeddings for \(segmentCounts.count) images of \(settings.groups * perGroup) slots")
        (self.settings, self.perGroup, self.segmentCounts, self.classEmbeddings) = (settings, perGroup, segmentCounts, classEmbeddings)
        (self.masks, self.height, self.width, self.seeds) = (masks, height, width, seeds)
    }

    /// P, the piloted queries per image.
    public var count: Int { settings.groups * perGroup }

    /// Whether slot `s` of image `i` holds a segment, and which.
    public func segment(image i: Int, slot s: Int) -> Int? {
        let t = s % perGroup
        return t < segmentCounts[i] ? t : nil
    }

    public func isPiloted(layer: Int) -> Bool { settings.layers.isEmpty || settings.layers.contains(layer) }

    /// Self-attention over the `queries` learnable queries followed by the P piloted ones,
    /// `[B, Q + P, Q + P]`, true = may not attend: learnable and piloted queries do not see each
    /// other, a piloted query sees only its own group's segments; an empty slot sees only itself.
    public func selfAttentionBlocked(queries q: Int) -> BoolMask {
        let b = segmentCounts.count, p = count, n = q + p
        var values = [Bool](repeating: false, count: b * n * n)
        for i in 0..<b {
            for r in 0..<n {
                for c in 0..<n {
                    let blocked: Bool
                    switch (r < q, c < q) {
                    case (true, true): blocked = false
                    case (true, false), (false, true): blocked = true
                    case (false, false):
                        let (sr, sc) = (r - q, c - q)
                        if segment(image: i, slot: sr) == nil { blocked = sr != sc }
                        else { blocked = sr / perGroup != sc / perGroup || segment(image: i, slot: sc) == nil }
                    }
                    values[(i * n + r) * n + c] = blocked
                }
            }
        }
        return BoolMask(shape: [b, n, n], values: values)
    }

    /// The piloted queries' cross-attention mask on a `h` x `w` level, `[B, P, h * w]`, true =
    /// may not attend: a cell is open where the (shifted, scaled) segment covers any of its
    /// pixels, then point noise flips cells. Empty slots, and masks left with nothing open, are
    /// not blocked anywhere (as Mask2Former unblocks fully blocked rows).
    public func crossAttentionBlocked(height h: Int, width w: Int, level: Int) -> BoolMask {
        let b = segmentCounts.count, p = count, hw = h * w
        var values = [Bool](repeating: false, count: b * p * hw)
        for i in 0..<b {
            var rng = SeededRNG(seed: seeds[i] ^ (UInt64(level + 1) &* 0x9E37_79B9_7F4A_7C15))
            for s in 0..<p {
                guard let t = segment(image: i, slot: s) else { continue }
                var open = downsampled(moved(masks[i][t], rng: &rng), h, w)
                let share = Float(open.reduce(0) { $0 + ($1 ? 1 : 0) }) / Float(hw)
                if settings.pointNoise > 0 {
                    let flip = settings.pointNoise * share
                    for e in 0..<hw where rng.nextUniform() < flip { open[e].toggle() }
                }
                guard open.contains(true) else { continue }
                for e in 0..<hw { values[(i * p + s) * hw + e] = !open[e] }
            }
        }
        return BoolMask(shape: [b, p, hw], values: values)
    }

    /// The mask shifted and scaled by the shift and scale noise (nearest pixel), at the input's resolution.
    func moved(_ mask: [UInt8], rng: inout SeededRNG) -> [UInt8] {
        guard settings.shiftNoise > 0 || settings.scaleNoise > 0 else { return mask }
        var (x0, y0, x1, y1) = (width, height, -1, -1)
        for y in 0..<height { for x in 0..<width where mask[y * width + x] != 0 { x0 = min(x0, x); x1 = max(x1, x); y0 = min(y0, y); y1 = max(y1, y) } }
        guard x1 >= 0 else { return mask }
        let (bw, bh) = (Float(x1 - x0 + 1), Float(y1 - y0 + 1))
        let dx = (2 * rng.nextUniform() - 1) * settings.shiftNoise * bw, dy = (2 * rng.nextUniform() - 1) * settings.shiftNoise * bh
        let scale = max(0.05, 1 + (2 * rng.nextUniform() - 1) * settings.scaleNoise)
        let (cx, cy) = (Float(x0 + x1) / 2, Float(y0 + y1) / 2)
        var out = [UInt8](repeating: 0, count: mask.count)
        for y in 0..<height {
            for x in 0..<width {
                // Where this output pixel comes from: undo the shift, then the scale about the centre.
                let sx = Int(((Float(x) - dx - cx) / scale + cx).rounded()), sy = Int(((Float(y) - dy - cy) / scale + cy).rounded())
                if sx >= 0, sx < width, sy >= 0, sy < height { out[y * width + x] = mask[sy * width + sx] }
            }
        }
        return out
    }

    /// Cells of an `h` x `w` grid over the input that hold any pixel of `mask`.
    func downsampled(_ mask: [UInt8], _ h: Int, _ w: Int) -> [Bool] {
        var open = [Bool](repeating: false, count: h * w)
        for y in 0..<height {
            let cy = min(h - 1, y * h / height)
            for x in 0..<width where mask[y * width + x] != 0 { open[cy * w + min(w - 1, x * w / width)] = true }
        }
        return open
    }
}
