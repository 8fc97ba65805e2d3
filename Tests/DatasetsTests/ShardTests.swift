import Foundation
import XCTest
import Core
import HDF5
import Images
@testable import Datasets

final class ShardTests: XCTestCase {
    let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    func temporary(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shards-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    func testReadsShardsWrittenByH5py() throws {
        let pan = try ShardReader(fixtures.appendingPathComponent("h5py_panoptic-00000.h5").path)
        XCTAssertEqual(pan.dataset, "toy_panoptic")
        XCTAssertEqual(pan.task, .panoptic)
        XCTAssertEqual(pan.count, 3)
        XCTAssertEqual(pan.classes.names, ["cat", "dog", "grass", "sky"])
        XCTAssertEqual(pan.classes.sourceIDs, [10, 20, 30, 40])
        XCTAssertEqual(pan.classes.isThing, [true, true, false, false])
        XCTAssertEqual(pan.encoding, .raw)
        let s = pan.sample(1)
        XCTAssertEqual([s.height, s.width, s.channels], [5, 5, 3])
        XCTAssertEqual(s.sourceID, 101)
        XCTAssertEqual(s.segments.map(\.id), [7, 9, 300])
        XCTAssertEqual(s.segments.map(\.classID), [3, 2, 0])
        XCTAssertEqual(s.segments[2].bbox, [1, 1, 2, 2])
        XCTAssertEqual(s.panoptic?.count, 25)
        XCTAssertEqual(s.semantic?[0], 3)
        XCTAssertEqual(try s.decodeImage(encoding: pan.encoding).pixels.count, 75)

        let inst = try ShardReader(fixtures.appendingPathComponent("h5py_instance-00000.h5").path)
        XCTAssertEqual(inst.encoding, .png)
        let image = try inst.sample(0).decodeImage(encoding: .png)
        XCTAssertEqual([image.height, image.width], [9, 7])
        XCTAssertEqual(inst.sample(1).segments[1].rle?.reduce(0, +), 24)
        XCTAssertEqual(inst.segmentCount, 4)

        let labels = try ShardReader(fixtures.appendingPathComponent("h5py_labels-00000.h5").path)
        XCTAssertEqual(labels.task, .imageLabels)
        XCTAssertEqual(labels.sample(0).labels, [0, 2])
        XCTAssertEqual(labels.sample(1).labels, [1])
    }

    func sample(_ i: Int, h: Int = 4, w: Int = 5, encoding: ImageEncoding = .raw) throws -> ShardSample {
        let pixels = (0..<(h * w * 3)).map { UInt8(($0 * 7 + i) % 256) }
        let image = Image8(width: w, height: h, channels: 3, pixels: pixels)
        let bytes: [UInt8]
        switch encoding {
        case .raw: bytes = pixels
        case .png: bytes = try PNG.encode(image)
        case .jpeg: bytes = try JPEG.encode(image, quality: 95)
        }
        var ids = [UInt32](repeating: 5, count: h * w)
        ids[0] = 0
        ids[1] = 9
        return ShardSample(image: bytes, height: h, width: w, sourceID: Int64(1000 + i),
                           semantic: (0..<(h * w)).map { UInt16($0 % 3) }, panoptic: ids,
                           segments: [ShardSegment(id: 5, classID: 1, area: Int64(h * w - 2), bbox: [0, 0, Float(w), Float(h)]),
                                      ShardSegment(id: 9, classID: 2, isCrowd: true, area: 1, bbox: [1, 0, 1, 1])],
                           labels: [1, 2])
    }

    let classes = ShardClasses(names: ["a", "b", "c"], sourceIDs: [3, 5, 7], isThing: [true, false, true],
                               embeddings: (dim: 2, values: [1, 0, 0, 1, 0.6, 0.8]))

    func testRoundTripEveryTaskAndEncoding() throws {
        for (task, encoding) in [(ShardTask.panoptic, ImageEncoding.raw), (.semantic, .png), (.detection, .jpeg), (.imageLabels, .raw)] {
            var writer = ShardWriter(dataset: "toy", task: task, classes: classes, encoding: encoding)
            for i in 0..<3 { writer.append(try sample(i, h: 4 + i, w: 5, encoding: encoding)) }
            let path = temporary("rt-\(task.rawValue)-00000.h5")
            try writer.write(to: path)
            let reader = try ShardReader(path)
            XCTAssertEqual(reader.task, task)
            XCTAssertEqual(reader.classes, classes)
            for i in 0..<3 {
                let expected = writer.samples[i], got = reader.sample(i)
                XCTAssertEqual(got.image, expected.image)
                XCTAssertEqual(got.sourceID, expected.sourceID)
                if task == .semantic || task == .panoptic { XCTAssertEqual(got.semantic, expected.semantic) }
                if task == .panoptic { XCTAssertEqual(got.panoptic, expected.panoptic) }
                if task != .semantic && task != .imageLabels { XCTAssertEqual(got.segments, expected.segments) }
                if task == .imageLabels { XCTAssertEqual(got.labels, [1, 2]) }
                let decoded = try got.decodeImage(encoding: encoding)
                XCTAssertEqual([decoded.height, decoded.width], [4 + i, 5])
                if encoding != .jpeg { XCTAssertEqual(decoded.pixels, try sample(i, h: 4 + i, w: 5).image) }
            }
        }
    }

    /// A split whose shards hold no sample is an error naming the folder and the split (a
    /// sampler over no samples has nothing to draw).
    func testAnEmptySplitIsAnError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("empty-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let writer = ShardWriter(dataset: "empty", task: .detection, classes: classes, encoding: .raw)
        try writer.write(to: (dir as NSString).appendingPathComponent("train-00000.h5"))
        XCTAssertThrowsError(try DatasetSource(folder: dir, split: "train")) {
            XCTAssertTrue("\($0)".contains(dir) && "\($0)".contains("the train split of dataset empty has no samples"), "\($0)")
        }
    }

    /// Values the layout allows but the format does not: each an error naming the file, the
    /// HDF5 path and the sample, at open or when the sample is decoded — never a crash.
    func testBadValuesAndImagesAreNamed() throws {
        func expect(_ task: ShardTask, encoding: ImageEncoding = .raw, version: Int64 = 1, decode: Bool = false,
                    _ expected: String, line: UInt = #line, _ edit: (inout ShardSample) throws -> Void) throws {
            var writer = ShardWriter(dataset: "bad", task: task, classes: classes, encoding: encoding)
            writer.version = version
            writer.append(try sample(0, encoding: encoding))
            var s = try sample(1, encoding: encoding)
            try edit(&s)
            writer.append(s)
            let path = temporary("values-\(UUID().uuidString).h5")
            try writer.write(to: path)
            XCTAssertThrowsError(try { let r = try ShardReader(path); if decode { _ = try r.decoded(0); _ = try r.decoded(1) } }(), line: line) { error in
                XCTAssertTrue("\(error)".hasPrefix(path) && "\(error)".contains(expected), "\(error) should say \(expected)", line: line)
            }
        }
        try expect(.detection, version: 2, "/: format version 2 is not supported") { _ in }
        try expect(.detection, "(sample 1): segment 3: box [nan, 0.0, 1.0, 1.0] is not finite") { $0.segments[1].bbox[0] = .nan }
        try expect(.detection, "(sample 1): segment 2: box [0.0, 0.0, -4.0, 4.0] is not finite with width and height >= 0") { $0.segments[0].bbox[2] = -4 }
        try expect(.detection, "box [0.0, 0.0, inf, 4.0]") { $0.segments[0].bbox[2] = .infinity }
        try expect(.panoptic, "panoptic/bytes (sample 1): id 7 of the map is not in the segment table") { $0.panoptic![3] = 7 }
        try expect(.panoptic, "segments/id (sample 1): segment ids repeat in the image") { $0.segments[1].id = 5 }
        try expect(.detection, "images/shape (sample 1): 100000x100000 pixels") { $0.height = 100_000; $0.width = 100_000 }
        try expect(.detection, encoding: .jpeg, decode: true, "images/bytes (sample 1): jpeg image: not a readable JPEG") { s in
            var rng = SeededRNG(seed: 4)
            s.image = (0..<200).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        }
        try expect(.detection, encoding: .png, decode: true, "images/bytes (sample 1): png image: not a readable PNG") { $0.image = [] }
        try expect(.detection, encoding: .png, decode: true, "images/bytes (sample 1): png image: the PNG is 3x2, the shard says 5x4") {
            $0.image = try PNG.encode(Image8(width: 3, height: 2, channels: 3, pixels: [UInt8](repeating: 7, count: 18)))
        }
        try expect(.panoptic, decode: true, "segments (sample 1): the panoptic map has no segment (all void)") { s in
            s.segments = []
            s.panoptic = s.panoptic!.map { _ in 0 }
        }
    }

    func testBadShardsNameTheFilePathAndSample() throws {
        // A class id outside 0..<K in the segment table.
        var writer = ShardWriter(dataset: "bad", task: .detection, classes: classes, encoding: .raw)
        var s = try sample(0)
        s.segments[1].classID = 7
        writer.append(try sample(1))
        writer.append(s)
        let path = temporary("bad-class.h5")
        try writer.write(to: path)
        XCTAssertThrowsError(try ShardReader(path)) { error in
            XCTAssertEqual(error as? ShardError, ShardError(file: path, path: "segments/class", sample: 1, message: "segment 3: class 7 is outside 0..<3"))
        }
        // A raw image whose byte count disagrees with its shape.
        writer = ShardWriter(dataset: "bad", task: .semantic, classes: classes, encoding: .raw)
        s = try sample(0)
        s.image.removeLast()
        writer.append(s)
        let path2 = temporary("bad-bytes.h5")
        try writer.write(to: path2)
        XCTAssertThrowsError(try ShardReader(path2)) { XCTAssertTrue("\($0)".contains("images/bytes (sample 0)"), "\($0)") }
        // A semantic map of the wrong size.
        writer = ShardWriter(dataset: "bad", task: .semantic, classes: classes, encoding: .raw)
        s = try sample(0)
        s.semantic!.removeLast()
        writer.append(s)
        let path3 = temporary("bad-semantic.h5")
        try writer.write(to: path3)
        XCTAssertThrowsError(try ShardReader(path3)) { XCTAssertTrue("\($0)".contains("semantic/bytes (sample 0)"), "\($0)") }
        // Decreasing offsets, written by hand.
        let path4 = temporary("bad-offsets.h5")
        try HDF5File.writeAtomically(to: path4) { f in
            try f.setAttribute("format", string: "m2f-shard"); try f.setAttribute("version", int: 1)
            try f.setAttribute("dataset", string: "x"); try f.setAttribute("task", string: "image_labels")
            try f.setAttribute("num_samples", int: 2)
            try f.write("classes/names", strings: ["a"])
            try f.write("classes/source_ids", int64s: [1], shape: [1])
            try f.write("classes/isthing", bytes: [1], shape: [1])
            try f.write("images/bytes", bytes: [UInt8](repeating: 1, count: 6), shape: [6])
            try f.write("images/offsets", int64s: [0, 3, 6], shape: [3])
            try f.write("images/shape", int32s: [1, 1, 3, 1, 1, 3], shape: [2, 3])
            try f.write("images/source_id", int64s: [1, 2], shape: [2])
            try f.setAttribute("encoding", string: "raw", on: "images")
            try f.write("labels/class", int32s: [0, 0], shape: [2])
            try f.write("labels/offsets", int64s: [0, 2, 1], shape: [3])
        }
        XCTAssertThrowsError(try ShardReader(path4)) { XCTAssertTrue("\($0)".contains("labels/offsets (sample 1): decreases"), "\($0)") }
        // A missing group for the declared task.
        let path5 = temporary("missing.h5")
        writer = ShardWriter(dataset: "bad", task: .imageLabels, classes: classes, encoding: .raw)
        writer.append(try sample(0))
        try writer.write(to: path5)
        let truncated = temporary("truncated.h5")
        let data = try Data(contentsOf: URL(fileURLWithPath: path5))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: truncated))
        XCTAssertThrowsError(try ShardReader(truncated)) { XCTAssertTrue("\($0)".hasPrefix(truncated), "\($0)") }
        try "not hdf5".write(toFile: truncated, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ShardReader(truncated)) { XCTAssertTrue("\($0)".contains("not a readable HDF5 file"), "\($0)") }
    }
}
