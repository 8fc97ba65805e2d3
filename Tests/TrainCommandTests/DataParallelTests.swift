import Foundation
import XCTest

/// Data-parallel training and evaluation under Open MPI's real `mpirun`, against one process:
/// the built `train` on the small synthetic world with a tiny model. Skipped where `mpirun` is
/// missing (`scripts/setup.sh` installs it).
final class DataParallelTests: TrainBinaryTestCase {
    override func setUpWithError() throws {
        guard Self.mpirun != nil else { throw XCTSkip("no mpirun on PATH (apt-get install openmpi-bin libopenmpi-dev)") }
        try super.setUpWithError()
    }

    /// `metrics.jsonl` of a run: total loss by iteration (the last line of each), and the evaluation lines.
    func metrics(_ output: String) throws -> (losses: [Int: Double], evaluations: [[String: Double]]) {
        var losses: [Int: Double] = [:], evaluations: [[String: Double]] = []
        let text = try String(contentsOfFile: (output as NSString).appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        for line in text.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            if let loss = object["total_loss"] as? Double { losses[object["iteration"] as! Int] = loss } else {
                evaluations.append(object.compactMapValues { $0 as? Double })
            }
        }
        return (losses, evaluations)
    }

    func testTwoProcessesTrainLikeOneAndReproduceThemselves() throws {
        let config = try config(iterations: 10)
        var (status, output) = try run(["--config", config, "--output", path("one")])
        XCTAssertEqual(status, 0, output)
        (status, output) = try run(["--config", config, "--output", path("two")], processes: 2)
        XCTAssertEqual(status, 0, output)
        (status, output) = try run(["--config", config, "--output", path("again")], processes: 2)
        XCTAssertEqual(status, 0, output)
        let one = try metrics(path("one")), two = try metrics(path("two")), again = try metrics(path("again"))
        XCTAssertEqual(one.losses.keys.sorted(), Array(0..<10))
        XCTAssertEqual(two.losses.keys.sorted(), Array(0..<10))
        for i in 0..<10 {
            let (a, b) = (one.losses[i]!, two.losses[i]!)
            XCTAssertEqual(a, b, accuracy: 1e-5 * abs(a), "iteration \(i): one process \(a), two \(b)")
        }
        XCTAssertEqual(two.losses, again.losses, "two runs of two processes: bit-identical losses")
        XCTAssertEqual(one.evaluations, two.evaluations, "the final evaluation (3 images over 2 processes)")
        // Rank 1 logs to its own file; rank 0 alone writes the run's files. The parameters were
        // compared across the processes after every step (log_period 1): a difference stops the run.
        let rank1 = try String(contentsOfFile: path("two/log.rank1"), encoding: .utf8)
        XCTAssertTrue(rank1.contains("iter 9"), rank1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("two/model_final.h5")))
    }

    func testAKilledProcessStopsTheRunAndResumeContinuesExactly() throws {
        let config = try config(iterations: 30)
        var (status, output) = try run(["--config", config, "--output", path("straight")], processes: 2)
        XCTAssertEqual(status, 0, output)
        // Kill rank 1 (SIGKILL) once the first checkpoint is on disk.
        let killed = path("killed")
        (status, output) = try run(["--config", config, "--output", killed], processes: 2) { _ in
            let deadline = Date().addingTimeInterval(120)
            while !FileManager.default.fileExists(atPath: (killed as NSString).appendingPathComponent("last_checkpoint")) && Date() < deadline {
                usleep(20_000)
            }
            if let pid = Self.trainProcess(rank: 1, output: killed) { kill(pid, SIGKILL) }
        }
        XCTAssertNotEqual(status, 0, "mpirun must fail when a process is killed: \(output)")
        (status, output) = try run(["--config", config, "--output", killed, "--resume"], processes: 2)
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("resumed from"), output)
        let straight = try metrics(path("straight")).losses, resumed = try metrics(killed).losses
        XCTAssertEqual(resumed.keys.sorted(), Array(0..<30))
        XCTAssertEqual(resumed, straight, "the resumed run's losses are the uninterrupted run's")
    }

    /// Errors stop every process at once (the others are not left waiting in a collective):
    /// a batch that does not split, a folder that holds another run.
    func testErrorsStopTheWholeJob() throws {
        let config = try config(iterations: 2)
        var (status, output) = try run(["--config", config, "--output", path("odd"), "--set", "solver.ims_per_batch=3"], processes: 2)
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("Error: solver.ims_per_batch: 3 images per (global) batch cannot be split evenly over 2 processes"), output)
        (status, output) = try run(["--config", config, "--output", path("used")], processes: 2)
        XCTAssertEqual(status, 0, output)
        let start = Date()
        (status, output) = try run(["--config", config, "--output", path("used")], processes: 2)
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("holds another run"), output)
        XCTAssertLessThan(Date().timeIntervalSince(start), 60, "the job must end, not hang")
    }

    func testDistributedEvaluationEqualsOneProcess() throws {
        let config = try config(iterations: 2)
        var (status, output) = try run(["--config", config, "--output", path("model")])
        XCTAssertEqual(status, 0, output)
        let checkpoint = path("model/model_final.h5")
        (status, output) = try run(["evaluate", "--config", config, "--checkpoint", checkpoint, "--max-images", "5", "--json", path("one.json")])
        XCTAssertEqual(status, 0, output)
        (status, output) = try run(["evaluate", "--config", config, "--checkpoint", checkpoint, "--max-images", "5", "--json", path("two.json")],
                                   processes: 2)
        XCTAssertEqual(status, 0, output)
        let one = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("one.json")))) as! NSDictionary
        let two = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("two.json")))) as! NSDictionary
        XCTAssertEqual(one, two)
        XCTAssertEqual(Set(one.allKeys as! [String]), ["synth_panoptic", "synth_semantic", "synth_detection"])
    }

    /// The pid of the `train` process of MPI rank `rank` writing to `output`.
    static func trainProcess(rank: Int, output: String) -> pid_t? {
        guard let pids = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for name in pids {
            guard let pid = pid_t(name),
                  let command = FileManager.default.contents(atPath: "/proc/\(name)/cmdline"),
                  let environment = FileManager.default.contents(atPath: "/proc/\(name)/environ") else { continue }
            let arguments = command.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            let variables = environment.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if arguments.first?.hasSuffix("/train") == true, arguments.contains(output), variables.contains("OMPI_COMM_WORLD_RANK=\(rank)") {
                return pid
            }
        }
        return nil
    }
}
