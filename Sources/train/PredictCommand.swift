import ArgumentParser
import Autograd
import Core
import Datasets
import Evaluation
import Foundation
import Images
import Models
import Targets
import TextEncoder
import Trainer

/// `train predict`: a trained model on anyone's images, in a training dataset's classes, every
/// training class at once, or any class names (embedded on the fly by the text encoder).
struct Predict: ParsableCommand {
    enum Task: String, ExpressibleByArgument, CaseIterable {
        case panoptic, semantic, instance
        var shardTask: ShardTask { ShardTask(rawValue: rawValue)! }
    }

    static let configuration = CommandConfiguration(
        abstract: "Run a trained model on JPEG/PNG files: overlay pictures, panoptic PNGs + COCO panoptic JSON, semantic label PNGs, COCO instance results.",
        discussion: """
        Classes: --dataset NAME (a training dataset's), --label-space union (every training class, one per name; the default), \
        --classes "zebra, giraffe" or --vocab V.json (any names, embedded with all-MiniLM-L6-v2: open-vocabulary inference). \
        Images of any size are resized to fit --size (default: the config's crop size), predictions mapped back to the original size. \
        Files that cannot be read are reported by name and skipped.
        """)

    @Option(help: "Checkpoint or weights file (HDF5).") var checkpoint: String
    @Option(help: "The config (YAML; default: the one stored in the checkpoint).") var config: String?
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a config key (repeatable).", valueName: "key=value"))
    var overrides: [String] = []
    @Option(help: "An image file, or a folder of them (.jpg, .jpeg, .png; not recursive).") var input: String
    @Option(help: "Output folder (replaced as a whole when it holds earlier predictions).") var output = "predictions"
    @Option(help: "What to predict: panoptic (panoptic + semantic + thing instances), semantic, or instance.") var task: Task = .panoptic
    @Option(help: "Answer in this training dataset's classes.") var dataset: String?
    @Option(help: "union: every training class at once (one class per name).") var labelSpace: EvaluationLabelSpace?
    @Option(help: "Class names, comma-separated (things unless listed in --stuff).") var classes: String?
    @Option(help: "Of --classes, the ones that are stuff (amorphous regions), comma-separated.") var stuff: String?
    @Option(help: "A class list file (labelspaces/vocab format: name, isthing, embed_name).") var vocab: String?
    @Option(help: "Instances scoring above it are drawn in the overlays (default: test.overlay_threshold).") var threshold: Double?
    @Option(help: "Images are resized to fit SIZE x SIZE (default: the largest crop size of the config's datasets).") var size: Int?
    @Option(help: "Images per forward pass.") var batch = 4
    @Option(help: "The text model folder for --classes/--vocab (default: $UNISEG_TEXT_MODEL or ~/.cache/uniseg/all-MiniLM-L6-v2).")
    var textModel: String?

    func validate() throws {
        let given = [dataset != nil, labelSpace != nil, classes != nil, vocab != nil].filter { $0 }.count
        guard given <= 1 else { throw ValidationError("give at most one of --dataset, --label-space, --classes and --vocab") }
        guard labelSpace != .dataset else { throw ValidationError("--label-space dataset needs a dataset: give --dataset NAME") }
        guard stuff == nil || classes != nil else { throw ValidationError("--stuff names some of --classes") }
        guard (1...256).contains(batch) else { throw ValidationError("--batch must be from 1 to 256") }
        // The model's input is size x size x 3 floats per image: bounded, as the decoders bound files.
        if let size { guard (32...4096).contains(size) else { throw ValidationError("--size must be from 32 to 4096") } }
        if let threshold { guard (0...1).contains(threshold) else { throw ValidationError("--threshold must be in [0, 1]") } }
    }

