#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Scalar Float math used inside kernels (libm, so it vectorises where libm allows).
@inline(__always) func fexp(_ x: Float) -> Float { expf(x) }
@inline(__always) func flog(_ x: Float) -> Float { logf(x) }
@inline(__always) func flog1p(_ x: Float) -> Float { log1pf(x) }
@inline(__always) func ftanh(_ x: Float) -> Float { tanhf(x) }
@inline(__always) func fsigmoid(_ x: Float) -> Float {
    // Stable in both tails: never exponentiates a large positive number.
    if x >= 0 { return 1 / (1 + expf(-x)) }
    let e = expf(x)
    return e / (1 + e)
}
/// log(1 + exp(x)) without overflow.
@inline(__always) func fsoftplus(_ x: Float) -> Float { max(x, 0) + log1pf(expf(-abs(x))) }

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
