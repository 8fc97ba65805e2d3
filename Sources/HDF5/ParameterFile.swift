import Autograd

/// Model weights as one HDF5 file: one float32 dataset per parameter, named by the
/// parameter's dotted name, at the root, C order — the layout PyTorch users read and write
/// with h5py (`{name: tensor.numpy()}`).
public enum ParameterFile {
    /// Writes every parameter of `module` to `path` (atomically: temporary file, then rename).
    public static func save(_ module: Module, to path: String) throws {
        try HDF5File.writeAtomically(to: path) { file in
            for (name, tensor) in module.namedParameters() {
                try file.write(name, floats: tensor.data, shape: tensor.shape)
            }
        }
    }

    /// Loads `module`'s parameters from `path`: every parameter must be there with its shape,
    /// and (with `strict`) the file may hold nothing else; nothing is changed when a check fails.
    public static func load(_ module: Module, from path: String, strict: Bool = true) throws {
        let file = try HDF5File(path)
        let stored = Set(try file.datasetNames())
        let wanted = module.namedParameters().map(\.name)
        var values: [String: (shape: [Int], values: [Float])] = [:]
        for name in wanted where stored.contains(name) {
            values[name] = try file.readFloats(name)
        }
        if strict, let extra = stored.subtracting(wanted).sorted().first {
            throw HDF5Error(file: path, object: extra, message: StateDictError.unexpected(extra, nearest: nearestName(extra, in: wanted)).description)
        }
        do {
            try module.loadStateDict(values, strict: true)
        } catch let error as StateDictError {
            throw HDF5Error(file: path, object: nil, message: error.description)
        }
    }
}
