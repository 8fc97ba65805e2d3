/// Ops that move values without arithmetic: reshape, permute, slice, concat, split,
/// index-select, gather, masked fill and where.

import Core

/// A boolean tensor (masks for `maskedFill`, `where` and attention).
public struct BoolMask: Equatable {
    public let shape: [Int]
    public var values: [Bool]
    public init(shape: [Int], values: [Bool]) {
        precondition(values.count == elementCount(shape), "BoolMask: shape \(shape) needs \(elementCount(shape)) values, got \(values.count)")
        self.shape = shape
        self.values = values
    }

    /// The values read broadcast to `target`, which `shape` must broadcast to.
    func broadcast(to target: [Int], op: String) -> [Bool] {
        let out = checked { try broadcastShape(shape, target, op: op) }
        precondition(out == target, "\(op): mask of shape \(shape) does not broadcast to \(target)")
        if shape == target { return values }
        let plan = BroadcastPlan(shape: target, a: shape, b: [])
        let count = elementCount(target)
        return [Bool](unsafeUninitializedCapacity: count) { out, written in
            let o = out.baseAddress!
            values.withUnsafeBufferPointer { vp in
                let v = vp.baseAddress!
                Parallel.forRanges(plan.rows, costPerElement: count / Swift.max(plan.rows, 1)) { rows in
                    plan.forRows(rows) { start, n, a, aStep, _, _ in
                        if aStep == 1 {
                            (o + start).initialize(from: v + a, count: n)
                        } else {
                            (o + start).initialize(repeating: v[a], count: n)   // a row of one broadcast value
                        }
                    }
                }
            }
            written = count
        }
    }
}

/// `x` with the entries where `mask` is `flag` replaced by `value` (a mask of `x`'s count), in
/// parallel and without a branch per element.
func replacing(_ x: [Float], where mask: [Bool], is flag: Bool = true, with value: Float) -> [Float] {
    x.withUnsafeBufferPointer { xp in
        mask.withUnsafeBufferPointer { mp in
            let xv = xp.baseAddress!, mv = mp.baseAddress!
            return makeValues(x.count) { o, range in
                for i in range { o[i] = mv[i] == flag ? value : xv[i] }
            }
        }
    }
}

/// `a` where `mask` is true, else `b` (equal counts), in parallel and without a branch per element.
func selecting(_ mask: [Bool], _ a: [Float], _ b: [Float]) -> [Float] {
    a.withUnsafeBufferPointer { ap in
        b.withUnsafeBufferPointer { bp in
            mask.withUnsafeBufferPointer { mp in
                let av = ap.baseAddress!, bv = bp.baseAddress!, mv = mp.baseAddress!
                return makeValues(a.count) { o, range in
                    for i in range { o[i] = mv[i] ? av[i] : bv[i] }
                }
            }
        }
    }
}

/// (outer, axis length, inner) of `shape` around `axis`.
@inline(__always)
func splitAround(_ shape: [Int], _ axis: Int) -> (outer: Int, n: Int, inner: Int) {
    (elementCount(Array(shape[..<axis])), shape[axis], elementCount(Array(shape[(axis + 1)...])))
}

extension Tensor {
    /// The same values in another shape (one `-1` is inferred); shares storage.
    public func reshape(_ newShape: [Int]) -> Tensor {
        let target = checked { try resolveReshape(shape, newShape) }
        return Tensor.record("reshape", shape: target, data: data, inputs: [self]) { g, _ in [g] }
    }

    /// Axes reordered: result axis `i` is input axis `order[i]`.
    public func permute(_ order: [Int]) -> Tensor {
        let perm = checked { try order.map { try normalizeAxis($0, rank: rank, op: "permute") } }
        precondition(perm.count == rank && Set(perm).count == rank,
                     "permute: order \(order) is not a permutation of \(rank) axes (shape \(shape))")
        var inverse = [Int](repeating: 0, count: rank)
        for (i, p) in perm.enumerated() { inverse[p] = i }
        let outShape = perm.map { shape[$0] }
        let values = Tensor.permuteValues(data, shape: shape, perm)
        return Tensor.record("permute", shape: outShape, data: values, inputs: [self]) { g, _ in
            [Tensor.permuteValues(g, shape: outShape, inverse)]
        }
    }

