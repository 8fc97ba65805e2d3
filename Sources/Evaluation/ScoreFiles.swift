import Foundation
import Images
import COCOMask
import Core

/// Scoring of files in the standard formats: the `train score` commands' work. Every error
/// names the file and the item.
public enum ScoreFiles {
    /// COCO panoptic: JSON with `annotations[{image_id, file_name, segments_info}]` and
    /// `categories[{id, isthing}]`, RGB PNGs with id = R + 256 G + 256² B.
    public static func panoptic(gtJSON: String, gtFolder: String, predJSON: String, predFolder: String) throws -> PanopticMetrics {
        guard let gt = try readJSON(gtJSON) as? [String: Any] else { throw InputError(gtJSON, "not a COCO panoptic JSON object") }
        guard let pred = try readJSON(predJSON) as? [String: Any] else { throw InputError(predJSON, "not a COCO panoptic JSON object") }
        guard let categoryList = gt["categories"] as? [[String: Any]] else { throw InputError(gtJSON, "no \"categories\" list") }
        let categories: [(id: Int, isThing: Bool)] = try categoryList.enumerated().map { i, c in
            guard let id = wholeNumber(c["id"]) else { throw InputError(gtJSON, "categories[\(i)]: no whole-number id") }
            return (id, (number(c["isthing"]) ?? 0) == 1)
        }
        guard let gtAnnotations = gt["annotations"] as? [[String: Any]] else { throw InputError(gtJSON, "no \"annotations\" list") }
        guard let predAnnotations = pred["annotations"] as? [[String: Any]] else { throw InputError(predJSON, "no \"annotations\" list") }
        var predByImage: [Int: (Int, [String: Any])] = [:]
        for (i, a) in predAnnotations.enumerated() {
            guard let id = wholeNumber(a["image_id"]) else { throw InputError(predJSON, "annotations[\(i)]: no whole-number image_id") }
            predByImage[id] = (i, a)
        }
        let gtImages = Set(gtAnnotations.compactMap { wholeNumber($0["image_id"]) })
        if let stray = predByImage.keys.sorted().first(where: { !gtImages.contains($0) }) {
            throw InputError(predJSON, "annotations[\(predByImage[stray]!.0)]: image_id \(stray) is not in the ground truth \(gtJSON)")
        }
        var evaluator = PanopticEvaluator(categories: categories)
        for (i, g) in gtAnnotations.enumerated() {
            guard let imageID = wholeNumber(g["image_id"]) else { throw InputError(gtJSON, "annotations[\(i)]: no whole-number image_id") }
            guard let (pi, p) = predByImage[imageID] else { throw InputError(predJSON, "no prediction for the image with id \(imageID)") }
            let gtMap = try map(g, file: gtJSON, item: "annotations[\(i)]", folder: gtFolder, isGroundTruth: true)
            let predMap = try map(p, file: predJSON, item: "annotations[\(pi)]", folder: predFolder, isGroundTruth: false)
            do {
                try evaluator.add(.init(imageID: imageID, groundTruth: gtMap, prediction: predMap))
            } catch let error as PanopticError {
                throw InputError("\(predJSON) / \(gtJSON)", error.message)
            }
        }
        return evaluator.summarize()
    }

    private static func map(_ a: [String: Any], file: String, item: String, folder: String, isGroundTruth: Bool) throws -> PanopticMap {
        guard let name = a["file_name"] as? String else { throw InputError(file, "\(item): no file_name") }
        guard let infos = a["segments_info"] as? [[String: Any]] else { throw InputError(file, "\(item): no segments_info") }
        let segments: [PanopticSegment] = try infos.enumerated().map { j, s in
            guard let id = number(s["id"]), id >= 0, id < 16_777_216, id == id.rounded(),
                  let category = number(s["category_id"]), category.isFinite, category == category.rounded(), abs(category) <= 1e15 else {
                throw InputError(file, "\(item).segments_info[\(j)]: needs a whole id (0...2^24-1) and a whole category_id")
            }
            var area: Int? = nil
            if isGroundTruth {
                guard let a = number(s["area"]), a.isFinite, a >= 0, a <= Double(COCOLimits.maxPixels) else {
                    throw InputError(file, "\(item).segments_info[\(j)]: area must be a number from 0 to \(COCOLimits.maxPixels)")
                }
                area = Int(a)
            }
            return PanopticSegment(id: UInt32(id), categoryID: Int(category), isCrowd: (number(s["iscrowd"]) ?? 0) == 1, area: area)
        }
        let path = (folder as NSString).appendingPathComponent(name)
        let image: Image8
        do {
            image = try PNG.read(path, mode: .rgb)
        } catch let error as ImageError {
            throw InputError(path, error.message)
        }
        return PanopticMap(width: image.width, height: image.height, ids: PanopticPNG.ids(fromRGB: image.pixels), segments: segments)
    }

    /// Semantic label maps: single-channel PNGs in two folders, paired by file name.
    public static func semantic(gtFolder: String, predFolder: String, numClasses: Int, ignoreIndex: Int = 255,
                                style: SemanticEvaluator.Style = .mmseg) throws -> (metrics: SemanticMetrics, images: Int) {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: gtFolder).filter { $0.lowercased().hasSuffix(".png") }.sorted()
        } catch {
            throw InputError(gtFolder, "cannot list the folder")
        }
        guard !names.isEmpty else { throw InputError(gtFolder, "no PNG label maps") }
        var evaluator = SemanticEvaluator(numClasses: numClasses, ignoreIndex: ignoreIndex, style: style)
        for name in names {
            let gtPath = (gtFolder as NSString).appendingPathComponent(name)
            let predPath = (predFolder as NSString).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: predPath) else { throw InputError(predPath, "no prediction for \(gtPath)") }
            let (label, prediction): (Image8, Image8)
            do {
                label = try PNG.read(gtPath, mode: .labels)
                prediction = try PNG.read(predPath, mode: .labels)
            } catch let error as ImageError {
                throw InputError(error.file, error.message)
            }
            guard label.width == prediction.width, label.height == prediction.height else {
                throw InputError(predPath, "is \(prediction.width)x\(prediction.height), the label map is \(label.width)x\(label.height)")
            }
            try evaluator.add(.init(prediction: prediction.pixels.map { Int32($0) }, label: label.pixels.map { Int32($0) }))
        }
        return (evaluator.summarize(), names.count)
    }
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

/// A JSON number that is a whole number within ±2^53 (ids), else nil.
func wholeNumber(_ value: Any?) -> Int? {
    guard let d = number(value), d.isFinite, d == d.rounded(), abs(d) <= 9_007_199_254_740_992 else { return nil }
    return Int(d)
}
