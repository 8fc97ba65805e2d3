import XCTest
import Autograd
import TestSupport
@testable import Losses
@testable import Matching
import Core
import Targets

/// Two images of 12x12 with 2 and 1 square targets; predictions at 6x6 (stride 2 here).
func squaresBatch() -> BatchTargets {
    func square(_ x0: Int, _ y0: Int, _ s: Int) -> [Float] {
        (0..<144).map { i in (i / 12 >= y0 && i / 12 < y0 + s && i % 12 >= x0 && i % 12 < x0 + s) ? 1 : 0 }
    }
    return BatchTargets(supervision: .masks, images: [
        ImageTargets(classes: [1, 2], masks: Tensor(shape: [2, 12, 12], data: square(0, 0, 6) + square(6, 4, 6))),
        ImageTargets(classes: [0], masks: Tensor(shape: [1, 12, 12], data: square(2, 2, 8))),
    ])
}

/// A unified label space of 3 + 2 classes with the rows of `embeddings` `[5, D]`; the batch's
/// dataset is the first (offset 0).
func twoDatasets(_ embeddings: Tensor) -> UnifiedLabelSpace {
    let d = embeddings.shape[1], e = embeddings.data
    return UnifiedLabelSpace(datasets: [("a", ["a0", "a1", "a2"], [true, true, true], Array(e[0..<(3 * d)])),
                                        ("b", ["b0", "b1"], [true, true], Array(e[(3 * d)...]))], dim: d)
}

final class SetCriterionTests: XCTestCase {
    func batch(_ rng: inout SeededRNG) -> BatchTargets { squaresBatch() }

    func config() -> LossConfig {
        var c = LossConfig()
        c.points = 64
        c.scaleDetHardWeight = 1
        c.scaleDetSoftWeight = 1
        return c
    }

    func testLossNamesAndValues() throws {
        var rng = SeededRNG(seed: 1)
        let targets = batch(&rng)
        let set = PredictionSet(logits: param([2, 4, 4], 1), masks: param([2, 4, 6, 6], 2),
                                unifiedCosines: param([2, 4, 5], 3, low: -1, high: 1))
        let emb = Tensor.randn([5, 8], rng: &rng)
        let criterion = SetCriterion(config: config(), labelSpace: twoDatasets(emb))
        let losses = try criterion.losses(set, targets, numMasks: targets.targetCount, rng: &rng)
        XCTAssertEqual(losses.map(\.name), ["loss_ce", "loss_mask", "loss_dice", "loss_scaledet_hard", "loss_scaledet_soft"])
        XCTAssertTrue(losses.allSatisfy { $0.value.item.isFinite && $0.value.item > 0 })
        XCTAssertEqual(targets.targetCount, 3)
    }

    func testGradientThroughTheWholeCriterion() throws {
        let logits = param([2, 4, 4], 4), masks = param([2, 4, 6, 6], 5), cos = param([2, 4, 5], 6, low: -1, high: 1)
        var rng0 = SeededRNG(seed: 2)
        let targets = batch(&rng0)
        let emb = Tensor.randn([5, 8], rng: &rng0)
        var c = config()
        // Importance sampling picks points by the logits themselves (a discontinuous choice):
        // uniform points here; the selection is tested on its own.
        c.importanceSampleRatio = 0
        let criterion = SetCriterion(config: c, labelSpace: twoDatasets(emb))
        // Matching and point drawing use random numbers: the same seed on every evaluation
        // keeps them fixed, so finite differences see a smooth function.
        checkGradients([logits, masks, cos], atol: 5e-3, rtol: 5e-2) { t in
            var rng = SeededRNG(seed: 3)
            let losses = try! criterion.losses(PredictionSet(logits: t[0], masks: t[1], unifiedCosines: t[2]),
                                               targets, numMasks: 3, rng: &rng)
            return losses.dropFirst().reduce(losses[0].value) { $0 + $1.value }
        }
    }

    func testGoodPredictionsCostLessThanRandomOnes() throws {
        var rng = SeededRNG(seed: 7)
        let targets = batch(&rng)
        var c = LossConfig()
        c.points = 256
        // Uniform points: importance sampling would put most of them on the (blurred) edges.
        c.importanceSampleRatio = 0
        let criterion = SetCriterion(config: c)
        // Good: query 0 and 1 of image 0 predict the two squares with their classes, query 0 of
        // image 1 the big square; every other query predicts no-object.
        var goodLogits = [Float](repeating: 0, count: 2 * 4 * 4)
        for b in 0..<2 { for q in 0..<4 { goodLogits[(b * 4 + q) * 4 + 3] = 8 } }
        goodLogits[(0 * 4 + 0) * 4 + 1] = 16; goodLogits[(0 * 4 + 1) * 4 + 2] = 16; goodLogits[(1 * 4 + 0) * 4 + 0] = 16
        var goodMasks = [Float](repeating: -8, count: 2 * 4 * 36)
        let t0 = targets.images[0].masks!.resizeBilinear2D(to: 6), t1 = targets.images[1].masks!.resizeBilinear2D(to: 6)
        for e in 0..<36 {
            goodMasks[0 * 36 + e] = t0[e] > 0.5 ? 8 : -8
            goodMasks[1 * 36 + e] = t0[36 + e] > 0.5 ? 8 : -8
            goodMasks[4 * 36 + e] = t1[e] > 0.5 ? 8 : -8
        }
        let good = PredictionSet(logits: Tensor(shape: [2, 4, 4], data: goodLogits), masks: Tensor(shape: [2, 4, 6, 6], data: goodMasks))
        let random = PredictionSet(logits: param([2, 4, 4], 8), masks: param([2, 4, 6, 6], 9))
        func total(_ s: PredictionSet) throws -> Float {
            var r = SeededRNG(seed: 1)
            return try criterion.losses(s, targets, numMasks: 3, rng: &r).reduce(0) { $0 + $1.value.item }
        }
        XCTAssertLessThan(try total(good), 0.25 * (try total(random)))
        var r = SeededRNG(seed: 1)
        let assignment = try criterion.match(good, targets, rng: &r)
        XCTAssertEqual(assignment[0].rows, [0, 1])
        XCTAssertEqual(assignment[0].cols, [0, 1])
        XCTAssertEqual(assignment[1].rows, [0])
    }

