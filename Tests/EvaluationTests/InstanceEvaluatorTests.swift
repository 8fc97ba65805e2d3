import Foundation
import XCTest
@testable import Evaluation
import COCOMask

final class InstanceEvaluatorTests: XCTestCase {
    struct Expected: Decodable {
        struct Result: Decodable { let stats: [Double]; let per_category: [String: Double] }
        let bbox: Result
        let segm: Result
    }

    func score(_ type: InstanceEvaluator.IoUType) throws -> InstanceMetrics {
        let truth = try COCOGroundTruth(path: fixtures.appendingPathComponent("coco_gt.json").path, withMasks: type == .segm)
        let results = try readCOCOResults(fixtures.appendingPathComponent("coco_results_\(type.rawValue).json").path,
                                          groundTruth: truth, iouType: type)
        var e = InstanceEvaluator(iouType: type, categoryIDs: truth.categoryIDs)
        // Images added in reverse order: the result must not depend on it.
        for id in truth.imageIDs.reversed() { e.add(imageID: id, groundTruth: truth.objects[id] ?? [], detections: results[id] ?? []) }
        return e.summarize()
    }

    func testAgreesWithPycocotools() throws {
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: fixtures.appendingPathComponent("coco_expected.json")))
        for (type, want) in [(InstanceEvaluator.IoUType.bbox, expected.bbox), (.segm, expected.segm)] {
            let m = try score(type)
            for (i, name) in InstanceMetrics.names.enumerated() {
                XCTAssertEqual(m.stats[i], want.stats[i], accuracy: 1e-12, "\(type) \(name)")
            }
            for (cat, ap) in want.per_category { XCTAssertEqual(m.perCategory[Int(cat)!]!, ap, accuracy: 1e-12, "\(type) category \(cat)") }
        }
    }

    func box(_ cat: Int, _ b: [Double], score: Double = 0, crowd: Bool = false) -> InstanceObject {
        InstanceObject(categoryID: cat, area: b[2] * b[3], box: b, isCrowd: crowd, score: score)
    }

    func testHandComputedCases() {
        // One perfect detection: AP 1 at every threshold; a class without ground truth is −1.
        var e = InstanceEvaluator(iouType: .bbox, categoryIDs: [1, 2])
        e.add(imageID: 1, groundTruth: [box(1, [10, 10, 50, 50])], detections: [box(1, [10, 10, 50, 50], score: 0.9)])
        var m = e.summarize()
        XCTAssertEqual(m.stats[0], 1, accuracy: 1e-12)   // precision is tp / (tp + fp + eps), as in the COCO API
        XCTAssertEqual(m.perCategory[2], -1)
        XCTAssertEqual(m.stats[3], -1, "no small ground truth: APs undefined")

        // The envelope: a false positive ranked first, then a true positive: precision at recall 1
        // is 1/2, made monotone, so every recall threshold reads 0.5.
        e = InstanceEvaluator(iouType: .bbox, categoryIDs: [1])
        e.add(imageID: 1, groundTruth: [box(1, [0, 0, 40, 40])],
              detections: [box(1, [100, 100, 40, 40], score: 0.9), box(1, [0, 0, 40, 40], score: 0.8)])
        m = e.summarize()
        XCTAssertEqual(m.stats[1], 0.5, accuracy: 1e-12)

        // A score tie is broken by order in the file: the first detection (a false positive)
        // ranks first, giving 0.5; swapped, the true positive ranks first, giving 1.
        for (first, expected) in [([150.0, 150, 40, 40], 0.5), ([0.0, 0, 40, 40], 1.0)] {
            e = InstanceEvaluator(iouType: .bbox, categoryIDs: [1])
            let other = first[0] == 0 ? [150.0, 150, 40, 40] : [0.0, 0, 40, 40]
            e.add(imageID: 1, groundTruth: [box(1, [0, 0, 40, 40])],
                  detections: [box(1, first, score: 0.7), box(1, other, score: 0.7)])
            XCTAssertEqual(e.summarize().stats[1], expected, accuracy: 1e-12)
        }

        // A detection on a crowd region is ignored, not a false positive.
        e = InstanceEvaluator(iouType: .bbox, categoryIDs: [1])
        e.add(imageID: 1, groundTruth: [box(1, [0, 0, 40, 40]), box(1, [100, 100, 80, 80], crowd: true)],
              detections: [box(1, [110, 110, 30, 30], score: 0.95), box(1, [0, 0, 40, 40], score: 0.5)])
        XCTAssertEqual(e.summarize().stats[1], 1, accuracy: 1e-12)

        // An image with detections and no ground truth counts its detections as false positives.
        e = InstanceEvaluator(iouType: .bbox, categoryIDs: [1])
        e.add(imageID: 1, groundTruth: [box(1, [0, 0, 40, 40])], detections: [box(1, [0, 0, 40, 40], score: 0.5)])
        e.add(imageID: 2, groundTruth: [], detections: [box(1, [0, 0, 40, 40], score: 0.9)])
        XCTAssertEqual(e.summarize().stats[1], 0.5, accuracy: 1e-12)
        e.reset()
        XCTAssertEqual(e.summarize().stats[0], -1, "nothing added: undefined")
    }

    func testSummaryLinesAreFormattedAsTheCOCOAPI() {
        let m = InstanceMetrics(stats: [0.5, 0.75, 0.25, -1, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], perCategory: [:])
        XCTAssertEqual(m.summaryLines[0], " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.500")
        XCTAssertEqual(m.summaryLines[1], " Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 0.750")
        XCTAssertEqual(m.summaryLines[3], " Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = -1.000")
        XCTAssertEqual(m.summaryLines[6], " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.300")
    }

    func testBadInputNamesTheFileAndTheItem() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("coco-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let gtPath = fixtures.appendingPathComponent("coco_gt.json").path
        let truth = try COCOGroundTruth(path: gtPath, withMasks: true)
        func results(_ text: String) throws -> String {
            let p = dir.appendingPathComponent(UUID().uuidString + ".json").path
            try text.write(toFile: p, atomically: true, encoding: .utf8)
            return p
        }
        let cases: [(String, InstanceEvaluator.IoUType, String)] = [
            (#"[{"image_id": 999, "category_id": 1, "bbox": [0,0,1,1], "score": 0.5}]"#, .bbox, "image_id 999 is not in the ground truth"),
            (#"[{"image_id": 10, "category_id": 4, "bbox": [0,0,1,1], "score": 0.5}]"#, .bbox, "result 0: unknown category_id 4"),
            (#"[{"image_id": 10, "category_id": 1, "bbox": [0,0,1], "score": 0.5}]"#, .bbox, "result 0: bbox must be"),
            (#"[{"image_id": 10, "category_id": 1, "score": 0.5}]"#, .segm, "result 0: no segmentation"),
            (#"[{"image_id": 10, "category_id": 1, "segmentation": {"size": [2, 2], "counts": "0"}, "score": 0.5}]"#, .segm, "RLE counts add up"),
            ("[{", .bbox, "malformed JSON"),
        ]
        for (text, type, expected) in cases {
            let p = try results(text)
            XCTAssertThrowsError(try readCOCOResults(p, groundTruth: truth, iouType: type)) { error in
                XCTAssertTrue("\(error)".hasPrefix(p) && "\(error)".contains(expected), "\(error) — expected '\(expected)'")
            }
        }
        XCTAssertThrowsError(try COCOGroundTruth(path: dir.appendingPathComponent("missing.json").path, withMasks: false)) {
            XCTAssertTrue("\($0)".contains("cannot read the file"))
        }
    }
}
