import Foundation
import XCTest
import Models
import Yams
@testable import Trainer

final class ConfigLoaderTests: XCTestCase {
    let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("configs")

    func write(_ text: String, _ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("configs-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testShippedConfigsLoad() throws {
        let joint = try ConfigLoader.load(configs.appendingPathComponent("synth-joint.yaml").path)
        XCTAssertEqual(joint.data.datasets.map(\.name), ["synth_panoptic", "synth_semantic", "synth_detection", "synth_labels"])
        XCTAssertEqual(joint.data.datasets[0].ratio, 2)
        var tiny = M2FConfig()
        tiny.queries = 20
        tiny.decoupledQueries = [14, 6]
        XCTAssertEqual(joint.model, tiny, "m2f-tiny from the base, with the main job's 20 queries, 14 for things and 6 for stuff")
        XCTAssertTrue(joint.loss.densePoints)
        XCTAssertEqual(joint.solver.backboneMultiplier, 1)
        XCTAssertEqual(joint.solver.baseLR, 3e-4)
        XCTAssertEqual(joint.loss.scaleDetSoftWeight, 1)
        let only = try ConfigLoader.load(configs.appendingPathComponent("synth-panoptic-only.yaml").path)
        XCTAssertEqual(only.data.datasets.map(\.name), ["synth_panoptic"], "a list is replaced, not merged")
        XCTAssertEqual(only.solver.maxIter, joint.solver.maxIter, "inherited through two bases")
        XCTAssertEqual(only.outputDir, "output/synth-panoptic-only")
        let piloted = try ConfigLoader.load(configs.appendingPathComponent("synth-shapes-piloted.yaml").path)
        XCTAssertEqual(piloted.data.root, "data/synth-shapes")
        XCTAssertEqual(piloted.data.datasets.map(\.ratio), [8, 1, 1, 1])
        XCTAssertEqual(piloted.model.decoupledQueries, [14, 6])
        XCTAssertTrue(piloted.loss.maskPiloting)
        XCTAssertEqual(piloted.loss.classWeight, 4)
        XCTAssertEqual(piloted.test.objectMaskThreshold, 0.5)
        let real = try ConfigLoader.load(configs.appendingPathComponent("coco-ade-o365.yaml").path)
        XCTAssertEqual(real.solver.steps, [60000, 80000])
        // The resolved YAML reads back to the same config.
        let again = try ConfigLoader.load(try write(try ConfigLoader.yaml(joint), "resolved.yaml"))
        XCTAssertEqual(again, joint)
    }

    /// A config given as text (a checkpoint's stored one) reads as a file does; errors name it.
    func testConfigFromText() throws {
        let c = try ConfigLoader.load(yaml: "seed: 7\nsolver: {max_iter: 9}\n", named: "ckpt.h5 (its stored config)", requireData: false)
        XCTAssertEqual(c.seed, 7)
        XCTAssertEqual(c.solver.maxIter, 9)
        XCTAssertThrowsError(try ConfigLoader.load(yaml: "sead: 7\n", named: "ckpt.h5 (its stored config)", requireData: false)) {
            XCTAssertTrue("\($0)".hasPrefix("ckpt.h5 (its stored config): sead"), "\($0)")
        }
    }

    func testOverrides() throws {
        let c = try ConfigLoader.load(configs.appendingPathComponent("synth-joint.yaml").path,
                                      overrides: ["solver.base_lr=2e-4", "solver.steps=[1,1,2]", "test.eval_period=7", "output_dir=out/x"])
        XCTAssertEqual(c.solver.baseLR, 2e-4)
        XCTAssertEqual(c.solver.steps, [1, 1, 2])
        XCTAssertEqual(c.test.evalPeriod, 7)
        XCTAssertEqual(c.test.objectMaskThreshold, 0.8, "Mask2Former's default")
        let lowered = try ConfigLoader.load(configs.appendingPathComponent("synth-joint.yaml").path, overrides: ["test.object_mask_threshold=0.5"])
        XCTAssertEqual(lowered.test.objectMaskThreshold, 0.5)
        XCTAssertEqual(c.outputDir, "out/x")
    }

    func testErrorsNameFileKeyAndIntendedKey() throws {
        let base = configs.appendingPathComponent("m2f-tiny.yaml").path
        let child = try write("_base_: \(base)\nsolver:\n  bse_lr: 0.1\ndata:\n  datasets: [{name: a, path: a}]\n", "typo.yaml")
        XCTAssertThrowsError(try ConfigLoader.load(child)) {
            XCTAssertEqual("\($0)", "\(child): solver.bse_lr: unknown key (did you mean 'solver.base_lr'?)")
        }
        let wrongType = try write("solver:\n  max_iter: lots\ndata:\n  datasets: [{name: a, path: a}]\n", "type.yaml")
        XCTAssertThrowsError(try ConfigLoader.load(wrongType)) { XCTAssertTrue("\($0)".hasPrefix("\(wrongType): solver.max_iter: wrong type"), "\($0)") }
        let range = try write("data:\n  datasets: [{name: a, path: a}]\n", "range.yaml")
        XCTAssertThrowsError(try ConfigLoader.load(range, overrides: ["solver.ims_per_batch=0"])) {
            XCTAssertEqual("\($0)", "--set: solver.ims_per_batch: must be positive")
        }
        XCTAssertThrowsError(try ConfigLoader.load(range, overrides: ["data.datasets=[{name: a, path: a, ratoi: 2}]"])) {
            XCTAssertTrue("\($0)".contains("data.datasets[0].ratoi: unknown key (did you mean 'data.datasets[0].ratio'?)"), "\($0)")
        }
        let model = try write("model:\n  heads: 3\ndata:\n  datasets: [{name: a, path: a}]\n", "model.yaml")
        XCTAssertThrowsError(try ConfigLoader.load(model)) { XCTAssertEqual("\($0)", "\(model): model.heads: must divide hidden") }
        XCTAssertThrowsError(try ConfigLoader.load(range, overrides: ["loss.image_label_rule=max_area"])) {
            XCTAssertTrue("\($0)".hasPrefix("--set: loss.image_label_rule:"), "\($0)")
        }
        for (setting, message) in [("loss.points=0", "loss.points: must be positive"),
                                   ("loss.oversample_ratio=0", "loss.oversample_ratio: must be >= 1"),
                                   ("loss.importance_sample_ratio=1.2", "loss.importance_sample_ratio: must be in [0, 1]"),
                                   ("loss.temperature=0", "loss.temperature: must be positive")] {
            XCTAssertThrowsError(try ConfigLoader.load(range, overrides: [setting])) { XCTAssertEqual("\($0)", "--set: " + message) }
        }
        XCTAssertThrowsError(try ConfigLoader.load(range, overrides: ["test.overlap_threshold=1.5"])) {
            XCTAssertEqual("\($0)", "--set: test.overlap_threshold: must be in [0, 1]")
        }
        XCTAssertThrowsError(try ConfigLoader.load(range, overrides: ["test.calibration.power=-1"])) {
            XCTAssertEqual("\($0)", "--set: test.calibration.power: must be >= 0 (0: no calibration)")
        }
        XCTAssertThrowsError(try ConfigLoader.load(range, overrides: ["test.calibration.images=0"])) {
            XCTAssertEqual("\($0)", "--set: test.calibration.images: must be >= 1")
        }
        let loop = try write("_base_: loop.yaml\n", "loop.yaml")
        XCTAssertThrowsError(try ConfigLoader.load(loop)) { XCTAssertTrue("\($0)".contains("inherits from itself"), "\($0)") }
    }

    func testScheduleWarmsUpThenDecays() {
        var s = SolverConfig()
        s.baseLR = 1
        s.maxIter = 100
        s.warmupIters = 10
        s.warmupFactor = 0.001
        XCTAssertEqual(s.learningRate(at: 0), 0.001, accuracy: 1e-6)
        XCTAssertLessThan(s.learningRate(at: 5), s.learningRate(at: 10))
        XCTAssertEqual(s.learningRate(at: 50), powf(0.5, 0.9), accuracy: 1e-6)
        s.schedule = .step
        s.steps = [20, 40]
        XCTAssertEqual(s.learningRate(at: 30), 0.1, accuracy: 1e-6)
        XCTAssertEqual(s.learningRate(at: 45), 0.01, accuracy: 1e-6)
    }

    /// The schema is decoded over its own encoded defaults: every key of every section can be
    /// set from a file (a key forgotten in a hand-written decoder would be silently ignored).
    func testEveryKeyOfTheSchemaIsRead() throws {
        let defaults = try ConfigLoader.encodedTree(TrainConfig())
        var checked = 0
        func visit(_ tree: [String: Any], _ prefix: String) throws {
            for (k, v) in tree {
                let key = prefix.isEmpty ? k : prefix + "." + k
                if let sub = v as? [String: Any] { try visit(sub, key); continue }
                // A different value of the same type, set by --set, must come back.
                let changed: String
                switch v {
                case let b as Bool: changed = b ? "false" : "true"
                case let i as Int: changed = "\(i + 1)"
                case let d as Double: changed = "\(d / 2 + 0.25)"
                case let s as String where key == "solver.schedule": changed = s == "poly" ? "step" : "poly"
                case let s as String where key == "loss.image_label_rule": changed = s == "max_size" ? "max_score" : "max_size"
                case let s as String where key == "data.on_bad_sample": changed = s == "stop" ? "skip" : "stop"
                case let s as String where key == "data.label_space": changed = s == "merged" ? "concatenated" : "merged"
                case let s as String where key == "model.precision": changed = s == "float32" ? "bfloat16" : "float32"
                case is String: changed = "x\(checked)"
                default: continue     // lists
                }
                var tree = defaults
                func set(_ node: inout [String: Any], _ parts: ArraySlice<Substring>) {
                    if parts.count == 1 { node[String(parts.first!)] = try! Yams.load(yaml: changed)!; return }
                    var child = node[String(parts.first!)] as! [String: Any]
                    set(&child, parts.dropFirst())
                    node[String(parts.first!)] = child
                }
                set(&tree, key.split(separator: ".")[...])
                let back = try ConfigLoader.encodedTree(try ConfigLoader.decode(tree, origins: [:], root: "test"))
                var node: Any = back
                for part in key.split(separator: ".") { node = (node as! [String: Any])[String(part)]! }
                let expected = try Yams.load(yaml: changed)!
                if let a = node as? Double, let b = expected as? Double {
                    XCTAssertEqual(a, b, accuracy: 1e-6 * abs(b), key)      // Float keys come back rounded to Float
                } else {
                    XCTAssertEqual("\(node)", "\(expected)", key)
                }
                checked += 1
            }
        }
        try visit(defaults, "")
        XCTAssertGreaterThan(checked, 50)
    }

    func testEnumerationsAndVersionAreChecked() throws {
        let bad = try write("solver:\n  schedule: cosine\n", "schedule.yaml")
        XCTAssertThrowsError(try ConfigLoader.load(bad, requireData: false)) {
            XCTAssertEqual("\($0)", "\(bad): solver.schedule: must be one of poly, step")
        }
        let half = try write("model:\n  precision: float16\n", "precision.yaml")
        XCTAssertThrowsError(try ConfigLoader.load(half, requireData: false)) {
            XCTAssertEqual("\($0)", "\(half): model.precision: must be one of float32, bfloat16")
        }
        let future = try write("version: 2\n", "version.yaml")
        XCTAssertThrowsError(try ConfigLoader.load(future, requireData: false)) {
            XCTAssertEqual("\($0)", "\(future): version: is 2; this build reads config version 1")
        }
        let item = try write("data:\n  datasets:\n    - {name: a, path: a, ratoi: 2}\n", "item.yaml")
        XCTAssertThrowsError(try ConfigLoader.load(item)) {
            XCTAssertEqual("\($0)", "\(item): data.datasets[0].ratoi: unknown key (did you mean 'data.datasets[0].ratio'?)")
        }
        // Items of the dataset list get every default of a dataset.
        let one = try ConfigLoader.load(try write("data:\n  datasets:\n    - {name: a, path: a}\n", "one.yaml"))
        XCTAssertEqual(one.data.datasets, [{ var d = DatasetConfig(); d.name = "a"; d.path = "a"; return d }()])
    }
}
