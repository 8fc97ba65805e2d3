import Foundation
import XCTest
@testable import Evaluation
@testable import COCOMask

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

    /// `rleFrPoly` as the C code writes it (the walk stored, then scanned in doubles): the
    /// rasteriser, which checks each point as it is made in integers, must give the same runs.
    static func cRasterised(_ xy: [Double], height h: Int, width w: Int) -> [UInt32] {
        let k = xy.count / 2, scale = 5.0
        var x = (0..<k).map { cInt(scale * xy[2 * $0] + 0.5) }, y = (0..<k).map { cInt(scale * xy[2 * $0 + 1] + 0.5) }
        x.append(x[0]); y.append(y[0])
        var u: [Int] = [], v: [Int] = []
        for j in 0..<k {
            var (xs, xe, ys, ye) = (x[j], x[j + 1], y[j], y[j + 1])
            let dx = abs(xe - xs), dy = abs(ys - ye)
            let flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye)
            if flip { swap(&xs, &xe); swap(&ys, &ye) }
            let s = dx >= dy ? Double(ye - ys) / Double(dx) : Double(xe - xs) / Double(dy)
            for d in 0...(dx >= dy ? dx : dy) {
                let t = flip ? (dx >= dy ? dx : dy) - d : d
                if dx >= dy { u.append(t + xs); v.append(cInt(Double(ys) + s * Double(t) + 0.5)) }
                else { v.append(t + ys); u.append(cInt(Double(xs) + s * Double(t) + 0.5)) }
            }
        }
        var a: [UInt32] = []
        for j in 1..<u.count where u[j] != u[j - 1] {
            var xd = Double(u[j] < u[j - 1] ? u[j] : u[j] - 1)
            xd = (xd + 0.5) / scale - 0.5
            if floor(xd) != xd || xd < 0 || xd > Double(w - 1) { continue }
            var yd = Double(v[j] < v[j - 1] ? v[j] : v[j - 1])
            yd = (yd + 0.5) / scale - 0.5
            yd = ceil(min(max(yd, 0), Double(h)))
            a.append(UInt32(Int(xd) * h + Int(yd)))
        }
        a.append(UInt32(h * w))
        a.sort()
        var previous: UInt32 = 0
        for j in a.indices { let t = a[j]; a[j] = t &- previous; previous = t }
        var b: [UInt32] = [a[0]], j = 1
        while j < a.count {
            if a[j] > 0 { b.append(a[j]); j += 1 } else { j += 1; if j < a.count { b[b.count - 1] += a[j]; j += 1 } }
        }
        return b
    }

    func testRasteriserGivesTheCWalksRuns() {
        var seed: UInt64 = 12345
        func next() -> Double { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Double(seed >> 11) / Double(1 << 53) }
        for trial in 0..<3000 {
            let (h, w) = (1 + Int(next() * 60), 1 + Int(next() * 60))
            let n = 3 + Int(next() * 10)
            var xy: [Double] = []
            for i in 0..<n {
                // Outside the image as well; whole, half and repeated coordinates; axis-parallel edges.
                var px = next() * Double(w + 30) - 15, py = next() * Double(h + 30) - 15
                if trial % 3 == 0 { px = px.rounded(); py = (py * 2).rounded() / 2 }
                if i > 0 && next() < 0.15 { px = xy[2 * (i - 1)] }
                if i > 0 && next() < 0.15 { py = xy[2 * (i - 1) + 1] }
                xy += [px, py]
            }
            XCTAssertEqual(RLE(polygon: xy, height: h, width: w).counts, Self.cRasterised(xy, height: h, width: w), "polygon \(xy) in \(h)x\(w)")
        }
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
