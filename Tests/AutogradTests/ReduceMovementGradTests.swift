import XCTest
@testable import Autograd
import TestSupport
import Core

final class ReduceMovementGradTests: XCTestCase {
    func testSumAndMean() {
        let x = param([2, 3, 4], 1)
        checkGradients([x]) { $0[0].sum() }
        checkGradients([x]) { $0[0].sum(axis: 1) }
        checkGradients([x]) { $0[0].sum(axes: [0, 2], keepDims: true) }
        checkGradients([x]) { $0[0].sum(axis: -1) }
        checkGradients([x]) { $0[0].mean() }
        checkGradients([x]) { $0[0].mean(axes: [1, 2]) }
        let one = param([1, 3, 1], 2)
        checkGradients([one]) { $0[0].sum(axis: 0) }
        checkGradients([one]) { $0[0].mean(axis: 2, keepDims: true) }
    }

    /// A broadcast operand's gradient sums the output gradient over the broadcast axes; a
    /// bias-like one (the operand is the output's trailing axes) each element in row order from
    /// 0, bit for bit — also when split over columns between threads (600 x 300 is).
    func testReduceGradientSumsInRowOrder() {
        var rng = SeededRNG(seed: 31)
        for (outShape, shape) in [([600, 300], [300]), ([4, 150, 300], [1, 300]), ([2, 3, 5], [3, 1]), ([6, 7], [6, 1]), ([3, 4, 5], [1, 4, 1])] {
            let g = Tensor.randn(outShape, rng: &rng).data
            var expected = [Float](repeating: 0, count: shape.reduce(1, *))
            // The reference: walk every output index, map it to the operand's index.
            for (i, v) in g.enumerated() {
                var rest = i, index = 0, stride = 1
                for axis in (0..<outShape.count).reversed() {
                    let coordinate = rest % outShape[axis]
                    rest /= outShape[axis]
                    let operandAxis = axis - (outShape.count - shape.count)
                    if operandAxis >= 0 && shape[operandAxis] != 1 { index += coordinate * stride }
                    if operandAxis >= 0 { stride *= shape[operandAxis] }
                }
                expected[index] += v
            }
            let got = reduceGradient(g, from: outShape, to: shape)
            if shape.drop(while: { $0 == 1 }).elementsEqual(outShape.suffix(shape.drop(while: { $0 == 1 }).count)) {
                XCTAssertEqual(got, expected, "\(outShape) -> \(shape)")
            } else {
                assertClose(got, expected, atol: 1e-5, rtol: 1e-5, "\(outShape) -> \(shape)")
            }
        }
    }

    func testSumValues() {
        let x = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(x.sum().data, [21])
        XCTAssertEqual(x.sum(axis: 0).data, [5, 7, 9])
        XCTAssertEqual(x.sum(axis: 1, keepDims: true).shape, [2, 1])
        XCTAssertEqual(x.sum(axis: 1).data, [6, 15])
        XCTAssertEqual(x.mean(axis: 0).data, [2.5, 3.5, 4.5])
    }

    func testMax() {
        // Distinct values so the maximum is unique under perturbation.
        let x = Tensor(shape: [2, 3, 2], data: [0.1, 0.9, -0.4, 0.5, 0.7, -0.8, 0.3, 0.0, 1.2, -1.0, 0.6, 0.2], requiresGrad: true)
        checkGradients([x]) { $0[0].max(axis: 1) }
        checkGradients([x]) { $0[0].max(axis: 0, keepDims: true) }
        checkGradients([x]) { $0[0].max(axes: [1, 2]) }
        XCTAssertEqual(x.max(axis: 1).data, [0.7, 0.9, 1.2, 0.2])
        // Ties: the gradient goes to the first maximum, as in PyTorch.
        let t = Tensor(shape: [3], data: [2, 2, 1], requiresGrad: true)
        t.max(axis: 0).backward()
        XCTAssertEqual(t.grad!, [1, 0, 0])
    }

    func testExpand() {
        let x = param([3, 1], 3)
        checkGradients([x]) { $0[0].expand(to: [2, 3, 4]) }
    }

