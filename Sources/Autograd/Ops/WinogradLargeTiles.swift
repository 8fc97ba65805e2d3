import Core

/// Winograd's F(4x4, 3x3) (Lavin and Gray 2016, interpolation points 0, ±1, ±2, ∞): each 4x4
/// block of outputs from its 6x6 input patch, `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`, 36 multiplies
/// per (input, output) channel pair instead of 144 — 4x fewer than the direct sum, against
/// F(2x2, 3x3)'s 2.25x (`Winograd.swift`), in 36 GEMMs `M[ξ] = U[ξ] · V[ξ]` of a quarter as
/// many tiles. The transforms multiply by 4, 5 and 1/6, so the result differs from the direct
/// sum by more than F(2x2)'s rounding (1e-6 to 7e-6 of the terms' magnitude rather than 1e-7;
/// tested against a Double reference): used only where no gradient is recorded, on maps with
/// enough tiles (`ConvGeometry.usesLargeWinogradTiles`).
extension ConvGeometry {
    /// Off: inference takes F(2x2, 3x3) everywhere Winograd applies (tests and benchmarks compare).
    nonisolated(unsafe) public static var winogradLargeTilesEnabled = true

    var largeTilesHigh: Int { (outHeight + 3) / 4 }
    var largeTilesWide: Int { (outWidth + 3) / 4 }
    var largeTiles: Int { batch * largeTilesHigh * largeTilesWide }

    /// Whether a convolution that takes Winograd's path (`usesWinograd`) and records no gradient
    /// takes F(4x4, 3x3): with at least `winogradMinTiles` 4x4 tiles (maps of 64 x 64 at batch 2).
    func usesLargeWinogradTiles(recordsGradient: Bool) -> Bool {
        Self.winogradLargeTilesEnabled && !recordsGradient && largeTiles >= Self.winogradMinTiles
    }

