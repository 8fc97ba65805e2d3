/// Softmax, log-softmax, layer norm and group norm: fused forward and backward kernels
/// (each is a few passes over memory instead of a chain of small ops).

extension Tensor {
    /// Softmax over `axis`.
    public func softmax(axis: Int = -1) -> Tensor {
        let a = checked { try normalizeAxis(axis, rank: rank, op: "softmax") }
        let (outer, n, inner) = splitAround(shape, a)
        let y = Tensor.softmaxValues(data, outer: outer, n: n, inner: inner, log: false)
        return Tensor.record("softmax", shape: shape, data: y, inputs: [self]) { g, _ in
            // dx = y · (g − Σ g·y)
            var dx = [Float](repeating: 0, count: g.count)
            Tensor.forLines(outer: outer, n: n, inner: inner) { base, step in
                var dot: Float = 0
                for k in 0..<n { dot += g[base + k * step] * y[base + k * step] }
                for k in 0..<n { let e = base + k * step; dx[e] = y[e] * (g[e] - dot) }
            }
            return [dx]
        }
    }

    /// Log-softmax over `axis` (stable: shifted by the maximum).
    public func logSoftmax(axis: Int = -1) -> Tensor {
        let a = checked { try normalizeAxis(axis, rank: rank, op: "log_softmax") }
        let (outer, n, inner) = splitAround(shape, a)
        let y = Tensor.softmaxValues(data, outer: outer, n: n, inner: inner, log: true)
        return Tensor.record("log_softmax", shape: shape, data: y, inputs: [self]) { g, _ in
            // dx = g − softmax · Σ g
            var dx = [Float](repeating: 0, count: g.count)
            Tensor.forLines(outer: outer, n: n, inner: inner) { base, step in
                var total: Float = 0
                for k in 0..<n { total += g[base + k * step] }
                for k in 0..<n { let e = base + k * step; dx[e] = g[e] - fexp(y[e]) * total }
            }
            return [dx]
        }
    }

    /// Calls `body(firstIndex, step)` for every line along the reduced axis.
    @inline(__always)
    static func forLines(outer: Int, n: Int, inner: Int, _ body: (Int, Int) -> Void) {
        for o in 0..<outer {
            for i in 0..<inner { body(o * n * inner + i, inner) }
        }
    }

    static func softmaxValues(_ x: [Float], outer: Int, n: Int, inner: Int, log: Bool) -> [Float] {
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
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
        }
        return y
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
        let n = groupSize
        var xhat = [Float](repeating: 0, count: x.count)
        var invStd = [Float](repeating: 0, count: groups)
        @inline(__always) func channel(_ e: Int) -> Int { channelAxisIsLast ? e % channels : (e / plane) % channels }
        x.data.withUnsafeBufferPointer { xp in
            xhat.withUnsafeMutableBufferPointer { hp in
                invStd.withUnsafeMutableBufferPointer { ip in
                    let xb = xp.baseAddress!, hb = hp.baseAddress!, ib = ip.baseAddress!
                    Parallel.forRanges(groups, costPerElement: n * 3) { range in
                        for gi in range {
                            let base = gi * n
                            var s: Double = 0
                            for k in 0..<n { s += Double(xb[base + k]) }
                            let mean = Float(s / Double(n))
                            var v: Double = 0
                            for k in 0..<n { let d = xb[base + k] - mean; v += Double(d * d) }
                            let inv = 1 / (Float(v / Double(n)) + eps).squareRoot()
                            ib[gi] = inv
                            for k in 0..<n { hb[base + k] = (xb[base + k] - mean) * inv }
                        }
                    }
                }
            }
        }
        let size = x.count
        // y = x̂·w[c] + b[c], in parallel over groups.
        let wv = weight?.data, bv = bias?.data
        var y = xhat
        if weight != nil || bias != nil {
            y.withUnsafeMutableBufferPointer { yp in
                let Y = yp.baseAddress!
                Parallel.forRanges(groups, costPerElement: n * 2) { range in
                    for gi in range {
                        for e in (gi * n)..<((gi + 1) * n) {
                            let c = channel(e)
                            Y[e] = Y[e] * (wv?[c] ?? 1) + (bv?[c] ?? 0)
                        }
                    }
                }
            }
        }
        var inputs = [x]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        let hasWeight = weight != nil
        return record(op, shape: x.shape, data: y, inputs: inputs) { g, needs in
            var grads: [[Float]?] = []
            // dx̂ = g · w; dx = inv · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂)) per group, groups in parallel.
            if needs[0] {
                var dx = [Float](repeating: 0, count: size)
                dx.withUnsafeMutableBufferPointer { dp in
                    g.withUnsafeBufferPointer { gp in
                        xhat.withUnsafeBufferPointer { hp in
                            let D = dp.baseAddress!, G = gp.baseAddress!, H = hp.baseAddress!
                            Parallel.forRanges(groups, costPerElement: n * 4) { range in
                                for gi in range {
                                    let base = gi * n
                                    var s1: Float = 0, s2: Float = 0
                                    for k in 0..<n {
                                        let e = base + k
                                        let dh = G[e] * (wv?[channel(e)] ?? 1)
                                        s1 += dh
                                        s2 += dh * H[e]
                                    }
                                    let inv = invStd[gi], rn = 1 / Float(n)
                                    for k in 0..<n {
                                        let e = base + k
                                        let dh = G[e] * (wv?[channel(e)] ?? 1)
                                        D[e] = inv * (dh - rn * s1 - H[e] * rn * s2)
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
                g.withUnsafeBufferPointer { gp in
                    xhat.withUnsafeBufferPointer { hp in
                        let G = gp.baseAddress!, H = hp.baseAddress!
                        if channelAxisIsLast {
                            for r in 0..<(size / channels) {
                                for c in 0..<channels { let e = r * channels + c; dw[c] += G[e] * H[e]; db[c] += G[e] }
                            }
                        } else {
                            for e0 in stride(from: 0, to: size, by: plane) {
                                let c = (e0 / plane) % channels
                                var sw: Float = 0, sb: Float = 0
                                for e in e0..<(e0 + plane) { sw += G[e] * H[e]; sb += G[e] }
                                dw[c] += sw
                                db[c] += sb
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
