import Foundation
import XCTest
@testable import Trainer
import Datasets
import Models
import Evaluation
import HDF5
import Images
import Targets

extension XCTestCase {
    /// A tiny model and the small synthetic world at 32 px: a few iterations in seconds.
    func tinyConfig(_ dir: String) throws -> TrainConfig {
        let data = (dir as NSString).appendingPathComponent("data")
        if !FileManager.default.fileExists(atPath: data) {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            var spaces: [String: (dim: Int, values: [Float])] = [:]
            for (k, v) in try LabelSpace.synthetic(from: root.appendingPathComponent("labelspaces").path) { spaces[k] = (v.dim, v.embeddings) }
            try SyntheticWorld.write(to: data, seed: 1, scale: .small, embeddings: spaces)
        }
        var c = TrainConfig()
        c.model.stemChannels = [8, 16]
        c.model.stageChannels = [16, 16, 32, 32]
        c.model.convDim = 32
        c.model.hidden = 32
        c.model.maskDim = 32
        c.model.encoderFFN = 32
        c.model.ffn = 32
        c.model.queries = 6
        c.model.decoderLayers = 3
        c.model.decoderGroups = 8
        c.data.root = data
        c.data.datasets = SyntheticWorld.datasets.map { spec in
            var d = DatasetConfig()
            d.name = spec.name
            d.path = spec.name
            d.augmentation.size = 32
            return d
        }
        c.loss.points = 64
        c.loss.scaleDetSoftWeight = 1
        c.solver.imsPerBatch = 2
        c.solver.maxIter = 6
        c.solver.checkpointPeriod = 3
        c.solver.logPeriod = 1
        c.solver.warmupIters = 2
        c.test.maxImages = 2
        c.outputDir = (dir as NSString).appendingPathComponent("run")
        return c
    }
}

final class TrainingRunTests: XCTestCase {
    func testTrainsWritesMetricsAndCheckpointsAndResumesExactly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trainrun-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        let config = try tinyConfig(dir)
        let straight = try TrainingRun(config: config, outputDir: (dir as NSString).appendingPathComponent("straight")).run(log: { _ in })
        XCTAssertEqual(straight.map(\.iteration), Array(0..<6))
        XCTAssertTrue(straight.allSatisfy { $0.totalLoss.isFinite && $0.totalLoss > 0 })
        let out = (dir as NSString).appendingPathComponent("straight")
        let files = try FileManager.default.contentsOfDirectory(atPath: out)
        XCTAssertTrue(files.contains("model_0000002.h5") && files.contains("model_final.h5") && files.contains("last_checkpoint")
                      && files.contains("metrics.jsonl") && files.contains("config.yaml") && files.contains("curves.svg"), "\(files)")
        let svg = try String(contentsOfFile: (out as NSString).appendingPathComponent("curves.svg"), encoding: .utf8)
        XCTAssertTrue(svg.contains("<polyline") && svg.contains("total_loss") && svg.contains("synth_panoptic/panoptic/PQ"))
        let metrics = try String(contentsOfFile: (out as NSString).appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(metrics.count, 7, "6 iterations and the final evaluation")
        for key in ["iteration", "total_loss", "lr", "time", "data_time"] { XCTAssertNotNil(metrics[0][key], key) }
        XCTAssertNotNil(metrics[6]["synth_panoptic/panoptic/PQ"])
        XCTAssertNotNil(metrics[6]["synth_semantic/semantic/mIoU"])
        XCTAssertTrue(metrics.contains { $0["loss_ce"] != nil } && metrics.contains { $0["loss_scaledet_soft"] != nil })
        // The written config reads back as the same config.
        XCTAssertEqual(try ConfigLoader.load((out as NSString).appendingPathComponent("config.yaml")), config)

        // A run stopped any time after its checkpoint at iteration 2 (here: a folder holding
        // only that checkpoint) and resumed gives the same losses from iteration 3 on.
        let resumedDir = (dir as NSString).appendingPathComponent("resumed")
        try FileManager.default.createDirectory(atPath: resumedDir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: (out as NSString).appendingPathComponent("model_0000002.h5"),
                                         toPath: (resumedDir as NSString).appendingPathComponent("model_0000002.h5"))
        try "model_0000002.h5".write(toFile: (resumedDir as NSString).appendingPathComponent("last_checkpoint"), atomically: true, encoding: .utf8)
        let rest = try TrainingRun(config: config, outputDir: resumedDir).run(resume: true, log: { _ in })
        XCTAssertEqual(rest.map(\.iteration), [3, 4, 5])
        for (a, b) in zip(rest, straight.suffix(3)) {
            XCTAssertEqual(a.totalLoss, b.totalLoss, "iteration \(a.iteration): resumed \(a.totalLoss), straight \(b.totalLoss)")
        }
    }

