import Autograd
import Core
import HDF5
import Models

extension Module {
    /// Writes every parameter to a weights file (`ParameterFile`'s layout, h5py-readable).
    public func saveWeights(to path: String) throws {
        try ParameterFile.save(stateDict(), to: path)
    }

    /// Loads every parameter from a weights file: each must be there with its shape and (with
    /// `strict`) the file may hold nothing else; nothing is changed when a check fails.
    public func loadWeights(from path: String, strict: Bool = true) throws {
        let wanted = namedParameters().map(\.name)
        let (arrays, stored) = try ParameterFile.load(path, names: wanted)
        if strict, let extra = Set(stored).subtracting(wanted).sorted().first {
            throw HDF5Error(file: path, object: extra, message: StateDictError.unexpected(extra, nearest: nearestName(extra, in: wanted)).description)
        }
        do {
            try loadStateDict(arrays, strict: true)
        } catch let error as StateDictError {
            throw HDF5Error(file: path, object: nil, message: error.description)
        }
    }
}

extension M2FModel {
    /// Loads the weights of a checkpoint (`model/<name>`) or of a plain weights file.
    public func loadWeights(_ path: String) throws {
        if (try? HDF5File(path))?.contains("model") == true {
            _ = try Checkpoint.load(path, model: self, optimizer: nil)
        } else {
            try loadWeights(from: path)
        }
    }
}
