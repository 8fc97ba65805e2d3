/// An error in the user's input or environment that says where it is (a file, a config key, a
/// sample, an HDF5 object) and what is wrong there. The `train` command prints
/// `Error: <location>: <problem>` once and exits 1, whichever layer threw it; code in between
/// neither catches nor rewraps it.
public protocol LocatedError: Error, CustomStringConvertible {
    /// Where: a file path, `path: key`, `dataset NAME, shard FILE, sample I`, ...
    var location: String { get }
    /// What is wrong there.
    var problem: String { get }
}

extension LocatedError {
    public var description: String { location.isEmpty ? problem : "\(location): \(problem)" }
}

/// A located error with nothing more to it than its two strings.
public struct InputError: LocatedError, Equatable {
    public var location: String
    public var problem: String
    public init(_ location: String, _ problem: String) {
        self.location = location
        self.problem = problem
    }
}
