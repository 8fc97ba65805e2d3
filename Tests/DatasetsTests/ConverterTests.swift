import Foundation
import XCTest
@testable import Images
@testable import Datasets

final class ConverterTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("convert-\(UUID().uuidString)").path
        for sub in ["images", "png", "labels", "out"] {
            try FileManager.default.createDirectory(atPath: (dir as NSString).appendingPathComponent(sub), withIntermediateDirectories: true)
        }
    }

    func path(_ p: String) -> String { (dir as NSString).appendingPathComponent(p) }

    func writeJSON(_ object: Any, _ name: String) throws {
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path(name)))
    }

    /// A 6x8 JPEG (or PNG) image file.
    func writeImage(_ name: String, jpeg: Bool = true) throws {
        let image = Image8(width: 8, height: 6, channels: 3, pixels: (0..<144).map { UInt8($0 * 3 % 256) })
        let bytes = jpeg ? try JPEG.encode(image) : try PNG.encode(image)
        try Data(bytes).write(to: URL(fileURLWithPath: path("images/\(name)")))
    }

    func testCOCOPanoptic() throws {
        try writeImage("a.jpg")
        var ids = [UInt32](repeating: 0, count: 48)
        for i in 0..<20 { ids[i] = 5 }
        for i in 24..<48 { ids[i] = 300 }
        try PNG.write(Image8(width: 8, height: 6, channels: 3, pixels: ids.flatMap { [UInt8($0 % 256), UInt8($0 / 256 % 256), UInt8($0 / 65536)] }),
                      to: path("png/a.png"))
        try writeJSON(["images": [["id": 42, "file_name": "a.jpg", "height": 6, "width": 8]],
                       "categories": [["id": 7, "name": "cat", "isthing": 1], ["id": 90, "name": "sky", "isthing": 0]],
                       "annotations": [["image_id": 42, "file_name": "a.png", "segments_info": [
                           ["id": 5, "category_id": 90, "iscrowd": 0, "area": 20, "bbox": [0, 0, 8, 3]],
                           ["id": 300, "category_id": 7, "iscrowd": 1, "area": 24, "bbox": [0, 3, 8, 3]]]]]], "pan.json")
        let n = try Converters.cocoPanoptic(json: path("pan.json"), pngFolder: path("png"), imageFolder: path("images"),
                                            options: ConversionOptions(output: path("out"), name: "tiny_pan"))
        XCTAssertEqual(n, 1)
        let r = try ShardReader(path("out/train-00000.h5"))
        XCTAssertEqual(r.classes.names, ["cat", "sky"])
        XCTAssertEqual(r.classes.sourceIDs, [7, 90])
        XCTAssertEqual(r.encoding, .jpeg)
        let s = r.sample(0)
        XCTAssertEqual(s.sourceID, 42)
        XCTAssertEqual(s.panoptic, ids)
        XCTAssertEqual(s.segments.map(\.classID), [1, 0])
        XCTAssertEqual(s.segments.map(\.isCrowd), [false, true])
        XCTAssertEqual(try s.decodeImage(encoding: .jpeg).width, 8)

        // A segment in the PNG that the JSON lacks; a missing image.
        ids[47] = 999
        try PNG.write(Image8(width: 8, height: 6, channels: 3, pixels: ids.flatMap { [UInt8($0 % 256), UInt8($0 / 256 % 256), UInt8($0 / 65536)] }),
                      to: path("png/a.png"))
        XCTAssertThrowsError(try Converters.cocoPanoptic(json: path("pan.json"), pngFolder: path("png"), imageFolder: path("images"),
                                                         options: ConversionOptions(output: path("out2"), name: "x"))) {
            XCTAssertTrue("\($0)".contains("a.png: annotations[0]: segment 999 is in the PNG"), "\($0)")
        }
        try FileManager.default.removeItem(atPath: path("images/a.jpg"))
        XCTAssertThrowsError(try Converters.cocoPanoptic(json: path("pan.json"), pngFolder: path("png"), imageFolder: path("images"),
                                                         options: ConversionOptions(output: path("out3"), name: "x"))) {
            XCTAssertTrue("\($0)".contains("images/a.jpg: annotations[0]: image file is missing"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out3/train-00000.h5")), "no half shard")
    }

    func testCOCOInstancesAndObjects365() throws {
        try writeImage("b.png", jpeg: false)
        try writeImage("c.png", jpeg: false)
        try writeJSON(["images": [["id": 1, "file_name": "b.png", "height": 6, "width": 8], ["id": 2, "file_name": "c.png", "height": 6, "width": 8]],
                       "categories": [["id": 3, "name": "person"], ["id": 9, "name": "car"]],
                       "annotations": [
                           ["id": 1, "image_id": 1, "category_id": 9, "iscrowd": 0, "area": 12, "bbox": [1, 1, 4, 3],
                            "segmentation": [[1, 1, 5, 1, 5, 4, 1, 4]]],
                           ["id": 2, "image_id": 1, "category_id": 3, "iscrowd": 1, "area": 6, "bbox": [0, 0, 2, 3],
                            "segmentation": ["size": [6, 8], "counts": [0, 3, 3, 3, 39]]]]], "inst.json")
        XCTAssertEqual(try Converters.cocoInstances(json: path("inst.json"), imageFolder: path("images"), boxesOnly: false,
                                                    options: ConversionOptions(output: path("out"), name: "tiny_inst")), 2)
        let r = try ShardReader(path("out/train-00000.h5"))
        XCTAssertEqual(r.task, .instance)
        XCTAssertEqual(r.encoding, .png)
        let s = r.sample(0)
        XCTAssertEqual(s.segments.map(\.classID), [1, 0])
        XCTAssertEqual(s.segments[1].rle, [0, 3, 3, 3, 39])
        XCTAssertEqual(s.segments[0].rle!.reduce(0, +), 48)
        XCTAssertEqual(r.sample(1).segments, [], "an image without annotations is kept")
        XCTAssertEqual(try Converters.cocoInstances(json: path("inst.json"), imageFolder: path("images"), boxesOnly: true,
                                                    options: ConversionOptions(output: path("o365"), name: "tiny_o365")), 2)
        XCTAssertEqual(try ShardReader(path("o365/train-00000.h5")).task, .detection)
    }

    func testADE20KAndImageLabels() throws {
        try writeImage("x.jpg")
        try writeJSON(["classes": [["id": 1, "name": "wall", "isthing": 0], ["id": 2, "name": "bed", "isthing": 1, "embed_name": "bed"],
                                   ["id": 3, "name": "tree", "isthing": 0]]], "vocab.json")
        try PNG.write(Image8(width: 8, height: 6, channels: 1, pixels: (0..<48).map { UInt8($0 % 4) }), to: path("labels/x.png"))
        XCTAssertEqual(try Converters.ade20k(imageFolder: path("images"), labelFolder: path("labels"), vocab: path("vocab.json"),
                                             options: ConversionOptions(output: path("out"), name: "tiny_ade")), 1)
        let s = try ShardReader(path("out/train-00000.h5")).sample(0)
        XCTAssertEqual(Array(s.semantic!.prefix(4)), [255, 0, 1, 2])
        try PNG.write(Image8(width: 8, height: 6, channels: 1, pixels: [UInt8](repeating: 9, count: 48)), to: path("labels/x.png"))
        XCTAssertThrowsError(try Converters.ade20k(imageFolder: path("images"), labelFolder: path("labels"), vocab: path("vocab.json"),
                                                   options: ConversionOptions(output: path("bad"), name: "x"))) {
            XCTAssertTrue("\($0)".contains("label 9 is outside"), "\($0)")
        }
        try writeJSON(["x.jpg": ["tree", "Wall", "tree"]], "labels.json")
        XCTAssertEqual(try Converters.imageLabels(json: path("labels.json"), imageFolder: path("images"), vocab: path("vocab.json"),
                                                  options: ConversionOptions(output: path("lab"), name: "tiny_labels")), 1)
        XCTAssertEqual(try ShardReader(path("lab/train-00000.h5")).sample(0).labels, [0, 2])
        try writeJSON(["x.jpg": ["unicorn"]], "labels.json")
        XCTAssertThrowsError(try Converters.imageLabels(json: path("labels.json"), imageFolder: path("images"), vocab: path("vocab.json"),
                                                        options: ConversionOptions(output: path("lab2"), name: "x"))) {
            XCTAssertTrue("\($0)".contains("x.jpg: unknown class name 'unicorn'"), "\($0)")
        }
    }

    /// Converting a split again replaces its shards (no stale shard of the first conversion is
    /// read as data) and keeps the folder's other splits; nothing temporary is left behind.
    func testConvertingAgainReplacesTheSplitsShards() throws {
        try writeImage("x.jpg")
        try writeImage("y.jpg")
        try writeJSON(["classes": [["id": 1, "name": "wall", "isthing": 0]]], "vocab.json")
        for name in ["x", "y"] { try PNG.write(Image8(width: 8, height: 6, channels: 1, pixels: [UInt8](repeating: 1, count: 48)), to: path("labels/\(name).png")) }
        var options = ConversionOptions(output: path("out"), name: "ade")
        options.samplesPerShard = 1
        XCTAssertEqual(try Converters.ade20k(imageFolder: path("images"), labelFolder: path("labels"), vocab: path("vocab.json"), options: options), 2)
        options.split = "val"
        XCTAssertEqual(try Converters.ade20k(imageFolder: path("images"), labelFolder: path("labels"), vocab: path("vocab.json"), options: options), 2)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("out")).sorted(),
                       ["train-00000.h5", "train-00001.h5", "val-00000.h5", "val-00001.h5"])
        options.split = "train"
        options.samplesPerShard = 10
        XCTAssertEqual(try Converters.ade20k(imageFolder: path("images"), labelFolder: path("labels"), vocab: path("vocab.json"), options: options), 2)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("out")).sorted(), ["train-00000.h5", "val-00000.h5", "val-00001.h5"])
        XCTAssertEqual(try DatasetSource(folder: path("out"), split: "train").count, 2)
    }
}

