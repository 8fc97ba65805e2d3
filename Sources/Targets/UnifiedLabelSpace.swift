import Autograd

/// How one classifier serves every dataset's vocabulary (ScaleDet's unified label space): the
/// concatenation of each training dataset's classes in config order, synonyms kept as separate
/// entries and related only through their text embeddings. The model scores a query against
/// all `count` classes plus the learnable background (`[..., U + 1]` logits); a batch of one
/// dataset is scored on that dataset's columns and the background (`restrict`).
public struct UnifiedLabelSpace {
    /// One dataset's part of the space.
    public struct Dataset: Equatable, Sendable {
        public var name: String
        public var classNames: [String]
        public var isThing: [Bool]
        /// Where its classes start among the unified classes.
        public var offset: Int
        public var columns: Range<Int> { offset..<(offset + classNames.count) }
    }

    public let datasets: [Dataset]
    /// Every class, dataset after dataset.
    public let names: [String]
    public let isThing: [Bool]
    /// `[U, D]` class text embeddings (the classifier's fixed weights).
    public let embeddings: Tensor
    /// `[U * U]` cosine similarities of the embeddings (the soft label loss's targets).
    public let similarity: [Float]

    /// `datasets`: each dataset's name, class names, thing flags and `[K, D]` embeddings
    /// (row-major), in the order their columns take.
    public init(datasets: [(name: String, classNames: [String], isThing: [Bool], embeddings: [Float])], dim: Int) {
        var parts: [Dataset] = [], values: [Float] = [], offset = 0
        for d in datasets {
            precondition(d.classNames.count == d.isThing.count && d.embeddings.count == d.classNames.count * dim,
                         "UnifiedLabelSpace: dataset \(d.name) has \(d.classNames.count) names, \(d.isThing.count) thing flags and \(d.embeddings.count) values for dim \(dim)")
            parts.append(Dataset(name: d.name, classNames: d.classNames, isThing: d.isThing, offset: offset))
            values += d.embeddings
            offset += d.classNames.count
        }
        self.datasets = parts
        names = parts.flatMap(\.classNames)
        isThing = parts.flatMap(\.isThing)
        embeddings = Tensor(shape: [offset, dim], data: values)
        similarity = Self.cosineSimilarities(embeddings)
    }

    /// U, the number of unified classes (the background not counted).
    public var count: Int { names.count }

    /// The index of the dataset called `name`.
    public func index(of name: String) -> Int? { datasets.firstIndex { $0.name == name } }

    /// Logits `[..., U + 1]` cut to dataset `d`'s columns and the background, last:
    /// `[..., K_d + 1]` (gradient flows back into the chosen columns).
    public func restrict(_ logits: Tensor, to d: Int) -> Tensor {
        let axis = logits.rank - 1
        precondition(logits.shape[axis] == count + 1, "restrict: logits \(logits.shape) for \(count) unified classes and the background")
        return Tensor.concat([logits.slice(axis: axis, datasets[d].columns), logits.slice(axis: axis, count..<(count + 1))], axis: axis)
    }

    /// For each unified class, the class of dataset `d` it counts as when predictions may take
    /// every class: `d`'s own, or another dataset's of exactly the same name (same text
    /// embedding, so the same logit), else -1 (a foreign class).
    public func unionMap(to d: Int) -> [Int] {
        let own = Dictionary(datasets[d].classNames.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let columns = datasets[d].columns
        return names.enumerated().map { j, name in columns.contains(j) ? j - columns.lowerBound : own[name] ?? -1 }
    }

    /// Cosine similarities of the rows of `embeddings` `[U, D]` (each L2-normalised first):
    /// `[U * U]`, row-major.
    public static func cosineSimilarities(_ embeddings: Tensor) -> [Float] {
        let u = embeddings.shape[0], d = embeddings.shape[1]
        var e = embeddings.data
        for i in 0..<u {
            var norm: Float = 0
            for k in 0..<d { norm += e[i * d + k] * e[i * d + k] }
            let inv = 1 / max(norm.squareRoot(), 1e-12)
            for k in 0..<d { e[i * d + k] *= inv }
        }
        let unit = Tensor(shape: [u, d], data: e)
        return withoutGrad { Tensor.matmul(unit, unit, transB: true) }.data
    }
}
