import Foundation
import HDF5
import Images

/// Reads a version-1 shard, validating it on open: every check of the layout document's last
/// section, with the file, the HDF5 path and the sample named on the first problem. Samples are
/// then read from the validated arrays (no read past a buffer).
public final class ShardReader {
    public let path: String
    public let dataset: String
    public let task: ShardTask
    public let classes: ShardClasses
    public let encoding: ImageEncoding
    public let count: Int
    public let ignoreLabel: Int

    private let imageBytes: [UInt8], imageOffsets: [Int64], imageShapes: [Int32], sourceIDs: [Int64]
    private var semantic: [UInt16]? = nil, semanticOffsets: [Int64]? = nil
    private var panoptic: [UInt32]? = nil, panopticOffsets: [Int64]? = nil
    private var segmentOffsets: [Int64]? = nil, segmentIDs: [Int32] = [], segmentClasses: [Int32] = []
    private var segmentCrowd: [UInt8] = [], segmentAreas: [Int64] = [], segmentBoxes: [Float] = []
    private var rle: [UInt32]? = nil, rleOffsets: [Int64]? = nil
    private var labels: [Int32]? = nil, labelOffsets: [Int64]? = nil

    public init(_ path: String) throws {
        self.path = path
        let f: HDF5File
        do { f = try HDF5File(path) } catch let e as HDF5Error { throw ShardError(file: path, path: "/", sample: nil, message: e.message) }
        func fail(_ at: String, _ message: String, sample: Int? = nil) -> ShardError {
            ShardError(file: path, path: at, sample: sample, message: message)
        }
        func need<T>(_ at: String, _ read: () throws -> T) throws -> T {
            guard f.contains(at) else { throw fail(at, "missing") }
            do { return try read() } catch let e as HDF5Error { throw fail(at, e.message) }
        }
        guard (try? f.stringAttribute("format")) == "m2f-shard" else { throw fail("/", "attribute format is not \"m2f-shard\"") }
        guard let version = try? f.intAttribute("version"), version >= 1 else { throw fail("/", "attribute version missing or < 1") }
        guard version == 1 else { throw fail("/", "format version \(version) is not supported: this build reads version 1 (docs/shard-format.md)") }
        guard let name = try? f.stringAttribute("dataset") else { throw fail("/", "attribute dataset missing") }
        guard let taskName = try? f.stringAttribute("task"), let task = ShardTask(rawValue: taskName) else {
            throw fail("/", "attribute task missing or not one of \(ShardTask.allCases.map(\.rawValue))")
        }
        guard let n = try? f.intAttribute("num_samples"), n >= 0, n <= Int64(Int32.max) else {
            throw fail("/", "attribute num_samples missing or outside 0...\(Int32.max)")
        }
        (dataset, self.task, count) = (name, task, Int(n))

        let names = try need("classes/names") { try f.readStrings("classes/names") }
        let sourceIDs = try need("classes/source_ids") { try f.readInt64s("classes/source_ids").values }
        let isThing = try need("classes/isthing") { try f.readBytes("classes/isthing").values }
        guard sourceIDs.count == names.count, isThing.count == names.count else {
            throw fail("classes", "names, source_ids and isthing differ in length (\(names.count), \(sourceIDs.count), \(isThing.count))")
        }
        var embeddings: (Int, [Float])? = nil
        if f.contains("classes/embeddings") {
            let e = try need("classes/embeddings") { try f.readFloats("classes/embeddings") }
            guard e.shape.count == 2, e.shape[0] == names.count else { throw fail("classes/embeddings", "shape \(e.shape) for \(names.count) classes") }
            embeddings = (e.shape[1], e.values)
        }
        classes = ShardClasses(names: names, sourceIDs: sourceIDs, isThing: isThing.map { $0 != 0 }, embeddings: embeddings)
        let k = Int32(names.count)

        guard let enc = try? f.stringAttribute("encoding", on: "images"), let encoding = ImageEncoding(rawValue: enc) else {
            throw fail("images", "attribute encoding missing or not raw, jpeg or png")
        }
        self.encoding = encoding
        imageBytes = try need("images/bytes") { try f.readBytes("images/bytes").values }
        imageOffsets = try need("images/offsets") { try f.readInt64s("images/offsets").values }
        let shapes = try need("images/shape") { try f.readInt32s("images/shape").values }
        imageShapes = shapes
        self.sourceIDs = try need("images/source_id") { try f.readInt64s("images/source_id").values }
        try Self.checkOffsets(imageOffsets, count: count, values: imageBytes.count, at: "images/offsets", fail)
        guard imageShapes.count == 3 * count, self.sourceIDs.count == count else {
            throw fail("images/shape", "expected [\(count), 3] shapes and \(count) source ids")
        }
        for i in 0..<count {
            let (h, w, c) = (Int(imageShapes[3 * i]), Int(imageShapes[3 * i + 1]), Int(imageShapes[3 * i + 2]))
            guard h > 0, w > 0, c == 3 else { throw fail("images/shape", "shape \(h)x\(w)x\(c) is not a positive HxWx3", sample: i) }
            guard h * w <= Image8.maxPixels else { throw fail("images/shape", "\(h)x\(w) pixels (at most \(Image8.maxPixels))", sample: i) }
            if encoding == .raw, Int(imageOffsets[i + 1] - imageOffsets[i]) != h * w * c {
                throw fail("images/bytes", "\(imageOffsets[i + 1] - imageOffsets[i]) bytes for a raw \(h)x\(w)x\(c) image", sample: i)
            }
        }
        func pixels(_ i: Int) -> Int { Int(shapes[3 * i]) * Int(shapes[3 * i + 1]) }

        if task == .semantic || f.contains("semantic/bytes") {
            let type = try need("semantic/bytes") { try f.elementType(of: "semantic/bytes") }
            let maps: [UInt16] = type.bytes == 1
                ? try need("semantic/bytes") { try f.readBytes("semantic/bytes").values.map { UInt16($0) } }
                : try need("semantic/bytes") { try f.readUInt16s("semantic/bytes").values }
            let offs = try need("semantic/offsets") { try f.readInt64s("semantic/offsets").values }
            try Self.checkOffsets(offs, count: count, values: maps.count, at: "semantic/offsets", fail)
            for i in 0..<count where Int(offs[i + 1] - offs[i]) != pixels(i) {
                throw fail("semantic/bytes", "\(offs[i + 1] - offs[i]) labels for a \(shapes[3 * i])x\(shapes[3 * i + 1]) image", sample: i)
            }
            ignoreLabel = Int((try? f.intAttribute("ignore_label", on: "semantic")) ?? 255)
            for i in 0..<count {
                for e in Int(offs[i])..<Int(offs[i + 1]) where Int(maps[e]) != ignoreLabel && Int32(maps[e]) >= k {
                    throw fail("semantic/bytes", "label \(maps[e]) is outside 0..<\(k) and not the ignore label \(ignoreLabel)", sample: i)
                }
            }
            (semantic, semanticOffsets) = (maps, offs)
        } else {
            ignoreLabel = 255
        }
        if task == .panoptic {
            let maps = try need("panoptic/bytes") { try f.readUInt32s("panoptic/bytes").values }
            let offs = try need("panoptic/offsets") { try f.readInt64s("panoptic/offsets").values }
            try Self.checkOffsets(offs, count: count, values: maps.count, at: "panoptic/offsets", fail)
            for i in 0..<count where Int(offs[i + 1] - offs[i]) != pixels(i) {
                throw fail("panoptic/bytes", "\(offs[i + 1] - offs[i]) ids for a \(shapes[3 * i])x\(shapes[3 * i + 1]) image", sample: i)
            }
            (panoptic, panopticOffsets) = (maps, offs)
        }
        if [.panoptic, .instance, .detection].contains(task) || f.contains("segments/offsets") {
            let offs = try need("segments/offsets") { try f.readInt64s("segments/offsets").values }
            segmentIDs = try need("segments/id") { try f.readInt32s("segments/id").values }
            segmentClasses = try need("segments/class") { try f.readInt32s("segments/class").values }
            segmentCrowd = try need("segments/iscrowd") { try f.readBytes("segments/iscrowd").values }
            segmentAreas = try need("segments/area") { try f.readInt64s("segments/area").values }
            segmentBoxes = try need("segments/bbox") { try f.readFloats("segments/bbox").values }
            let s = segmentIDs.count
            try Self.checkOffsets(offs, count: count, values: s, at: "segments/offsets", fail)
            guard segmentClasses.count == s, segmentCrowd.count == s, segmentAreas.count == s, segmentBoxes.count == 4 * s else {
                throw fail("segments", "id, class, iscrowd, area and bbox differ in length")
            }
            for i in 0..<count {
                for r in Int(offs[i])..<Int(offs[i + 1]) {
                    guard segmentClasses[r] >= 0 && segmentClasses[r] < k else {
                        throw fail("segments/class", "segment \(r): class \(segmentClasses[r]) is outside 0..<\(k)", sample: i)
                    }
                    let box = segmentBoxes[(4 * r)..<(4 * r + 4)]
                    guard box.allSatisfy(\.isFinite), box[4 * r + 2] >= 0, box[4 * r + 3] >= 0 else {
                        throw fail("segments/bbox", "segment \(r): box \(Array(box)) is not finite with width and height >= 0", sample: i)
                    }
                    guard segmentAreas[r] >= 0 else { throw fail("segments/area", "segment \(r): area \(segmentAreas[r]) < 0", sample: i) }
                }
                // Panoptic: segment ids unique in the image, and every id of the map in its table.
                guard task == .panoptic, let maps = panoptic, let mo = panopticOffsets else { continue }
                let ids = (Int(offs[i])..<Int(offs[i + 1])).map { UInt32(bitPattern: segmentIDs[$0]) }
                guard Set(ids).count == ids.count else {
                    throw fail("segments/id", "segment ids repeat in the image (\(ids.sorted()))", sample: i)
                }
                guard !ids.contains(0) else { throw fail("segments/id", "segment id 0 is void in the panoptic map", sample: i) }
                var last: UInt32 = 0
                for e in Int(mo[i])..<Int(mo[i + 1]) where maps[e] != 0 && maps[e] != last {
                    guard ids.contains(maps[e]) else {
                        throw fail("panoptic/bytes", "id \(maps[e]) of the map is not in the segment table (\(ids.sorted()))", sample: i)
                    }
                    last = maps[e]
                }
            }
            segmentOffsets = offs
            if task == .instance {
                let values = try need("segments/rle") { try f.readUInt32s("segments/rle").values }
                let ro = try need("segments/rle_offsets") { try f.readInt64s("segments/rle_offsets").values }
                try Self.checkOffsets(ro, count: s, values: values.count, at: "segments/rle_offsets", fail)
                for i in 0..<count {
                    for r in Int(offs[i])..<Int(offs[i + 1]) {
                        let total = values[Int(ro[r])..<Int(ro[r + 1])].reduce(0) { $0 + Int($1) }
                        guard total == pixels(i) else {
                            throw fail("segments/rle", "segment \(r): run lengths add up to \(total), not \(pixels(i)) pixels", sample: i)
                        }
                    }
                }
                (rle, rleOffsets) = (values, ro)
            }
        }
        if task == .imageLabels || f.contains("labels/class") {
            let values = try need("labels/class") { try f.readInt32s("labels/class").values }
            let offs = try need("labels/offsets") { try f.readInt64s("labels/offsets").values }
            try Self.checkOffsets(offs, count: count, values: values.count, at: "labels/offsets", fail)
            for i in 0..<count {
                for r in Int(offs[i])..<Int(offs[i + 1]) where values[r] < 0 || values[r] >= k {
                    throw fail("labels/class", "class \(values[r]) is outside 0..<\(k)", sample: i)
                }
            }
            (labels, labelOffsets) = (values, offs)
        }
    }

