import CGEMM
import Core
/// Resampling: bilinear and nearest resize of NCHW maps (PyTorch's `interpolate`), and
/// bilinear point sampling at normalised coordinates (PyTorch's `grid_sample`).

/// Source position of output index `i` for align_corners = false bilinear resize
/// (PyTorch's `area_pixel_compute_source_index`): lower index, upper index, upper weight.
private func bilinearTaps(outSize: Int, inSize: Int) -> [(Int, Int, Float)] {
    let scale = Float(inSize) / Float(outSize)
    return (0..<outSize).map { i in
        let src = Swift.max((Float(i) + 0.5) * scale - 0.5, 0)
        let lo = Swift.min(Int(src), inSize - 1)
        let hi = lo < inSize - 1 ? lo + 1 : lo
        return (lo, hi, src - Float(lo))
    }
}

/// PyTorch's legacy `nearest`: `min(floor(i · in/out), in − 1)`.
private func nearestTaps(outSize: Int, inSize: Int) -> [Int] {
    let scale = Float(inSize) / Float(outSize)
    return (0..<outSize).map { Swift.min(Int((Float($0) * scale).rounded(.down)), inSize - 1) }
}

extension Tensor {
    private func checkMap(_ op: String, _ size: (Int, Int)) {
        guard rank == 4, size.0 > 0, size.1 > 0, shape[2] > 0, shape[3] > 0 else {
            shapeFailure(ShapeError(op: op, "needs a non-empty [N, C, H, W] input and a positive size, got \(shape) -> \(size)"))
        }
    }

    /// Bilinear resize of `[N, C, H, W]` to `size` = (height, width), align_corners = false,
    /// no antialiasing.
    public func resizeBilinear(to size: (Int, Int)) -> Tensor {
        checkMap("resize_bilinear", size)
        let (h, w) = (shape[2], shape[3]), (ho, wo) = size
        let planes = shape[0] * shape[1]
        let ty = bilinearTaps(outSize: ho, inSize: h), tx = bilinearTaps(outSize: wo, inSize: w)
        let values = data.withUnsafeBufferPointer { xp in
            makeValues(planes * ho * wo, costPerElement: 4) { o, range in
                let xb = xp.baseAddress!
                ty.withUnsafeBufferPointer { typ in
                    tx.withUnsafeBufferPointer { txp in
                        // Walk the range row by row (an odometer, no divisions per element).
                        var e = range.lowerBound
                        var p = e / (ho * wo), oy = (e - p * ho * wo) / wo, ox = e - p * ho * wo - oy * wo
                        while e < range.upperBound {
                            let (y0, y1, ly) = typ[oy]
                            let src = xb + p * h * w
                            let end = Swift.min(wo, ox + (range.upperBound - e))
                            for x in ox..<end {
                                let (x0, x1, lx) = txp[x]
                                o[e + x - ox] = (1 - ly) * ((1 - lx) * src[y0 * w + x0] + lx * src[y0 * w + x1])
                                    + ly * ((1 - lx) * src[y1 * w + x0] + lx * src[y1 * w + x1])
                            }
                            e += end - ox
                            ox = 0
                            oy += 1
                            if oy == ho { oy = 0; p += 1 }
                        }
                    }
                }
            }
        }
        let count = self.count
        return Tensor.record("resize_bilinear", shape: [shape[0], shape[1], ho, wo], data: values, inputs: [self]) { g, _ in
            var dx = [Float](repeating: 0, count: count)
            dx.withUnsafeMutableBufferPointer { dp in
                let db = dp.baseAddress!
                Parallel.forRanges(planes, costPerElement: ho * wo * 4) { range in
                    for p in range {
                        let d = db + p * h * w
                        for oy in 0..<ho {
                            let (y0, y1, ly) = ty[oy]
                            for ox in 0..<wo {
                                let (x0, x1, lx) = tx[ox]
                                let gv = g[(p * ho + oy) * wo + ox]
                                d[y0 * w + x0] += (1 - ly) * (1 - lx) * gv
                                d[y0 * w + x1] += (1 - ly) * lx * gv
                                d[y1 * w + x0] += ly * (1 - lx) * gv
                                d[y1 * w + x1] += ly * lx * gv
                            }
                        }
                    }
                }
            }
            return [dx]
        }
    }

