import ArgumentParser
import CommandLineOptions
import Autograd
import Core
import Datasets
import Foundation
import HDF5
import Losses
import Models
import Targets
import Trainer

/// `train forward`: one forward pass (and, with `--targets`, the training step's dense losses,
/// assignments and gradient norms) on a batch file, written with the dataset names of the
/// parity reference (`docs/m2f-tiny.md`).
struct Forward: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the model once on a batch file and write its outputs (for parity with other implementations).",
        discussion: """
        BATCH.h5 is laid out as Tests/ModelsTests/Fixtures/parity/m2f_tiny_batch.h5 (images_u8, class_embeddings, and \
        for --targets target_classes and dense_target_masks). OUT.h5 gets pred_logits/<i> and pred_masks/<i>; \
        with --targets also loss/{ce,mask_bce,dice}/<i>, loss/total, assign/<i> and grad_norm/<name>, as \
        docs/m2f-tiny.md defines them.
        """)

    @OptionGroup var model: ModelConfigOptions
    @Option(help: "Weights (HDF5, one dataset per parameter).") var weights: String
    @Option(help: "Batch file (HDF5).") var input: String
    @Option(help: "Output file (HDF5).") var out: String
    @Flag(help: "Also compute the dense losses, the assignments and the gradient norms.") var targets = false
    @Option(help: "Use the attention masks stored in this reference file (attn_masks/<i>).") var attnMasks: String?

    func run() throws {
        let modelConfig = try model.load().model
        var rng = SeededRNG(seed: 0)
        let model = M2FModel(modelConfig, rng: &rng)
        try model.loadWeights(from: weights)
        let batch = try HDF5File(input)
        let images = try batch.readBytes("images_u8")
        let embeddings = try batch.readFloats("class_embeddings")
        let masks = try attnMasks.map { path -> [BoolMask] in
            let ref = try HDF5File(path)
            return try (0..<modelConfig.decoderLayers).map { i in
                let m = try ref.readBytes("attn_masks/\(i)")
                return BoolMask(shape: m.shape, values: m.values.map { $0 != 0 })
            }
        }
        let imageTensor = Tensor(shape: images.shape, data: images.values.map { Float($0) })
        let embeddingTensor = Tensor(shape: embeddings.shape, data: embeddings.values)
        var predictions: [(logits: Tensor, masks: Tensor)] = []
        var results: [(String, [Double], [Int])] = []
        var assignments: [(String, [Int64], [Int])] = []
        if targets {
            // The training step on one dataset whose classes are the batch file's embeddings.
            let k = embeddings.shape[0]
            let space = UnifiedLabelSpace(datasets: [("parity", (0..<k).map { "class \($0)" }, Array(repeating: true, count: k), embeddings.values)],
                                          dim: embeddings.shape[1])
            let dense = try batch.readFloats("dense_target_masks"), classes = try batch.readInt64s("target_classes")
            let (b, t, h, w) = (dense.shape[0], dense.shape[1], dense.shape[2], dense.shape[3])
            let batchTargets = BatchTargets(supervision: .masks, images: (0..<b).map { i in
                ImageTargets(classes: (0..<t).map { Int(classes.values[i * t + $0]) },
                             masks: Tensor(shape: [t, h, w], data: Array(dense.values[(i * t * h * w)..<((i + 1) * t * h * w)])))
            })
            var loss = LossConfig()
            loss.densePoints = true
            let step = TrainStep(model: model, labelSpace: space, loss: loss, solver: SolverConfig(), seed: 0)
            let found = try step.forwardAndLosses(TrainingBatch(iteration: 0, dataset: 0, indices: Array(0..<b), images: imageTensor,
                                                                targets: batchTargets), attentionMasks: masks)
            predictions = found.predictions.map { ($0.logits, $0.masks) }
            for (i, set) in found.perSet.enumerated() {
                assignments.append(("assign/\(i)", set.assignments.flatMap { a in zip(a.rows, a.cols).flatMap { [Int64($0), Int64($1)] } }, [b, t, 2]))
                let byName = Dictionary(uniqueKeysWithValues: set.losses.map { ($0.name, $0.value.item) })
                for (name, key, weight) in [("ce", "loss_ce", loss.classWeight), ("mask_bce", "loss_mask", loss.maskWeight), ("dice", "loss_dice", loss.diceWeight)] {
                    results.append(("loss/\(name)/\(i)", [Double(byName[key]! / weight)], []))
                }
            }
            results.append(("loss/total", [Double(found.total.item)], []))
            found.total.backward()
            for (name, p) in model.namedParameters() {
                let norm = (p.grad ?? []).reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                results.append(("grad_norm/\(name)", [norm], []))
            }
        } else {
            predictions = withoutGrad { model(imageTensor, classEmbeddings: embeddingTensor, attentionMasks: masks) }.map { ($0.logits, $0.masks) }
        }
        try HDF5File.writeAtomically(to: out) { file in
            for (i, p) in predictions.enumerated() {
                try file.write("pred_logits/\(i)", floats: p.logits.data, shape: p.logits.shape)
                try file.write("pred_masks/\(i)", floats: p.masks.data, shape: p.masks.shape)
            }
            for (name, values, shape) in results { try file.write(name, doubles: values, shape: shape) }
            for (name, values, shape) in assignments { try file.write(name, int64s: values, shape: shape) }
        }
        print("wrote \(predictions.count) prediction sets\(targets ? ", losses, assignments and gradient norms" : "") to \(out)")
    }
}
