import Autograd
/// The widths, depths and counts of a Mask2Former-style model; the defaults are m2f-tiny
/// (`docs/m2f-tiny.md`). In YAML these are the keys of the `model:` section, in
/// snake case (`stem_channels`, `encoder_layers`, ...); a key left out keeps its default.
public struct M2FConfig: Equatable, Codable, Sendable {
    public var stemChannels = [32, 64]
    /// res2 ... res5 output channels.
    public var stageChannels = [64, 128, 256, 512]
    public var backboneGroups = 8
    public var convDim = 128
    public var decoderGroups = 32
    public var encoderLayers = 2
    public var encoderHeads = 4
    public var encoderPoints = 4
    public var encoderFFN = 512
    public var hidden = 128
    public var queries = 50
    public var heads = 4
    public var ffn = 512
    public var decoderLayers = 6
    public var maskDim = 128
    public var embeddingDim = 384
    public var temperature: Float = 0.07
    /// ImageNet normalisation on the 0-255 scale.
    public var pixelMean: [Float] = [123.675, 116.28, 103.53]
    public var pixelStd: [Float] = [58.395, 57.12, 57.375]
    /// LMSeg's learnable prompt: a trained vector added to every class's text embedding before
    /// the classifier normalises them (`predictor.class_prompt`, zeros at the start), shared by
    /// all datasets so that one name stays one embedding across vocabularies.
    public var learnablePrompt = false
    /// OneFormer's task conditioning: a learned embedding per task (panoptic, semantic,
    /// instance; `predictor.task_embed`) added to every object query's content, so the one model
    /// is told which task it is doing, in training (the batch's per-image tasks) and inference.
    public var taskConditioning = false
    /// OpenSeeD's decoupled queries: `[things, stuff]` — the first `things` queries are matched
    /// only to thing targets, the other `stuff` only to stuff targets (the two add up to
    /// `queries`); empty: every query may take any target (Mask2Former).
    public var decoupledQueries: [Int] = []
    /// The number format of the model's GEMMs (convolutions, linear layers, attention), forward
    /// and backward: `float32`, or `bfloat16` — mixed precision, operands rounded to bfloat16
    /// and summed in float32, about twice the GEMM speed on CPUs with AVX512-BF16 (elsewhere it
    /// runs in float32, with a warning). The prediction heads (class and mask logits) stay
    /// float32 either way. Its effect on the main job: docs/performance.md, "bfloat16 GEMMs".
    public var precision: GEMMPrecision = .float32

    public init() {}

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case stemChannels = "stem_channels", stageChannels = "stage_channels", backboneGroups = "backbone_groups"
        case convDim = "conv_dim", decoderGroups = "decoder_groups", encoderLayers = "encoder_layers"
        case encoderHeads = "encoder_heads", encoderPoints = "encoder_points", encoderFFN = "encoder_ffn"
        case hidden, queries, heads, ffn, decoderLayers = "decoder_layers", maskDim = "mask_dim"
        case embeddingDim = "embedding_dim", temperature, pixelMean = "pixel_mean", pixelStd = "pixel_std"
        case learnablePrompt = "learnable_prompt", taskConditioning = "task_conditioning", decoupledQueries = "decoupled_queries"
        case precision
    }


    /// Values that would build a broken model, as errors naming the key.
    public func validate() throws {
        func fail(_ key: CodingKeys, _ why: String) -> ConfigError { ConfigError(key: key.rawValue, message: why) }
        guard stemChannels.count == 2, stemChannels.allSatisfy({ $0 > 0 }) else { throw fail(.stemChannels, "needs two positive channel counts") }
        guard stageChannels.count == 4, stageChannels.allSatisfy({ $0 > 0 }) else { throw fail(.stageChannels, "needs four positive channel counts (res2..res5)") }
        guard stemChannels[1] > 0, (stemChannels + stageChannels).allSatisfy({ $0 % backboneGroups == 0 }) else {
            throw fail(.backboneGroups, "must divide every backbone channel count")
        }
        guard convDim % decoderGroups == 0, convDim % encoderHeads == 0, convDim % 2 == 0 else {
            throw fail(.convDim, "must be even and divisible by decoder_groups and encoder_heads")
        }
        guard hidden == convDim else { throw fail(.hidden, "must equal conv_dim (the decoder reads the pixel decoder's maps)") }
        guard hidden % heads == 0 else { throw fail(.heads, "must divide hidden") }
        for (key, v) in [(CodingKeys.encoderLayers, encoderLayers), (.encoderPoints, encoderPoints), (.encoderFFN, encoderFFN),
                         (.queries, queries), (.ffn, ffn), (.decoderLayers, decoderLayers), (.maskDim, maskDim), (.embeddingDim, embeddingDim)] {
            guard v > 0 else { throw fail(key, "must be positive") }
        }
        guard temperature > 0 else { throw fail(.temperature, "must be positive") }
        // Sizes that would exhaust memory or time are refused up front (README: input limits).
        for (key, v, limit) in [(CodingKeys.queries, queries, 1000), (.encoderLayers, encoderLayers, 64), (.decoderLayers, decoderLayers, 64),
                                (.heads, heads, 64), (.encoderHeads, encoderHeads, 64), (.encoderPoints, encoderPoints, 64),
                                (.convDim, convDim, 4096), (.hidden, hidden, 4096), (.maskDim, maskDim, 4096), (.ffn, ffn, 16384),
                                (.encoderFFN, encoderFFN, 16384), (.embeddingDim, embeddingDim, 4096)] where v > limit {
            throw fail(key, "is \(v); at most \(limit)")
        }
        if let wide = (stemChannels + stageChannels).first(where: { $0 > 4096 }) {
            throw fail(.stageChannels, "a backbone width of \(wide); at most 4096")
        }
        guard pixelMean.count == 3, pixelStd.count == 3, pixelStd.allSatisfy({ $0 > 0 }) else {
            throw fail(.pixelStd, "pixel_mean and pixel_std need three values, std positive")
        }
        guard decoupledQueries.isEmpty || (decoupledQueries.count == 2 && decoupledQueries.allSatisfy { $0 > 0 } && decoupledQueries.reduce(0, +) == queries) else {
            throw fail(.decoupledQueries, "needs [things, stuff], two positive counts that add up to queries (\(queries)); [] turns it off")
        }
    }
}

public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var key: String
    public var message: String
    public init(key: String, message: String) {
        self.key = key
        self.message = message
    }
    public var description: String { "\(key): \(message)" }
}
