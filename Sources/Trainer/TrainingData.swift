import Core
import Datasets
import Foundation
import Targets
import TextEncoder

/// The configured datasets, opened and checked: each training split, the unified label space
/// over their classes, and the validation split of every dataset that is evaluated (all but
/// image-label datasets). Opening everything up front makes a missing split or a label-space
/// mismatch stop a run before iteration 0, not after hours of training.
public struct TrainingData {
    /// Training splits, in config order.
    public let sources: [DatasetSource]
    public let labelSpace: UnifiedLabelSpace
    /// The validation splits of the evaluated datasets (with `validation`), in config order.
    public let validation: [ValidationSplit]
    /// What opening the data did that the log should say (label-space files it made).
    public private(set) var notes: [String] = []
    /// Per dataset, its classes named by `data.held_out_classes` (never seen in training).
    public let heldOut: [Set<Int>]

    public struct ValidationSplit {
        /// The dataset's index in the config and in the label space.
        public let dataset: Int
        public let name: String
        public let source: DatasetSource
    }

    /// Opens the datasets of `config`; with `validation`, also their validation splits.
    public init(_ config: TrainConfig, validation: Bool = true) throws {
        var sources: [DatasetSource] = [], parts: [(name: String, classNames: [String], isThing: [Bool], embeddings: [Float])] = []
        var splits: [ValidationSplit] = [], notes: [String] = []
        let dim = config.model.embeddingDim
        for (d, spec) in config.data.datasets.enumerated() {
            let folder = (config.data.root as NSString).appendingPathComponent(spec.path)
            let source: DatasetSource
            do { source = try DatasetSource(folder: folder, split: spec.trainSplit) } catch {
                throw InputError("dataset \(spec.name)", "\(error)")
            }
            parts.append((spec.name, source.classes.names, source.classes.isThing,
                          try Self.embeddings(of: source, dataset: spec.name, folder: config.data.labelspaces, dim: dim, notes: &notes)))
            sources.append(source)
            guard validation, source.task != .imageLabels else { continue }
            let val: DatasetSource
            do { val = try DatasetSource(folder: folder, split: spec.valSplit) } catch {
                throw InputError("dataset \(spec.name)", "no validation split '\(spec.valSplit)' (\(error)); every dataset but image-label ones is evaluated — set its val_split")
            }
            guard val.task == source.task, val.classes.names == source.classes.names, val.classes.isThing == source.classes.isThing else {
                throw InputError("dataset \(spec.name)", "its validation split '\(spec.valSplit)' has other classes or another task than its training split '\(spec.trainSplit)'")
            }
            splits.append(ValidationSplit(dataset: d, name: spec.name, source: val))
        }
        self.sources = sources
        self.validation = splits
        self.notes = notes
        heldOut = try Self.heldOutClasses(config.data.heldOutClasses, in: sources)
        labelSpace = UnifiedLabelSpace(datasets: parts, dim: dim, form: config.data.labelSpace)
    }

    /// Per dataset, the classes whose name (trimmed, any case) is one of `names`; a name that no
    /// dataset has is an error naming the nearest class.
    static func heldOutClasses(_ names: [String], in sources: [DatasetSource]) throws -> [Set<Int>] {
        let keys = Set(names.map(UnifiedLabelSpace.mergeKey))
        let all = sources.flatMap(\.classes.names)
        for name in names where !all.contains(where: { UnifiedLabelSpace.mergeKey($0) == UnifiedLabelSpace.mergeKey(name) }) {
            let hint = nearestName(name, in: all).map { " (did you mean '\($0)'?)" } ?? ""
            throw InputError("data.held_out_classes", "'\(name)' is no class of any dataset\(hint)")
        }
        return sources.map { source in Set(source.classes.names.indices.filter { keys.contains(UnifiedLabelSpace.mergeKey(source.classes.names[$0])) }) }
    }

    /// The class text embeddings of a dataset: from its shards when they carry them at the
    /// model's width, else from `folder/<dataset>.h5`; when that file does not exist, the
    /// shards' class names are embedded with the text encoder (`train labelspace`'s way) and
    /// the file is written, so a custom dataset trains with no Python at all.
    static func embeddings(of source: DatasetSource, dataset: String, folder: String, dim: Int, notes: inout [String]) throws -> [Float] {
        if let e = source.classes.embeddings, e.dim == dim { return e.values }
        let path = (folder as NSString).appendingPathComponent("\(dataset).h5")
        if !FileManager.default.fileExists(atPath: path) {
            let encoder: SentenceEncoder
            do { encoder = try TextModel.encoder() } catch {
                throw InputError("dataset \(dataset)", "its shards carry no class embeddings, \(path) does not exist, and the text encoder that would make it cannot be read (\(error))")
            }
            guard encoder.dim == dim else {
                throw InputError("dataset \(dataset)", "\(path) does not exist and the text encoder makes \(encoder.dim)-d embeddings; model.embedding_dim is \(dim)")
            }
            let start = Date()
            let values = try TextModel.embedClasses(source.classes.names, encoder: encoder)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try LabelSpace(names: source.classes.names, dim: dim, embeddings: values).write(to: path, model: TextModel.name, templates: TextModel.defaultTemplates)
            notes.append("dataset \(dataset): no label-space file, so its \(source.classes.count) class names were embedded with \(TextModel.name) into \(path) (\(String(format: "%.1f", Date().timeIntervalSince(start))) s)")
            return values
        }
        let space: LabelSpace
        do { space = try LabelSpace.load(path) } catch {
            throw InputError("dataset \(dataset)", "its shards carry no class embeddings and \(path) cannot be read (\(error))")
        }
        guard space.dim == dim else {
            throw InputError(path, "embeddings are \(space.dim)-d; model.embedding_dim is \(dim)")
        }
        // Names compared as every part of the project compares them (surrounding spaces trimmed).
        let ours = space.names.map(normalizedClassName), theirs = source.classes.names.map(normalizedClassName)
        guard ours == theirs else {
            if let i = (0..<min(ours.count, theirs.count)).first(where: { ours[$0] != theirs[$0] }) {
                throw InputError(path, "class \(i) is '\(space.names[i])', dataset \(dataset)'s shards have '\(source.classes.names[i])'")
            }
            throw InputError(path, "\(space.names.count) classes; dataset \(dataset)'s shards have \(source.classes.names.count)")
        }
        return space.embeddings
    }
}
