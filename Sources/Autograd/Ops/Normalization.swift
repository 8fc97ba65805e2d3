import Core
/// Softmax, log-softmax, layer norm and group norm: fused forward and backward kernels
/// (each is a few passes over memory instead of a chain of small ops).

extension Tensor {
    /// Softmax over `axis`.
    public func softmax(axis: Int = -1) -> Tensor {
        let a = checked { try normalizeAxis(axis, rank: rank, op: "softmax") }
        let (outer, n, inner) = splitAround(shape, a)
        let y = Tensor.softmaxValues(data, outer: outer, n: n, inner: inner, log: false)
        return Tensor.record("softmax", shape: shape, data: y, inputs: [self]) { g, _ in
            [Tensor.softmaxGradient(g, y, outer: outer, n: n, inner: inner, log: false)]
        }
    }

    /// Log-softmax over `axis` (stable: shifted by the maximum).
    public func logSoftmax(axis: Int = -1) -> Tensor {
        let a = checked { try normalizeAxis(axis, rank: rank, op: "log_softmax") }
        let (outer, n, inner) = splitAround(shape, a)
        let y = Tensor.softmaxValues(data, outer: outer, n: n, inner: inner, log: true)
        return Tensor.record("log_softmax", shape: shape, data: y, inputs: [self]) { g, _ in
            [Tensor.softmaxGradient(g, y, outer: outer, n: n, inner: inner, log: true)]
        }
    }

    /// The input gradient of softmax, dx = y · (g − Σ g·y), or of log-softmax, dx = g − softmax ·
    /// Σ g (y the forward's output), line by line along the axis, lines in parallel.
    static func softmaxGradient(_ g: [Float], _ y: [Float], outer: Int, n: Int, inner: Int, log: Bool) -> [Float] {
        [Float](unsafeUninitializedCapacity: g.count) { dp, count in
            g.withUnsafeBufferPointer { gp in
                y.withUnsafeBufferPointer { yp in
                    let G = gp.baseAddress!, Y = yp.baseAddress!, D = dp.baseAddress!
                    Parallel.forRanges(outer * inner, costPerElement: n * 3) { lines in
                        for line in lines {
                            let base = (line / inner) * n * inner + line % inner
                            if log {
                                var total: Float = 0
                                for k in 0..<n { total += G[base + k * inner] }
                                for k in 0..<n { let e = base + k * inner; D[e] = G[e] - fexp(Y[e]) * total }
                            } else {
                                var dot: Float = 0
                                for k in 0..<n { dot += G[base + k * inner] * Y[base + k * inner] }
                                for k in 0..<n { let e = base + k * inner; D[e] = Y[e] * (G[e] - dot) }
                            }
                        }
                    }
                }
            }
            count = g.count
        }
    }

    static func softmaxValues(_ x: [Float], outer: Int, n: Int, inner: Int, log: Bool) -> [Float] {
        // Uninitialised: the lines cover every element.
        [Float](unsafeUninitializedCapacity: x.count) { yp, count in
            x.withUnsafeBufferPointer { xp in
                let xb = xp.baseAddress!, yb = yp.baseAddress!
                Parallel.forRanges(outer * inner, costPerElement: n * 4) { lines in
                    for line in lines {
                        let base = (line / inner) * n * inner + line % inner
                        if inner == 1 {
                            // Contiguous line: these loops vectorise.
                            Tensor.softmaxLine(xb + base, yb + base, n, log: log)
                            continue
                        }
                        var m = -Float.infinity
                        for k in 0..<n { m = Swift.max(m, xb[base + k * inner]) }
                        if m == -.infinity { m = 0 } // a line of -inf gives NaN (0/0), as in PyTorch
                        var s: Float = 0
                        for k in 0..<n { let e = fexp(xb[base + k * inner] - m); yb[base + k * inner] = e; s += e }
                        if log {
                            let ls = flog(s)
                            for k in 0..<n { yb[base + k * inner] = xb[base + k * inner] - m - ls }
                        } else {
                            let r = 1 / s
                            for k in 0..<n { yb[base + k * inner] *= r }
                        }
                    }
                }
            }
            count = x.count
        }
    }

    /// Softmax (or log-softmax) of one contiguous line of `n` values.
    @inline(__always)
    static func softmaxLine(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, log: Bool) {
        var m = -Float.infinity
        for k in 0..<n { m = Swift.max(m, x[k]) }
        if m == -.infinity { m = 0 }
        for k in 0..<n { y[k] = fexp(x[k] - m) }
        var s: Float = 0
        for k in 0..<n { s += y[k] }
        if log {
            let ls = flog(s)
            for k in 0..<n { y[k] = x[k] - m - ls }
        } else {
            let r = 1 / s
            for k in 0..<n { y[k] *= r }
        }
    }

