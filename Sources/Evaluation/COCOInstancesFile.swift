import COCOMask
import Core
import CSimdJSON
import Dispatch
import Foundation

/// A COCO instances file read by simdjson (`Sources/CSimdJSON`): the numbers of every image,
/// category and annotation (or result), segmentations as pools of values. Errors name the file
/// and the item, as JSONDecoder's did.
final class COCOJSONFile {
    var raw = coco_json()
    let path: String

    init(_ path: String, results: Bool, withSegmentation: Bool) throws {
        self.path = path
        var error = [CChar](repeating: 0, count: 512)
        let status = coco_json_read(path, results ? 1 : 0, withSegmentation ? 1 : 0, &raw, &error, error.count)
        guard status == 0 else { throw InputError(path, String(cString: error)) }
    }

    deinit { coco_json_free(&raw) }

    var objectCount: Int { raw.object_count }

    /// A whole-number field, or the error JSONDecoder gave for `WholeNumber`.
    static func whole(_ value: Double, _ item: String, _ field: String, file: String) throws -> Int {
        guard !value.isNaN else { throw InputError(file, "\(item): no \"\(field)\"") }
        guard value.isFinite, value == value.rounded(), abs(value) <= 9_007_199_254_740_992 else {
            throw InputError(file, "\(item).\(field): \(value) is not a whole number within ±2^53")
        }
        return Int(value)
    }

    /// The bbox of object `i` when it is a list, else nil (absent).
    func bbox(_ i: Int) -> [Double]? {
        let n = Int(raw.bbox_length[i])
        return n < 0 ? nil : (0..<min(n, 4)).map { raw.bbox[4 * i + $0] } + [Double](repeating: .nan, count: max(0, n - 4))
    }

    /// The segmentation of object `i` (nil: absent or not read).
    func segmentation(_ i: Int, item: String) throws -> COCOSegmentation? {
        switch Int(raw.segmentation_kind[i]) {
        case COCO_SEG_POLYGONS:
            var start = raw.values_first[i], out: [[Double]] = []
            for k in 0..<raw.polygon_count[i] {
                let end = raw.polygon_ends[raw.polygon_first[i] + k]
                out.append(Array(UnsafeBufferPointer(start: raw.values + start, count: end - start)))
                start = end
            }
            return .polygons(out)
        case COCO_SEG_COMPRESSED, COCO_SEG_UNCOMPRESSED:
            let (h, w) = (raw.segmentation_size[2 * i], raw.segmentation_size[2 * i + 1])
            guard [h, w].allSatisfy({ $0.isFinite && $0 >= 1 && $0 <= Double(COCOLimits.maxSide) && $0 == $0.rounded() }) else {
                throw InputError(path, "\(item).segmentation.size: size must be [height, width], whole numbers from 1 to \(COCOLimits.maxSide)")
            }
            if Int(raw.segmentation_kind[i]) == COCO_SEG_COMPRESSED {
                let bytes = UnsafeRawBufferPointer(start: raw.chars + raw.string_first[i], count: raw.string_end[i] - raw.string_first[i])
                return .compressed(height: Int(h), width: Int(w), counts: String(decoding: bytes, as: UTF8.self))
            }
            let counts = Array(UnsafeBufferPointer(start: raw.values + raw.values_first[i], count: raw.values_end[i] - raw.values_first[i]))
            return .uncompressed(height: Int(h), width: Int(w), counts: counts)
        default:
            return nil
        }
    }
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
        let file = try COCOJSONFile(path, results: false, withSegmentation: withMasks), raw = file.raw
        var byID: [Int: Image] = [:]
        for i in 0..<raw.image_count {
            let item = "images[\(i)]"
            let id = try COCOJSONFile.whole(raw.image_id[i], item, "id", file: path)
            let height = try COCOJSONFile.whole(raw.image_height[i], item, "height", file: path)
            let width = try COCOJSONFile.whole(raw.image_width[i], item, "width", file: path)
            let (h, w) = try COCOLimits.checkSize(height: Double(height), width: Double(width), file: path, item: item)
            guard byID.updateValue(Image(id: id, height: h, width: w), forKey: id) == nil else {
                throw InputError(path, "\(item): id \(id) appears twice")
            }
        }
        images = byID
        imageIDs = byID.keys.sorted()
        categoryIDs = try (0..<raw.category_count).map { try COCOJSONFile.whole(raw.category_id[$0], "categories[\($0)]", "id", file: path) }.sorted()
        let known = Set(categoryIDs)
        // Checking and decoding masks (polygon rasterisation above all) is independent per
        // annotation: in parallel; the first error in file order is reported.
        let decoded = try Parallel.map(file.objectCount) { i -> (Int, InstanceObject) in
            do {
                var item = "annotations[\(i)]"
                let id = raw.id[i].isNaN ? nil : try COCOJSONFile.whole(raw.id[i], item, "id", file: path)
                let imageID = try COCOJSONFile.whole(raw.image[i], item, "image_id", file: path)
                let categoryID = try COCOJSONFile.whole(raw.category[i], item, "category_id", file: path)
                let iscrowd = raw.iscrowd[i].isNaN ? 0 : try COCOJSONFile.whole(raw.iscrowd[i], item, "iscrowd", file: path)
                guard let box = file.bbox(i) else { throw InputError(path, "\(item): no \"bbox\"") }
                guard !raw.area[i].isNaN else { throw InputError(path, "\(item): no \"area\"") }
                let area = raw.area[i]
                item += " (id \(id.map(String.init) ?? "?"))"
                guard let image = byID[imageID] else { throw InputError(path, "\(item): image_id \(imageID) is not among the images") }
                guard known.contains(categoryID) else { throw InputError(path, "\(item): category_id \(categoryID) is not among the categories") }
                guard box.count == 4, box.allSatisfy(\.isFinite), box[2] >= 0, box[3] >= 0 else {
                    throw InputError(path, "\(item): bbox must be [x, y, w, h], finite, w and h >= 0")
                }
                guard area.isFinite, area >= 0 else { throw InputError(path, "\(item): area \(area) must be finite and >= 0") }
                var mask: RLE? = nil
                if withMasks {
                    guard let segmentation = try file.segmentation(i, item: item) else { throw InputError(path, "\(item): no segmentation") }
                    mask = try rleOf(segmentation, height: image.height, width: image.width, file: path, item: item)
                }
                return (imageID, InstanceObject(categoryID: categoryID, area: area, box: box, mask: mask, isCrowd: iscrowd != 0))
            } catch let error as InputError {
                throw error
            } catch {
                throw InputError(path, "annotations[\(i)]: \(error)")
            }
        }
        var objects: [Int: [InstanceObject]] = [:]
        for (imageID, object) in decoded { objects[imageID, default: []].append(object) }
        self.objects = objects
    }
}


