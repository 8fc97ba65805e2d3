import Core
/// 2-D convolution (NCHW, zero padding) lowered to one GEMM per group over the whole batch:
/// `im2col` lays the input out as a `[Cin·kh·kw, N·Ho·Wo]` matrix, so a batch of small maps is
/// still one large, well-shaped GEMM for OpenBLAS. The backward pass recomputes that matrix
/// (cheap next to the GEMMs) rather than keeping it alive between forward and backward.

/// The geometry of one convolution.
public struct ConvGeometry: Equatable {
    public var batch, inChannels, height, width: Int
    public var outChannels, kernelH, kernelW: Int
    public var strideH, strideW, padH, padW, dilationH, dilationW, groups: Int

    public init(batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int, kernelH: Int, kernelW: Int,
                strideH: Int, strideW: Int, padH: Int, padW: Int, dilationH: Int, dilationW: Int, groups: Int) {
        (self.batch, self.inChannels, self.height, self.width) = (batch, inChannels, height, width)
        (self.outChannels, self.kernelH, self.kernelW) = (outChannels, kernelH, kernelW)
        (self.strideH, self.strideW, self.padH, self.padW) = (strideH, strideW, padH, padW)
        (self.dilationH, self.dilationW, self.groups) = (dilationH, dilationW, groups)
    }

    public var outHeight: Int { (height + 2 * padH - dilationH * (kernelH - 1) - 1) / strideH + 1 }
    public var outWidth: Int { (width + 2 * padW - dilationW * (kernelW - 1) - 1) / strideW + 1 }
    /// Rows of the lowered matrix per group (the GEMM's K).
    public var patchSize: Int { inChannels / groups * kernelH * kernelW }
    /// Columns of the lowered matrix (the GEMM's N).
    public var positions: Int { batch * outHeight * outWidth }
    /// Multiply-adds times two, for the forward pass.
    public var forwardFLOPs: Double { 2 * Double(outChannels) * Double(patchSize) * Double(positions) }

    /// Output columns `ox` whose input column `ox·stride + offset` lies inside `[0, width)`.
    @inline(__always)
    func validColumns(offset: Int) -> Range<Int> {
        let wo = outWidth
        if width - 1 - offset < 0 { return 0..<0 }
        let lo = offset >= 0 ? 0 : Swift.min(wo, (-offset + strideW - 1) / strideW)
        let hi = Swift.min(wo, (width - 1 - offset) / strideW + 1)
        return lo..<Swift.max(lo, hi)
    }

    /// Input values → lowered matrix `[Cin·kh·kw, N·Ho·Wo]`; every entry is written.
    func im2col(_ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>) {
        let ho = outHeight, wo = outWidth, hw = height * width, p = positions
        let rows = inChannels * kernelH * kernelW
        Parallel.forRanges(rows, costPerElement: p) { range in
            for row in range {
                let c = row / (kernelH * kernelW), i = (row / kernelW) % kernelH, j = row % kernelW
                let dy = i * dilationH - padH, dx = j * dilationW - padW
                let cols = validColumns(offset: dx)
                let oxLo = cols.lowerBound, oxHi = cols.upperBound
                var dst = col + row * p
                for n in 0..<batch {
                    let plane = x + (n * inChannels + c) * hw
                    for oy in 0..<ho {
                        let iy = oy * strideH + dy
                        if iy < 0 || iy >= height || cols.isEmpty {
                            dst.update(repeating: 0, count: wo)
                        } else {
                            let src = plane + iy * width + dx
                            for ox in 0..<oxLo { dst[ox] = 0 }
                            if strideW == 1 {
                                (dst + oxLo).update(from: src + oxLo, count: oxHi - oxLo)
                            } else if strideW == 2 {
                                // Eight at a time: the even lanes of 16 values (the last read stays
                                // inside the row's valid columns).
                                var ox = oxLo
                                while ox + 9 <= oxHi {
                                    store8(dst + ox, UnsafeRawPointer(src + 2 * ox).loadUnaligned(as: SIMD16<Float>.self).evenHalf)
                                    ox += 8
                                }
                                while ox < oxHi { dst[ox] = src[2 * ox]; ox += 1 }
                            } else {
                                for ox in oxLo..<oxHi { dst[ox] = src[ox * strideW] }
                            }
                            for ox in oxHi..<wo { dst[ox] = 0 }
                        }
                        dst += wo
                    }
                }
            }
        }
    }