    /// N+1 offsets, starting at 0, non-decreasing, ending at the values' count.
    static func checkOffsets(_ o: [Int64], count: Int, values: Int, at: String, _ fail: (String, String, Int?) -> ShardError) throws {
        guard o.count == count + 1 else { throw fail(at, "has \(o.count) entries, expected \(count + 1)", nil) }
        guard o.first == 0 else { throw fail(at, "does not start at 0", nil) }
        for i in 0..<count where o[i + 1] < o[i] { throw fail(at, "decreases (\(o[i]) then \(o[i + 1]))", i) }
        guard o.last == Int64(values) else { throw fail(at, "ends at \(o.last!), but there are \(values) values", nil) }
    }

    /// Sample `i` as stored (the image still encoded).
    public func sample(_ i: Int) -> ShardSample {
        precondition(i >= 0 && i < count, "\(path): sample \(i) is outside 0..<\(count)")
        let image = Array(imageBytes[Int(imageOffsets[i])..<Int(imageOffsets[i + 1])])
        var s = ShardSample(image: image, height: Int(imageShapes[3 * i]), width: Int(imageShapes[3 * i + 1]),
                            channels: Int(imageShapes[3 * i + 2]), sourceID: sourceIDs[i])
        if let m = semantic, let o = semanticOffsets { s.semantic = Array(m[Int(o[i])..<Int(o[i + 1])]) }
        if let m = panoptic, let o = panopticOffsets { s.panoptic = Array(m[Int(o[i])..<Int(o[i + 1])]) }
        if let o = segmentOffsets {
            s.segments = (Int(o[i])..<Int(o[i + 1])).map { r in
                ShardSegment(id: segmentIDs[r], classID: segmentClasses[r], isCrowd: segmentCrowd[r] != 0, area: segmentAreas[r],
                             bbox: Array(segmentBoxes[(4 * r)..<(4 * r + 4)]),
                             rle: rle.map { Array($0[Int(rleOffsets![r])..<Int(rleOffsets![r + 1])]) })
            }
        }
        if let l = labels, let o = labelOffsets { s.labels = Array(l[Int(o[i])..<Int(o[i + 1])]) }
        return s
    }

    /// Sample `i` decoded (image and instance masks), every problem an error naming this shard,
    /// the HDF5 path and the sample: an image that does not decode, or decodes to another size
    /// than the shard states; a panoptic sample without any segment (nothing to learn or score).
    public func decoded(_ i: Int) throws -> DecodedSample {
        let stored = sample(i)
        if task == .panoptic && stored.segments.isEmpty {
            throw ShardError(file: path, path: "segments", sample: i, message: "the panoptic map has no segment (all void)")
        }
        do {
            return try DecodedSample(stored, encoding: encoding, ignoreLabel: ignoreLabel)
        } catch let error as ImageError {
            throw ShardError(file: path, path: "images/bytes", sample: i, message: "\(encoding.rawValue) image: \(error.message)")
        }
    }

    /// Number of segments over all samples.
    public var segmentCount: Int { segmentIDs.count }

    /// (height, width) of every image.
    public var imageSizes: [(Int, Int)] { (0..<count).map { (Int(imageShapes[3 * $0]), Int(imageShapes[3 * $0 + 1])) } }
}
