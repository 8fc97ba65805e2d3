import Foundation
import XCTest
@testable import Trainer
import Autograd
import Datasets
import Evaluation
import Models
import Targets
import TestSupport
import Samplers
import Core

/// The options of the other universal-segmentation ideas (docs/results.md, README "idea ->
/// option"): each mechanism on its own, then a few iterations of training with it.
final class UniversalIdeasTests: XCTestCase {
    func scratch(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// Batches of two from every dataset alike, collated on this thread.
    func batches(_ data: TrainingData, _ config: TrainConfig, seed: UInt64 = 1, rules: TargetRules = TargetRules()) -> DataLoader {
        DataLoader(sources: data.sources, augmentations: config.data.datasets.map(\.augmentation),
                   sampler: MultiDatasetSampler(counts: data.sources.map(\.count), ratios: data.sources.map { _ in 1 }, seed: seed),
                   batchSize: 2, maskStride: M2FModel.maskStride, seed: 2, prefetch: 0, rules: rules)
    }

    // MARK: Entity segmentation: class-agnostic training

    /// The entity logits' softmax is exactly (P(some class), P(background)) of the K + 1 logits,
    /// and their gradient is right.
    func testEntityLogitsPoolTheForeground() {
        var rng = SeededRNG(seed: 4)
        let logits = Tensor.randn([2, 3, 5], rng: &rng, requiresGrad: true)
        let entity = TrainStep.entityLogits(logits)
        XCTAssertEqual(entity.shape, [2, 3, 2])
        let p = logits.softmax(axis: -1).data, e = entity.softmax(axis: -1).data
        for r in 0..<6 {
            let foreground = (0..<4).reduce(Float(0)) { $0 + p[r * 5 + $1] }
            XCTAssertEqual(e[r * 2], foreground, accuracy: 1e-6)
            XCTAssertEqual(e[r * 2 + 1], p[r * 5 + 4], accuracy: 1e-6)
        }
        checkGradients([logits]) { TrainStep.entityLogits($0[0]) }
    }

    /// `loss.class_agnostic` trains: the class loss is over entity / background (no ScaleDet
    /// terms on any batch), and evaluation reads the model by objectness.
    func testClassAgnosticTrainingTrainsAndEvaluates() throws {
        let dir = scratch("agnostic")
        var config = try tinyConfig(dir)
        config.solver.maxIter = 3
        config.loss.classAgnostic = true
        let run = try TrainingRun(config: config)
        let lines = try run.run(log: { _ in })
        XCTAssertEqual(lines.count, 3)
        for line in lines {
            XCTAssertTrue(line.totalLoss.isFinite)
            XCTAssertNil(line.losses["loss_scaledet_soft"])
        }
        let options = InferenceOptions(config)
        XCTAssertTrue(options.objectness)
        var agnostic = options
        agnostic.classAgnostic = true
        let report = try ModelEvaluation.run(model: run.model, data: run.data, options: agnostic, maxImages: 2, log: { _ in })
        XCTAssertNotNil(report["synth_panoptic"]?["panoptic_agnostic"]?["PQ"])
    }

    // MARK: UniDetector: held-out classes and calibration

    /// Calibration divides each class's probability by its prior^power and shares the query's
    /// foreground probability out again in those proportions; objectness gives it all to the
    /// most probable class.
    func testCalibrationAndObjectnessScoring() {
        let logits = Tensor(shape: [2, 4], data: [2, 1, 0, 0.5, -1, 0.3, 0.2, 1.5])
        let p = logits.softmax(axis: -1).data
        var options = InferenceOptions()
        XCTAssertEqual(scoredLogits(logits, options: options).data, logits.data)      // neither: unchanged
        options.calibration.power = 0.5
        options.classPrior = [0.4, 0.1, 0.01]
        let c = scoredLogits(logits, options: options).softmax(axis: -1).data
        for r in 0..<2 {
            let row = r * 4
            XCTAssertEqual(c[row + 3], p[row + 3], accuracy: 1e-6, "background kept")
            XCTAssertEqual(c[row] + c[row + 1] + c[row + 2], p[row] + p[row + 1] + p[row + 2], accuracy: 1e-6, "foreground kept")
            // Ratios of two classes change by the ratio of their priors^power.
            XCTAssertEqual(c[row + 2] / c[row], (p[row + 2] / p[row]) * Float((0.4 / 0.01).squareRoot()), accuracy: 1e-3)
        }
        options.calibration.power = 0
        options.objectness = true
        let o = scoredLogits(logits, options: options).softmax(axis: -1).data
        XCTAssertEqual(o[0], p[0] + p[1] + p[2], accuracy: 1e-6)
        XCTAssertEqual(o[1] + o[2], 0, accuracy: 1e-6)
        XCTAssertEqual(o[4 + 1], p[4] + p[5] + p[6], accuracy: 1e-6)       // row 2's best class is column 1
    }

    /// `data.held_out_classes`: the class's targets never reach the step, its column takes no
    /// part in the losses, a name no dataset has is refused naming the nearest, and evaluation
    /// with calibration runs (its priors from the split's first images).
    func testHeldOutClassesAreNeverTrainedAndCalibrationEvaluates() throws {
        let dir = scratch("heldout")
        var config = try tinyConfig(dir)
        config.data.heldOutClasses = ["Tent"]
        let data = try TrainingData(config, validation: false)
        let names = data.sources.map(\.classes.names)
        XCTAssertEqual(data.heldOut.count, 4)
        for (d, set) in data.heldOut.enumerated() {
            XCTAssertEqual(set, Set(names[d].indices.filter { names[d][$0] == "tent" }), data.sources[d].name)
        }
        XCTAssertFalse(data.heldOut[0].isEmpty)
        let loader = batches(data, config, rules: TargetRules(heldOut: data.heldOut))
        var seen = 0
        for _ in 0..<24 {
            let batch = try loader.next()
            let classes = batch.targets.images.flatMap(\.classes) + batch.targets.imageLabels.flatMap { $0 }
            XCTAssertTrue(classes.allSatisfy { !data.heldOut[batch.dataset].contains($0) })
            for image in batch.targets.images { XCTAssertEqual(image.masks?.shape[0] ?? image.boxes?.count ?? 0, image.classes.count) }
            seen += classes.count
        }
        XCTAssertGreaterThan(seen, 0)
        var wrong = config
        wrong.data.heldOutClasses = ["tnet"]
        XCTAssertThrowsError(try TrainingData(wrong, validation: false)) {
            XCTAssertEqual("\($0)", "data.held_out_classes: 'tnet' is no class of any dataset (did you mean 'tent'?)")
        }

        config.solver.maxIter = 2
        let run = try TrainingRun(config: config)
        try run.run(log: { _ in })
        var panoptic = try loader.next()
        while panoptic.dataset != 0 { panoptic = try loader.next() }
        let tent = try XCTUnwrap(data.heldOut[0].first)
        let (predictions, _) = run.model.forward(panoptic.images, classEmbeddings: run.data.labelSpace.embeddings, piloted: nil)
        let set = run.step.predictionSet(predictions.last!, panoptic)
        let k1 = set.logits.shape[2], values = set.logits.data
        XCTAssertTrue(stride(from: tent, to: values.count, by: k1).allSatisfy { $0 < values.count && values[$0] == -1e4 })
        var options = InferenceOptions(config)
        options.calibration.power = 0.5
        options.calibration.images = 2
        let report = try ModelEvaluation.run(model: run.model, data: run.data, options: options, maxImages: 2, log: { _ in })
        XCTAssertTrue(try XCTUnwrap(report["synth_panoptic"]?["panoptic"]?["PQ"]).isFinite)
    }

    // MARK: OneFormer: task conditioning and the query-text contrastive loss

    /// Panoptic targets as the semantic task sees them (one per class, segments united) and as
    /// the instance task sees them (things alone).
    func testTargetsDerivedForEachTask() {
        // Classes 0 (thing, two segments), 2 (stuff); 2x2 masks.
        let targets = ImageTargets(classes: [0, 2, 0], masks: Tensor(shape: [3, 2, 2], data: [1, 0, 0, 0,  0, 1, 1, 0,  0, 0, 0, 1]))
        let isThing = [true, true, false]
        let semantic = targets.derived(for: .semantic, isThing: isThing)
        XCTAssertEqual(semantic.classes, [0, 2])
        XCTAssertEqual(semantic.masks?.data, [1, 0, 0, 1,  0, 1, 1, 0])
        let instance = targets.derived(for: .instance, isThing: isThing)
        XCTAssertEqual(instance.classes, [0, 0])
        XCTAssertEqual(instance.masks?.data, [1, 0, 0, 0,  0, 0, 0, 1])
        XCTAssertEqual(targets.derived(for: .panoptic, isThing: isThing).classes, [0, 2, 0])
        XCTAssertEqual(instance.maskCrops.count, 2)
    }

    /// A task-conditioned model answers differently when told another task (its only change is
    /// the task embedding added to the queries), and the task embedding learns: its gradient
    /// reaches the rows of the tasks used and no other.
    func testTaskConditioningConditionsTheQueries() {
        var c = M2FConfig()
        (c.stemChannels, c.stageChannels, c.convDim, c.hidden, c.maskDim) = ([8, 16], [16, 16, 32, 32], 32, 32, 32)
        (c.encoderFFN, c.ffn, c.queries, c.decoderLayers, c.decoderGroups, c.embeddingDim) = (32, 32, 4, 2, 8, 16)
        var rng = SeededRNG(seed: 3)
        XCTAssertFalse(M2FModel(c, rng: &rng).namedParameters().contains { $0.0.contains("task_embed") })
        c.taskConditioning = true
        let model = M2FModel(c, rng: &rng)
        XCTAssertTrue(model.namedParameters().contains { $0.0 == "predictor.task_embed.weight" })
        let images = Tensor.randn([2, 3, 32, 32], rng: &rng) * 50 + 120, classes = Tensor.randn([5, 16], rng: &rng)
        let panoptic = model(images, classEmbeddings: classes, tasks: [0, 0]).last!.logits.data
        let mixed = model(images, classEmbeddings: classes, tasks: [0, 1]).last!.logits.data
        let half = panoptic.count / 2
        XCTAssertEqual(Array(panoptic[..<half]), Array(mixed[..<half]), "image 0 told the same task")
        XCTAssertNotEqual(Array(panoptic[half...]), Array(mixed[half...]), "image 1 told another")
        model.zeroGrad()
        model(images, classEmbeddings: classes, tasks: [0, 2]).last!.logits.sum().backward()
        let grad = try! XCTUnwrap(model.namedParameters().first { $0.0 == "predictor.task_embed.weight" }?.1.grad)
        let d = c.hidden
        XCTAssertTrue(grad[0..<d].contains { $0 != 0 } && grad[(2 * d)..<(3 * d)].contains { $0 != 0 })
        XCTAssertTrue(grad[d..<(2 * d)].allSatisfy { $0 == 0 })
    }

    /// Task conditioning and the contrastive loss train together: panoptic batches carry all
    /// three tasks with their derived targets, the other datasets their own, the contrastive
    /// loss is finite, and evaluation tells each split its task.
    func testTaskConditioningAndContrastiveLossTrain() throws {
        let dir = scratch("oneformer")
        var config = try tinyConfig(dir)
        let data = try TrainingData(config, validation: false)
        let loader = batches(data, config, rules: TargetRules(sampleTasks: true))
        var panopticTasks = Set<SegmentationTask>()
        for _ in 0..<40 {
            let batch = try loader.next()
            XCTAssertEqual(batch.targets.tasks.count, 2)
            let isThing = data.sources[batch.dataset].classes.isThing
            for (task, image) in zip(batch.targets.tasks, batch.targets.images) {
                if batch.dataset == 0 { panopticTasks.insert(task) } else { XCTAssertEqual(task, SegmentationTask(data.sources[batch.dataset].task)) }
                if batch.dataset == 0 && task == .semantic { XCTAssertEqual(Set(image.classes).count, image.classes.count) }
                if batch.dataset == 0 && task == .instance { XCTAssertTrue(image.classes.allSatisfy { isThing[$0] }) }
            }
        }
        XCTAssertEqual(panopticTasks, Set(SegmentationTask.allCases))

        config.model.taskConditioning = true
        config.loss.contrastiveWeight = 0.5
        config.solver.maxIter = 4
        let run = try TrainingRun(config: config)
        let lines = try run.run(log: { _ in })
        let contrastive = lines.compactMap { $0.losses["loss_contrastive"] }
        XCTAssertFalse(contrastive.isEmpty)
        XCTAssertTrue(contrastive.allSatisfy { $0.isFinite && $0 > 0 })
        let report = try ModelEvaluation.run(model: run.model, data: run.data, options: InferenceOptions(config), maxImages: 2, log: { _ in })
        XCTAssertNotNil(report["synth_semantic"]?["semantic"]?["mIoU"])
    }

    // MARK: OpenSeeD: decoupled queries and box-conditioned masks

    /// Box regions as the conditioned queries attend: a box's pixels clipped to the map (an
    /// inverted or outside box gives nothing), and a mask's bounding rectangle.
    func testBoxRegions() {
        XCTAssertEqual(TrainStep.span(1.5, 3.2, limit: 10), 1..<4)
        XCTAssertEqual(TrainStep.span(-2, 30, limit: 10), 0..<10)
        XCTAssertEqual(TrainStep.span(5, 2, limit: 10).count, 0)
        XCTAssertEqual(TrainStep.span(12, 14, limit: 10).count, 0)
        let mask: [UInt8] = [0, 0, 0, 0,
                             0, 1, 0, 0,
                             0, 0, 0, 1,
                             0, 0, 0, 0]
        XCTAssertEqual(TrainStep.boundingRectangle(of: mask, height: 4, width: 4), [0, 0, 0, 0,  0, 1, 1, 1,  0, 1, 1, 1,  0, 0, 0, 0])
        XCTAssertEqual(TrainStep.boundingRectangle(of: [UInt8](repeating: 0, count: 4), height: 2, width: 2), [0, 0, 0, 0])
    }

    /// Decoupled queries and box-conditioned masks train: a thing query never takes a stuff
    /// target, box batches' conditioned queries attend inside their boxes only, their losses and
    /// (from the start iteration on) the pseudo-mask losses are finite.
    func testDecoupledQueriesAndBoxConditionedMasksTrain() throws {
        let dir = scratch("openseed")
        var config = try tinyConfig(dir)
        config.model.decoupledQueries = [4, 2]
        config.loss.boxConditionedMasks = true
        config.loss.boxConditionedStart = 0
        config.data.datasets = config.data.datasets.filter { ["synth_panoptic", "synth_detection"].contains($0.name) }
        config.solver.maxIter = 8
        let run = try TrainingRun(config: config)
        XCTAssertEqual(run.step.criterion.thingQueries, 4)
        var lines = try run.run(log: { _ in })
        // Mask data alone: thing segments' boxes decoded into their masks.
        var maskOnly = config
        maskOnly.data.datasets = Array(config.data.datasets.prefix(1))
        maskOnly.solver.maxIter = 2
        maskOnly.outputDir = (dir as NSString).appendingPathComponent("masks")
        lines += try TrainingRun(config: maskOnly).run(log: { _ in })
        let names = Set(lines.flatMap(\.losses.keys))
        for name in ["loss_ce_conditioned", "loss_mask_conditioned", "loss_dice_conditioned", "loss_box_proj_conditioned", "loss_mask_pseudo", "loss_dice_pseudo"] {
            XCTAssertTrue(names.contains(name), "\(name) in \(names.sorted())")
        }
        XCTAssertTrue(lines.allSatisfy { $0.totalLoss.isFinite })

        // A box batch: one conditioned slot per box, its attention open inside the box alone.
        let data = run.data
        let loader = batches(data, config, seed: 4)
        var batch = try loader.next()
        while batch.targets.supervision != .boxes || batch.targets.images.allSatisfy({ $0.classes.isEmpty }) { batch = try loader.next() }
        let (queries, chosen, suffix) = try XCTUnwrap(try run.step.conditionedQueries(batch, stepSeed: 1))
        XCTAssertEqual(suffix, "_conditioned")
        let s = batch.images.shape[2]
        for (i, image) in batch.targets.images.enumerated() {
            XCTAssertEqual(chosen[i], Array(image.classes.indices))
            for (slot, t) in chosen[i].enumerated() {
                let (x0, y0, x1, y1) = image.boxes![t]
                let region = queries.masks[i][slot]
                for y in 0..<s { for x in 0..<s {
                    let inside = Float(x) >= (x0 * 4).rounded(.down) && Float(x) < (x1 * 4).rounded(.up) && Float(y) >= (y0 * 4).rounded(.down) && Float(y) < (y1 * 4).rounded(.up)
                    XCTAssertEqual(region[y * s + x] != 0, inside)
                } }
            }
        }
        var wrong = config
        wrong.model.decoupledQueries = [4, 3]
        XCTAssertThrowsError(try ConfigLoader.validate(wrong, origins: [:], root: "test", requireData: false)) {
            XCTAssertEqual("\($0)", "test: model.decoupled_queries: needs [things, stuff], two positive counts that add up to queries (6); [] turns it off")
        }
    }
}
