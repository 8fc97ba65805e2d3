import XCTest
import CGEMM
@testable import Autograd
import TestSupport
import Core

final class NormSamplingGradTests: XCTestCase {
    /// Large enough to run on several threads: softmax and log-softmax gradients over the middle
    /// and the last axis against plain loops, bit for bit.
    func testLargeSoftmaxGradientsEqualPlainLoops() {
        var rng = SeededRNG(seed: 43)
        for (shape, axis) in [([6, 50, 130], 1), ([300, 133], 1)] {
            for log in [false, true] {
                let x = Tensor(shape: shape, data: Tensor.randn(shape, rng: &rng).data, requiresGrad: true)
                let y = log ? x.logSoftmax(axis: axis) : x.softmax(axis: axis)
                let g = Tensor.randn(shape, rng: &rng)
                (y * g).sum().backward()
                let n = shape[axis], inner = shape[(axis + 1)...].reduce(1, *), outer = x.count / (n * inner)
                var dx = [Float](repeating: 0, count: x.count)
                for o in 0..<outer {
                    for i in 0..<inner {
                        let base = o * n * inner + i
                        var s: Float = 0
                        for k in 0..<n { s += log ? g.data[base + k * inner] : g.data[base + k * inner] * y.data[base + k * inner] }
                        for k in 0..<n {
                            let e = base + k * inner
                            dx[e] = log ? g.data[e] - fexp(y.data[e]) * s : y.data[e] * (g.data[e] - s)
                        }
                    }
                }
                XCTAssertEqual(x.grad!, dx, "\(shape) axis \(axis) log \(log)")
            }
        }
    }

    func testSoftmaxAndLogSoftmax() {
        let x = param([2, 3, 4], 1, low: -2, high: 2)
        for axis in [0, 1, -1] {
            checkGradients([x]) { $0[0].softmax(axis: axis) }
            checkGradients([x]) { $0[0].logSoftmax(axis: axis) }
        }
        let one = param([3, 1], 2)
        checkGradients([one]) { $0[0].softmax(axis: 1) }
        let s = Tensor(shape: [1, 3], data: [1, 2, 3]).softmax()
        assertClose(s.data, [0.09003057, 0.24472847, 0.66524096], "softmax")
        let big = Tensor(shape: [1, 2], data: [1000, 0]).logSoftmax()
        assertClose(big.data, [0, -1000], "log_softmax stable")
    }

    func testLogSumExp() {
        let x = param([2, 3, 4], 3, low: -2, high: 2)
        for axis in [0, 1, -1] { checkGradients([x]) { $0[0].logSumExp(axis: axis) } }
        let v = Tensor(shape: [1, 3], data: [1, 2, 3]).logSumExp(axis: 1)
        XCTAssertEqual(v.shape, [1, 1])
        assertClose(v.data, [3.40760596], "log-sum-exp")
        assertClose(Tensor(shape: [1, 2], data: [1000, 1000]).logSumExp(axis: 1).data, [1000.693147], "log-sum-exp stable")
    }

    func testLayerNorm() {
        let x = param([2, 3, 5], 3, low: -2, high: 2), w = param([5], 4), b = param([5], 5)
        checkGradients([x, w, b], atol: 5e-3) { $0[0].layerNorm(weight: $0[1], bias: $0[2]) }
        checkGradients([x], atol: 5e-3) { $0[0].layerNorm(weight: nil, bias: nil) }
        let y = Tensor(shape: [1, 4], data: [1, 2, 3, 4]).layerNorm(weight: nil, bias: nil)
        // (x - 2.5) / sqrt(1.25 + 1e-5)
        assertClose(y.data, [-1.3416355, -0.44721183, 0.44721183, 1.3416355], atol: 1e-5, "layer norm")
    }

    func testGroupNorm() {
        let x = param([2, 4, 3, 2], 6, low: -2, high: 2), w = param([4], 7), b = param([4], 8)
        checkGradients([x, w, b], atol: 5e-3) { $0[0].groupNorm(groups: 2, weight: $0[1], bias: $0[2]) }
        checkGradients([x, w, b], atol: 5e-3) { $0[0].groupNorm(groups: 4, weight: $0[1], bias: $0[2]) }
        checkGradients([x], atol: 5e-3) { $0[0].groupNorm(groups: 1, weight: nil, bias: nil) }
        let flat = param([3, 12], 9)
        checkGradients([flat], atol: 5e-3) { $0[0].groupNorm(groups: 3, weight: nil, bias: nil) }
    }