    func testReshapePermuteTranspose() {
        let x = param([2, 3, 4], 4)
        checkGradients([x]) { $0[0].reshape([6, -1]) }
        checkGradients([x]) { $0[0].permute([2, 0, 1]) }
        checkGradients([x]) { $0[0].transpose(0, 2) }
        checkGradients([x]) { $0[0].permute([1, 2, 0]).reshape([3, 8]) * $0[0].permute([1, 2, 0]).reshape([3, 8]) }
        let p = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6]).permute([1, 0])
        XCTAssertEqual(p.shape, [3, 2])
        XCTAssertEqual(p.data, [1, 4, 2, 5, 3, 6])
        XCTAssertThrowsError(try resolveReshape([2, 3], [4, -1]))
        XCTAssertTrue(Tensor.mergedPermutation(shape: [2, 8, 4, 5], [0, 2, 3, 1]) == ([2, 8, 20], [0, 2, 1]))
        XCTAssertTrue(Tensor.mergedPermutation(shape: [1, 8, 1, 5], [0, 3, 2, 1]) == ([8, 5], [1, 0]))
        XCTAssertTrue(Tensor.mergedPermutation(shape: [2, 50, 4, 32], [0, 2, 1, 3]) == ([2, 50, 4, 32], [0, 2, 1, 3]))
    }

    func testPermuteLargeMatchesSmallPath() {
        var rng = SeededRNG(seed: 5)
        let x = Tensor.randn([3, 40, 50, 7], rng: &rng)
        let y = x.permute([2, 0, 3, 1])
        for (i, j, k, l) in [(0, 0, 0, 0), (49, 2, 6, 39), (13, 1, 3, 17)] {
            XCTAssertEqual(y.data[((i * 3 + j) * 7 + k) * 40 + l], x.data[((j * 40 + l) * 50 + i) * 7 + k])
        }
    }

    /// Every permutation of 4-D tensors (some with length-1 axes, which the batched-transpose path
    /// merges away), element by element against the definition.
    func testEveryPermutationOfFourAxes() {
        var rng = SeededRNG(seed: 8)
        for shape in [[3, 35, 2, 33], [1, 35, 1, 33], [2, 17, 1, 16]] {
            permuteEveryWay(Tensor.randn(shape, rng: &rng), shape: shape)
        }
    }

    private func permuteEveryWay(_ x: Tensor, shape: [Int]) {
        func permutations(_ a: [Int]) -> [[Int]] {
            a.count <= 1 ? [a] : a.flatMap { h in permutations(a.filter { $0 != h }).map { [h] + $0 } }
        }
        for perm in permutations([0, 1, 2, 3]) {
            let y = x.permute(perm)
            let outShape = perm.map { shape[$0] }
            var expected = [Float](repeating: 0, count: x.count)
            var index = [0, 0, 0, 0]
            for e in 0..<x.count {
                var rest = e
                for axis in (0..<4).reversed() { index[axis] = rest % outShape[axis]; rest /= outShape[axis] }
                var source = [0, 0, 0, 0]
                for axis in 0..<4 { source[perm[axis]] = index[axis] }
                expected[e] = x.data[((source[0] * shape[1] + source[1]) * shape[2] + source[2]) * shape[3] + source[3]]
            }
            XCTAssertEqual(y.data, expected, "permute \(perm) of \(shape)")
        }
    }

    func testSliceConcatSplit() {
        let x = param([2, 5, 3], 5)
        checkGradients([x]) { $0[0].slice(axis: 1, 1..<4) }
        checkGradients([x]) { $0[0].slice(axis: -1, 2..<3) }
        let y = param([2, 2, 3], 6)
        checkGradients([x, y]) { Tensor.concat([$0[0], $0[1]], axis: 1) }
        checkGradients([x]) { t in
            let parts = t[0].split(axis: 1, sizes: [2, 0, 3])
            return parts[0].sum(axis: 1) * parts[2].mean(axis: 1)
        }
        let c = Tensor.concat([Tensor(shape: [1, 2], data: [1, 2]), Tensor(shape: [1, 1], data: [3])], axis: 1)
        XCTAssertEqual(c.data, [1, 2, 3])
    }

    func testIndexSelectAndGather() {
        let x = param([3, 4], 7)
        checkGradients([x]) { $0[0].indexSelect(axis: 0, [2, 0, 2]) }
        checkGradients([x]) { $0[0].indexSelect(axis: 1, [3]) }
        checkGradients([x]) { $0[0].gather(axis: 1, index: [0, 3, 1, 1, 2, 0], indexShape: [3, 2]) }
        checkGradients([x]) { $0[0].gather(axis: 0, index: [2, 0, 1, 2], indexShape: [1, 4]) }
        let v = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(v.gather(axis: 1, index: [2, 0], indexShape: [2, 1]).data, [3, 4])
        XCTAssertEqual(v.indexSelect(axis: 1, [2, 2, 0]).data, [3, 3, 1, 6, 6, 4])
    }

    /// Large enough to run on several threads: values and the gradient (repeated indices add
    /// up, in index order) against plain loops, bit for bit.
    /// Sums over trailing axes split their outputs between threads; every sum, threaded or not,
    /// equals the serial loop (each output a Float chain over its values in order) bit for bit.
    func testLargeSumsEqualPlainLoops() {
        var rng = SeededRNG(seed: 45)
        for (shape, axes) in [([16, 12544], [1]), ([6, 50, 130], [2]), ([6, 50, 130], [1, 2]), ([6, 50, 130], [0, 2]),
                              ([6, 50, 130], [1]), ([3, 1, 20000], [2])] {
            let x = Tensor.randn(shape, rng: &rng)
            let out = x.sum(axes: axes, keepDims: true)
            var expected = [Float](repeating: 0, count: out.count)
            let strides = (0..<shape.count).map { shape[($0 + 1)...].reduce(1, *) }
            let outStrides = (0..<shape.count).map { out.shape[($0 + 1)...].reduce(1, *) }
            // Output by output, its values in index order (the order the serial loop adds them).
            var partial = [Float](repeating: 0, count: out.count)
            for e in 0..<x.count {
                var o = 0
                for d in 0..<shape.count where !axes.contains(d) { o += (e / strides[d] % shape[d]) * outStrides[d] }
                partial[o] += x.data[e]
                // A row (the last axis) ends: the serial loop adds its chain into the output.
                if axes.contains(shape.count - 1), (e + 1) % shape[shape.count - 1] == 0 { expected[o] += partial[o]; partial[o] = 0 }
            }
            if !axes.contains(shape.count - 1) { expected = partial }
            XCTAssertEqual(out.data.map(\.bitPattern), expected.map(\.bitPattern), "\(shape) over \(axes)")
        }
    }

    func testLargeIndexSelectEqualsPlainLoops() {
        var rng = SeededRNG(seed: 41)
        for (shape, axis, indices) in [([3, 40, 601], 1, [5, 0, 5, 39, 5, 12]), ([70, 1000], 0, [3, 69, 3, 3, 0])] {
            let x = Tensor(shape: shape, data: Tensor.randn(shape, rng: &rng).data, requiresGrad: true)
            let (outer, n, inner) = (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
            let m = indices.count
            let y = x.indexSelect(axis: axis, indices)
            let g = Tensor.randn(y.shape, rng: &rng)
            (y * g).sum().backward()
            var expected = [Float](), dx = [Float](repeating: 0, count: x.count)
            for i in 0..<outer {
                for (j, idx) in indices.enumerated() {
                    for k in 0..<inner {
                        expected.append(x.data[(i * n + idx) * inner + k])
                        dx[(i * n + idx) * inner + k] += g.data[(i * m + j) * inner + k]
                    }
                }
            }
            XCTAssertEqual(y.data, expected, "\(shape) axis \(axis)")
            XCTAssertEqual(x.grad!, dx, "\(shape) axis \(axis) gradient")
        }
    }

    func testMaskedFillAndWhere() {
        let x = param([2, 3], 8), y = param([2, 3], 9)
        let mask = BoolMask(shape: [1, 3], values: [true, false, true])
        checkGradients([x]) { $0[0].maskedFill(mask, 5) }
        let cond = BoolMask(shape: [2, 3], values: [true, false, false, true, true, false])
        checkGradients([x, y]) { Tensor.where(cond, $0[0], $0[1]) }
        XCTAssertEqual(Tensor(shape: [1, 3], data: [1, 2, 3]).maskedFill(mask, 0).data, [0, 2, 0])
    }

    /// Masks broadcast over a middle axis (attention's heads) and along the last axis, on tensors
    /// large enough to be filled in parallel: values and gradients against an index-by-index reference.
    func testMaskedFillAndWhereBroadcastOnLargeTensors() {
        var rng = SeededRNG(seed: 12)
        for (maskShape, shape) in [([2, 1, 5, 7001], [2, 4, 5, 7001]), ([2, 3, 1], [2, 3, 70001])] {
            let mask = BoolMask(shape: maskShape, values: (0..<elementCount(maskShape)).map { _ in rng.nextUniform() < 0.3 })
            let x = Tensor(shape: shape, data: (0..<elementCount(shape)).map { _ in rng.nextUniform() }, requiresGrad: true)
            let y = Tensor(shape: shape, data: (0..<elementCount(shape)).map { _ in rng.nextUniform() }, requiresGrad: true)
            // Reference: the mask value of every output element, through the broadcast strides.
            var strides = [Int](repeating: 0, count: shape.count), stride = 1
            for axis in (0..<shape.count).reversed() {
                strides[axis] = maskShape[axis] == 1 ? 0 : stride
                stride *= maskShape[axis]
            }
            let blocked = (0..<x.count).map { flat -> Bool in
                var rest = flat, offset = 0
                for axis in (0..<shape.count).reversed() { offset += rest % shape[axis] * strides[axis]; rest /= shape[axis] }
                return mask.values[offset]
            }
            let filled = x.maskedFill(mask, -.infinity)
            XCTAssertEqual(filled.data, zip(blocked, x.data).map { $0 ? -.infinity : $1 }, "\(maskShape)")
            let g = (0..<x.count).map { Float($0 % 13) - 6 }
            (filled * Tensor(shape: shape, data: g)).sum().backward()
            XCTAssertEqual(x.grad!, zip(blocked, g).map { $0 ? 0 : $1 })
            x.grad = nil
            let chosen = Tensor.where(mask, x, y)
            XCTAssertEqual(chosen.data, (0..<x.count).map { blocked[$0] ? x.data[$0] : y.data[$0] })
            (chosen * Tensor(shape: shape, data: g)).sum().backward()
            XCTAssertEqual(x.grad!, zip(blocked, g).map { $0 ? $1 : 0 })
            XCTAssertEqual(y.grad!, zip(blocked, g).map { $0 ? 0 : $1 })
        }
    }
}