    /// Two axes swapped.
    public func transpose(_ a: Int, _ b: Int) -> Tensor {
        let a = checked { try normalizeAxis(a, rank: rank, op: "transpose") }
        let b = checked { try normalizeAxis(b, rank: rank, op: "transpose") }
        var order = Array(0..<rank)
        order.swapAt(a, b)
        return permute(order)
    }

    static func permuteValues(_ x: [Float], shape: [Int], _ perm: [Int]) -> [Float] {
        if perm == Array(0..<perm.count) { return x }
        let merged = mergedPermutation(shape: shape, perm)
        if merged.perm == [1, 0] || merged.perm == [0, 2, 1] {
            // A (batched) matrix transpose, e.g. [B, C, HW] -> [B, HW, C]: 16 x 16 blocks instead
            // of reading the source with a long stride.
            let (batch, rows, cols) = merged.perm == [1, 0] ? (1, merged.shape[0], merged.shape[1])
                                                            : (merged.shape[0], merged.shape[1], merged.shape[2])
            let strips = (rows + 15) / 16
            return x.withUnsafeBufferPointer { xp in
                [Float](unsafeUninitializedCapacity: x.count) { out, count in
                    let o = out.baseAddress!, xb = xp.baseAddress!
                    Parallel.forRanges(batch * strips, costPerElement: 16 * cols) { range in
                        for job in range {
                            let n = job / strips, r0 = job % strips * 16
                            transposeMatrix(rows: Swift.min(16, rows - r0), cols: cols, xb + n * rows * cols + r0 * cols,
                                            lds: cols, o + n * rows * cols + r0, ldd: rows)
                        }
                    }
                    count = x.count
                }
            }
        }
        let inStrides = contiguousStrides(shape)
        let outShape = perm.map { shape[$0] }
        // The output is written in order; the source is read with the permuted strides.
        let src = perm.map { inStrides[$0] }
        let rank = outShape.count
        return x.withUnsafeBufferPointer { xp in
            makeValues(x.count) { o, range in
                // Rows of the output's last axis; `range` is in elements, rows are whole.
                let inner = outShape.last ?? 1
                let lastStride = rank == 0 ? 0 : src[rank - 1]
                let xb = xp.baseAddress!
                var row = range.lowerBound / Swift.max(inner, 1)
                var start = range.lowerBound
                while start < range.upperBound {
                    var rest = row, off = 0
                    var axis = rank - 2
                    while axis >= 0 {
                        off += (rest % outShape[axis]) * src[axis]
                        rest /= outShape[axis]
                        axis -= 1
                    }
                    let rowStart = row * inner
                    let lo = Swift.max(start, rowStart), hi = Swift.min(range.upperBound, rowStart + inner)
                    if lastStride == 1 {
                        (o + lo).update(from: xb + off + (lo - rowStart), count: hi - lo)
                    } else {
                        for e in lo..<hi { o[e] = xb[off + (e - rowStart) * lastStride] }
                    }
                    start = hi
                    row += 1
                }
            }
        }
    }

    /// `shape` and `perm` with length-1 axes dropped and axes that stay neighbours (in order) in
    /// the output merged: the same permutation of memory on the fewest axes. `[B, C, H, W]` with
    /// `[0, 2, 3, 1]` is `[B, C, H·W]` with `[0, 2, 1]`.
    static func mergedPermutation(shape: [Int], _ perm: [Int]) -> (shape: [Int], perm: [Int]) {
        let order = perm.filter { shape[$0] != 1 }
        var groups: [[Int]] = []            // input axes of each merged axis, in output order
        for axis in order {
            if let last = groups.last?.last, last < axis, (last + 1..<axis).allSatisfy({ shape[$0] == 1 }) {
                groups[groups.count - 1].append(axis)
            } else {
                groups.append([axis])
            }
        }
        let byInput = groups.indices.sorted { groups[$0][0] < groups[$1][0] }   // merged axes in input order
        let mergedShape = byInput.map { groups[$0].reduce(1) { $0 * shape[$1] } }
        var rank = [Int](repeating: 0, count: groups.count)
        for (i, g) in byInput.enumerated() { rank[g] = i }
        return (mergedShape, groups.indices.map { rank[$0] })
    }

