import Autograd
import Core

/// The whole model: backbone, pixel decoder, transformer decoder with the text-embedding
/// classifier. Parameter names are those of `Tests/ModelsTests/Fixtures/m2f-tiny-params.txt` (`docs/m2f-tiny.md`).
public final class M2FModel: Module {
    public let config: M2FConfig
    public let backbone: Backbone
    public let pixelDecoder: PixelDecoder
    public let predictor: TransformerDecoder
    /// Image pixels per pixel of the predicted mask maps: the masks are read off the pixel
    /// decoder's finest map, the backbone's res2 (stride 4).
    public static let maskStride = 4

    public init(_ config: M2FConfig = M2FConfig(), rng: inout SeededRNG) {
        self.config = config
        backbone = Backbone(config, rng: &rng)
        pixelDecoder = PixelDecoder(config, rng: &rng)
        predictor = TransformerDecoder(config, rng: &rng)
    }

    public var children: [(String, Module)] {
        [("backbone", backbone), ("pixel_decoder", pixelDecoder), ("predictor", predictor)]
    }

    /// Images `[B, 3, H, W]` with values 0-255 → normalised input.
    public func normalize(_ images: Tensor) -> Tensor {
        let mean = Tensor(shape: [1, 3, 1, 1], data: config.pixelMean), std = Tensor(shape: [1, 3, 1, 1], data: config.pixelStd)
        return (images - mean) / std
    }

    /// The backbone and pixel decoder on `images` (0-255): what every forward pass starts from.
    private func pixelFeatures(_ images: Tensor) -> PixelDecoder.Output {
        pixelDecoder(backbone(normalize(images)))
    }

    /// The 1 + decoderLayers prediction sets (set 0 from the learnable queries, the last final).
    /// `tasks`: per image, the task a task-conditioned model is told (rows of
    /// `TransformerDecoder.tasks`; ignored by a model without task conditioning).
    public func callAsFunction(_ images: Tensor, classEmbeddings: Tensor, attentionMasks: [BoolMask]? = nil,
                               tasks: [Int]? = nil) -> [TransformerDecoder.Prediction] {
        GEMMPrecision.withValue(config.precision) {
            predictor(pixelFeatures(images), classEmbeddings: classEmbeddings, attentionMasks: attentionMasks, tasks: tasks)
        }
    }

    /// Inference: the last prediction only, without the earlier predictions' full-resolution
    /// masks (`TransformerDecoder.finalPrediction`).
    public func finalPrediction(_ images: Tensor, classEmbeddings: Tensor, tasks: [Int]? = nil) -> TransformerDecoder.Prediction {
        GEMMPrecision.withValue(config.precision) {
            predictor.finalPrediction(pixelFeatures(images), classEmbeddings: classEmbeddings, tasks: tasks)
        }
    }

    /// The same with mask-piloted queries beside the learnable ones (training only): the
    /// learnable queries' prediction sets and the piloted queries'.
    public func forward(_ images: Tensor, classEmbeddings: Tensor, piloted: PilotedQueries?, tasks: [Int]? = nil)
        -> (predictions: [TransformerDecoder.Prediction], piloted: [TransformerDecoder.Prediction]) {
        GEMMPrecision.withValue(config.precision) {
            predictor.forward(pixelFeatures(images), classEmbeddings: classEmbeddings, piloted: piloted, tasks: tasks)
        }
    }
}
