import ArgumentParser
import Dispatch
import Evaluation
import Foundation
import Core

/// `train bench score`: COCO mAP on a COCO-sized synthetic set beside pycocotools on the same
/// files, in the same run.
struct BenchScore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "score instances (bbox, segm) beside pycocotools' evaluate + accumulate + summarize.",
        discussion: "DIR comes from `python3 tools/coco_bench.py make DIR` (5000 images, 50 000 detections).")

    @Option(help: "Folder with gt.json, results_bbox.json, results_segm.json.") var data: String
    @Option(help: "Python with numpy and pycocotools for the baseline.") var python = "python3"
    @Option(help: "The script that times pycocotools.") var script = "tools/coco_bench.py"
    @Option(help: "Write the figures as JSON to this file.") var json: String?

    func run() throws {
        var rows: [[String: Any]] = []
        for type in [InstanceEvaluator.IoUType.bbox, .segm] {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let truth = try COCOGroundTruth(path: (data as NSString).appendingPathComponent("gt.json"), withMasks: type == .segm)
            let results = try readCOCOResults((data as NSString).appendingPathComponent("results_\(type.rawValue).json"),
                                              groundTruth: truth, iouType: type)
            let t1 = DispatchTime.now().uptimeNanoseconds
            var evaluator = InstanceEvaluator(iouType: type, categoryIDs: truth.categoryIDs)
            evaluator.add(images: truth.imageIDs.map { ($0, truth.objects[$0] ?? [], results[$0] ?? []) })
            let metrics = evaluator.summarize()
            let t2 = DispatchTime.now().uptimeNanoseconds
            let (load, eval) = (Double(t1 - t0) / 1e9, Double(t2 - t1) / 1e9)
            var row: [String: Any] = ["iou_type": type.rawValue, "seconds": eval, "load_seconds": load, "AP": metrics.stats[0]]
            var line = "\(type.rawValue): ours \(String(format: "%.2f", eval)) s (+ \(String(format: "%.2f", load)) s loading)"
            if let reference = pycocotools(type) {
                row["pycocotools_seconds"] = reference.seconds
                row["pycocotools_load_seconds"] = reference.load
                row["ratio"] = reference.seconds / eval
                row["max_stat_difference"] = zip(metrics.stats, reference.stats).map { abs($0 - $1) }.max() ?? 0
                line += String(format: ", pycocotools %.2f s (+ %.2f s loading): %.1fx faster; largest difference in the 12 numbers %.1e",
                               reference.seconds, reference.load, reference.seconds / eval, row["max_stat_difference"] as! Double)
            } else {
                line += " (pycocotools unavailable)"
            }
            print(line)
            rows.append(row)
        }
        if let json { try AtomicFile.writeJSON(["cases": rows], to: json) }
    }

    func pycocotools(_ type: InstanceEvaluator.IoUType) -> (seconds: Double, load: Double, stats: [Double])? {
        guard let object = runPythonJSON(python, [script, "time", data, type.rawValue]) as? [String: Any],
              let seconds = object["seconds"] as? Double, let load = object["load_seconds"] as? Double,
              let stats = object["stats"] as? [Double] else { return nil }
        return (seconds, load, stats)
    }
}
