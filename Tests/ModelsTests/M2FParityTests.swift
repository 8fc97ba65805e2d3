import Foundation
import XCTest
import Autograd
import HDF5
import Losses
import Matching
import TestSupport
@testable import Models
import Core
import Datasets
import Targets
import Trainer

/// m2f-tiny against the PyTorch reference on the same weights and batch
/// (`Fixtures/parity`: the reference files that `docs/m2f-tiny.md` describes).
final class M2FParityTests: XCTestCase {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func loadModel() throws -> M2FModel {
        var rng = SeededRNG(seed: 0)
        let model = M2FModel(rng: &rng)
        try model.loadWeights(from: dir.appendingPathComponent("parity/m2f_tiny_init.h5").path)
        return model
    }

    static func batch() throws -> (images: Tensor, embeddings: Tensor) {
        let f = try HDF5File(dir.appendingPathComponent("parity/m2f_tiny_batch.h5").path)
        let images = try f.readBytes("images_u8")
        let emb = try f.readFloats("class_embeddings")
        return (Tensor(shape: images.shape, data: images.values.map { Float($0) }), Tensor(shape: emb.shape, data: emb.values))
    }

    /// The reference's attention masks, used as given: one resized logit sits within 7e-6 of
    /// the threshold.
    static func attentionMasks(_ ref: HDF5File) throws -> [BoolMask] {
        try (0..<6).map { i -> BoolMask in
            let m = try ref.readBytes("attn_masks/\(i)")
            return BoolMask(shape: m.shape, values: m.values.map { $0 != 0 })
        }
    }

