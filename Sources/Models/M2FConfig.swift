/// The widths, depths and counts of a Mask2Former-style model; the defaults are m2f-tiny
/// (`shared/reference/m2f-tiny.md`).
public struct M2FConfig: Equatable, Codable, Sendable {
    /// Stem convolutions' output channels, then res2..res5's.
    public var stemChannels = [32, 64]
    public var stageChannels = [64, 128, 256, 512]
    public var backboneGroups = 8
    /// Pixel decoder.
    public var convDim = 128
    public var decoderGroups = 32
    public var encoderLayers = 2
    public var encoderHeads = 4
    public var encoderPoints = 4
    public var encoderFFN = 512
    /// Transformer decoder.
    public var hidden = 128
    public var queries = 50
    public var heads = 4
    public var ffn = 512
    public var decoderLayers = 6
    public var maskDim = 128
    /// Text-embedding classifier.
    public var embeddingDim = 384
    public var temperature: Float = 0.07
    /// ImageNet normalisation on the 0-255 scale.
    public var pixelMean: [Float] = [123.675, 116.28, 103.53]
    public var pixelStd: [Float] = [58.395, 57.12, 57.375]

    public init() {}
}
