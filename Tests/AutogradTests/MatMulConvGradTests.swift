import XCTest
import Core
@testable import Autograd
import TestSupport

final class MatMulConvGradTests: XCTestCase {
    /// A batched matmul's products run side by side on the threads: each equals the same product
    /// computed alone, bit for bit, forward and backward, for every transpose.
    /// The convolution's bias gradient sums eight channels side by side, each in position order:
    /// bit-equal to a plain loop, for channel counts around the eight lanes.
    func testBiasGradientEqualsPlainSums() {
        var rng = SeededRNG(seed: 31)
        for (channels, positions) in [(1, 5), (7, 300), (8, 1), (13, 4097), (64, 70)] {
            let g = Tensor.randn([channels * positions], rng: &rng).data
            let got = g.withUnsafeBufferPointer { biasGradient($0.baseAddress!, channels: channels, positions: positions) }
            let plain = (0..<channels).map { c -> Float in
                var s: Float = 0
                for i in 0..<positions { s += g[c * positions + i] }
                return s
            }
            XCTAssertEqual(got, plain, "\(channels) x \(positions)")
        }
    }

    func testBatchedProductsEqualThoseComputedAlone() {
        var rng = SeededRNG(seed: 31)
        for (transA, transB) in [(false, false), (false, true), (true, false), (true, true)] {
            let (batch, m, k, n) = (8, 50, 32, 70)
            let a = Tensor(shape: transA ? [batch, k, m] : [batch, m, k], data: Tensor.randn([batch * m * k], rng: &rng).data, requiresGrad: true)
            let b = Tensor(shape: transB ? [batch, n, k] : [batch, k, n], data: Tensor.randn([batch * k * n], rng: &rng).data, requiresGrad: true)
            let g = Tensor.randn([batch, m, n], rng: &rng)
            let y = Tensor.matmul(a, b, transA: transA, transB: transB)
            (y * g).sum().backward()
            for i in 0..<batch {
                func entry(_ t: Tensor) -> Tensor {
                    Tensor(shape: Array(t.shape.dropFirst()), data: Array(t.data[(i * t.count / batch)..<((i + 1) * t.count / batch)]), requiresGrad: true)
                }
                let (ai, bi) = (entry(a), entry(b))
                let yi = Tensor.matmul(ai, bi, transA: transA, transB: transB)
                (yi * Tensor(shape: [m, n], data: Array(g.data[(i * m * n)..<((i + 1) * m * n)]))).sum().backward()
                XCTAssertEqual(Array(y.data[(i * m * n)..<((i + 1) * m * n)]), yi.data, "product \(i), \(transA) \(transB)")
                XCTAssertEqual(Array(a.grad![(i * m * k)..<((i + 1) * m * k)]), ai.grad!, "dA \(i)")
                XCTAssertEqual(Array(b.grad![(i * k * n)..<((i + 1) * k * n)]), bi.grad!, "dB \(i)")
            }
        }
    }

