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

/// `f` applied to each value.
@inline(__always)
func mapValues(_ x: [Float], costPerElement: Int = 1, _ f: (Float) -> Float) -> [Float] {
    x.withUnsafeBufferPointer { xp in
        makeValues(x.count, costPerElement: costPerElement) { o, r in
            let xb = xp.baseAddress!
            for i in r { o[i] = f(xb[i]) }
        }
    }
}

/// `f` applied to each pair of values of two arrays of one length.
@inline(__always)
func zipValues(_ x: [Float], _ y: [Float], costPerElement: Int = 1, _ f: (Float, Float) -> Float) -> [Float] {
    precondition(x.count == y.count)
    return x.withUnsafeBufferPointer { xp in
        y.withUnsafeBufferPointer { yp in
            makeValues(x.count, costPerElement: costPerElement) { o, r in
                let xb = xp.baseAddress!, yb = yp.baseAddress!
                for i in r { o[i] = f(xb[i], yb[i]) }
            }
        }
    }
}

/// `f` applied to each triple of values of three arrays of one length.
@inline(__always)
func zipValues(_ x: [Float], _ y: [Float], _ z: [Float], _ f: (Float, Float, Float) -> Float) -> [Float] {
    precondition(x.count == y.count && y.count == z.count)
    return x.withUnsafeBufferPointer { xp in
        y.withUnsafeBufferPointer { yp in
            z.withUnsafeBufferPointer { zp in
                makeValues(x.count) { o, r in
                    let xb = xp.baseAddress!, yb = yp.baseAddress!, zb = zp.baseAddress!
                    for i in r { o[i] = f(xb[i], yb[i], zb[i]) }
                }
            }
        }
    }
}
