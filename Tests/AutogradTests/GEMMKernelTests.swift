import XCTest
@testable import Autograd
import Core

/// The AVX-512 GEMM (target CGEMM) against a Double-precision reference on edge shapes, against
/// OpenBLAS on the model's shapes, and its threaded split against unsplit rows.
final class GEMMKernelTests: XCTestCase {
    struct Case {
        var m, n, k: Int
        var transA, transB: Bool
        var alpha, beta: Float
    }

    override func setUpWithError() throws {
        guard GEMMBackend.preferred == .avx512 else {
            throw XCTSkip("this CPU has no AVX-512 (or UNISEG_GEMM=openblas): sgemm runs OpenBLAS only")
        }
    }

    /// Runs `sgemm` on the AVX-512 backend with padded leading dimensions (every matrix is a
    /// window of a wider one) and returns C together with the worst error against a Double
    /// reference, in units of the reference's error bound.
    func run(_ t: Case, rng: inout SeededRNG) -> Double {
        let (rowsA, colsA) = t.transA ? (t.k, t.m) : (t.m, t.k)
        let (rowsB, colsB) = t.transB ? (t.n, t.k) : (t.k, t.n)
        let lda = colsA + 3, ldb = colsB + 5, ldc = t.n + 2
        let a = Tensor.randn([rowsA * lda], rng: &rng).data
        let b = Tensor.randn([rowsB * ldb], rng: &rng).data
        // beta 0 must not read C: start it as NaN there.
        var c = t.beta == 0 ? [Float](repeating: .nan, count: t.m * ldc) : Tensor.randn([t.m * ldc], rng: &rng).data
        let c0 = c
        let previous = GEMMBackend.current
        GEMMBackend.current = .avx512
        defer { GEMMBackend.current = previous }
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    sgemm(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha,
                          a: ap.baseAddress!, lda: lda, b: bp.baseAddress!, ldb: ldb,
                          beta: t.beta, c: cp.baseAddress!, ldc: ldc)
                }
            }
        }
        var worst = 0.0
        for i in 0..<t.m {
            for j in 0..<t.n {
                var sum = 0.0, magnitude = 0.0
                for p in 0..<t.k {
                    let x = Double(t.transA ? a[p * lda + i] : a[i * lda + p])
                    let y = Double(t.transB ? b[j * ldb + p] : b[p * ldb + j])
                    sum += x * y
                    magnitude += abs(x * y)
                }
                var expected = Double(t.alpha) * sum
                var bound = abs(Double(t.alpha)) * magnitude
                if t.beta != 0 {
                    expected += Double(t.beta) * Double(c0[i * ldc + j])
                    bound += abs(Double(t.beta) * Double(c0[i * ldc + j]))
                }
                // float32 accumulation over k terms: a few ulps of the magnitude per term.
                let tolerance = 4 * Double(Float.ulpOfOne) * Double(t.k + 2) * bound + 1e-30
                let got = Double(c[i * ldc + j])
                if !got.isFinite { return .infinity }
                worst = max(worst, abs(got - expected) / tolerance)
            }
            // Padding columns of C are never written.
            for j in t.n..<ldc where !(c[i * ldc + j].isNaN && c0[i * ldc + j].isNaN) {
                XCTAssertEqual(c[i * ldc + j], c0[i * ldc + j], "C padding written at row \(i)")
            }
        }
        return worst
    }

    func testMatchesDoubleReferenceOnEdgeShapes() {
        var rng = SeededRNG(seed: 11)
        // Rows around the 12-row micro-tile and the 120-row block, columns around the 16-lane
        // vectors, the 32-column tile and the 1024-column block, depths around the 16-wide
        // transposes and the 384-deep block (several blocks: beta applies once).
        let shapes: [(Int, Int, Int)] = [
            (1, 1, 1), (5, 17, 7), (12, 32, 16), (13, 33, 17), (11, 16, 15), (24, 31, 385),
            (25, 47, 800), (121, 20, 9), (130, 1030, 3), (3, 1100, 40),
            // Long K, small C (eight 384-deep blocks), as in weight gradients.
            (20, 37, 3000),
        ]
        for (m, n, k) in shapes {
            for transA in [false, true] {
                for transB in [false, true] {
                    for (alpha, beta) in [(Float(1), Float(0)), (-0.5, 0.75)] {
                        let t = Case(m: m, n: n, k: k, transA: transA, transB: transB, alpha: alpha, beta: beta)
                        let worst = run(t, rng: &rng)
                        XCTAssertLessThanOrEqual(worst, 1, "\(t)")
                    }
                }
            }
        }
    }

    /// The threaded path cuts C into blocks of whole tiles; every element is summed in the
    /// same order as in an unsplit call, so the two agree bit for bit.
    func testThreadedSplitEqualsRowByRow() {
        var rng = SeededRNG(seed: 5)
        for (m, n, k, transA, transB) in [(300, 45, 100, false, true), (45, 300, 100, true, false),
                                          (130, 1100, 20, false, false)] {
            let a = Tensor.randn([m * k], rng: &rng).data, b = Tensor.randn([k * n], rng: &rng).data
            var whole = [Float](repeating: 0, count: m * n), rows = whole
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    whole.withUnsafeMutableBufferPointer { cp in
                        avx512GEMM(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1, a: ap.baseAddress!,
                                   lda: transA ? m : k, b: bp.baseAddress!, ldb: transB ? k : n, beta: 0,
                                   c: cp.baseAddress!, ldc: n)
                    }
                    rows.withUnsafeMutableBufferPointer { cp in
                        for i in 0..<m {
                            // One row at a time never splits (and uses the 1-row kernel).
                            avx512GEMM(transA: transA, transB: transB, m: 1, n: n, k: k, alpha: 1,
                                       a: transA ? ap.baseAddress! + i : ap.baseAddress! + i * k, lda: transA ? m : k,
                                       b: bp.baseAddress!, ldb: transB ? k : n, beta: 0,
                                       c: cp.baseAddress! + i * n, ldc: n)
                        }
                    }
                }
            }
            XCTAssertEqual(whole, rows, "\(m)x\(n)x\(k)")
        }
    }

    /// The model's costliest shapes (`bench step --breakdown`): the kernel against OpenBLAS.
    func testAgreesWithOpenBLASOnModelShapes() {
        var rng = SeededRNG(seed: 3)
        for (m, n, k, transA, transB) in [(128, 1152, 2048, false, true), (576, 2048, 64, true, false),
                                          (50, 4096, 128, false, false)] {
            let a = Tensor.randn([m * k], rng: &rng).data, b = Tensor.randn([k * n], rng: &rng).data
            func product(_ backend: GEMMBackend) -> [Float] {
                var c = [Float](repeating: 0, count: m * n)
                let previous = GEMMBackend.current
                GEMMBackend.current = backend
                defer { GEMMBackend.current = previous }
                a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in
                        c.withUnsafeMutableBufferPointer { cp in
                            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: ap.baseAddress!,
                                  b: bp.baseAddress!, c: cp.baseAddress!)
                        }
                    }
                }
                return c
            }
            let own = product(.avx512), blas = product(.openblas)
            var worst: Float = 0
            for i in 0..<own.count { worst = max(worst, abs(own[i] - blas[i])) }
            // Entries are sums of k products of unit normals: about sqrt(k) in size.
            XCTAssertLessThan(worst, 2e-6 * Float(k), "\(m)x\(n)x\(k)")
        }
    }

    /// The register-block transpose on partial blocks and padded strides, against a plain copy.
    func testTransposeMatrix() {
        var rng = SeededRNG(seed: 41)
        for (rows, cols) in [(1, 1), (16, 16), (50, 33), (7, 70), (17, 15)] {
            let lds = cols + 3, ldd = rows + 6
            let src = Tensor.randn([rows * lds], rng: &rng).data
            var dst = [Float](repeating: .nan, count: cols * ldd)
            transposeMatrix(rows: rows, cols: cols, src, lds: lds, &dst, ldd: ldd)
            for c in 0..<cols {
                for r in 0..<rows { XCTAssertEqual(dst[c * ldd + r], src[r * lds + c], "\(rows) x \(cols) at (\(r), \(c))") }
                // The stride's padding is left alone.
                for r in rows..<ldd { XCTAssertTrue(dst[c * ldd + r].isNaN, "\(rows) x \(cols) wrote padding") }
            }
        }
    }
}
