import Foundation
import XCTest
@testable import train

final class OutputFileTests: XCTestCase {
    func testJSONOutputReplacesAnExistingFileAndLeavesNoTemporaryFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("out-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("metrics.json").path
        try writeJSON(["a": 1], to: path)
        try writeJSON(["a": 2], to: path)
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Int]
        XCTAssertEqual(object["a"], 2)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["metrics.json"])
        XCTAssertThrowsError(try writeJSON(["a": 3], to: "/nonexistent-dir/metrics.json")) {
            XCTAssertTrue("\($0)".contains("/nonexistent-dir/metrics.json"), "\($0)")
        }
    }
}
