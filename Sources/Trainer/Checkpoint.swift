import Autograd
import Core
import Foundation
import HDF5
import Models
import Samplers
import Targets

/// A training checkpoint: one HDF5 file with the model's parameters by name (`model/<name>`,
/// the layout of a weights file under a group), AdamW's moments and step count, the iteration,
/// the sampler's state and the resolved config. Written through a temporary file and a rename;
/// `last_checkpoint` names the newest; the newest `keep` are kept (Detectron2's naming:
/// `model_0000999.h5`, `model_final.h5`). The unified label space it was trained with is stored
/// beside the weights (`label_space/`), so `train predict` needs nothing but the checkpoint.
public enum Checkpoint {
    /// A training dataset as a checkpoint records it: a resume needs the same ones.
    public struct DatasetRecord: Codable, Equatable, Sendable {
        public var name: String
        public var samples: Int
        public init(name: String, samples: Int) { (self.name, self.samples) = (name, samples) }
    }

    public struct Contents {
        public var iteration: Int
        /// The training datasets of the run (empty for checkpoints of older versions).
        public var datasets: [DatasetRecord]
        public var samplerState: MultiDatasetSampler.State
        /// The number of processes that trained it (1 for checkpoints of older versions).
        public var worldSize: Int
    }

    public static func save(to folder: String, name: String, model: M2FModel, optimizer: AdamW, iteration: Int,
                            sampler: MultiDatasetSampler.State, configYAML: String, keep: Int, worldSize: Int = 1,
                            datasets: [DatasetRecord] = [], labelSpace: UnifiedLabelSpace? = nil) throws {
        let path = (folder as NSString).appendingPathComponent(name)
        let named = model.namedParameters()
        try HDF5File.writeAtomically(to: path) { f in
            for (name, p) in named { try f.write("model/\(name)", floats: p.data, shape: p.shape) }
            // The optimiser keeps its moments in group order; store them by parameter name.
            let slot = slots(optimizer)
            for (name, p) in named {
                guard let i = slot[ObjectIdentifier(p)] else { continue }
                try f.write("optimizer/exp_avg/\(name)", floats: optimizer.firstMoments[i], shape: p.shape)
                try f.write("optimizer/exp_avg_sq/\(name)", floats: optimizer.secondMoments[i], shape: p.shape)
            }
            try f.setAttribute("iteration", int: Int64(iteration))
            try f.setAttribute("world_size", int: Int64(worldSize))
            // Sorted keys: the same state writes the same bytes in every process (a plain
            // encoder's key order follows the process's hash seed).
            let json = JSONEncoder()
            json.outputFormatting = .sortedKeys
            try f.setAttribute("datasets", string: String(decoding: try json.encode(datasets), as: UTF8.self))
            try f.setAttribute("optimizer_step", int: Int64(optimizer.stepCount))
            let state = try json.encode(sampler)
            try f.setAttribute("sampler_state", string: String(decoding: state, as: UTF8.self))
            try f.setAttribute("config", string: configYAML)
            if let labelSpace { try saveLabelSpace(labelSpace, in: f) }
        }
        // last_checkpoint, then prune old periodic checkpoints.
        let marker = (folder as NSString).appendingPathComponent("last_checkpoint")
        try AtomicFile.write(name, to: marker)
        let periodic = (try FileManager.default.contentsOfDirectory(atPath: folder))
            .filter { $0.hasPrefix("model_") && $0.hasSuffix(".h5") && $0 != "model_final.h5" }.sorted()
        for old in periodic.dropLast(keep) where old != name {
            try? FileManager.default.removeItem(atPath: (folder as NSString).appendingPathComponent(old))
        }
    }

    /// Each parameter's index in the optimiser's (group-ordered) state.
    static func slots(_ optimizer: AdamW) -> [ObjectIdentifier: Int] {
        var out: [ObjectIdentifier: Int] = [:]
        for (i, p) in optimizer.groups.flatMap(\.parameters).enumerated() { out[ObjectIdentifier(p)] = i }
        return out
    }

    /// The newest complete checkpoint of `folder`: the one `last_checkpoint` names when it is
    /// there and readable, else the newest readable `model_*.h5` (`model_final.h5` first) —
    /// with `note` saying why `last_checkpoint` was not used. Nil when there is none.
    public static func latest(in folder: String) -> (path: String, note: String?)? {
        func readable(_ name: String) -> Bool {
            let path = (folder as NSString).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: path), let f = try? HDF5File(path) else { return false }
            return (try? f.intAttribute("iteration")) != nil
        }
        let marker = (folder as NSString).appendingPathComponent("last_checkpoint")
        let named = (try? String(contentsOfFile: marker, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let named, !named.isEmpty, readable(named) { return ((folder as NSString).appendingPathComponent(named), nil) }
        let candidates = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.hasPrefix("model_") && $0.hasSuffix(".h5") }
            .sorted { ($0 == "model_final.h5" ? 1 : 0, $0) > ($1 == "model_final.h5" ? 1 : 0, $1) }
        guard let newest = candidates.first(where: readable) else { return nil }
        let why = named.map { $0.isEmpty ? "last_checkpoint is empty" : "last_checkpoint names \($0), which is missing or unreadable" }
            ?? "there is no last_checkpoint"
        return ((folder as NSString).appendingPathComponent(newest), "\(why); resuming from the newest complete checkpoint, \(newest)")
    }

