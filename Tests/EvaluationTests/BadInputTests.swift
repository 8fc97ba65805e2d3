import Foundation
import XCTest
import COCOMask
@testable import Evaluation

/// Scoring inputs no reference tool would survive (sizes and counts that overflow, coordinates
/// that make the rasteriser walk forever, ids that are not integers): each is an error naming
/// the file and the item, never a crash.
final class BadInputTests: XCTestCase {
    func write(_ text: String, _ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("badinput-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    let gt = #"{"images":[{"id":1,"width":10,"height":10}],"categories":[{"id":1,"name":"a"}],"annotations":[{"id":1,"image_id":1,"category_id":1,"bbox":[0,0,5,5],"area":25,"iscrowd":0,"segmentation":[[0,0,5,0,5,5,0,5]]}]}"#

    func expectError(_ results: String, _ type: InstanceEvaluator.IoUType, _ expected: String, gt: String? = nil, line: UInt = #line) throws {
        let gtPath = try write(gt ?? self.gt, "gt-\(UUID().uuidString).json"), path = try write(results, "results-\(UUID().uuidString).json")
        XCTAssertThrowsError(try {
            let truth = try COCOGroundTruth(path: gtPath, withMasks: type == .segm)
            _ = try readCOCOResults(path, groundTruth: truth, iouType: type)
        }(), line: line) { error in
            XCTAssertTrue("\(error)".contains(expected), "\(error) should say \(expected)", line: line)
            XCTAssertTrue("\(error)".contains("json"), "\(error) should name the file", line: line)
        }
    }

    func testInstanceResults() throws {
        try expectError(#"[{"image_id":1,"category_id":1,"score":0.9,"segmentation":{"size":[10,10],"counts":[1000000000000]}}]"#, .segm,
                        "result 0: RLE counts must be whole numbers from 0 to 10x10")
        try expectError(#"[{"image_id":1,"category_id":1,"score":0.9,"segmentation":[[0,0,1e300,0,5,5]]}]"#, .segm,
                        "result 0: coordinate 1e+300 is not finite or lies far outside")
        try expectError(#"[{"image_id":1,"category_id":1,"score":0.9,"segmentation":{"size":[100000000,100000000],"counts":"0"}}]"#, .segm,
                        "size must be [height, width], whole numbers")
        try expectError(#"[{"image_id":1e300,"category_id":1,"score":0.9,"bbox":[0,0,1,1]}]"#, .bbox, "[0].image_id: 1e+300 is not a whole number")
        try expectError(#"[{"image_id":1,"category_id":1.5,"score":0.9,"bbox":[0,0,1,1]}]"#, .bbox, "[0].category_id: 1.5 is not a whole number")
    }

    /// Values of the wrong JSON type, read by the simdjson shim, are errors naming the item.
    func testWrongJSONTypes() throws {
        try expectError(#"[{"image_id":1,"category_id":1,"score":"high","bbox":[0,0,1,1]}]"#, .bbox, "[0].score: must be a number")
        try expectError(#"[{"image_id":1,"category_id":1,"score":0.5,"bbox":"0,0,1,1"}]"#, .bbox, "[0].bbox: must be a list of numbers")
        try expectError(#"[{"image_id":1,"category_id":1,"score":0.5,"bbox":[0,0,1,"1"]}]"#, .bbox, "[0].bbox: must be a list of numbers")
        try expectError(#"[{"image_id":1,"category_id":1,"score":0.5,"segmentation":7}]"#, .segm, "[0].segmentation: must be polygons or an RLE object")
        try expectError(#"[{"image_id":1,"category_id":1,"score":0.5,"segmentation":{"size":[10,10],"counts":{}}}]"#, .segm, "[0].segmentation.counts: must be a string")
        try expectError(#"[{"image_id":1,"category_id":1,"score":0.5,"segmentation":{"size":[10],"counts":"0"}}]"#, .segm, "[0].segmentation.size: must be [height, width]")
        try expectError(#"[{"image_id":1,"category_id":1,"bbox":[0,0,1,1]}]"#, .bbox, "[0]: no \"score\"")
        try expectError(#"{"image_id":1}"#, .bbox, "top level: must be a list")
        try expectError(#"[{"image_id":1,"category_id":1,"score":0.5,"bbox":[0,0,1,1]}"#, .bbox, "malformed JSON")
        try expectError("[]", .bbox, "top level: no \"categories\"", gt: #"{"images":[]}"#)
        try expectError("[]", .bbox, "annotations[0]: no \"bbox\"", gt: #"{"images":[{"id":1,"width":10,"height":10}],"categories":[{"id":1}],"annotations":[{"image_id":1,"category_id":1,"area":1}]}"#)
    }

    func testInstanceGroundTruth() throws {
        let huge = #"{"images":[{"id":1,"width":1e300,"height":10}],"categories":[{"id":1}],"annotations":[]}"#
        try expectError("[]", .bbox, "images[0].width: 1e+300 is not a whole number", gt: huge)
        let wide = #"{"images":[{"id":1,"width":100000,"height":100000}],"categories":[{"id":1}],"annotations":[]}"#
        try expectError("[]", .bbox, "images[0]: size 100000.0 x 100000.0 is not a mask size", gt: wide)
        let nanBox = #"{"images":[{"id":1,"width":10,"height":10}],"categories":[{"id":1}],"annotations":[{"image_id":1,"category_id":1,"bbox":[0,0,-5,5],"area":25}]}"#
        try expectError("[]", .bbox, "annotations[0] (id ?): bbox must be [x, y, w, h], finite, w and h >= 0", gt: nanBox)
        let twice = #"{"images":[{"id":1,"width":10,"height":10},{"id":1,"width":10,"height":10}],"categories":[{"id":1}],"annotations":[]}"#
        try expectError("[]", .bbox, "images[1]: id 1 appears twice", gt: twice)
    }

    func testPanopticSegmentsInfo() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("badpanoptic-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (field, value, expected) in [("area", "1e300", "area must be a number from 0"), ("id", "1e300", "needs a whole id"),
                                         ("category_id", "1e300", "a whole category_id")] {
            var segment = ["id": "1", "category_id": "1", "area": "4", "iscrowd": "0"]
            segment[field] = value
            let info = "{" + segment.map { "\"\($0)\": \($1)" }.joined(separator: ", ") + "}"
            let gt = try write(#"{"categories":[{"id":1,"isthing":1}],"annotations":[{"image_id":1,"file_name":"a.png","segments_info":[\#(info)]}]}"#, "pgt.json")
            let pred = try write(#"{"annotations":[{"image_id":1,"file_name":"a.png","segments_info":[]}]}"#, "ppred.json")
            XCTAssertThrowsError(try ScoreFiles.panoptic(gtJSON: gt, gtFolder: dir, predJSON: pred, predFolder: dir)) {
                XCTAssertTrue("\($0)".contains("pgt.json") && "\($0)".contains("segments_info[0]") && "\($0)".contains(expected), "\($0)")
            }
        }
        let pred = try write(#"{"annotations":[{"image_id":1e300,"file_name":"a.png","segments_info":[]}]}"#, "ppred2.json")
        let gt = try write(#"{"categories":[{"id":1,"isthing":1}],"annotations":[]}"#, "pgt2.json")
        XCTAssertThrowsError(try ScoreFiles.panoptic(gtJSON: gt, gtFolder: dir, predJSON: pred, predFolder: dir)) {
            XCTAssertTrue("\($0)".contains("annotations[0]: no whole-number image_id"), "\($0)")
        }
    }
}