    /// Nearest resize of `[N, C, H, W]` to `size`, as PyTorch's `interpolate(mode="nearest")`.
    public func resizeNearest(to size: (Int, Int)) -> Tensor {
        checkMap("resize_nearest", size)
        let (h, w) = (shape[2], shape[3]), (ho, wo) = size
        let planes = shape[0] * shape[1]
        let ty = nearestTaps(outSize: ho, inSize: h), tx = nearestTaps(outSize: wo, inSize: w)
        let values = data.withUnsafeBufferPointer { xp in
            makeValues(planes * ho * wo) { o, range in
                for e in range {
                    let p = e / (ho * wo), oy = (e / wo) % ho, ox = e % wo
                    o[e] = xp[p * h * w + ty[oy] * w + tx[ox]]
                }
            }
        }
        let count = self.count
        return Tensor.record("resize_nearest", shape: [shape[0], shape[1], ho, wo], data: values, inputs: [self]) { g, _ in
            var dx = [Float](repeating: 0, count: count)
            for p in 0..<planes {
                for oy in 0..<ho {
                    for ox in 0..<wo { dx[p * h * w + ty[oy] * w + tx[ox]] += g[(p * ho + oy) * wo + ox] }
                }
            }
            return [dx]
        }
    }

    /// Bilinear sampling of `input` `[N, C, H, W]` at `grid` `[N, Ho, Wo, 2]` (x, y in [−1, 1]),
    /// zero outside the map, align_corners = false: PyTorch's
    /// `grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=False)`.
    /// Result `[N, C, Ho, Wo]`; gradients flow to the input and to the grid.
    ///
    /// The four taps of every point are located once; then each channel plane (small enough to
    /// stay in cache) is read for all points, planes in parallel.
    public static func gridSample(_ input: Tensor, grid: Tensor) -> Tensor {
        guard input.rank == 4, grid.rank == 4, grid.shape[3] == 2, grid.shape[0] == input.shape[0],
              input.shape[2] > 0, input.shape[3] > 0 else {
            shapeFailure(ShapeError(op: "grid_sample", "input \(input.shape) and grid \(grid.shape) do not fit (non-empty [N,C,H,W] and [N,Ho,Wo,2])"))
        }
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (ho, wo) = (grid.shape[1], grid.shape[2])
        let points = ho * wo
        let taps = BilinearTaps(grid: grid.data, count: n * points, height: h, width: w)
        let x = input.data
        let values = x.withUnsafeBufferPointer { xp in
            makeValues(n * c * points, costPerElement: 4) { o, range in
                // Whole planes per chunk when large; any element range is handled.
                var e = range.lowerBound
                while e < range.upperBound {
                    let plane = e / points, b = plane / c
                    let end = Swift.min(range.upperBound, (plane + 1) * points)
                    let first = b * points + (e - plane * points)
                    taps.sample(xp.baseAddress! + plane * h * w, first..<(first + end - e), into: o + e)
                    e = end
                }
            }
        }
        return record("grid_sample", shape: [n, c, ho, wo], data: values, inputs: [input, grid]) { g, needs in
            var dInput: [Float]? = nil, dGrid: [Float]? = nil
            if needs[0] {
                var d = [Float](repeating: 0, count: x.count)
                d.withUnsafeMutableBufferPointer { dp in
                    g.withUnsafeBufferPointer { gp in
                        Parallel.forRanges(n * c, costPerElement: points * 4) { planes in
                            taps.withPointers { idx, wgt in
                                for plane in planes {
                                    let b = plane / c
                                    let dst = dp.baseAddress! + plane * h * w, gsrc = gp.baseAddress! + plane * points
                                    for q in 0..<points {
                                        let t = b * points + q, gv = gsrc[q]
                                        let i = idx + 4 * t, wt = wgt + 4 * t
                                        dst[Int(i[0])] += wt[0] * gv
                                        dst[Int(i[1])] += wt[1] * gv
                                        dst[Int(i[2])] += wt[2] * gv
                                        dst[Int(i[3])] += wt[3] * gv
                                    }
                                }
                            }
                        }
                    }
                }
                dInput = d
            }
            if needs[1] {
                // d out / d ix = (1−ly)(v01 − v00) + ly(v11 − v10); d out / d iy likewise;
                // ix = ((gx + 1)W − 1)/2, so d ix / d gx = W/2 (and H/2 for y).
                var d = [Float](repeating: 0, count: n * points * 2)
                d.withUnsafeMutableBufferPointer { dp in
                    g.withUnsafeBufferPointer { gp in
                        x.withUnsafeBufferPointer { xp in
                            Parallel.forRanges(n * points, costPerElement: c * 8) { range in
                                taps.withPointers { idx, _ in
                                    for t in range {
                                        let b = t / points, q = t % points
                                        let i = idx + 4 * t
                                        let (lx, ly) = (taps.fractions[2 * t], taps.fractions[2 * t + 1])
                                        let m = taps.inside[t]
                                        var gix: Float = 0, giy: Float = 0
                                        for ch in 0..<c {
                                            let src = xp.baseAddress! + (b * c + ch) * h * w
                                            let v00 = m & 1 != 0 ? src[Int(i[0])] : 0, v01 = m & 2 != 0 ? src[Int(i[1])] : 0
                                            let v10 = m & 4 != 0 ? src[Int(i[2])] : 0, v11 = m & 8 != 0 ? src[Int(i[3])] : 0
                                            let gv = gp[(b * c + ch) * points + q]
                                            gix += gv * ((1 - ly) * (v01 - v00) + ly * (v11 - v10))
                                            giy += gv * ((1 - lx) * (v10 - v00) + lx * (v11 - v01))
                                        }
                                        dp[2 * t] = gix * Float(w) / 2
                                        dp[2 * t + 1] = giy * Float(h) / 2
                                    }
                                }
                            }
                        }
                    }
                }
                dGrid = d
            }
            return [dInput, dGrid]
        }
    }
}

