import COCOMask
import Core
import Foundation
import Images

/// `train evaluate --dump DIR`: one dataset's predictions, and the ground truth they were scored
/// against, in the field's standard formats, so that pycocotools, panopticapi and the `train
/// score` commands give the numbers `evaluate` printed. Layout of `DIR/<dataset>/`:
///
/// - panoptic: `panoptic_gt.json` + `panoptic_gt/`, `panoptic_pred.json` + `panoptic_pred/`
///   (COCO panoptic: RGB PNGs with id = R + 256 G + 256² B and `segments_info`);
/// - semantic: `semantic_gt/` and `semantic_pred/` (single-channel PNG label maps, 255 = ignore);
/// - detection and instance: `instances_gt.json` (COCO, masks as compressed RLE) and
///   `results_bbox.json` (+ `results_segm.json` for instance data), COCO results lists;
/// - `overlays/`: the first few images as image | ground truth | prediction.
///
/// Image ids are the validation split's sample indices; category ids are the dataset's
/// contiguous class indices (the categories list gives names and the source dataset's ids).
/// Everything is written into a temporary folder that replaces `DIR/<dataset>/` at `evaluate`:
/// a reader never sees half a dump or files of an earlier one. As an evaluator it reports no
/// metrics.
public final class PredictionDump: DatasetEvaluator {
    /// What the dataset's task is scored as, so what is written.
    public enum Format: Sendable, Equatable {
        case panoptic, semantic
        /// COCO instances; `masks`: also the predicted masks (`results_segm.json`).
        case instances(masks: Bool)
    }

    /// Where the files go (`root/<dataset>`) once complete, and where they are written until then.
    let destination: String
    let folder: String
    let format: Format
    let classes: EvaluationCategories
    let overlays: Int
    var overlaysLeft: Int
    /// Detections scoring above it are drawn in the overlays (`test.overlay_threshold`).
    let overlayThreshold: Double
    private var images: [[String: Any]] = []
    private var gtAnnotations: [[String: Any]] = []
    private var predAnnotations: [[String: Any]] = []
    private var boxResults: [[String: Any]] = []
    private var maskResults: [[String: Any]] = []