    func testParameterNamesShapesAndCount() throws {
        var rng = SeededRNG(seed: 0)
        let model = M2FModel(rng: &rng)
        let listed = try String(contentsOf: Self.dir.appendingPathComponent("m2f-tiny-params.txt"), encoding: .utf8)
            .split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
            .map { line -> (String, [Int]) in
                let parts = line.split(separator: "\t")
                let shape = parts[1].dropFirst().dropLast().split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces))! }
                return (String(parts[0]), shape)
            }
        let ours = model.namedParameters().map { ($0.name, $0.tensor.shape) }
        XCTAssertEqual(Set(ours.map(\.0)), Set(listed.map(\.0)))
        let shapes = Dictionary(uniqueKeysWithValues: listed)
        for (name, shape) in ours { XCTAssertEqual(shape, shapes[name], name) }
        XCTAssertEqual(model.parameterCount, 7_272_640)
        XCTAssertEqual(ours.count, 262)
    }

    /// [sum, abs sum, L2, min, max] and the first 1024 values of an intermediate.
    func compare(_ t: Tensor, _ name: String, _ ref: HDF5File, atol: Float = 1e-4, file: StaticString = #filePath, line: UInt = #line) throws {
        let stats = try ref.readDoubles("intermediates/\(name)/stats").values
        let head = try ref.readFloats("intermediates/\(name)/head").values
        var sum = 0.0, abs = 0.0, l2 = 0.0
        for v in t.data { sum += Double(v); abs += Swift.abs(Double(v)); l2 += Double(v) * Double(v) }
        XCTAssertEqual(abs, stats[1], accuracy: 1e-4 * Swift.max(1, stats[1]), "\(name) abs sum", file: file, line: line)
        XCTAssertEqual(l2.squareRoot(), stats[2], accuracy: 1e-4 * Swift.max(1, stats[2]), "\(name) L2", file: file, line: line)
        XCTAssertEqual(Double(t.data.min()!), stats[3], accuracy: Double(atol) * 10, "\(name) min", file: file, line: line)
        XCTAssertEqual(Double(t.data.max()!), stats[4], accuracy: Double(atol) * 10, "\(name) max", file: file, line: line)
        assertClose(Array(t.data.prefix(head.count)), head, atol: atol, rtol: 0, name, file: file, line: line)
        _ = sum
    }

    func testBackboneAndPixelDecoderMatchPyTorch() throws {
        let model = try Self.loadModel()
        let (images, _) = try Self.batch()
        let ref = try HDF5File(Self.dir.appendingPathComponent("parity/m2f_tiny_ref.h5").path)
        try withoutGrad {
            let features = model.backbone(model.normalize(images))
            for (i, name) in ["res2", "res3", "res4", "res5"].enumerated() { try compare(features[i], name, ref) }
            let pixel = model.pixelDecoder(features)
            try compare(pixel.maskFeatures, "mask_features", ref)
            for (i, name) in ["enc_s32", "enc_s16", "enc_s8"].enumerated() { try compare(pixel.multiScale[i], name, ref) }
        }
    }

    func testPredictionsMatchPyTorch() throws {
        let model = try Self.loadModel()
        let (images, embeddings) = try Self.batch()
        let ref = try HDF5File(Self.dir.appendingPathComponent("parity/m2f_tiny_ref.h5").path)
        let masks = try Self.attentionMasks(ref)
        let predictions = withoutGrad { model(images, classEmbeddings: embeddings, attentionMasks: masks) }
        XCTAssertEqual(predictions.count, 7)
        for (i, p) in predictions.enumerated() {
            let logits = try ref.readFloats("pred_logits/\(i)"), maskRef = try ref.readFloats("pred_masks/\(i)")
            XCTAssertEqual(p.logits.shape, logits.shape)
            XCTAssertEqual(p.masks.shape, maskRef.shape)
            assertClose(p.logits.data, logits.values, atol: 1e-4, rtol: 0, "pred_logits/\(i)")
            assertClose(p.masks.data, maskRef.values, atol: 1e-4, rtol: 0, "pred_masks/\(i)")
        }
    }

    /// `model.precision: bfloat16` reaches the GEMMs of the backbone, pixel decoder and decoder
    /// layers but not the prediction heads: the first prediction set's class logits (heads on
    /// the learnable queries alone) equal the float32 model's bit for bit; every mask and the
    /// later sets' logits move off the PyTorch float32 reference, but only by bfloat16's rounding.
    /// Inference's last prediction (attention masks from the mask features resized to each level,
    /// no full-resolution intermediate masks) against the last of all seven: equal up to rounding.
    func testFinalPredictionEqualsTheLastOfAllPredictions() throws {
        let model = try Self.loadModel()
        let (images, embeddings) = try Self.batch()
        let all = withoutGrad { model(images, classEmbeddings: embeddings) }.last!
        let final = withoutGrad { model.finalPrediction(images, classEmbeddings: embeddings) }
        XCTAssertEqual(final.masks.shape, all.masks.shape)
        XCTAssertEqual(final.logits.shape, all.logits.shape)
        for (name, a, b) in [("masks", final.masks.data, all.masks.data), ("logits", final.logits.data, all.logits.data)] {
            let scale = b.map { abs($0) }.max()!
            var worst: Float = 0
            for (x, y) in zip(a, b) { worst = max(worst, abs(x - y)) }
            XCTAssertLessThan(worst, 1e-4 * scale, name)
        }
    }

    func testBFloat16PredictionsStayNearTheReference() throws {
        guard GEMMPrecision.bfloat16Available else { throw XCTSkip("this CPU has no AVX512-BF16") }
        var config = M2FConfig()
        config.precision = .bfloat16
        var rng = SeededRNG(seed: 0)
        let model = M2FModel(config, rng: &rng)
        try model.loadWeights(from: Self.dir.appendingPathComponent("parity/m2f_tiny_init.h5").path)
        let float32 = try Self.loadModel()
        let (images, embeddings) = try Self.batch()
        let ref = try HDF5File(Self.dir.appendingPathComponent("parity/m2f_tiny_ref.h5").path)
        let masks = try Self.attentionMasks(ref)
        let predictions = withoutGrad { model(images, classEmbeddings: embeddings, attentionMasks: masks) }
        let exact = withoutGrad { float32(images, classEmbeddings: embeddings, attentionMasks: masks) }
        XCTAssertEqual(predictions[0].logits.data, exact[0].logits.data, "the heads on the learnable queries are float32")
        for (i, p) in predictions.enumerated() {
            for (name, ours) in [("pred_logits", p.logits.data), ("pred_masks", p.masks.data)] where i > 0 || name == "pred_masks" {
                let reference = try ref.readFloats("\(name)/\(i)").values
                let scale = reference.map(abs).max()!
                let worst = zip(ours, reference).map { abs($0 - $1) }.max()!
                XCTAssertGreaterThan(worst, 1e-4 * scale, "\(name)/\(i): bfloat16 left no trace")
                XCTAssertLessThan(worst, 0.05 * scale, "\(name)/\(i): off by \(worst) of \(scale)")
            }
        }
    }

    func testDenseLossesAssignmentsAndGradientNormsMatchPyTorch() throws {
        let model = try Self.loadModel()
        let (images, embeddings) = try Self.batch()
        let batchFile = try HDF5File(Self.dir.appendingPathComponent("parity/m2f_tiny_batch.h5").path)
        let ref = try HDF5File(Self.dir.appendingPathComponent("parity/m2f_tiny_ref.h5").path)
        let dense = try batchFile.readFloats("dense_target_masks"), classes = try batchFile.readInt64s("target_classes")
        let (b, t, h, w) = (dense.shape[0], dense.shape[1], dense.shape[2], dense.shape[3])
        let targets = BatchTargets(supervision: .masks, images: (0..<b).map { i in
            ImageTargets(classes: (0..<t).map { Int(classes.values[i * t + $0]) },
                         masks: Tensor(shape: [t, h, w], data: Array(dense.values[(i * t * h * w)..<((i + 1) * t * h * w)])))
        })
        let masks = try Self.attentionMasks(ref)
        // The training step itself (the one training, `bench step` and `train forward` run), on
        // one dataset whose classes are the batch's embeddings.
        var config = LossConfig()
        config.densePoints = true
        let k = embeddings.shape[0]
        let space = UnifiedLabelSpace(datasets: [("parity", (0..<k).map { "c\($0)" }, Array(repeating: true, count: k), embeddings.data)],
                                      dim: embeddings.shape[1])
        let step = TrainStep(model: model, labelSpace: space, loss: config, solver: SolverConfig(), seed: 0)
        let output = try step.forwardAndLosses(TrainingBatch(iteration: 0, dataset: 0, indices: Array(0..<b), images: images, targets: targets),
                                               attentionMasks: masks)
        XCTAssertEqual(output.perSet.count, 7)
        for (i, set) in output.perSet.enumerated() {
            let assignment = set.assignments
            let pairs = try ref.readInt64s("assign/\(i)").values.map(Int.init)
            for image in 0..<b {
                let expected = (0..<t).map { (pairs[(image * t + $0) * 2], pairs[(image * t + $0) * 2 + 1]) }
                XCTAssertEqual(assignment[image].rows, expected.map(\.0), "assign/\(i) image \(image) queries")
                XCTAssertEqual(assignment[image].cols, expected.map(\.1), "assign/\(i) image \(image) targets")
            }
            let losses = Dictionary(uniqueKeysWithValues: set.losses.map { ($0.name, $0.value) })
            XCTAssertEqual(Set(losses.keys), ["loss_ce", "loss_mask", "loss_dice"])
            for (name, key, weight) in [("ce", "loss_ce", Float(2)), ("mask_bce", "loss_mask", 5), ("dice", "loss_dice", 5)] {
                let expected = try ref.readDoubles("loss/\(name)/\(i)").values[0]
                XCTAssertEqual(Double(losses[key]!.item / weight), expected, accuracy: 1e-5 * abs(expected), "loss/\(name)/\(i)")
            }
        }
        let total: Tensor? = output.total
        let expectedTotal = try ref.readDoubles("loss/total").values[0]
        XCTAssertEqual(Double(total!.item), expectedTotal, accuracy: 1e-5 * expectedTotal, "loss/total")
        total!.backward()
        var checked = 0
        for (name, p) in model.namedParameters() where !name.hasSuffix("k_proj.bias") {
            let expected = try ref.readDoubles("grad_norm/\(name)").values[0]
            let g = try XCTUnwrap(p.grad, "\(name) has no gradient")
            let norm = g.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            XCTAssertEqual(norm, expected, accuracy: 1e-3 * expected, "grad_norm/\(name)")
            checked += 1
        }
        XCTAssertEqual(checked, 262 - 12)
    }
}