extension Tensor {
    /// Values of each map of `maps` `[M, H, W]` at `count` points given as (x, y) in the unit
    /// square (PointRend's `point_sample`: 0 and 1 are the outer pixel edges): `[M · count]`
    /// values, bilinear with zero outside — `gridSample`'s arithmetic, computed on the fly
    /// without storing taps or recording on the tape. `points` is `[M, count, 2]` (each map its
    /// own points) or, with `shared`, `[count, 2]` read for every map. With `rows`, output row
    /// r samples map `rows[r]` (a gather without copying the maps): `[rows.count · count]`.
    /// For choosing points and for targets (no gradient), where stored taps would be used once.
    public static func sampledValues(_ maps: Tensor, points: [Float], count: Int, shared: Bool = false,
                                     rows: [Int]? = nil) -> [Float] {
        let (m, h, w) = (maps.shape[0], maps.rank == 3 ? maps.shape[1] : 0, maps.rank == 3 ? maps.shape[2] : 0)
        let r = rows?.count ?? m
        guard maps.rank == 3, points.count == (shared ? 1 : r) * count * 2 else {
            shapeFailure(ShapeError(op: "sampled_values", "maps \(maps.shape) and \(points.count / 2) points (\(count) per map\(shared ? ", shared" : "")) do not fit"))
        }
        if let rows, let bad = rows.first(where: { $0 < 0 || $0 >= m }) {
            shapeFailure(ShapeError(op: "sampled_values", "row \(bad) of maps \(maps.shape)"))
        }
        // Shared points on several maps: one set of taps, then four loads per value.
        let taps = shared && r > 1 ? BilinearTaps(unitPoints: points, height: h, width: w) : nil
        return maps.data.withUnsafeBufferPointer { xp in
            points.withUnsafeBufferPointer { pp in
                makeValues(r * count, costPerElement: taps == nil ? 16 : 4) { o, range in
                    // The range may span several rows: one run per row (no division per point).
                    var e = range.lowerBound
                    while e < range.upperBound {
                        let row = e / count, first = e - row * count
                        let n = Swift.min(count - first, range.upperBound - e)
                        let map = xp.baseAddress! + (rows?[row] ?? row) * h * w
                        if let taps {
                            taps.sample(map, first..<(first + n), into: o + e)
                        } else {
                            sampleMap(map, height: h, width: w, points: pp.baseAddress! + ((shared ? 0 : row * count) + first) * 2,
                                      count: n, into: o + e)
                        }
                        e += n
                    }
                }
            }
        }
    }