    func testBoxAndImageLabelSupervision() throws {
        var rng = SeededRNG(seed: 8)
        let boxes = BatchTargets(supervision: .boxes, images: [
            ImageTargets(classes: [0, 2], boxes: [(0, 0, 3, 3), (2, 1, 6, 5)]),
            ImageTargets(classes: [1], boxes: [(1, 1, 4, 6)]),
        ])
        var c = LossConfig()
        c.points = 32
        let criterion = SetCriterion(config: c)
        let set = PredictionSet(logits: param([2, 3, 4], 10), masks: param([2, 3, 6, 6], 11))
        let losses = try criterion.losses(set, boxes, numMasks: boxes.targetCount, rng: &rng)
        XCTAssertEqual(losses.map(\.name), ["loss_ce", "loss_box_proj"])
        let labels = BatchTargets(supervision: .imageLabels, imageLabels: [[0, 2], [1]])
        let imageLosses = try criterion.losses(set, labels, numMasks: 1, rng: &rng)
        XCTAssertEqual(imageLosses.map(\.name), ["loss_image_label"])
        imageLosses[0].value.backward()
        XCTAssertNotNil(set.logits.grad)
        XCTAssertNil(set.masks.grad, "the image-label loss trains the class logits only")
    }

    func testDivergedPredictionsStopWithAClearMessage() {
        var rng = SeededRNG(seed: 9)
        let targets = batch(&rng)
        var logits = [Float](repeating: 0, count: 2 * 4 * 4)
        logits[5] = .nan
        let set = PredictionSet(logits: Tensor(shape: [2, 4, 4], data: logits), masks: param([2, 4, 6, 6], 12))
        XCTAssertThrowsError(try SetCriterion(config: config()).losses(set, targets, numMasks: 3, rng: &rng)) {
            XCTAssertTrue("\($0)".contains("diverged"), "\($0)")
        }
    }
    /// The loss's target samples, read from the crops, equal sampling the whole masks, at points
    /// anywhere (outside the map too).
    func testTargetSamplesFromCropsEqualWholeMasks() throws {
        var rng = SeededRNG(seed: 17)
        let size = 40
        func masks(_ t: Int) -> Tensor {
            var m = [Float](repeating: 0, count: t * size * size)
            for j in 0..<t {
                let (y0, x0) = (rng.nextInt(below: size), rng.nextInt(below: size))
                let (y1, x1) = (min(size, y0 + 1 + rng.nextInt(below: 20)), min(size, x0 + 1 + rng.nextInt(below: 20)))
                for y in y0..<y1 { for x in x0..<x1 { m[(j * size + y) * size + x] = j % 2 == 0 ? 1 : rng.nextUniform() } }
            }
            return Tensor(shape: [t, size, size], data: m)
        }
        let images = [ImageTargets(classes: [0, 1, 2, 3], masks: masks(4)), ImageTargets(classes: [1], masks: Tensor.zeros([1, size, size])),
                      ImageTargets(classes: [2, 0], masks: masks(2))]
        let targets = BatchTargets(supervision: .masks, images: images)
        let assignments = [Assignment(rows: [0, 3, 5], cols: [2, 0, 3], totalCost: 0), Assignment(rows: [1], cols: [0], totalCost: 0),
                           Assignment(rows: [2, 4], cols: [1, 0], totalCost: 0)]
        let count = 900
        let coords = (0..<(6 * count * 2)).map { _ in rng.nextUniform() * 1.2 - 0.1 }
        let got = try SetCriterion(config: LossConfig()).sampleTargets(assignments, targets, at: coords, count: count)
        var expected: [Float] = [], offset = 0
        for (i, a) in assignments.enumerated() {
            let n = a.cols.count * count * 2
            expected += Tensor.sampledValues(images[i].masks!, points: Array(coords[offset..<(offset + n)]), count: count, rows: a.cols)
            offset += n
        }
        XCTAssertEqual(got.shape, [6, count])
        XCTAssertEqual(got.data, expected)
        XCTAssertGreaterThan(expected.filter { $0 != 0 }.count, 200)
    }
}

extension Tensor {
    /// `[T, H, W]` masks resized bilinearly to `size` x `size` (test helper).
    func resizeBilinear2D(to size: Int) -> [Float] {
        reshape([1, shape[0], shape[1], shape[2]]).resizeBilinear(to: (size, size)).data
    }

}