    func testResizeGradients() {
        let x = param([2, 3, 4, 5], 10)
        for size in [(8, 10), (3, 2), (7, 3), (4, 5), (1, 1)] {
            checkGradients([x]) { $0[0].resizeBilinear(to: size) }
            checkGradients([x]) { $0[0].resizeNearest(to: size) }
        }
    }

    /// A resize large enough to run in parallel chunks that end mid-row, against PyTorch's
    /// formula written out per output element.
    func testLargeResizeMatchesTheFormula() {
        var rng = SeededRNG(seed: 31)
        let (h, w, ho, wo) = (37, 41, 121, 127)
        let x = Tensor.randn([1, 5, h, w], rng: &rng)
        let y = x.resizeBilinear(to: (ho, wo)).data
        func source(_ i: Int, _ outSize: Int, _ inSize: Int) -> (Int, Int, Float) {
            let scale = Float(inSize) / Float(outSize)
            let src = max((Float(i) + 0.5) * scale - 0.5, 0)
            let lo = min(Int(src), inSize - 1)
            return (lo, min(lo + 1, inSize - 1), src - Float(lo))
        }
        var worst: Float = 0
        for p in 0..<5 { for oy in 0..<ho { for ox in 0..<wo {
            let (y0, y1, ly) = source(oy, ho, h), (x0, x1, lx) = source(ox, wo, w)
            let v = { (yy: Int, xx: Int) in x.data[(p * h + yy) * w + xx] }
            let expected = (1 - ly) * ((1 - lx) * v(y0, x0) + lx * v(y0, x1)) + ly * ((1 - lx) * v(y1, x0) + lx * v(y1, x1))
            worst = max(worst, abs(y[(p * ho + oy) * wo + ox] - expected))
        } } }
        XCTAssertEqual(worst, 0)
    }

    func testResizeValuesByHand() {
        // 1x2 -> 1x4, align_corners false: sources -0.25 (clamped 0), 0.25, 0.75, 1.25 (upper clamped).
        let x = Tensor(shape: [1, 1, 1, 2], data: [0, 4])
        assertClose(x.resizeBilinear(to: (1, 4)).data, [0, 1, 3, 4], "bilinear")
        assertClose(x.resizeNearest(to: (1, 4)).data, [0, 0, 4, 4], "nearest")
        let y = Tensor(shape: [1, 1, 1, 4], data: [1, 2, 3, 4])
        assertClose(y.resizeBilinear(to: (1, 2)).data, [1.5, 3.5], "bilinear down")
        assertClose(y.resizeNearest(to: (1, 3)).data, [1, 2, 3], "nearest down")
    }

    /// Pixel coordinates with fractional parts in [0.2, 0.8] (away from the bilinear kinks),
    /// some outside the map, as a normalised grid.
    func grid(n: Int, ho: Int, wo: Int, h: Int, w: Int, seed: UInt64) -> Tensor {
        var rng = SeededRNG(seed: seed)
        var values: [Float] = []
        for _ in 0..<(n * ho * wo) {
            let px = Float(rng.nextInt(below: w + 2) - 1) + 0.2 + 0.6 * rng.nextUniform()
            let py = Float(rng.nextInt(below: h + 2) - 1) + 0.2 + 0.6 * rng.nextUniform()
            values += [(2 * px + 1) / Float(w) - 1, (2 * py + 1) / Float(h) - 1]
        }
        return Tensor(shape: [n, ho, wo, 2], data: values, requiresGrad: true)
    }

    func testGridSampleGradients() {
        let x = param([2, 3, 4, 5], 11)
        let g = grid(n: 2, ho: 3, wo: 2, h: 4, w: 5, seed: 12)
        checkGradients([x, g], eps: 1e-3, atol: 5e-3) { Tensor.gridSample($0[0], grid: $0[1]) }
    }