    /// Lowered-matrix gradient → input gradient (adds overlapping patches). Parallel over input
    /// channels: the rows of one channel write only that channel.
    func col2im(_ col: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
        let ho = outHeight, wo = outWidth, hw = height * width, p = positions
        Parallel.forRanges(inChannels, costPerElement: kernelH * kernelW * p) { range in
            for c in range {
                for n in 0..<batch { (dx + (n * inChannels + c) * hw).update(repeating: 0, count: hw) }
                for i in 0..<kernelH {
                    for j in 0..<kernelW {
                        let row = (c * kernelH + i) * kernelW + j
                        let dy = i * dilationH - padH, dxo = j * dilationW - padW
                        let cols = validColumns(offset: dxo)
                        var src = col + row * p
                        for n in 0..<batch {
                            let plane = dx + (n * inChannels + c) * hw
                            for oy in 0..<ho {
                                let iy = oy * strideH + dy
                                if iy >= 0 && iy < height {
                                    let d = plane + iy * width + dxo
                                    if strideW == 1 {
                                        // Contiguous: eight at a time (each element still gets one add).
                                        var ox = cols.lowerBound
                                        while ox + 8 <= cols.upperBound { add8(d + ox, load8(src + ox)); ox += 8 }
                                        while ox < cols.upperBound { d[ox] += src[ox]; ox += 1 }
                                    } else if strideW == 2 {
                                        // Eight at a time into the even lanes of 16 values (the odd
                                        // lanes are written back unchanged; this thread owns the row).
                                        var ox = cols.lowerBound
                                        while ox + 9 <= cols.upperBound {
                                            let p = UnsafeMutableRawPointer(d + 2 * ox)
                                            var v = p.loadUnaligned(as: SIMD16<Float>.self)
                                            v.evenHalf += load8(src + ox)
                                            p.storeBytes(of: v, as: SIMD16<Float>.self)
                                            ox += 8
                                        }
                                        while ox < cols.upperBound { d[2 * ox] += src[ox]; ox += 1 }
                                    } else {
                                        for ox in cols { d[ox * strideW] += src[ox] }
                                    }
                                }
                                src += wo
                            }
                        }
                    }
                }
            }
        }
    }
}

extension ConvGeometry {
    /// Stride-1 convolutions on large maps skip the lowered matrix (kh·kw copies of the input):
    /// with the input zero-padded once to `[Cin, N, H + 2·padH, W + 2·padW]`, tap (c, i, j) of
    /// every output position is the padded input shifted by i rows and j columns, so the GEMM
    /// reads its K rows as pointers into that one copy (`sgemmRows`). The GEMM also computes the
    /// columns that fall in the padding (discarded), so only maps where those are few qualify.
    /// Same K order, same kernel: the output equals the lowered path's bit for bit.
    var lowersBySharing: Bool {
        Self.sharingEnabled && groups == 1 && strideH == 1 && strideW == 1 && dilationH == 1 && dilationW == 1 && kernelH * kernelW > 1
            && GEMMBackend.current == .avx512
            && (height + 2 * padH) * (width + 2 * padW) * 100 <= outHeight * outWidth * 115
    }

    /// Off: every convolution takes the lowered path (tests and benchmarks compare the two).
    nonisolated(unsafe) public static var sharingEnabled = true