    func run() throws {
        let config = try loadConfig()
        var rng = SeededRNG(seed: config.seed)
        let model = M2FModel(config.model, rng: &rng)
        try model.loadWeights(checkpoint)
        let predictionClasses = try chooseClasses(config)
        let files = try imageFiles()
        let size = self.size ?? config.data.datasets.map(\.augmentation.size).max() ?? 128
        var predictor = ImagePredictor(model: model, classes: predictionClasses, size: size, task: task.shardTask,
                                       options: InferenceOptions(config))
        if config.test.calibration.power > 0 {
            // UniDetector's priors: the mean predicted probabilities over the first images.
            var sums = [Double](repeating: 0, count: predictionClasses.names.count), queries = 0, used = 0
            let first = files.prefix(config.test.calibration.images)
            for chunk in stride(from: 0, to: first.count, by: batch).map({ Array(first[$0..<min($0 + batch, first.count)]) }) {
                let images = chunk.compactMap { try? ImageFile.read($0) }
                let (s, q) = predictor.probabilitySums(images)
                for c in sums.indices { sums[c] += s[c] }
                (queries, used) = (queries + q, used + images.count)
            }
            predictor.options.classPrior = sums.map { Float($0 / Double(max(queries, 1))) }
            print("calibrated: each class's probability divided by its prior^\(config.test.calibration.power), priors from \(used) image\(used == 1 ? "" : "s")")
        }
        let outputs = PredictionWriter(task: task.shardTask, classes: predictionClasses,
                                       overlayThreshold: threshold ?? Double(config.test.overlayThreshold))
        if FileManager.default.fileExists(atPath: output), !PredictionWriter.isPredictionFolder(output) {
            throw InputError(output, "exists and does not hold earlier predictions (no \(PredictionWriter.indexFile)): choose another --output")
        }
        let start = Date()
        var skipped: [String] = []
        try AtomicFile.replaceFolder(output) { folder in
            try outputs.begin(in: folder)
            let bar = ProgressBar("predict")
            var done = 0
            for chunk in stride(from: 0, to: files.count, by: batch).map({ Array(files[$0..<min($0 + batch, files.count)]) }) {
                var images: [(file: String, image: Image8)] = []
                for file in chunk {
                    do { images.append((file, try ImageFile.read(file))) } catch {
                        FileHandle.standardError.write(Data("skipped \(error)\n".utf8))
                        skipped.append(file)
                    }
                }
                for (item, annotations) in zip(images, predictor.predict(images.map(\.image))) {
                    try outputs.add(file: item.file, image: item.image, prediction: annotations)
                }
                done += chunk.count
                bar.update(done, files.count)
            }
            try outputs.finish(skipped: skipped)
        }
        let written = files.count - skipped.count
        print("\(output): \(written) image\(written == 1 ? "" : "s") predicted (\(task.rawValue), \(predictionClasses.names.count) classes, size \(size))"
              + (skipped.isEmpty ? "" : ", \(skipped.count) skipped") + String(format: " in %.1f s", Date().timeIntervalSince(start)))
    }

    /// `--config`, else the config stored in the checkpoint.
    func loadConfig() throws -> TrainConfig {
        if let config { return try ConfigLoader.load(config, overrides: overrides, requireData: false) }
        guard let yaml = try Checkpoint.storedConfig(in: checkpoint) else {
            throw InputError(checkpoint, "holds no config (a weights file?): give --config")
        }
        return try ConfigLoader.load(yaml: yaml, named: "\(checkpoint) (its stored config)", overrides: overrides, requireData: false)
    }

    func chooseClasses(_ config: TrainConfig) throws -> PredictionClasses {
        if classes != nil || vocab != nil {
            let list: ClassVocabulary
            if let vocab { list = try ClassVocabulary.load(vocab) } else {
                var l = try ClassVocabulary(commaSeparated: classes!)
                let stuffNames = try stuff.map { try ClassVocabulary(commaSeparated: $0).names } ?? []
                if let unknown = stuffNames.first(where: { !l.names.contains($0) }) {
                    throw InputError("--stuff", "'\(unknown)' is not one of --classes")
                }
                l.isThing = l.names.map { !stuffNames.contains($0) }
                list = l
            }
            let encoder = try TextModel.encoder(folder: textModel)
            guard encoder.dim == config.model.embeddingDim else {
                throw InputError(encoder.folder, "makes \(encoder.dim)-d embeddings; the model's classifier takes \(config.model.embeddingDim)")
            }
            let e = try TextModel.embedClasses(list.embedNames, encoder: encoder)
            return PredictionClasses(names: list.names, isThing: list.isThing, embeddings: e, dim: encoder.dim)
        }
        // The training label space: from the checkpoint, else from the config's data.
        let space: UnifiedLabelSpace
        if let stored = try Checkpoint.labelSpace(in: checkpoint, form: config.data.labelSpace) { space = stored } else {
            space = try TrainingData(config, validation: false).labelSpace
        }
        if let dataset {
            guard let d = space.index(of: dataset) else {
                let names = space.datasets.map(\.name)
                throw InputError("--dataset \(dataset)", "not a training dataset of this model (\(names.joined(separator: ", ")))"
                                 + (nearestName(dataset, in: names).map { "; did you mean \($0)?" } ?? ""))
            }
            return PredictionClasses(dataset: d, of: space)
        }
        return PredictionClasses(unionOf: space)
    }

    /// The input file, or the image files of the input folder in name order.
    func imageFiles() throws -> [String] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: input, isDirectory: &isFolder) else { throw InputError(input, "no such file or folder") }
        guard isFolder.boolValue else { return [input] }
        let names = try FileManager.default.contentsOfDirectory(atPath: input)
            .filter { !$0.hasPrefix(".") && ImageFile.extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
        guard !names.isEmpty else { throw InputError(input, "holds no .jpg, .jpeg or .png files") }
        return names.map { (input as NSString).appendingPathComponent($0) }
    }
}