    /// `sampledValues` on the tape: each map of `maps` `[M, H, W]` at its own `count` points
    /// (`[M, count, 2]`, unit square), `[M, count]`, differentiable in `maps` — PointRend's
    /// `point_sample`, which is `gridSample` on a constant `[M, 1, count, 2]` grid. The same
    /// values and gradient bit for bit (`testPointSampleEqualsGridSample`), without the grid
    /// tensor and the stored taps (40 bytes a point, used once): the backward pass recomputes
    /// each point's taps and adds into the map's gradient in point order, as `gridSample` does
    /// (`uniseg_sample_map_backward`, vectorised where the CPU has AVX2).
    public static func pointSample(_ maps: Tensor, points: [Float], count: Int) -> Tensor {
        let values = sampledValues(maps, points: points, count: count)   // checks the shapes
        let (m, h, w) = (maps.shape[0], maps.shape[1], maps.shape[2])
        return record("point_sample", shape: [m, count], data: values, inputs: [maps]) { g, _ in
            var d = [Float](repeating: 0, count: m * h * w)
            d.withUnsafeMutableBufferPointer { dp in
                g.withUnsafeBufferPointer { gp in
                    points.withUnsafeBufferPointer { pp in
                        // Each map's gradient is its own plane: maps are independent.
                        Parallel.forRanges(m, costPerElement: count * 12) { range in
                            for i in range {
                                uniseg_sample_map_backward(gp.baseAddress! + i * count, Int64(h), Int64(w),
                                                           pp.baseAddress! + i * count * 2, Int64(count), dp.baseAddress! + i * h * w)
                            }
                        }
                    }
                }
            }
            return [d]
        }
    }

    /// Bilinear values of one `h` x `w` map at `n` points (x, y in the unit square, as in
    /// `sampledValues`), written to `out`: the per-map kernel, for callers that sample many
    /// maps in their own parallel loop.
    /// In C (`uniseg_sample_map`): the pixel position ((2u − 1) + 1)·size − 1) / 2 in gridSample's
    /// order of operations, then `uniseg_pixel_taps`, eight points at a time with gathers on CPUs
    /// with AVX2, chosen at run time: the same values on every path (`testSampleMapPathsAgree`).
    public static func sampleMap(_ map: UnsafePointer<Float>, height h: Int, width w: Int,
                                 points: UnsafePointer<Float>, count n: Int, into out: UnsafeMutablePointer<Float>) {
        uniseg_sample_map(map, Int64(h), Int64(w), points, Int64(n), out)
    }
}