/// COCO results: a list of `{image_id, category_id, score, bbox | segmentation}`, by image in
/// file order (`COCO.loadRes`: a detection's area is its mask's area, or the box's w·h).
public func readCOCOResults(_ path: String, groundTruth gt: COCOGroundTruth,
                            iouType: InstanceEvaluator.IoUType) throws -> [Int: [InstanceObject]] {
    let file = try COCOJSONFile(path, results: true, withSegmentation: iouType == .segm), raw = file.raw
    let known = Set(gt.categoryIDs)
    let decoded = try Parallel.map(file.objectCount) { i -> (Int, InstanceObject) in
        let item = "result \(i)"
        do {
            let imageID = try COCOJSONFile.whole(raw.image[i], "[\(i)]", "image_id", file: path)
            let categoryID = try COCOJSONFile.whole(raw.category[i], "[\(i)]", "category_id", file: path)
            guard !raw.score[i].isNaN else { throw InputError(path, "[\(i)]: no \"score\"") }
            let score = raw.score[i]
            guard let image = gt.images[imageID] else {
                throw InputError(path, "\(item): image_id \(imageID) is not in the ground truth \(gt.path)")
            }
            guard known.contains(categoryID) else { throw InputError(path, "\(item): unknown category_id \(categoryID)") }
            guard score.isFinite else { throw InputError(path, "\(item): score is not finite") }
            switch iouType {
            case .bbox:
                guard let bbox = file.bbox(i), bbox.count == 4, bbox.allSatisfy(\.isFinite) else {
                    throw InputError(path, "\(item): bbox must be [x, y, w, h] of finite numbers")
                }
                return (imageID, InstanceObject(categoryID: categoryID, area: bbox[2] * bbox[3], box: bbox, score: score))
            case .segm:
                guard let segmentation = try file.segmentation(i, item: item) else { throw InputError(path, "\(item): no segmentation") }
                let mask = try rleOf(segmentation, height: image.height, width: image.width, file: path, item: item)
                var object = InstanceObject(categoryID: categoryID, area: Double(mask.area), box: [], mask: mask, score: score)
                object.box = object.maskBox!   // computed once
                return (imageID, object)
            }
        } catch let error as InputError {
            throw error
        } catch {
            throw InputError(path, "\(item): \(error)")
        }
    }
    var out: [Int: [InstanceObject]] = [:]
    for (imageID, object) in decoded { out[imageID, default: []].append(object) }
    return out
}
