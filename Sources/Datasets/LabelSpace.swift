import Foundation
import HDF5

/// A dataset's classes with their text embeddings, from a label-space file
/// (`labelspaces/NAME.h5`: `names` [K] strings, `embeddings` [K, D] float32, rows unit-norm),
/// made by `train labelspace` (or, as the reference, `tools/embed_classes.py`).
public struct LabelSpace: Equatable, Sendable {
    public var names: [String]
    public var dim: Int
    public var embeddings: [Float]

    public init(names: [String], dim: Int, embeddings: [Float]) {
        self.names = names
        self.dim = dim
        self.embeddings = embeddings
    }

    public static func load(_ path: String) throws -> LabelSpace {
        let f = try HDF5File(path)
        let names = try f.readStrings("names")
        let e = try f.readFloats("embeddings")
        guard e.shape.count == 2, e.shape[0] == names.count else {
            throw HDF5Error(file: path, object: "embeddings", message: "shape \(e.shape) for \(names.count) names")
        }
        return LabelSpace(names: names, dim: e.shape[1], embeddings: e.values)
    }

    /// Writes the file as `tools/embed_classes.py` does (`names`, `embeddings`, attributes
    /// `model` and `templates`), atomically.
    public func write(to path: String, model: String, templates: [String]) throws {
        let templatesJSON = String(decoding: try JSONSerialization.data(withJSONObject: templates), as: UTF8.self)
        try HDF5File.writeAtomically(to: path) { f in
            try f.write("names", strings: names)
            try f.write("embeddings", floats: embeddings, shape: [names.count, dim])
            try f.setAttribute("model", string: model)
            try f.setAttribute("templates", string: templatesJSON)
        }
    }

    /// The label spaces of the synthetic world's datasets from `folder`, checked against the
    /// world's class names.
    public static func synthetic(from folder: String) throws -> [String: LabelSpace] {
        var out: [String: LabelSpace] = [:]
        for spec in SyntheticWorld.datasets {
            let path = (folder as NSString).appendingPathComponent("\(spec.name).h5")
            let space = try load(path)
            guard space.names == spec.classes.map(\.name) else {
                throw HDF5Error(file: path, object: "names", message: "\(space.names) differ from the synthetic world's classes \(spec.classes.map(\.name))")
            }
            out[spec.name] = space
        }
        return out
    }
}