    /// The files of a run in `folder` (what a new run there would mix with or delete).
    public static func runFiles(in folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter {
            ["metrics.jsonl", "last_checkpoint", "curves.svg", "config.yaml"].contains($0) || ($0.hasPrefix("model_") && $0.hasSuffix(".h5"))
                || $0.hasPrefix("log.rank")
        }.sorted()
    }

    /// The resolved config a checkpoint was trained with (YAML); nil for weights files.
    public static func storedConfig(in path: String) throws -> String? {
        let f = try HDF5File(path)
        return try f.stringAttribute("config")
    }

    /// Each dataset's name, class names, thing flags and class embeddings, and the form.
    static func saveLabelSpace(_ space: UnifiedLabelSpace, in f: HDF5File) throws {
        let dim = space.embeddings.shape[1], rows = space.embeddings.data
        try f.write("label_space/datasets", strings: space.datasets.map(\.name))
        try f.write("label_space/class_counts", int64s: space.datasets.map { Int64($0.classNames.count) }, shape: [space.datasets.count])
        try f.write("label_space/class_names", strings: space.datasets.flatMap(\.classNames))
        let thing = space.datasets.flatMap(\.isThing).map { UInt8($0 ? 1 : 0) }
        try f.write("label_space/is_thing", bytes: thing, shape: [thing.count])
        let embeddings = space.datasets.flatMap { d in d.columns.flatMap { rows[($0 * dim)..<(($0 + 1) * dim)] } }
        try f.write("label_space/embeddings", floats: embeddings, shape: [thing.count, dim])
        try f.setAttribute("form", string: space.form.rawValue, on: "label_space")
    }

    /// The label space stored in checkpoint `path`, in the form it was trained with unless
    /// `form` is given; nil for checkpoints without one (older versions, weights files).
    public static func labelSpace(in path: String, form: UnifiedLabelSpace.Form? = nil) throws -> UnifiedLabelSpace? {
        let f = try HDF5File(path)
        guard f.contains("label_space/datasets") else { return nil }
        let names = try f.readStrings("label_space/datasets")
        let counts = try f.readInt64s("label_space/class_counts").values.map(Int.init)
        let classes = try f.readStrings("label_space/class_names")
        let thing = try f.readBytes("label_space/is_thing").values
        let e = try f.readFloats("label_space/embeddings")
        guard counts.count == names.count, counts.reduce(0, +) == classes.count, thing.count == classes.count,
              e.shape.count == 2, e.shape[0] == classes.count else {
            throw HDF5Error(file: path, object: "label_space", message: "its datasets, class counts, names, thing flags and embeddings disagree in size")
        }
        let dim = e.shape[1]
        let stored = try f.stringAttribute("form", on: "label_space").flatMap(UnifiedLabelSpace.Form.init(rawValue:)) ?? .concatenated
        var parts: [(name: String, classNames: [String], isThing: [Bool], embeddings: [Float])] = [], start = 0
        for (name, k) in zip(names, counts) {
            parts.append((name, Array(classes[start..<(start + k)]), thing[start..<(start + k)].map { $0 != 0 },
                          Array(e.values[(start * dim)..<((start + k) * dim)])))
            start += k
        }
        return UnifiedLabelSpace(datasets: parts, dim: dim, form: form ?? stored)
    }

    /// Restores model, optimiser (when given) and returns the iteration and sampler state.
    public static func load(_ path: String, model: M2FModel, optimizer: AdamW?) throws -> Contents {
        let f = try HDF5File(path)
        let named = model.namedParameters()
        var values: [String: (shape: [Int], values: [Float])] = [:]
        for (name, _) in named { values[name] = try f.readFloats("model/\(name)") }
        do {
            try model.loadStateDict(values)
        } catch let error as StateDictError {
            throw HDF5Error(file: path, object: "model", message: error.description)
        }
        if let optimizer {
            let order = optimizer.groups.flatMap(\.parameters)
            var nameOf: [ObjectIdentifier: String] = [:]
            for (name, p) in named { nameOf[ObjectIdentifier(p)] = name }
            let m = try order.map { try f.readFloats("optimizer/exp_avg/\(nameOf[ObjectIdentifier($0)]!)").values }
            let v = try order.map { try f.readFloats("optimizer/exp_avg_sq/\(nameOf[ObjectIdentifier($0)]!)").values }
            guard let step = try f.intAttribute("optimizer_step") else { throw HDF5Error(file: path, object: "/", message: "no optimizer_step") }
            do {
                try optimizer.restore(stepCount: Int(step), firstMoments: m, secondMoments: v)
            } catch {
                throw HDF5Error(file: path, object: "optimizer", message: "\(error)")
            }
        }
        guard let iteration = try f.intAttribute("iteration"), let state = try f.stringAttribute("sampler_state") else {
            throw HDF5Error(file: path, object: "/", message: "no iteration or sampler_state attribute")
        }
        let sampler = try JSONDecoder().decode(MultiDatasetSampler.State.self, from: Data(state.utf8))
        let datasets = try f.stringAttribute("datasets").flatMap { try? JSONDecoder().decode([DatasetRecord].self, from: Data($0.utf8)) } ?? []
        return Contents(iteration: Int(iteration), datasets: datasets, samplerState: sampler, worldSize: Int(try f.intAttribute("world_size") ?? 1))
    }
}

#if canImport(Glibc)
import Glibc
#endif
