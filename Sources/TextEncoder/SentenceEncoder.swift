import Autograd
import Core
import Foundation

/// A sentence-transformers BERT encoder (all-MiniLM-L6-v2: 6 layers, 384 wide, 12 heads) on
/// the project's autograd: token + position + segment embeddings, post-norm transformer
/// layers with exact-erf GELU, mean pooling over the sentence's tokens, L2 normalisation —
/// sentence-transformers' `Transformer -> Pooling(mean) -> Normalize`.
///
/// Parameters carry Hugging Face's names (`encoder.layer.0.attention.self.query.weight`, ...)
/// and load from the model's `model.safetensors`; `pooler.*` is not used by the pipeline.
public final class SentenceEncoder: Module {
    /// The fields of Hugging Face's `config.json` this encoder reads; anything else a BERT
    /// config says (dropout, initialiser) does not change inference.
    public struct Config: Decodable, Equatable, Sendable {
        public var model_type: String
        public var hidden_size: Int
        public var num_hidden_layers: Int
        public var num_attention_heads: Int
        public var intermediate_size: Int
        public var max_position_embeddings: Int
        public var type_vocab_size: Int
        public var vocab_size: Int
        public var layer_norm_eps: Double
        public var hidden_act: String
        public var position_embedding_type: String?
    }

    public let config: Config
    public let tokenizer: WordPieceTokenizer
    let embeddings: Embeddings
    let encoder: EncoderLayers

    /// The folder the model was read from.
    public let folder: String

    public var children: [(String, Module)] { [("embeddings", embeddings), ("encoder", encoder)] }
    public var dim: Int { config.hidden_size }