    func testGridSampleValuesByHand() {
        // 2x2 map; grid (0, 0) is the centre: average of all four. (-1,-1) is the corner of the
        // top-left pixel: a quarter of its value (the other taps are outside → 0).
        let x = Tensor(shape: [1, 1, 2, 2], data: [1, 2, 3, 4])
        let g = Tensor(shape: [1, 1, 3, 2], data: [0, 0, -1, -1, -0.5, -0.5])
        assertClose(Tensor.gridSample(x, grid: g).data, [2.5, 0.25, 1], "grid_sample")
        let far = Tensor(shape: [1, 1, 1, 2], data: [5, .nan])
        XCTAssertEqual(Tensor.gridSample(x, grid: far).data, [0])
    }

    /// The no-grad point reader gives exactly gridSample's values, each map at its own points
    /// (unit-square coordinates), outside points included.
    func testSampledValuesEqualGridSample() {
        let maps = param([3, 4, 5], 21)
        let g = grid(n: 3, ho: 1, wo: 7, h: 4, w: 5, seed: 22)
        let unit = g.data.map { ($0 + 1) / 2 }
        let expected = Tensor.gridSample(maps.reshape([3, 1, 4, 5]), grid: Tensor(shape: [3, 1, 7, 2], data: unit.map { 2 * $0 - 1 })).data
        XCTAssertEqual(Tensor.sampledValues(maps, points: unit, count: 7), expected)
        XCTAssertEqual(Tensor.sampledValues(Tensor(shape: [1, 2, 2], data: [1, 2, 3, 4]), points: [0.5, 0.5, 0, 0], count: 2), [2.5, 0.25])

        // Many points, inside (the fast path), on pixel centres and edges, and outside.
        var rng = SeededRNG(seed: 23)
        let big = Tensor.randn([3, 9, 11], rng: &rng)
        let n = 600
        var points = (0..<(3 * n * 2)).map { _ in rng.nextUniform() * 1.2 - 0.1 }
        for (i, v) in [0, 1, 0.5 / 11, 10.5 / 11, 0.5 / 9, 8.5 / 9, 1e-7, 0.9999999].enumerated() { points[2 * i] = Float(v); points[2 * i + 1] = Float(v) }
        let reference = Tensor.gridSample(big.reshape([3, 1, 9, 11]), grid: Tensor(shape: [3, 1, n, 2], data: points.map { 2 * $0 - 1 })).data
        XCTAssertEqual(Tensor.sampledValues(big, points: points, count: n), reference)
        // Shared points: every map at the first map's points; rows: a gather of maps.
        let shared = Array(points[0..<(2 * n)])
        let sharedReference = Tensor.gridSample(big.reshape([1, 3, 9, 11]), grid: Tensor(shape: [1, 1, n, 2], data: shared.map { 2 * $0 - 1 })).data
        XCTAssertEqual(Tensor.sampledValues(big, points: shared, count: n, shared: true), sharedReference)
        let rows = [2, 0, 2]
        let gathered = Tensor.sampledValues(big.indexSelect(axis: 0, rows), points: points, count: n)
        XCTAssertEqual(Tensor.sampledValues(big, points: points, count: n, rows: rows), gathered)
        // Maps one pixel high or wide: no point has all four taps inside (eight at a time too).
        for (th, tw) in [(1, 7), (5, 1), (1, 1)] {
            let thin = Tensor.randn([2, th, tw], rng: &rng)
            let tp = (0..<(2 * 2 * 40)).map { _ in rng.nextUniform() * 1.2 - 0.1 }
            let ref = Tensor.gridSample(thin.reshape([2, 1, th, tw]), grid: Tensor(shape: [2, 1, 40, 2], data: tp.map { 2 * $0 - 1 })).data
            XCTAssertEqual(Tensor.sampledValues(thin, points: tp, count: 40), ref, "\(th) x \(tw)")
        }
    }