extension Tensor {
    /// `sampleMap` on an `h` x `w` map of which only a window is given: rows
    /// `origin.y ..< origin.y + window height` and columns `origin.x ..< origin.x + windowWidth`
    /// (the window may reach beyond the map, and must hold zeros wherever the map does not
    /// exist). The same values, bit for bit, when the map is 0 outside the window; the taps and
    /// weights are computed on the whole map. Every point's four taps must lie in the window
    /// (checked) — or, with `zeroRing`, points whose taps leave the window read 0, which is
    /// exact when the window's outermost ring is zeros (checked): such a point's taps are all on
    /// the ring or outside. For sparse targets, whose windows stay in cache where whole maps do not.
    public static func sampleWindow(_ window: UnsafeBufferPointer<Float>, origin: (x: Int, y: Int), windowWidth ww: Int,
                                    height h: Int, width w: Int, points: UnsafePointer<Float>, count n: Int,
                                    zeroRing: Bool = false, into out: UnsafeMutablePointer<Float>) {
        let wh = window.count / Swift.max(ww, 1)
        if zeroRing {
            if window.isEmpty {
                out.update(repeating: 0, count: n)
                return
            }
            var ringIsZero = true
            for x in 0..<ww { ringIsZero = ringIsZero && window[x] == 0 && window[(wh - 1) * ww + x] == 0 }
            for y in 0..<wh { ringIsZero = ringIsZero && window[y * ww] == 0 && window[y * ww + ww - 1] == 0 }
            precondition(ringIsZero, "sampleWindow: the window's outermost ring is not zero")
        }
        // In C (`uniseg_sample_window`: eight points at a time where the CPU has AVX2): per point,
        // the first tap relative to the window is (floor(x) − origin.x, floor(y) − origin.y)
        // with x, y the pixel positions above; NaN and far-away points fail the inside test. The value
        // is (1−ly)(1−lx)·t00 + (1−ly)·lx·t01 + ly(1−lx)·t10 + ly·lx·t11, in that order.
        guard !window.isEmpty else {
            precondition(zeroRing || n == 0, "sampleWindow: an empty window")
            return
        }
        let outside = uniseg_sample_window(window.baseAddress!, Int64(ww), Int64(wh), Int64(origin.x), Int64(origin.y),
                                           Int64(h), Int64(w), points, Int64(n), zeroRing ? 1 : 0, out)
        precondition(outside < 0, "sampleWindow: point (\(points[2 * Int(outside)]), \(points[2 * Int(outside) + 1])) has taps outside the window")
    }
}

/// The four bilinear taps of each grid point (align_corners = false, zero padding): clamped
/// plane offsets (top-left, top-right, bottom-left, bottom-right), their weights (0 for a tap
/// outside the map), which taps are inside (bits 1, 2, 4, 8), and the fractional position.
/// Computed once to read many maps at the same points: `gridSample`'s channels, and the
/// matcher's predictions and targets of one image.
public struct BilinearTaps {
    public let count: Int
    var offsets: [Int32]
    var weights: [Float]
    var inside: [UInt8]
    var fractions: [Float]

    /// Taps of `[count, 2]` points (x, y) in the unit square, as `Tensor.sampledValues` reads them.
    public init(unitPoints: [Float], height h: Int, width w: Int) {
        precondition(unitPoints.count % 2 == 0 && h > 0 && w > 0, "BilinearTaps: \(unitPoints.count) coordinates on a \(h) x \(w) map")
        self.init(grid: unitPoints.map { 2 * $0 - 1 }, count: unitPoints.count / 2, height: h, width: w)
    }

