import Dispatch
import Foundation
import Core
import COCOMask

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

/// A JSON number that is a whole number within ±2^53 (ids), else nil.
func wholeNumber(_ value: Any?) -> Int? {
    guard let d = number(value), d.isFinite, d == d.rounded(), abs(d) <= 9_007_199_254_740_992 else { return nil }
    return Int(d)
}

/// Decodes `T` from a JSON file; errors name the file and the item (`annotations[12].bbox`).
func decodeJSON<T: Decodable>(_ type: T.Type, _ path: String, userInfo: [CodingUserInfoKey: Any] = [:]) throws -> T {
    guard let data = FileManager.default.contents(atPath: path) else { throw InputError(path, "cannot read the file") }
    let decoder = JSONDecoder()
    decoder.userInfo = userInfo
    do {
        return try decoder.decode(T.self, from: data)
    } catch let DecodingError.dataCorrupted(context) {
        throw InputError(path, context.codingPath.isEmpty ? "malformed JSON" : "\(codingPathText(context.codingPath)): \(context.debugDescription)")
    } catch let DecodingError.keyNotFound(key, context) {
        throw InputError(path, "\(codingPathText(context.codingPath)): no \"\(key.stringValue)\"")
    } catch let DecodingError.typeMismatch(_, context) {
        throw InputError(path, "\(codingPathText(context.codingPath)): \(context.debugDescription)")
    } catch let DecodingError.valueNotFound(_, context) {
        throw InputError(path, "\(codingPathText(context.codingPath)): \(context.debugDescription)")
    } catch {
        throw InputError(path, "malformed JSON")
    }
}

/// An integer field of a JSON file (ids, sizes): read as a number and checked to be a whole
/// number within ±2^53, so that `1e300` or `1.5` is an error naming the field rather than a
/// crash or a silently different id.
struct WholeNumber: Decodable {
    let value: Int
    init(from decoder: Decoder) throws {
        let d = try decoder.singleValueContainer().decode(Double.self)
        guard d.isFinite, d == d.rounded(), abs(d) <= 9_007_199_254_740_992 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(d) is not a whole number within ±2^53"))
        }
        value = Int(d)
    }
}

