import Foundation

/// An error in an input file, naming the file and the item.
public struct InputError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let message: String
    public init(_ file: String, _ message: String) {
        self.file = file
        self.message = message
    }
    public var description: String { "\(file): \(message)" }
}

/// Reads a JSON file into Foundation objects, with errors that name the file.
func readJSON(_ path: String) throws -> Any {
    guard let data = FileManager.default.contents(atPath: path) else { throw InputError(path, "cannot read the file") }
    do {
        return try JSONSerialization.jsonObject(with: data)
    } catch {
        throw InputError(path, "malformed JSON")
    }
}

func number(_ value: Any?) -> Double? {
    guard let n = value as? NSNumber else { return nil }
    return n.doubleValue
}

/// COCO ground truth (instances format): images with their sizes, categories, annotations.
public struct COCOGroundTruth {
    public struct Image { public var id: Int, height: Int, width: Int }
    public var path: String
    public var images: [Int: Image]
    public var imageIDs: [Int]
    public var categoryIDs: [Int]
    /// Annotations by image, in file order.
    public var objects: [Int: [InstanceObject]]

    /// Reads `path`; masks are decoded for `segm` evaluation only.
    public init(path: String, withMasks: Bool) throws {
        self.path = path
        guard let root = try readJSON(path) as? [String: Any] else { throw InputError(path, "not a COCO JSON object") }
        guard let images = root["images"] as? [[String: Any]] else { throw InputError(path, "no \"images\" list") }
        guard let categories = root["categories"] as? [[String: Any]] else { throw InputError(path, "no \"categories\" list") }
        let annotations = root["annotations"] as? [[String: Any]] ?? []
        var byID: [Int: Image] = [:]
        for (i, image) in images.enumerated() {
            guard let id = number(image["id"]).map(Int.init), let h = number(image["height"]).map(Int.init),
                  let w = number(image["width"]).map(Int.init), h > 0, w > 0 else {
                throw InputError(path, "images[\(i)]: needs integer id, height and width")
            }
            byID[id] = Image(id: id, height: h, width: w)
        }
        self.images = byID
        imageIDs = byID.keys.sorted()
        categoryIDs = try categories.enumerated().map { i, c in
            guard let id = number(c["id"]).map(Int.init) else { throw InputError(path, "categories[\(i)]: no id") }
            return id
        }.sorted()
        let known = Set(categoryIDs)
        var objects: [Int: [InstanceObject]] = [:]
        for (i, a) in annotations.enumerated() {
            let item = "annotations[\(i)] (id \(number(a["id"]).map { String(Int($0)) } ?? "?"))"
            guard let imageID = number(a["image_id"]).map(Int.init), let image = byID[imageID] else {
                throw InputError(path, "\(item): image_id is missing or not among the images")
            }
            guard let category = number(a["category_id"]).map(Int.init), known.contains(category) else {
                throw InputError(path, "\(item): category_id is missing or not among the categories")
            }
            guard let bbox = (a["bbox"] as? [Any])?.compactMap(number), bbox.count == 4 else {
                throw InputError(path, "\(item): bbox must be [x, y, w, h]")
            }
            guard let area = number(a["area"]) else { throw InputError(path, "\(item): no area") }
            let crowd = (number(a["iscrowd"]) ?? 0) != 0
            var mask: RLE? = nil
            if withMasks {
                guard let segmentation = a["segmentation"] else { throw InputError(path, "\(item): no segmentation") }
                mask = try decodeSegmentation(segmentation, height: image.height, width: image.width, file: path, item: item)
            }
            objects[imageID, default: []].append(InstanceObject(categoryID: category, area: area, box: bbox, mask: mask, isCrowd: crowd))
        }
        self.objects = objects
    }
}

