import Autograd
import Targets
@testable import Trainer
import XCTest

/// Predictions over every training class at once, reported in one dataset's classes.
final class UnionPredictionTests: XCTestCase {
    /// Two datasets share "ball"; "sphere" is a synonym (cosine 0.8 with "ball"), "sky" is not.
    let space = UnifiedLabelSpace(datasets: [("p", ["ball", "grass"], [true, false], [1, 0, 0, 0, 1, 0]),
                                             ("s", ["ball", "sphere", "sky"], [true, true, false], [1, 0, 0, 0.8, 0, 0.6, 0, 0, 1])], dim: 3)

    func testClassesReportedAlikeHaveTheirProbabilitiesSummed() {
        // Concatenated: columns ball, grass, ball, sphere, sky, background.
        let logits = Tensor(shape: [1, 6], data: [1, 0, 1, 1, 2, 0.5])
        let p = withoutGrad { logits.softmax(axis: -1) }.data
        // Same names only: dataset p's ball = both balls; sphere and sky stay foreign.
        let names = space.unionMap(to: 0)
        XCTAssertEqual(names, [0, 1, 0, -1, -1])
        let reported = withoutGrad { reportedLogits(logits, map: names, classes: 2).softmax(axis: -1) }.data
        XCTAssertEqual(reported.count, 2 + 2 + 1)
        XCTAssertEqual(reported[0], p[0] + p[2], accuracy: 1e-6)   // ball + ball
        XCTAssertEqual(reported[1], p[1], accuracy: 1e-6)          // grass
        XCTAssertEqual(reported[2], p[3], accuracy: 1e-6)          // sphere, foreign
        XCTAssertEqual(reported[3], p[4], accuracy: 1e-6)          // sky, foreign
        XCTAssertEqual(reported[4], p[5], accuracy: 1e-6)          // background
        // With synonyms from cosine 0.75: sphere is reported as ball, sky stays foreign (cosine 0).
        let synonyms = space.unionMap(to: 0, minSimilarity: 0.75)
        XCTAssertEqual(synonyms, [0, 1, 0, 0, -1])
        let summed = withoutGrad { reportedLogits(logits, map: synonyms, classes: 2).softmax(axis: -1) }.data
        XCTAssertEqual(summed[0], p[0] + p[2] + p[3], accuracy: 1e-6)
        XCTAssertEqual(summed.count, 2 + 1 + 1)
    }

    /// `train predict` without a dataset: one class per name; the concatenated form's two "ball"
    /// columns are one class, the merged form's one column is that class.
    func testUnionClassesAreOnePerName() {
        let concatenated = PredictionClasses(unionOf: space)
        XCTAssertEqual(concatenated.names, ["ball", "grass", "sphere", "sky"])
        XCTAssertEqual(concatenated.reportedAs, [0, 1, 0, 2, 3])
        XCTAssertEqual(concatenated.embeddings.shape, [5, 3])
        let merged = PredictionClasses(unionOf: UnifiedLabelSpace(datasets: [("p", ["ball", "grass"], [true, false], [1, 0, 0, 0, 1, 0]),
                                                                             ("s", ["ball", "sky"], [true, false], [1, 0, 0, 0, 0, 1])],
                                                                  dim: 3, form: .merged))
        XCTAssertEqual(merged.names, ["ball", "grass", "sky"])
        XCTAssertEqual(merged.reportedAs, [0, 1, 2])
    }

    /// Learned merges (UniDet): a column merged with one of the dataset's is reported as it.
    func testMergedColumnsAreReportedAsTheirPartner() {
        // Columns: ball, grass, ball, sphere, sky. Merge sphere (3) with p's ball (0).
        XCTAssertEqual(space.unionMap(to: 0, merges: [(3, 0)]), [0, 1, 0, 0, -1])
        XCTAssertEqual(space.unionMap(to: 0, merges: [(0, 3)]), [0, 1, 0, 0, -1])
        // From s's side: p's grass merged with s's sky (column 4) is reported as sky.
        XCTAssertEqual(space.unionMap(to: 1, merges: [(1, 4)]), [0, 2, 0, 1, 2])
    }
}