    func testEvaluatesEveryTaskOnTheValidationSplits() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("evalrun-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        let run = try TrainingRun(config: try tinyConfig(dir))
        let dump = (dir as NSString).appendingPathComponent("dump")
        let report = try run.evaluate(maxImages: 3, dump: dump, log: { _ in })
        XCTAssertEqual(Set(report.keys), ["synth_panoptic", "synth_semantic", "synth_detection"], "image labels have nothing to score")
        XCTAssertNotNil(report["synth_panoptic"]?["panoptic"]?["PQ"])
        XCTAssertEqual(report["synth_panoptic"]?["segm"]?.keys.filter { !$0.contains("-") }.count, 12, "panoptic data: the things' mask AP too")
        let thingNames = ["ball", "box", "tent", "kite", "ring"]
        XCTAssertTrue(report["synth_panoptic"]!["segm"]!.keys.filter { $0.contains("-") }.allSatisfy { thingNames.contains(String($0.dropFirst(3))) },
                      "per-class AP (Detectron2's AP-<class>) only for thing classes")
        XCTAssertNotNil(report["synth_panoptic"]?["semantic"]?["mIoU"])
        let miou = try XCTUnwrap(report["synth_semantic"]?["semantic"]?["mIoU"])
        XCTAssertTrue(miou >= 0 && miou <= 1)
        XCTAssertEqual(report["synth_detection"]?["bbox"]?.keys.filter { !$0.contains("-") }.count, 12)
        XCTAssertNotNil(report["synth_semantic"]?["semantic"]?.keys.first { $0.hasPrefix("IoU-") }, "per-class IoU")

        // The dumped files, scored as `train score` scores files, give the numbers evaluate gave.
        let pan = (dump as NSString).appendingPathComponent("synth_panoptic")
        let pq = try ScoreFiles.panoptic(gtJSON: pan + "/panoptic_gt.json", gtFolder: pan + "/panoptic_gt",
                                         predJSON: pan + "/panoptic_pred.json", predFolder: pan + "/panoptic_pred")
        XCTAssertEqual(pq.all.pq, report["synth_panoptic"]?["panoptic"]?["PQ"] ?? -1, accuracy: 1e-12)
        let sem = (dump as NSString).appendingPathComponent("synth_semantic")
        let spec = try XCTUnwrap(run.config.data.datasets.first { $0.name == "synth_semantic" })
        let classes = try DatasetSource(folder: (run.config.data.root as NSString).appendingPathComponent(spec.path), split: spec.valSplit).classes.count
        let miouFromFiles = try ScoreFiles.semantic(gtFolder: sem + "/semantic_gt", predFolder: sem + "/semantic_pred", numClasses: classes)
        XCTAssertEqual(miouFromFiles.images, 3)
        XCTAssertEqual(miouFromFiles.metrics.mIoU, miou, accuracy: 1e-12)
        let det = (dump as NSString).appendingPathComponent("synth_detection")
        let truth = try COCOGroundTruth(path: det + "/instances_gt.json", withMasks: false)
        let results = try readCOCOResults(det + "/results_bbox.json", groundTruth: truth, iouType: .bbox)
        XCTAssertEqual(truth.imageIDs.count, 3)
        XCTAssertFalse(results.isEmpty, "the detections were written")
        var boxes = InstanceEvaluator(iouType: .bbox, categoryIDs: truth.categoryIDs)
        for id in truth.imageIDs { boxes.add(imageID: id, groundTruth: truth.objects[id] ?? [], detections: results[id] ?? []) }
        XCTAssertEqual(boxes.summarize().stats, InstanceMetrics.names.map { report["synth_detection"]!["bbox"]![$0]! })
        for name in ["synth_panoptic", "synth_semantic", "synth_detection"] {
            let overlays = try FileManager.default.contentsOfDirectory(atPath: "\(dump)/\(name)/overlays")
            XCTAssertEqual(overlays.sorted(), ["000000.png", "000001.png", "000002.png"], name)
        }
        // A dump into a used folder replaces each dataset's folder: no stale file is scored.
        let stray = "\(dump)/synth_semantic/semantic_pred/999999.png"
        FileManager.default.createFile(atPath: stray, contents: Data([1]))
        _ = try run.evaluate(maxImages: 2, dump: dump, log: { _ in })
        XCTAssertFalse(FileManager.default.fileExists(atPath: stray))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(dump)/synth_semantic/semantic_pred").sorted(), ["000000.png", "000001.png"])
    }

