import XCTest
@testable import Autograd
import TestSupport
import Core

/// 3x3 stride-1 convolutions by Winograd's F(2x2, 3x3) (`ConvGeometry.usesWinograd`) and, in
/// inference, F(4x4, 3x3) (`usesLargeWinogradTiles`): outputs against a direct sum in Double,
/// within rounding of the transforms; gradients by finite differences; the data gradient against
/// the GEMM path's; which convolutions qualify.
final class WinogradTests: XCTestCase {
    private let defaultMinTiles = ConvGeometry.winogradMinTiles

    override func setUp() {
        ConvGeometry.winogradMinTiles = 1      // small maps take the path too
        ConvGeometry.winogradInTraining = true // and convolutions that record gradients
    }

    override func tearDown() {
        ConvGeometry.winogradMinTiles = defaultMinTiles
        ConvGeometry.winogradEnabled = true
        ConvGeometry.winogradInTraining = false
        ConvGeometry.winogradLargeTilesEnabled = true
    }

    private func geometry(_ x: Tensor, _ w: Tensor, pad: Int) -> ConvGeometry {
        ConvGeometry(batch: x.shape[0], inChannels: x.shape[1], height: x.shape[2], width: x.shape[3],
                     outChannels: w.shape[0], kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padH: pad, padW: pad,
                     dilationH: 1, dilationW: 1, groups: 1)
    }

    /// Odd and even output sizes (the last row and column of tiles cut, eight-tile groups and
    /// fewer), paddings 0, 1 and 2, with and without bias, batch 1 and 2; both tile sizes.
    func testOutputsMatchADirectSumInDouble() {
        for large in [false, true] {
            ConvGeometry.winogradLargeTilesEnabled = large
            outputsMatchADirectSumInDouble(large: large)
        }
    }

    private func outputsMatchADirectSumInDouble(large: Bool) {
        var rng = SeededRNG(seed: 21)
        for (n, cin, cout, h, w, pad, withBias) in [(2, 5, 7, 20, 20, 1, true), (1, 3, 4, 17, 13, 1, false),
                                                   (2, 4, 6, 12, 15, 0, true), (1, 3, 5, 9, 11, 2, false),
                                                   (1, 16, 8, 3, 3, 1, true), (1, 3, 4, 21, 37, 1, true),
                                                   (1, 9, 11, 35, 70, 1, true), (2, 3, 2, 6, 66, 0, false)] {
            let x = Tensor.randn([n, cin, h, w], rng: &rng)
            let wt = Tensor.randn([cout, cin, 3, 3], std: 0.3, rng: &rng)
            let b = withBias ? Tensor.randn([cout], rng: &rng) : nil
            let geo = geometry(x, wt, pad: pad)
            XCTAssertTrue(geo.usesWinograd(.float32, recordsGradient: true))
            XCTAssertEqual(geo.usesLargeWinogradTiles(recordsGradient: false), large)
            let y = withoutGrad { Tensor.conv2d(x, weight: wt, bias: b, padding: (pad, pad)) }
            let (ho, wo) = (geo.outHeight, geo.outWidth)
            XCTAssertEqual(y.shape, [n, cout, ho, wo])
            var worst = 0.0
            for i in 0..<n { for o in 0..<cout { for oy in 0..<ho { for ox in 0..<wo {
                var sum = Double(b?.data[o] ?? 0), magnitude = abs(sum)
                for c in 0..<cin { for ky in 0..<3 { for kx in 0..<3 {
                    let iy = oy + ky - pad, ix = ox + kx - pad
                    guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                    let term = Double(wt.data[((o * cin + c) * 3 + ky) * 3 + kx]) * Double(x.data[((i * cin + c) * h + iy) * w + ix])
                    sum += term
                    magnitude += abs(term)
                }}}
                let got = Double(y.data[((i * cout + o) * ho + oy) * wo + ox])
                worst = max(worst, abs(got - sum) / max(magnitude, 1e-6))
            }}}}
            // Float rounding of the transforms and the sums: a few units in the last place of the
            // magnitude (F(4x4)'s transforms multiply by up to 5 and 8, and round 1/6).
            XCTAssertLessThan(worst, large ? 2e-5 : 2e-6, "\(large ? "F(4x4)" : "F(2x2)") \(n)x\(cin)->\(cout) \(h)x\(w) pad \(pad)")
        }
    }

