import XCTest
import Autograd
import Core
import TestSupport
import Targets

final class UnifiedLabelSpaceTests: XCTestCase {
    func space() -> UnifiedLabelSpace {
        UnifiedLabelSpace(datasets: [("p", ["ball", "grass"], [true, false], [1, 0, 0, 1]),
                                     ("s", ["lawn", "ball", "sea"], [false, true, false], [0, 1, 1, 0, 0.6, 0.8])], dim: 2)
    }

    func testColumnsOffsetsAndUnionMap() {
        let s = space()
        XCTAssertEqual(s.count, 5)
        XCTAssertEqual(s.names, ["ball", "grass", "lawn", "ball", "sea"])
        XCTAssertEqual(s.datasets.map(\.offset), [0, 2])
        XCTAssertEqual(s.datasets[1].columns, 2..<5)
        XCTAssertEqual(s.index(of: "s"), 1)
        // Dataset s's view: its own classes, the panoptic "ball" as its "ball", "grass" foreign.
        XCTAssertEqual(s.unionMap(to: 1), [1, -1, 0, 1, 2])
        XCTAssertEqual(s.unionMap(to: 0), [0, 1, -1, 0, -1])
        XCTAssertEqual(s.embeddings.shape, [5, 2])
        // Cosine similarities of the (already unit) rows.
        XCTAssertEqual(s.similarity[0 * 5 + 0], 1, accuracy: 1e-6)
        XCTAssertEqual(s.similarity[0 * 5 + 3], 1, accuracy: 1e-6)
        XCTAssertEqual(s.similarity[1 * 5 + 4], 0.8, accuracy: 1e-6)
    }

    func testRestrictKeepsTheDatasetsColumnsAndTheBackground() {
        let s = space()
        let logits = Tensor(shape: [1, 2, 6], data: (0..<12).map(Float.init))
        XCTAssertEqual(s.restrict(logits, to: 1).shape, [1, 2, 4])
        XCTAssertEqual(s.restrict(logits, to: 1).data, [2, 3, 4, 5, 8, 9, 10, 11])
        XCTAssertEqual(s.restrict(logits, to: 0).data, [0, 1, 5, 6, 7, 11])
        let x = param([2, 6], 1)
        checkGradients([x]) { (s.restrict($0[0], to: 1) * s.restrict($0[0], to: 1)).sum() }
    }
}