    /// A dataset that will be evaluated but has no validation split stops the run before
    /// iteration 0, naming the dataset and the split; nothing is written.
    func testMissingValidationSplitStopsBeforeTraining() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("noval-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        let config = try tinyConfig(dir)
        let semantic = (config.data.root as NSString).appendingPathComponent("synth_semantic")
        for name in try FileManager.default.contentsOfDirectory(atPath: semantic) where name.hasPrefix("val") {
            try FileManager.default.removeItem(atPath: (semantic as NSString).appendingPathComponent(name))
        }
        XCTAssertThrowsError(try TrainingRun(config: config)) { error in
            XCTAssertTrue("\(error)".hasPrefix("dataset synth_semantic: no validation split 'val'"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: config.outputDir))
        // Image-label datasets are not evaluated: they need no validation split.
        let labels = (config.data.root as NSString).appendingPathComponent("synth_labels")
        for name in try FileManager.default.contentsOfDirectory(atPath: labels) where name.hasPrefix("val") {
            try FileManager.default.removeItem(atPath: (labels as NSString).appendingPathComponent(name))
        }
        var others = config
        others.data.datasets.removeAll { $0.name == "synth_semantic" }
        XCTAssertNoThrow(try TrainingRun(config: others))
    }

    /// A dataset whose shards carry no class embeddings and whose label-space file is missing
    /// gets one made from its shards' class names by the Swift text encoder (equal to what
    /// tools/embed_classes.py made for the committed files), written and logged.
    func testMissingLabelSpaceIsMadeFromTheShardsClassNames() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nolabelspace-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try tinyConfig(dir)
        let bare = (dir as NSString).appendingPathComponent("bare")
        try SyntheticWorld.write(to: bare, seed: 1, scale: .small, embeddings: [:])
        config.data.root = bare
        config.data.labelspaces = (dir as NSString).appendingPathComponent("spaces")
        config.data.datasets = Array(config.data.datasets.prefix(2))
        let data = try TrainingData(config, validation: false)
        XCTAssertEqual(data.notes.count, 2)
        XCTAssertTrue(data.notes[0].hasPrefix("dataset synth_panoptic: no label-space file, so its 9 class names were embedded"), data.notes[0])
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for name in ["synth_panoptic", "synth_semantic"] {
            let made = try LabelSpace.load((config.data.labelspaces as NSString).appendingPathComponent("\(name).h5"))
            let committed = try LabelSpace.load(root.appendingPathComponent("labelspaces/\(name).h5").path)
            XCTAssertEqual(made.names, committed.names)
            XCTAssertLessThan(zip(made.embeddings, committed.embeddings).map { abs($0 - $1) }.max()!, 1e-5)
        }
        // The second time the files are there: read, not made.
        XCTAssertEqual(try TrainingData(config, validation: false).notes, [])
    }

