import CBLAS
import CGEMM
import Dispatch
import Foundation
import Core

/// Which GEMM `sgemm` runs. OpenBLAS is pinned to its Haswell (AVX2) kernels on these machines
/// (`OPENBLAS_CORETYPE=Haswell`, for correctness), which reach about half of what the CPU does
/// with AVX-512; on CPUs with AVX-512 the project's own kernel (target `CGEMM`) runs instead.
/// `UNISEG_GEMM=openblas` forces OpenBLAS.
public enum GEMMBackend: String, Sendable {
    case avx512, openblas

    /// The best one this CPU can run (and the environment allows).
    public static let preferred: GEMMBackend = {
        if let s = getenv("UNISEG_GEMM"), String(cString: s) == "openblas" { return .openblas }
        return uniseg_gemm_avx512_available() ? .avx512 : .openblas
    }()

    /// The one in use; benchmarks switch it to compare both in the same run.
    nonisolated(unsafe) public static var current: GEMMBackend = preferred
}

/// Row-major single-precision GEMM: `C = alpha * op(A) * op(B) + beta * C`, where `op(A)` is
/// M x K and `op(B)` is K x N. `transA` means A is stored K x M (and read transposed) — no copy.
/// Leading dimensions default to the packed ones. `precision` `.bfloat16` rounds A and B to
/// bfloat16 where the CPU runs that (`GEMMPrecision`).
@inline(__always)
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
                  b: UnsafePointer<Float>, ldb: Int? = nil,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil,
                  precision: GEMMPrecision = .float32) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        // BLAS leaves C * beta; make that explicit for beta 0 (C may be uninitialised).
        for i in 0..<m { for j in 0..<n { c[i * (ldc ?? n) + j] = beta == 0 ? 0 : beta * c[i * (ldc ?? n) + j] } }
        return
    }
    let timer = GEMMCensus.start()
    defer { GEMMCensus.stop(timer, GEMMCensus.Shape(m: m, n: n, k: k, transA: transA, transB: transB)) }
    let lda = lda ?? (transA ? m : k), ldb = ldb ?? (transB ? k : n), ldc = ldc ?? n
    if GEMMBackend.current == .avx512 {
        avx512GEMM(bf16: precision.usesBFloat16, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                   a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        return
    }
    cblas_sgemm(CblasRowMajor,
                transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha,
                a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// The AVX-512 kernel on `Parallel.threads` cores (see `forEachPart`).
@usableFromInline
func avx512GEMM(bf16: Bool, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    forEachPart(m: m, n: n, k: k) { rows, cols in
        uniseg_sgemm_avx512(bf16, transA, transB, rows.count, cols.count, k, alpha,
                            transA ? a + rows.lowerBound : a + rows.lowerBound * lda, lda,
                            transB ? b + cols.lowerBound * ldb : b + cols.lowerBound, ldb,
                            beta, c + rows.lowerBound * ldc + cols.lowerBound, ldc)
    }
}

/// `dst[c · ldd + r] = src[r · lds + c]` for the `rows` x `cols` matrix at `src`, on the
/// calling thread: 16 x 16 blocks transposed in registers with the AVX-512 backend, else a plain
/// copy (column by column).
public func transposeMatrix(rows: Int, cols: Int, _ src: UnsafePointer<Float>, lds: Int,
                            _ dst: UnsafeMutablePointer<Float>, ldd: Int) {
    if GEMMBackend.current == .avx512 {
        uniseg_transpose_avx512(rows, cols, src, lds, dst, ldd)
    } else {
        for c in 0..<cols { for r in 0..<rows { dst[c * ldd + r] = src[r * lds + c] } }
    }
}

/// `C = A · B` (beta 0) with A `[m, k]` row-major and row p of B read from `rows[p] + j` — B's
/// rows anywhere in memory, e.g. shifted windows of a padded image (`ConvGeometry`'s
/// lowering-free path). AVX-512 kernel only, threads as in `sgemm`. Each element is computed
/// exactly as `sgemm` computes it from the same rows laid out as a matrix.
func sgemmRows(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, rows: [UnsafePointer<Float>?],
               c: UnsafeMutablePointer<Float>, ldc: Int, precision: GEMMPrecision = .float32) {
    let bf16 = precision.usesBFloat16
    precondition(GEMMBackend.current == .avx512 && rows.count == k, "sgemmRows: AVX-512 kernel and k row pointers needed")
    let timer = GEMMCensus.start()
    defer { GEMMCensus.stop(timer, GEMMCensus.Shape(m: m, n: n, k: k, transA: false, transB: false)) }
    rows.withUnsafeBufferPointer { rp in
        forEachPart(m: m, n: n, k: k) { rowRange, cols in
            uniseg_sgemm_avx512_rows(bf16, rowRange.count, cols.count, k, 1, a + rowRange.lowerBound * lda, lda,
                                     rp.baseAddress!, cols.lowerBound, 0, c + rowRange.lowerBound * ldc + cols.lowerBound, ldc)
        }
    }
}

/// Runs `body` on the blocks of an m x n product that the threads share: one block of whole
/// micro-tiles (12 rows x 32 columns) per thread along C's longer side, each packing its own
/// operands; small products (under 2^20 multiply-adds) stay whole on the calling thread. The cut
/// depends only on the shape and thread count, so results are reproducible — and every element
/// is summed as in an uncut call.
func forEachPart(m: Int, n: Int, k: Int, _ body: (Range<Int>, Range<Int>) -> Void) {
    let splitCols = n >= m, tile = splitCols ? 32 : 12, side = splitCols ? n : m
    let tiles = (side + tile - 1) / tile
    let parts = m * n * k < 1 << 20 ? 1 : Swift.min(Parallel.threads, tiles)
    if parts <= 1 {
        body(0..<m, 0..<n)
        return
    }
    Parallel.forChunks(parts) { part in
        let lo = Swift.min(side, tiles * part / parts * tile), hi = Swift.min(side, tiles * (part + 1) / parts * tile)
        if lo < hi { splitCols ? body(0..<m, lo..<hi) : body(lo..<hi, 0..<n) }
    }
}

/// `body(i)` for each of `batch` GEMMs of `multiplyAdds` each (a batched matmul's products,
/// Winograd's per-point products). Small ones (attention's per-head products) run side by side,
/// one whole product per thread, rather than one after another each cut between the threads:
/// every element is summed as in an uncut call either way (`forEachPart`), so the results are
/// the same. OpenBLAS keeps them in sequence (it threads each call itself). The GEMM census then
/// times overlapping calls.
func forEachProduct(_ batch: Int, multiplyAdds: Int, _ body: (Int) -> Void) {
    if batch > 1 && multiplyAdds < 1 << 22 && GEMMBackend.current == .avx512 {
        Parallel.forChunks(batch, body)
    } else {
        for i in 0..<batch { body(i) }
    }
}

/// OpenBLAS's own thread count (set with `OPENBLAS_NUM_THREADS`).
public var blasThreads: Int { Int(openblas_get_num_threads()) }

/// Sets OpenBLAS's thread count for this process.
public func setBLASThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }


/// A census of GEMM calls for benchmarks (`train bench step --breakdown`): while `enabled`,
/// every `sgemm` and `sgemmRows` adds its shape, wall time and FLOPs — where the GEMM time goes, and how far
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

    /// A start time for `stop`, when counting.
    @inline(__always)
    static func start() -> UInt64 { enabled ? DispatchTime.now().uptimeNanoseconds : 0 }

    /// Adds one call of `shape` begun at `start()`'s time.
    @inline(__always)
    static func stop(_ started: UInt64, _ shape: Shape) {
        if enabled { add(shape, seconds: Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9) }
    }

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
