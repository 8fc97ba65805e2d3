import Foundation
import Images
import Core
import COCOMask

/// Conversion of the field's dataset formats into shards. Every converter reads the source
/// annotations, maps the original category ids to contiguous ids (kept in `source_ids`), and
/// writes shards of `samplesPerShard` samples, each written whole through a temporary file; a
/// missing image or a broken annotation stops it with the file and the item named — or, with
/// `skipInvalid`, is skipped and recorded in `report` (so is what is kept but worth a word).
public struct ConversionOptions: Sendable {
    public var output: String
    public var name: String
    public var split: String = "train"
    public var samplesPerShard: Int = 1000
    /// JPEG and PNG sources are stored as they are (no re-encoding) unless `raw` is asked.
    public var keepEncoded: Bool = true
    /// Skip an invalid item (image or annotation) instead of stopping; each is recorded.
    public var skipInvalid: Bool = false
    /// What the conversion skipped and noticed.
    public var report = ConversionReport()
    public init(output: String, name: String) {
        self.output = output
        self.name = name
    }
}

/// The items a conversion skipped (with `skipInvalid`) and what it noticed and kept.
public final class ConversionReport: @unchecked Sendable {
    public private(set) var skipped: [ConversionError] = []
    public private(set) var notes: [String] = []
    public init() {}
    func skip(_ error: ConversionError) { skipped.append(error) }
    func note(_ text: String) { notes.append(text) }
}

public struct ConversionError: LocatedError, Equatable {
    public var file: String
    public var item: String
    public var message: String
    public var location: String { "\(file): \(item)" }
    public var problem: String { message }
}

public enum Converters {
    /// Reports progress: done, total.
    public typealias Progress = (Int, Int) -> Void

    // MARK: - Shared

