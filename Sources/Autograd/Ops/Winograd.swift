import Core

/// 3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, "Fast
/// Algorithms for Convolutional Neural Networks", 2016): each 2x2 block of outputs ("tile") is
/// computed from its 4x4 input patch d and the 3x3 filter g as
///
///     Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
///
/// so a tile costs 16 multiplies per (input, output) channel pair instead of 36: 2.25x fewer.
/// Summed over input channels, the 16 products become 16 GEMMs, `M[ξ] = U[ξ] · V[ξ]`, with
/// `U[ξ]` `[Cout, Cin]` (transformed filters) and `V[ξ]` `[Cin, tiles]` (transformed patches).
/// The transforms only add and halve, so the result differs from the direct sum by rounding
/// alone (tested against a Double reference). The data gradient of such a convolution is
/// another one (the output gradient convolved with the flipped, transposed filters) and can
/// take the same path.
///
/// Inference on maps with enough 4x4 tiles takes F(4x4, 3x3) instead (`WinogradLargeTiles.swift`).
/// By default only convolutions that record no gradient (inference, evaluation, `train
/// predict`) take it: trained with it, the main job's rounding-level changes moved three seeds'
/// things PQ by -6.4, +0.2 and -4.6 (docs/performance.md, "Session 10") — within the seeds'
/// spread, but not evidence enough to change the default training numbers.
extension ConvGeometry {
    /// Off: 3x3 stride-1 convolutions take the GEMM paths (tests and benchmarks compare).
    nonisolated(unsafe) public static var winogradEnabled = true
    /// On: convolutions that record a gradient take Winograd's path too (forward and data
    /// gradient; tests and the measurement above).
    nonisolated(unsafe) public static var winogradInTraining = false
    /// Fewer tiles than this (maps under about 32 x 32 at batch 2) stay on the GEMM paths: the 16
    /// GEMMs would be too thin to run at speed.
    nonisolated(unsafe) public static var winogradMinTiles = 256

    var tilesHigh: Int { (outHeight + 1) / 2 }
    var tilesWide: Int { (outWidth + 1) / 2 }
    var tiles: Int { batch * tilesHigh * tilesWide }

    /// Whether this convolution, at this GEMM precision, recording a gradient or not, runs by
    /// Winograd's algorithm (forward and data gradient). bfloat16 GEMMs keep the direct form
    /// (their rounding is measured as it is).
    func usesWinograd(_ precision: GEMMPrecision, recordsGradient: Bool) -> Bool {
        Self.winogradEnabled && (!recordsGradient || Self.winogradInTraining) && groups == 1 && kernelH == 3 && kernelW == 3 && strideH == 1 && strideW == 1
            && dilationH == 1 && dilationW == 1 && padH <= 2 && padW <= 2 && tiles >= Self.winogradMinTiles
            && !precision.usesBFloat16
    }

    /// The geometry of the data gradient: the output gradient `[N, Cout, Ho, Wo]` convolved to
    /// `[N, Cin, H, W]` by the flipped filters with padding `2 - pad`.
    var dataGradientGeometry: ConvGeometry {
        ConvGeometry(batch: batch, inChannels: outChannels, height: outHeight, width: outWidth, outChannels: inChannels,
                     kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padH: 2 - padH, padW: 2 - padW,
                     dilationH: 1, dilationW: 1, groups: 1)
    }