    /// Reads a sentence-transformers model folder (`config.json`, `vocab.txt`,
    /// `model.safetensors`, `1_Pooling/config.json`, `sentence_bert_config.json`) and checks
    /// that it is the kind this encoder runs: BERT, GELU, absolute positions, mean pooling.
    public init(folder: String) throws {
        func file(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
        func json<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
            let path = file(name)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw InputError(path, "missing: not a sentence-transformers model folder (\(TextModel.howToFetch))")
            }
            do { return try JSONDecoder().decode(T.self, from: data) } catch {
                throw InputError(path, "cannot be read (\(error))")
            }
        }
        struct Pooling: Decodable { var pooling_mode_mean_tokens: Bool; var pooling_mode_cls_token: Bool?; var pooling_mode_max_tokens: Bool? }
        struct SentenceConfig: Decodable { var max_seq_length: Int }
        let config = try json("config.json", as: Config.self)
        let pooling = try json("1_Pooling/config.json", as: Pooling.self)
        let sentence = try json("sentence_bert_config.json", as: SentenceConfig.self)
        guard config.model_type == "bert", config.hidden_act == "gelu", (config.position_embedding_type ?? "absolute") == "absolute",
              config.hidden_size % config.num_attention_heads == 0 else {
            throw InputError(file("config.json"), "a BERT with GELU, absolute positions and heads dividing the width is needed; this is \(config.model_type), \(config.hidden_act), \(config.position_embedding_type ?? "absolute"), \(config.hidden_size)/\(config.num_attention_heads)")
        }
        guard pooling.pooling_mode_mean_tokens, pooling.pooling_mode_cls_token != true, pooling.pooling_mode_max_tokens != true else {
            throw InputError(file("1_Pooling/config.json"), "only mean pooling over tokens is implemented")
        }
        self.config = config
        self.folder = folder
        tokenizer = try WordPieceTokenizer(vocabularyFile: file("vocab.txt"), maxLength: min(sentence.max_seq_length, config.max_position_embeddings))
        guard tokenizer.tokens.count == config.vocab_size else {
            throw InputError(file("vocab.txt"), "\(tokenizer.tokens.count) tokens; config.json says vocab_size \(config.vocab_size)")
        }
        embeddings = Embeddings(config)
        encoder = EncoderLayers(ModuleList((0..<config.num_hidden_layers).map { _ in Layer(config) }))
        let weights = try SafeTensors(path: file("model.safetensors"))
        var values: [String: (shape: [Int], values: [Float])] = [:]
        for (name, _) in namedParameters() {
            guard weights.entries[name] != nil else {
                throw InputError(weights.path, "has no tensor \(name) (not a \(config.num_hidden_layers)-layer BERT?)")
            }
            values[name] = try weights.floats(name)
        }
        do { try loadStateDict(values) } catch { throw InputError(weights.path, "\(error)") }
    }

    /// Unit-norm embeddings `[sentences.count][dim]` of `sentences`, `batchSize` at a time
    /// (each batch padded to its longest sentence; padding is masked out of attention and
    /// pooling, so a sentence's embedding does not depend on its batch).
    public func encode(_ sentences: [String], batchSize: Int = 64) -> [[Float]] {
        let tokenized = sentences.map(tokenizer.encode)
        // Longest first, as sentence-transformers batches: less padding.
        let order = tokenized.indices.sorted { tokenized[$0].count > tokenized[$1].count }
        var out = [[Float]](repeating: [], count: sentences.count)
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let batch = Array(order[start..<min(start + batchSize, order.count)])
            let vectors = withoutGrad { embed(batch.map { tokenized[$0] }) }
            for (i, v) in zip(batch, vectors) { out[i] = v }
        }
        return out
    }

    /// One padded batch of token ids through the network, pooled and normalised.
    func embed(_ ids: [[Int]]) -> [[Float]] {
        let b = ids.count, l = ids.map(\.count).max() ?? 0, h = config.hidden_size
        let flat = ids.flatMap { $0 + [Int](repeating: tokenizer.padding, count: l - $0.count) }
        let padded = BoolMask(shape: [b, 1, 1, l], values: ids.flatMap { row in (0..<l).map { $0 >= row.count } })
        var x = embeddings(flat, batch: b, length: l)
        for layer in encoder.layers.items { x = layer(x, padded: padded) }
        // Mean over each sentence's real tokens, then L2-normalised (as F.normalize: eps 1e-12).
        let values = x.data
        return ids.enumerated().map { s, row in
            var mean = [Double](repeating: 0, count: h)
            for t in 0..<row.count {
                let base = (s * l + t) * h
                for k in 0..<h { mean[k] += Double(values[base + k]) }
            }
            let norm = max(mean.reduce(0) { $0 + $1 * $1 }.squareRoot() / Double(row.count), 1e-12)
            return mean.map { Float($0 / Double(row.count) / norm) }
        }
    }

    /// Word + position + segment-0 embeddings, layer-normalised.
    final class Embeddings: Module {
        let words, positions, segments: Tensor
        let norm: LayerNorm
        init(_ c: Config) {
            words = .zeros([c.vocab_size, c.hidden_size])
            positions = .zeros([c.max_position_embeddings, c.hidden_size])
            segments = .zeros([c.type_vocab_size, c.hidden_size])
            norm = LayerNorm(c.hidden_size, eps: Float(c.layer_norm_eps))
        }
        var ownParameters: [(String, Tensor)] {
            [("word_embeddings.weight", words), ("position_embeddings.weight", positions), ("token_type_embeddings.weight", segments)]
        }
        var children: [(String, Module)] { [("LayerNorm", norm)] }

        func callAsFunction(_ ids: [Int], batch b: Int, length l: Int) -> Tensor {
            let h = words.shape[1]
            let tokens = words.indexSelect(axis: 0, ids).reshape([b, l, h])
            return norm(tokens + positions.slice(axis: 0, 0..<l) + segments.slice(axis: 0, 0..<1))
        }
    }

    /// One post-norm transformer layer: self-attention, add & norm, GELU MLP, add & norm.
    final class Layer: Module {
        let heads: Int
        let query, key, value, attentionOutput, intermediate, output: Linear
        let attentionNorm, outputNorm: LayerNorm

        init(_ c: Config) {
            var rng = SeededRNG(seed: 0)  // overwritten by the loaded weights
            heads = c.num_attention_heads
            query = Linear(c.hidden_size, c.hidden_size, rng: &rng)
            key = Linear(c.hidden_size, c.hidden_size, rng: &rng)
            value = Linear(c.hidden_size, c.hidden_size, rng: &rng)
            attentionOutput = Linear(c.hidden_size, c.hidden_size, rng: &rng)
            intermediate = Linear(c.hidden_size, c.intermediate_size, rng: &rng)
            output = Linear(c.intermediate_size, c.hidden_size, rng: &rng)
            attentionNorm = LayerNorm(c.hidden_size, eps: Float(c.layer_norm_eps))
            outputNorm = LayerNorm(c.hidden_size, eps: Float(c.layer_norm_eps))
        }

        var children: [(String, Module)] {
            [("attention.self.query", query), ("attention.self.key", key), ("attention.self.value", value),
             ("attention.output.dense", attentionOutput), ("attention.output.LayerNorm", attentionNorm),
             ("intermediate.dense", intermediate), ("output.dense", output), ("output.LayerNorm", outputNorm)]
        }

        /// `x` `[B, L, H]`; `padded` `[B, 1, 1, L]` true at padding keys.
        func callAsFunction(_ x: Tensor, padded: BoolMask) -> Tensor {
            let (b, l, h) = (x.shape[0], x.shape[1], x.shape[2]), d = h / heads
            func split(_ t: Tensor) -> Tensor { t.reshape([b, l, heads, d]).permute([0, 2, 1, 3]) }
            let attended = Tensor.attention(q: split(query(x)), k: split(key(x)), v: split(value(x)), blocked: padded)
            let merged = attended.permute([0, 2, 1, 3]).reshape([b, l, h])
            let y = attentionNorm(attentionOutput(merged) + x)
            return outputNorm(output(intermediate(y).gelu()) + y)
        }
    }

    /// `encoder.layer.N` naming.
    final class EncoderLayers: Module {
        let layers: ModuleList<Layer>
        init(_ layers: ModuleList<Layer>) { self.layers = layers }
        var children: [(String, Module)] { [("layer", layers)] }
    }
}