/// Real-world COCO-format exports: annotations of missing images, negative boxes, sizes that
/// disagree with the image file, images without annotations, names with trailing spaces.
final class ConverterBadInputTests: XCTestCase {
    func testInvalidItemsStopOrAreSkippedAndReported() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("convertbad-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/images", withIntermediateDirectories: true)
        let image = Image8(width: 8, height: 6, channels: 3, pixels: [UInt8](repeating: 90, count: 144))
        for name in ["a", "b", "c"] { try Data(try JPEG.encode(image)).write(to: URL(fileURLWithPath: "\(dir)/images/\(name).jpg")) }
        let json: [String: Any] = [
            "images": [["id": 1, "file_name": "a.jpg", "width": 8, "height": 6], ["id": 2, "file_name": "b.jpg", "width": 9, "height": 6],
                       ["id": 3, "file_name": "c.jpg"]],
            "categories": [["id": 5, "name": "Table Tennis "]],
            "annotations": [["image_id": 1, "category_id": 5, "bbox": [0, 0, 2, 2], "area": 4],
                            ["image_id": 1, "category_id": 5, "bbox": [0, 0, -2, 2], "area": 4],
                            ["image_id": 77, "category_id": 5, "bbox": [0, 0, 2, 2], "area": 4]]]
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/o365.json"))
        // Stops at the first invalid item, naming it.
        XCTAssertThrowsError(try Converters.cocoInstances(json: dir + "/o365.json", imageFolder: dir + "/images", boxesOnly: true,
                                                          options: ConversionOptions(output: dir + "/out", name: "o365"))) {
            XCTAssertEqual("\($0)", "\(dir)/o365.json: annotations[2]: image_id 77 is not among the images")
        }
        // With skipInvalid: every invalid item skipped and reported; the rest converted.
        var options = ConversionOptions(output: dir + "/out", name: "o365")
        options.skipInvalid = true
        let n = try Converters.cocoInstances(json: dir + "/o365.json", imageFolder: dir + "/images", boxesOnly: true, options: options)
        XCTAssertEqual(n, 1, "image 2's size disagrees, image 1 has a negative box; image 3 has no annotation and is kept")
        XCTAssertEqual(options.report.skipped.map(\.description), [
            "\(dir)/o365.json: annotations[2]: image_id 77 is not among the images",
            "\(dir)/o365.json: annotations[1]: bbox [0.0, 0.0, -2.0, 2.0] has a negative width or height",
            "\(dir)/o365.json: images[1]: says 9x6, the image file b.jpg is 8x6",
        ])
        XCTAssertEqual(options.report.notes, ["1 of 3 images have no annotation (kept: images without objects)"])
        XCTAssertEqual(try ShardReader(dir + "/out/train-00000.h5").classes.names, ["Table Tennis"], "names trimmed")
    }
}