    /// The differentiable point reader: gridSample's values and map gradient bit for bit on a
    /// constant grid (points inside, on edges and outside), and a finite-difference check.
    func testPointSampleEqualsGridSample() {
        var rng = SeededRNG(seed: 25)
        let (m, h, w, n) = (3, 9, 11, 500)
        let maps = Tensor.randn([m, h, w], rng: &rng, requiresGrad: true)
        var points = (0..<(m * n * 2)).map { _ in rng.nextUniform() * 1.2 - 0.1 }
        for (i, v) in [0, 1, 0.5 / 11, 10.5 / 11, 1e-7, 0.9999999].enumerated() { points[2 * i] = Float(v); points[2 * i + 1] = Float(v) }
        points[20] = .nan
        let seed = (0..<(m * n)).map { _ in rng.nextUniform() - 0.5 }
        let sampled = Tensor.pointSample(maps, points: points, count: n)
        sampled.backward(seed: seed)
        let ours = maps.grad!
        maps.zeroGrad()
        let reference = Tensor.gridSample(maps.reshape([m, 1, h, w]), grid: Tensor(shape: [m, 1, n, 2], data: points.map { 2 * $0 - 1 }))
        XCTAssertEqual(sampled.data, reference.data)
        reference.backward(seed: seed)
        XCTAssertEqual(ours, maps.grad!)

        let small = param([2, 4, 5], 26)
        let g = grid(n: 2, ho: 1, wo: 6, h: 4, w: 5, seed: 27).data.map { ($0 + 1) / 2 }
        checkGradients([small], eps: 1e-3, atol: 5e-3) { Tensor.pointSample($0[0], points: g, count: 6) }
    }

    /// The vector and portable paths of the point reader agree with gridSample bit for bit on
    /// every kind of point: inside (groups of eight on the fast path), on edges, outside, NaN,
    /// mixed within a group, and counts that leave a tail.
    func testSampleMapPathsAgree() {
        var rng = SeededRNG(seed: 28)
        for (h, w) in [(9, 11), (64, 64), (1, 7), (5, 1), (2, 2)] {
            let map = Tensor.randn([1, h, w], rng: &rng)
            let n = 203
            var points = (0..<(2 * n)).map { _ in rng.nextUniform() }
            for i in stride(from: 40, to: 2 * n, by: 37) { points[i] = rng.nextUniform() * 1.4 - 0.2 }   // a few outside
            for (i, v) in [0, 1, 0.5 / Float(w), 1e-7, 0.9999999, -3, 4].enumerated() { points[2 * i] = v; points[2 * i + 1] = 1 - v }
            points[101] = .nan
            let reference = Tensor.gridSample(map.reshape([1, 1, h, w]), grid: Tensor(shape: [1, 1, n, 2], data: points.map { 2 * $0 - 1 })).data
            var vector = [Float](repeating: -1, count: n), portable = [Float](repeating: -1, count: n)
            map.data.withUnsafeBufferPointer { m in
                Tensor.sampleMap(m.baseAddress!, height: h, width: w, points: points, count: n, into: &vector)
                uniseg_sample_map_portable(m.baseAddress!, Int64(h), Int64(w), points, Int64(n), &portable)
            }
            XCTAssertEqual(vector.map(\.bitPattern), reference.map(\.bitPattern), "\(h) x \(w)")
            XCTAssertEqual(portable.map(\.bitPattern), reference.map(\.bitPattern), "\(h) x \(w), portable")

            // The gradient, both paths, against gridSample's.
            let source = Tensor(shape: [1, 1, h, w], data: map.data, requiresGrad: true)
            let seed = (0..<n).map { _ in rng.nextUniform() - 0.5 }
            Tensor.gridSample(source, grid: Tensor(shape: [1, 1, n, 2], data: points.map { 2 * $0 - 1 })).backward(seed: seed)
            var dVector = [Float](repeating: 0, count: h * w), dPortable = dVector
            uniseg_sample_map_backward(seed, Int64(h), Int64(w), points, Int64(n), &dVector)
            uniseg_sample_map_backward_portable(seed, Int64(h), Int64(w), points, Int64(n), &dPortable)
            XCTAssertEqual(dVector.map(\.bitPattern), source.grad!.map(\.bitPattern), "\(h) x \(w), gradient")
            XCTAssertEqual(dPortable.map(\.bitPattern), source.grad!.map(\.bitPattern), "\(h) x \(w), gradient, portable")
        }
    }

