import XCTest
import Autograd
@testable import Matching

/// The matcher's mask cost (pixel-major sampling, block sums, zero-skipping) against the plain
/// definition evaluated in Double on the same points.
final class PointMaskCostTests: XCTestCase {
    func testAgreesWithDirectDefinition() {
        var rng = SeededRNG(seed: 21)
        // 13 predictions (not a multiple of the 8 lanes), 3 targets: a region, an empty mask and
        // a soft one; 700 points (not a multiple of the 256-point blocks).
        let (q, t, h, w, th, tw, p) = (13, 3, 12, 10, 24, 20, 700)
        let pred = Tensor.randn([q, h, w], std: 3, rng: &rng)
        var masks = [Float](repeating: 0, count: t * th * tw)
        for y in 5..<15 { for x in 3..<12 { masks[y * tw + x] = 1 } }
        for i in 0..<(th * tw) { masks[2 * th * tw + i] = rng.nextUniform() }
        let target = Tensor(shape: [t, th, tw], data: masks)
        let points = (0..<(2 * p)).map { _ in rng.nextUniform() }
        let matcher = HungarianMatcher(maskWeight: 5, diceWeight: 5, points: p)
        let cost = matcher.pointMaskCost(pred, target, points: points)

        // Reference: each map sampled at the points in the given (random) order, sums in Double.
        let x = Tensor.sampledValues(pred, points: points, count: p, shared: true)
        let y = Tensor.sampledValues(target, points: points, count: p, shared: true)
        for i in 0..<q {
            for j in 0..<t {
                var bce = 0.0, sy = 0.0, ss = 0.0, ty = 0.0
                for k in 0..<p {
                    let v = Double(x[i * p + k]), yv = Double(y[j * p + k])
                    bce += max(v, 0) - v * yv + log1p(exp(-abs(v)))
                    let s = 1 / (1 + exp(-v))
                    sy += s * yv
                    ss += s
                    ty += yv
                }
                let expected = 5 * bce / Double(p) + 5 * (1 - (2 * sy + 1) / (ss + ty + 1))
                XCTAssertEqual(cost[i * t + j], expected, accuracy: 2e-5, "prediction \(i), target \(j)")
            }
        }
    }

    func testRasterOrderIsAPermutationByPixel() {
        var rng = SeededRNG(seed: 4)
        let points = (0..<(2 * 500)).map { _ in rng.nextUniform() }
        let sorted = HungarianMatcher.rasterOrdered(points, height: 7, width: 9)
        let pairs = { (a: [Float]) in (0..<(a.count / 2)).map { [a[2 * $0], a[2 * $0 + 1]] } }
        XCTAssertEqual(Set(pairs(sorted)), Set(pairs(points)))
        let pixel = pairs(sorted).map { min(Int($0[1] * 7), 6) * 9 + min(Int($0[0] * 9), 8) }
        XCTAssertEqual(pixel, pixel.sorted())
    }
}
