import CBLAS
import Dispatch
import Foundation

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
    let t0 = GEMMCensus.enabled ? DispatchTime.now().uptimeNanoseconds : 0
    defer {
        if GEMMCensus.enabled {
            GEMMCensus.add(GEMMCensus.Shape(m: m, n: n, k: k, transA: transA, transB: transB),
                           seconds: Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        }
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


/// A census of GEMM calls for benchmarks (`train bench step --gemm-census`): while `enabled`,
/// every `sgemm` adds its shape, wall time and FLOPs — where the GEMM time goes, and how far
/// each shape runs from the machine's speed.
public enum GEMMCensus {
    public struct Shape: Hashable, Sendable {
        public var m, n, k: Int
        public var transA, transB: Bool
        public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
        public var description: String { "\(m)x\(n)x\(k) \(transA ? "T" : "N")\(transB ? "T" : "N")" }
    }
    public struct Entry: Sendable {
        public var calls = 0
        public var seconds = 0.0
    }

    nonisolated(unsafe) public static var enabled = false
    nonisolated(unsafe) private static var table: [Shape: Entry] = [:]
    private static let lock = NSLock()

    static func add(_ shape: Shape, seconds: Double) {
        lock.lock()
        table[shape, default: Entry()].calls += 1
        table[shape, default: Entry()].seconds += seconds
        lock.unlock()
    }

    /// Clears the table.
    public static func reset() {
        lock.lock()
        table = [:]
        lock.unlock()
    }

    /// Every shape seen since the last reset, the most time first.
    public static var entries: [(shape: Shape, entry: Entry)] {
        lock.lock()
        defer { lock.unlock() }
        return table.map { ($0.key, $0.value) }.sorted { $0.entry.seconds > $1.entry.seconds }
    }
}
