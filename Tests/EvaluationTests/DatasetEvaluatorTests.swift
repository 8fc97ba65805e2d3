import XCTest
import COCOMask
import Images
@testable import Evaluation

final class DatasetEvaluatorTests: XCTestCase {
    func testPanopticGroundTruthAsSemanticLabelsAndThingInstances() {
        // 2x3 map: stuff segment 1 (class 0), thing 5 (class 1), crowd thing 7 (class 1), void.
        let map = PanopticMap(width: 3, height: 2, ids: [1, 1, 5, 0, 7, 5], segments: [
            PanopticSegment(id: 1, categoryID: 0, area: 2), PanopticSegment(id: 5, categoryID: 1, area: 2),
            PanopticSegment(id: 7, categoryID: 1, isCrowd: true, area: 1),
        ])
        XCTAssertEqual(map.semanticLabels(ignore: 255), [0, 0, 1, 255, 255, 1])
        let things = map.thingInstances(isThing: [false, true])
        XCTAssertEqual(things.map(\.categoryID), [1, 1])
        XCTAssertEqual(things.map(\.isCrowd), [false, true])
        XCTAssertEqual(things[0].box, [2, 0, 1, 2])
        XCTAssertEqual(things[0].area, 2)
        XCTAssertEqual(things[1].mask?.area, 1)
    }
}

final class DatasetEvaluatorsTests: XCTestCase {
    let categories = EvaluationCategories(names: ["sky", "grass"], isThing: [false, false], sourceIDs: [7, 9])

    func testCompositeJoinsMetricsAndRefusesDuplicateKeys() throws {
        let image = EvaluatedImage(imageID: 0, image: Image8(width: 2, height: 1, channels: 3, pixels: [0, 0, 0, 0, 0, 0]),
                                   groundTruth: ImageAnnotations(semantic: [0, 1]), prediction: ImageAnnotations(semantic: [0, 0]))
        let one = DatasetEvaluators([SemanticSegmentationEvaluator(categories: categories)])
        try one.process(image)
        let metrics = try one.evaluate()
        XCTAssertEqual(metrics["semantic/mIoU"] ?? -1, (1.0 / 2 + 0) / 2, accuracy: 1e-12)
        XCTAssertEqual(metrics["semantic/IoU-sky"] ?? -1, 0.5, accuracy: 1e-12)
        XCTAssertEqual(metrics["semantic/aAcc"] ?? -1, 0.5, accuracy: 1e-12)
        let twice = DatasetEvaluators([SemanticSegmentationEvaluator(categories: categories), SemanticSegmentationEvaluator(categories: categories)])
        try twice.process(image)
        XCTAssertThrowsError(try twice.evaluate()) { XCTAssertTrue("\($0)".contains("semantic/"), "\($0)") }
        // reset forgets what was processed.
        one.reset()
        try one.process(EvaluatedImage(imageID: 1, image: image.image, groundTruth: ImageAnnotations(semantic: [0, 1]),
                                       prediction: ImageAnnotations(semantic: [0, 1])))
        XCTAssertEqual(try one.evaluate()["semantic/mIoU"], 1)
    }

    func testBoxesAndMasksAreScoredByTheIoUType() throws {
        // A detection with the ground truth's box but a one-pixel mask: a perfect box, a wrong mask.
        var mask = [UInt8](repeating: 0, count: 100 * 100)
        mask[0] = 1
        let det = InstanceObject(categoryID: 0, area: 0, box: [0, 0, 40, 40], mask: RLE(rowMajor: mask, height: 100, width: 100), score: 0.9)
        let gt = InstanceObject(categoryID: 0, area: 1600, box: [0, 0, 40, 40], mask: RLE(box: [0, 0, 40, 40], height: 100, width: 100))
        let image = EvaluatedImage(imageID: 0, image: Image8(width: 100, height: 100, channels: 3, pixels: [UInt8](repeating: 0, count: 30000)),
                                   groundTruth: ImageAnnotations(instances: [gt]), prediction: ImageAnnotations(instances: [det]))
        let things = EvaluationCategories(names: ["ball"], isThing: [true], sourceIDs: [1])
        let boxes = COCOEvaluator(iouType: .bbox, categories: things), masks = COCOEvaluator(iouType: .segm, categories: things)
        try boxes.process(image)
        try masks.process(image)
        let b = try boxes.evaluate(), m = try masks.evaluate()
        XCTAssertEqual(b["bbox/AP"] ?? -1, 1, accuracy: 1e-12)
        XCTAssertEqual(b["bbox/AP-ball"] ?? -1, 1, accuracy: 1e-12)
        XCTAssertEqual(m["segm/AP"] ?? -1, 0, accuracy: 1e-12)
        XCTAssertEqual(b.count, 12 + 1, "12 summary numbers and AP-ball")
    }
}