    func testMatmulAllTransposes() {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = param(ta ? [4, 3] : [3, 4], 1), b = param(tb ? [5, 4] : [4, 5], 2)
            checkGradients([a, b]) { Tensor.matmul($0[0], $0[1], transA: ta, transB: tb) }
            // Same numbers as the explicitly transposed product.
            let direct = Tensor.matmul(a, b, transA: ta, transB: tb).data
            let explicit = Tensor.matmul(ta ? a.transpose(0, 1) : a, tb ? b.transpose(0, 1) : b).data
            assertClose(direct, explicit, "matmul transA \(ta) transB \(tb)")
        }
    }

    func testBatchedAndSharedMatmul() {
        let a = param([2, 3, 1, 4], 3), b = param([2, 3, 4, 2], 4)
        checkGradients([a, b]) { Tensor.matmul($0[0], $0[1]) }
        let bt = param([2, 3, 5, 4], 5)
        checkGradients([a, bt]) { Tensor.matmul($0[0], $0[1], transB: true) }
        let w = param([4, 6], 6)
        checkGradients([a, w]) { Tensor.matmul($0[0], $0[1]) }
    }

    func testMatmulValues() {
        let a = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [3, 2], data: [7, 8, 9, 10, 11, 12])
        XCTAssertEqual(Tensor.matmul(a, b).data, [58, 64, 139, 154])
    }

    func testLinear() {
        let x = param([2, 3, 4], 7), w = param([5, 4], 8), bias = param([5], 9)
        checkGradients([x, w, bias]) { Tensor.linear($0[0], weight: $0[1], bias: $0[2]) }
        checkGradients([x, w]) { Tensor.linear($0[0], weight: $0[1], bias: nil) }
        let x2 = param([3, 4], 10)
        checkGradients([x2, w, bias]) { Tensor.linear($0[0], weight: $0[1], bias: $0[2]) }
        // The bias rides in the GEMM's C (beta 1): the same values as product plus bias.
        let y = Tensor.linear(x2, weight: w, bias: bias).data
        let reference = (Tensor.matmul(x2, w, transB: true) + bias).data
        for (u, v) in zip(y, reference) { XCTAssertEqual(u, v, accuracy: 1e-6) }
    }

    func testConvGradients() {
        // (batch, cin, h, w, cout, k, stride, pad, dilation, groups)
        let cases: [(Int, Int, Int, Int, Int, Int, Int, Int, Int, Int)] = [
            (1, 1, 5, 5, 1, 3, 1, 1, 1, 1),
            (2, 3, 7, 5, 4, 3, 2, 1, 1, 1),     // batch > 1, non-square, stride 2
            (2, 4, 6, 6, 6, 3, 1, 2, 2, 2),     // dilation 2, groups 2
            (1, 4, 5, 4, 4, 3, 1, 1, 1, 4),     // depthwise
            (2, 3, 4, 6, 5, 1, 1, 0, 1, 1),     // 1x1
            (1, 2, 6, 7, 3, 1, 2, 0, 1, 1),     // 1x1 stride 2
            (1, 2, 5, 41, 2, 3, 2, 1, 1, 1),    // stride 2 on rows long enough for eight-wide reads
            (1, 2, 3, 40, 3, 1, 2, 0, 1, 1),    // 1x1 stride 2, the same
            (2, 2, 3, 3, 2, 2, 3, 1, 1, 1),     // stride larger than kernel
            (1, 3, 1, 8, 2, 3, 1, 1, 1, 1),     // a size-1 height
            (1, 1, 5, 5, 1, 5, 1, 0, 1, 1),     // kernel = input
            (1, 2, 4, 4, 2, 3, 1, 4, 1, 1),     // padding larger than the kernel
        ]
        for (i, c) in cases.enumerated() {
            let (n, cin, h, w, cout, k, s, p, d, g) = c
            let x = param([n, cin, h, w], UInt64(100 + i))
            let wt = param([cout, cin / g, k, k], UInt64(200 + i))
            let b = param([cout], UInt64(300 + i))
            checkGradients([x, wt, b]) {
                Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], stride: (s, s), padding: (p, p), dilation: (d, d), groups: g)
            }
        }
        // Asymmetric stride and padding.
        let x = param([1, 2, 5, 6], 400), w = param([3, 2, 3, 2], 401)
        checkGradients([x, w]) { Tensor.conv2d($0[0], weight: $0[1], stride: (2, 1), padding: (1, 0)) }
    }

    /// The lowered matrix's gradient folded back (`col2im`, split into bands of input rows)
    /// equals a plain loop over kernel taps, images and positions bit for bit: strides 1 to 3,
    /// padding, dilation, and the stem's shape (3 channels, stride 2) at full size.
    func testCol2imEqualsPlainLoop() {
        var rng = SeededRNG(seed: 46)
        for (c, h, w, k, stride, pad, dilation) in [(3, 256, 256, 3, 2, 1, 1), (2, 9, 11, 3, 1, 1, 1), (3, 10, 7, 3, 3, 2, 1),
                                                    (2, 12, 12, 3, 1, 2, 2), (1, 5, 40, 1, 2, 0, 1)] {
            let geo = ConvGeometry(batch: 2, inChannels: c, height: h, width: w, outChannels: 4, kernelH: k, kernelW: k,
                                   strideH: stride, strideW: stride, padH: pad, padW: pad, dilationH: dilation, dilationW: dilation, groups: 1)
            let (ho, wo) = (geo.outHeight, geo.outWidth)
            let col = (0..<(c * k * k * geo.positions)).map { _ in rng.nextUniform() - 0.5 }
            var expected = [Float](repeating: 0, count: 2 * c * h * w)
            for ch in 0..<c {
                for i in 0..<k {
                    for j in 0..<k {
                        for n in 0..<2 {
                            for oy in 0..<ho {
                                for ox in 0..<wo {
                                    let iy = oy * stride + i * dilation - pad, ix = ox * stride + j * dilation - pad
                                    guard iy >= 0 && iy < h && ix >= 0 && ix < w else { continue }
                                    expected[((n * c + ch) * h + iy) * w + ix] += col[((ch * k + i) * k + j) * geo.positions + (n * ho + oy) * wo + ox]
                                }
                            }
                        }
                    }
                }
            }
            var dx = [Float](repeating: .nan, count: expected.count)
            col.withUnsafeBufferPointer { cp in dx.withUnsafeMutableBufferPointer { geo.col2im(cp.baseAddress!, $0.baseAddress!) } }
            XCTAssertEqual(dx.map(\.bitPattern), expected.map(\.bitPattern), "\(c) x \(h) x \(w), k \(k), stride \(stride), pad \(pad), dilation \(dilation)")
        }
    }

    func testConvMatchesDirectLoops() {
        // A hand-written direct convolution as the independent reference.
        let (n, cin, h, w, cout, k, s, p, d, g) = (2, 4, 7, 6, 6, 3, 2, 1, 2, 2)
        let x = param([n, cin, h, w], 11), wt = param([cout, cin / g, k, k], 12), b = param([cout], 13)
        let y = Tensor.conv2d(x, weight: wt, bias: b, stride: (s, s), padding: (p, p), dilation: (d, d), groups: g)
        let ho = (h + 2 * p - d * (k - 1) - 1) / s + 1, wo = (w + 2 * p - d * (k - 1) - 1) / s + 1
        XCTAssertEqual(y.shape, [n, cout, ho, wo])
        var expected = [Float](repeating: 0, count: n * cout * ho * wo)
        let cpg = cin / g, opg = cout / g
        for bi in 0..<n { for co in 0..<cout { for oy in 0..<ho { for ox in 0..<wo {
            var acc = b.data[co]
            let grp = co / opg
            for ci in 0..<cpg { for ky in 0..<k { for kx in 0..<k {
                let iy = oy * s - p + ky * d, ix = ox * s - p + kx * d
                if iy >= 0 && iy < h && ix >= 0 && ix < w {
                    acc += wt.data[((co * cpg + ci) * k + ky) * k + kx] * x.data[((bi * cin + grp * cpg + ci) * h + iy) * w + ix]
                }
            } } }
            expected[((bi * cout + co) * ho + oy) * wo + ox] = acc
        } } } }
        assertClose(y.data, expected, atol: 1e-5, "conv2d vs direct loops")
    }

    func testConvShapeErrorsNameTheOp() {
        XCTAssertEqual(ConvGeometry(batch: 1, inChannels: 3, height: 7, width: 5, outChannels: 4, kernelH: 3, kernelW: 3,
                                    strideH: 2, strideW: 2, padH: 1, padW: 1, dilationH: 1, dilationW: 1, groups: 1).outHeight, 4)
    }
}