    /// The forward pass of `lowersBySharing` convolutions: `[N, Cout, Ho, Wo]` (+ bias).
    func forwardSharing(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: [Float]?,
                        precision: GEMMPrecision) -> [Float] {
        let hp = height + 2 * padH, wp = width + 2 * padW, padded = hp * wp, l = batch * padded
        let (ho, wo) = (outHeight, outWidth)
        // Garbage columns near the end read up to this far past the last channel's copy.
        let tail = (kernelH - 1) * wp + kernelW
        return ScratchPool.withBuffer(inChannels * l + tail) { xp in
            Parallel.forRanges(inChannels * batch, costPerElement: padded) { planes in
                for cn in planes {
                    let c = cn / batch, n = cn % batch
                    let dst = xp + c * l + n * padded, src = x + (n * inChannels + c) * height * width
                    dst.update(repeating: 0, count: padH * wp + padW)
                    for y in 0..<height {
                        (dst + (y + padH) * wp + padW).update(from: src + y * width, count: width)
                        // The right padding of this row and the left padding of the next.
                        (dst + (y + padH) * wp + padW + width).update(repeating: 0, count: 2 * padW)
                    }
                    let filled = (height + padH) * wp + padW
                    (dst + filled).update(repeating: 0, count: padded - filled)
                }
            }
            (xp + inChannels * l).update(repeating: 0, count: tail)
            var rows: [UnsafePointer<Float>?] = []
            rows.reserveCapacity(patchSize)
            for c in 0..<inChannels {
                for i in 0..<kernelH { for j in 0..<kernelW { rows.append(UnsafePointer(xp + c * l + i * wp + j)) } }
            }
            return ScratchPool.withBuffer(outChannels * l) { y in
                sgemmRows(m: outChannels, n: l, k: patchSize, a: weight, lda: patchSize, rows: rows, c: y, ldc: l,
                          precision: precision)
                // Output rows (n, o, oy): the valid columns of Y's row o.
                let rowCount = batch * outChannels * ho
                return [Float](unsafeUninitializedCapacity: rowCount * wo) { out, count in
                    let o = out.baseAddress!
                    Parallel.forRanges(rowCount, costPerElement: wo) { range in
                        for r in range {
                            let oy = r % ho, no = r / ho, oc = no % outChannels, n = no / outChannels
                            let src = y + oc * l + n * padded + oy * wp, dst = o + r * wo
                            if let bias {
                                let b = bias[oc]
                                for i in 0..<wo { dst[i] = src[i] + b }
                            } else {
                                dst.update(from: src, count: wo)
                            }
                        }
                    }
                    count = rowCount * wo
                }
            }
        }
    }
}