final class ParameterGroupTests: XCTestCase {
    func testGroupsMatchTheReferenceList() throws {
        var rng = SeededRNG(seed: 0)
        let model = M2FModel(rng: &rng)
        let groups = model.referenceParameterGroups()
        var byTensor: [ObjectIdentifier: (Float, Float)] = [:]
        for g in groups { for p in g.parameters { byTensor[ObjectIdentifier(p)] = (g.lrMultiplier * 1e-4, g.weightDecay) } }
        let listed = try String(contentsOf: M2FParityTests.dir.appendingPathComponent("m2f-tiny-params.txt"), encoding: .utf8)
            .split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
        var expected: [String: (Float, Float)] = [:]
        for line in listed {
            let parts = line.split(separator: "\t")
            expected[String(parts[0])] = (Float(parts[3])!, Float(parts[4])!)
        }
        for (name, tensor) in model.namedParameters() {
            let (lr, wd) = byTensor[ObjectIdentifier(tensor)]!
            XCTAssertEqual(lr, expected[name]!.0, accuracy: 1e-12, "\(name) lr")
            XCTAssertEqual(wd, expected[name]!.1, "\(name) weight decay")
        }
    }
}

final class ReferenceInitTests: XCTestCase {
    func testReferenceInitialization() {
        var rng = SeededRNG(seed: 0)
        let model = M2FModel(rng: &rng)
        model.applyReferenceInitialization(rng: &rng)
        let a = model.pixelDecoder.encoder.layers[0].selfAttn
        XCTAssertTrue(a.samplingOffsets.weight.data.allSatisfy { $0 == 0 })
        XCTAssertTrue(a.attentionWeights.weight.data.allSatisfy { $0 == 0 })
        // Head 0 points along +x: (1, 0), (2, 0), ... for its points on every level.
        XCTAssertEqual(Array(a.samplingOffsets.bias!.data.prefix(8)), [1, 0, 2, 0, 3, 0, 4, 0])
        // Head 1 points along +y (cos 90° rounds to ~0, divided by max |·| = 1).
        let head1 = Array(a.samplingOffsets.bias!.data[24..<26])
        XCTAssertEqual(head1[0], 0, accuracy: 1e-6)
        XCTAssertEqual(head1[1], 1)
        XCTAssertTrue(model.pixelDecoder.inputProj[0].conv.bias!.data.allSatisfy { $0 == 0 })
        // Backbone convs: kaiming-normal, fan_out: std sqrt(2 / (Cout·9)) for res2.conv1 (64·9).
        let w = model.backbone.stages[0].conv1.weight.data
        let std = (w.map { $0 * $0 }.reduce(0, +) / Float(w.count)).squareRoot()
        XCTAssertEqual(std, (2 / Float(64 * 9)).squareRoot(), accuracy: 0.005)
        XCTAssertEqual(model.parameterCount, 7_272_640)
    }
}
