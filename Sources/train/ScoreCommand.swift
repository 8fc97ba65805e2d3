import ArgumentParser
import Evaluation
import Foundation
import Core
import COCOMask

/// `train score ...`: metrics on files in the standard formats, agreeing with the reference tools.
struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score predictions in the standard formats (COCO mAP, panoptic quality, mIoU).",
        subcommands: [ScoreInstances.self, ScorePanoptic.self, ScoreSemantic.self])
}

struct ScoreInstances: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "instances",
        abstract: "COCO box or mask mAP, as pycocotools' COCOeval computes it.")

    @Option(help: "COCO ground truth (instances JSON).") var gt: String
    @Option(help: "COCO results JSON (boxes, or masks as RLE).") var pred: String
    @Option(help: "bbox or segm.") var iouType: String
    @Option(help: "Write the metrics as JSON to this file.") var json: String?

    func validate() throws {
        guard InstanceEvaluator.IoUType(rawValue: iouType) != nil else {
            throw ValidationError("--iou-type must be bbox or segm, not '\(iouType)'")
        }
    }

    func run() throws {
        let type = InstanceEvaluator.IoUType(rawValue: iouType)!
        do {
            let truth = try COCOGroundTruth(path: gt, withMasks: type == .segm)
            let results = try readCOCOResults(pred, groundTruth: truth, iouType: type)
            var evaluator = InstanceEvaluator(iouType: type, categoryIDs: truth.categoryIDs)
            evaluator.add(images: truth.imageIDs.map { ($0, truth.objects[$0] ?? [], results[$0] ?? []) })
            let metrics = evaluator.summarize()
            for line in metrics.summaryLines { print(line) }
            if let json {
                var object: [String: Any] = [:]
                for (name, value) in zip(InstanceMetrics.names, metrics.stats) { object[name] = value }
                object["per_category"] = Dictionary(uniqueKeysWithValues: metrics.perCategory.map { (String($0.key), $0.value) })
                try AtomicFile.writeJSON(object, to: json)
            }
        }
    }
}

struct ScorePanoptic: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "panoptic",
        abstract: "Panoptic quality (PQ, SQ, RQ), as panopticapi's pq_compute computes it.")

    @Option(help: "Ground-truth COCO panoptic JSON.") var gtJson: String
    @Option(help: "Folder of ground-truth panoptic PNGs.") var gtFolder: String
    @Option(help: "Predicted COCO panoptic JSON.") var predJson: String
    @Option(help: "Folder of predicted panoptic PNGs.") var predFolder: String
    @Option(help: "Write the metrics as JSON to this file.") var json: String?

    func run() throws {
        let m: PanopticMetrics
        do {
            m = try ScoreFiles.panoptic(gtJSON: gtJson, gtFolder: gtFolder, predJSON: predJson, predFolder: predFolder)
        }
        print("          |    PQ     SQ     RQ  |  N")
        print("--------------------------------------")
        for (name, s) in [("All", m.all), ("Things", m.things), ("Stuff", m.stuff)] {
            print(name.padding(toLength: 10, withPad: " ", startingAt: 0) + "| "
                  + String(format: "%5.1f  %5.1f  %5.1f | %3d", 100 * s.pq, 100 * s.sq, 100 * s.rq, s.n))
        }
        if let json {
            func summary(_ s: PanopticMetrics.Summary) -> [String: Any] { ["pq": s.pq, "sq": s.sq, "rq": s.rq, "n": s.n] }
            var perClass: [String: Any] = [:]
            for c in m.perClass { perClass[String(c.id)] = ["pq": c.pq, "sq": c.sq, "rq": c.rq] }
            try AtomicFile.writeJSON(["All": summary(m.all), "Things": summary(m.things), "Stuff": summary(m.stuff), "per_class": perClass], to: json)
        }
    }
}

struct ScoreSemantic: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "semantic",
        abstract: "mIoU, mAcc and aAcc of label maps, as mmsegmentation's IoUMetric computes them.")

    @Option(help: "Folder of ground-truth label PNGs.") var gtFolder: String
    @Option(help: "Folder of predicted label PNGs (same file names).") var predFolder: String
    @Option(help: "Number of classes (labels 0..<N).") var numClasses: Int
    @Option(help: "Label value that is not scored.") var ignoreIndex = 255
    @Option(help: "mmseg (classes with zero union left out) or detectron2 (only classes in the ground truth).")
    var style = "mmseg"
    @Option(help: "Write the metrics as JSON to this file.") var json: String?

    func validate() throws {
        guard numClasses > 0 else { throw ValidationError("--num-classes must be positive") }
        guard SemanticEvaluator.Style(rawValue: style) != nil else { throw ValidationError("--style must be mmseg or detectron2") }
    }

    func run() throws {
        let result: (metrics: SemanticMetrics, images: Int)
        do {
            result = try ScoreFiles.semantic(gtFolder: gtFolder, predFolder: predFolder, numClasses: numClasses,
                                             ignoreIndex: ignoreIndex, style: SemanticEvaluator.Style(rawValue: style)!)
        }
        let m = result.metrics
        print(String(format: "%d images, %d classes:  aAcc %.2f  mIoU %.2f  mAcc %.2f", result.images, numClasses,
                     100 * m.aAcc, 100 * m.mIoU, 100 * m.mAcc))
        if let json {
            func list(_ xs: [Double?]) -> [Any] { xs.map { $0.map { $0 as Any } ?? NSNull() } }
            try AtomicFile.writeJSON(["aAcc": m.aAcc, "mIoU": m.mIoU, "mAcc": m.mAcc,
                           "per_class": ["iou": list(m.iou), "acc": list(m.acc)]], to: json)
        }
    }
}
