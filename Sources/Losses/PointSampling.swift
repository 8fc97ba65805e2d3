import Autograd
import Core

/// Point sampling for the mask losses (PointRend / Mask2Former): losses are computed on a few
/// thousand points per mask instead of every pixel. Coordinates are `(x, y)` in [0, 1]², where
/// 0 and 1 are the outer pixel edges and pixel centres sit at (i + 0.5)/W — what
/// `grid_sample(align_corners=False)` reads at `2·coord − 1`.
public enum PointSampling {
    /// `count` points per mask, uniform in [0, 1]²: `[masks, count, 2]` values.
    public static func uniform(masks: Int, count: Int, rng: inout SeededRNG) -> [Float] {
        [Float](unsafeUninitializedCapacity: masks * count * 2) { out, n in
            for i in out.indices { out[i] = rng.nextUniform() }
            n = out.count
        }
    }

    /// Mask2Former's importance sampling, per mask of `logits` `[M, H, W]` (no gradient):
    /// `oversample·count` uniform candidates; the `importance·count` with the largest
    /// uncertainty −|logit| are kept (in candidate order; ties at the cut go to the earlier
    /// candidates); uniform points fill the rest. Returns `[M, count, 2]`.
    ///
    /// Each mask draws from its own generator, split off `rng` in mask order, so the masks are
    /// sampled in parallel and the points do not depend on the number of threads.
    public static func importance(logits: Tensor, count: Int, oversample: Int = 3, importance: Float = 0.75,
                                  rng: inout SeededRNG) -> [Float] {
        let seeds = (0..<logits.shape[0]).map { _ in rng.next() }
        return Self.importance(logits: logits, count: count, oversample: oversample, importance: importance, seeds: seeds)
    }

    /// The same with each mask's generator seed given (`seeds[i]` for mask i).
    public static func importance(logits: Tensor, count: Int, oversample: Int = 3, importance: Float = 0.75,
                                  seeds: [UInt64]) -> [Float] {
        precondition(logits.rank == 3, "importance sampling: logits must be [M, H, W], got \(logits.shape)")
        precondition(oversample >= 1 && (0...1).contains(importance),
                     "importance sampling: oversample \(oversample) must be >= 1 and importance \(importance) in [0, 1]")
        let (m, h, w) = (logits.shape[0], logits.shape[1], logits.shape[2])
        let candidates = oversample * count
        let kept = Int(importance * Float(count))
        precondition(seeds.count == m, "importance sampling: \(seeds.count) seeds for \(m) masks")
        let maps = logits.data
        var out = [Float](repeating: 0, count: m * count * 2)
        maps.withUnsafeBufferPointer { mp in
            out.withUnsafeMutableBufferPointer { op in
                let src = mp.baseAddress!, dst = op.baseAddress!
                Parallel.forRanges(m, costPerElement: candidates * 64) { masks in
                    let coords = UnsafeMutablePointer<Float>.allocate(capacity: 2 * candidates)
                    let uncertainty = UnsafeMutablePointer<Float>.allocate(capacity: candidates)
                    defer { coords.deallocate(); uncertainty.deallocate() }
                    for i in masks {
                        var g = SeededRNG(seed: seeds[i])
                        for c in 0..<(2 * candidates) { coords[c] = g.nextUniform() }
                        Tensor.sampleMap(src + i * h * w, height: h, width: w, points: coords, count: candidates, into: uncertainty)
                        for c in 0..<candidates { uncertainty[c] = -Swift.abs(uncertainty[c]) }
                        let d = dst + i * count * 2
                        var slot = 0
                        if kept > 0 {
                            let (cut, above) = kthLargestAndGreater(kept, of: UnsafeBufferPointer(start: uncertainty, count: candidates))
                            var ties = kept - above
                            // Without branches (a quarter of the candidates are kept, at random:
                            // a branch per candidate mispredicted often): every candidate is
                            // written to the next slot, which advances only when it is kept.
                            var c = 0
                            while slot < kept && c < candidates {
                                let u = uncertainty[c]
                                let tie = u == cut && ties > 0
                                d[2 * slot] = coords[2 * c]
                                d[2 * slot + 1] = coords[2 * c + 1]
                                slot &+= u > cut || tie ? 1 : 0
                                ties &-= tie ? 1 : 0
                                c &+= 1
                            }
                        }
                        for c in (2 * slot)..<(2 * count) { d[c] = g.nextUniform() }
                    }
                }
            }
        }
        return out
    }

