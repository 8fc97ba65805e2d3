import Autograd
import Foundation

/// How one classifier serves every dataset's vocabulary: ScaleDet's unified label space, the
/// datasets' classes in config order related through their text embeddings, in one of two forms:
///
/// - `concatenated` (ScaleDet as published): every dataset's classes one after another, so a
///   name two datasets share ("ball") has two columns, two equal embeddings and two logits that
///   split its probability when predicting over every class at once;
/// - `merged`: classes of the same name (ignoring case and surrounding spaces) share one column,
///   one embedding, one logit; each dataset maps its classes into the merged list, the hard
///   label loss targets the merged column. Synonyms ("ball" / "sphere") stay separate columns,
///   related by the soft label loss as before.
///
/// The model scores a query against all `count` columns plus the learnable background
/// (`[..., U + 1]` logits); a batch of one dataset is scored on that dataset's columns and the
/// background (`restrict`). The form does not change the model's parameters (the embeddings are
/// fixed), so a checkpoint trained with one can be evaluated with the other.
public struct UnifiedLabelSpace {
    public enum Form: String, Codable, CaseIterable, Sendable {
        case concatenated, merged
    }

    /// One dataset's part of the space.
    public struct Dataset: Equatable, Sendable {
        public var name: String
        public var classNames: [String]
        public var isThing: [Bool]
        /// The unified column of each of its classes.
        public var columns: [Int]
    }

    public let form: Form
    public let datasets: [Dataset]
    /// Every unified class (column), in order of first appearance.
    public let names: [String]
    public let isThing: [Bool]
    /// `[U, D]` class text embeddings (the classifier's fixed weights).
    public let embeddings: Tensor
    /// `[U * U]` cosine similarities of the embeddings (the soft label loss's targets).
    public let similarity: [Float]

    /// `datasets`: each dataset's name, class names, thing flags and `[K, D]` embeddings
    /// (row-major), in the order their columns take. A merged class takes the embedding and
    /// the thing flag of the first dataset that has it.
    public init(datasets: [(name: String, classNames: [String], isThing: [Bool], embeddings: [Float])], dim: Int,
                form: Form = .concatenated) {
        var parts: [Dataset] = [], values: [Float] = [], names: [String] = [], isThing: [Bool] = []
        var columnOfKey: [String: Int] = [:]
        for d in datasets {
            precondition(d.classNames.count == d.isThing.count && d.embeddings.count == d.classNames.count * dim,
                         "UnifiedLabelSpace: dataset \(d.name) has \(d.classNames.count) names, \(d.isThing.count) thing flags and \(d.embeddings.count) values for dim \(dim)")
            var columns: [Int] = []
            for (k, name) in d.classNames.enumerated() {
                if form == .merged, let j = columnOfKey[Self.mergeKey(name)], !columns.contains(j) {
                    columns.append(j)
                    continue
                }
                columns.append(names.count)
                if columnOfKey[Self.mergeKey(name)] == nil { columnOfKey[Self.mergeKey(name)] = names.count }
                names.append(name)
                isThing.append(d.isThing[k])
                values += d.embeddings[(k * dim)..<((k + 1) * dim)]
            }
            parts.append(Dataset(name: d.name, classNames: d.classNames, isThing: d.isThing, columns: columns))
        }
        self.form = form
        self.datasets = parts
        self.names = names
        self.isThing = isThing
        embeddings = Tensor(shape: [names.count, dim], data: values)
        similarity = Self.cosineSimilarities(embeddings)
    }

    /// Names that merge: equal after trimming surrounding spaces and lower-casing.
    public static func mergeKey(_ name: String) -> String {
        name.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
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
        let columns = datasets[d].columns
        if let first = columns.first, columns == Array(first..<(first + columns.count)) {
            return Tensor.concat([logits.slice(axis: axis, first..<(first + columns.count)), logits.slice(axis: axis, count..<(count + 1))], axis: axis)
        }
        return logits.indexSelect(axis: axis, columns + [count])
    }

    /// For each unified class, the class of dataset `d` it is reported as when predictions may
    /// take every class: `d`'s own column; another dataset's class of the same name
    /// (concatenated form: the same embedding in another column); one merged with a class of
    /// `d` (`merges`); with `minSimilarity` <= 1,
    /// else `d`'s class whose text embedding is most similar, if the cosine reaches
    /// `minSimilarity` (a synonym: "sphere" reported as "ball"); else -1 (a foreign class).
    /// `merges`: pairs of columns that stand for one class (learned, `LearnedMerges`): a
    /// column merged with one of `d`'s is reported as that class.
    public func unionMap(to d: Int, minSimilarity: Float = .infinity, merges: [(Int, Int)] = []) -> [Int] {
        var own: [String: Int] = [:]
        for (k, name) in datasets[d].classNames.enumerated() where own[Self.mergeKey(name)] == nil { own[Self.mergeKey(name)] = k }
        var map = names.map { own[Self.mergeKey($0)] ?? -1 }
        let columns = datasets[d].columns
        for (k, j) in columns.enumerated() { map[j] = k }
        let classOfColumn = Dictionary(columns.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        for (x, y) in merges {
            if map[x] < 0, let k = classOfColumn[y] { map[x] = k }
            if map[y] < 0, let k = classOfColumn[x] { map[y] = k }
        }
        guard minSimilarity <= 1 else { return map }
        for j in map.indices where map[j] < 0 {
            let (k, cosine) = columns.enumerated().map { ($0.offset, similarity[j * count + $0.element]) }.max { $0.1 < $1.1 } ?? (-1, -1)
            if cosine >= minSimilarity { map[j] = k }
        }
        return map
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
