import ArgumentParser
import Foundation
import XCTest
@testable import train

/// The command line as users meet it: the help of every command, pinned (a change to an option
/// shows up here and in review), and errors printed once, by the root, as `Error: <where>: <what>`.
final class CommandLineTests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/help.txt")

    /// Every command's path below the root, depth first.
    func commands(_ command: ParsableCommand.Type, path: [ParsableCommand.Type] = []) -> [[ParsableCommand.Type]] {
        let here = path + [command]
        return [here] + command.configuration.subcommands.flatMap { commands($0, path: here) }
    }

    func testHelpOfEveryCommandIsPinned() throws {
        var text = ""
        for path in commands(Train.self) {
            let name = path.map { $0._commandName }.joined(separator: " ")
            text += "==== \(name)\n" + Train.helpMessage(for: path.last!, columns: 100) + "\n"
        }
        if ProcessInfo.processInfo.environment["UNISEG_UPDATE_HELP"] == "1" {
            try text.write(to: Self.fixture, atomically: true, encoding: .utf8)
        }
        let pinned = try String(contentsOf: Self.fixture, encoding: .utf8)
        XCTAssertEqual(text, pinned, "the help changed: review it, then UNISEG_UPDATE_HELP=1 swift test --filter CommandLineTests")
        XCTAssertTrue(text.contains("==== train bench step") && text.contains("==== train evaluate"))
    }

    /// Runs the built `train` with `arguments`; returns the exit status and standard error.
    func train(_ arguments: [String]) throws -> (status: Int32, stderr: String) {
        let binary = Bundle.main.bundleURL.appendingPathComponent("train")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else { throw XCTSkip("no train binary at \(binary.path)") }
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func testErrorsArePrintedOnceNamingWhereAndWhat() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let config = dir.appendingPathComponent("bad.yaml").path
        try "solver:\n  base_lrr: 1\n".write(toFile: config, atomically: true, encoding: .utf8)
        for (arguments, expected) in [
            (["--config", config], "Error: \(config): solver.base_lrr: unknown key (did you mean 'solver.base_lr'?)"),
            (["evaluate", "--config", config, "--checkpoint", "x.h5"], "Error: \(config): solver.base_lrr: unknown key"),
            (["bench", "step", "--config", config], "Error: \(config): solver.base_lrr: unknown key"),
            (["--config", dir.appendingPathComponent("missing.yaml").path], "Error: \(dir.appendingPathComponent("missing.yaml").path): cannot read the file"),
            (["score", "semantic", "--gt-folder", dir.path, "--pred-folder", dir.path, "--num-classes", "3"], "Error: \(dir.path): no PNG label maps"),
        ] {
            let (status, stderr) = try train(arguments)
            XCTAssertEqual(status, 1, "\(arguments): \(stderr)")
            XCTAssertTrue(stderr.hasPrefix(expected), "\(arguments): \(stderr)")
            XCTAssertEqual(stderr.components(separatedBy: "Error:").count, 2, "printed once: \(stderr)")
            XCTAssertFalse(stderr.contains("Usage:"), "no usage text for a failure of the work: \(stderr)")
        }
    }
}
