import Autograd
import Core

/// Masked cross-attention + LN, self-attention + LN, FFN + LN (post-norm), as Mask2Former's
/// decoder layer.
final class DecoderLayer: Module {
    let crossAttn: MultiheadAttention, norm1: LayerNorm
    let selfAttn: MultiheadAttention, norm2: LayerNorm
    let linear1: Linear, linear2: Linear, norm3: LayerNorm

    init(_ c: M2FConfig, rng: inout SeededRNG) {
        crossAttn = MultiheadAttention(dModel: c.hidden, heads: c.heads, rng: &rng)
        norm1 = LayerNorm(c.hidden)
        selfAttn = MultiheadAttention(dModel: c.hidden, heads: c.heads, rng: &rng)
        norm2 = LayerNorm(c.hidden)
        linear1 = Linear(c.hidden, c.ffn, rng: &rng)
        linear2 = Linear(c.ffn, c.hidden, rng: &rng)
        norm3 = LayerNorm(c.hidden)
    }

    var children: [(String, Module)] {
        [("cross_attn", crossAttn), ("norm1", norm1), ("self_attn", selfAttn), ("norm2", norm2),
         ("linear1", linear1), ("linear2", linear2), ("norm3", norm3)]
    }

    /// `tgt` `[B, Q, d]`, `memory` `[B, HW, d]` (level embedding included), `pos` `[1, HW, d]`,
    /// `queryPos` `[1, Q, d]`, `blocked` `[B, Q, HW]`, `selfBlocked` `[B, Q, Q]` (mask piloting).
    func callAsFunction(_ tgt: Tensor, memory: Tensor, pos: Tensor, queryPos: Tensor, blocked: BoolMask,
                        selfBlocked: BoolMask? = nil) -> Tensor {
        let q = tgt + queryPos
        var out = norm1(tgt + crossAttn(query: q, key: memory + pos, value: memory, blocked: blocked))
        let q2 = out + queryPos
        out = norm2(out + selfAttn(query: q2, key: q2, value: out, blocked: selfBlocked))
        return norm3(out + linear2(linear1(out).relu()))
    }
}

/// Mask2Former's masked-attention transformer decoder with prediction heads, and a classifier of
/// text embeddings: a query's class logits are the cosine similarities of its projection with
/// the dataset's class embeddings and with a learnable background embedding, over a temperature.
public final class TransformerDecoder: Module {
    let config: M2FConfig
    let backgroundEmbed: Tensor
    /// LMSeg's learnable prompt (`model.learnable_prompt`), added to the class embeddings.
    let classPrompt: Tensor?
    let queryFeat: Embedding, queryEmbed: Embedding, levelEmbed: Embedding
    /// OneFormer's task embeddings (`model.task_conditioning`): one row per task.
    let taskEmbed: Embedding?
    /// The tasks a task-conditioned model knows, in the order of `task_embed`'s rows.
    public static let tasks = ["panoptic", "semantic", "instance"]
    let layers: ModuleList<DecoderLayer>
    let decoderNorm: LayerNorm
    let classProj: Linear
    let maskEmbed: MLP

    public init(_ c: M2FConfig, rng: inout SeededRNG) {
        config = c
        backgroundEmbed = Tensor.randn([c.embeddingDim], rng: &rng, requiresGrad: true)
        classPrompt = c.learnablePrompt ? Tensor.zeros([c.embeddingDim], requiresGrad: true) : nil
        queryFeat = Embedding(c.queries, c.hidden, rng: &rng)
        queryEmbed = Embedding(c.queries, c.hidden, rng: &rng)
        levelEmbed = Embedding(3, c.hidden, rng: &rng)
        taskEmbed = c.taskConditioning ? Embedding(Self.tasks.count, c.hidden, rng: &rng) : nil
        layers = ModuleList((0..<c.decoderLayers).map { _ in DecoderLayer(c, rng: &rng) })
        decoderNorm = LayerNorm(c.hidden)
        classProj = Linear(c.hidden, c.embeddingDim, rng: &rng)
        maskEmbed = MLP(input: c.hidden, hidden: c.hidden, output: c.maskDim, layers: 3, rng: &rng)
    }

    public var ownParameters: [(String, Tensor)] {
        [("background_embed", backgroundEmbed)] + (classPrompt.map { [("class_prompt", $0)] } ?? [])
    }
    public var children: [(String, Module)] {
        [("query_feat", queryFeat), ("query_embed", queryEmbed), ("level_embed", levelEmbed), ("layers", layers),
         ("decoder_norm", decoderNorm), ("class_proj", classProj), ("mask_embed", maskEmbed)]
            + (taskEmbed.map { [("task_embed", $0 as Module)] } ?? [])
    }

    /// One prediction set: class logits `[B, Q, K+1]` (background last) and mask logits
    /// `[B, Q, H/4, W/4]`, plus the cosine similarities `[B, Q, K]` before the temperature and
    /// the queries' unit-length class-space embeddings `[B, Q, D]` (OneFormer's contrastive loss).
    public struct Prediction {
        public var logits: Tensor
        public var masks: Tensor
        public var cosines: Tensor
        public var embeddings: Tensor
    }

