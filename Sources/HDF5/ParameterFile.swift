/// Model weights as one HDF5 file: one float32 dataset per parameter, named by the
/// parameter's dotted name, at the root, C order — the layout PyTorch users read and write
/// with h5py (`{name: tensor.numpy()}`). Plain name -> array dictionaries: the model side
/// (`Module.saveWeights` / `loadWeights` in the trainer) maps them to parameters.
public enum ParameterFile {
    public typealias Arrays = [String: (shape: [Int], values: [Float])]

    /// Writes `arrays` to `path` (atomically: temporary file, then rename), in `order`.
    public static func save(_ arrays: [(name: String, shape: [Int], values: [Float])], to path: String) throws {
        try HDF5File.writeAtomically(to: path) { file in
            for a in arrays { try file.write(a.name, floats: a.values, shape: a.shape) }
        }
    }

    /// The datasets `wanted` that are at the root of `path` (float32 values), and the names of
    /// every dataset there (for a strict loader to refuse the ones it does not know).
    public static func load(_ path: String, names wanted: [String]) throws -> (arrays: Arrays, stored: [String]) {
        let file = try HDF5File(path)
        let stored = try file.datasetNames()
        let present = Set(stored)
        var out: Arrays = [:]
        for name in wanted where present.contains(name) { out[name] = try file.readFloats(name) }
        return (out, stored)
    }

    /// The datasets `model/<name>` of a checkpoint, by name (without the prefix).
    public static func load(_ path: String, group: String, names: [String]) throws -> Arrays {
        let file = try HDF5File(path)
        var out: Arrays = [:]
        for name in names { out[name] = try file.readFloats("\(group)/\(name)") }
        return out
    }
}