    /// Values of `maps` `[M, H, W]` at `coords` (`[M, count, 2]`, each map its own points),
    /// bilinear with zero outside: `[M, count]`, differentiable in `maps`.
    public static func sample(_ maps: Tensor, at coords: [Float], count: Int) -> Tensor {
        let m = maps.shape[0]
        precondition(coords.count == m * count * 2, "point sampling: \(coords.count / 2) points for \(m) maps of \(count)")
        return Tensor.pointSample(maps, points: coords, count: count)
    }

    /// The `k`-th largest of `values` (1 ≤ k ≤ count), by radix selection on the floats' bits:
    /// three counting passes (11, 11 and 10 bits) with no data-dependent swaps — a quickselect
    /// spent most of its time on mispredicted branches, a full sort or top-k is slower still.
    /// The second and third passes count only the values in the first pass's chosen bin.
    /// −0 counts as +0; with NaNs the result may be NaN (then nothing compares above it).
    /// Also returns how many values are strictly greater (exact without NaNs): the selection's
    /// last bin holds exactly the values equal to the k-th largest, so no further pass counts them.
    static func kthLargestAndGreater(_ k: Int, of values: UnsafeBufferPointer<Float>) -> (value: Float, greater: Int) {
        precondition(k >= 1 && k <= values.count, "kthLargest: k = \(k) of \(values.count)")
        // An order-preserving map of floats to unsigned integers.
        @inline(__always) func key(_ f: Float) -> UInt32 {
            let b = (f + 0).bitPattern
            return b & 0x8000_0000 != 0 ? ~b : b | 0x8000_0000
        }
        var prefix: UInt32 = 0, rank = k
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 2048) { histogram in
            // The bin of the top 11 bits holding the k-th largest, and its rank in that bin.
            @inline(__always) func select(bins: Int) -> Int {
                var b = bins - 1
                while rank > histogram[b] { rank -= histogram[b]; b -= 1 }
                return b
            }
            for b in 0..<2048 { histogram[b] = 0 }
            for v in values { histogram[Int(key(v) >> 21)] += 1 }
            let top = select(bins: 2048)
            prefix = UInt32(top) << 21
            // The later passes read only the keys of that bin, gathered once (without
            // branches): a pass over all values tested each against the prefix, and the test
            // mispredicted.
            let inBin = histogram[top]
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: inBin + 1) { buffer in
                // Every key is written to the next free slot, which advances on a key of the bin
                // (the spare slot takes the writes after the last of them).
                var n = 0
                for v in values {
                    let kv = key(v)
                    buffer[n] = kv
                    n &+= kv >> 21 == UInt32(top) ? 1 : 0
                }
                let bin = UnsafeBufferPointer(rebasing: buffer[0..<inBin])
                for b in 0..<2048 { histogram[b] = 0 }
                for kv in bin { histogram[Int((kv >> 10) & 0x7FF)] += 1 }
                let middle = select(bins: 2048)
                prefix |= UInt32(middle) << 10
                for b in 0..<1024 { histogram[b] = 0 }
                for kv in bin { histogram[Int(kv & 0x3FF)] += (kv >> 10) & 0x7FF == UInt32(middle) ? 1 : 0 }
                prefix |= UInt32(select(bins: 1024))
            }
        }
        // `rank` is now the k-th largest's rank among the values equal to it.
        return (Float(bitPattern: prefix & 0x8000_0000 != 0 ? prefix & 0x7FFF_FFFF : ~prefix), k - rank)
    }
}