/// `annotations[3].bbox` from a decoding path.
func codingPathText(_ path: [CodingKey]) -> String {
    var text = ""
    for key in path {
        if let i = key.intValue { text += "[\(i)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
    }
    return text.isEmpty ? "top level" : text
}


/// Set in a decoder's user info to skip decoding segmentations (box evaluation).
let skipSegmentationKey = CodingUserInfoKey(rawValue: "skipSegmentation")!

/// COCO ground truth (instances format): images with their sizes, categories, annotations.
public struct COCOGroundTruth {
    public struct Image { public var id: Int, height: Int, width: Int }
    public var path: String
    public var images: [Int: Image]
    public var imageIDs: [Int]
    public var categoryIDs: [Int]
    /// Annotations by image, in file order.
    public var objects: [Int: [InstanceObject]]

    struct File: Decodable {
        struct ImageEntry: Decodable { let id: WholeNumber; let height: WholeNumber; let width: WholeNumber }
        struct Category: Decodable { let id: WholeNumber }
        struct Annotation: Decodable {
            let id: Int?
            let image_id: Int
            let category_id: Int
            let bbox: [Double]
            let area: Double
            let iscrowd: Int?
            let segmentation: COCOSegmentation?

            private enum Keys: String, CodingKey { case id, image_id, category_id, bbox, area, iscrowd, segmentation }
            init(from decoder: Decoder) throws {
                let c = try decoder.container(keyedBy: Keys.self)
                id = try c.decodeIfPresent(WholeNumber.self, forKey: .id)?.value
                image_id = try c.decode(WholeNumber.self, forKey: .image_id).value
                category_id = try c.decode(WholeNumber.self, forKey: .category_id).value
                bbox = try c.decode([Double].self, forKey: .bbox)
                area = try c.decode(Double.self, forKey: .area)
                iscrowd = try c.decodeIfPresent(WholeNumber.self, forKey: .iscrowd)?.value
                segmentation = decoder.userInfo[skipSegmentationKey] as? Bool == true
                    ? nil : try c.decodeIfPresent(COCOSegmentation.self, forKey: .segmentation)
            }
        }
        let images: [ImageEntry]
        let categories: [Category]
        let annotations: [Annotation]?
    }

    /// Reads `path`; masks are decoded for `segm` evaluation only.
    public init(path: String, withMasks: Bool) throws {
        self.path = path
        let file = try decodeJSON(File.self, path, userInfo: [skipSegmentationKey: !withMasks])
        var byID: [Int: Image] = [:]
        for (i, image) in file.images.enumerated() {
            let (h, w) = try COCOLimits.checkSize(height: Double(image.height.value), width: Double(image.width.value), file: path, item: "images[\(i)]")
            guard byID.updateValue(Image(id: image.id.value, height: h, width: w), forKey: image.id.value) == nil else {
                throw InputError(path, "images[\(i)]: id \(image.id.value) appears twice")
            }
        }
        images = byID
        imageIDs = byID.keys.sorted()
        categoryIDs = file.categories.map(\.id.value).sorted()
        let known = Set(categoryIDs)
        let annotations = file.annotations ?? []
        // Decoding masks (polygon rasterisation above all) is independent per annotation: in
        // parallel, each result in its slot; the first error in file order is reported.
        let decoded = try Parallel.map(annotations.count) { i -> Result<(Int, InstanceObject), InputError> in
            let a = annotations[i]
            let item = "annotations[\(i)] (id \(a.id.map(String.init) ?? "?"))"
            guard let image = byID[a.image_id] else {
                return .failure(InputError(path, "\(item): image_id \(a.image_id) is not among the images"))
            }
            guard known.contains(a.category_id) else {
                return .failure(InputError(path, "\(item): category_id \(a.category_id) is not among the categories"))
            }
            guard a.bbox.count == 4, a.bbox.allSatisfy(\.isFinite), a.bbox[2] >= 0, a.bbox[3] >= 0 else {
                return .failure(InputError(path, "\(item): bbox must be [x, y, w, h], finite, w and h >= 0"))
            }
            guard a.area.isFinite, a.area >= 0 else { return .failure(InputError(path, "\(item): area \(a.area) must be finite and >= 0")) }
            var mask: RLE? = nil
            if withMasks {
                guard let segmentation = a.segmentation else { return .failure(InputError(path, "\(item): no segmentation")) }
                do {
                    mask = try rleOf(segmentation, height: image.height, width: image.width, file: path, item: item)
                } catch let error as InputError {
                    return .failure(error)
                } catch {
                    return .failure(InputError(path, "\(item): \(error)"))
                }
            }
            return .success((a.image_id, InstanceObject(categoryID: a.category_id, area: a.area, box: a.bbox, mask: mask,
                                                        isCrowd: (a.iscrowd ?? 0) != 0)))
        }
        var objects: [Int: [InstanceObject]] = [:]
        for r in decoded {
            let (imageID, object) = try r.get()
            objects[imageID, default: []].append(object)
        }
        self.objects = objects
    }
}


/// COCO results: a list of `{image_id, category_id, score, bbox | segmentation}`, by image in
/// file order (`COCO.loadRes`: a detection's area is its mask's area, or the box's w·h).
public func readCOCOResults(_ path: String, groundTruth gt: COCOGroundTruth,
                            iouType: InstanceEvaluator.IoUType) throws -> [Int: [InstanceObject]] {
    struct Entry: Decodable {
        let image_id: WholeNumber
        let category_id: WholeNumber
        let score: Double
        let bbox: [Double]?
        let segmentation: COCOSegmentation?
    }
    let list = try decodeJSON([Entry].self, path)
    let known = Set(gt.categoryIDs)
    let decoded = try Parallel.map(list.count) { i -> Result<(Int, InstanceObject), InputError> in
        let e = list[i], item = "result \(i)"
        let r = (image_id: e.image_id.value, category_id: e.category_id.value, score: e.score, bbox: e.bbox, segmentation: e.segmentation)
        guard let image = gt.images[r.image_id] else {
            return .failure(InputError(path, "\(item): image_id \(r.image_id) is not in the ground truth \(gt.path)"))
        }
        guard known.contains(r.category_id) else { return .failure(InputError(path, "\(item): unknown category_id \(r.category_id)")) }
        guard r.score.isFinite else { return .failure(InputError(path, "\(item): score is not finite")) }
        switch iouType {
        case .bbox:
            guard let bbox = r.bbox, bbox.count == 4, bbox.allSatisfy(\.isFinite) else {
                return .failure(InputError(path, "\(item): bbox must be [x, y, w, h] of finite numbers"))
            }
            return .success((r.image_id, InstanceObject(categoryID: r.category_id, area: bbox[2] * bbox[3], box: bbox, score: r.score)))
        case .segm:
            guard let segmentation = r.segmentation else { return .failure(InputError(path, "\(item): no segmentation")) }
            do {
                let mask = try rleOf(segmentation, height: image.height, width: image.width, file: path, item: item)
                return .success((r.image_id, InstanceObject(categoryID: r.category_id, area: Double(mask.area), box: mask.boundingBox,
                                                            mask: mask, score: r.score)))
            } catch let error as InputError {
                return .failure(error)
            } catch {
                return .failure(InputError(path, "\(item): \(error)"))
            }
        }
    }
    var out: [Int: [InstanceObject]] = [:]
    for r in decoded {
        let (imageID, object) = try r.get()
        out[imageID, default: []].append(object)
    }
    return out
}