    /// Mask piloting (MP-Former) trains: a few iterations on the small world's panoptic data,
    /// with two groups and every noise on, give finite piloted losses beside the usual ones.
    func testMaskPilotingTrains() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("piloting-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try tinyConfig(dir)
        config.data.datasets = Array(config.data.datasets.prefix(1))
        config.solver.maxIter = 3
        config.loss.maskPiloting = true
        config.loss.pilotingGroups = 2
        (config.loss.pilotingPointNoise, config.loss.pilotingShiftNoise, config.loss.pilotingScaleNoise, config.loss.pilotingLabelNoise) = (0.2, 0.1, 0.1, 0.2)
        for thingsOnly in [false, true] {
            config.loss.pilotingThingsOnly = thingsOnly
            config.outputDir = (dir as NSString).appendingPathComponent("run-\(thingsOnly)")
            let lines = try TrainingRun(config: config).run(log: { _ in })
            XCTAssertEqual(lines.count, 3)
            for line in lines {
                for name in ["loss_ce_piloted", "loss_mask_piloted", "loss_dice_piloted", "loss_ce", "loss_mask"] {
                    let v = try XCTUnwrap(line.losses[name], name)
                    XCTAssertTrue(v.isFinite && v > 0, "\(name) = \(v)")
                }
            }
        }
    }

    /// Learned merges run on a trained model and keep their rules: different names, the same
    /// kind (thing or stuff), at least the threshold's share of the pixels.
    func testLearnedMergesKeepTheirRules() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("merges-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try tinyConfig(dir)
        config.solver.maxIter = 2
        let run = try TrainingRun(config: config)
        try run.run(log: { _ in })
        let pairs = try LearnedMerges.learn(model: run.model, data: run.data, images: 3, threshold: 0.2, log: { _ in })
        let space = run.data.labelSpace
        for p in pairs {
            XCTAssertGreaterThanOrEqual(p.confusion, 0.2)
            XCTAssertNotEqual(p.classA.lowercased(), p.classB.lowercased())
            XCTAssertEqual(space.isThing[p.columnA], space.isThing[p.columnB])
            XCTAssertEqual(space.names[p.columnA], p.classA)
            XCTAssertEqual(space.names[p.columnB], p.classB)
        }
    }