    /// `U[ξ][o][c]` = (G g Gᵀ)[ξ] of filter (o, c), eight filters at a time.
    func transformFilters6x6(_ w: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>) {
        let pairs = outChannels * inChannels, groups = (pairs + 7) / 8
        Parallel.forRanges(groups, costPerElement: 8 * 200) { range in
            withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 9 + 18) { buffer in
                let g = buffer.baseAddress!, rows = g + 9   // rows: G g, 6 x 3
                for group in range {
                    let first = group * 8, lanes = Swift.min(8, pairs - first)
                    for k in 0..<9 {
                        var value = SIMD8<Float>()
                        for l in 0..<lanes { value[l] = w[(first + l) * 9 + k] }
                        g[k] = value
                    }
                    for j in 0..<3 {
                        let (t0, t1, t2, t3, t4, t5) = Self.g6(g[j], g[3 + j], g[6 + j])
                        rows[j] = t0; rows[3 + j] = t1; rows[6 + j] = t2; rows[9 + j] = t3; rows[12 + j] = t4; rows[15 + j] = t5
                    }
                    func put(_ xi: Int, _ value: SIMD8<Float>) {
                        let dst = u + xi * pairs + first
                        if lanes == 8 { store8(dst, value) } else { for l in 0..<lanes { dst[l] = value[l] } }
                    }
                    for i in 0..<6 {
                        let (s0, s1, s2, s3, s4, s5) = Self.g6(rows[3 * i], rows[3 * i + 1], rows[3 * i + 2])
                        put(6 * i, s0); put(6 * i + 1, s1); put(6 * i + 2, s2); put(6 * i + 3, s3); put(6 * i + 4, s4); put(6 * i + 5, s5)
                    }
                }
            }
        }
    }

    /// G (a, b, c)ᵀ with G = [[¼, 0, 0], [-⅙, -⅙, -⅙], [-⅙, ⅙, -⅙], [1/24, 1/12, ⅙], [1/24, -1/12, ⅙], [0, 0, 1]].
    @inline(__always)
    private static func g6(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>)
        -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let ac = a + c, ac4 = 0.25 * a + c
        return (0.25 * a, (ac + b) * (-1.0 / 6), (ac - b) * (-1.0 / 6),
                (ac4 + 0.5 * b) * (1.0 / 6), (ac4 - 0.5 * b) * (1.0 / 6), c)
    }

    /// Bᵀ x with Bᵀ = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
    /// [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]].
    @inline(__always)
    private static func bt6(_ x0: SIMD8<Float>, _ x1: SIMD8<Float>, _ x2: SIMD8<Float>, _ x3: SIMD8<Float>,
                            _ x4: SIMD8<Float>, _ x5: SIMD8<Float>)
        -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let p = x4 - 4 * x2, q = x3 - 4 * x1        // rows 1 and 2: p ± q
        let r = x4 - x2, s = 2 * (x3 - x1)          // rows 3 and 4: r ± s
        return (4 * x0 - 5 * x2 + x4, p + q, p - q, r + s, r - s, 4 * x1 - 5 * x3 + x5)
    }

    /// `V[ξ][c][tile]` = (Bᵀ d B)[ξ] of each tile's 6x6 input patch d (zero outside the input),
    /// eight tiles of a row at a time. Parallel over channels; each channel's planes are first
    /// copied into a zero-bordered scratch plane.
    func transformInput6x6(_ x: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>) {
        let th = largeTilesHigh, tw = largeTilesWide, t = largeTiles, cin = inChannels
        // Two spare columns: eight tiles' rows load 36 values from column 4·tx.
        let hp = 4 * th + 2, wp = 4 * tw + 4, plane = hp * wp
        Parallel.forRanges(cin, costPerElement: batch * plane * 8) { channels in
            ScratchPool.withBuffer(plane) { padded in
                withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 36) { buffer in
                    let rows = buffer.baseAddress!   // d B of each patch row, 6 x 6
                    for c in channels {
                        for n in 0..<batch {
                            copyZeroBordered(x, image: n, channel: c, into: padded, rows: hp, columns: wp)
                            for ty in 0..<th {
                                let out = v + c * t + (n * th + ty) * tw, xiStride = cin * t
                                for tx in stride(from: 0, to: tw, by: 8) {
                                    let lanes = Swift.min(8, tw - tx)
                                    for k in 0..<6 {
                                        let r = padded + (4 * ty + k) * wp + 4 * tx
                                        var d0 = SIMD8<Float>(), d1 = d0, d2 = d0, d3 = d0, d4 = d0, d5 = d0
                                        if lanes == 8 {
                                            // Column j of eight patches: every fourth value from column 4·tx + j.
                                            let a = UnsafeRawPointer(r).loadUnaligned(as: SIMD32<Float>.self)
                                            let b = UnsafeRawPointer(r + 4).loadUnaligned(as: SIMD32<Float>.self)
                                            (d0, d1, d2, d3) = (a.evenHalf.evenHalf, a.oddHalf.evenHalf, a.evenHalf.oddHalf, a.oddHalf.oddHalf)
                                            (d4, d5) = (b.evenHalf.evenHalf, b.oddHalf.evenHalf)
                                        } else {
                                            for l in 0..<lanes {
                                                let p = r + 4 * l
                                                d0[l] = p[0]; d1[l] = p[1]; d2[l] = p[2]; d3[l] = p[3]; d4[l] = p[4]; d5[l] = p[5]
                                            }
                                        }
                                        let (e0, e1, e2, e3, e4, e5) = Self.bt6(d0, d1, d2, d3, d4, d5)
                                        rows[6 * k] = e0; rows[6 * k + 1] = e1; rows[6 * k + 2] = e2
                                        rows[6 * k + 3] = e3; rows[6 * k + 4] = e4; rows[6 * k + 5] = e5
                                    }
                                    func put(_ xi: Int, _ value: SIMD8<Float>) {
                                        let dst = out + tx + xi * xiStride
                                        if lanes == 8 { store8(dst, value) } else { for l in 0..<lanes { dst[l] = value[l] } }
                                    }
                                    for j in 0..<6 {
                                        let (y0, y1, y2, y3, y4, y5) = Self.bt6(rows[j], rows[6 + j], rows[12 + j], rows[18 + j],
                                                                                rows[24 + j], rows[30 + j])
                                        put(j, y0); put(6 + j, y1); put(12 + j, y2); put(18 + j, y3); put(24 + j, y4); put(30 + j, y5)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Aᵀ x with Aᵀ = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]].
    @inline(__always)
    private static func at6(_ x0: SIMD8<Float>, _ x1: SIMD8<Float>, _ x2: SIMD8<Float>, _ x3: SIMD8<Float>,
                            _ x4: SIMD8<Float>, _ x5: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let a = x1 + x2, b = x1 - x2, c = x3 + x4, d = x3 - x4
        return (x0 + a + c, b + 2 * d, a + 4 * c, b + 8 * d + x5)
    }

    /// `Y` `[N, Cout, Ho, Wo]` from `M[ξ][o][tile]`: each tile's 4x4 outputs Aᵀ m A (+ bias),
    /// eight tiles at a time; the last row and column of tiles are cut to the output.
    func transformOutput4x4(_ m: UnsafePointer<Float>, bias: [Float]?) -> [Float] {
        let th = largeTilesHigh, tw = largeTilesWide, t = largeTiles, cout = outChannels, ho = outHeight, wo = outWidth
        let xiStride = cout * t
        return [Float](unsafeUninitializedCapacity: batch * cout * ho * wo) { out, count in
            let y = out.baseAddress!
            Parallel.forRanges(batch * cout, costPerElement: ho * wo * 8) { planes in
                withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 24) { buffer in
                    let rows = buffer.baseAddress!   // Aᵀ m, 4 x 6
                    for p in planes {
                        let n = p / cout, o = p % cout, b = SIMD8<Float>(repeating: bias?[o] ?? 0)
                        let dst = y + p * ho * wo
                        for ty in 0..<th {
                            let src = m + o * t + (n * th + ty) * tw
                            for tx in stride(from: 0, to: tw, by: 8) {
                                let lanes = Swift.min(8, tw - tx), e = src + tx
                                func load(_ xi: Int) -> SIMD8<Float> {
                                    if lanes == 8 { return load8(e + xi * xiStride) }
                                    var value = SIMD8<Float>()
                                    for l in 0..<lanes { value[l] = e[xi * xiStride + l] }
                                    return value
                                }
                                for j in 0..<6 {
                                    let (r0, r1, r2, r3) = Self.at6(load(j), load(6 + j), load(12 + j), load(18 + j), load(24 + j), load(30 + j))
                                    rows[j] = r0; rows[6 + j] = r1; rows[12 + j] = r2; rows[18 + j] = r3
                                }
                                for i in 0..<4 where 4 * ty + i < ho {
                                    let r = rows + 6 * i
                                    let (c0, c1, c2, c3) = Self.at6(r[0], r[1], r[2], r[3], r[4], r[5])
                                    let row = dst + (4 * ty + i) * wo + 4 * tx
                                    if lanes == 8 && 4 * tx + 32 <= wo {
                                        // Tile l's four columns side by side: interleave c0/c1 and c2/c3, then the pairs.
                                        var lo = SIMD16<Float>(), hi = SIMD16<Float>()
                                        lo.evenHalf = c0 + b; lo.oddHalf = c1 + b
                                        hi.evenHalf = c2 + b; hi.oddHalf = c3 + b
                                        var quads = SIMD16<UInt64>()
                                        quads.evenHalf = unsafeBitCast(lo, to: SIMD8<UInt64>.self)
                                        quads.oddHalf = unsafeBitCast(hi, to: SIMD8<UInt64>.self)
                                        UnsafeMutableRawPointer(row).storeBytes(of: quads, as: SIMD16<UInt64>.self)
                                    } else {
                                        for l in 0..<lanes {
                                            let column = 4 * (tx + l)
                                            if column < wo { row[4 * l] = c0[l] + b[l] }
                                            if column + 1 < wo { row[4 * l + 1] = c1[l] + b[l] }
                                            if column + 2 < wo { row[4 * l + 2] = c2[l] + b[l] }
                                            if column + 3 < wo { row[4 * l + 3] = c3[l] + b[l] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            count = batch * cout * ho * wo
        }
    }
}