    /// `W[o, c, i, j]` -> `W'[c, o, 2 - i, 2 - j]`: the filters of `dataGradientGeometry`.
    static func flippedTransposedFilters(_ w: UnsafePointer<Float>, outChannels: Int, inChannels: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: outChannels * inChannels * 9) { out, count in
            for o in 0..<outChannels {
                for c in 0..<inChannels {
                    let src = w + (o * inChannels + c) * 9, dst = out.baseAddress! + (c * outChannels + o) * 9
                    for e in 0..<9 { dst[8 - e] = src[e] }
                }
            }
            count = outChannels * inChannels * 9
        }
    }

    /// The convolution of `x` `[N, Cin, H, W]` by `weight` `[Cout, Cin, 3, 3]` (+ `bias`):
    /// `[N, Cout, Ho, Wo]`, by F(2x2, 3x3), or by F(4x4, 3x3) with `largeTiles`
    /// (`WinogradLargeTiles.swift`): transformed filters and patches, one GEMM per point of the
    /// transformed tile, the outputs transformed back.
    func winogradForward(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: [Float]?, largeTiles: Bool = false) -> [Float] {
        let cin = inChannels, cout = outChannels
        let (points, t) = largeTiles ? (36, self.largeTiles) : (16, tiles)
        return ScratchPool.withBuffer(points * cout * cin) { u in
            largeTiles ? transformFilters6x6(weight, into: u) : transformFilters(weight, into: u)
            return ScratchPool.withBuffer(points * cin * t) { v in
                largeTiles ? transformInput6x6(x, into: v) : transformInput(x, into: v)
                return ScratchPool.withBuffer(points * cout * t) { m in
                    forEachProduct(points, multiplyAdds: cout * t * cin) { xi in
                        sgemm(m: cout, n: t, k: cin, a: u + xi * cout * cin, b: v + xi * cin * t, c: m + xi * cout * t)
                    }
                    return largeTiles ? transformOutput4x4(m, bias: bias) : transformOutput(m, bias: bias)
                }
            }
        }
    }

    /// Plane (n, c) of `x` into `padded`, a zero-bordered `rows` x `columns` scratch plane (the
    /// padding at its top left; what does not fit is cut).
    func copyZeroBordered(_ x: UnsafePointer<Float>, image n: Int, channel c: Int, into padded: UnsafeMutablePointer<Float>,
                          rows hp: Int, columns wp: Int) {
        padded.update(repeating: 0, count: hp * wp)
        let src = x + (n * inChannels + c) * height * width
        for y in 0..<height where y + padH < hp {
            (padded + (y + padH) * wp + padW).update(from: src + y * width, count: Swift.min(width, wp - padW))
        }
    }

    /// `U[ξ][o][c]` = (G g Gᵀ)[ξ] of filter (o, c), with G = [[1, 0, 0], [½, ½, ½], [½, -½, ½], [0, 0, 1]].
    func transformFilters(_ w: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>) {
        let pairs = outChannels * inChannels
        Parallel.forRanges(pairs, costPerElement: 64) { range in
            for pair in range {
                let g = w + pair * 9, u0 = u + pair
                // Row i of G g is (s0, s1, s2); row i of U is that row times Gᵀ.
                func store(_ i: Int, _ s0: Float, _ s1: Float, _ s2: Float) {
                    let dst = u0 + 4 * i * pairs
                    dst[0] = s0
                    dst[pairs] = 0.5 * (s0 + s1 + s2)
                    dst[2 * pairs] = 0.5 * (s0 - s1 + s2)
                    dst[3 * pairs] = s2
                }
                store(0, g[0], g[1], g[2])
                store(1, 0.5 * (g[0] + g[3] + g[6]), 0.5 * (g[1] + g[4] + g[7]), 0.5 * (g[2] + g[5] + g[8]))
                store(2, 0.5 * (g[0] - g[3] + g[6]), 0.5 * (g[1] - g[4] + g[7]), 0.5 * (g[2] - g[5] + g[8]))
                store(3, g[6], g[7], g[8])
            }
        }
    }

    /// `V[ξ][c][tile]` = (Bᵀ d B)[ξ] of each tile's 4x4 input patch d (zero outside the input), with
    /// Bᵀ = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]. Parallel over channels; each
    /// channel's planes are first copied into a zero-bordered scratch plane.
    func transformInput(_ x: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>) {
        let th = tilesHigh, tw = tilesWide, t = tiles, cin = inChannels
        let hp = 2 * th + 2, wp = 2 * tw + 2, plane = hp * wp
        Parallel.forRanges(cin, costPerElement: batch * plane * 4) { channels in
            ScratchPool.withBuffer(plane) { padded in
                for c in channels {
                    for n in 0..<batch {
                        copyZeroBordered(x, image: n, channel: c, into: padded, rows: hp, columns: wp)
                        for ty in 0..<th {
                            let r0 = padded + 2 * ty * wp, r1 = r0 + wp, r2 = r1 + wp, r3 = r2 + wp
                            let out = v + c * t + (n * th + ty) * tw
                            let stride = cin * t       // from V[ξ] to V[ξ + 1]
                            var tx = 0
                            // Eight tiles at a time: a row's 4 x 8 patch values are the even and odd
                            // lanes of 16 values from column 2·tx and of 16 from column 2·tx + 2.
                            while tx + 8 <= tw {
                                func columns(_ r: UnsafeMutablePointer<Float>) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
                                    let lo = UnsafeRawPointer(r + 2 * tx).loadUnaligned(as: SIMD16<Float>.self)
                                    let hi = UnsafeRawPointer(r + 2 * tx + 2).loadUnaligned(as: SIMD16<Float>.self)
                                    return (lo.evenHalf, lo.oddHalf, hi.evenHalf, hi.oddHalf)
                                }
                                let (p0, p1, p2, p3) = columns(r0), (q0, q1, q2, q3) = columns(r1)
                                let (s0, s1, s2, s3) = columns(r2), (u0, u1, u2, u3) = columns(r3)
                                let a0 = p0 - s0, a1 = p1 - s1, a2 = p2 - s2, a3 = p3 - s3
                                let b0 = q0 + s0, b1 = q1 + s1, b2 = q2 + s2, b3 = q3 + s3
                                let c0 = s0 - q0, c1 = s1 - q1, c2 = s2 - q2, c3 = s3 - q3
                                let d0 = q0 - u0, d1 = q1 - u1, d2 = q2 - u2, d3 = q3 - u3
                                let o = out + tx
                                store8(o, a0 - a2); store8(o + stride, a1 + a2); store8(o + 2 * stride, a2 - a1); store8(o + 3 * stride, a1 - a3)
                                store8(o + 4 * stride, b0 - b2); store8(o + 5 * stride, b1 + b2); store8(o + 6 * stride, b2 - b1); store8(o + 7 * stride, b1 - b3)
                                store8(o + 8 * stride, c0 - c2); store8(o + 9 * stride, c1 + c2); store8(o + 10 * stride, c2 - c1); store8(o + 11 * stride, c1 - c3)
                                store8(o + 12 * stride, d0 - d2); store8(o + 13 * stride, d1 + d2); store8(o + 14 * stride, d2 - d1); store8(o + 15 * stride, d1 - d3)
                                tx += 8
                            }
                            while tx < tw {
                                let j = 2 * tx
                                // Bᵀ d, column by column.
                                let a0 = r0[j] - r2[j], a1 = r0[j + 1] - r2[j + 1], a2 = r0[j + 2] - r2[j + 2], a3 = r0[j + 3] - r2[j + 3]
                                let b0 = r1[j] + r2[j], b1 = r1[j + 1] + r2[j + 1], b2 = r1[j + 2] + r2[j + 2], b3 = r1[j + 3] + r2[j + 3]
                                let c0 = r2[j] - r1[j], c1 = r2[j + 1] - r1[j + 1], c2 = r2[j + 2] - r1[j + 2], c3 = r2[j + 3] - r1[j + 3]
                                let d0 = r1[j] - r3[j], d1 = r1[j + 1] - r3[j + 1], d2 = r1[j + 2] - r3[j + 2], d3 = r1[j + 3] - r3[j + 3]
                                // (Bᵀ d) B, row by row.
                                let o = out + tx
                                o[0] = a0 - a2; o[stride] = a1 + a2; o[2 * stride] = a2 - a1; o[3 * stride] = a1 - a3
                                o[4 * stride] = b0 - b2; o[5 * stride] = b1 + b2; o[6 * stride] = b2 - b1; o[7 * stride] = b1 - b3
                                o[8 * stride] = c0 - c2; o[9 * stride] = c1 + c2; o[10 * stride] = c2 - c1; o[11 * stride] = c1 - c3
                                o[12 * stride] = d0 - d2; o[13 * stride] = d1 + d2; o[14 * stride] = d2 - d1; o[15 * stride] = d1 - d3
                                tx += 1
                            }
                        }
                    }
                }
            }
        }
    }

    /// `Y` `[N, Cout, Ho, Wo]` from `M[ξ][o][tile]`: each tile's 2x2 outputs Aᵀ m A (+ bias), with
    /// Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]]; the last row and column of tiles are cut to the output.
    func transformOutput(_ m: UnsafePointer<Float>, bias: [Float]?) -> [Float] {
        let th = tilesHigh, tw = tilesWide, t = tiles, cout = outChannels, ho = outHeight, wo = outWidth
        let stride = cout * t
        return [Float](unsafeUninitializedCapacity: batch * cout * ho * wo) { out, count in
            let y = out.baseAddress!
            Parallel.forRanges(batch * cout, costPerElement: ho * wo * 4) { planes in
                for p in planes {
                    let n = p / cout, o = p % cout, b = bias?[o] ?? 0
                    let dst = y + p * ho * wo
                    for ty in 0..<th {
                        let src = m + o * t + (n * th + ty) * tw
                        let oy = 2 * ty, row0 = dst + oy * wo, lastRow = oy + 1 >= ho
                        var tx = 0
                        // Eight tiles at a time while all their 16 columns are inside the output.
                        while tx + 8 <= tw && 2 * tx + 16 <= wo {
                            let e = src + tx
                            let m0 = load8(e), m1 = load8(e + stride), m2 = load8(e + 2 * stride), m3 = load8(e + 3 * stride)
                            let m4 = load8(e + 4 * stride), m5 = load8(e + 5 * stride), m6 = load8(e + 6 * stride), m7 = load8(e + 7 * stride)
                            let m8 = load8(e + 8 * stride), m9 = load8(e + 9 * stride), m10 = load8(e + 10 * stride), m11 = load8(e + 11 * stride)
                            let m12 = load8(e + 12 * stride), m13 = load8(e + 13 * stride), m14 = load8(e + 14 * stride), m15 = load8(e + 15 * stride)
                            let r00 = m0 + m4 + m8, r01 = m1 + m5 + m9, r02 = m2 + m6 + m10, r03 = m3 + m7 + m11
                            var pair = SIMD16<Float>()
                            pair.evenHalf = r00 + r01 + r02 + b
                            pair.oddHalf = r01 - r02 - r03 + b
                            UnsafeMutableRawPointer(row0 + 2 * tx).storeBytes(of: pair, as: SIMD16<Float>.self)
                            if !lastRow {
                                let r10 = m4 - m8 - m12, r11 = m5 - m9 - m13, r12 = m6 - m10 - m14, r13 = m7 - m11 - m15
                                pair.evenHalf = r10 + r11 + r12 + b
                                pair.oddHalf = r11 - r12 - r13 + b
                                UnsafeMutableRawPointer(row0 + wo + 2 * tx).storeBytes(of: pair, as: SIMD16<Float>.self)
                            }
                            tx += 8
                        }
                        while tx < tw {
                            let e = src + tx
                            let m0 = e[0], m1 = e[stride], m2 = e[2 * stride], m3 = e[3 * stride]
                            let m4 = e[4 * stride], m5 = e[5 * stride], m6 = e[6 * stride], m7 = e[7 * stride]
                            let m8 = e[8 * stride], m9 = e[9 * stride], m10 = e[10 * stride], m11 = e[11 * stride]
                            let m12 = e[12 * stride], m13 = e[13 * stride], m14 = e[14 * stride], m15 = e[15 * stride]
                            // Aᵀ m: two rows of four.
                            let r00 = m0 + m4 + m8, r01 = m1 + m5 + m9, r02 = m2 + m6 + m10, r03 = m3 + m7 + m11
                            let r10 = m4 - m8 - m12, r11 = m5 - m9 - m13, r12 = m6 - m10 - m14, r13 = m7 - m11 - m15
                            let ox = 2 * tx
                            row0[ox] = r00 + r01 + r02 + b
                            if ox + 1 < wo { row0[ox + 1] = r01 - r02 - r03 + b }
                            if !lastRow {
                                row0[wo + ox] = r10 + r11 + r12 + b
                                if ox + 1 < wo { row0[wo + ox + 1] = r11 - r12 - r13 + b }
                            }
                            tx += 1
                        }
                    }
                }
            }
            count = batch * cout * ho * wo
        }
    }
}
