import Foundation
import XCTest
import Autograd
import TestSupport
@testable import Losses
@testable import Matching
import Core
import Targets

/// Parameters here span ±2 unless asked (the losses' interesting range).
func param(_ shape: [Int], _ seed: UInt64, low: Float = -2, high: Float = 2) -> Tensor {
    TestSupport.param(shape, seed, low: low, high: high)
}

final class LossesTests: XCTestCase {
    struct A: Decodable {
        let shape: [Int]
        let data: [Float]
        var tensor: Tensor { Tensor(shape: shape, data: data, requiresGrad: true) }
        var constant: Tensor { Tensor(shape: shape, data: data) }
    }

    struct Fixture: Decodable {
        struct MaskCase: Decodable {
            let logits: A, targets: A, num_masks: Float
            let bce: Float, bce_grad: A, dice: Float, dice_grad: A, focal: Float, focal_grad: A
        }
        struct CECase: Decodable { let logits: A; let targets: [Int]; let value: Float; let grad: A }
        struct ScaleDetCase: Decodable {
            let embeddings: A, similarity: A, cosines: A, targets: [Int], temperature: Float
            let hard: Float, hard_grad: A, soft: Float, soft_grad: A
        }
        struct ImageLabelCase: Decodable { let class_logits: A, mask_logits: A, labels: [[Int]], value: Float, grad: A }
        struct BoxCase: Decodable { let mask_logits: A, boxes: [[Float]], value: Float, grad: A }
        struct CostCase: Decodable {
            let logits: A, pred_masks: A, target_masks: A, target_classes: [Int], points: A, cost: A
        }
        let mask_losses: MaskCase
        let cross_entropy: CECase
        let scaledet: ScaleDetCase
        let image_label: ImageLabelCase
        let box_projection: BoxCase
        let matcher_cost: CostCase
    }