    /// Runs the decoder on the pixel decoder's output. `classEmbeddings` `[K, D]` (normalised
    /// here). `attentionMasks`, when given, replaces the computed mask of decoder layer i
    /// (`[B, Q, HW_level]`, true = blocked): for parity tests at the threshold's edge.
    public func callAsFunction(_ pixel: PixelDecoder.Output, classEmbeddings: Tensor,
                               attentionMasks: [BoolMask]? = nil, tasks: [Int]? = nil) -> [Prediction] {
        forward(pixel, classEmbeddings: classEmbeddings, attentionMasks: attentionMasks, piloted: nil, tasks: tasks).predictions
    }

    /// Inference: the last prediction only. The earlier ones serve only as the next layer's
    /// attention mask, which is computed at its level's size directly — the query embeddings
    /// times the mask features resized to that size, equal to the resized mask logits up to
    /// rounding since bilinear resizing is linear — instead of six full-resolution mask products.
    public func finalPrediction(_ pixel: PixelDecoder.Output, classEmbeddings: Tensor, tasks: [Int]? = nil) -> Prediction {
        forward(pixel, classEmbeddings: classEmbeddings, piloted: nil, tasks: tasks, onlyLast: true).predictions[0]
    }

    /// The same, with `piloted` queries beside the learnable ones (training with mask piloting):
    /// the learnable queries' prediction sets and the piloted queries' (`[B, P, ...]`, slot
    /// order of `PilotedQueries`), one per set. `tasks` (a task-conditioned model): per image,
    /// the row of `tasks` it is told (panoptic when not given). `onlyLast`: see `finalPrediction`.
    public func forward(_ pixel: PixelDecoder.Output, classEmbeddings: Tensor, attentionMasks: [BoolMask]? = nil,
                        piloted: PilotedQueries?, tasks: [Int]? = nil, onlyLast: Bool = false) -> (predictions: [Prediction], piloted: [Prediction]) {
        let c = config, b = pixel.maskFeatures.shape[0], d = c.hidden, q = c.queries
        var memories: [Tensor] = [], positions: [Tensor] = [], sizes: [(Int, Int)] = []
        for (l, x) in pixel.multiScale.enumerated() {
            let (h, w) = (x.shape[2], x.shape[3])
            sizes.append((h, w))
            memories.append(x.reshape([b, d, h * w]).transpose(1, 2) + levelEmbed.weight.slice(axis: 0, l..<(l + 1)))
            positions.append(Tensor(shape: [d, h * w], data: sinePositionEncoding(height: h, width: w, features: d / 2))
                .transpose(0, 1).reshape([1, h * w, d]))
        }
        var queryPos = queryEmbed.weight.reshape([1, q, d])
        var output = queryFeat.weight.reshape([1, q, d]).expand(to: [b, q, d])
        if let taskEmbed {
            let rows = tasks ?? [Int](repeating: 0, count: b)
            precondition(rows.count == b && rows.allSatisfy { Self.tasks.indices.contains($0) }, "TransformerDecoder: tasks \(rows) for a batch of \(b)")
            output = output + taskEmbed.weight.indexSelect(axis: 0, rows).reshape([b, 1, d])
        }
        let classes = normalizeRows(classPrompt.map { classEmbeddings + $0 } ?? classEmbeddings)
        let background = normalizeRows(backgroundEmbed.reshape([1, c.embeddingDim]))
        let classifier = Tensor.concat([classes, background], axis: 0)           // [K+1, D]

        // Piloted queries after the learnable ones: content from their class's text embedding
        // through the classifier's projection (transposed), no positional embedding.
        var selfBlocked: BoolMask? = nil, pilotMasks: [BoolMask] = []
        let p = piloted?.count ?? 0
        if let piloted {
            let content = Tensor.matmul(normalizeRows(piloted.classEmbeddings), classProj.weight).reshape([b, p, d])
            output = Tensor.concat([output, content], axis: 1)
            queryPos = Tensor.concat([queryPos, Tensor.zeros([1, p, d])], axis: 1)
            selfBlocked = piloted.selfAttentionBlocked(queries: q)
            pilotMasks = sizes.enumerated().map { piloted.crossAttentionBlocked(height: $1.0, width: $1.1, level: $0) }
        }

        var predictions: [Prediction] = []
        // With `onlyLast`, the mask features at each level's size (for the attention masks).
        let featuresAtLevel = onlyLast ? sizes.map { pixel.maskFeatures.resizeBilinear(to: $0) } : nil
        var (prediction, mask) = heads(output, pixel.maskFeatures, classifier, target: sizes[0], featuresAtTarget: featuresAtLevel?[0])
        if !onlyLast { predictions.append(prediction) }
        for (i, layer) in layers.items.enumerated() {
            let level = i % sizes.count
            var blocked = attentionMasks?[i] ?? mask
            if let piloted, piloted.isPiloted(layer: i) {
                blocked = Self.replacingRows(of: blocked, from: q, with: pilotMasks[level])
            }
            output = layer(output, memory: memories[level], pos: positions[level], queryPos: queryPos, blocked: blocked,
                           selfBlocked: selfBlocked)
            let next = (i + 1) % sizes.count, last = i == layers.items.count - 1
            (prediction, mask) = heads(output, pixel.maskFeatures, classifier, target: sizes[next],
                                       featuresAtTarget: last ? nil : featuresAtLevel?[next])
            if !onlyLast || last { predictions.append(prediction) }
        }
        guard p > 0 else { return (predictions, []) }
        func part(_ x: Tensor, _ range: Range<Int>) -> Tensor { x.slice(axis: 1, range) }
        func parts(_ x: Prediction, _ r: Range<Int>) -> Prediction {
            Prediction(logits: part(x.logits, r), masks: part(x.masks, r), cosines: part(x.cosines, r), embeddings: part(x.embeddings, r))
        }
        return (predictions.map { parts($0, 0..<q) }, predictions.map { parts($0, q..<(q + p)) })
    }