extension Tensor {
    /// PyTorch's `conv2d`: `x` `[N, Cin, H, W]`, `weight` `[Cout, Cin/groups, kh, kw]`,
    /// `bias` `[Cout]`. `stride`, `padding` and `dilation` are (vertical, horizontal).
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil,
                              stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                              dilation: (Int, Int) = (1, 1), groups: Int = 1) -> Tensor {
        guard x.rank == 4, weight.rank == 4 else {
            shapeFailure(ShapeError(op: "conv2d", "input \(x.shape) and weight \(weight.shape) must both be 4-D"))
        }
        let geo = ConvGeometry(
            batch: x.shape[0], inChannels: x.shape[1], height: x.shape[2], width: x.shape[3],
            outChannels: weight.shape[0], kernelH: weight.shape[2], kernelW: weight.shape[3],
            strideH: stride.0, strideW: stride.1, padH: padding.0, padW: padding.1,
            dilationH: dilation.0, dilationW: dilation.1, groups: groups)
        guard groups >= 1, geo.inChannels % groups == 0, geo.outChannels % groups == 0,
              weight.shape[1] * groups == geo.inChannels else {
            shapeFailure(ShapeError(op: "conv2d",
                "input \(x.shape) and weight \(weight.shape) do not fit groups \(groups)"))
        }
        guard stride.0 > 0, stride.1 > 0, dilation.0 > 0, dilation.1 > 0, padding.0 >= 0, padding.1 >= 0,
              geo.outHeight > 0, geo.outWidth > 0 else {
            shapeFailure(ShapeError(op: "conv2d",
                "input \(x.shape), kernel \(weight.shape), stride \(stride), padding \(padding), dilation \(dilation) give no output"))
        }
        if let bias, bias.shape != [geo.outChannels] {
            shapeFailure(ShapeError(op: "conv2d", "bias \(bias.shape) for \(geo.outChannels) output channels"))
        }
        let ho = geo.outHeight, wo = geo.outWidth, p = geo.positions
        let kg = geo.patchSize, cg = geo.outChannels / groups
        let outShape = [geo.batch, geo.outChannels, ho, wo]
        let precision = GEMMPrecision.current  // the backward pass's GEMMs too

        // Forward: Y[g] = W[g] · col[g], then [Cout, N·HoWo] → [N, Cout, HoWo] (+ bias).
        var inputs = [x, weight]
        if let bias { inputs.append(bias) }
        let recordsGradient = GradMode.isEnabled && inputs.contains { $0.requiresGrad }
        let winograd = geo.usesWinograd(precision, recordsGradient: recordsGradient)
        let values = winograd ? x.data.withUnsafeBufferPointer { xp in
            weight.data.withUnsafeBufferPointer { wp in
                geo.winogradForward(xp.baseAddress!, weight: wp.baseAddress!, bias: bias?.data,
                                    largeTiles: geo.usesLargeWinogradTiles(recordsGradient: recordsGradient))
            }
        } : geo.lowersBySharing ? x.data.withUnsafeBufferPointer { xp in
            weight.data.withUnsafeBufferPointer { wp in geo.forwardSharing(xp.baseAddress!, weight: wp.baseAddress!, bias: bias?.data, precision: precision) }
        } : ScratchPool.withBuffer(geo.outChannels * p) { ymat in
            x.data.withUnsafeBufferPointer { xp in
                weight.data.withUnsafeBufferPointer { wp in
                    withLoweredInput(geo, xp.baseAddress!) { col in
                        for g in 0..<groups {
                            sgemm(m: cg, n: p, k: kg, a: wp.baseAddress! + g * cg * kg,
                                  b: col + g * kg * p, c: ymat + g * cg * p, precision: precision)
                        }
                    }
                }
            }
            return channelMajorToBatchMajor(UnsafePointer(ymat), channels: geo.outChannels, batch: geo.batch,
                                            plane: ho * wo, bias: bias?.data)
        }
        return record("conv2d", shape: outShape, data: values, inputs: inputs) { g, needs in
            let gmat = batchMajorToChannelMajor(g, channels: geo.outChannels, batch: geo.batch, plane: ho * wo)
            var dx: [Float]? = nil, dw: [Float]? = nil, db: [Float]? = nil
            gmat.withUnsafeBufferPointer { gp in
                let G = gp.baseAddress!
                if needs[1] {
                    var out = [Float](repeating: 0, count: weight.count)
                    x.data.withUnsafeBufferPointer { xp in
                        out.withUnsafeMutableBufferPointer { dwp in
                            withLoweredInput(geo, xp.baseAddress!) { col in
                                for gi in 0..<groups {
                                    sgemm(transB: true, m: cg, n: kg, k: p, a: G + gi * cg * p,
                                          b: col + gi * kg * p, c: dwp.baseAddress! + gi * cg * kg, precision: precision)
                                }
                            }
                        }
                    }
                    dw = out
                }
                if needs[0] && winograd {
                    // The output gradient convolved by the flipped, transposed filters, by Winograd too.
                    dx = g.withUnsafeBufferPointer { gp in
                        weight.data.withUnsafeBufferPointer { wp in
                            let flipped = ConvGeometry.flippedTransposedFilters(wp.baseAddress!, outChannels: geo.outChannels,
                                                                                 inChannels: geo.inChannels)
                            return flipped.withUnsafeBufferPointer { fp in
                                geo.dataGradientGeometry.winogradForward(gp.baseAddress!, weight: fp.baseAddress!, bias: nil)
                            }
                        }
                    }
                } else if needs[0] {
                    var out = [Float](unsafeUninitializedCapacity: x.count) { _, n in n = x.count }
                    weight.data.withUnsafeBufferPointer { wp in
                        ScratchPool.withBuffer(geo.inChannels * geo.kernelH * geo.kernelW * p) { dcol in
                            for gi in 0..<groups {
                                sgemm(transA: true, m: kg, n: p, k: cg, a: wp.baseAddress! + gi * cg * kg,
                                      b: G + gi * cg * p, c: dcol + gi * kg * p, precision: precision)
                            }
                            out.withUnsafeMutableBufferPointer { dxp in
                                geo.col2im(dcol, dxp.baseAddress!)
                            }
                        }
                    }
                    dx = out
                }
                if needs.count > 2 && needs[2] {
                    db = biasGradient(G, channels: geo.outChannels, positions: p)
                }
            }
            return needs.count > 2 ? [dx, dw, db] : [dx, dw]
        }
    }

    /// Runs `body` on the lowered input. A 1x1, stride-1, unpadded convolution of a single image
    /// needs no lowering: the input already is the matrix.
    private static func withLoweredInput(_ geo: ConvGeometry, _ x: UnsafePointer<Float>,
                                         _ body: (UnsafePointer<Float>) -> Void) {
        if geo.batch == 1 && geo.kernelH == 1 && geo.kernelW == 1 && geo.strideH == 1 && geo.strideW == 1
            && geo.padH == 0 && geo.padW == 0 {
            body(x)
            return
        }
        ScratchPool.withBuffer(geo.inChannels * geo.kernelH * geo.kernelW * geo.positions) { col in
            geo.im2col(x, col)
            body(col)
        }
    }
}

