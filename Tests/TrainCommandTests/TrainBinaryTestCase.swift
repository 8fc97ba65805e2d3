import Foundation
import XCTest

/// Tests that run the built `train` binary on the small synthetic world (written per test into a
/// temporary folder) with a tiny model; `processes` runs it under Open MPI's `mpirun`.
class TrainBinaryTestCase: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var train: URL { Bundle.main.bundleURL.appendingPathComponent("train") }
    var dir = ""

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: train.path) else { throw XCTSkip("no train binary at \(train.path)") }
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("trainbinary-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let (status, output) = try run(["synth", "--out", path("data"), "--scale", "small", "--labelspaces", Self.root.appendingPathComponent("labelspaces").path])
        XCTAssertEqual(status, 0, output)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    static let mpirun: String? = ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":")
        .map { "\($0)/mpirun" }.first { FileManager.default.isExecutableFile(atPath: $0) }

    func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }

    /// The tiny model of the trainer's tests on the four synthetic datasets, global batch 4.
    func config(iterations: Int) throws -> String {
        let text = """
        output_dir: \(path("unused"))
        model: {stem_channels: [8, 16], stage_channels: [16, 16, 32, 32], conv_dim: 32, hidden: 32, mask_dim: 32, encoder_ffn: 32, ffn: 32,
                queries: 6, decoder_layers: 3, decoder_groups: 8}
        data:
          root: \(path("data"))
          labelspaces: \(Self.root.appendingPathComponent("labelspaces").path)
          datasets:
            - {name: synth_panoptic, path: synth_panoptic, ratio: 2, augmentation: {size: 32}}
            - {name: synth_semantic, path: synth_semantic, augmentation: {size: 32}}
            - {name: synth_detection, path: synth_detection, augmentation: {size: 32}}
            - {name: synth_labels, path: synth_labels, augmentation: {size: 32}}
        loss: {points: 64, scaledet_soft_weight: 1, scaledet_hard_weight: 1}
        solver: {ims_per_batch: 4, max_iter: \(iterations), checkpoint_period: 5, log_period: 1, warmup_iters: 2}
        test: {max_images: 3}
        """
        let file = path("tiny-\(iterations).yaml")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// `train arguments`, alone or under `mpirun -np processes`; the exit status and the output.
    @discardableResult
    func run(_ arguments: [String], processes: Int? = nil, started: ((Process) -> Void)? = nil) throws -> (Int32, String) {
        let process = Process()
        if let processes {
            process.executableURL = URL(fileURLWithPath: Self.mpirun!)
            process.arguments = ["--allow-run-as-root", "--oversubscribe", "-np", "\(processes)", train.path] + arguments
        } else {
            process.executableURL = train
            process.arguments = arguments
        }
        let log = path("output-\(UUID().uuidString).txt")
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        // A hung collective must fail the test, not the CI run's time limit.
        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 300, execute: watchdog)
        started?(process)
        process.waitUntilExit()
        watchdog.cancel()
        try handle.close()
        return (process.terminationStatus, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

}