    /// Elements `range` of `axis`.
    public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
        let a = checked { try normalizeAxis(axis, rank: rank, op: "slice") }
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[a],
                     "slice: range \(range) is outside axis \(axis) of shape \(shape)")
        let (outer, n, inner) = splitAround(shape, a)
        var outShape = shape
        outShape[a] = range.count
        let m = range.count
        var values = [Float](repeating: 0, count: outer * m * inner)
        data.withUnsafeBufferPointer { x in
            values.withUnsafeMutableBufferPointer { o in
                for i in 0..<outer {
                    let src = x.baseAddress! + (i * n + range.lowerBound) * inner
                    (o.baseAddress! + i * m * inner).update(from: src, count: m * inner)
                }
            }
        }
        let count = self.count
        return Tensor.record("slice", shape: outShape, data: values, inputs: [self]) { g, _ in
            var dx = [Float](repeating: 0, count: count)
            g.withUnsafeBufferPointer { gp in
                dx.withUnsafeMutableBufferPointer { d in
                    for i in 0..<outer {
                        (d.baseAddress! + (i * n + range.lowerBound) * inner)
                            .update(from: gp.baseAddress! + i * m * inner, count: m * inner)
                    }
                }
            }
            return [dx]
        }
    }

    /// Tensors joined along `axis`; all other sizes must agree.
    public static func concat(_ parts: [Tensor], axis: Int) -> Tensor {
        precondition(!parts.isEmpty, "concat: no tensors")
        let first = parts[0]
        let a = checked { try normalizeAxis(axis, rank: first.rank, op: "concat") }
        for p in parts {
            var s1 = p.shape, s0 = first.shape
            guard s1.count == s0.count else {
                shapeFailure(ShapeError(op: "concat", "shapes \(first.shape) and \(p.shape) differ in rank"))
            }
            s1[a] = 0
            s0[a] = 0
            if s1 != s0 {
                shapeFailure(ShapeError(op: "concat", "shapes \(first.shape) and \(p.shape) differ outside axis \(axis)"))
            }
        }
        let sizes = parts.map { $0.shape[a] }
        let total = sizes.reduce(0, +)
        let (outer, _, inner) = splitAround(first.shape, a)
        var outShape = first.shape
        outShape[a] = total
        var values = [Float](repeating: 0, count: outer * total * inner)
        values.withUnsafeMutableBufferPointer { o in
            var offset = 0
            for (p, m) in zip(parts, sizes) {
                p.data.withUnsafeBufferPointer { x in
                    for i in 0..<outer where m > 0 {
                        (o.baseAddress! + (i * total + offset) * inner).update(from: x.baseAddress! + i * m * inner, count: m * inner)
                    }
                }
                offset += m
            }
        }
        return record("concat", shape: outShape, data: values, inputs: parts) { g, needs in
            var offset = 0
            var grads: [[Float]?] = []
            for (k, m) in sizes.enumerated() {
                defer { offset += m }
                guard needs[k] else { grads.append(nil); continue }
                var d = [Float](repeating: 0, count: outer * m * inner)
                g.withUnsafeBufferPointer { gp in
                    d.withUnsafeMutableBufferPointer { dp in
                        for i in 0..<outer where m > 0 {
                            (dp.baseAddress! + i * m * inner).update(from: gp.baseAddress! + (i * total + offset) * inner, count: m * inner)
                        }
                    }
                }
                grads.append(d)
            }
            return grads
        }
    }

    /// Consecutive pieces of `sizes` along `axis` (which must add up to the axis length).
    public func split(axis: Int, sizes: [Int]) -> [Tensor] {
        let a = checked { try normalizeAxis(axis, rank: rank, op: "split") }
        precondition(sizes.reduce(0, +) == shape[a], "split: sizes \(sizes) do not add up to axis \(axis) of shape \(shape)")
        var start = 0
        return sizes.map { m in
            defer { start += m }
            return slice(axis: a, start..<(start + m))
        }
    }

    /// Entries `indices` of `axis`, in that order (repeats allowed); the gradient adds up
    /// at repeated indices.
    public func indexSelect(axis: Int, _ indices: [Int]) -> Tensor {
        let a = checked { try normalizeAxis(axis, rank: rank, op: "index_select") }
        let (outer, n, inner) = splitAround(shape, a)
        for i in indices where i < 0 || i >= n {
            shapeFailure(ShapeError(op: "index_select", "index \(i) is out of range for axis \(axis) of shape \(shape)"))
        }
        let m = indices.count
        var outShape = shape
        outShape[a] = m
        // Rows (i, j) of `inner` values, copied in parallel.
        let values = [Float](unsafeUninitializedCapacity: outer * m * inner) { o, count in
            data.withUnsafeBufferPointer { x in
                let (ob, xb) = (o.baseAddress!, x.baseAddress!)
                Parallel.forRanges(outer * m, costPerElement: inner) { rows in
                    for row in rows {
                        let (i, j) = row.quotientAndRemainder(dividingBy: m)
                        (ob + row * inner).update(from: xb + (i * n + indices[j]) * inner, count: inner)
                    }
                }
            }
            count = outer * m * inner
        }
        let count = self.count
        return Tensor.record("index_select", shape: outShape, data: values, inputs: [self]) { g, _ in
            // Elements (i, k) of the input split between threads; each adds its selections in
            // index order (repeated indices add up as in a serial loop).
            var dx = zeroedValues(count)
            dx.withUnsafeMutableBufferPointer { dp in
                g.withUnsafeBufferPointer { gp in
                    let (db, gb) = (dp.baseAddress!, gp.baseAddress!)
                    Parallel.forRanges(outer * inner, costPerElement: m) { elements in
                        for (j, idx) in indices.enumerated() {
                            var e = elements.lowerBound
                            while e < elements.upperBound {
                                let i = e / inner, k0 = e - i * inner, run = Swift.min(inner - k0, elements.upperBound - e)
                                let d = db + (i * n + idx) * inner + k0, s = gb + (i * m + j) * inner + k0
                                for k in 0..<run { d[k] += s[k] }
                                e += run
                            }
                        }
                    }
                }
            }
            return [dx]
        }
    }

    /// PyTorch's `gather`: `out[..., j, ...] = x[..., index[..., j, ...], ...]` along `axis`.
    /// `index` has the result's shape, which equals this tensor's except along `axis`.
    public func gather(axis: Int, index: [Int], indexShape: [Int]) -> Tensor {
        let a = checked { try normalizeAxis(axis, rank: rank, op: "gather") }
        precondition(index.count == elementCount(indexShape), "gather: index shape \(indexShape) needs \(elementCount(indexShape)) values")
        var expect = shape
        expect[a] = indexShape.count == rank ? indexShape[a] : -1
        if indexShape != expect {
            shapeFailure(ShapeError(op: "gather", "index shape \(indexShape) must match input shape \(shape) outside axis \(axis)"))
        }
        let (outer, n, inner) = splitAround(shape, a)
        let m = indexShape[a]
        for i in index where i < 0 || i >= n {
            shapeFailure(ShapeError(op: "gather", "index \(i) is out of range for axis \(axis) of shape \(shape)"))
        }
        var values = [Float](repeating: 0, count: index.count)
        for o in 0..<outer {
            for j in 0..<m {
                for k in 0..<inner {
                    let e = (o * m + j) * inner + k
                    values[e] = data[(o * n + index[e]) * inner + k]
                }
            }
        }
        let count = self.count
        return Tensor.record("gather", shape: indexShape, data: values, inputs: [self]) { g, _ in
            var dx = [Float](repeating: 0, count: count)
            for o in 0..<outer {
                for j in 0..<m {
                    for k in 0..<inner {
                        let e = (o * m + j) * inner + k
                        dx[(o * n + index[e]) * inner + k] += g[e]
                    }
                }
            }
            return [dx]
        }
    }

    /// `value` where `mask` (broadcast to this shape) is true; the gradient is 0 there.
    public func maskedFill(_ mask: BoolMask, _ value: Float) -> Tensor {
        let m = mask.broadcast(to: shape, op: "masked_fill")
        return Tensor.record("masked_fill", shape: shape, data: replacing(data, where: m, with: value), inputs: [self]) { g, _ in
            [replacing(g, where: m, with: 0)]
        }
    }

    /// `a` where `condition` (broadcast) is true, else `b`; `a` and `b` have one shape.
    public static func `where`(_ condition: BoolMask, _ a: Tensor, _ b: Tensor) -> Tensor {
        if a.shape != b.shape {
            shapeFailure(ShapeError(op: "where", "operands have shapes \(a.shape) and \(b.shape)"))
        }
        let c = condition.broadcast(to: a.shape, op: "where")
        return record("where", shape: a.shape, data: selecting(c, a.data, b.data), inputs: [a, b]) { g, needs in
            [needs[0] ? replacing(g, where: c, is: false, with: 0) : nil, needs[1] ? replacing(g, where: c, with: 0) : nil]
        }
    }
}