    /// `mask` `[B, N, HW]` with rows `from...` of each image replaced by `rows` `[B, N - from, HW]`.
    static func replacingRows(of mask: BoolMask, from start: Int, with rows: BoolMask) -> BoolMask {
        let (b, n, hw) = (mask.shape[0], mask.shape[1], mask.shape[2])
        precondition(rows.shape == [b, n - start, hw], "replacingRows: \(rows.shape) for rows \(start)..<\(n) of \(mask.shape)")
        var values = mask.values
        for i in 0..<b {
            values.replaceSubrange(((i * n + start) * hw)..<((i + 1) * n * hw), with: rows.values[(i * (n - start) * hw)..<((i + 1) * (n - start) * hw)])
        }
        return BoolMask(shape: mask.shape, values: values)
    }

    /// The prediction heads on `output`, and the attention mask for the next layer (mask logits
    /// resized to `target`, blocked where sigmoid < 0.5, fully blocked rows unblocked; no
    /// gradient). Their GEMMs stay float32 under `model.precision: bfloat16`, as mixed-precision
    /// training keeps the logits (docs/performance.md, "bfloat16 GEMMs").
    /// With `featuresAtTarget` (the mask features resized to `target`), the prediction's masks are
    /// at `target`'s size, as the attention mask needs them (`finalPrediction`).
    func heads(_ output: Tensor, _ maskFeatures: Tensor, _ classifier: Tensor, target: (Int, Int),
               featuresAtTarget: Tensor? = nil) -> (Prediction, BoolMask) {
        GEMMPrecision.withValue(.float32) {
            headsInFloat32(output, featuresAtTarget ?? maskFeatures, classifier, target: target)
        }
    }

    private func headsInFloat32(_ output: Tensor, _ maskFeatures: Tensor, _ classifier: Tensor, target: (Int, Int)) -> (Prediction, BoolMask) {
        let (b, q) = (output.shape[0], output.shape[1])
        let (h, w) = (maskFeatures.shape[2], maskFeatures.shape[3])
        let decoded = decoderNorm(output)
        let embedding = maskEmbed(decoded)                                            // [B, Q, C]
        let masks = Tensor.matmul(embedding, maskFeatures.reshape([b, config.maskDim, h * w])).reshape([b, q, h, w])
        let embeddings = normalizeRows(classProj(decoded))
        let cosines = Tensor.matmul(embeddings, classifier, transB: true)   // [B, Q, K+1]
        let logits = cosines / config.temperature
        let k = classifier.shape[0] - 1
        let blocked: BoolMask = withoutGrad {
            let resized = (h, w) == target ? masks.data : masks.resizeBilinear(to: target).data
            let hw = target.0 * target.1
            // Query rows in parallel (a serial loop over 2 x 100 x 1024 values per layer was a
            // serial stretch of the forward pass).
            let values = resized.withUnsafeBufferPointer { rp in
                [Bool](unsafeUninitializedCapacity: resized.count) { out, count in
                    let (src, dst) = (rp.baseAddress!, out.baseAddress!)
                    Parallel.forRanges(b * q, costPerElement: hw) { rows in
                        for row in rows {
                            var all = true
                            for e in row * hw..<(row + 1) * hw {
                                // sigmoid(x) < 0.5  <=>  x < 0
                                let v = src[e] < 0
                                dst[e] = v
                                all = all && v
                            }
                            if all { (dst + row * hw).update(repeating: false, count: hw) }
                        }
                    }
                    count = resized.count
                }
            }
            return BoolMask(shape: [b, q, hw], values: values)
        }
        return (Prediction(logits: logits, masks: masks, cosines: cosines.slice(axis: 2, 0..<k), embeddings: embeddings), blocked)
    }
}

/// Rows scaled to unit L2 norm (`F.normalize`, eps 1e-12), over the last axis.
func normalizeRows(_ x: Tensor) -> Tensor {
    let norm = x.square().sum(axis: -1, keepDims: true).sqrt().clamp(min: 1e-12)
    return x / norm
}
