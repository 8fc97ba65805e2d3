import Foundation
import XCTest
@testable import Core

final class AtomicFileTests: XCTestCase {
    func folder() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func testJSONOutputReplacesAnExistingFileAndLeavesNoTemporaryFile() throws {
        let dir = try folder()
        let path = (dir as NSString).appendingPathComponent("metrics.json")
        try AtomicFile.writeJSON(["a": 1], to: path)
        try AtomicFile.writeJSON(["a": 2], to: path)
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Int]
        XCTAssertEqual(object["a"], 2)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["metrics.json"])
        XCTAssertThrowsError(try AtomicFile.writeJSON(["a": 3], to: "/nonexistent-dir/metrics.json")) {
            XCTAssertTrue("\($0)".contains("/nonexistent-dir/metrics.json"), "\($0)")
        }
    }

    func testAFailedWriteKeepsTheOldFileAndRemovesItsTemporaryFile() throws {
        let dir = try folder()
        let path = (dir as NSString).appendingPathComponent("a.txt")
        try AtomicFile.write("old", to: path)
        struct Stop: Error {}
        XCTAssertThrowsError(try AtomicFile.write(to: path) { tmp in
            try "half".write(toFile: tmp, atomically: false, encoding: .utf8)
            throw Stop()
        })
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "old")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["a.txt"])
    }

    func testLeftoversOfDeadProcessesAreRemovedOthersKept() throws {
        let dir = try folder()
        // A pid that cannot be running (above the kernel's maximum), ours, and ordinary files.
        let dead = ".model_0000099.h5.tmp-2147483646", ours = ".x.h5.tmp-\(getpid())"
        for name in [dead, ours, "model_0000099.h5", ".hidden"] {
            FileManager.default.createFile(atPath: (dir as NSString).appendingPathComponent(name), contents: Data([1]))
        }
        XCTAssertEqual(AtomicFile.removeLeftovers(in: dir), [dead])
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)), [ours, "model_0000099.h5", ".hidden"])
    }
}

final class NearestNameTests: XCTestCase {
    func testSuggestsCloseNamesOnly() {
        XCTAssertEqual(nearestName("base_lrr", in: ["base_lr", "max_iter"]), "base_lr")
        XCTAssertNil(nearestName("completely_else", in: ["base_lr", "max_iter"]))
        XCTAssertEqual(InputError("f.yaml", "broken").description, "f.yaml: broken")
        XCTAssertEqual(InputError("", "broken").description, "broken")
    }
}
