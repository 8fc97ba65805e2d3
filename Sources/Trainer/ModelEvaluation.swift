import Communication
import Datasets
import Evaluation
import Foundation
import Models

/// Metrics by dataset, then by kind (`panoptic`, `semantic`, `bbox`, `segm`), then by name.
public typealias EvaluationReport = [String: [String: [String: Double]]]

/// A model scored on every validation split of `data`, each by its task's evaluators: panoptic
/// data by PQ, mIoU and the things' mask mAP (as Mask2Former reports COCO panoptic), semantic
/// data by mIoU, box-only data by box mAP, instance data by box and mask mAP. With `dump`,
/// each dataset's predictions and ground truth are also written under `dump/<dataset>/` in the
/// standard formats (`PredictionDump`). With `options.classAgnostic`, the panoptic, detection
/// and instance splits are also scored with every class merged into one (`ClassAgnosticEvaluator`).
public enum ModelEvaluation {
    /// With several processes (`communicator`), each predicts a share of the images and the main
    /// process alone scores, logs, dumps and returns the report (the others return an empty one).
    public static func run(model: M2FModel, data: TrainingData, options: InferenceOptions = InferenceOptions(), maxImages: Int = 0,
                           dump: String? = nil, communicator: Communicator = SingleProcess(),
                           log: (String) -> Void = { print($0) }) throws -> EvaluationReport {
        var report: EvaluationReport = [:]
        for split in data.validation {
            let classes = split.source.classes
            let categories = EvaluationCategories(names: classes.names, isThing: classes.isThing, sourceIDs: classes.sourceIDs.map { Int($0) })
            var evaluators: [DatasetEvaluator]
            let format: PredictionDump.Format
            switch split.source.task {
            case .panoptic:
                evaluators = [PanopticQualityEvaluator(categories: categories), SemanticSegmentationEvaluator(categories: categories),
                              COCOEvaluator(iouType: .segm, categories: categories)]
                format = .panoptic
            case .semantic:
                evaluators = [SemanticSegmentationEvaluator(categories: categories)]
                format = .semantic
            case .detection:
                evaluators = [COCOEvaluator(iouType: .bbox, categories: categories)]
                format = .instances(masks: false)
            case .instance:
                evaluators = [COCOEvaluator(iouType: .bbox, categories: categories), COCOEvaluator(iouType: .segm, categories: categories)]
                format = .instances(masks: true)
            case .imageLabels:
                continue
            }
            if options.classAgnostic {
                let entity = ClassAgnosticEvaluator.entity
                switch split.source.task {
                case .panoptic: evaluators += [PanopticQualityEvaluator(categories: entity), COCOEvaluator(iouType: .segm, categories: entity)].map(ClassAgnosticEvaluator.init)
                case .detection: evaluators.append(ClassAgnosticEvaluator(COCOEvaluator(iouType: .bbox, categories: entity)))
                case .instance: evaluators += [COCOEvaluator(iouType: .bbox, categories: entity), COCOEvaluator(iouType: .segm, categories: entity)].map(ClassAgnosticEvaluator.init)
                case .semantic, .imageLabels: break
                }
            }
            if let dump, communicator.isMain { evaluators.append(try PredictionDump(root: dump, dataset: split.name, format: format, classes: categories,
                                                                                                 overlayThreshold: Double(options.overlayThreshold))) }
            let count = maxImages > 0 ? min(maxImages, split.source.count) : split.source.count
            let all = DatasetEvaluators(evaluators)
            var splitOptions = options
            if options.calibration.power > 0 {
                splitOptions.classPrior = try classPrior(model: model, labelSpace: data.labelSpace, split: split,
                                                         count: min(options.calibration.images, split.source.count), options: options)
            }
            try inferenceOnDataset(model: model, labelSpace: data.labelSpace, split: split, count: count, options: splitOptions, evaluator: all,
                                   communicator: communicator)
            guard communicator.isMain else { continue }
            var entry: [String: [String: Double]] = [:]
            for (key, value) in try all.evaluate() {
                guard let cut = key.firstIndex(of: "/") else { continue }
                entry[String(key[..<cut]), default: [:]][String(key[key.index(after: cut)...])] = value
            }
            report[split.name] = entry
            for (kind, values) in entry.sorted(by: { $0.key < $1.key }) {
                let shown = values.keys.filter { !$0.contains("-") }.sorted().prefix(6)
                    .map { String(format: "%@ %.2f", $0, 100 * values[$0]!) }.joined(separator: "  ")
                let perClass = values.keys.filter { $0.contains("-") }.sorted()
                    .map { String(format: "%@ %.1f", String($0.drop { $0 != "-" }.dropFirst()), 100 * values[$0]!) }.joined(separator: ", ")
                log("\(split.name) \(kind) (\(count) images\(options.labelSpace == .union ? ", union label space" : "")): \(shown)")
                if !perClass.isEmpty { log("    per class: \(perClass)") }
            }
        }
        return report
    }
}
