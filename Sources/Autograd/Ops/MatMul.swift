import Core

/// Matrix products through `cblas_sgemm`: matmul, batched matmul and linear.
/// Transposed operands are read transposed by BLAS, never copied.

extension Tensor {
    /// `op(a) · op(b)` over the last two axes, where `op` transposes when asked.
    ///
    /// - `a` is `[..., M, K]` (`[..., K, M]` with `transA`), `b` is `[..., K, N]`
    ///   (`[..., N, K]` with `transB`).
    /// - Leading (batch) axes must be equal, or `b` is a plain matrix shared by every batch
    ///   entry of `a` (then `a`'s leading axes fold into M and one GEMM does all).
    public static func matmul(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false) -> Tensor {
        matmul(a, b, transA: transA, transB: transB, bias: nil)
    }

    /// `matmul`, plus `bias` `[N]` added to every row when given (for `linear`): the output starts
    /// as the bias rows and the GEMM accumulates onto it (beta 1), so the bias costs no pass of
    /// its own — and no zeroing pass either.
    static func matmul(_ a: Tensor, _ b: Tensor, transA: Bool, transB: Bool, bias: Tensor?) -> Tensor {
        guard a.rank >= 2, b.rank >= 2 else {
            shapeFailure(ShapeError(op: "matmul", "operands need rank >= 2, got \(a.shape) and \(b.shape)"))
        }
        if b.rank == 2 && a.rank > 2 && !transA {
            // Shared weight matrix: fold the batch into rows.
            let k = a.shape[a.rank - 1]
            let flat = matmul(a.reshape([-1, k]), b, transA: false, transB: transB, bias: bias)
            return flat.reshape(Array(a.shape.dropLast()) + [flat.shape[1]])
        }
        let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
        guard batchA == batchB else {
            shapeFailure(ShapeError(op: "matmul", "batch axes differ: \(a.shape) and \(b.shape)"))
        }
        let ra = a.shape.suffix(2), rb = b.shape.suffix(2)
        let (m, ka) = transA ? (ra.last!, ra.first!) : (ra.first!, ra.last!)
        let (kb, n) = transB ? (rb.last!, rb.first!) : (rb.first!, rb.last!)
        guard ka == kb else {
            shapeFailure(ShapeError(op: "matmul",
                "inner sizes differ: \(a.shape)\(transA ? "ᵀ" : "") · \(b.shape)\(transB ? "ᵀ" : "") (\(ka) vs \(kb))"))
        }
        let k = ka
        let batch = elementCount(batchA)
        if let bias, bias.shape != [n] || batch != 1 {
            shapeFailure(ShapeError(op: "linear", "bias of shape \(bias.shape) for \(n) outputs of \(a.shape)"))
        }
        let outShape = batchA + [m, n]
        let biasValues = bias?.data
        let precision = GEMMPrecision.current  // the backward pass's GEMMs too
        // Uninitialised: the GEMM (beta 0) writes every element, or the bias rows are copied first.
        let values = [Float](unsafeUninitializedCapacity: batch * m * n) { cp, count in
            a.data.withUnsafeBufferPointer { ap in
                b.data.withUnsafeBufferPointer { bp in
                    if let biasValues {
                        biasValues.withUnsafeBufferPointer { bv in
                            let (c, b) = (cp.baseAddress!, bv.baseAddress!)
                            Parallel.forRanges(m, costPerElement: n) { rows in
                                for i in rows { (c + i * n).update(from: b, count: n) }
                            }
                        }
                    }
                    let (a0, b0, c0) = (ap.baseAddress!, bp.baseAddress!, cp.baseAddress!)
                    forEachProduct(batch, multiplyAdds: m * n * k) { i in
                        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a0 + i * m * k, b: b0 + i * k * n,
                              beta: biasValues == nil ? 0 : 1, c: c0 + i * m * n, precision: precision)
                    }
                }
            }
            count = batch * m * n
        }
        let inputs = bias.map { [a, b, $0] } ?? [a, b]
        return record(bias == nil ? "matmul" : "linear", shape: outShape, data: values, inputs: inputs) { g, needs in
            var da: [Float]? = nil, db: [Float]? = nil
            g.withUnsafeBufferPointer { gp in
                a.data.withUnsafeBufferPointer { ap in
                    b.data.withUnsafeBufferPointer { bp in
                        let G = gp.baseAddress!, A = ap.baseAddress!, B = bp.baseAddress!
                        if needs[0] {
                            var out = [Float](unsafeUninitializedCapacity: batch * m * k) { _, count in count = batch * m * k }
                            out.withUnsafeMutableBufferPointer { dp in
                                let dp = dp.baseAddress!
                                forEachProduct(batch, multiplyAdds: m * n * k) { i in
                                    let gi = G + i * m * n, bi = B + i * k * n, di = dp + i * m * k
                                    switch (transA, transB) {
                                    case (false, false): // dA = G · Bᵀ
                                        sgemm(transB: true, m: m, n: k, k: n, a: gi, b: bi, c: di, precision: precision)
                                    case (false, true):  // dA = G · B   (B stored N x K)
                                        sgemm(m: m, n: k, k: n, a: gi, b: bi, c: di, precision: precision)
                                    case (true, false):  // dA (K x M) = B · Gᵀ
                                        sgemm(transB: true, m: k, n: m, k: n, a: bi, b: gi, c: di, precision: precision)
                                    case (true, true):   // dA (K x M) = Bᵀ · Gᵀ
                                        sgemm(transA: true, transB: true, m: k, n: m, k: n, a: bi, b: gi, c: di, precision: precision)
                                    }
                                }
                            }
                            da = out
                        }
                        if needs[1] {
                            var out = [Float](unsafeUninitializedCapacity: batch * k * n) { _, count in count = batch * k * n }
                            out.withUnsafeMutableBufferPointer { dp in
                                let dp = dp.baseAddress!
                                forEachProduct(batch, multiplyAdds: m * n * k) { i in
                                    let gi = G + i * m * n, ai = A + i * m * k, di = dp + i * k * n
                                    switch (transA, transB) {
                                    case (false, false): // dB = Aᵀ · G
                                        sgemm(transA: true, m: k, n: n, k: m, a: ai, b: gi, c: di, precision: precision)
                                    case (true, false):  // dB = A · G   (A stored K x M)
                                        sgemm(m: k, n: n, k: m, a: ai, b: gi, c: di, precision: precision)
                                    case (false, true):  // dB (N x K) = Gᵀ · A
                                        sgemm(transA: true, m: n, n: k, k: m, a: gi, b: ai, c: di, precision: precision)
                                    case (true, true):   // dB (N x K) = Gᵀ · Aᵀ
                                        sgemm(transA: true, transB: true, m: n, n: k, k: m, a: gi, b: ai, c: di, precision: precision)
                                    }
                                }
                            }
                            db = out
                        }
                    }
                }
            }
            if needs.count == 3 {
                return [da, db, needs[2] ? reduceGradient(g, from: [m, n], to: [n]) : nil]
            }
            return [da, db]
        }
    }

    /// `x · weightᵀ + bias` for `x` of shape `[..., in]`, `weight` `[out, in]` (PyTorch's layout)
    /// and `bias` `[out]`.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        if let bias, bias.shape != [weight.shape[0]] {
            shapeFailure(ShapeError(op: "linear", "bias of shape \(bias.shape) for weight \(weight.shape)"))
        }
        return matmul(x, weight, transA: false, transB: true, bias: bias)
    }
}
