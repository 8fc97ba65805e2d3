import COCOMask
import Images
import XCTest
@testable import Evaluation

/// Class-agnostic (entity) scoring: right masks under wrong names score 0 class-aware and
/// full marks class-agnostic.
final class ClassAgnosticEvaluatorTests: XCTestCase {
    func testWrongNamesRightMasks() throws {
        let categories = EvaluationCategories(names: ["ball", "grass"], isThing: [true, false], sourceIDs: [1, 2])
        // 4x4: the left half segment 1, the right half segment 2.
        let ids: [UInt32] = (0..<16).map { $0 % 4 < 2 ? 1 : 2 }
        let truth = PanopticMap(width: 4, height: 4, ids: ids, segments: [PanopticSegment(id: 1, categoryID: 0, area: 8),
                                                                            PanopticSegment(id: 2, categoryID: 1, area: 8)])
        let swapped = PanopticMap(width: 4, height: 4, ids: ids, segments: [PanopticSegment(id: 1, categoryID: 1), PanopticSegment(id: 2, categoryID: 0)])
        let mask = RLE(rowMajor: (0..<16).map { $0 % 4 < 2 ? 1 : 0 }, height: 4, width: 4)
        let truthObject = InstanceObject(categoryID: 0, area: 8, box: [0, 0, 2, 4], mask: mask, isCrowd: false)
        var detection = InstanceObject(categoryID: 1, area: 8, box: [0, 0, 2, 4], mask: mask, score: 0.9)
        detection.area = 8
        let image = EvaluatedImage(imageID: 0, image: Image8(width: 4, height: 4, channels: 3, pixels: [UInt8](repeating: 0, count: 48)),
                                   groundTruth: ImageAnnotations(panoptic: truth, instances: [truthObject]),
                                   prediction: ImageAnnotations(panoptic: swapped, instances: [detection]))
        let all = DatasetEvaluators([PanopticQualityEvaluator(categories: categories), COCOEvaluator(iouType: .segm, categories: categories),
                                     ClassAgnosticEvaluator(PanopticQualityEvaluator(categories: ClassAgnosticEvaluator.entity)),
                                     ClassAgnosticEvaluator(COCOEvaluator(iouType: .segm, categories: ClassAgnosticEvaluator.entity))])
        try all.process(image)
        let metrics = try all.evaluate()
        XCTAssertEqual(metrics["panoptic/PQ"]!, 0, accuracy: 1e-12)
        XCTAssertEqual(metrics["panoptic/PQ-ball"], 0)        // per class: both occur, neither matched
        XCTAssertEqual(metrics["panoptic/PQ-grass"], 0)
        XCTAssertEqual(metrics["panoptic_agnostic/PQ"]!, 1, accuracy: 1e-12)
        XCTAssertEqual(metrics["panoptic_agnostic/PQ-entity"]!, 1, accuracy: 1e-12)
        XCTAssertEqual(metrics["panoptic_agnostic/PQ_st"], -1)   // no stuff category: undefined
        XCTAssertEqual(metrics["segm/AP"]!, 0, accuracy: 1e-12)
        XCTAssertEqual(metrics["segm_agnostic/AP"]!, 1, accuracy: 1e-12)
    }
}
