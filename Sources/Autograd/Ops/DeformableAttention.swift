import CGEMM
import Core
/// Multi-scale deformable attention (Deformable DETR, as Mask2Former's pixel decoder uses it),
/// one fused op: every query reads `points` bilinear samples per head and level from the value
/// maps at learned locations, weighted by its attention weights, in a single pass — forward and
/// backward — instead of a chain of grid samples, stacks and sums.
///
/// - `value` `[N, S, heads, D]`: the value tokens of every level, levels concatenated in order
///   (level l holds `shapes[l].0 · shapes[l].1` tokens, row-major).
/// - `locations` `[N, Q, heads, L, points, 2]`: (x, y) in [0, 1] of each level's map
///   (0 and 1 are its outer edges), read as `grid_sample(align_corners=False, zeros)`.
/// - `weights` `[N, Q, heads, L, points]` (already softmaxed over L·points).
/// - Result `[N, Q, heads·D]`. Gradients flow to all three inputs.
extension Tensor {
    public static func deformableAttention(value: Tensor, shapes: [(Int, Int)], locations: Tensor, weights: Tensor) -> Tensor {
        guard value.rank == 4, locations.rank == 6, weights.rank == 5 else {
            shapeFailure(ShapeError(op: "deformable_attention", "value \(value.shape), locations \(locations.shape), weights \(weights.shape) must be 4-, 6- and 5-D"))
        }
        let (n, s, heads, d) = (value.shape[0], value.shape[1], value.shape[2], value.shape[3])
        let (q, levels, points) = (locations.shape[1], locations.shape[3], locations.shape[4])
        guard locations.shape == [n, q, heads, levels, points, 2], weights.shape == [n, q, heads, levels, points],
              shapes.count == levels, shapes.reduce(0, { $0 + $1.0 * $1.1 }) == s else {
            shapeFailure(ShapeError(op: "deformable_attention",
                "value \(value.shape) (levels \(shapes)), locations \(locations.shape) and weights \(weights.shape) do not fit"))
        }
        // Levels as (H, W) pairs for the C loops (CGEMM's deformable_attention.c: run-time dispatch
        // to AVX2, the same numbers on every CPU and build).
        let levelShapes = shapes.flatMap { [Int64($0.0), Int64($0.1)] }
        let (v, loc, w) = (value.data, locations.data, weights.data)
        let rows = n * q * heads
        let values = [Float](unsafeUninitializedCapacity: rows * d) { out, count in
            v.withUnsafeBufferPointer { vp in loc.withUnsafeBufferPointer { lp in w.withUnsafeBufferPointer { wp in
                levelShapes.withUnsafeBufferPointer { sp in
                    let o = out.baseAddress!
                    Parallel.forRanges(rows, costPerElement: levels * points * d * 4) { range in
                        uniseg_deformable_attention_forward(vp.baseAddress!, sp.baseAddress!, Int64(levels), Int64(points), Int64(s),
                                                            Int64(q), Int64(heads), Int64(d), lp.baseAddress!, wp.baseAddress!,
                                                            Int64(range.lowerBound), Int64(range.upperBound), o)
                    }
                }
            } } }
            count = rows * d
        }
        return record("deformable_attention", shape: [n, q, heads * d], data: values, inputs: [value, locations, weights]) { g, needs in
            var dValue: [Float]? = needs[0] ? zeroedValues(v.count) : nil
            let needPoint = needs[1] || needs[2]
            // Every entry of dLocations and dWeights is written (one task per level owns it).
            var dLoc = needPoint ? [Float](unsafeUninitializedCapacity: loc.count) { $1 = loc.count } : []
            var dW = needPoint ? [Float](unsafeUninitializedCapacity: w.count) { $1 = w.count } : []
            // Parallel over (image, head, level): each task adds into its level's tokens of its
            // head of dValue (query after query, point after point, as a serial loop would) and
            // writes its own entries of dLocations and dWeights.
            g.withUnsafeBufferPointer { gp in v.withUnsafeBufferPointer { vp in
            loc.withUnsafeBufferPointer { lp in w.withUnsafeBufferPointer { wp in levelShapes.withUnsafeBufferPointer { sp in
            dLoc.withUnsafeMutableBufferPointer { dlp in dW.withUnsafeMutableBufferPointer { dwp in
                func run(_ dvp: UnsafeMutablePointer<Float>?) {
                    Parallel.forRanges(n * heads * levels, costPerElement: q * points * d * 8) { tasks in
                        for task in tasks {
                            uniseg_deformable_attention_backward(gp.baseAddress!, vp.baseAddress!, sp.baseAddress!, Int64(levels),
                                                                 Int64(points), Int64(s), Int64(q), Int64(heads), Int64(d),
                                                                 lp.baseAddress!, wp.baseAddress!, Int64(task), dvp,
                                                                 needPoint ? dlp.baseAddress! : nil, needPoint ? dwp.baseAddress! : nil)
                        }
                    }
                }
                if dValue != nil {
                    dValue!.withUnsafeMutableBufferPointer { run($0.baseAddress!) }
                } else {
                    run(nil)
                }
            } }
            } } }
            } }
            return [dValue, needs[1] ? dLoc : nil, needs[2] ? dW : nil]
        }
    }
}
