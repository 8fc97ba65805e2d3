import XCTest
import CGEMM
import Autograd
@testable import Matching
import Core
import Targets

/// The matcher's mask cost (pixel-major sampling, block sums, zero-skipping) against the plain
/// definition evaluated in Double on the same points.
final class PointMaskCostTests: XCTestCase {
    func testAgreesWithDirectDefinition() {
        var rng = SeededRNG(seed: 21)
        // 13 predictions (not a multiple of the 8 lanes), 3 targets: a region, an empty mask and
        // a soft one; 701 points (not a multiple of the 256-point blocks, and odd).
        let (q, t, h, w, th, tw, p) = (13, 3, 12, 10, 24, 20, 701)
        let pred = Tensor.randn([q, h, w], std: 3, rng: &rng)
        var masks = [Float](repeating: 0, count: t * th * tw)
        for y in 5..<15 { for x in 3..<12 { masks[y * tw + x] = 1 } }
        for i in 0..<(th * tw) { masks[2 * th * tw + i] = rng.nextUniform() }
        let target = Tensor(shape: [t, th, tw], data: masks)
        let points = (0..<(2 * p)).map { _ in rng.nextUniform() }
        let matcher = HungarianMatcher(maskWeight: 5, diceWeight: 5, points: p)
        let cost = pred.data.withUnsafeBufferPointer {
            matcher.pointMaskCost($0.baseAddress!, queries: q, height: h, width: w, targets: MaskCrop.of(target),
                                  targetHeight: th, targetWidth: tw, points: points)
        }

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
        let (sorted, pixelStarts) = HungarianMatcher.rasterOrdered(points, height: 7, width: 9)
        let pairs = { (a: [Float]) in (0..<(a.count / 2)).map { [a[2 * $0], a[2 * $0 + 1]] } }
        XCTAssertEqual(Set(pairs(sorted)), Set(pairs(points)))
        let pixel = pairs(sorted).map { min(Int($0[1] * 7), 6) * 9 + min(Int($0[0] * 9), 8) }
        XCTAssertEqual(pixel, pixel.sorted())
        XCTAssertEqual(pixelStarts, (0...63).map { i in pixel.filter { $0 < i }.count })
    }

