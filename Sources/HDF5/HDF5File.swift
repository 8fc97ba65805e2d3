import CHDF5
import Core
import Foundation

/// An error from HDF5, naming the file and, where there is one, the object inside it.
public struct HDF5Error: LocatedError, Equatable {
    public let file: String
    public let object: String?
    public let message: String
    public init(file: String, object: String?, message: String) {
        self.file = file
        self.object = object
        self.message = message
    }
    public var location: String { file + (object.map { ": \($0)" } ?? "") }
    public var problem: String { message }
}

/// Every HDF5 call goes through this lock: the serial HDF5 library is not thread-safe.
enum HDF5Lock {
    private static let lock = NSLock()
    private static let silenced: Bool = {
        uniseg_H5_silence_errors()
        return true
    }()

    static func run<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        _ = silenced
        return try body()
    }
}

/// An open HDF5 file. Closed when the object goes away (or by `close()`).
///
/// Datasets are named by path (`"a/b/c"` or a flat name with dots such as
/// `"backbone.res3.conv1.weight"`); writing creates missing groups. Values are C order.
public final class HDF5File {
    public enum Mode { case readOnly, readWrite, create }

    public let path: String
    private(set) var id: hid_t

    /// Opens `path` (`.create` makes a new file, replacing any old one).
    public init(_ path: String, mode: Mode = .readOnly) throws {
        self.path = path
        let fileID: hid_t = HDF5Lock.run {
            switch mode {
            case .readOnly: return H5Fopen(path, uniseg_H5F_ACC_RDONLY(), uniseg_H5P_DEFAULT())
            case .readWrite: return H5Fopen(path, uniseg_H5F_ACC_RDWR(), uniseg_H5P_DEFAULT())
            case .create: return H5Fcreate(path, uniseg_H5F_ACC_TRUNC(), uniseg_H5P_DEFAULT(), uniseg_H5P_DEFAULT())
            }
        }
        guard fileID >= 0 else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw HDF5Error(file: path, object: nil, message: mode == .create ? "cannot create the file"
                            : exists ? "not a readable HDF5 file" : "no such file")
        }
        id = fileID
    }

    deinit { close() }

    /// Flushes and closes the file; later calls fail with an error.
    public func close() {
        guard id >= 0 else { return }
        HDF5Lock.run {
            _ = H5Fflush(id, H5F_SCOPE_GLOBAL)
            _ = H5Fclose(id)
        }
        id = -1
    }

    func error(_ object: String?, _ message: String) -> HDF5Error {
        HDF5Error(file: path, object: object, message: message)
    }

    /// Creates `path` through a temporary file in the same folder that is renamed over `path`
    /// only after `body` succeeded and the file was closed: readers never see a half-written
    /// file, and a failure leaves any old file as it was.
    public static func writeAtomically(to path: String, _ body: (HDF5File) throws -> Void) throws {
        try AtomicFile.write(to: path) { tmp in
            let file = try HDF5File(tmp, mode: .create)
            try body(file)
            file.close()
        }
    }

    // MARK: - Structure

    /// Whether a link `name` exists (every group along the path included).
    public func contains(_ name: String) -> Bool {
        HDF5Lock.run { existsUnlocked(name) }
    }

    /// Paths of every dataset below `group`, depth first in name order, without a leading "/".
    public func datasetNames(under group: String = "/") throws -> [String] {
        try HDF5Lock.run { try listDatasets(group) }
    }

    private func listDatasets(_ group: String) throws -> [String] {
        let g = H5Gopen2(id, group, uniseg_H5P_DEFAULT())
        guard g >= 0 else { throw error(group, "not a group") }
        defer { H5Gclose(g) }
        var info = H5G_info_t()
        guard H5Gget_info(g, &info) >= 0 else { throw error(group, "cannot read the group") }
        var out: [String] = []
        for i in 0..<info.nlinks {
            let size = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, uniseg_H5P_DEFAULT())
            guard size >= 0 else { throw error(group, "cannot read link \(i)") }
            var buffer = [CChar](repeating: 0, count: Int(size) + 1)
            _ = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buffer, Int(size) + 1, uniseg_H5P_DEFAULT())
            let name = String(cString: buffer)
            let full = group == "/" ? name : (group.hasSuffix("/") ? group + name : group + "/" + name)
            let object = H5Oopen(g, name, uniseg_H5P_DEFAULT())
            guard object >= 0 else { continue } // a dangling link
            let kind = H5Iget_type(object)
            H5Oclose(object)
            if kind == H5I_DATASET {
                out.append(full.hasPrefix("/") ? String(full.dropFirst()) : full)
            } else if kind == H5I_GROUP {
                out += try listDatasets(full)
            }
        }
        return out
    }

    // MARK: - Reading

    /// Shape of dataset `name`.
    public func shape(of name: String) throws -> [Int] {
        try HDF5Lock.run { try withDataset(name) { _, space, _ in try dims(space, name) } }
    }

    public func readFloats(_ name: String) throws -> (shape: [Int], values: [Float]) {
        try read(name, memoryType: uniseg_H5T_NATIVE_FLOAT(), classes: [H5T_FLOAT], zero: 0)
    }

    public func readDoubles(_ name: String) throws -> (shape: [Int], values: [Double]) {
        try read(name, memoryType: uniseg_H5T_NATIVE_DOUBLE(), classes: [H5T_FLOAT], zero: 0)
    }

    public func readBytes(_ name: String) throws -> (shape: [Int], values: [UInt8]) {
        try read(name, memoryType: uniseg_H5T_NATIVE_UINT8(), classes: [H5T_INTEGER], zero: 0, maxSize: 1)
    }

    public func readInt64s(_ name: String) throws -> (shape: [Int], values: [Int64]) {
        try read(name, memoryType: uniseg_H5T_NATIVE_INT64(), classes: [H5T_INTEGER], zero: 0)
    }

    /// Reads a whole dataset converted to `memoryType`. Only stored types of `classes` (and at
    /// most `maxSize` bytes per element) are accepted, so that no value is silently cut.
    func read<T>(_ name: String, memoryType: hid_t, classes: [H5T_class_t], zero: T,
                         maxSize: Int = 8) throws -> (shape: [Int], values: [T]) {
        try HDF5Lock.run {
            try withDataset(name) { dataset, space, type in
                let cls = H5Tget_class(type), size = H5Tget_size(type)
                guard classes.contains(cls), size <= maxSize else {
                    throw error(name, "stored type (class \(cls.rawValue), \(size) bytes) cannot be read as \(T.self)")
                }
                let shape = try dims(space, name)
                var values = [T](repeating: zero, count: shape.reduce(1, *))
                if !values.isEmpty {
                    let status = values.withUnsafeMutableBytes {
                        H5Dread(dataset, memoryType, uniseg_H5S_ALL(), uniseg_H5S_ALL(), uniseg_H5P_DEFAULT(), $0.baseAddress)
                    }
                    guard status >= 0 else { throw error(name, "cannot read the values (corrupt data or a missing filter)") }
                }
                return (shape, values)
            }
        }
    }

    func withDataset<T>(_ name: String, _ body: (hid_t, hid_t, hid_t) throws -> T) throws -> T {
        guard existsUnlocked(name) else { throw error(name, "no such dataset") }
        let dataset = H5Dopen2(id, name, uniseg_H5P_DEFAULT())
        guard dataset >= 0 else { throw error(name, "not a dataset") }
        defer { H5Dclose(dataset) }
        let space = H5Dget_space(dataset), type = H5Dget_type(dataset)
        defer { H5Sclose(space); H5Tclose(type) }
        return try body(dataset, space, type)
    }

    func existsUnlocked(_ name: String) -> Bool {
        var prefix = ""
        for part in name.split(separator: "/") {
            prefix += (prefix.isEmpty ? "" : "/") + part
            if H5Lexists(id, prefix, uniseg_H5P_DEFAULT()) <= 0 { return false }
        }
        return !prefix.isEmpty
    }

    func dims(_ space: hid_t, _ name: String) throws -> [Int] {
        let rank = H5Sget_simple_extent_ndims(space)
        guard rank >= 0 else { throw error(name, "cannot read the shape") }
        var d = [hsize_t](repeating: 0, count: Int(rank))
        if rank > 0 { H5Sget_simple_extent_dims(space, &d, nil) }
        return d.map { Int($0) }
    }

    // MARK: - Writing

    /// Writes a new float32 dataset. `deflate` (1-9) compresses it in one chunk.
    public func write(_ name: String, floats: [Float], shape: [Int], deflate: Int? = nil) throws {
        try write(name, floats, shape: shape, fileType: uniseg_H5T_IEEE_F32LE(), memoryType: uniseg_H5T_NATIVE_FLOAT(), deflate: deflate)
    }

    public func write(_ name: String, doubles: [Double], shape: [Int], deflate: Int? = nil) throws {
        try write(name, doubles, shape: shape, fileType: uniseg_H5T_IEEE_F64LE(), memoryType: uniseg_H5T_NATIVE_DOUBLE(), deflate: deflate)
    }

    public func write(_ name: String, bytes: [UInt8], shape: [Int], deflate: Int? = nil) throws {
        try write(name, bytes, shape: shape, fileType: uniseg_H5T_STD_U8LE(), memoryType: uniseg_H5T_NATIVE_UINT8(), deflate: deflate)
    }

    public func write(_ name: String, int64s: [Int64], shape: [Int], deflate: Int? = nil) throws {
        try write(name, int64s, shape: shape, fileType: uniseg_H5T_STD_I64LE(), memoryType: uniseg_H5T_NATIVE_INT64(), deflate: deflate)
    }

    func write<T>(_ name: String, _ values: [T], shape: [Int], fileType: hid_t, memoryType: hid_t, deflate: Int?) throws {
        guard values.count == shape.reduce(1, *) else {
            throw error(name, "shape \(shape) needs \(shape.reduce(1, *)) values, got \(values.count)")
        }
        try HDF5Lock.run {
            guard !existsUnlocked(name) else { throw error(name, "already exists") }
            let dims = shape.map { hsize_t($0) }
            let space = dims.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), dims, nil)
            guard space >= 0 else { throw error(name, "cannot make a dataspace for shape \(shape)") }
            defer { H5Sclose(space) }
            let lcpl = H5Pcreate(uniseg_H5P_LINK_CREATE())
            defer { H5Pclose(lcpl) }
            H5Pset_create_intermediate_group(lcpl, 1)
            let dcpl = H5Pcreate(uniseg_H5P_DATASET_CREATE())
            defer { H5Pclose(dcpl) }
            if let level = deflate, !dims.isEmpty, !dims.contains(0) {
                H5Pset_chunk(dcpl, Int32(dims.count), dims)
                H5Pset_deflate(dcpl, UInt32(max(1, min(9, level))))
            }
            let dataset = H5Dcreate2(id, name, fileType, space, lcpl, dcpl, uniseg_H5P_DEFAULT())
            guard dataset >= 0 else { throw error(name, "cannot create the dataset") }
            defer { H5Dclose(dataset) }
            if !values.isEmpty {
                let status = values.withUnsafeBytes {
                    H5Dwrite(dataset, memoryType, uniseg_H5S_ALL(), uniseg_H5S_ALL(), uniseg_H5P_DEFAULT(), $0.baseAddress)
                }
                guard status >= 0 else { throw error(name, "cannot write the values") }
            }
        }
    }
}
