import ArgumentParser
import Foundation
import Trainer

/// `train evaluate`: a checkpoint scored on every configured validation split.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint on the validation splits: PQ (panoptic), mIoU (semantic), box/mask mAP (detection, instance).")

    @Option(help: "The config (YAML).") var config: String
    @Option(help: "Checkpoint or weights file (HDF5).") var checkpoint: String
    @Option(name: .customLong("set"), help: "Override a config key (repeatable).") var overrides: [String] = []
    @Option(help: "Write the metrics as JSON: {dataset: {panoptic|semantic|bbox|segm: {...}}}.") var json: String?
    @Option(help: "Validation images per dataset (0: all).") var maxImages = 0
    @Option(help: "The classes predictions may take: each dataset's own (dataset), or every training dataset's (union; a foreign class counts as no prediction).")
    var labelSpace: EvaluationLabelSpace = .dataset
    @Option(help: ArgumentHelp("Also write predictions and ground truth in the standard formats (COCO results, COCO panoptic, semantic PNGs) and overlay pictures under DIR/<dataset>/.",
                               valueName: "DIR")) var dump: String?

    func run() throws {
        do {
            let config = try ConfigLoader.load(self.config, overrides: overrides)
            let run = try TrainingRun(config: config)
            try run.loadWeights(checkpoint)
            let report = try run.evaluate(maxImages: maxImages, labelSpace: labelSpace, dump: dump)
            if let json { try writeJSON(report, to: json) }
        } catch let error as ConfigFileError {
            throw CommandError(error.description)
        } catch let error as TrainingError {
            throw CommandError(error.description)
        }
    }
}

extension EvaluationLabelSpace: ExpressibleByArgument {}
