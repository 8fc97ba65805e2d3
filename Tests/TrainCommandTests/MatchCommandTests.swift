import Foundation
import XCTest
@testable import train

final class MatchCommandTests: XCTestCase {
    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("costs-\(UUID().uuidString).json").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testReadsNumbersNullAndInf() throws {
        let path = try write(#"[{"cost": [[1, null, 3], [null, 2.5, "inf"]], "note": "ignored"}]"#)
        let m = try Match.readCosts(path)
        XCTAssertEqual(m.count, 1)
        XCTAssertEqual(m[0].rows, 2)
        XCTAssertEqual(m[0].cols, 3)
        XCTAssertEqual(m[0].values, [1, .infinity, 3, .infinity, 2.5, .infinity])
    }

    func testErrorsNameTheFileAndTheItem() throws {
        let cases = [
            (#"[{"cost": [[1, 2]]}, {"cost": [[1, "x"]]}]"#, "item 1, row 0, entry 1"),
            (#"[{"cost": [[1, 2], [3]]}]"#, "item 0: row 1 has 1 entries"),
            (#"[{"costs": [[1]]}]"#, "no \"cost\" key"),
            (#"{"cost": [[1]]}"#, "not a JSON list"),
            ("not json", "not valid JSON"),
            (#"[{"cost": [[1, NaN]]}]"#, "not valid JSON (NaN"),
            (#"[{"cost": [[1, 1e400]]}]"#, "numbers beyond ±1.8e308"),
        ]
        for (text, expected) in cases {
            let path = try write(text)
            XCTAssertThrowsError(try Match.readCosts(path)) { error in
                XCTAssertTrue("\(error)".contains(path) && "\(error)".contains(expected), "\(error) should name \(expected)")
            }
        }
        XCTAssertThrowsError(try Match.readCosts("/nonexistent/costs.json")) {
            XCTAssertTrue("\($0)".contains("cannot read"), "\($0)")
        }
    }
}