    /// Taps of `[count, 2]` grid points (x, y) in [−1, 1], as `gridSample` reads them.
    init(grid: [Float], count: Int, height h: Int, width w: Int) {
        self.count = count
        offsets = [Int32](repeating: 0, count: 4 * count)
        weights = [Float](repeating: 0, count: 4 * count)
        inside = [UInt8](repeating: 0, count: count)
        fractions = [Float](repeating: 0, count: 2 * count)
        grid.withUnsafeBufferPointer { gp in
        offsets.withUnsafeMutableBufferPointer { op in
        weights.withUnsafeMutableBufferPointer { wp in
        inside.withUnsafeMutableBufferPointer { ip in
        fractions.withUnsafeMutableBufferPointer { fp in
            let G = gp.baseAddress!, O = op.baseAddress!, W = wp.baseAddress!, I = ip.baseAddress!, F = fp.baseAddress!
            Parallel.forRanges(count, costPerElement: 16) { range in
                for t in range {
                    let gx = G[2 * t], gy = G[2 * t + 1]
                    // The taps' arithmetic is CGEMM's `uniseg_pixel_taps` (the one definition the C
                    // readers use too), inlined here through Swift's import of the header.
                    let tap = uniseg_pixel_taps(((gx + 1) * Float(w) - 1) / 2, ((gy + 1) * Float(h) - 1) / 2, Int64(h), Int64(w))
                    (O[4 * t], O[4 * t + 1], O[4 * t + 2], O[4 * t + 3]) = (Int32(tap.o.0), Int32(tap.o.1), Int32(tap.o.2), Int32(tap.o.3))
                    (W[4 * t], W[4 * t + 1], W[4 * t + 2], W[4 * t + 3]) = tap.w
                    I[t] = UInt8(tap.inside)
                    (F[2 * t], F[2 * t + 1]) = (tap.lx, tap.ly)
                }
            }
        }}}}}
    }

    @inline(__always)
    func withPointers<T>(_ body: (UnsafePointer<Int32>, UnsafePointer<Float>) -> T) -> T {
        offsets.withUnsafeBufferPointer { o in weights.withUnsafeBufferPointer { w in body(o.baseAddress!, w.baseAddress!) } }
    }

    /// Values of a channels-last map (`[height·width, channels]`, of the size the taps were made
    /// for) at the points `range`: `out[k·channels + c]` is channel `c` at point `lowerBound + k`.
    /// Each tap reads `channels` contiguous values, so this vectorises where sampling one map at
    /// a time gathers.
    public func sampleChannelsLast(_ map: UnsafePointer<Float>, channels: Int, _ range: Range<Int>,
                                   into out: UnsafeMutablePointer<Float>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "BilinearTaps: points \(range) of \(count)")
        withPointers { idx, wgt in
            let O = idx + 4 * range.lowerBound, W = wgt + 4 * range.lowerBound
            for t in 0..<range.count {
                let i = 4 &* t
                let (w0, w1, w2, w3) = (W[i], W[i &+ 1], W[i &+ 2], W[i &+ 3])
                let r0 = map + Int(O[i]) &* channels, r1 = map + Int(O[i &+ 1]) &* channels
                let r2 = map + Int(O[i &+ 2]) &* channels, r3 = map + Int(O[i &+ 3]) &* channels
                let o = out + t &* channels
                var c = 0
                if channels % 8 == 0 {
                    let (v0, v1, v2, v3) = (SIMD8(repeating: w0), SIMD8(repeating: w1), SIMD8(repeating: w2), SIMD8(repeating: w3))
                    while c < channels {
                        store8(o + c, v0 * load8(r0 + c) + v1 * load8(r1 + c) + v2 * load8(r2 + c) + v3 * load8(r3 + c))
                        c &+= 8
                    }
                }
                while c < channels {
                    o[c] = w0 * r0[c] + w1 * r1[c] + w2 * r2[c] + w3 * r3[c]
                    c &+= 1
                }
            }
        }
    }

    /// Values of `map` (of the size the taps were made for) at the points `range`, written to
    /// `out[0..<range.count]`.
    public func sample(_ map: UnsafePointer<Float>, _ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "BilinearTaps: points \(range) of \(count)")
        withPointers { idx, wgt in
            let O = idx + 4 * range.lowerBound, W = wgt + 4 * range.lowerBound
            for t in 0..<range.count {
                let i = 4 &* t
                out[t] = W[i] * map[Int(O[i])] + W[i &+ 1] * map[Int(O[i &+ 1])]
                    + W[i &+ 2] * map[Int(O[i &+ 2])] + W[i &+ 3] * map[Int(O[i &+ 3])]
            }
        }
    }
}
