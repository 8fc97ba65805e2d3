import Foundation
import XCTest
@testable import Evaluation
import COCOMask

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

/// The COCO mask API against pycocotools (`Fixtures/make_coco_fixtures.py`).
final class MaskAPITests: XCTestCase {
    struct Fixture: Decodable {
        let height: Int, width: Int
        let polygons: [[[Double]]]
        let boxes: [[Double]]
        let counts: [String]
        let areas: [Int]
        let bboxes: [[Double]]
        let crowd: [Int]
        let ious: [[Double]]
        let union_of_first_5: String
        let intersection_of_first_2: String
        let decoded_first: [UInt8]
    }

    func testAgreesWithPycocotools() throws {
        let f = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: fixtures.appendingPathComponent("mask_api.json")))
        let rles = f.polygons.map { parts in RLE.merge(parts.map { RLE(polygon: $0, height: f.height, width: f.width) }) }
            + f.boxes.map { RLE(box: $0, height: f.height, width: f.width) }
        XCTAssertEqual(rles.count, f.counts.count)
        for (i, rle) in rles.enumerated() {
            XCTAssertEqual(rle.compressedString, f.counts[i], "rasterisation of shape \(i)")
            XCTAssertEqual(RLE(compressed: f.counts[i], height: f.height, width: f.width), rle, "decoding counts \(i)")
            XCTAssertEqual(rle.area, f.areas[i], "area \(i)")
            XCTAssertEqual(rle.boundingBox, f.bboxes[i], "bbox \(i)")
        }
        for d in rles.indices {
            for g in rles.indices {
                let iou = maskIoU(rles[d], rles[g], crowd: f.crowd[g] != 0, dBox: rles[d].boundingBox, gBox: rles[g].boundingBox)
                XCTAssertEqual(iou, f.ious[d][g], "iou(\(d), \(g))")   // bit-identical
            }
        }
        XCTAssertEqual(RLE.merge(Array(rles.prefix(5))).compressedString, f.union_of_first_5)
        XCTAssertEqual(RLE.merge([rles[0], rles[1]], intersect: true).compressedString, f.intersection_of_first_2)
        XCTAssertEqual(rles[0].decodeColumnMajor(), f.decoded_first)
    }

    func testEncodeDecodeRoundTrip() {
        let mask: [UInt8] = [0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 1]      // 3 x 4, row-major
        let rle = RLE(rowMajor: mask, height: 3, width: 4)
        XCTAssertEqual(rle.area, 7)
        let columnMajor = rle.decodeColumnMajor()
        for y in 0..<3 { for x in 0..<4 { XCTAssertEqual(columnMajor[x * 3 + y], mask[y * 4 + x]) } }
        XCTAssertEqual(RLE(compressed: rle.compressedString, height: 3, width: 4), rle)
        XCTAssertNil(RLE(compressed: "ab~", height: 3, width: 4), "characters outside the alphabet")
        XCTAssertEqual(RLE(columnMajor: [UInt8](repeating: 0, count: 6), height: 2, width: 3).counts, [6])
    }

    func testBoxIoUByHand() {
        XCTAssertEqual(boxIoU([0, 0, 10, 10], [5, 0, 10, 10], crowd: false), 50.0 / 150.0)
        // Against a crowd region the union is the detection's own area.
        XCTAssertEqual(boxIoU([0, 0, 10, 10], [5, 0, 10, 10], crowd: true), 0.5)
        XCTAssertEqual(boxIoU([0, 0, 1, 1], [2, 2, 1, 1], crowd: false), 0)
    }
}