    func testGradientsByFiniteDifferences() {
        for (i, (n, cin, h, w, cout, pad)) in [(1, 2, 5, 6, 3, 1), (2, 2, 4, 5, 2, 0), (1, 1, 3, 4, 2, 2)].enumerated() {
            let x = param([n, cin, h, w], UInt64(500 + i)), wt = param([cout, cin, 3, 3], UInt64(510 + i))
            let b = param([cout], UInt64(520 + i))
            XCTAssertTrue(geometry(x, wt, pad: pad).usesWinograd(.float32, recordsGradient: true))
            checkGradients([x, wt, b]) { Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], padding: (pad, pad)) }
        }
    }

    /// The data gradient (itself a Winograd convolution) against the lowered GEMM path's.
    func testDataGradientMatchesTheGEMMPath() {
        var rng = SeededRNG(seed: 22)
        let x = Tensor.randn([2, 6, 19, 16], rng: &rng)
        let wt = Tensor.randn([5, 6, 3, 3], std: 0.3, rng: &rng)
        let g = Tensor.randn([2, 5, 19, 16], rng: &rng)
        func gradients() -> ([Float], [Float]) {
            let xs = Tensor(shape: x.shape, data: x.data, requiresGrad: true)
            let ws = Tensor(shape: wt.shape, data: wt.data, requiresGrad: true)
            (Tensor.conv2d(xs, weight: ws, padding: (1, 1)) * g).sum().backward()
            return (xs.grad!, ws.grad!)
        }
        let (dxWinograd, dwWinograd) = gradients()
        ConvGeometry.winogradEnabled = false
        let (dxGEMM, dwGEMM) = gradients()
        XCTAssertEqual(dwWinograd, dwGEMM, "the weight gradient does not use the Winograd path")
        let scale = dxGEMM.map { abs($0) }.max()!
        for (a, b) in zip(dxWinograd, dxGEMM) { XCTAssertEqual(a, b, accuracy: 1e-5 * scale) }
        XCTAssertNotEqual(dxWinograd, dxGEMM, "expected different rounding: is the Winograd path running?")
    }

    func testWhichConvolutionsQualify() {
        let x = Tensor.zeros([2, 8, 64, 64]), w3 = Tensor.zeros([8, 8, 3, 3])
        ConvGeometry.winogradMinTiles = defaultMinTiles
        XCTAssertTrue(geometry(x, w3, pad: 1).usesWinograd(.float32, recordsGradient: true))
        XCTAssertFalse(geometry(x, w3, pad: 1).usesWinograd(.bfloat16, recordsGradient: false), "bfloat16 GEMMs keep the direct form")
        XCTAssertFalse(geometry(Tensor.zeros([2, 8, 16, 16]), w3, pad: 1).usesWinograd(.float32, recordsGradient: true), "128 tiles: too few")
        var strided = geometry(x, w3, pad: 1)
        strided.strideH = 2
        strided.strideW = 2
        XCTAssertFalse(strided.usesWinograd(.float32, recordsGradient: true))
        var oneByOne = geometry(x, w3, pad: 0)
        (oneByOne.kernelH, oneByOne.kernelW) = (1, 1)
        XCTAssertFalse(oneByOne.usesWinograd(.float32, recordsGradient: true))
        var grouped = geometry(x, w3, pad: 1)
        grouped.groups = 2
        XCTAssertFalse(grouped.usesWinograd(.float32, recordsGradient: true))
        // F(4x4, 3x3): inference only, from 256 4x4 tiles (64 x 64 at batch 2; not 32 x 32).
        XCTAssertTrue(geometry(x, w3, pad: 1).usesLargeWinogradTiles(recordsGradient: false))
        XCTAssertFalse(geometry(x, w3, pad: 1).usesLargeWinogradTiles(recordsGradient: true))
        XCTAssertFalse(geometry(Tensor.zeros([2, 8, 32, 32]), w3, pad: 1).usesLargeWinogradTiles(recordsGradient: false))
        XCTAssertTrue(geometry(Tensor.zeros([2, 8, 32, 32]), w3, pad: 1).usesWinograd(.float32, recordsGradient: false), "F(2x2) there")
        ConvGeometry.winogradInTraining = false
        XCTAssertFalse(geometry(x, w3, pad: 1).usesWinograd(.float32, recordsGradient: true), "training keeps the direct form by default")
        XCTAssertTrue(geometry(x, w3, pad: 1).usesWinograd(.float32, recordsGradient: false))
        ConvGeometry.winogradEnabled = false
        XCTAssertFalse(geometry(x, w3, pad: 1).usesWinograd(.float32, recordsGradient: false))
    }

    /// By default a convolution recording gradients keeps the direct form (bit-equal to the GEMM
    /// path) and the same convolution without gradients takes Winograd's (not bit-equal).
    func testInferenceTakesThePathAndTrainingDoesNotByDefault() {
        ConvGeometry.winogradMinTiles = defaultMinTiles
        ConvGeometry.winogradInTraining = false
        var rng = SeededRNG(seed: 23)
        let x = Tensor.randn([2, 4, 40, 40], rng: &rng)
        let w = Tensor(shape: [5, 4, 3, 3], data: Tensor.randn([5, 4, 3, 3], std: 0.3, rng: &rng).data, requiresGrad: true)
        let training = Tensor.conv2d(x, weight: w, padding: (1, 1)).data
        let inference = withoutGrad { Tensor.conv2d(x, weight: w, padding: (1, 1)) }.data
        ConvGeometry.winogradEnabled = false
        let direct = withoutGrad { Tensor.conv2d(x, weight: w, padding: (1, 1)) }.data
        XCTAssertEqual(training, direct)
        XCTAssertNotEqual(inference, direct)
        for (a, b) in zip(inference, direct) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }
}