    /// The 16-wide kernel against Double on values across the whole range, the clamp of exp and
    /// the special values.
    func testSigmoidSoftplusAgainstDouble() {
        var values: [Float] = [0, -0.0, 1e-8, -1e-8, 0.5, -0.5, 1, -1, 4, -4, 15, -15, 40, -40, 87, -87, 87.4, -87.4,
                               88.8, -88.8, 100, -100, 1e30, -1e30, .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
        var rng = SeededRNG(seed: 8)
        values += (0..<2000).map { _ in (rng.nextUniform() - 0.5) * 40 }
        while values.count % 16 != 0 { values.append(rng.nextUniform()) }
        for start in stride(from: 0, to: values.count, by: 16) {
            let v = SIMD16<Float>(values[start..<(start + 16)])
            let (sig, soft) = sigmoidSoftplus(v)
            for l in 0..<16 {
                let x = Double(v[l])
                let s = 1 / (1 + exp(-x)), sp = max(x, 0) + log1p(exp(-abs(x)))
                XCTAssertEqual(Double(sig[l]), s, accuracy: 3e-7 * s + 1e-37, "sigmoid(\(x))")
                XCTAssertEqual(Double(soft[l]), sp, accuracy: 3e-7 * sp + 1e-37, "softplus(\(x))")
            }
        }
        let special = sigmoidSoftplus(SIMD16<Float>([.nan, .infinity, -.infinity] + [Float](repeating: 0, count: 13)))
        XCTAssertTrue(special.sigmoid[0].isNaN && special.softplus[0].isNaN)
        XCTAssertEqual(special.sigmoid[1], 1)
        XCTAssertEqual(special.softplus[1], .infinity)
        XCTAssertEqual(special.sigmoid[2], 0, accuracy: 1e-37)
        XCTAssertEqual(special.softplus[2], 0, accuracy: 1e-37)
    }

    /// Column sums over an odd number of rows (the last row goes through the scalar functions).
    func testSigmoidSoftplusSums() {
        var rng = SeededRNG(seed: 9)
        for (rows, lanes) in [(7, 24), (6, 8), (1, 56)] {
            let x = (0..<(rows * lanes)).map { _ in (rng.nextUniform() - 0.5) * 30 }
            var sig = [Float](repeating: 0, count: rows * lanes)
            var softSum = [Float](repeating: 0, count: lanes), sigSum = [Float](repeating: 0, count: lanes)
            var scratch = [Float](repeating: .nan, count: 4 * lanes)
            sigmoidSoftplusSums(x, rows: rows, lanes: lanes, sigmoid: &sig, softplusSum: &softSum, sigmoidSum: &sigSum, scratch: &scratch)
            for c in 0..<lanes {
                var ss = 0.0, sp = 0.0
                for r in 0..<rows {
                    let v = Double(x[r * lanes + c]), s = 1 / (1 + exp(-v))
                    XCTAssertEqual(Double(sig[r * lanes + c]), s, accuracy: 1e-6)
                    ss += s
                    sp += max(v, 0) + log1p(exp(-abs(v)))
                }
                XCTAssertEqual(Double(sigSum[c]), ss, accuracy: 1e-5 * Double(rows), "\(rows) x \(lanes), lane \(c)")
                XCTAssertEqual(Double(softSum[c]), sp, accuracy: 1e-5 * sp + 1e-6, "\(rows) x \(lanes), lane \(c)")
            }
        }
    }

    /// The C kernels (AVX2 + FMA where the CPU has them, and the portable one) give the Swift
    /// SIMD kernel's numbers bit for bit, sums folded in the same order: every build and CPU
    /// computes the same matching.
    func testCKernelsEqualTheSwiftKernelBitForBit() {
        var rng = SeededRNG(seed: 12)
        for (rows, lanes) in [(7, 24), (6, 8), (1, 56), (50, 64)] {
            var x = (0..<(rows * lanes)).map { _ in (rng.nextUniform() - 0.5) * 60 }
            for (i, special) in [Float.nan, .infinity, -.infinity, 0, -0.0, 88.8, -88.8, 1e30].enumerated() where i < x.count { x[i * 3 % x.count] = special }
            // The Swift kernel, 16 values at a time, rows folded in pairs as the C kernel folds them.
            var sigRef = [Float](repeating: 0, count: rows * lanes), softRef = [Float](repeating: 0, count: lanes)
            var sigSumRef = [Float](repeating: 0, count: lanes)
            var pairSoft = [Float](repeating: 0, count: 2 * lanes), pairSig = pairSoft
            func kernel(_ values: ArraySlice<Float>) -> ([Float], [Float]) {
                var out: ([Float], [Float]) = ([], [])
                var i = values.startIndex
                while i < values.endIndex {
                    var v = SIMD16<Float>()
                    let n = min(16, values.endIndex - i)
                    for l in 0..<n { v[l] = values[i + l] }
                    let (s, sp) = sigmoidSoftplus(v)
                    for l in 0..<n { out.0.append(s[l]); out.1.append(sp[l]) }
                    i += 16
                }
                return out
            }
            for r in stride(from: 0, to: rows / 2 * 2, by: 2) {
                let (s, sp) = kernel(x[(r * lanes)..<((r + 2) * lanes)])
                for c in 0..<(2 * lanes) { sigRef[r * lanes + c] = s[c]; pairSoft[c] += sp[c]; pairSig[c] += s[c] }
            }
            for c in 0..<lanes { softRef[c] = pairSoft[c] + pairSoft[lanes + c]; sigSumRef[c] = pairSig[c] + pairSig[lanes + c] }
            if rows % 2 == 1 {
                let (s, sp) = kernel(x[((rows - 1) * lanes)...])
                for c in 0..<lanes { sigRef[(rows - 1) * lanes + c] = s[c]; softRef[c] += sp[c]; sigSumRef[c] += s[c] }
            }
            for portable in [true, false] {
                var sig = [Float](repeating: 0, count: rows * lanes), soft = [Float](repeating: 0, count: lanes)
                var sigSum = soft, scratch = [Float](repeating: .nan, count: 4 * lanes)
                if portable {
                    uniseg_sigmoid_softplus_sums_portable(x, Int64(rows), Int64(lanes), &sig, &soft, &sigSum, &scratch)
                } else {
                    sigmoidSoftplusSums(x, rows: rows, lanes: lanes, sigmoid: &sig, softplusSum: &soft, sigmoidSum: &sigSum, scratch: &scratch)
                }
                // Bit patterns, every NaN as one (its payload is not part of the arithmetic).
                let canon = { (a: [Float]) in a.map { $0.isNaN ? Float.nan.bitPattern : $0.bitPattern } }
                XCTAssertEqual(canon(sig), canon(sigRef), "\(rows) x \(lanes), portable \(portable): sigmoids")
                XCTAssertEqual(canon(soft), canon(softRef), "\(rows) x \(lanes), portable \(portable): softplus sums")
                XCTAssertEqual(canon(sigSum), canon(sigSumRef), "\(rows) x \(lanes), portable \(portable): sigmoid sums")
            }
        }
    }

    func testMaskCrops() {
        var data = [Float](repeating: 0, count: 4 * 5 * 6)
        data[0 * 30 + 2 * 6 + 3] = 0.5                                 // one pixel
        data[1 * 30 + 1 * 6 + 0] = 1; data[1 * 30 + 4 * 6 + 5] = 0.25   // two corners
        data[3 * 30 + 3 * 6 + 1] = .nan                                // NaN counts
        let crops = MaskCrop.of(Tensor(shape: [4, 5, 6], data: data))
        XCTAssertEqual(crops.map(\.rows), [2..<3, 1..<5, 0..<0, 3..<4])
        XCTAssertEqual(crops.map(\.cols), [3..<4, 0..<6, 0..<0, 1..<2])
        XCTAssertEqual(crops.map(\.windowWidth), [7, 12, 0, 7])
        // The rectangle inside a border of 3 zeros.
        XCTAssertEqual(crops[0].values, [Float](repeating: 0, count: 24) + [0.5] + [Float](repeating: 0, count: 24))
        XCTAssertEqual(crops[1].values.count, 10 * 12)
        XCTAssertEqual((0..<4).flatMap { y in crops[1].values[((y + 3) * 12 + 3)..<((y + 3) * 12 + 9)] }, Array(data[36..<60]))
        XCTAssertEqual(crops[1].values.reduce(0, +), 1.25)
        XCTAssertEqual(crops[2].values, [])
        XCTAssertTrue(crops[3].values[24].isNaN)
    }

    /// The sparse samples are exactly the nonzero values of the dense sampling, for targets at
    /// the borders, of one pixel, empty and soft, with points also outside the map.
    func testSparseTargetSamplesEqualDenseSampling() {
        var rng = SeededRNG(seed: 31)
        let (t, th, tw, gh, gw, p) = (5, 40, 36, 10, 9, 3000)
        var masks = [Float](repeating: 0, count: t * th * tw)
        for y in 0..<7 { for x in 30..<36 { masks[y * tw + x] = 1 } }            // top-right corner
        masks[1 * th * tw + 20 * tw + 17] = 1                                  // one pixel
        for i in 0..<(th * tw) where i % 7 == 0 { masks[3 * th * tw + i] = rng.nextUniform() }  // soft, everywhere
        for y in 33..<40 { for x in 0..<4 { masks[4 * th * tw + y * tw + x] = 0.75 } }  // bottom-left corner
        let target = Tensor(shape: [t, th, tw], data: masks)
        let raw = (0..<(2 * p)).map { _ in rng.nextUniform() * 1.1 - 0.05 }
        let (points, pixelStarts) = HungarianMatcher.rasterOrdered(raw, height: gh, width: gw)
        let sparse = SparseTargetSamples(crops: MaskCrop.of(target), height: th, width: tw, points: points,
                                         pixelStarts: pixelStarts, gridWidth: gw)
        let dense = Tensor.sampledValues(target, points: points, count: p, shared: true)
        for j in 0..<t {
            let expected = (0..<p).filter { dense[j * p + $0] != 0 }
            let entries = sparse.start[j]..<sparse.start[j + 1]
            XCTAssertEqual(entries.map { Int(sparse.index[$0]) }, expected, "target \(j)")
            XCTAssertEqual(entries.map { sparse.value[$0] }, expected.map { dense[j * p + $0] }, "target \(j)")
            XCTAssertEqual(sparse.sums[j], expected.reduce(0.0) { $0 + Double(dense[j * p + $1]) }, accuracy: 1e-9)
            XCTAssertEqual(sparse.firstEntry(of: j, atOrAfter: 0), entries.lowerBound)
            XCTAssertEqual(sparse.firstEntry(of: j, atOrAfter: p), entries.upperBound)
        }
        XCTAssertEqual(sparse.start[3] - sparse.start[2], 0)
    }

    /// A batch entry read in place costs the same as the image's own tensors.
    func testBatchEntryEqualsSingleImage() throws {
        var rng = SeededRNG(seed: 5)
        let (b, q, k1, h, w) = (3, 11, 6, 8, 8)
        let logits = Tensor.randn([b, q, k1], rng: &rng), masks = Tensor.randn([b, q, h, w], std: 2, rng: &rng)
        var target = [Float](repeating: 0, count: 2 * 32 * 32)
        for y in 4..<20 { for x in 10..<30 { target[y * 32 + x] = 1 } }
        for y in 0..<32 { for x in 0..<8 { target[1024 + y * 32 + x] = 1 } }
        let targets = ImageTargets(classes: [1, 4], masks: Tensor(shape: [2, 32, 32], data: target))
        let matcher = HungarianMatcher(points: 300)
        let points = matcher.randomPoints(for: targets, rng: &rng)
        for i in 0..<b {
            let single = try matcher.costMatrix(
                logits: Tensor(shape: [q, k1], data: Array(logits.data[(i * q * k1)..<((i + 1) * q * k1)])),
                masks: Tensor(shape: [q, h, w], data: Array(masks.data[(i * q * h * w)..<((i + 1) * q * h * w)])),
                targets: targets, points: points)
            XCTAssertEqual(try matcher.costMatrix(logits: logits, masks: masks, targets: targets, image: i, points: points), single)
        }
        XCTAssertThrowsError(try matcher.costMatrix(logits: logits, masks: masks, targets: targets, image: 3, points: points))
    }
}