/// A CMYK JPEG (Photoshop-style: Adobe marker, inverted values) converts to the RGB Pillow
/// gives for it (Fixtures/cmyk, made by make_cmyk_jpeg.py), within JPEG decoders' rounding.
final class CMYKJPEGTests: XCTestCase {
    func testCMYKJPEGsDecodeToPillowsRGB() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/cmyk")
        let bytes = [UInt8](try Data(contentsOf: dir.appendingPathComponent("cmyk.jpg")))
        XCTAssertTrue(JPEG.hasAdobeMarker(bytes))
        let image = try JPEG.decode(bytes)
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("cmyk_rgb.json"))) as! [String: Any]
        XCTAssertEqual([image.width, image.height], [expected["width"] as! Int, expected["height"] as! Int])
        let rgb = (expected["rgb"] as! [Int])
        let worst = zip(image.pixels, rgb).map { abs(Int($0) - $1) }.max()!
        XCTAssertLessThanOrEqual(worst, 2, "largest difference from Pillow's RGB")
        // And through a converter: the image-label converter stores it (decoded) as any JPEG.
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("cmyk-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: work + "/images", withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: work + "/images/c.jpg"))
        try JSONSerialization.data(withJSONObject: ["classes": [["id": 1, "name": "thing"]]]).write(to: URL(fileURLWithPath: work + "/vocab.json"))
        try JSONSerialization.data(withJSONObject: ["c.jpg": ["thing"]]).write(to: URL(fileURLWithPath: work + "/labels.json"))
        XCTAssertEqual(try Converters.imageLabels(json: work + "/labels.json", imageFolder: work + "/images", vocab: work + "/vocab.json",
                                                  options: ConversionOptions(output: work + "/out", name: "c")), 1)
        let decoded = try ShardReader(work + "/out/train-00000.h5").decoded(0)
        XCTAssertEqual(decoded.image.pixels, image.pixels)
    }
}