/// Σ over positions of each channel's row of `g` `[channels, positions]`: each sum one float
/// chain in position order (as a plain loop adds them), eight channels side by side in the
/// lanes of one vector (eight independent chains instead of one at a time), channels in
/// parallel.
func biasGradient(_ g: UnsafePointer<Float>, channels: Int, positions p: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: channels) { out, count in
        let o = out.baseAddress!
        Parallel.forRanges((channels + 7) / 8, costPerElement: 8 * p) { blocks in
            withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: 8) { r in
                for block in blocks {
                    let c0 = block * 8, lanes = Swift.min(8, channels - c0)
                    for l in 0..<8 { r[l] = g + (c0 + (l < lanes ? l : 0)) * p }   // a missing lane re-reads the first row
                    var sum = SIMD8<Float>()
                    for i in 0..<p {
                        sum += SIMD8(r[0][i], r[1][i], r[2][i], r[3][i], r[4][i], r[5][i], r[6][i], r[7][i])
                    }
                    for l in 0..<lanes { o[c0 + l] = sum[l] }
                }
            }
        }
        count = channels
    }
}

/// `[C, N, P]` → `[N, C, P]`, adding `bias[c]` when given.
func channelMajorToBatchMajor(_ m: UnsafePointer<Float>, channels: Int, batch: Int, plane: Int, bias: [Float]?) -> [Float] {
    makeValues(channels * batch * plane) { o, range in
        // Parallel chunks are element ranges of the output; walk them plane by plane.
        var e = range.lowerBound
        while e < range.upperBound {
            let row = e / plane                 // n * channels + c
            let n = row / channels, c = row % channels
            let off = e - row * plane
            let len = Swift.min(plane - off, range.upperBound - e)
            let src = m + (c * batch + n) * plane + off
            if let bias {
                let b = bias[c]
                for i in 0..<len { o[e + i] = src[i] + b }
            } else {
                (o + e).update(from: src, count: len)
            }
            e += len
        }
    }
}

/// `[N, C, P]` → `[C, N, P]`.
func batchMajorToChannelMajor(_ x: [Float], channels: Int, batch: Int, plane: Int) -> [Float] {
    if batch == 1 { return x }
    return x.withUnsafeBufferPointer { xp in
        makeValues(x.count) { o, range in
            var e = range.lowerBound
            while e < range.upperBound {
                let row = e / plane                 // c * batch + n
                let c = row / batch, n = row % batch
                let off = e - row * plane
                let len = Swift.min(plane - off, range.upperBound - e)
                (o + e).update(from: xp.baseAddress! + (n * channels + c) * plane + off, count: len)
                e += len
            }
        }
    }
}
