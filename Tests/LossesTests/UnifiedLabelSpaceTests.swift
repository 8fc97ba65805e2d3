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
        XCTAssertEqual(s.datasets.map(\.columns), [[0, 1], [2, 3, 4]])
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

    /// The merged form: "ball" of both datasets is one column (the first's embedding), synonyms
    /// and other classes stay apart; restrict gathers each dataset's columns in its class order.
    func testMergedFormSharesOneColumnPerName() {
        let s = UnifiedLabelSpace(datasets: [("p", ["ball", "grass"], [true, false], [1, 0, 0, 1]),
                                             ("s", ["lawn", " Ball", "sea"], [false, true, false], [0, 1, 1, 0, 0.6, 0.8])],
                                  dim: 2, form: .merged)
        XCTAssertEqual(s.count, 4)
        XCTAssertEqual(s.names, ["ball", "grass", "lawn", "sea"])
        XCTAssertEqual(s.isThing, [true, false, false, false])
        XCTAssertEqual(s.datasets.map(\.columns), [[0, 1], [2, 0, 3]])
        XCTAssertEqual(s.embeddings.data, [1, 0, 0, 1, 0, 1, 0.6, 0.8])
        XCTAssertEqual(s.unionMap(to: 1), [1, -1, 0, 2])
        XCTAssertEqual(s.unionMap(to: 0), [0, 1, -1, -1])
        XCTAssertEqual(s.similarity.count, 16)
        let logits = Tensor(shape: [1, 5], data: [10, 11, 12, 13, 14])
        XCTAssertEqual(s.restrict(logits, to: 1).data, [12, 10, 13, 14])
        XCTAssertEqual(s.restrict(logits, to: 0).data, [10, 11, 14])
        let x = param([2, 5], 2)
        checkGradients([x]) { (s.restrict($0[0], to: 1) * s.restrict($0[0], to: 1)).sum() }
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
