import XCTest
@testable import Autograd
import CGEMM
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
    func run(_ t: Case, precision: GEMMPrecision = .float32, rng: inout SeededRNG) -> Double {
        // The bfloat16 kernel's operands: A and B rounded to nearest even (the reference's too).
        let operand: (Float) -> Double = precision == .bfloat16 ? { Double(bfloat16($0)) } : { Double($0) }
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
                          beta: t.beta, c: cp.baseAddress!, ldc: ldc, precision: precision)
                }
            }
        }
        var worst = 0.0
        for i in 0..<t.m {
            for j in 0..<t.n {
                var sum = 0.0, magnitude = 0.0
                for p in 0..<t.k {
                    let x = operand(t.transA ? a[p * lda + i] : a[i * lda + p])
                    let y = operand(t.transB ? b[j * ldb + p] : b[p * ldb + j])
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

    /// The bfloat16 form (`GEMMPrecision.bfloat16`) on the same edge shapes (odd depths leave half
    /// a pair): exactly a float32 sum of the bfloat16-rounded operands' products, to float32
    /// rounding — on the small depths a kernel that skipped the rounding would miss by ~2^-9.
    func testBFloat16MatchesRoundedDoubleReference() throws {
        guard GEMMPrecision.bfloat16Available else { throw XCTSkip("this CPU has no AVX512-BF16") }
        var rng = SeededRNG(seed: 12)
        let shapes: [(Int, Int, Int)] = [(1, 1, 1), (5, 17, 7), (12, 32, 16), (13, 33, 17), (11, 16, 15),
                                         (24, 31, 385), (25, 47, 800), (121, 20, 9), (130, 1030, 3), (20, 37, 3001)]
        for (m, n, k) in shapes {
            for transA in [false, true] {
                for transB in [false, true] {
                    for (alpha, beta) in [(Float(1), Float(0)), (-0.5, 0.75)] {
                        let t = Case(m: m, n: n, k: k, transA: transA, transB: transB, alpha: alpha, beta: beta)
                        XCTAssertLessThanOrEqual(run(t, precision: .bfloat16, rng: &rng), 1, "bfloat16 \(t)")
                    }
                }
            }
        }
        // And the rounding happens: 1 + 2^-10 is 1 in bfloat16.
        let a: [Float] = [1 + 1.0 / 1024], b: [Float] = [1]
        var c: [Float] = [0]
        sgemm(m: 1, n: 1, k: 1, a: a, b: b, c: &c, precision: .bfloat16)
        XCTAssertEqual(c, [1])
        sgemm(m: 1, n: 1, k: 1, a: a, b: b, c: &c)
        XCTAssertEqual(c, [1 + 1.0 / 1024])
    }

    /// The lowering-free convolution's row-pointer GEMM in bfloat16 equals the plain bfloat16
    /// GEMM on the same rows laid out as a matrix, bit for bit.
    func testBFloat16RowsEqualsMatrix() throws {
        guard GEMMPrecision.bfloat16Available else { throw XCTSkip("this CPU has no AVX512-BF16") }
        var rng = SeededRNG(seed: 13)
        let (m, n, k) = (70, 900, 77)
        let a = Tensor.randn([m * k], rng: &rng).data, b = Tensor.randn([k * n], rng: &rng).data
        var viaRows = [Float](repeating: 0, count: m * n), viaMatrix = viaRows
        b.withUnsafeBufferPointer { bp in
            let rows: [UnsafePointer<Float>?] = (0..<k).map { bp.baseAddress! + $0 * n }
            a.withUnsafeBufferPointer { ap in
                viaRows.withUnsafeMutableBufferPointer { cp in
                    sgemmRows(m: m, n: n, k: k, a: ap.baseAddress!, lda: k, rows: rows, c: cp.baseAddress!, ldc: n,
                              precision: .bfloat16)
                }
                viaMatrix.withUnsafeMutableBufferPointer { cp in
                    sgemm(m: m, n: n, k: k, a: ap.baseAddress!, b: bp.baseAddress!, c: cp.baseAddress!, precision: .bfloat16)
                }
            }
        }
        XCTAssertEqual(viaRows, viaMatrix)
    }

    /// An op keeps the precision it was recorded in for its backward pass: a matmul and a
    /// convolution recorded in bfloat16 produce bfloat16 gradients even when `backward` runs
    /// outside the scope, and ops recorded outside it stay float32.
    func testBackwardKeepsTheForwardPrecision() throws {
        guard GEMMPrecision.bfloat16Available else { throw XCTSkip("this CPU has no AVX512-BF16") }
        let fine: Float = 1 + 1.0 / 1024  // 1 in bfloat16
        for precision in GEMMPrecision.allCases {
            let expected = precision == .bfloat16 ? Float(1) : fine
            let squared = precision == .bfloat16 ? Float(1) : fine * fine  // fine times the seed `fine`
            let a = Tensor(shape: [1, 1], data: [fine], requiresGrad: true), b = Tensor(shape: [1, 1], data: [1], requiresGrad: true)
            let product = GEMMPrecision.withValue(precision) { Tensor.matmul(a, b) }
            XCTAssertEqual(product.data, [expected], "\(precision) forward")
            product.backward(seed: [fine])
            XCTAssertEqual(a.grad, [expected], "\(precision) dA = G·Bᵀ")
            XCTAssertEqual(b.grad, [squared], "\(precision) dB = Aᵀ·G")

            let x = Tensor(shape: [1, 1, 1, 1], data: [fine], requiresGrad: true), w = Tensor(shape: [1, 1, 1, 1], data: [1], requiresGrad: true)
            let y = GEMMPrecision.withValue(precision) { Tensor.conv2d(x, weight: w) }
            XCTAssertEqual(y.data, [expected], "\(precision) conv forward")
            y.backward(seed: [fine])
            XCTAssertEqual(x.grad, [expected], "\(precision) conv dX")
            XCTAssertEqual(w.grad, [squared], "\(precision) conv dW")
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
                        avx512GEMM(bf16: false, transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1, a: ap.baseAddress!,
                                   lda: transA ? m : k, b: bp.baseAddress!, ldb: transB ? k : n, beta: 0,
                                   c: cp.baseAddress!, ldc: n)
                    }
                    rows.withUnsafeMutableBufferPointer { cp in
                        for i in 0..<m {
                            // One row at a time never splits (and uses the 1-row kernel).
                            avx512GEMM(bf16: false, transA: transA, transB: transB, m: 1, n: n, k: k, alpha: 1,
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

    /// Products of at most 512 columns read a row-major A in place instead of packing it; the
    /// sums are the packed kernel's, in the same order: the first columns of a wider (packed)
    /// product equal the same columns computed alone (unpacked), bit for bit — over row edges,
    /// several 384-deep blocks (beta applied once) and a padded lda.
    func testUnpackedAEqualsPacked() {
        var rng = SeededRNG(seed: 6)
        for (m, k, transB) in [(29, 900, false), (130, 70, true), (7, 5, false)] {
            let (n, part, lda) = (600, 300, k + 3)
            let ldb = transB ? k : n
            let a = Tensor.randn([m * lda], rng: &rng).data, b = Tensor.randn([(transB ? n : k) * ldb], rng: &rng).data
            let c0 = Tensor.randn([m * n], rng: &rng).data
            var wide = c0, narrow = c0
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    wide.withUnsafeMutableBufferPointer { cp in
                        uniseg_sgemm_avx512(false, false, transB, m, n, k, 0.5, ap.baseAddress!, lda, bp.baseAddress!, ldb,
                                            0.25, cp.baseAddress!, n)
                    }
                    narrow.withUnsafeMutableBufferPointer { cp in
                        uniseg_sgemm_avx512(false, false, transB, m, part, k, 0.5, ap.baseAddress!, lda, bp.baseAddress!, ldb,
                                            0.25, cp.baseAddress!, n)
                    }
                }
            }
            for i in 0..<m {
                XCTAssertEqual(Array(wide[(i * n)..<(i * n + part)]), Array(narrow[(i * n)..<(i * n + part)]), "\(m)x\(k) row \(i)")
                XCTAssertEqual(Array(narrow[(i * n + part)..<(i * n + n)]), Array(c0[(i * n + part)..<(i * n + n)]), "columns past the part")
            }
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

/// `x` rounded to bfloat16 (nearest even; x is finite), as a Float.
func bfloat16(_ x: Float) -> Float {
    let bits = x.bitPattern
    return Float(bitPattern: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000)
}