    public init(root: String, dataset: String, format: Format, classes: EvaluationCategories, overlays: Int = 4,
                overlayThreshold: Double = 0.5) throws {
        self.overlayThreshold = overlayThreshold
        destination = (root as NSString).appendingPathComponent(dataset)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        AtomicFile.removeLeftovers(in: root)
        folder = try AtomicFile.freshTemporaryFolder(for: destination)
        (self.format, self.classes, self.overlays, overlaysLeft) = (format, classes, overlays, overlays)
        let subfolders: [String]
        switch format {
        case .panoptic: subfolders = ["panoptic_gt", "panoptic_pred"]
        case .semantic: subfolders = ["semantic_gt", "semantic_pred"]
        case .instances: subfolders = []
        }
        for sub in subfolders + ["overlays"] {
            let path = (folder as NSString).appendingPathComponent(sub)
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw InputError(path, "--dump: cannot create the folder (\(error.localizedDescription))")
            }
        }
    }

    private func path(_ parts: String...) -> String { parts.reduce(folder) { ($0 as NSString).appendingPathComponent($1) } }
    private static func fileName(_ imageID: Int) -> String { String(format: "%06d.png", imageID) }

    private var categories: [[String: Any]] {
        (0..<classes.count).map { ["id": $0, "name": classes.names[$0], "isthing": classes.isThing[$0] ? 1 : 0,
                                   "source_id": classes.sourceIDs[$0]] }
    }

    public func reset() {
        images = []; gtAnnotations = []; predAnnotations = []; boxResults = []; maskResults = []
        overlaysLeft = overlays
    }

    public func process(_ e: EvaluatedImage) throws {
        switch format {
        case .panoptic:
            guard let gt = e.groundTruth.panoptic, let pred = e.prediction.panoptic else {
                throw EvaluationError("--dump: image \(e.imageID) has no panoptic ground truth or prediction")
            }
            try addPanoptic(imageID: e.imageID, image: e.image, groundTruth: gt, prediction: pred)
        case .semantic:
            guard let gt = e.groundTruth.semantic, let pred = e.prediction.semantic else {
                throw EvaluationError("--dump: image \(e.imageID) has no semantic ground truth or prediction")
            }
            try addSemantic(imageID: e.imageID, image: e.image, label: gt, prediction: pred)
        case .instances:
            guard let gt = e.groundTruth.instances, let pred = e.prediction.instances else {
                throw EvaluationError("--dump: image \(e.imageID) has no ground-truth or predicted instances")
            }
            try addInstances(imageID: e.imageID, image: e.image, groundTruth: gt, detections: pred)
        }
    }

    /// Writes the JSON files and puts the folder in place (replacing an earlier dump of the
    /// dataset whole: no stale files); no metrics.
    public func evaluate() throws -> [String: Double] {
        try finish()
        try AtomicFile.moveFolder(folder, intoPlaceOf: destination)
        return [:]
    }

    private func addImage(_ imageID: Int, height: Int, width: Int) {
        images.append(["id": imageID, "height": height, "width": width, "file_name": Self.fileName(imageID)])
    }

    private func addPanoptic(imageID: Int, image: Image8, groundTruth: PanopticMap, prediction: PanopticMap) throws {
        addImage(imageID, height: image.height, width: image.width)
        let name = Self.fileName(imageID)
        try writePNG(Image8(width: image.width, height: image.height, channels: 3, pixels: PanopticPNG.rgb(fromIDs: groundTruth.ids)), path("panoptic_gt", name))
        try writePNG(Image8(width: image.width, height: image.height, channels: 3, pixels: PanopticPNG.rgb(fromIDs: prediction.ids)), path("panoptic_pred", name))
        let thing = classes.isThing
        gtAnnotations.append(["image_id": imageID, "file_name": name, "segments_info": groundTruth.segments.map {
            ["id": Int($0.id), "category_id": $0.categoryID, "iscrowd": $0.isCrowd ? 1 : 0, "area": $0.area ?? 0,
             "isthing": thing[$0.categoryID] ? 1 : 0]
        }])
        predAnnotations.append(["image_id": imageID, "file_name": name, "segments_info": prediction.segments.map {
            ["id": Int($0.id), "category_id": $0.categoryID, "isthing": thing[$0.categoryID] ? 1 : 0]
        }])
        // Tinted by category, so that matching ground truth and prediction share a colour.
        let category = { (map: PanopticMap) -> [Int] in
            let of = Dictionary(map.segments.map { ($0.id, $0.categoryID) }, uniquingKeysWith: { a, _ in a })
            return map.ids.map { of[$0] ?? -1 }
        }
        try overlay(imageID, image, groundTruth: category(groundTruth), prediction: category(prediction))
    }

    /// `label` uses 255 for ignored pixels; classes beyond 254 cannot be written as 8-bit PNGs.
    private func addSemantic(imageID: Int, image: Image8, label: [Int32], prediction: [Int32]) throws {
        guard classes.count <= 255 else { throw EvaluationError("--dump: \(classes.count) classes do not fit 8-bit semantic PNGs") }
        let name = Self.fileName(imageID)
        let gray = { (values: [Int32]) in values.map { UInt8(clamping: $0 < 0 ? 255 : $0) } }
        try writePNG(Image8(width: image.width, height: image.height, channels: 1, pixels: gray(label)), path("semantic_gt", name))
        try writePNG(Image8(width: image.width, height: image.height, channels: 1, pixels: gray(prediction)), path("semantic_pred", name))
        try overlay(imageID, image, groundTruth: label.map { $0 == 255 ? -1 : Int($0) }, prediction: prediction.map { Int($0) })
    }

    private func addInstances(imageID: Int, image: Image8, groundTruth: [InstanceObject], detections: [InstanceObject]) throws {
        let (h, w) = (image.height, image.width)
        addImage(imageID, height: h, width: w)
        for object in groundTruth {
            var a: [String: Any] = ["id": gtAnnotations.count + 1, "image_id": imageID, "category_id": object.categoryID,
                                    "bbox": object.box, "area": object.area, "iscrowd": object.isCrowd ? 1 : 0]
            if let mask = object.mask { a["segmentation"] = ["size": [h, w], "counts": mask.compressedString] }
            gtAnnotations.append(a)
        }
        for d in detections {
            boxResults.append(["image_id": imageID, "category_id": d.categoryID, "bbox": d.box, "score": d.score])
            if format == .instances(masks: true), let rle = d.mask {
                maskResults.append(["image_id": imageID, "category_id": d.categoryID, "score": d.score,
                                    "segmentation": ["size": [h, w], "counts": rle.compressedString]])
            }
        }
        guard overlaysLeft > 0 else { return }
        // Ground truth: masks where the data has them, else box outlines; predictions: the
        // masks of detections scoring above `overlayThreshold`, most confident on top.
        var gt = [Int](repeating: -1, count: h * w), pred = gt
        for (j, object) in groundTruth.enumerated() {
            if let mask = object.mask {
                let m = mask.decodeColumnMajor()
                for x in 0..<w { for y in 0..<h where m[x * h + y] != 0 { gt[y * w + x] = j } }
            } else {
                let x0 = max(0, Int(object.box[0])), y0 = max(0, Int(object.box[1]))
                let x1 = min(w - 1, Int(object.box[0] + object.box[2])), y1 = min(h - 1, Int(object.box[1] + object.box[3]))
                guard x0 <= x1, y0 <= y1 else { continue }
                for x in x0...x1 { gt[y0 * w + x] = j; gt[y1 * w + x] = j }
                for y in y0...y1 { gt[y * w + x0] = j; gt[y * w + x1] = j }
            }
        }
        for (j, d) in detections.enumerated().reversed() where d.score > overlayThreshold {
            guard let m = d.mask?.decodeColumnMajor() else { continue }
            for x in 0..<w { for y in 0..<h where m[x * h + y] != 0 { pred[y * w + x] = j } }
        }
        try overlay(imageID, image, groundTruth: gt, prediction: pred)
    }

    private func finish() throws {
        switch format {
        case .panoptic:
            try writeJSON(["images": images, "categories": categories, "annotations": gtAnnotations], path("panoptic_gt.json"))
            try writeJSON(["annotations": predAnnotations, "categories": categories], path("panoptic_pred.json"))
        case .instances(let masks):
            try writeJSON(["images": images, "categories": categories, "annotations": gtAnnotations], path("instances_gt.json"))
            try writeJSON(boxResults, path("results_bbox.json"))
            if masks { try writeJSON(maskResults, path("results_segm.json")) }
        case .semantic:
            break
        }
    }

    /// image | ground truth | prediction, side by side; regions (index ≥ 0) tinted with a colour
    /// per index, half over the image.
    private func overlay(_ imageID: Int, _ image: Image8, groundTruth: [Int], prediction: [Int]) throws {
        guard overlaysLeft > 0 else { return }
        overlaysLeft -= 1
        let picture = OverlayPicture.sideBySide([image, OverlayPicture.tinted(image, regions: groundTruth),
                                                  OverlayPicture.tinted(image, regions: prediction)])
        try writePNG(picture, path("overlays", Self.fileName(imageID)))
    }

    private func writePNG(_ image: Image8, _ path: String) throws {
        do { try PNG.write(image, to: path) } catch { throw InputError(path, "--dump: cannot write (\(error))") }
    }

    private func writeJSON(_ object: Any, _ path: String) throws {
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), to: path)
    }
}
