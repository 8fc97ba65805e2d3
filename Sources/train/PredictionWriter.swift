import COCOMask
import Core
import Datasets
import Evaluation
import Foundation
import Images
import Trainer

/// The files of `train predict`, in its output folder:
///
/// - `images.json`: `{"images": [{id, file_name, height, width}], "categories": [{id, name,
///   isthing}], "skipped": [files]}` (ids: the order of the inputs; category ids: class indices);
/// - `overlays/NAME.png`: the image | the prediction tinted per class, class names drawn at the
///   segments, a legend of the classes present underneath;
/// - panoptic: `panoptic/NAME.png` (COCO panoptic ids: id = R + 256 G + 256² B) and
///   `panoptic.json` (COCO panoptic annotations with `segments_info`);
/// - panoptic and semantic: `semantic/NAME.png` (class index per pixel, 255 = none; only for
///   at most 255 classes);
/// - panoptic and instance: `instances.json` (COCO results: image_id, category_id, bbox, score,
///   segmentation as compressed RLE).
final class PredictionWriter {
    static let indexFile = "images.json"
    let task: ShardTask
    let classes: PredictionClasses
    let overlayThreshold: Double
    private var folder = ""
    private var images: [[String: Any]] = []
    private var panopticAnnotations: [[String: Any]] = []
    private var instanceResults: [[String: Any]] = []
    private var usedNames: Set<String> = []
    /// Per image, the name of its output PNGs.
    private var outputNames: [String] = []

    init(task: ShardTask, classes: PredictionClasses, overlayThreshold: Double) {
        (self.task, self.classes, self.overlayThreshold) = (task, classes, overlayThreshold)
    }

