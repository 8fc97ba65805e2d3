import Core
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

/// `n` zeros, written in parallel (a large `[Float](repeating: 0, …)` is one serial memset).
func zeroedValues(_ n: Int) -> [Float] {
    makeValues(n) { o, range in (o + range.lowerBound).update(repeating: 0, count: range.count) }
}

/// Eight floats from `p` (any alignment): the lanes of hand-vectorised loops.
@inlinable @inline(__always) public func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

/// Writes eight floats to `p` (any alignment).
@inlinable @inline(__always) public func store8(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// Adds `v` to the eight floats at `p`.
@inlinable @inline(__always) public func add8(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) {
    store8(p, load8(p) + v)
}
