import XCTest
import Autograd
@testable import Models

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
        XCTAssertEqual(segments.map(\.classID), [0, 1])
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
}
