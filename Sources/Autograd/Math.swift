#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Scalar Float math used inside kernels: the vectorisable versions of `FastMath.swift`,
/// except tanh (libm).
@inline(__always) func fexp(_ x: Float) -> Float { fastExp(x) }
@inline(__always) func flog(_ x: Float) -> Float { fastLog(x) }
@inline(__always) func ftanh(_ x: Float) -> Float { tanhf(x) }
@inline(__always) func fsigmoid(_ x: Float) -> Float { fastSigmoid(x) }
/// log(1 + exp(x)) without overflow.
@inline(__always) func fsoftplus(_ x: Float) -> Float { fastSoftplus(x) }

/// New array of `n` values, each written by `body` over a range (in parallel for large `n`).
@inline(__always)
func makeValues(_ n: Int, costPerElement: Int = 1,
                _ body: (UnsafeMutablePointer<Float>, Range<Int>) -> Void) -> [Float] {
    if n == 0 { return [] }
    return [Float](unsafeUninitializedCapacity: n) { out, count in
        let o = out.baseAddress!
        Parallel.forRanges(n, costPerElement: costPerElement) { r in body(o, r) }
        count = n
    }
}