/// A segmentation in any of COCO's forms as an RLE (`COCO.annToRLE`): polygons (merged),
/// uncompressed RLE (`counts` a list) or compressed RLE (`counts` a string). As pycocotools,
/// a polygon list whose first entry has exactly 4 numbers is read as boxes.
func decodeSegmentation(_ value: Any, height: Int, width: Int, file: String, item: String) throws -> RLE {
    if let polygons = value as? [Any] {
        let lists = try polygons.map { p -> [Double] in
            guard let coords = p as? [Any] else { throw InputError(file, "\(item): a polygon must be a list of numbers") }
            let values = coords.compactMap(number)
            guard values.count == coords.count else { throw InputError(file, "\(item): a polygon must be a list of numbers") }
            return values
        }
        guard let first = lists.first, first.count >= 4 else { throw InputError(file, "\(item): empty or too short polygon") }
        if first.count == 4 {
            return RLE.merge(lists.map { RLE(box: $0, height: height, width: width) })
        }
        for l in lists where l.count % 2 != 0 || l.count < 6 {
            _ = l
            throw InputError(file, "\(item): a polygon needs an even number (>= 6) of coordinates")
        }
        return RLE.merge(lists.map { RLE(polygon: $0, height: height, width: width) })
    }
    guard let dict = value as? [String: Any], let size = (dict["size"] as? [Any])?.compactMap(number), size.count == 2 else {
        throw InputError(file, "\(item): segmentation must be polygons or an RLE with \"size\" and \"counts\"")
    }
    let (h, w) = (Int(size[0]), Int(size[1]))
    if let s = dict["counts"] as? String {
        guard let rle = RLE(compressed: s, height: h, width: w) else { throw InputError(file, "\(item): invalid compressed RLE counts") }
        guard rle.counts.reduce(0, { $0 + Int($1) }) == h * w else {
            throw InputError(file, "\(item): RLE counts add up to \(rle.counts.reduce(0) { $0 + Int($1) }), not \(h)x\(w)")
        }
        return rle
    }
    if let list = dict["counts"] as? [Any] {
        let counts = list.compactMap(number)
        guard counts.count == list.count, counts.allSatisfy({ $0 >= 0 }) else { throw InputError(file, "\(item): RLE counts must be non-negative numbers") }
        let rle = RLE(height: h, width: w, counts: counts.map { UInt32($0) })
        guard rle.counts.reduce(0, { $0 + Int($1) }) == h * w else { throw InputError(file, "\(item): RLE counts do not add up to \(h)x\(w)") }
        return rle
    }
    throw InputError(file, "\(item): RLE without \"counts\"")
}

/// COCO results: a list of `{image_id, category_id, score, bbox | segmentation}`, by image in
/// file order (`COCO.loadRes`: a detection's area is its mask's area, or the box's w·h).
public func readCOCOResults(_ path: String, groundTruth gt: COCOGroundTruth,
                            iouType: InstanceEvaluator.IoUType) throws -> [Int: [InstanceObject]] {
    guard let list = try readJSON(path) as? [[String: Any]] else { throw InputError(path, "not a JSON list of results") }
    let known = Set(gt.categoryIDs)
    var out: [Int: [InstanceObject]] = [:]
    for (i, r) in list.enumerated() {
        let item = "result \(i)"
        guard let imageID = number(r["image_id"]).map(Int.init) else { throw InputError(path, "\(item): no image_id") }
        guard let image = gt.images[imageID] else {
            throw InputError(path, "\(item): image_id \(imageID) is not in the ground truth \(gt.path)")
        }
        guard let category = number(r["category_id"]).map(Int.init) else { throw InputError(path, "\(item): no category_id") }
        guard known.contains(category) else { throw InputError(path, "\(item): unknown category_id \(category)") }
        guard let score = number(r["score"]), score.isFinite else { throw InputError(path, "\(item): no finite score") }
        switch iouType {
        case .bbox:
            guard let bbox = (r["bbox"] as? [Any])?.compactMap(number), bbox.count == 4 else {
                throw InputError(path, "\(item): bbox must be [x, y, w, h]")
            }
            out[imageID, default: []].append(InstanceObject(categoryID: category, area: bbox[2] * bbox[3], box: bbox, score: score))
        case .segm:
            guard let segmentation = r["segmentation"] else { throw InputError(path, "\(item): no segmentation") }
            let rle = try decodeSegmentation(segmentation, height: image.height, width: image.width, file: path, item: item)
            out[imageID, default: []].append(InstanceObject(categoryID: category, area: Double(rle.area),
                                                            box: rle.boundingBox, mask: rle, score: score))
        }
    }
    return out
}
