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
                for e in range {
                    let p = e / (ho * wo), oy = (e / wo) % ho, ox = e % wo
                    let (y0, y1, ly) = ty[oy], (x0, x1, lx) = tx[ox]
                    let src = xb + p * h * w
                    o[e] = (1 - ly) * ((1 - lx) * src[y0 * w + x0] + lx * src[y0 * w + x1])
                        + ly * ((1 - lx) * src[y1 * w + x0] + lx * src[y1 * w + x1])
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
    public static func gridSample(_ input: Tensor, grid: Tensor) -> Tensor {
        guard input.rank == 4, grid.rank == 4, grid.shape[3] == 2, grid.shape[0] == input.shape[0] else {
            shapeFailure(ShapeError(op: "grid_sample", "input \(input.shape) and grid \(grid.shape) do not fit ([N,C,H,W] and [N,Ho,Wo,2])"))
        }
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (ho, wo) = (grid.shape[1], grid.shape[2])
        let points = ho * wo
        let x = input.data, gr = grid.data
        /// Corner geometry of point `q` of image `b`: pixel coordinates and the four in-bounds flags.
        @inline(__always) func locate(_ b: Int, _ q: Int) -> (ix: Float, iy: Float, x0: Int, y0: Int) {
            let gx = gr[(b * points + q) * 2], gy = gr[(b * points + q) * 2 + 1]
            // Far-outside and NaN coordinates sample only zeros; clamping keeps the index finite.
            let ix = ((gx + 1) * Float(w) - 1) / 2, iy = ((gy + 1) * Float(h) - 1) / 2
            let cx = ix.isNaN ? -2 : Swift.min(Swift.max(ix, -2), Float(w) + 1)
            let cy = iy.isNaN ? -2 : Swift.min(Swift.max(iy, -2), Float(h) + 1)
            return (cx, cy, Int(cx.rounded(.down)), Int(cy.rounded(.down)))
        }
        var values = [Float](repeating: 0, count: n * c * points)
        values.withUnsafeMutableBufferPointer { op in
            let ob = op.baseAddress!
            Parallel.forRanges(n * points, costPerElement: c * 8) { range in
                for e in range {
                    let b = e / points, q = e % points
                    let (ix, iy, x0, y0) = locate(b, q)
                    let lx = ix - Float(x0), ly = iy - Float(y0)
                    for (dy, wy) in [(0, 1 - ly), (1, ly)] {
                        let yy = y0 + dy
                        if yy < 0 || yy >= h { continue }
                        for (dx, wx) in [(0, 1 - lx), (1, lx)] {
                            let xx = x0 + dx
                            if xx < 0 || xx >= w { continue }
                            let wgt = wy * wx
                            for ch in 0..<c { ob[(b * c + ch) * points + q] += wgt * x[((b * c + ch) * h + yy) * w + xx] }
                        }
                    }
                }
            }
        }
        return record("grid_sample", shape: [n, c, ho, wo], data: values, inputs: [input, grid]) { g, needs in
            var dInput = [Float](repeating: 0, count: x.count)
            var dGrid = [Float](repeating: 0, count: gr.count)
            for b in 0..<n {
                for q in 0..<points {
                    let (ix, iy, x0, y0) = locate(b, q)
                    let lx = ix - Float(x0), ly = iy - Float(y0)
                    var gix: Float = 0, giy: Float = 0
                    for dy in 0...1 {
                        let yy = y0 + dy
                        if yy < 0 || yy >= h { continue }
                        let wy = dy == 0 ? 1 - ly : ly, sy: Float = dy == 0 ? -1 : 1
                        for dx in 0...1 {
                            let xx = x0 + dx
                            if xx < 0 || xx >= w { continue }
                            let wx = dx == 0 ? 1 - lx : lx, sx: Float = dx == 0 ? -1 : 1
                            for ch in 0..<c {
                                let gv = g[(b * c + ch) * points + q]
                                let idx = ((b * c + ch) * h + yy) * w + xx
                                dInput[idx] += wy * wx * gv
                                gix += sx * wy * x[idx] * gv
                                giy += sy * wx * x[idx] * gv
                            }
                        }
                    }
                    // d ix / d gx = W / 2, d iy / d gy = H / 2.
                    dGrid[(b * points + q) * 2] = gix * Float(w) / 2
                    dGrid[(b * points + q) * 2 + 1] = giy * Float(h) / 2
                }
            }
            return [needs[0] ? dInput : nil, needs[1] ? dGrid : nil]
        }
    }
}
