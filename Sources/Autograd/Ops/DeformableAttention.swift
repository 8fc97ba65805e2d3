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
                            let src = vp.baseAddress! + b * s * heads * d + h * d + d0
                            let stride = heads * d
                            gatherTaps(o + row * d + d0, count: d1 - d0, src, stride: stride, aw: aw,
                                       offsets: (i00, i01, i10, i11), weights: (w00, w01, w10, w11))
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
                                                        scatterTaps(dst, stride: stride, d: d, go: go, aw: aw,
                                                                    offsets: (i00, i01, i10, i11), weights: (w00, w01, w10, w11))
                                                    }
                                                    if needPoint {
                                                        let (sampled, gx, gy) = tapGradients(src, stride: stride, d: d, go: go, inside: m,
                                                                                             offsets: (i00, i01, i10, i11), weights: (w00, w01, w10, w11), lx: lx, ly: ly)
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

/// Forward of one sample: `out[k] += aw · (bilinear value of channel k)`, eight lanes at a time
/// (the same operations per element as the scalar loop).
@inline(__always)
private func gatherTaps(_ out: UnsafeMutablePointer<Float>, count n: Int, _ src: UnsafePointer<Float>, stride: Int, aw: Float,
                        offsets o: (Int, Int, Int, Int), weights w: (Float, Float, Float, Float)) {
    let r00 = src + o.0 * stride, r01 = src + o.1 * stride, r10 = src + o.2 * stride, r11 = src + o.3 * stride
    var k = 0
    while k + 8 <= n {
        let v = w.0 * load8(r00 + k) + w.1 * load8(r01 + k) + w.2 * load8(r10 + k) + w.3 * load8(r11 + k)
        add8(out + k, aw * v)
        k += 8
    }
    while k < n {
        out[k] += aw * (w.0 * r00[k] + w.1 * r01[k] + w.2 * r10[k] + w.3 * r11[k])
        k += 1
    }
}

/// dValue of one sample: each of the four tap rows gets `weight · aw · go` (eight lanes at a time).
@inline(__always)
private func scatterTaps(_ dst: UnsafeMutablePointer<Float>, stride: Int, d: Int, go: UnsafePointer<Float>, aw: Float,
                         offsets o: (Int, Int, Int, Int), weights w: (Float, Float, Float, Float)) {
    let r00 = dst + o.0 * stride, r01 = dst + o.1 * stride, r10 = dst + o.2 * stride, r11 = dst + o.3 * stride
    var k = 0
    // Taps clamped onto the same row (at the border) alias: update them one after another.
    while k + 8 <= d {
        let gk = aw * load8(go + k)
        add8(r00 + k, w.0 * gk)
        add8(r01 + k, w.1 * gk)
        add8(r10 + k, w.2 * gk)
        add8(r11 + k, w.3 * gk)
        k += 8
    }
    while k < d {
        let gk = aw * go[k]
        r00[k] += w.0 * gk
        r01[k] += w.1 * gk
        r10[k] += w.2 * gk
        r11[k] += w.3 * gk
        k += 1
    }
}

/// For one sample: Σ go·(bilinear value) (the attention weight's gradient) and Σ go·∂value/∂x,
/// Σ go·∂value/∂y, with taps outside the map reading zero; eight lanes at a time.
@inline(__always)
private func tapGradients(_ src: UnsafePointer<Float>, stride: Int, d: Int, go: UnsafePointer<Float>, inside m: UInt8,
                          offsets o: (Int, Int, Int, Int), weights w: (Float, Float, Float, Float), lx: Float, ly: Float)
    -> (Float, Float, Float) {
    let r00 = src + o.0 * stride, r01 = src + o.1 * stride, r10 = src + o.2 * stride, r11 = src + o.3 * stride
    @inline(__always) func load(_ p: UnsafePointer<Float>, _ inside: Bool) -> SIMD8<Float> { inside ? load8(p) : .zero }
    let in00 = m & 1 != 0, in01 = m & 2 != 0, in10 = m & 4 != 0, in11 = m & 8 != 0
    var sv = SIMD8<Float>(), xv = SIMD8<Float>(), yv = SIMD8<Float>()
    var k = 0
    while k + 8 <= d {
        let g = load8(go + k)
        let v00 = load(r00 + k, in00), v01 = load(r01 + k, in01), v10 = load(r10 + k, in10), v11 = load(r11 + k, in11)
        sv += g * (w.0 * v00 + w.1 * v01 + w.2 * v10 + w.3 * v11)
        xv += g * ((1 - ly) * (v01 - v00) + ly * (v11 - v10))
        yv += g * ((1 - lx) * (v10 - v00) + lx * (v11 - v01))
        k += 8
    }
    var sampled = sv.sum(), gx = xv.sum(), gy = yv.sum()
    while k < d {
        let v00 = in00 ? r00[k] : 0, v01 = in01 ? r01[k] : 0, v10 = in10 ? r10[k] : 0, v11 = in11 ? r11[k] : 0
        sampled += go[k] * (w.0 * v00 + w.1 * v01 + w.2 * v10 + w.3 * v11)
        gx += go[k] * ((1 - ly) * (v01 - v00) + ly * (v11 - v10))
        gy += go[k] * ((1 - lx) * (v10 - v00) + lx * (v11 - v01))
        k += 1
    }
    return (sampled, gx, gy)
}
