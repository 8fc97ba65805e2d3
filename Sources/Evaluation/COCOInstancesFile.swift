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
        struct ImageEntry: Decodable { let id: Int; let height: Int; let width: Int }
        struct Category: Decodable { let id: Int }
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
                id = try c.decodeIfPresent(Int.self, forKey: .id)
                image_id = try c.decode(Int.self, forKey: .image_id)
                category_id = try c.decode(Int.self, forKey: .category_id)
                bbox = try c.decode([Double].self, forKey: .bbox)
                area = try c.decode(Double.self, forKey: .area)
                iscrowd = try c.decodeIfPresent(Int.self, forKey: .iscrowd)
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
            guard image.height > 0, image.width > 0 else { throw InputError(path, "images[\(i)]: height and width must be positive") }
            byID[image.id] = Image(id: image.id, height: image.height, width: image.width)
        }
        images = byID
        imageIDs = byID.keys.sorted()
        categoryIDs = file.categories.map(\.id).sorted()
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
            guard a.bbox.count == 4 else { return .failure(InputError(path, "\(item): bbox must be [x, y, w, h]")) }
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
        let image_id: Int
        let category_id: Int
        let score: Double
        let bbox: [Double]?
        let segmentation: COCOSegmentation?
    }
    let list = try decodeJSON([Entry].self, path)
    let known = Set(gt.categoryIDs)
    let decoded = try Parallel.map(list.count) { i -> Result<(Int, InstanceObject), InputError> in
        let r = list[i], item = "result \(i)"
        guard let image = gt.images[r.image_id] else {
            return .failure(InputError(path, "\(item): image_id \(r.image_id) is not in the ground truth \(gt.path)"))
        }
        guard known.contains(r.category_id) else { return .failure(InputError(path, "\(item): unknown category_id \(r.category_id)")) }
        guard r.score.isFinite else { return .failure(InputError(path, "\(item): score is not finite")) }
        switch iouType {
        case .bbox:
            guard let bbox = r.bbox, bbox.count == 4 else { return .failure(InputError(path, "\(item): bbox must be [x, y, w, h]")) }
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



