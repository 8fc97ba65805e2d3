import Core
/// Reductions: sum, mean and max over axes, and `expand` (their adjoint: broadcasting).

/// Values of `plan.shape`, each read from the operand `a` of `plan` (a broadcast copy).
func broadcastRows(_ x: [Float], _ plan: BroadcastPlan) -> [Float] {
    let count = elementCount(plan.shape)
    if count == 0 { return [] }
    // Uninitialised: the rows cover every element.
    return [Float](unsafeUninitializedCapacity: count) { op, written in
        x.withUnsafeBufferPointer { xp in
            let xb = xp.baseAddress!, ob = op.baseAddress!
            Parallel.forRanges(plan.rows, costPerElement: plan.inner) { rows in
                plan.forRows(rows) { o, n, a, aStep, _, _ in
                    for j in 0..<n { ob[o + j] = xb[a + j * aStep] }
                }
            }
        }
        written = count
    }
}

extension Tensor {
    /// The shape with `axes` set to 1, after checking them.
    private func keptShape(_ axes: [Int], op: String) -> (kept: [Int], axes: [Int]) {
        let normalized = checked { try axes.map { try normalizeAxis($0, rank: rank, op: op) } }
        precondition(Set(normalized).count == normalized.count, "\(op): repeated axis in \(axes)")
        var kept = shape
        for a in normalized { kept[a] = 1 }
        return (kept, normalized)
    }

    private static func dropAxes(_ shape: [Int], _ axes: [Int]) -> [Int] {
        shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
    }

    /// Sum over `axes` (all axes when `nil`); reduced axes are kept as size 1 with `keepDims`.
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let (kept, normalized) = keptShape(axes ?? Array(0..<rank), op: "sum")
        let outShape = keepDims ? kept : Tensor.dropAxes(shape, normalized)
        let values = reduceGradient(data, from: shape, to: kept)
        let inShape = shape
        return Tensor.record("sum", shape: outShape, data: values, inputs: [self]) { g, _ in
            [broadcastRows(g, BroadcastPlan(shape: inShape, a: kept, b: []))]
        }
    }

    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }

    /// Mean over `axes` (all axes when `nil`).
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let (kept, _) = keptShape(axes ?? Array(0..<rank), op: "mean")
        let n = elementCount(shape) / Swift.max(elementCount(kept), 1)
        return sum(axes: axes, keepDims: keepDims) * (1 / Float(Swift.max(n, 1)))
    }

    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }

    /// log Σ exp over one axis, kept as size 1: the maximum (a constant: the result does not
    /// depend on it) subtracted before `exp` so that large logits do not overflow. Composed of
    /// ops with their own backward rules.
    public func logSumExp(axis: Int) -> Tensor {
        let m = withoutGrad { max(axis: axis, keepDims: true) }
        let shift = Tensor(shape: m.shape, data: m.data.map { $0.isFinite ? $0 : 0 })
        return (self - shift).exp().sum(axis: axis, keepDims: true).log() + shift
    }

    /// Maximum over one axis; the gradient goes to the first maximal element, as in PyTorch's
    /// `max(dim)`. NaN propagates.
    public func max(axis: Int, keepDims: Bool = false) -> Tensor {
        let a = checked { try normalizeAxis(axis, rank: rank, op: "max") }
        precondition(shape[a] > 0, "max: axis \(axis) of shape \(shape) is empty")
        let outer = elementCount(Array(shape[..<a])), n = shape[a], inner = elementCount(Array(shape[(a + 1)...]))
        var kept = shape
        kept[a] = 1
        var argmax = [Int](repeating: 0, count: outer * inner)
        var values = [Float](repeating: 0, count: outer * inner)
        data.withUnsafeBufferPointer { x in
            for o in 0..<outer {
                for i in 0..<inner {
                    var best = x[o * n * inner + i], bestK = 0
                    if !best.isNaN {
                        for k in 1..<n {
                            let v = x[(o * n + k) * inner + i]
                            if v > best || v.isNaN { best = v; bestK = k; if v.isNaN { break } }
                        }
                    }
                    values[o * inner + i] = best
                    argmax[o * inner + i] = bestK
                }
            }
        }
        let count = self.count
        return Tensor.record("max", shape: keepDims ? kept : Tensor.dropAxes(shape, [a]), data: values,
                             inputs: [self]) { g, _ in
            var dx = [Float](repeating: 0, count: count)
            for o in 0..<outer {
                for i in 0..<inner { dx[(o * n + argmax[o * inner + i]) * inner + i] += g[o * inner + i] }
            }
            return [dx]
        }
    }

    /// Maximum over several axes (one after another).
    public func max(axes: [Int], keepDims: Bool = false) -> Tensor {
        let normalized = checked { try axes.map { try normalizeAxis($0, rank: rank, op: "max") } }
        var out = self
        for a in normalized.sorted(by: >) { out = out.max(axis: a, keepDims: true) }
        return keepDims ? out : out.reshape(Tensor.dropAxes(shape, normalized))
    }

    /// This tensor broadcast to `target` (NumPy rules); the gradient sums back.
    public func expand(to target: [Int]) -> Tensor {
        let out = checked { try broadcastShape(shape, target, op: "expand") }
        precondition(out == target, "expand: shape \(shape) cannot be expanded to \(target)")
        let inShape = shape
        return Tensor.record("expand", shape: target, data: broadcastRows(data, BroadcastPlan(shape: target, a: shape, b: [])),
                             inputs: [self]) { g, _ in [reduceGradient(g, from: target, to: inShape)] }
    }
}