    /// A window holding a map's nonzero pixels (with a border of zeros, reaching past the map's
    /// edge) samples exactly as the whole map, at points inside, on edges and outside.
    func testSampleWindowEqualsSampleMap() {
        var rng = SeededRNG(seed: 24)
        let (h, w) = (12, 10)
        var map = [Float](repeating: 0, count: h * w)
        for y in 0..<4 { for x in 5..<10 { map[y * w + x] = rng.nextUniform() + 0.1 } }   // touches top and right edges
        // The window: rows -3..<7, columns 2..<13 of the map (zeros beyond it).
        let (oy, ox, wh, ww) = (-3, 2, 10, 11)
        var window = [Float](repeating: 0, count: wh * ww)
        for y in 0..<wh { for x in 0..<ww where (0..<h).contains(y + oy) && (0..<w).contains(x + ox) { window[y * ww + x] = map[(y + oy) * w + x + ox] } }
        // Points whose taps stay in the window: x in [ox, ox + ww - 1) - 0.5 pixels, likewise y.
        var points: [Float] = []
        for _ in 0..<500 {
            points.append((Float(ox) + 0.5 + rng.nextUniform() * Float(ww - 2)) / Float(w))
            points.append((Float(oy) + 0.5 + rng.nextUniform() * Float(wh - 2)) / Float(h))
        }
        points += [1, 0, 0.75, 1.0 / 12, 0.55, 0.5 / 12, 0.25, 0]   // edges and pixel centres
        let n = points.count / 2
        var expected = [Float](repeating: 0, count: n), got = [Float](repeating: 0, count: n)
        Tensor.sampleMap(map, height: h, width: w, points: points, count: n, into: &expected)
        window.withUnsafeBufferPointer {
            Tensor.sampleWindow($0, origin: (ox, oy), windowWidth: ww, height: h, width: w, points: points, count: n, into: &got)
        }
        XCTAssertEqual(got, expected)
        XCTAssertGreaterThan(expected.filter { $0 != 0 }.count, 50)

        // With a zero ring, points anywhere (taps leaving the window read 0): still exact.
        let anywhere = (0..<1000).map { _ in rng.nextUniform() * 1.4 - 0.2 }
        var all = [Float](repeating: 0, count: 500), allExpected = [Float](repeating: 0, count: 500)
        Tensor.sampleMap(map, height: h, width: w, points: anywhere, count: 500, into: &allExpected)
        window.withUnsafeBufferPointer {
            Tensor.sampleWindow($0, origin: (ox, oy), windowWidth: ww, height: h, width: w, points: anywhere, count: 500,
                                zeroRing: true, into: &all)
        }
        XCTAssertEqual(all, allExpected)

        // The portable C path gives the same bits; without a zero ring it reports the first
        // point whose taps leave the window.
        var portable = [Float](repeating: -1, count: 500), vector = portable
        var withNaN = anywhere
        withNaN[7] = .nan
        let vectorOutside = uniseg_sample_window(window, Int64(ww), Int64(wh), Int64(ox), Int64(oy), Int64(h), Int64(w), withNaN, 500, 1, &vector)
        let portableOutside = uniseg_sample_window_portable(window, Int64(ww), Int64(wh), Int64(ox), Int64(oy), Int64(h), Int64(w), withNaN, 500, 1, &portable)
        XCTAssertEqual([vectorOutside, portableOutside], [-1, -1])
        XCTAssertEqual(vector.map(\.bitPattern), portable.map(\.bitPattern))
        XCTAssertEqual(vector[3], 0, "a NaN point reads 0")
        let firstOutside = (0..<500).first { i in
            var v: Float = 0
            return uniseg_sample_window_portable(window, Int64(ww), Int64(wh), Int64(ox), Int64(oy), Int64(h), Int64(w),
                                                 Array(anywhere[(2 * i)..<(2 * i + 2)]), 1, 0, &v) == 0
        }!
        XCTAssertEqual(uniseg_sample_window(window, Int64(ww), Int64(wh), Int64(ox), Int64(oy), Int64(h), Int64(w), anywhere, 500, 0, &vector),
                       Int64(firstOutside))
        XCTAssertEqual(uniseg_sample_window_portable(window, Int64(ww), Int64(wh), Int64(ox), Int64(oy), Int64(h), Int64(w), anywhere, 500, 0, &portable),
                       Int64(firstOutside))
    }

