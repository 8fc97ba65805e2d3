import ArgumentParser
import Foundation
import Matching
import Core

/// `train match`: minimum-cost assignments of cost matrices given as JSON.
struct Match: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Solve minimum-cost assignments (as scipy.optimize.linear_sum_assignment).",
        discussion: """
        COSTS.json is a list of {"cost": [[...], ...]} (rows x cols; a forbidden pair is null or "inf"; \
        other keys are ignored). OUT.json is a list of {"total_cost", "rows", "cols"}, rows ascending.
        """)

    @Option(help: "The cost matrices (JSON).") var costs: String
    @Option(help: "Write the assignments to this JSON file.") var json: String?

    func run() throws {
        let matrices = try Self.readCosts(costs)
        var results: [[String: Any]] = []
        for (k, m) in matrices.enumerated() {
            do {
                let a = try linearSumAssignment(m.values, rows: m.rows, cols: m.cols)
                results.append(["total_cost": a.totalCost, "rows": a.rows, "cols": a.cols])
                print("matrix \(k): \(m.rows)x\(m.cols), total cost \(a.totalCost)")
            } catch let error as AssignmentError {
                throw InputError(costs, "item \(k): \(error)")
            }
        }
        if let json { try AtomicFile.writeJSON(results, to: json) }
    }

    /// One matrix entry: a number, or a forbidden pair (`null` or `"inf"`).
    struct Entry: Decodable {
        let value: Double
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { value = .infinity; return }
            if let s = try? c.decode(String.self) {
                guard ["inf", "+inf", "infinity"].contains(s.lowercased()) else {
                    throw DecodingError.dataCorruptedError(in: c, debugDescription: "\"\(s)\" is not a number, null or \"inf\"")
                }
                value = .infinity
                return
            }
            value = try c.decode(Double.self)
        }
    }

    struct Item: Decodable { let cost: [[Entry]] }

    /// Parses COSTS.json; errors name the file and the item.
    static func readCosts(_ path: String) throws -> [(rows: Int, cols: Int, values: [Double])] {
        guard let data = FileManager.default.contents(atPath: path) else { throw InputError(path, "cannot read the file") }
        let items: [Item]
        do {
            items = try JSONDecoder().decode([Item].self, from: data)
        } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
            throw InputError(path, "\(describe(context.codingPath)): \(context.debugDescription)")
        } catch let DecodingError.typeMismatch(_, context) where !context.codingPath.isEmpty {
            throw InputError(path, "\(describe(context.codingPath)): \(context.debugDescription)")
        } catch let DecodingError.keyNotFound(key, context) {
            throw InputError(path, "\(describe(context.codingPath)): no \"\(key.stringValue)\" key")
        } catch {
            guard (try? JSONSerialization.jsonObject(with: data)) != nil else {
                throw InputError(path, "not valid JSON (NaN, Infinity and numbers beyond ±1.8e308 are not JSON: write a forbidden pair as null or \"inf\")")
            }
            throw InputError(path, "not a JSON list of {\"cost\": [[...]]} objects")
        }
        return try items.enumerated().map { k, item in
            let cols = item.cost.first?.count ?? 0
            if let bad = item.cost.firstIndex(where: { $0.count != cols }) {
                throw InputError(path, "item \(k): row \(bad) has \(item.cost[bad].count) entries, row 0 has \(cols)")
            }
            return (item.cost.count, cols, item.cost.flatMap { $0.map(\.value) })
        }
    }

    /// "item 3, row 1, entry 4" from a decoding path.
    static func describe(_ path: [CodingKey]) -> String {
        let indices = path.compactMap(\.intValue)
        let names = ["item", "row", "entry"]
        let parts = zip(names, indices).map { "\($0) \($1)" }
        return parts.isEmpty ? "top level" : parts.joined(separator: ", ")
    }
}
