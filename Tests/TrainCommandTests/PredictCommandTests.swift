import Foundation
import XCTest

/// `train predict` on the kinds of image files users bring (`Fixtures/images`, made by Pillow:
/// portrait and landscape JPEGs, a grayscale JPEG, a PNG with alpha, a truncated JPEG and a text
/// file named .png), with a tiny model trained a few iterations on the small synthetic world.
final class PredictCommandTests: TrainBinaryTestCase {
    static let images = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/images").path
    /// (width, height) of each readable fixture.
    static let sizes = ["alpha": (128, 128), "gray": (128, 128), "landscape": (200, 120), "portrait": (96, 160)]

    func trainedCheckpoint() throws -> String {
        let (status, output) = try run(["--config", try config(iterations: 3), "--output", path("model")])
        XCTAssertEqual(status, 0, output)
        return path("model/model_final.h5")
    }

    func json(_ file: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) }

    func pngSize(_ file: String) throws -> (Int, Int) {
        let d = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        XCTAssertEqual(Array(d.prefix(4)), [0x89, 0x50, 0x4E, 0x47], file)
        func be(_ o: Int) -> Int { d[o..<(o + 4)].reduce(0) { $0 << 8 | Int($1) } }
        return (be(16), be(20))
    }

    func testPredictsEveryReadableImageAtItsSizeAndSkipsBadOnesByName() throws {
        let checkpoint = try trainedCheckpoint()
        // No --config: the checkpoint's own; no classes given: every training class (union).
        let (status, output) = try run(["predict", "--checkpoint", checkpoint, "--input", Self.images, "--output", path("out"), "--batch", "3"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("broken.jpg") && output.contains("notes.png: is neither a JPEG nor a PNG"), output)
        XCTAssertTrue(output.contains("4 images predicted (panoptic, 23 classes, size 32), 2 skipped"), output)
        let index = try json(path("out/images.json")) as! [String: Any]
        let images = index["images"] as! [[String: Any]]
        XCTAssertEqual(images.count, 4)
        XCTAssertEqual((index["skipped"] as! [String]).map { ($0 as NSString).lastPathComponent }, ["broken.jpg", "notes.png"])
        XCTAssertEqual((index["categories"] as! [[String: Any]]).count, 23)  // 29 classes, 6 names shared
        let panoptic = try json(path("out/panoptic.json")) as! [String: Any]
        XCTAssertEqual((panoptic["annotations"] as! [Any]).count, 4)
        for (name, (w, h)) in Self.sizes {
            for sub in ["panoptic", "semantic"] {
                let size = try pngSize(path("out/\(sub)/\(name).png"))
                XCTAssertEqual(size.0, w, "\(sub)/\(name)"); XCTAssertEqual(size.1, h, "\(sub)/\(name)")
            }
            let overlay = try pngSize(path("out/overlays/\(name).png"))
            XCTAssertEqual(overlay.0, 2 * w, name)
            XCTAssertGreaterThanOrEqual(overlay.1, h, name)
        }
        XCTAssertNotNil(try json(path("out/instances.json")) as? [Any])
        // A second run replaces the folder as a whole; a folder of other files is refused.
        let again = try run(["predict", "--checkpoint", checkpoint, "--input", Self.images + "/gray.jpg", "--output", path("out"), "--task", "semantic",
                             "--dataset", "synth_semantic"])
        XCTAssertEqual(again.0, 0, again.1)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("out")).sorted(), ["images.json", "overlays", "semantic"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("out/semantic")), ["gray.png"])
        let refused = try run(["predict", "--checkpoint", checkpoint, "--input", Self.images, "--output", path("data")])
        XCTAssertEqual(refused.0, 1)
        XCTAssertTrue(refused.1.contains("Error: \(path("data")): exists and does not hold earlier predictions"), refused.1)
        let unknown = try run(["predict", "--checkpoint", checkpoint, "--input", Self.images, "--output", path("x"), "--dataset", "synth_panoptc"])
        XCTAssertTrue(unknown.1.contains("--dataset synth_panoptc: not a training dataset of this model") && unknown.1.contains("did you mean synth_panoptic?"), unknown.1)
    }

    /// Open vocabulary: names the model never trained on, embedded by the Swift text encoder.
    func testAnyClassNamesAndInstances() throws {
        let checkpoint = try trainedCheckpoint()
        let (status, output) = try run(["predict", "--checkpoint", checkpoint, "--input", Self.images + "/portrait.jpg", "--output", path("open"),
                                        "--classes", "zebra, giraffe, savanna", "--stuff", "savanna", "--task", "instance", "--threshold", "0"])
        XCTAssertEqual(status, 0, output)
        let index = try json(path("open/images.json")) as! [String: Any]
        XCTAssertEqual((index["categories"] as! [[String: Any]]).map { $0["name"] as! String }, ["zebra", "giraffe", "savanna"])
        XCTAssertEqual((index["categories"] as! [[String: Any]]).map { $0["isthing"] as! Int }, [1, 1, 0])
        let results = try json(path("open/instances.json")) as! [[String: Any]]
        XCTAssertFalse(results.isEmpty)
        for r in results {
            XCTAssertTrue((0..<3).contains(r["category_id"] as! Int))
            XCTAssertEqual((r["segmentation"] as! [String: Any])["size"] as! [Int], [160, 96])
        }
        // UniDetector's calibration: priors from the images' own predictions (the readable ones).
        let calibrated = try run(["predict", "--checkpoint", checkpoint, "--input", Self.images, "--output", path("calibrated"),
                                  "--classes", "zebra, giraffe, savanna", "--stuff", "savanna", "--task", "instance", "--threshold", "0",
                                  "--set", "test.calibration.power=1", "--set", "test.calibration.images=3"])
        XCTAssertEqual(calibrated.0, 0, calibrated.1)
        XCTAssertTrue(calibrated.1.contains("calibrated: each class's probability divided by its prior^1.0, priors from 2 images"), calibrated.1)
        XCTAssertFalse((try json(path("calibrated/instances.json")) as! [Any]).isEmpty)
        let huge = try run(["predict", "--checkpoint", checkpoint, "--input", Self.images, "--output", path("x"), "--size", "1000000"])
        XCTAssertTrue(huge.0 != 0 && huge.1.contains("--size must be from 32 to 4096"), huge.1)
        let bad = try run(["predict", "--checkpoint", checkpoint, "--input", Self.images, "--output", path("x"), "--classes", "a, b", "--stuff", "c"])
        XCTAssertTrue(bad.1.contains("--stuff: 'c' is not one of --classes"), bad.1)
    }
}