    func testAttention() {
        let q = param([2, 2, 3, 4], 13), k = param([2, 2, 5, 4], 14), v = param([2, 2, 5, 3], 15)
        checkGradients([q, k, v]) { Tensor.attention(q: $0[0], k: $0[1], v: $0[2]) }
        var blocked = [Bool](repeating: false, count: 2 * 3 * 5)
        for i in stride(from: 0, to: blocked.count, by: 3) { blocked[i] = true }
        let mask = BoolMask(shape: [2, 1, 3, 5], values: blocked)
        checkGradients([q, k, v]) { Tensor.attention(q: $0[0], k: $0[1], v: $0[2], blocked: mask) }
        // A blocked key gets no weight: changing its value changes nothing.
        let out1 = Tensor.attention(q: q, k: k, v: v, blocked: mask).data
        var v2 = v.data
        for b in 0..<2 { for h in 0..<2 { for c in 0..<3 { v2[((b * 2 + h) * 5 + 0) * 3 + c] += 100 } } }
        let maskAll0 = BoolMask(shape: [1, 1, 1, 5], values: [true, false, false, false, false])
        let a = Tensor.attention(q: q, k: k, v: v, blocked: maskAll0).data
        let b = Tensor.attention(q: q, k: k, v: Tensor(shape: v.shape, data: v2), blocked: maskAll0).data
        assertClose(a, b, "blocked key ignored")
        XCTAssertEqual(out1.count, 2 * 2 * 3 * 3)
    }
}

final class DeformableAttentionTests: XCTestCase {
    func testGradients() {
        // Two levels (2x3 and 3x2), 2 heads of 3 channels, 2 points; locations kept away from
        // pixel boundaries (bilinear kinks) by construction, some outside the map.
        let shapes = [(2, 3), (3, 2)]
        let value = param([2, 12, 2, 3], 1)
        var rng = SeededRNG(seed: 2)
        var locs: [Float] = []
        for _ in 0..<(2 * 4 * 2) {            // (n, q, head)
            for (h, w) in shapes {
                for _ in 0..<2 {
                    let px = Float(rng.nextInt(below: w + 2) - 1) + 0.2 + 0.6 * rng.nextUniform()
                    let py = Float(rng.nextInt(below: h + 2) - 1) + 0.2 + 0.6 * rng.nextUniform()
                    locs += [(px + 0.5) / Float(w), (py + 0.5) / Float(h)]
                }
            }
        }
        let locations = Tensor(shape: [2, 4, 2, 2, 2, 2], data: locs, requiresGrad: true)
        let weights = param([2, 4, 2, 2, 2], 3, low: 0, high: 1)
        checkGradients([value, locations, weights], eps: 1e-3, atol: 5e-3) {
            Tensor.deformableAttention(value: $0[0], shapes: shapes, locations: $0[1], weights: $0[2])
        }
    }

