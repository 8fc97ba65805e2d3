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
        guard a.rank >= 2, b.rank >= 2 else {
            shapeFailure(ShapeError(op: "matmul", "operands need rank >= 2, got \(a.shape) and \(b.shape)"))
        }
        if b.rank == 2 && a.rank > 2 && !transA {
            // Shared weight matrix: fold the batch into rows.
            let k = a.shape[a.rank - 1]
            let flat = matmul(a.reshape([-1, k]), b, transB: transB)
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
        let outShape = batchA + [m, n]
        var values = [Float](repeating: 0, count: batch * m * n)
        a.data.withUnsafeBufferPointer { ap in
            b.data.withUnsafeBufferPointer { bp in
                values.withUnsafeMutableBufferPointer { cp in
                    for i in 0..<batch {
                        sgemm(transA: transA, transB: transB, m: m, n: n, k: k,
                              a: ap.baseAddress! + i * m * k, b: bp.baseAddress! + i * k * n,
                              c: cp.baseAddress! + i * m * n)
                    }
                }
            }
        }
        return record("matmul", shape: outShape, data: values, inputs: [a, b]) { g, needs in
            var da: [Float]? = nil, db: [Float]? = nil
            g.withUnsafeBufferPointer { gp in
                a.data.withUnsafeBufferPointer { ap in
                    b.data.withUnsafeBufferPointer { bp in
                        let G = gp.baseAddress!, A = ap.baseAddress!, B = bp.baseAddress!
                        if needs[0] {
                            var out = [Float](repeating: 0, count: batch * m * k)
                            out.withUnsafeMutableBufferPointer { dp in
                                for i in 0..<batch {
                                    let gi = G + i * m * n, bi = B + i * k * n, di = dp.baseAddress! + i * m * k
                                    switch (transA, transB) {
                                    case (false, false): // dA = G · Bᵀ
                                        sgemm(transB: true, m: m, n: k, k: n, a: gi, b: bi, c: di)
                                    case (false, true):  // dA = G · B   (B stored N x K)
                                        sgemm(m: m, n: k, k: n, a: gi, b: bi, c: di)
                                    case (true, false):  // dA (K x M) = B · Gᵀ
                                        sgemm(transB: true, m: k, n: m, k: n, a: bi, b: gi, c: di)
                                    case (true, true):   // dA (K x M) = Bᵀ · Gᵀ
                                        sgemm(transA: true, transB: true, m: k, n: m, k: n, a: bi, b: gi, c: di)
                                    }
                                }
                            }
                            da = out
                        }
                        if needs[1] {
                            var out = [Float](repeating: 0, count: batch * k * n)
                            out.withUnsafeMutableBufferPointer { dp in
                                for i in 0..<batch {
                                    let gi = G + i * m * n, ai = A + i * m * k, di = dp.baseAddress! + i * k * n
                                    switch (transA, transB) {
                                    case (false, false): // dB = Aᵀ · G
                                        sgemm(transA: true, m: k, n: n, k: m, a: ai, b: gi, c: di)
                                    case (true, false):  // dB = A · G   (A stored K x M)
                                        sgemm(m: k, n: n, k: m, a: ai, b: gi, c: di)
                                    case (false, true):  // dB (N x K) = Gᵀ · A
                                        sgemm(transA: true, m: n, n: k, k: m, a: gi, b: ai, c: di)
                                    case (true, true):   // dB (N x K) = Gᵀ · Aᵀ
                                        sgemm(transA: true, transB: true, m: n, n: k, k: m, a: gi, b: ai, c: di)
                                    }
                                }
                            }
                            db = out
                        }
                    }
                }
            }
            return [da, db]
        }
    }

    /// `x · weightᵀ + bias` for `x` of shape `[..., in]`, `weight` `[out, in]` (PyTorch's layout)
    /// and `bias` `[out]`.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        let y = matmul(x, weight, transB: true)
        guard let bias else { return y }
        guard bias.shape == [weight.shape[0]] else {
            shapeFailure(ShapeError(op: "linear", "bias of shape \(bias.shape) for weight \(weight.shape)"))
        }
        return y + bias
    }
}
