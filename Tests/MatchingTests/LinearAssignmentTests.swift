import Foundation
import XCTest
@testable import Matching
import Autograd
import Core

final class LinearAssignmentTests: XCTestCase {
    /// The best total over every assignment of min(rows, cols) pairs, by enumeration.
    func bruteForce(_ cost: [Double], rows: Int, cols: Int) -> Double? {
        let transposed = rows > cols
        let (nr, nc) = transposed ? (cols, rows) : (rows, cols)
        func at(_ r: Int, _ c: Int) -> Double { transposed ? cost[c * cols + r] : cost[r * cols + c] }
        var best: Double? = nil
        var used = [Bool](repeating: false, count: nc)
        func go(_ r: Int, _ acc: Double) {
            if r == nr { if acc.isFinite, best == nil || acc < best! { best = acc }; return }
            for c in 0..<nc where !used[c] {
                used[c] = true
                go(r + 1, acc + at(r, c))
                used[c] = false
            }
        }
        go(0, 0)
        return best
    }

    func testAgreesWithBruteForce() throws {
        var rng = SeededRNG(seed: 3)
        for trial in 0..<400 {
            // Up to 6 x 6, then a few rows against 9-13 columns (more than one of the solver's
            // 8-column chunks), both ways.
            var (rows, cols) = (1 + rng.nextInt(below: 6), 1 + rng.nextInt(below: 6))
            if trial >= 300 { (rows, cols) = (1 + rng.nextInt(below: 3), 9 + rng.nextInt(below: 5)) }
            if trial >= 350 { (rows, cols) = (cols, rows) }
            let ties = trial % 3 == 0
            var cost = (0..<(rows * cols)).map { _ in ties ? Double(rng.nextInt(below: 3)) : Double(rng.nextUniform() * 10 - 3) }
            if trial % 5 == 0 { for k in cost.indices where rng.nextUniform() < 0.3 { cost[k] = .infinity } }
            let expected = bruteForce(cost, rows: rows, cols: cols)
            do {
                let a = try linearSumAssignment(cost, rows: rows, cols: cols)
                let e = try XCTUnwrap(expected, "solver found an assignment where none exists: \(cost)")
                XCTAssertEqual(a.totalCost, e, accuracy: 1e-9, "trial \(trial) \(rows)x\(cols)")
                XCTAssertEqual(a.rows.count, min(rows, cols))
                XCTAssertEqual(Set(a.rows).count, a.rows.count)
                XCTAssertEqual(Set(a.cols).count, a.cols.count)
                XCTAssertEqual(a.rows, a.rows.sorted())
            } catch AssignmentError.infeasible {
                XCTAssertNil(expected, "trial \(trial): infeasible reported, but brute force found \(expected!)")
            }
        }
    }

    struct Fixture: Decodable {
        struct Case: Decodable {
            let name: String
            let cost: [[Entry]]
            let total_cost: Double?
            let rows: [Int]?
            let cols: [Int]?
            let error: String?
        }
        enum Entry: Decodable {
            case value(Double)
            init(from decoder: Decoder) throws {
                let c = try decoder.singleValueContainer()
                if let d = try? c.decode(Double.self) { self = .value(d) } else {
                    let s = try c.decode(String.self)
                    guard s == "inf" else { throw DecodingError.dataCorruptedError(in: c, debugDescription: s) }
                    self = .value(.infinity)
                }
            }
            var double: Double { if case .value(let d) = self { return d }; return .nan }
        }
        let cases: [Case]
    }

    func testAgreesWithScipy() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/scipy_assignments.json")
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        XCTAssertGreaterThan(fixture.cases.count, 10)
        for c in fixture.cases {
            let rows = c.cost.count, cols = c.cost.first?.count ?? 0
            let flat = c.cost.flatMap { $0.map(\.double) }
            if c.error != nil {
                XCTAssertThrowsError(try linearSumAssignment(flat, rows: rows, cols: cols), c.name) {
                    XCTAssertEqual($0 as? AssignmentError, .infeasible)
                }
                continue
            }
            let a = try linearSumAssignment(flat, rows: rows, cols: cols)
            XCTAssertEqual(a.totalCost, c.total_cost!, accuracy: 1e-9 * max(1, abs(c.total_cost!)), c.name)
            XCTAssertEqual(a.rows, c.rows!, c.name)
            XCTAssertEqual(a.cols, c.cols!, "\(c.name): same tie-breaking as scipy")
        }
    }

    func testInvalidEntriesAndEmptyMatrices() throws {
        XCTAssertThrowsError(try linearSumAssignment([1, .nan, 2, 3], rows: 2, cols: 2)) {
            guard case .invalidEntry(row: 0, col: 1, let v)? = $0 as? AssignmentError, v.isNaN else { return XCTFail("\($0)") }
            XCTAssertTrue("\($0)".contains("(0, 1)"), "\($0)")
        }
        XCTAssertThrowsError(try linearSumAssignment([1, 2, -.infinity, 3], rows: 2, cols: 2))
        XCTAssertEqual(try linearSumAssignment([], rows: 0, cols: 4), Assignment(rows: [], cols: [], totalCost: 0))
        let a = try linearSumAssignment([4, 1, 3, 2, 0, 5, 3, 2, 2], rows: 3, cols: 3)
        XCTAssertEqual(a.cols, [1, 0, 2])
        XCTAssertEqual(a.totalCost, 5)
    }
}