    /// The dispatched (AVX2 where the CPU has it) and portable C paths give the same bits,
    /// forward and backward, for channel counts with and without a tail of fewer than eight,
    /// locations inside, on and past the edges and NaN; and both agree with a plain Double
    /// evaluation of the definition (zero padding, x·W − 0.5 pixel positions).
    func testPathsAgreeWithEachOtherAndTheDefinition() {
        var rng = SeededRNG(seed: 44)
        for d in [32, 13, 3] {
            let shapes = [(5, 7), (3, 4), (1, 2)], (n, q, heads, levels, points) = (2, 9, 3, 3, 4)
            let s = shapes.reduce(0) { $0 + $1.0 * $1.1 }
            let value = Tensor(shape: [n, s, heads, d], data: (0..<(n * s * heads * d)).map { _ in rng.nextUniform() * 2 - 1 }, requiresGrad: true)
            var loc = (0..<(n * q * heads * levels * points * 2)).map { _ in rng.nextUniform() * 1.3 - 0.15 }
            for (i, x) in [Float(0), 1, 1e-7, 0.9999999, -3, 4, .nan].enumerated() { loc[5 * i + 1] = x }
            let locations = Tensor(shape: [n, q, heads, levels, points, 2], data: loc, requiresGrad: true)
            let weights = Tensor(shape: [n, q, heads, levels, points], data: (0..<(n * q * heads * levels * points)).map { _ in rng.nextUniform() }, requiresGrad: true)
            let out = Tensor.deformableAttention(value: value, shapes: shapes, locations: locations, weights: weights)
            let seed = (0..<out.count).map { _ in rng.nextUniform() - 0.5 }
            out.backward(seed: seed)

            let levelShapes = shapes.flatMap { [Int64($0.0), Int64($0.1)] }
            let rows = n * q * heads
            var portable = [Float](repeating: -1, count: rows * d)
            var dValue = [Float](repeating: 0, count: value.count), dLoc = [Float](repeating: -1, count: loc.count)
            var dW = [Float](repeating: -1, count: weights.count)
            uniseg_deformable_attention_forward_portable(value.data, levelShapes, Int64(levels), Int64(points), Int64(s), Int64(q), Int64(heads),
                                                         Int64(d), loc, weights.data, 0, Int64(rows), &portable)
            for task in 0..<(n * heads * levels) {
                uniseg_deformable_attention_backward_portable(seed, value.data, levelShapes, Int64(levels), Int64(points), Int64(s), Int64(q),
                                                              Int64(heads), Int64(d), loc, weights.data, Int64(task), &dValue, &dLoc, &dW)
            }
            XCTAssertEqual(out.data.map(\.bitPattern), portable.map(\.bitPattern), "d \(d): forward")
            XCTAssertEqual(value.grad!.map(\.bitPattern), dValue.map(\.bitPattern), "d \(d): value gradient")
            XCTAssertEqual(locations.grad!.map(\.bitPattern), dLoc.map(\.bitPattern), "d \(d): location gradient")
            XCTAssertEqual(weights.grad!.map(\.bitPattern), dW.map(\.bitPattern), "d \(d): weight gradient")

            // The definition in Double: Σ over levels and points of weight · bilinear value.
            var expected = [Double](repeating: 0, count: rows * d)
            for row in 0..<rows {
                let h = row % heads, b = row / (q * heads)
                var start = 0
                for (l, (lh, lw)) in shapes.enumerated() {
                    for p in 0..<points {
                        let wi = (row * levels + l) * points + p
                        let x = Double(loc[2 * wi]) * Double(lw) - 0.5, y = Double(loc[2 * wi + 1]) * Double(lh) - 0.5
                        guard x.isFinite, y.isFinite else { continue }
                        let x0 = x.rounded(.down), y0 = y.rounded(.down)
                        for (ty, wy) in [(Int(y0), 1 - (y - y0)), (Int(y0) + 1, y - y0)] where ty >= 0 && ty < lh {
                            for (tx, wx) in [(Int(x0), 1 - (x - x0)), (Int(x0) + 1, x - x0)] where tx >= 0 && tx < lw {
                                for k in 0..<d {
                                    let v = Double(value.data[((b * s + start + ty * lw + tx) * heads + h) * d + k])
                                    expected[row * d + k] += Double(weights.data[wi]) * wy * wx * v
                                }
                            }
                        }
                    }
                    start += lh * lw
                }
            }
            let worst = zip(out.data, expected).map { abs(Double($0) - $1) }.max()!
            XCTAssertLessThan(worst, 1e-5, "d \(d): forward against the definition")
        }
    }

    func testOnePointAtAPixelCentreReadsThatPixel() {
        // 1 level 2x2, 1 head, D = 2; location at the centre of pixel (x 1, y 0).
        let value = Tensor(shape: [1, 4, 1, 2], data: [1, 10, 2, 20, 3, 30, 4, 40])
        let loc = Tensor(shape: [1, 1, 1, 1, 1, 2], data: [0.75, 0.25])
        let out = Tensor.deformableAttention(value: value, shapes: [(2, 2)], locations: loc, weights: Tensor(shape: [1, 1, 1, 1, 1], data: [0.5]))
        XCTAssertEqual(out.data, [1, 10])
    }
}
