import CBLAS

/// Row-major single-precision GEMM: `C = alpha * op(A) * op(B) + beta * C`, where `op(A)` is
/// M x K and `op(B)` is K x N. `transA` means A is stored K x M (and read transposed) — no copy.
/// Leading dimensions default to the packed ones.
@inline(__always)
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
                  b: UnsafePointer<Float>, ldb: Int? = nil,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        // BLAS leaves C * beta; make that explicit for beta 0 (C may be uninitialised).
        for i in 0..<m { for j in 0..<n { c[i * (ldc ?? n) + j] = beta == 0 ? 0 : beta * c[i * (ldc ?? n) + j] } }
        return
    }
    cblas_sgemm(CblasRowMajor,
                transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha,
                a, Int32(lda ?? (transA ? m : k)),
                b, Int32(ldb ?? (transB ? k : n)),
                beta, c, Int32(ldc ?? n))
}

/// OpenBLAS's own thread count (set with `OPENBLAS_NUM_THREADS`).
public var blasThreads: Int { Int(openblas_get_num_threads()) }

/// Sets OpenBLAS's thread count for this process.
public func setBLASThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
