import Foundation
import Models
import XCTest

/// The remembered sine position encodings: each size gets its own values (transposed sizes,
/// other feature counts, after the memory was emptied), each equal to the definition.
final class PositionEncodingTests: XCTestCase {
    /// Channel k of axis `axis` (0: y, 1: x) at (y, x), as the doc comment defines it, in Double.
    private func expected(_ k: Int, axis: Int, y: Int, x: Int, height: Int, width: Int, features: Int) -> Double {
        let (index, size) = axis == 0 ? (y, height) : (x, width)
        let pos = Double(index + 1) / (Double(size) + 1e-6) * 2 * Double.pi
        let angle = pos / pow(10000, Double(2 * (k / 2)) / Double(features))
        return k % 2 == 0 ? sin(angle) : cos(angle)
    }

    func testEverySizeGetsItsOwnValues() {
        var asked = [(3, 5, 8), (5, 3, 8), (3, 5, 4)]
        asked += (1...20).map { (2 + $0, 7, 8) }           // more sizes than are remembered
        asked += [(3, 5, 8), (5, 3, 8)]
        for (height, width, features) in asked {
            let values = sinePositionEncoding(height: height, width: width, features: features)
            XCTAssertEqual(values.count, 2 * features * height * width)
            for axis in 0..<2 {
                for k in 0..<features {
                    for y in 0..<height {
                        for x in 0..<width {
                            let v = Double(values[((axis * features + k) * height + y) * width + x])
                            XCTAssertEqual(v, expected(k, axis: axis, y: y, x: x, height: height, width: width, features: features),
                                           accuracy: 2e-5, "\(height) x \(width), \(features) features: axis \(axis), k \(k), (\(y), \(x))")
                        }
                    }
                }
            }
        }
    }
}