    static func isPredictionFolder(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(indexFile))
    }

    var writesSemantic: Bool { task != .instance && classes.names.count <= 255 }

    func begin(in folder: String) throws {
        self.folder = folder
        var subfolders = ["overlays"]
        if task == .panoptic { subfolders.append("panoptic") }
        if writesSemantic { subfolders.append("semantic") }
        for sub in subfolders {
            try FileManager.default.createDirectory(atPath: (folder as NSString).appendingPathComponent(sub), withIntermediateDirectories: true)
        }
    }

    func add(file: String, image: Image8, prediction: ImageAnnotations) throws {
        let id = images.count
        // The file's name without extension, made unique (a.jpg and a.png both give a).
        var stem = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
        if usedNames.contains(stem) { stem += "_\(id)" }
        usedNames.insert(stem)
        let name = stem + ".png"
        outputNames.append(name)
        let (h, w) = (image.height, image.width)
        images.append(["id": id, "file_name": file, "height": h, "width": w])
        // Per pixel the class drawn, and where each name goes.
        var regions = [Int](repeating: -1, count: h * w)
        var labels: [(name: String, x: Int, y: Int)] = []
        if let panoptic = prediction.panoptic {
            try png(Image8(width: w, height: h, channels: 3, pixels: PanopticPNG.rgb(fromIDs: panoptic.ids)), "panoptic", name)
            let classOf = Dictionary(panoptic.segments.map { ($0.id, $0.categoryID) }, uniquingKeysWith: { a, _ in a })
            for p in regions.indices { regions[p] = classOf[panoptic.ids[p]] ?? -1 }
            var info: [[String: Any]] = []
            let pixelsOf = Self.pixelsByValue(panoptic.ids)
            for s in panoptic.segments {
                guard let pixels = pixelsOf[s.id], !pixels.isEmpty else { continue }
                let box = Self.box(of: pixels, width: w)
                info.append(["id": Int(s.id), "category_id": s.categoryID, "isthing": classes.isThing[s.categoryID] ? 1 : 0,
                             "area": pixels.count, "bbox": box, "iscrowd": 0])
                let spot = Self.labelSpot(pixels, width: w)
                labels.append((classes.names[s.categoryID], spot.x, spot.y))
            }
            panopticAnnotations.append(["image_id": id, "file_name": name, "segments_info": info])
        } else if let semantic = prediction.semantic {
            for p in regions.indices { regions[p] = Int(semantic[p]) }
            for (c, pixels) in Self.pixelsByValue(semantic) where c >= 0 {
                let spot = Self.labelSpot(pixels, width: w)
                labels.append((classes.names[Int(c)], spot.x, spot.y))
            }
        }
        if writesSemantic, let semantic = prediction.semantic {
            try png(Image8(width: w, height: h, channels: 1, pixels: semantic.map { UInt8(clamping: $0 < 0 ? 255 : $0) }), "semantic", name)
        }
        if let instances = prediction.instances {
            for d in instances {
                var r: [String: Any] = ["image_id": id, "category_id": d.categoryID, "bbox": d.box, "score": d.score]
                if let m = d.mask { r["segmentation"] = ["size": [h, w], "counts": m.compressedString] }
                instanceResults.append(r)
            }
            if task == .instance {
                // The masks of instances above the threshold, most confident on top.
                for d in instances.reversed() where d.score > overlayThreshold {
                    guard let m = d.mask?.decodeColumnMajor() else { continue }
                    for x in 0..<w { for y in 0..<h where m[x * h + y] != 0 { regions[y * w + x] = d.categoryID } }
                }
                for d in instances where d.score > overlayThreshold {
                    labels.append((String(format: "%@ %.2f", classes.names[d.categoryID], d.score), Int(d.box[0]), Int(d.box[1])))
                }
            }
        }
        var tinted = OverlayPicture.tinted(image, regions: regions)
        for l in labels {
            OverlayPicture.drawText(l.name, x: max(0, min(l.x - l.name.count * BitmapFont.width / 2, w - l.name.count * BitmapFont.width)),
                                    y: max(0, min(l.y - BitmapFont.height / 2, h - BitmapFont.height)), into: &tinted)
        }
        let present = Set(regions.filter { $0 >= 0 }).sorted()
        let picture = OverlayPicture.withLegend(OverlayPicture.sideBySide([image, tinted]),
                                                entries: present.map { (classes.names[$0], $0) })
        try png(picture, "overlays", name)
    }

    func finish(skipped: [String]) throws {
        let categories = classes.names.indices.map { ["id": $0, "name": classes.names[$0], "isthing": classes.isThing[$0] ? 1 : 0] as [String: Any] }
        try AtomicFile.writeJSON(["images": images, "categories": categories, "skipped": skipped], to: path(Self.indexFile))
        if task == .panoptic {
            let pngImages = zip(images, outputNames).map { ["id": $0["id"]!, "file_name": $1, "height": $0["height"]!, "width": $0["width"]!] }
            try AtomicFile.writeJSON(["images": pngImages,
                                      "annotations": panopticAnnotations, "categories": categories], to: path("panoptic.json"))
        }
        if task != .semantic { try AtomicFile.writeJSON(instanceResults, to: path("instances.json")) }
    }

    /// The pixel indices of each value of a label map, in one pass.
    static func pixelsByValue<T: Hashable>(_ map: [T]) -> [T: [Int]] {
        var out: [T: [Int]] = [:]
        for (p, v) in map.enumerated() { out[v, default: []].append(p) }
        return out
    }

    /// COCO `[x, y, w, h]` of pixel indices.
    static func box(of pixels: [Int], width w: Int) -> [Int] {
        let xs = pixels.map { $0 % w }, ys = pixels.map { $0 / w }
        return [xs.min()!, ys.min()!, xs.max()! - xs.min()! + 1, ys.max()! - ys.min()! + 1]
    }

    /// Where a region's name is drawn: its pixel nearest its centroid (inside the region even
    /// when the region is not convex).
    static func labelSpot(_ pixels: [Int], width w: Int) -> (x: Int, y: Int) {
        let cx = Double(pixels.reduce(0) { $0 + $1 % w }) / Double(pixels.count)
        let cy = Double(pixels.reduce(0) { $0 + $1 / w }) / Double(pixels.count)
        let best = pixels.min { a, b in
            let da = pow(Double(a % w) - cx, 2) + pow(Double(a / w) - cy, 2), db = pow(Double(b % w) - cx, 2) + pow(Double(b / w) - cy, 2)
            return da < db
        }!
        return (best % w, best / w)
    }

    private func path(_ parts: String...) -> String { ([folder] + parts).joined(separator: "/") }

    private func png(_ image: Image8, _ sub: String, _ name: String) throws {
        let p = path(sub, name)
        do { try PNG.write(image, to: p) } catch { throw InputError(p, "cannot write (\(error))") }
    }
}