    /// Hooks run checkpoint, then evaluation, then writers: a failure after the checkpoint (here
    /// a hook in evaluation's place) leaves the final weights on disk.
    func testCheckpointIsWrittenBeforeEvaluation() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hookorder-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        var config = try tinyConfig(dir)
        config.solver.maxIter = 2
        let run = try TrainingRun(config: config)
        XCTAssertTrue(run.hooks[0] is PeriodicCheckpointer && run.hooks[1] is PeriodicEvaluation && run.hooks[2] is MetricsWriter)
        final class FailingEvaluation: TrainingHook {
            struct Failed: Error {}
            func afterStep(_ run: TrainingRun, _ step: StepRecord) throws { if step.isLast { throw Failed() } }
        }
        run.hooks[1] = FailingEvaluation()
        XCTAssertThrowsError(try run.run(log: { _ in }))
        let final = (config.outputDir as NSString).appendingPathComponent("model_final.h5")
        XCTAssertTrue(FileManager.default.fileExists(atPath: final))
        // The checkpoint carries the label space (for `train predict`), in either form.
        let stored = try XCTUnwrap(try Checkpoint.labelSpace(in: final))
        XCTAssertEqual(stored.datasets, run.data.labelSpace.datasets)
        XCTAssertEqual(stored.embeddings.data, run.data.labelSpace.embeddings.data)
        XCTAssertEqual(stored.form, .concatenated)
        XCTAssertEqual(try Checkpoint.labelSpace(in: final, form: .merged)?.count, run.data.labelSpace.count - 6)
        // Its JSON attributes have sorted keys, so the same state writes the same bytes in any process.
        let file = try HDF5File(final)
        for (attribute, keys) in [("sampler_state", ["\"chooser\"", "\"datasets\"", "\"epoch\"", "\"position\"", "\"rng\""]),
                                  ("datasets", ["\"name\"", "\"samples\""])] {
            let json = try XCTUnwrap(try file.stringAttribute(attribute))
            let positions = try keys.map { try XCTUnwrap(json.range(of: $0)?.lowerBound, "\(attribute): \($0) in \(json)") }
            XCTAssertEqual(positions, positions.sorted(), "\(attribute): \(json)")
        }
    }

    /// A folder that holds another run is refused (its metrics would mix), unless the run
    /// resumes it or overwrites it; a stale `last_checkpoint` falls back to the newest complete
    /// checkpoint, saying so; a resume with other datasets is refused, naming them.
    func testOutputFolderRules() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("folders-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        var config = try tinyConfig(dir)
        config.solver.maxIter = 4
        config.solver.checkpointPeriod = 2
        config.test.maxImages = 1
        let out = config.outputDir
        _ = try TrainingRun(config: config).run(log: { _ in })
        XCTAssertThrowsError(try TrainingRun(config: config).run(log: { _ in })) {
            XCTAssertTrue("\($0)".hasPrefix("\(out): holds another run (config.yaml, curves.svg, last_checkpoint, metrics.jsonl, ...)"), "\($0)")
        }
        // A leftover of a killed write is removed; --overwrite starts over with one run's lines.
        FileManager.default.createFile(atPath: (out as NSString).appendingPathComponent(".model_0000009.h5.tmp-2147483646"), contents: Data([0]))
        var logged: [String] = []
        _ = try TrainingRun(config: config).run(overwrite: true, log: { logged.append($0) })
        XCTAssertTrue(logged.contains("removed .model_0000009.h5.tmp-2147483646, left by an interrupted write"), "\(logged)")
        let lines = try String(contentsOfFile: (out as NSString).appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.filter { $0.contains("total_loss") }.count, 4)
        // last_checkpoint naming a missing file: the newest complete checkpoint, and a note.
        try "model_0000099.h5".write(toFile: (out as NSString).appendingPathComponent("last_checkpoint"), atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: (out as NSString).appendingPathComponent("model_final.h5"))
        var more = config
        more.solver.maxIter = 5
        logged = []
        let resumed = try TrainingRun(config: more).run(resume: true, log: { logged.append($0) })
        XCTAssertEqual(resumed.map(\.iteration), [2, 3, 4])
        XCTAssertTrue(logged.contains { $0.contains("last_checkpoint names model_0000099.h5, which is missing or unreadable; resuming from the newest complete checkpoint, model_0000001.h5") }, "\(logged)")
        // Other datasets: refused, naming both lists.
        var fewer = more
        fewer.data.datasets.removeLast()
        fewer.solver.maxIter = 8
        XCTAssertThrowsError(try TrainingRun(config: fewer).run(resume: true, log: { _ in })) {
            XCTAssertTrue("\($0)".contains("was trained on datasets synth_panoptic (24), synth_semantic (24), synth_detection (24), synth_labels (24); this config has synth_panoptic (24), synth_semantic (24), synth_detection (24)"), "\($0)")
        }
    }

    /// Values that would train on in silence or exhaust memory are refused by key.
    func testConfigValuesAreRangeChecked() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ranges-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let base = (dir as NSString).appendingPathComponent("base.yaml")
        try "data:\n  datasets: [{name: a, path: a}, {name: b, path: b}]\n".write(toFile: base, atomically: true, encoding: .utf8)
        for (set, expected) in [
            ("data.datasets=[{name: a, path: a, ratio: .nan}]", "--set: data.datasets[0].ratio: must be a finite number, not nan"),
            ("data.datasets=[{name: a, path: a, ratio: .inf}]", "--set: data.datasets[0].ratio: must be a finite number, not inf"),
            ("data.datasets=[{name: a, path: a, augmentation: {max_scale: .inf}}]", "data.datasets[0].augmentation.max_scale: must be a finite number"),
            ("data.datasets=[{name: a, path: a, augmentation: {size: 100000}}]", "data.datasets[0].augmentation.size: is 100000; at most 2048"),
            ("model.pixel_mean=[.nan, 0, 0]", "--set: model.pixel_mean[0]: must be a finite number, not nan"),
            ("solver.base_lr=.inf", "--set: solver.base_lr: must be a finite number, not inf"),
            ("solver.ims_per_batch=100000", "--set: solver.ims_per_batch: is 100000; at most 1024"),
            ("model.queries=100000", "--set: model.queries: is 100000; at most 1000"),
            ("data.prefetch=-1", "--set: data.prefetch: must be in 0...64"),
        ] {
            XCTAssertThrowsError(try ConfigLoader.load(base, overrides: [set])) {
                XCTAssertTrue("\($0)".contains(expected), "\(set): \($0)")
            }
        }
    }

    /// With one training dataset the union is that dataset's label space: same numbers.
    /// With several, union predictions are mapped back to the dataset's classes or dropped.
    func testUnionLabelSpace() throws {
        // The semantic dataset's view of the synthetic union: its own classes, the panoptic
        // "sky" as its own "sky", everything else foreign.
        let panoptic = ["ball", "box", "sky"], semantic = ["lawn", "sky", "sea"], detection = ["kite"]
        let space = UnifiedLabelSpace(datasets: [panoptic, semantic, detection].enumerated().map { d, names in
            ("d\(d)", names, names.map { _ in true }, names.map { _ in 1 })
        }, dim: 1)
        XCTAssertEqual(space.unionMap(to: 1), [-1, -1, 1, 0, 1, 2, -1])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("unionrun-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        let all = try tinyConfig(dir)
        for dataset in all.data.datasets where dataset.name != "synth_labels" {
            var single = all
            single.data.datasets = [dataset]
            let run = try TrainingRun(config: single)
            let own = try run.evaluate(maxImages: 3, labelSpace: .dataset, log: { _ in })
            let union = try run.evaluate(maxImages: 3, labelSpace: .union, log: { _ in })
            XCTAssertEqual(own, union, dataset.name)
        }
        let run = try TrainingRun(config: all)
        let dump = (dir as NSString).appendingPathComponent("dump")
        let union = try run.evaluate(maxImages: 3, labelSpace: .union, dump: dump, log: { _ in })
        XCTAssertEqual(Set(union.keys), ["synth_panoptic", "synth_semantic", "synth_detection"])
        for (name, entry) in union { for (kind, values) in entry { for (key, v) in values {
            XCTAssertTrue(v == -1 || (v >= 0 && v <= 1), "\(name) \(kind) \(key) = \(v)")
        } } }
        let spec = try XCTUnwrap(all.data.datasets.first { $0.name == "synth_semantic" })
        let k = try DatasetSource(folder: (all.data.root as NSString).appendingPathComponent(spec.path), split: spec.valSplit).classes.count
        let folder = dump + "/synth_semantic/semantic_pred"
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            let values = Set(try PNG.read(folder + "/" + name, mode: .labels).pixels)
            XCTAssertTrue(values.allSatisfy { Int($0) < k || $0 == 255 }, "\(name): \(values.sorted()) (k = \(k))")
        }
    }
}

extension TrainingRun {
    /// The run's model scored on its validation splits, as `train evaluate` scores a checkpoint.
    func evaluate(maxImages: Int, labelSpace: EvaluationLabelSpace = .dataset, dump: String? = nil,
                  log: (String) -> Void) throws -> EvaluationReport {
        var options = InferenceOptions()
        options.labelSpace = labelSpace
        return try ModelEvaluation.run(model: model, data: data, options: options, maxImages: maxImages, dump: dump, log: log)
    }
}