    /// Layer norm over the last axis, with an optional affine `weight` and `bias` of that size.
    public func layerNorm(weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
        let d = shape.last ?? 1
        for p in [weight, bias].compactMap({ $0 }) where p.shape != [d] {
            shapeFailure(ShapeError(op: "layer_norm", "affine parameter \(p.shape) for input \(shape)"))
        }
        let rows = count / Swift.max(d, 1)
        return Tensor.normalize("layer_norm", self, groups: rows, groupSize: d, channelsPerGroup: 1,
                                channels: d, plane: 1, channelAxisIsLast: true, weight: weight, bias: bias, eps: eps)
    }

    /// Group norm of `[N, C, *]` with `groups` groups and an optional per-channel affine.
    public func groupNorm(groups: Int, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
        guard rank >= 2, shape[1] % groups == 0 else {
            shapeFailure(ShapeError(op: "group_norm", "input \(shape) cannot be split into \(groups) groups"))
        }
        let c = shape[1], plane = elementCount(Array(shape[2...]))
        for p in [weight, bias].compactMap({ $0 }) where p.shape != [c] {
            shapeFailure(ShapeError(op: "group_norm", "affine parameter \(p.shape) for input \(shape)"))
        }
        return Tensor.normalize("group_norm", self, groups: shape[0] * groups, groupSize: c / groups * plane,
                                channelsPerGroup: c / groups, channels: c, plane: plane, channelAxisIsLast: false,
                                weight: weight, bias: bias, eps: eps)
    }