    /// The image file as stored in the shard: its own bytes for JPEG/PNG, and its size.
    static func loadImage(_ path: String, item: String, keepEncoded: Bool) throws -> (bytes: [UInt8], encoding: ImageEncoding, height: Int, width: Int) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConversionError(file: path, item: item, message: "image file is missing or unreadable")
        }
        let bytes = [UInt8](data)
        do {
            if bytes.starts(with: [0xFF, 0xD8]) {
                let decoded = try JPEG.decode(bytes, name: path)
                return keepEncoded ? (bytes, .jpeg, decoded.height, decoded.width) : (decoded.pixels, .raw, decoded.height, decoded.width)
            }
            let decoded = try PNG.decode(bytes, mode: .rgb, name: path)
            return keepEncoded ? (bytes, .png, decoded.height, decoded.width) : (decoded.pixels, .raw, decoded.height, decoded.width)
        } catch let error as ImageError {
            throw ConversionError(file: path, item: item, message: error.message)
        }
    }

    /// Writes samples into shards as they come (all samples of a dataset share one encoding),
    /// into a temporary folder; `finish` replaces the split's shards in the output folder with
    /// them — no stale shards of an earlier conversion stay beside the new ones, and a failed
    /// conversion leaves the old ones as they were. Other splits in the folder are kept.
    struct ShardSink {
        let options: ConversionOptions
        let task: ShardTask
        let classes: ShardClasses
        let staging: String
        var writer: ShardWriter?
        var encoding: ImageEncoding?
        var shard = 0
        var written = 0

        init(_ options: ConversionOptions, task: ShardTask, classes: ShardClasses) throws {
            self.options = options
            self.task = task
            self.classes = classes
            try FileManager.default.createDirectory(atPath: options.output, withIntermediateDirectories: true)
            AtomicFile.removeLeftovers(in: options.output)
            staging = AtomicFile.temporaryPath(for: (options.output as NSString).appendingPathComponent(options.split))
            try? FileManager.default.removeItem(atPath: staging)
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        }

        /// The last shard, then the split's new shards in place of its old ones.
        mutating func finish() throws {
            try flush()
            let files = FileManager.default
            let stale = try files.contentsOfDirectory(atPath: options.output).filter { $0.hasPrefix(options.split + "-") && $0.hasSuffix(".h5") }
            for name in stale { try files.removeItem(atPath: (options.output as NSString).appendingPathComponent(name)) }
            for name in try files.contentsOfDirectory(atPath: staging).sorted() {
                try files.moveItem(atPath: (staging as NSString).appendingPathComponent(name), toPath: (options.output as NSString).appendingPathComponent(name))
            }
            try files.removeItem(atPath: staging)
        }

        mutating func add(_ sample: ShardSample, encoding: ImageEncoding, item: String, file: String) throws {
            if let e = self.encoding, e != encoding {
                throw ConversionError(file: file, item: item, message: "image encoding \(encoding.rawValue) differs from the dataset's \(e.rawValue) (convert with raw images)")
            }
            self.encoding = encoding
            if writer == nil { writer = ShardWriter(dataset: options.name, task: task, classes: classes, encoding: encoding) }
            writer!.append(sample)
            written += 1
            if writer!.count == options.samplesPerShard { try flush() }
        }

        mutating func flush() throws {
            guard let w = writer, w.count > 0 else { return }
            try w.write(to: (staging as NSString).appendingPathComponent(String(format: "%@-%05d.h5", options.split, shard)))
            shard += 1
            writer = nil
        }
    }

    static func readJSONObject(_ path: String) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ConversionError(file: path, item: "file", message: "cannot read") }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ConversionError(file: path, item: "file", message: "not a JSON object")
        }
        return object
    }

    static func int(_ v: Any?) -> Int? {
        guard let d = (v as? NSNumber)?.doubleValue, d.isFinite, d == d.rounded(), abs(d) <= 9_007_199_254_740_992 else { return nil }
        return Int(d)
    }
    static func double(_ v: Any?) -> Double? { (v as? NSNumber)?.doubleValue }

    /// COCO `categories` → contiguous classes in file order.
    static func cocoClasses(_ root: [String: Any], file: String) throws -> (ShardClasses, [Int: Int32]) {
        guard let categories = root["categories"] as? [[String: Any]] else { throw ConversionError(file: file, item: "categories", message: "missing") }
        var map: [Int: Int32] = [:]
        var names: [String] = [], ids: [Int64] = [], things: [Bool] = []
        for (i, c) in categories.enumerated() {
            guard let id = int(c["id"]), let raw = c["name"] as? String else {
                throw ConversionError(file: file, item: "categories[\(i)]", message: "needs id and name")
            }
            let name = normalizedClassName(raw)
            guard !name.isEmpty else { throw ConversionError(file: file, item: "categories[\(i)]", message: "the name is empty") }
            guard map[id] == nil else { throw ConversionError(file: file, item: "categories[\(i)]", message: "id \(id) appears twice") }
            map[id] = Int32(names.count)
            names.append(name)
            ids.append(Int64(id))
            things.append((int(c["isthing"]) ?? 1) == 1)
        }
        return (ShardClasses(names: names, sourceIDs: ids, isThing: things), map)
    }

    // MARK: - COCO panoptic

    /// COCO panoptic: panoptic JSON, folder of panoptic PNGs, folder of images.
    @discardableResult
    public static func cocoPanoptic(json: String, pngFolder: String, imageFolder: String, options: ConversionOptions,
                                    progress: Progress = { _, _ in }) throws -> Int {
        let root = try readJSONObject(json)
        let (classes, map) = try cocoClasses(root, file: json)
        guard let images = root["images"] as? [[String: Any]], let annotations = root["annotations"] as? [[String: Any]] else {
            throw ConversionError(file: json, item: "file", message: "needs images and annotations")
        }
        var fileOf: [Int: String] = [:]
        for im in images { if let id = int(im["id"]), let f = im["file_name"] as? String { fileOf[id] = f } }
        var sink = try ShardSink(options, task: .panoptic, classes: classes)
        for (i, a) in annotations.enumerated() {
          do {
            let item = "annotations[\(i)]"
            guard let imageID = int(a["image_id"]), let imageFile = fileOf[imageID], let pngName = a["file_name"] as? String,
                  let infos = a["segments_info"] as? [[String: Any]] else {
                throw ConversionError(file: json, item: item, message: "needs image_id (among the images), file_name and segments_info")
            }
            let image = try loadImage((imageFolder as NSString).appendingPathComponent(imageFile), item: item, keepEncoded: options.keepEncoded)
            let pngPath = (pngFolder as NSString).appendingPathComponent(pngName)
            let png: Image8
            do { png = try PNG.read(pngPath, mode: .rgb) } catch let e as ImageError { throw ConversionError(file: pngPath, item: item, message: e.message) }
            guard png.width == image.width, png.height == image.height else {
                throw ConversionError(file: pngPath, item: item, message: "is \(png.width)x\(png.height), the image \(image.width)x\(image.height)")
            }
            let ids = PanopticPNG.ids(fromRGB: png.pixels)
            let present = Set(ids)
            var segments: [ShardSegment] = []
            for (j, s) in infos.enumerated() {
                guard let id = int(s["id"]), let cat = int(s["category_id"]), let cls = map[cat] else {
                    throw ConversionError(file: json, item: "\(item).segments_info[\(j)]", message: "needs an id and a known category_id")
                }
                guard present.contains(UInt32(id)) else {
                    throw ConversionError(file: pngPath, item: "\(item).segments_info[\(j)]", message: "segment \(id) is not in the PNG")
                }
                let bbox = (s["bbox"] as? [Any])?.compactMap(double).map(Float.init) ?? [0, 0, 0, 0]
                segments.append(ShardSegment(id: Int32(id), classID: cls, isCrowd: (int(s["iscrowd"]) ?? 0) == 1,
                                             area: Int64(int(s["area"]) ?? ids.filter { $0 == UInt32(id) }.count), bbox: bbox))
            }
            let known = Set(segments.map { UInt32($0.id) })
            if let stray = present.subtracting(known).subtracting([0]).first {
                throw ConversionError(file: pngPath, item: item, message: "segment \(stray) is in the PNG and not in segments_info")
            }
            try sink.add(ShardSample(image: image.bytes, height: image.height, width: image.width, sourceID: Int64(imageID),
                                     panoptic: ids, segments: segments), encoding: image.encoding, item: item, file: json)
          } catch let error as ConversionError where options.skipInvalid {
            options.report.skip(error)
          }
            progress(i + 1, annotations.count)
        }
        try sink.finish()
        return sink.written
    }

    // MARK: - COCO instances and Objects365

    /// COCO instances JSON (polygons, RLE) → instance shards with masks; with `boxesOnly`
    /// (Objects365), detection shards.
    @discardableResult
    public static func cocoInstances(json: String, imageFolder: String, boxesOnly: Bool, options: ConversionOptions,
                                     progress: Progress = { _, _ in }) throws -> Int {
        let root = try readJSONObject(json)
        let (classes, map) = try cocoClasses(root, file: json)
        guard let images = root["images"] as? [[String: Any]] else { throw ConversionError(file: json, item: "images", message: "missing") }
        let annotations = root["annotations"] as? [[String: Any]] ?? []
        let imageIDs = Set(images.compactMap { int($0["id"]) })
        var byImage: [Int: [(Int, [String: Any])]] = [:]
        for (i, a) in annotations.enumerated() {
            do {
                guard let id = int(a["image_id"]) else { throw ConversionError(file: json, item: "annotations[\(i)]", message: "no whole-number image_id") }
                guard imageIDs.contains(id) else {
                    throw ConversionError(file: json, item: "annotations[\(i)]", message: "image_id \(id) is not among the images")
                }
                byImage[id, default: []].append((i, a))
            } catch let error as ConversionError where options.skipInvalid {
                options.report.skip(error)
            }
        }
        var sink = try ShardSink(options, task: boxesOnly ? .detection : .instance, classes: classes)
        var unannotated = 0
        for (k, im) in images.enumerated() {
          do {
            let item = "images[\(k)]"
            guard let id = int(im["id"]), let file = im["file_name"] as? String else {
                throw ConversionError(file: json, item: item, message: "needs id and file_name")
            }
            let image = try loadImage((imageFolder as NSString).appendingPathComponent(file), item: item, keepEncoded: options.keepEncoded)
            if let w = int(im["width"]), let h = int(im["height"]), (w, h) != (image.width, image.height) {
                throw ConversionError(file: json, item: item, message: "says \(w)x\(h), the image file \(file) is \(image.width)x\(image.height)")
            }
            if byImage[id] == nil { unannotated += 1 }
            var segments: [ShardSegment] = []
            for (running, (i, a)) in (byImage[id] ?? []).enumerated() {
                let aItem = "annotations[\(i)]"
                guard let cat = int(a["category_id"]), let cls = map[cat] else {
                    throw ConversionError(file: json, item: aItem, message: "category_id missing or not among the categories")
                }
                guard let bbox = (a["bbox"] as? [Any])?.compactMap(double), bbox.count == 4, bbox.allSatisfy(\.isFinite) else {
                    throw ConversionError(file: json, item: aItem, message: "bbox must be [x, y, w, h] of finite numbers")
                }
                guard bbox[2] >= 0, bbox[3] >= 0 else {
                    throw ConversionError(file: json, item: aItem, message: "bbox \(bbox) has a negative width or height")
                }
                var rle: [UInt32]? = nil
                if !boxesOnly {
                    guard let segmentation = a["segmentation"] else { throw ConversionError(file: json, item: aItem, message: "no segmentation") }
                    do {
                        rle = try cocoMask(segmentation, height: image.height, width: image.width).counts
                    } catch let e as InputError {
                        throw ConversionError(file: json, item: aItem, message: e.problem)
                    }
                }
                segments.append(ShardSegment(id: Int32(running), classID: cls, isCrowd: (int(a["iscrowd"]) ?? 0) == 1,
                                             area: Int64(double(a["area"]) ?? 0), bbox: bbox.map(Float.init), rle: rle))
            }
            try sink.add(ShardSample(image: image.bytes, height: image.height, width: image.width, sourceID: Int64(id), segments: segments),
                         encoding: image.encoding, item: item, file: json)
          } catch let error as ConversionError where options.skipInvalid {
            options.report.skip(error)
          }
            progress(k + 1, images.count)
        }
        if unannotated > 0 { options.report.note("\(unannotated) of \(images.count) images have no annotation (kept: images without objects)") }
        try sink.finish()
        return sink.written
    }

    /// A COCO segmentation (polygons or RLE) as an RLE of the image's size.
    static func cocoMask(_ value: Any, height: Int, width: Int) throws -> RLE {
        let mask = try rleFromCOCOSegmentation(value, height: height, width: width, file: "<segmentation>", item: "segmentation")
        guard mask.height == height, mask.width == width else {
            throw InputError("<segmentation>", "RLE size \(mask.height)x\(mask.width) differs from the image's \(height)x\(width)")
        }
        return mask
    }

    // MARK: - ADE20K

    /// ADE20K scene parsing: images and label PNGs paired by file stem; label 0 ("other") is
    /// the ignore label, label v the class v − 1 of `vocab` (150 classes).
    @discardableResult
    public static func ade20k(imageFolder: String, labelFolder: String, vocab: String, options: ConversionOptions,
                              progress: Progress = { _, _ in }) throws -> Int {
        let classes = try ClassVocabulary.load(vocab, defaultIsThing: false).shardClasses
        let labels = try FileManager.default.contentsOfDirectory(atPath: labelFolder).filter { $0.hasSuffix(".png") }.sorted()
        guard !labels.isEmpty else { throw ConversionError(file: labelFolder, item: "folder", message: "no label PNGs") }
        let imageFiles = try FileManager.default.contentsOfDirectory(atPath: imageFolder)
        var imageByStem: [String: String] = [:]
        for f in imageFiles { imageByStem[(f as NSString).deletingPathExtension] = f }
        var sink = try ShardSink(options, task: .semantic, classes: classes)
        for (k, name) in labels.enumerated() {
          do {
            let stem = (name as NSString).deletingPathExtension
            guard let imageFile = imageByStem[stem] else {
                throw ConversionError(file: (imageFolder as NSString).appendingPathComponent(stem + ".jpg"), item: name, message: "no image for this label map")
            }
            let image = try loadImage((imageFolder as NSString).appendingPathComponent(imageFile), item: name, keepEncoded: options.keepEncoded)
            let labelPath = (labelFolder as NSString).appendingPathComponent(name)
            let map: Image8
            do { map = try PNG.read(labelPath, mode: .labels) } catch let e as ImageError { throw ConversionError(file: labelPath, item: name, message: e.message) }
            guard map.width == image.width, map.height == image.height else {
                throw ConversionError(file: labelPath, item: name, message: "is \(map.width)x\(map.height), the image \(image.width)x\(image.height)")
            }
            var semantic = [UInt16](repeating: 255, count: map.pixels.count)
            for (p, v) in map.pixels.enumerated() {
                if v == 0 { continue }
                guard Int(v) <= classes.count else {
                    throw ConversionError(file: labelPath, item: name, message: "label \(v) is outside 0...\(classes.count)")
                }
                semantic[p] = UInt16(v - 1)
            }
            try sink.add(ShardSample(image: image.bytes, height: image.height, width: image.width, sourceID: Int64(k), semantic: semantic),
                         encoding: image.encoding, item: name, file: labelPath)
          } catch let error as ConversionError where options.skipInvalid {
            options.report.skip(error)
          }
            progress(k + 1, labels.count)
        }
        try sink.finish()
        return sink.written
    }

    // MARK: - Image labels

    /// A JSON object of image file → class names (names from `vocab`'s `name` or `embed_name`).
    @discardableResult
    public static func imageLabels(json: String, imageFolder: String, vocab: String, options: ConversionOptions,
                                   progress: Progress = { _, _ in }) throws -> Int {
        let vocabulary = try ClassVocabulary.load(vocab)
        let classes = vocabulary.shardClasses
        var index: [String: Int32] = [:]
        for i in 0..<vocabulary.count {
            for n in [vocabulary.names[i], vocabulary.embedNames[i]] { index[n.lowercased()] = Int32(i) }
        }
        let labels = try readJSONObject(json)
        var sink = try ShardSink(options, task: .imageLabels, classes: classes)
        for (k, file) in labels.keys.sorted().enumerated() {
          do {
            guard let names = labels[file] as? [String] else { throw ConversionError(file: json, item: file, message: "value must be a list of class names") }
            let ids = try names.map { n -> Int32 in
                guard let c = index[normalizedClassName(n).lowercased()] else { throw ConversionError(file: json, item: file, message: "unknown class name '\(n)'") }
                return c
            }
            let image = try loadImage((imageFolder as NSString).appendingPathComponent(file), item: file, keepEncoded: options.keepEncoded)
            try sink.add(ShardSample(image: image.bytes, height: image.height, width: image.width, sourceID: Int64(k),
                                     labels: Array(Set(ids)).sorted()), encoding: image.encoding, item: file, file: json)
          } catch let error as ConversionError where options.skipInvalid {
            options.report.skip(error)
          }
            progress(k + 1, labels.count)
        }
        try sink.finish()
        return sink.written
    }
}

/// A class name as every part of the project compares it: surrounding whitespace removed (real
/// Objects365 names carry trailing spaces: `'Table Tennis '`).
public func normalizedClassName(_ name: String) -> String { name.trimmingCharacters(in: .whitespacesAndNewlines) }
