import XCTest
@testable import Autograd
import Core

/// Stride-1 convolutions on large maps read shifted windows of one padded input copy instead
/// of the lowered matrix (`ConvGeometry.lowersBySharing`): the output must equal the lowered
/// path's bit for bit (same K order, same kernel), with and without bias, padding or batch.
final class ConvSharingTests: XCTestCase {
    func testSharedWindowsEqualLoweredMatrix() throws {
        guard GEMMBackend.preferred == .avx512 else { throw XCTSkip("the shared-window path needs the AVX-512 kernel") }
        var rng = SeededRNG(seed: 9)
        ConvGeometry.winogradEnabled = false   // the 3x3 cases would take Winograd's path
        defer { ConvGeometry.winogradEnabled = true }
        // (batch, cin, cout, size, kernel, padding, bias)
        for (n, cin, cout, size, k, pad, withBias) in [(2, 5, 7, 40, 3, 1, true), (1, 3, 13, 64, 3, 1, false),
                                                      (2, 4, 6, 64, 5, 2, true), (1, 2, 3, 36, 3, 0, false)] {
            let x = Tensor.randn([n, cin, size, size], rng: &rng)
            let w = Tensor.randn([cout, cin, k, k], std: 0.3, rng: &rng)
            let b = withBias ? Tensor.randn([cout], rng: &rng) : nil
            let geo = ConvGeometry(batch: n, inChannels: cin, height: size, width: size, outChannels: cout,
                                   kernelH: k, kernelW: k, strideH: 1, strideW: 1, padH: pad, padW: pad,
                                   dilationH: 1, dilationW: 1, groups: 1)
            XCTAssertTrue(geo.lowersBySharing, "case \(n)x\(cin)x\(size) k\(k) p\(pad) should take the shared path")
            let shared = withoutGrad { Tensor.conv2d(x, weight: w, bias: b, padding: (pad, pad)) }
            ConvGeometry.sharingEnabled = false
            defer { ConvGeometry.sharingEnabled = true }
            let lowered = withoutGrad { Tensor.conv2d(x, weight: w, bias: b, padding: (pad, pad)) }
            ConvGeometry.sharingEnabled = true
            XCTAssertEqual(shared.shape, lowered.shape)
            XCTAssertEqual(shared.data, lowered.data, "batch \(n), \(cin)->\(cout), \(size)px, k\(k), pad \(pad)")
        }
        // Small maps (many padding columns) and strided convolutions keep the lowered path.
        let small = ConvGeometry(batch: 2, inChannels: 8, height: 8, width: 8, outChannels: 8, kernelH: 3, kernelW: 3,
                                 strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1, groups: 1)
        XCTAssertFalse(small.lowersBySharing)
        var strided = small
        (strided.height, strided.width, strided.strideH, strided.strideW) = (64, 64, 2, 2)
        XCTAssertFalse(strided.lowersBySharing)
    }
}
