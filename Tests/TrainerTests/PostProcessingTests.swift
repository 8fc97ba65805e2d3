import XCTest
import Autograd
import Evaluation
@testable import Trainer

final class PostProcessingTests: XCTestCase {
    /// 3 queries, 2 classes (+ no-object), a 1x4 image.
    let logits = Tensor(shape: [3, 3], data: [
        10, 0, 0,     // query 0: class 0, sure
        0, 10, 0,     // query 1: class 1, sure
        0, 0, 10,     // query 2: no-object
    ])
    let masks = Tensor(shape: [3, 1, 4], data: [
        9, 9, -9, -9,       // query 0 covers pixels 0, 1
        -9, -9, 9, 9,       // query 1 covers pixels 2, 3
        9, 9, 9, 9,         // query 2 everywhere (but no-object)
    ])

    func testSemantic() {
        XCTAssertEqual(PostProcessing.semantic(logits: logits, masks: masks), [0, 0, 1, 1])
    }

    func testPanopticThresholdsAndStuffMerging() {
        let (ids, segments) = PostProcessing.panoptic(logits: logits, masks: masks, isThing: [true, false])
        XCTAssertEqual(ids, [1, 1, 2, 2])
        XCTAssertEqual(segments.map(\.categoryID), [0, 1])
        // Two stuff queries of class 1 merge into one segment.
        let two = Tensor(shape: [2, 3], data: [0, 10, 0, 0, 10, 0])
        let halves = Tensor(shape: [2, 1, 4], data: [9, 9, -9, -9, -9, -9, 9, 9])
        let merged = PostProcessing.panoptic(logits: two, masks: halves, isThing: [true, false])
        XCTAssertEqual(merged.ids, [1, 1, 1, 1])
        XCTAssertEqual(merged.segments.count, 1)
        // A query that keeps less than 0.8 of its own area is dropped; low scores are dropped.
        let overlapped = Tensor(shape: [2, 1, 4], data: [9, 9, 9, 9, 9, 9, 9, -9])
        let sure = Tensor(shape: [2, 3], data: [10, 0, 0, 0, 9, 0])
        XCTAssertEqual(PostProcessing.panoptic(logits: sure, masks: overlapped, isThing: [true, true]).segments.count, 1)
        let unsure = Tensor(shape: [1, 3], data: [1, 0.5, 0.5])
        XCTAssertTrue(PostProcessing.panoptic(logits: unsure, masks: Tensor(shape: [1, 1, 4], data: [9, 9, 9, 9]), isThing: [true, true]).segments.isEmpty)
    }

    func testInstancesRankByClassAndMaskScore() {
        let result = PostProcessing.instances(logits: logits, masks: masks, topK: 3)
        // The two sure pairs first; the third is the best of the near-zero ones (query 0 as
        // class 1: ties go to the lower query, then class). No-object is never a class.
        XCTAssertEqual(result.map(\.classID), [0, 1, 1])
        XCTAssertLessThan(result[2].score, 1e-3)
        XCTAssertEqual(result[0].box, [0, 0, 2, 1])
        XCTAssertEqual(result[0].mask, [1, 1, 0, 0])
        XCTAssertGreaterThan(result[0].score, 0.99)
        // Panoptic data keep only thing classes, filtered after the top-k (not refilled).
        let things = PostProcessing.instances(logits: logits, masks: masks, topK: 3, keepClass: { $0 == 1 })
        XCTAssertEqual(things.map(\.classID), [1, 1])
        XCTAssertEqual(things[0].mask, result[1].mask)
    }

    func testPanopticGroundTruthAsSemanticLabelsAndThingInstances() {
        // 2x3 map: stuff segment 1 (class 0), thing 5 (class 1), crowd thing 7 (class 1), void.
        let map = PanopticMap(width: 3, height: 2, ids: [1, 1, 5, 0, 7, 5], segments: [
            PanopticSegment(id: 1, categoryID: 0, area: 2), PanopticSegment(id: 5, categoryID: 1, area: 2),
            PanopticSegment(id: 7, categoryID: 1, isCrowd: true, area: 1),
        ])
        XCTAssertEqual(TrainingRun.semanticLabel(of: map, ignore: 255), [0, 0, 1, 255, 255, 1])
        let things = TrainingRun.thingInstances(of: map, isThing: [false, true])
        XCTAssertEqual(things.map(\.categoryID), [1, 1])
        XCTAssertEqual(things.map(\.isCrowd), [false, true])
        XCTAssertEqual(things[0].box, [2, 0, 1, 2])
        XCTAssertEqual(things[0].area, 2)
        XCTAssertEqual(things[1].mask?.area, 1)
    }
}