    /// Shared kernel of layer and group norm. The input is `groups` contiguous blocks of
    /// `groupSize` values, each normalised by its own mean and (biased) variance. The affine
    /// channel of element `e` is `e % channels` when the channel axis is last (layer norm), else
    /// `(e / plane) % channels` (group norm, NCHW).
    static func normalize(_ op: String, _ x: Tensor, groups: Int, groupSize: Int, channelsPerGroup: Int,
                          channels: Int, plane: Int, channelAxisIsLast: Bool,
                          weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        let n = groupSize, size = x.count
        var inputs = [x]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        // x̂ is kept for the backward pass only; without one (inference) y is all that is written.
        let keepsNormalized = GradMode.isEnabled && inputs.contains { $0.requiresGrad }
        // The affine parameters as arrays (ones / zeros when absent). A group is `runs` runs of
        // `run` elements with one channel each (group norm: a channel's plane), or, for layer
        // norm, the whole channel vector (channel = position in the group).
        let wv = weight?.data ?? [Float](repeating: 1, count: channels), bv = bias?.data ?? [Float](repeating: 0, count: channels)
        let affine = weight != nil || bias != nil
        let (runs, run) = channelAxisIsLast ? (1, n) : (channelsPerGroup, plane)
        @inline(__always) func firstChannel(_ gi: Int, _ r: Int) -> Int { channelAxisIsLast ? 0 : (gi * channelsPerGroup + r) % channels }
        var invStd = [Float](repeating: 0, count: groups)
        var xhat = [Float](unsafeUninitializedCapacity: keepsNormalized ? size : 0) { _, count in count = keepsNormalized ? size : 0 }
        // Per group, in parallel: x − mean into y, its variance, then x̂ = (x − mean)·inv (kept
        // when needed) and y = x̂·w[c] + b[c] — one pass over the group after the statistics.
        let y = [Float](unsafeUninitializedCapacity: size) { yp, count in
            x.data.withUnsafeBufferPointer { xp in
                xhat.withUnsafeMutableBufferPointer { hp in
                    invStd.withUnsafeMutableBufferPointer { ip in
                        wv.withUnsafeBufferPointer { wp in
                            bv.withUnsafeBufferPointer { bp in
                                let xb = xp.baseAddress!, yb = yp.baseAddress!, hb = keepsNormalized ? hp.baseAddress : nil, ib = ip.baseAddress!
                                let W = wp.baseAddress!, B = bp.baseAddress!
                                Parallel.forRanges(groups, costPerElement: n * 4) { range in
                                    for gi in range {
                                        let xg = xb + gi * n, yg = yb + gi * n
                                        let mean = Float(preciseSum(xg, n) / Double(n))
                                        for k in 0..<n { yg[k] = xg[k] - mean }
                                        let inv = 1 / (Float(preciseDot(yg, yg, n) / Double(n)) + eps).squareRoot()
                                        ib[gi] = inv
                                        if let hb {
                                            let hg = hb + gi * n
                                            for k in 0..<n { hg[k] = yg[k] * inv }
                                        }
                                        for r in 0..<runs {
                                            let yr = yg + r * run, c = firstChannel(gi, r)
                                            if !affine {
                                                for k in 0..<run { yr[k] *= inv }
                                            } else if channelAxisIsLast {
                                                for k in 0..<run { yr[k] = (yr[k] * inv) * W[k] + B[k] }
                                            } else {
                                                let (wc, bc) = (W[c], B[c])
                                                for k in 0..<run { yr[k] = (yr[k] * inv) * wc + bc }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            count = size
        }
        let hasWeight = weight != nil
        return record(op, shape: x.shape, data: y, inputs: inputs) { g, needs in
            var grads: [[Float]?] = []
            // dx̂ = g · w; dx = inv · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂)) per group, groups in parallel.
            if needs[0] {
                var dx = [Float](unsafeUninitializedCapacity: size) { _, count in count = size }   // every element written
                dx.withUnsafeMutableBufferPointer { dp in
                    g.withUnsafeBufferPointer { gp in
                        xhat.withUnsafeBufferPointer { hp in
                            wv.withUnsafeBufferPointer { wp in
                                let D = dp.baseAddress!, G = gp.baseAddress!, H = hp.baseAddress!, W = wp.baseAddress!
                                Parallel.forRanges(groups, costPerElement: n * 4) { range in
                                    for gi in range {
                                        // dx̂ into D first, then the group's two sums, then dx in place.
                                        let dg = D + gi * n, gg = G + gi * n, hg = H + gi * n
                                        for r in 0..<runs {
                                            let o = r * run, c = firstChannel(gi, r)
                                            if channelAxisIsLast {
                                                for k in 0..<run { dg[o + k] = gg[o + k] * W[k] }
                                            } else {
                                                let wc = W[c]
                                                for k in 0..<run { dg[o + k] = gg[o + k] * wc }
                                            }
                                        }
                                        let rn = 1 / Float(n), inv = invStd[gi]
                                        let m1 = Float(preciseSum(dg, n)) * rn, m2 = Float(preciseDot(dg, hg, n)) * rn
                                        for k in 0..<n { dg[k] = inv * (dg[k] - m1 - hg[k] * m2) }
                                    }
                                }
                            }
                        }
                    }
                }
                grads.append(dx)
            } else {
                grads.append(nil)
            }
            if hasWeight || bias != nil {
                var dw = [Float](repeating: 0, count: channels), db = [Float](repeating: 0, count: channels)
                // Per channel, in parallel over channels; each channel's terms in element order.
                g.withUnsafeBufferPointer { gp in
                    xhat.withUnsafeBufferPointer { hp in
                        dw.withUnsafeMutableBufferPointer { dwp in
                            db.withUnsafeMutableBufferPointer { dbp in
                                let G = gp.baseAddress!, H = hp.baseAddress!, DW = dwp.baseAddress!, DB = dbp.baseAddress!
                                let rows = size / (channelAxisIsLast ? channels : channels * plane)
                                Parallel.forRanges(channels, costPerElement: rows * (channelAxisIsLast ? 2 : 2 * plane)) { cs in
                                    for r in 0..<rows {
                                        if channelAxisIsLast {
                                            let gr = G + r * channels, hr = H + r * channels
                                            for c in cs { DW[c] += gr[c] * hr[c]; DB[c] += gr[c] }
                                        } else {
                                            for c in cs {
                                                let e0 = (r * channels + c) * plane
                                                DW[c] += Float(preciseDot(G + e0, H + e0, plane))
                                                DB[c] += Float(preciseSum(G + e0, plane))
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                if hasWeight { grads.append(needs[1] ? dw : nil) }
                if bias != nil { grads.append(needs[grads.count] ? db : nil) }
            }
            return grads
        }
    }
}

/// Σ x[k] over `n` floats: eight float lanes (vectorised, no serial dependency), folded into a
/// Double every 512 elements so that long sums keep float-level relative accuracy.
@inlinable @inline(__always)
public func preciseSum(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
    var total: Double = 0, k = 0
    while k < n {
        let end = Swift.min(n, k + 512)
        var acc = SIMD8<Float>()
        while k + 8 <= end { acc += load8(x + k); k += 8 }
        var tail: Float = 0
        while k < end { tail += x[k]; k += 1 }
        total += Double(acc.sum()) + Double(tail)
    }
    return total
}

/// Σ x[k]·y[k] over `n` floats, accumulated as `preciseSum`.
@inlinable @inline(__always)
public func preciseDot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Double {
    var total: Double = 0, k = 0
    while k < n {
        let end = Swift.min(n, k + 512)
        var acc = SIMD8<Float>()
        while k + 8 <= end {
            acc += load8(x + k) * load8(y + k)
            k += 8
        }
        var tail: Float = 0
        while k < end { tail += x[k] * y[k]; k += 1 }
        total += Double(acc.sum()) + Double(tail)
    }
    return total
}
