import ArgumentParser
import CommandLineOptions
import Autograd
import Communication
import Core
import Foundation
import Models
import Trainer

/// `train evaluate`: a checkpoint scored on every configured validation split.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint on the validation splits: PQ (panoptic), mIoU (semantic), box/mask mAP (detection, instance).")

    @OptionGroup var options: ConfigOptions
    @Option(help: "Checkpoint or weights file (HDF5).") var checkpoint: String
    @Option(help: "Write the metrics as JSON: {dataset: {panoptic|semantic|bbox|segm: {...}}}.") var json: String?
    @Option(help: "Validation images per dataset (0: all).") var maxImages = 0
    @Option(help: "The classes predictions may take: each dataset's own (dataset), or every training dataset's (union; a foreign class counts as no prediction).")
    var labelSpace: EvaluationLabelSpace = .dataset
    @Option(help: ArgumentHelp("Union label space: first learn which classes of different datasets are one (UniDet) from N training images of each dataset with pixel labels, and report a merged class as its partner.", valueName: "N"))
    var learnMerges = 0
    @Option(help: "--learn-merges: the share of a class's pixels that must go to one class of another dataset for the two to merge.")
    var mergeThreshold = 0.5
    @Flag(help: "Also report class-agnostic metrics (entity segmentation: every class one): panoptic_agnostic/PQ, segm_agnostic/AP, bbox_agnostic/AP.")
    var classAgnostic = false
    @Option(help: ArgumentHelp("Also write predictions and ground truth in the standard formats (COCO results, COCO panoptic, semantic PNGs) and overlay pictures under DIR/<dataset>/.",
                               valueName: "DIR")) var dump: String?

    func validate() throws {
        guard learnMerges >= 0 else { throw ValidationError("--learn-merges must be >= 0") }
        guard learnMerges == 0 || labelSpace == .union else { throw ValidationError("--learn-merges needs --label-space union") }
        guard (0...1).contains(mergeThreshold) else { throw ValidationError("--merge-threshold must be in [0, 1]") }
    }

    func run() throws {
        let config = try options.load()
        let data = try TrainingData(config)
        for note in data.notes { print(note) }
        var rng = SeededRNG(seed: config.seed)
        let model = M2FModel(config.model, rng: &rng)
        try model.loadWeights(checkpoint)
        var inference = InferenceOptions(config, labelSpace: labelSpace)
        inference.classAgnostic = classAgnostic
        if learnMerges > 0 {
            inference.unionMerges = try LearnedMerges.learn(model: model, data: data, images: learnMerges, threshold: mergeThreshold)
                .map { ($0.columnA, $0.columnB) }
        }
        // Under `mpirun`, every process predicts a share of the images and the first scores them.
        let communicator = processCommunicator()
        let report = try ModelEvaluation.run(model: model, data: data, options: inference, maxImages: maxImages, dump: dump,
                                             communicator: communicator)
        if let json, communicator.isMain { try AtomicFile.writeJSON(report, to: json) }
    }
}

extension EvaluationLabelSpace: ExpressibleByArgument {}
