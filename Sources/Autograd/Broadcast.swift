import Core
/// Iteration over the elements of a broadcast binary op, one innermost row at a time, so that
/// the per-element work is a tight loop with constant strides (0 or 1 for a broadcast or a
/// contiguous operand).

/// A binary op's operands laid against its output shape.
struct BroadcastPlan {
    let shape: [Int]
    let aStrides: [Int]
    let bStrides: [Int]
    /// Length of the innermost axis (1 for scalars).
    let inner: Int
    var rows: Int { inner == 0 ? 0 : elementCount(shape) / inner }

    init(shape: [Int], a: [Int], b: [Int]) {
        self.shape = shape
        self.aStrides = broadcastStrides(a, to: shape)
        self.bStrides = broadcastStrides(b, to: shape)
        self.inner = shape.last ?? 1
    }

    /// Calls `body(outStart, count, aStart, aStep, bStart, bStep)` for rows in `range`.
    /// The row's multi-index is decomposed once, then advanced like an odometer (divisions
    /// per row would cost more than a short row's work).
    @inline(__always)
    func forRows(_ range: Range<Int>, _ body: (Int, Int, Int, Int, Int, Int) -> Void) {
        if range.isEmpty { return }
        let rank = shape.count
        let aStep = rank == 0 ? 0 : aStrides[rank - 1]
        let bStep = rank == 0 ? 0 : bStrides[rank - 1]
        let outer = Swift.max(rank - 1, 0)
        var index = [Int](repeating: 0, count: outer)
        var rest = range.lowerBound, aOff = 0, bOff = 0
        var axis = outer - 1
        while axis >= 0 {
            index[axis] = rest % shape[axis]
            rest /= shape[axis]
            aOff += index[axis] * aStrides[axis]
            bOff += index[axis] * bStrides[axis]
            axis -= 1
        }
        index.withUnsafeMutableBufferPointer { idx in
            for row in range {
                body(row * inner, inner, aOff, aStep, bOff, bStep)
                var ax = outer - 1
                while ax >= 0 {
                    idx[ax] += 1
                    aOff += aStrides[ax]
                    bOff += bStrides[ax]
                    if idx[ax] < shape[ax] { break }
                    aOff -= idx[ax] * aStrides[ax]
                    bOff -= idx[ax] * bStrides[ax]
                    idx[ax] = 0
                    ax -= 1
                }
            }
        }
    }
}

/// Sums `g` (shaped like `outShape`) over the axes along which `shape` was broadcast, giving
/// a gradient of `shape`. Returns `g` itself when nothing was broadcast.
func reduceGradient(_ g: [Float], from outShape: [Int], to shape: [Int]) -> [Float] {
    if outShape == shape { return g }
    let n = elementCount(shape)
    var out = [Float](repeating: 0, count: n)
    if n == 0 { return out }
    if n == 1 {
        out[0] = sumAll(g)
        return out
    }
    // A bias's gradient (`shape` is the trailing axes of `outShape`): column sums of a
    // [rows, n] matrix, split over columns between threads. Each column is still summed row by
    // row from 0, as below, so the split changes no bit.
    let trailing = Array(shape.drop(while: { $0 == 1 }))
    if trailing.count < outShape.count && Array(outShape.suffix(trailing.count)) == trailing {
        let rows = g.count / n
        g.withUnsafeBufferPointer { gp in
            out.withUnsafeMutableBufferPointer { op in
                let src = gp.baseAddress!, dst = op.baseAddress!
                Parallel.forRanges(n, costPerElement: rows) { cols in
                    for r in 0..<rows {
                        let row = src + r * n
                        for j in cols { dst[j] += row[j] }
                    }
                }
            }
        }
        return out
    }
    let plan = BroadcastPlan(shape: outShape, a: shape, b: [])
    // Trailing axes reduced (row sums, e.g. the mask losses' [16, 12544] -> [16, 1]): each output's
    // rows are consecutive, so outputs split between threads keep each output's additions in the
    // serial loop's order. Otherwise one thread walks every row.
    let keptAxes = zip(shape, outShape).prefix { $0.0 == $0.1 }.count
    let rowSums = shape.count == outShape.count && shape[keptAxes...].allSatisfy { $0 == 1 } && plan.rows % n == 0
    let rowsPerOutput = rowSums ? plan.rows / n : plan.rows
    g.withUnsafeBufferPointer { gp in
        out.withUnsafeMutableBufferPointer { op in
            let (src, dst) = (gp.baseAddress!, op.baseAddress!)
            Parallel.forRanges(rowSums ? n : 1, costPerElement: g.count / (rowSums ? n : 1)) { outputs in
                plan.forRows(outputs.lowerBound * rowsPerOutput..<outputs.upperBound * rowsPerOutput) { o, count, a, aStep, _, _ in
                    if aStep == 0 {
                        var s: Float = 0
                        for j in 0..<count { s += src[o + j] }
                        dst[a] += s
                    } else {
                        for j in 0..<count { dst[a + j] += src[o + j] }
                    }
                }
            }
        }
    }
    return out
}

/// Sum of all values, in Double for accuracy on long arrays.
func sumAll(_ x: [Float]) -> Float {
    x.withUnsafeBufferPointer { p in
        var s0: Double = 0, s1: Double = 0, s2: Double = 0, s3: Double = 0
        var i = 0
        while i + 4 <= p.count {
            s0 += Double(p[i]); s1 += Double(p[i + 1]); s2 += Double(p[i + 2]); s3 += Double(p[i + 3])
            i += 4
        }
        while i < p.count { s0 += Double(p[i]); i += 1 }
        return Float((s0 + s1) + (s2 + s3))
    }
}

/// `x += y`, elementwise, same length.
func addInPlace(_ x: inout [Float], _ y: [Float]) {
    let n = x.count
    x.withUnsafeMutableBufferPointer { xp in
        y.withUnsafeBufferPointer { yp in
            let xb = xp.baseAddress!, yb = yp.baseAddress!
            Parallel.forRanges(n) { r in
                for i in r { xb[i] += yb[i] }
            }
        }
    }
}
