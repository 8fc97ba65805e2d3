import ArgumentParser
import Evaluation
import Foundation

/// `train score ...`: metrics on files in the standard formats, agreeing with the reference tools.
struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score predictions in the standard formats (COCO mAP, panoptic quality, mIoU).",
        subcommands: [ScoreInstances.self])
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
            for id in truth.imageIDs {
                evaluator.add(imageID: id, groundTruth: truth.objects[id] ?? [], detections: results[id] ?? [])
            }
            let metrics = evaluator.summarize()
            for line in metrics.summaryLines { print(line) }
            if let json {
                var object: [String: Any] = [:]
                for (name, value) in zip(InstanceMetrics.names, metrics.stats) { object[name] = value }
                object["per_category"] = Dictionary(uniqueKeysWithValues: metrics.perCategory.map { (String($0.key), $0.value) })
                try writeJSON(object, to: json)
            }
        } catch let error as InputError {
            throw CommandError(error.description)
        }
    }
}
