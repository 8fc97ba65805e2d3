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
        var starts = [Int](repeating: 0, count: levels)
        for l in 1..<Swift.max(levels, 1) { starts[l] = starts[l - 1] + shapes[l - 1].0 * shapes[l - 1].1 }
        let v = value.data, loc = locations.data, w = weights.data

        /// The four taps of one sample on level `l`: token offsets (clamped) and weights (0 outside).
        @inline(__always) func taps(_ x: Float, _ y: Float, _ l: Int) -> (Int, Int, Int, Int, Float, Float, Float, Float, Float, Float, UInt8) {
            let (h, wd) = shapes[l], base = starts[l]
            let t = bilinearTap(x * Float(wd) - 0.5, y * Float(h) - 0.5, height: h, width: wd)
            return (base + t.o00, base + t.o01, base + t.o10, base + t.o11, t.w00, t.w01, t.w10, t.w11, t.lx, t.ly, t.inside)
        }

        let values = v.withUnsafeBufferPointer { vp in
            makeValues(n * q * heads * d, costPerElement: levels * points * 4) { o, range in
                // Whole (n, q, head) rows of D values; `range` covers whole rows in practice,
                // partial rows are handled.
                var e = range.lowerBound
                while e < range.upperBound {
                    let row = e / d                          // (b · q + qi) · heads + h
                    let h = row % heads, b = row / (q * heads)
                    let rowEnd = Swift.min(range.upperBound, (row + 1) * d)
                    let d0 = e - row * d, d1 = rowEnd - row * d
                    for k in d0..<d1 { o[row * d + k] = 0 }
                    for l in 0..<levels {
                        for p in 0..<points {
                            let wi = (row * levels + l) * points + p
                            let aw = w[wi]
                            let (i00, i01, i10, i11, w00, w01, w10, w11, _, _, _) = taps(loc[2 * wi], loc[2 * wi + 1], l)
                            let src = vp.baseAddress! + b * s * heads * d + h * d
                            let stride = heads * d
                            for k in d0..<d1 {
                                o[row * d + k] += aw * (w00 * src[i00 * stride + k] + w01 * src[i01 * stride + k]
                                    + w10 * src[i10 * stride + k] + w11 * src[i11 * stride + k])
                            }
                        }
                    }
                    e = rowEnd
                }
            }
        }
        return record("deformable_attention", shape: [n, q, heads * d], data: values, inputs: [value, locations, weights]) { g, needs in
            var dValue: [Float]? = needs[0] ? [Float](repeating: 0, count: v.count) : nil
            var dLoc = [Float](repeating: 0, count: loc.count), dW = [Float](repeating: 0, count: w.count)
            let needPoint = needs[1] || needs[2]
            // Parallel over (image, head): each writes only its own slice of dValue, and its own
            // (query, head) entries of dLoc and dW.
            g.withUnsafeBufferPointer { gp in
                v.withUnsafeBufferPointer { vp in
                    dLoc.withUnsafeMutableBufferPointer { dlp in
                        dW.withUnsafeMutableBufferPointer { dwp in
                            func run(_ dvp: UnsafeMutablePointer<Float>?) {
                                Parallel.forRanges(n * heads, costPerElement: q * levels * points * d * 8) { pairs in
                                    for pair in pairs {
                                        let b = pair / heads, h = pair % heads
                                        let src = vp.baseAddress! + b * s * heads * d + h * d
                                        let stride = heads * d
                                        for qi in 0..<q {
                                            let row = (b * q + qi) * heads + h
                                            let go = gp.baseAddress! + row * d
                                            for l in 0..<levels {
                                                let (lh, lw) = shapes[l]
                                                for p in 0..<points {
                                                    let wi = (row * levels + l) * points + p
                                                    let aw = w[wi]
                                                    let (i00, i01, i10, i11, w00, w01, w10, w11, lx, ly, m) = taps(loc[2 * wi], loc[2 * wi + 1], l)
                                                    if let dv = dvp {
                                                        let dst = dv + b * s * heads * d + h * d
                                                        for k in 0..<d {
                                                            let gk = aw * go[k]
                                                            dst[i00 * stride + k] += w00 * gk
                                                            dst[i01 * stride + k] += w01 * gk
                                                            dst[i10 * stride + k] += w10 * gk
                                                            dst[i11 * stride + k] += w11 * gk
                                                        }
                                                    }
                                                    if needPoint {
                                                        var sampled: Float = 0, gx: Float = 0, gy: Float = 0
                                                        for k in 0..<d {
                                                            let v00 = m & 1 != 0 ? src[i00 * stride + k] : 0
                                                            let v01 = m & 2 != 0 ? src[i01 * stride + k] : 0
                                                            let v10 = m & 4 != 0 ? src[i10 * stride + k] : 0
                                                            let v11 = m & 8 != 0 ? src[i11 * stride + k] : 0
                                                            sampled += go[k] * (w00 * v00 + w01 * v01 + w10 * v10 + w11 * v11)
                                                            gx += go[k] * ((1 - ly) * (v01 - v00) + ly * (v11 - v10))
                                                            gy += go[k] * ((1 - lx) * (v10 - v00) + lx * (v11 - v01))
                                                        }
                                                        dwp[wi] = sampled
                                                        // x = loc·W − 0.5, so d/d loc = W · d/d x.
                                                        dlp[2 * wi] = aw * gx * Float(lw)
                                                        dlp[2 * wi + 1] = aw * gy * Float(lh)
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                            if dValue != nil {
                                dValue!.withUnsafeMutableBufferPointer { run($0.baseAddress!) }
                            } else {
                                run(nil)
                            }
                        }
                    }
                }
            }
            return [dValue, needs[1] ? dLoc : nil, needs[2] ? dW : nil]
        }
    }
}
