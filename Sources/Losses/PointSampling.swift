import Autograd

/// Point sampling for the mask losses (PointRend / Mask2Former): losses are computed on a few
/// thousand points per mask instead of every pixel. Coordinates are `(x, y)` in [0, 1]², where
/// 0 and 1 are the outer pixel edges and pixel centres sit at (i + 0.5)/W — what
/// `grid_sample(align_corners=False)` reads at `2·coord − 1`.
public enum PointSampling {
    /// `count` points per mask, uniform in [0, 1]²: `[masks, count, 2]` values.
    public static func uniform(masks: Int, count: Int, rng: inout SeededRNG) -> [Float] {
        (0..<(masks * count * 2)).map { _ in rng.nextUniform() }
    }

    /// Mask2Former's importance sampling, per mask of `logits` `[M, H, W]` (no gradient):
    /// `oversample·count` uniform candidates; the `importance·count` with the largest
    /// uncertainty −|logit| are kept; uniform points fill the rest. Returns `[M, count, 2]`.
    public static func importance(logits: Tensor, count: Int, oversample: Int = 3, importance: Float = 0.75,
                                  rng: inout SeededRNG) -> [Float] {
        precondition(logits.rank == 3, "importance sampling: logits must be [M, H, W], got \(logits.shape)")
        let m = logits.shape[0]
        let candidates = oversample * count
        let kept = Int(importance * Float(count))
        let coords = uniform(masks: m, count: candidates, rng: &rng)
        let values = Tensor.sampledValues(logits, points: coords, count: candidates)
        var out = [Float](repeating: 0, count: m * count * 2)
        var order = [Int](repeating: 0, count: candidates)
        var uncertainty = [Float](repeating: 0, count: candidates)
        for i in 0..<m {
            for c in 0..<candidates { uncertainty[c] = -Swift.abs(values[i * candidates + c]); order[c] = c }
            selectLargest(kept, of: uncertainty, indices: &order)
            for (slot, c) in order.prefix(kept).enumerated() {
                out[(i * count + slot) * 2] = coords[(i * candidates + c) * 2]
                out[(i * count + slot) * 2 + 1] = coords[(i * candidates + c) * 2 + 1]
            }
            for slot in kept..<count {
                out[(i * count + slot) * 2] = rng.nextUniform()
                out[(i * count + slot) * 2 + 1] = rng.nextUniform()
            }
        }
        return out
    }

    /// Values of `maps` `[M, H, W]` at `coords` (`[M, count, 2]`, each map its own points),
    /// bilinear with zero outside: `[M, count]`, differentiable in `maps`.
    public static func sample(_ maps: Tensor, at coords: [Float], count: Int) -> Tensor {
        let m = maps.shape[0]
        precondition(coords.count == m * count * 2, "point sampling: \(coords.count / 2) points for \(m) maps of \(count)")
        let grid = Tensor(shape: [m, 1, count, 2], data: coords.map { 2 * $0 - 1 })
        return Tensor.gridSample(maps.reshape([m, 1, maps.shape[1], maps.shape[2]]), grid: grid).reshape([m, count])
    }

    /// Moves the indices of the `k` largest `values` to the front of `indices` (unordered):
    /// quickselect, O(n) on average — a full sort or top-k is several times slower here.
    static func selectLargest(_ k: Int, of values: [Float], indices: inout [Int]) {
        guard k > 0, k < indices.count else { return }
        var lo = 0, hi = indices.count - 1
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        values.withUnsafeBufferPointer { v in
            indices.withUnsafeMutableBufferPointer { idx in
                while lo < hi {
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    let pivot = v[idx[lo + Int((state >> 33) % UInt64(hi - lo + 1))]]
                    // Three-way partition: greater | equal | smaller (descending order).
                    var lt = lo, i = lo, gt = hi
                    while i <= gt {
                        let x = v[idx[i]]
                        if x > pivot { idx.swapAt(lt, i); lt += 1; i += 1 }
                        else if x < pivot { idx.swapAt(i, gt); gt -= 1 }
                        else { i += 1 }
                    }
                    if k <= lt { hi = lt - 1 }
                    else if k <= gt + 1 { return }
                    else { lo = gt + 1 }
                }
            }
        }
    }
}