    static let fixture: Fixture = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/torch_losses.json")
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }()

    /// `loss` of the fixture inputs, compared with PyTorch's value and gradient.
    func compare(_ x: Tensor, _ loss: Tensor, value: Float, grad: A, _ what: String) {
        XCTAssertEqual(loss.item, value, accuracy: 1e-5 + 1e-5 * abs(value), what)
        x.zeroGrad()
        loss.backward()
        assertClose(x.grad ?? [], grad.data, atol: 1e-6, rtol: 1e-4, "\(what) gradient")
    }

    func testMaskLossesMatchPyTorch() {
        let f = Self.fixture.mask_losses
        let x = f.logits.tensor, t = f.targets.constant
        compare(x, MaskLosses.sigmoidBCE(x, t, numMasks: f.num_masks), value: f.bce, grad: f.bce_grad, "bce")
        compare(x, MaskLosses.dice(x, t, numMasks: f.num_masks), value: f.dice, grad: f.dice_grad, "dice")
        compare(x, MaskLosses.sigmoidFocal(x, t, numMasks: f.num_masks), value: f.focal, grad: f.focal_grad, "focal")
    }

    func testClassificationMatchesPyTorch() {
        let f = Self.fixture.cross_entropy
        let x = f.logits.tensor
        compare(x, ClassificationLoss.crossEntropy(x, targets: f.targets, noObjectWeight: 0.1), value: f.value, grad: f.grad, "ce")
    }

    func testScaleDetMatchesPyTorch() {
        let f = Self.fixture.scaledet
        let s = UnifiedLabelSpace.cosineSimilarities(f.embeddings.constant)
        assertClose(s, f.similarity.data, atol: 1e-6, "label similarity")
        let c = f.cosines.tensor
        compare(c, LabelSpaceLosses.hard(c / f.temperature, targets: f.targets), value: f.hard, grad: f.hard_grad, "hard")
        compare(c, LabelSpaceLosses.soft(c, targets: f.targets, similarity: s), value: f.soft, grad: f.soft_grad, "soft")
    }

    func testImageLabelLossMatchesPyTorch() {
        let f = Self.fixture.image_label
        let x = f.class_logits.tensor
        compare(x, ImageLabelLoss.loss(classLogits: x, maskLogits: f.mask_logits.constant, labels: f.labels),
                value: f.value, grad: f.grad, "image label")
    }

    func testBoxProjectionMatchesPyTorch() {
        let f = Self.fixture.box_projection
        let x = f.mask_logits.tensor
        let boxes = f.boxes.map { ($0[0], $0[1], $0[2], $0[3]) }
        compare(x, BoxProjectionLoss.loss(x, boxes: boxes), value: f.value, grad: f.grad, "box projection")
    }

    func testMatcherCostMatchesPyTorch() {
        let f = Self.fixture.matcher_cost
        let matcher = HungarianMatcher()
        let (pred, target) = (f.pred_masks.constant, f.target_masks.constant)
        var cost = pred.data.withUnsafeBufferPointer {
            matcher.pointMaskCost($0.baseAddress!, queries: pred.shape[0], height: pred.shape[1], width: pred.shape[2],
                                  targets: MaskCrop.of(target), targetHeight: target.shape[1], targetWidth: target.shape[2],
                                  points: f.points.data)
        }
        let probs = f.logits.constant.softmax(axis: 1).data
        let (q, t, k1) = (f.logits.shape[0], f.target_classes.count, f.logits.shape[1])
        for i in 0..<q { for j in 0..<t { cost[i * t + j] -= 2 * Double(probs[i * k1 + f.target_classes[j]]) } }
        assertClose(cost.map { Float($0) }, f.cost.data, atol: 1e-5, "matcher cost")
    }

    func testHandValues() {
        // BCE at logit 0 is log 2 whatever the target; dice of a perfect, confident mask is ~0.
        let zero = Tensor.zeros([2, 4])
        let half = Tensor(shape: [2, 4], data: [1, 0, 1, 0, 0, 0, 1, 1])
        XCTAssertEqual(MaskLosses.sigmoidBCE(zero, half, numMasks: 2).item, logf(2), accuracy: 1e-6)
        let confident = Tensor(shape: [2, 4], data: half.data.map { $0 == 1 ? 30 : -30 })
        XCTAssertEqual(MaskLosses.dice(confident, half, numMasks: 2).item, 0, accuracy: 1e-5)
        // Cross-entropy with uniform logits over K+1 = 4: log 4 for every weighting.
        XCTAssertEqual(ClassificationLoss.crossEntropy(Tensor.zeros([3, 4]), targets: [0, 3, 3]).item, logf(4), accuracy: 1e-6)
        // A mask that is exactly the box (logits ±30): projection loss ~0.
        var logits = [Float](repeating: -30, count: 6 * 6)
        for y in 1..<4 { for x in 2..<5 { logits[y * 6 + x] = 30 } }
        XCTAssertEqual(BoxProjectionLoss.loss(Tensor(shape: [1, 6, 6], data: logits), boxes: [(2, 1, 5, 4)]).item, 0, accuracy: 1e-4)
    }

    func testGradientsOfEveryLoss() {
        let x = param([3, 10], 1), t = Tensor(shape: [3, 10], data: (0..<30).map { Float($0 % 3) / 2 })
        checkGradients([x]) { MaskLosses.sigmoidBCE($0[0], t, numMasks: 2) }
        checkGradients([x]) { MaskLosses.dice($0[0], t, numMasks: 2) }
        checkGradients([x]) { MaskLosses.sigmoidFocal($0[0], t, numMasks: 2) }
        let logits = param([5, 4], 2)
        checkGradients([logits]) { ClassificationLoss.crossEntropy($0[0], targets: [0, 3, 1, 3, 2]) }
        let cos = param([3, 5], 3, low: -1, high: 1)
        let emb = Tensor.randn([5, 4], rng: &rngForTests)
        let s = UnifiedLabelSpace.cosineSimilarities(emb)
        checkGradients([cos]) { LabelSpaceLosses.hard($0[0] / 0.07, targets: [1, 0, 4]) }
        checkGradients([cos]) { LabelSpaceLosses.soft($0[0], targets: [1, 0, 4], similarity: s) }
        let cls = param([2, 3, 4], 4)
        let masks = Tensor.randn([2, 3, 5, 5], rng: &rngForTests)
        checkGradients([cls]) { ImageLabelLoss.loss(classLogits: $0[0], maskLogits: masks, labels: [[0, 2], [3]]) }
        checkGradients([cls]) { ImageLabelLoss.loss(classLogits: $0[0], maskLogits: masks, labels: [[1], []], rule: .maxScore) }
        // Distinct values so each row/column maximum is unique under perturbation.
        let ml = Tensor(shape: [2, 4, 5], data: (0..<40).map { Float(($0 * 17) % 40) * 0.1 - 2 }, requiresGrad: true)
        checkGradients([ml]) { BoxProjectionLoss.loss($0[0], boxes: [(1, 0, 3.5, 2), (0, 1, 5, 4)]) }
    }

    func testImportanceSamplingKeepsTheMostUncertainPoints() {
        var rng = SeededRNG(seed: 5)
        let logits = Tensor.randn([2, 16, 16], std: 4, rng: &rng)
        let count = 40
        let coords = PointSampling.importance(logits: logits, count: count, rng: &rng)
        XCTAssertEqual(coords.count, 2 * count * 2)
        XCTAssertTrue(coords.allSatisfy { $0 >= 0 && $0 < 1 })
        // The kept 30 points are more uncertain than the median candidate; compare to uniform.
        let values = PointSampling.sample(logits, at: coords, count: count).data
        let kept = (0..<2).flatMap { m in (0..<30).map { abs(values[m * count + $0]) } }
        let uniform = PointSampling.sample(logits, at: PointSampling.uniform(masks: 2, count: count, rng: &rng), count: count).data.map { abs($0) }
        XCTAssertLessThan(kept.reduce(0, +) / Float(kept.count), 0.5 * uniform.reduce(0, +) / Float(uniform.count))
    }

    func testImportanceSamplingKeepsExactlyTheMostUncertainCandidates() {
        // Rebuild the candidates from the documented per-mask generators and check that the kept
        // points are the `kept` most uncertain of them, in candidate order.
        var rng = SeededRNG(seed: 9)
        let logits = Tensor.randn([3, 8, 12], std: 3, rng: &rng)
        let count = 20, oversample = 3, kept = 15
        var copy = rng
        let coords = PointSampling.importance(logits: logits, count: count, oversample: oversample, importance: 0.75, rng: &rng)
        for mask in 0..<3 {
            var g = SeededRNG(seed: copy.next())
            let candidates = (0..<(2 * count * oversample)).map { _ in g.nextUniform() }
            let values = Tensor.sampledValues(logits.slice(axis: 0, mask..<(mask + 1)), points: candidates, count: count * oversample)
            let order = (0..<(count * oversample)).sorted { -abs(values[$0]) > -abs(values[$1]) }
            let expected = order.prefix(kept).sorted().flatMap { [candidates[2 * $0], candidates[2 * $0 + 1]] }
            XCTAssertEqual(Array(coords[(mask * count * 2)..<(mask * count * 2 + 2 * kept)]), expected, "mask \(mask)")
            let fill = (0..<(2 * (count - kept))).map { _ in g.nextUniform() }
            XCTAssertEqual(Array(coords[(mask * count * 2 + 2 * kept)..<((mask + 1) * count * 2)]), fill, "mask \(mask)")
        }
    }

    func testKthLargestAgreesWithSorting() {
        var rng = SeededRNG(seed: 6)
        for trial in 0..<300 {
            let n = 1 + rng.nextInt(below: 60)
            // Integers (ties), signed values with both zeros, and uniform values.
            let values = (0..<n).map { _ -> Float in
                switch trial % 3 {
                case 0: return Float(rng.nextInt(below: 5))
                case 1: return [Float(-0.0), 0, -1.5, 2.25, -3e-30, 7e20][rng.nextInt(below: 6)]
                default: return rng.nextUniform() * 2 - 1
                }
            }
            assertKthLargest(values, 1 + rng.nextInt(below: n), "trial \(trial)")
        }
    }

    /// The k-th largest and the count above it, against sorting.
    func assertKthLargest(_ values: [Float], _ k: Int, _ message: String, line: UInt = #line) {
        let expected = values.sorted(by: >)[k - 1]
        let got = values.withUnsafeBufferPointer { PointSampling.kthLargestAndGreater(k, of: $0) }
        XCTAssertEqual(got.value, expected, message, line: line)
        XCTAssertEqual(got.greater, values.filter { $0 > expected }.count, message, line: line)
    }

    /// Long inputs, where the later passes read only the first pass's bin: values crowded into
    /// one bin (all of a narrow range), many ties, and NaN-free uncertainties as the sampler makes.
    func testKthLargestOnLongInputs() {
        var rng = SeededRNG(seed: 7)
        for trial in 0..<24 {
            let n = 1000 + rng.nextInt(below: 40_000)
            let values = (0..<n).map { _ -> Float in
                switch trial % 4 {
                case 0: return 1 + rng.nextUniform() * 1e-3                       // one first-pass bin
                case 1: return Float(rng.nextInt(below: 7)) - 3                   // ties
                case 2: return -abs(rng.nextNormal() * 4)                           // the sampler's −|logit|
                default: return rng.nextUniform() < 0.5 ? 0 : -rng.nextUniform()    // half zeros
                }
            }
            for k in [1, n / 4, n / 2, n] { assertKthLargest(values, k, "trial \(trial), k \(k) of \(n)") }
        }
    }

    /// OneFormer's query-text contrastive loss: its value as the formula computes it in Double,
    /// its gradient, and lower when each image's queries point at its own text.
    func testContrastiveLoss() {
        var rng = SeededRNG(seed: 9)
        let queries = Tensor.randn([5, 4], rng: &rng, requiresGrad: true)
        let texts = Tensor.randn([3, 4], rng: &rng)
        let imageOf = [0, 0, 1, 2, 2], tau: Float = 0.5
        let loss = ContrastiveLoss.loss(queries: queries, imageOf: imageOf, texts: texts, temperature: tau, divisor: 3)
        // The same in Double.
        func unit(_ v: [Double]) -> [Double] { let n = max(1e-12, v.map { $0 * $0 }.reduce(0, +).squareRoot()); return v.map { $0 / n } }
        let q = queries.data.map(Double.init), t = texts.data.map(Double.init)
        let pooled = (0..<3).map { i in unit((0..<4).map { c in (0..<5).filter { imageOf[$0] == i }.reduce(0.0) { $0 + q[$1 * 4 + c] } }) }
        let text = (0..<3).map { unit(Array(t[($0 * 4)..<($0 * 4 + 4)])) }
        let logits = (0..<3).map { i in (0..<3).map { j in zip(pooled[i], text[j]).map(*).reduce(0, +) / Double(tau) } }
        var expected = 0.0
        for i in 0..<3 {
            let row = Foundation.log((0..<3).map { Foundation.exp(logits[i][$0]) }.reduce(0, +)) - logits[i][i]
            let column = Foundation.log((0..<3).map { Foundation.exp(logits[$0][i]) }.reduce(0, +)) - logits[i][i]
            expected += (row + column) / 2
        }
        XCTAssertEqual(Double(loss.item), expected / 3, accuracy: 1e-5)
        checkGradients([queries]) { ContrastiveLoss.loss(queries: $0[0], imageOf: imageOf, texts: texts, temperature: tau, divisor: 3) }
        // Queries equal to their image's text score lower than the same queries given to other images.
        let aligned = Tensor(shape: [3, 4], data: texts.data)
        let right = ContrastiveLoss.loss(queries: aligned, imageOf: [0, 1, 2], texts: texts, temperature: tau, divisor: 3).item
        let wrong = ContrastiveLoss.loss(queries: aligned, imageOf: [1, 2, 0], texts: texts, temperature: tau, divisor: 3).item
        XCTAssertLessThan(right, wrong)
    }
}

nonisolated(unsafe) var rngForTests = SeededRNG(seed: 1000)
