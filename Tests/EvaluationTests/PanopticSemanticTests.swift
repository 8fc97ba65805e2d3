import Foundation
import XCTest
import Images
@testable import Evaluation

final class PanopticSemanticTests: XCTestCase {
    let pan = fixtures.appendingPathComponent("panoptic")
    let sem = fixtures.appendingPathComponent("semantic")

    func testPanopticAgreesWithPanopticapi() throws {
        let m = try ScoreFiles.panoptic(gtJSON: pan.appendingPathComponent("gt.json").path, gtFolder: pan.appendingPathComponent("gt").path,
                                        predJSON: pan.appendingPathComponent("pred.json").path, predFolder: pan.appendingPathComponent("pred").path)
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("panoptic_expected.json"))) as! [String: Any]
        for (name, s) in [("All", m.all), ("Things", m.things), ("Stuff", m.stuff)] {
            let e = expected[name] as! [String: Any]
            XCTAssertEqual(s.pq, e["pq"] as! Double, accuracy: 1e-12, "\(name) PQ")
            XCTAssertEqual(s.sq, e["sq"] as! Double, accuracy: 1e-12, "\(name) SQ")
            XCTAssertEqual(s.rq, e["rq"] as! Double, accuracy: 1e-12, "\(name) RQ")
            XCTAssertEqual(s.n, e["n"] as! Int, name)
        }
        let perClass = expected["per_class"] as! [String: [String: Double]]
        XCTAssertEqual(m.perClass.count, perClass.count)
        for c in m.perClass {
            XCTAssertEqual(c.pq, perClass[String(c.id)]!["pq"]!, accuracy: 1e-12, "class \(c.id)")
            XCTAssertEqual(c.sq, perClass[String(c.id)]!["sq"]!, accuracy: 1e-12, "class \(c.id)")
        }
    }

    /// A 1 x 10 strip: segment ids per pixel.
    func map(_ ids: [UInt32], _ segments: [PanopticSegment]) -> PanopticMap {
        PanopticMap(width: ids.count, height: 1, ids: ids, segments: segments)
    }

    func testPanopticRulesByHand() throws {
        // Ground truth: thing 1 on pixels 0..<4, void 4..<6, crowd of class 1 on 6..<10.
        let gt = map([1, 1, 1, 1, 0, 0, 2, 2, 2, 2], [PanopticSegment(id: 1, categoryID: 1, area: 4),
                                                     PanopticSegment(id: 2, categoryID: 1, isCrowd: true, area: 4)])
        // Prediction: 7 covers 0..<5 (one pixel on void: removed from the union, IoU 4/4 = 1);
        // 8 covers 5..<10, all on void + crowd of its class: not a false positive.
        let pred = map([7, 7, 7, 7, 7, 8, 8, 8, 8, 8], [PanopticSegment(id: 7, categoryID: 1), PanopticSegment(id: 8, categoryID: 1)])
        var e = PanopticEvaluator(categories: [(1, true), (3, false)])
        try e.add(.init(imageID: 1, groundTruth: gt, prediction: pred))
        var m = e.summarize()
        XCTAssertEqual(m.all.pq, 1)
        XCTAssertEqual(m.all.n, 1, "class 3 does not occur and is left out")
        XCTAssertEqual(m.perClass.map(\.id), [1, 3])
        XCTAssertEqual(m.perClass[1].pq, 0)

        // The same prediction with class 3 for segment 8: no crowd of class 3 there, and only
        // 1 of its 5 pixels on void: a false positive. IoU exactly 0.5 does not match.
        e.reset()
        let half = map([7, 7, 7, 7, 9, 9, 9, 9, 0, 0], [PanopticSegment(id: 7, categoryID: 1), PanopticSegment(id: 9, categoryID: 3)])
        let gt2 = map([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], [PanopticSegment(id: 1, categoryID: 1, area: 8)])
        try e.add(.init(imageID: 2, groundTruth: gt2, prediction: half))
        m = e.summarize()
        XCTAssertEqual(m.perClass[0].rq, 0, "IoU 4/8 = 0.5 is not > 0.5: a false negative and a false positive")
        XCTAssertEqual(m.all.n, 2)
    }

    func testPanopticInputErrors() throws {
        var e = PanopticEvaluator(categories: [(1, true)])
        let gt = map([1, 1, 0], [PanopticSegment(id: 1, categoryID: 1, area: 2)])
        let cases: [(PanopticMap, String)] = [
            (map([5, 5, 0], []), "segment id 5 is in the predicted PNG and not in its JSON"),
            (map([5, 5, 0], [PanopticSegment(id: 5, categoryID: 1), PanopticSegment(id: 6, categoryID: 1)]), "segment id 6 is in the predicted JSON and not in its PNG"),
            (map([5, 5, 0], [PanopticSegment(id: 5, categoryID: 4)]), "unknown category_id 4"),
            (PanopticMap(width: 2, height: 1, ids: [5, 5], segments: [PanopticSegment(id: 5, categoryID: 1)]), "prediction is 2x1"),
        ]
        for (pred, message) in cases {
            XCTAssertThrowsError(try e.add(.init(imageID: 3, groundTruth: gt, prediction: pred))) {
                XCTAssertTrue("\($0)".contains(message) && "\($0)".contains("image 3"), "\($0) — expected \(message)")
            }
        }
        XCTAssertThrowsError(try e.add(.init(imageID: 4, groundTruth: map([1, 2, 0], [PanopticSegment(id: 1, categoryID: 1, area: 1)]),
                                             prediction: map([0, 0, 0], [])))) {
            XCTAssertTrue("\($0)".contains("segment id 2 is in the ground-truth PNG"), "\($0)")
        }
    }

    struct SemanticExpected: Decodable {
        struct M: Decodable { let aAcc: Double; let mIoU: Double; let mAcc: Double; let iou: [Double?]; let acc: [Double?] }
        struct D: Decodable { let aAcc: Double; let mIoU: Double; let mAcc: Double }
        let num_classes: Int
        let mmseg: M
        let detectron2: D
    }

    func testSemanticAgreesWithMmsegFormulas() throws {
        let e = try JSONDecoder().decode(SemanticExpected.self, from: Data(contentsOf: fixtures.appendingPathComponent("semantic_expected.json")))
        let (m, images) = try ScoreFiles.semantic(gtFolder: sem.appendingPathComponent("gt").path, predFolder: sem.appendingPathComponent("pred").path,
                                                  numClasses: e.num_classes)
        XCTAssertEqual(images, 5)
        XCTAssertEqual(m.aAcc, e.mmseg.aAcc, accuracy: 1e-12)
        XCTAssertEqual(m.mIoU, e.mmseg.mIoU, accuracy: 1e-12)
        XCTAssertEqual(m.mAcc, e.mmseg.mAcc, accuracy: 1e-12)
        XCTAssertEqual(m.iou.map { $0 == nil }, e.mmseg.iou.map { $0 == nil }, "NaN classes")
        for (a, b) in zip(m.iou, e.mmseg.iou) where a != nil { XCTAssertEqual(a!, b!, accuracy: 1e-12) }
        XCTAssertEqual(m.iou[3], 0, "predicted but never labelled: IoU 0, counted (mmseg)")
        XCTAssertNil(m.iou[5], "neither predicted nor labelled: left out")
        let (d, _) = try ScoreFiles.semantic(gtFolder: sem.appendingPathComponent("gt").path, predFolder: sem.appendingPathComponent("pred").path,
                                             numClasses: e.num_classes, style: .detectron2)
        XCTAssertEqual(d.mIoU, e.detectron2.mIoU, accuracy: 1e-12)
        XCTAssertEqual(d.mAcc, e.detectron2.mAcc, accuracy: 1e-12)
    }

    func testSemanticByHand() throws {
        var e = SemanticEvaluator(numClasses: 3)
        // Areas are summed over images, not averaged per image.
        try e.add(.init(prediction: [0, 0, 1, 1], label: [0, 1, 1, 255]))
        try e.add(.init(prediction: [2, 2], label: [2, 0]))
        let m = e.summarize()
        // class 0: inter 1, union 3; class 1: inter 1, union 2; class 2: inter 1, union 2.
        XCTAssertEqual(m.iou[0]!, 1.0 / 3.0, accuracy: 1e-15)
        XCTAssertEqual(m.iou[1]!, 0.5)
        XCTAssertEqual(m.aAcc, 3.0 / 5.0, accuracy: 1e-15)
        XCTAssertThrowsError(try e.add(.init(prediction: [0], label: [0, 1])))
    }

    func testPNGReadingModesAndErrors() throws {
        // The palette fixture reads as its indices, not as colours.
        let palette = try PNG.read(sem.appendingPathComponent("gt/002.png").path, mode: .labels)
        XCTAssertTrue(Set(palette.pixels).isSubset(of: [0, 1, 2, 4, 255]))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("png-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let rgb = Image8(width: 3, height: 2, channels: 3, pixels: (0..<18).map { UInt8($0 * 13) })
        let path = dir.appendingPathComponent("rgb.png").path
        try PNG.write(rgb, to: path)
        XCTAssertEqual(try PNG.read(path, mode: .rgb), rgb)
        XCTAssertThrowsError(try PNG.read(path, mode: .labels)) { XCTAssertTrue("\($0)".contains("single-channel"), "\($0)") }
        let gray = Image8(width: 4, height: 1, channels: 1, pixels: [0, 7, 255, 3])
        try PNG.write(gray, to: path)
        XCTAssertEqual(try PNG.read(path, mode: .labels), gray)
        XCTAssertThrowsError(try PNG.read(path, mode: .rgb)) { XCTAssertTrue("\($0)".contains("RGB PNG is expected"), "\($0)") }
        try "not a png".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PNG.read(path, mode: .rgb)) { XCTAssertTrue("\($0)".hasPrefix(path), "\($0)") }
    }
}
