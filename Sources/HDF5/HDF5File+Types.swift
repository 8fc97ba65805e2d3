import CHDF5
#if canImport(Glibc)
import Glibc
#endif

/// More element types, attributes and strings: what the dataset shards need.
extension HDF5File {
    public func readInt32s(_ name: String) throws -> (shape: [Int], values: [Int32]) {
        try read(name, memoryType: uniseg_H5T_NATIVE_INT32(), classes: [H5T_INTEGER], zero: 0, maxSize: 4)
    }

    public func readUInt32s(_ name: String) throws -> (shape: [Int], values: [UInt32]) {
        try read(name, memoryType: uniseg_H5T_NATIVE_UINT32(), classes: [H5T_INTEGER], zero: 0, maxSize: 4)
    }

    public func readUInt16s(_ name: String) throws -> (shape: [Int], values: [UInt16]) {
        try read(name, memoryType: uniseg_H5T_NATIVE_UINT16(), classes: [H5T_INTEGER], zero: 0, maxSize: 2)
    }

    public func write(_ name: String, int32s: [Int32], shape: [Int], deflate: Int? = nil) throws {
        try write(name, int32s, shape: shape, fileType: uniseg_H5T_STD_I32LE(), memoryType: uniseg_H5T_NATIVE_INT32(), deflate: deflate)
    }

    public func write(_ name: String, uint32s: [UInt32], shape: [Int], deflate: Int? = nil) throws {
        try write(name, uint32s, shape: shape, fileType: uniseg_H5T_STD_U32LE(), memoryType: uniseg_H5T_NATIVE_UINT32(), deflate: deflate)
    }

    public func write(_ name: String, uint16s: [UInt16], shape: [Int], deflate: Int? = nil) throws {
        try write(name, uint16s, shape: shape, fileType: uniseg_H5T_STD_U16LE(), memoryType: uniseg_H5T_NATIVE_UINT16(), deflate: deflate)
    }

    /// The stored element size in bytes and whether it is a signed integer, a float or other.
    public func elementType(of name: String) throws -> (bytes: Int, isInteger: Bool, isSigned: Bool) {
        try HDF5Lock.run {
            try withDataset(name) { _, _, type in
                (H5Tget_size(type), H5Tget_class(type) == H5T_INTEGER, H5Tget_sign(type) == H5T_SGN_2)
            }
        }
    }

    // MARK: - Strings

    /// A 1-D dataset of variable-length UTF-8 strings (h5py's `string_dtype()`).
    public func write(_ name: String, strings: [String]) throws {
        try HDF5Lock.run {
            guard !existsUnlocked(name) else { throw error(name, "already exists") }
            let type = uniseg_vlen_utf8_type()
            defer { H5Tclose(type) }
            var dims = [hsize_t(strings.count)]
            let space = H5Screate_simple(1, &dims, nil)
            defer { H5Sclose(space) }
            let lcpl = H5Pcreate(uniseg_H5P_LINK_CREATE())
            defer { H5Pclose(lcpl) }
            H5Pset_create_intermediate_group(lcpl, 1)
            let dataset = H5Dcreate2(id, name, type, space, lcpl, uniseg_H5P_DEFAULT(), uniseg_H5P_DEFAULT())
            guard dataset >= 0 else { throw error(name, "cannot create the dataset") }
            defer { H5Dclose(dataset) }
            try withCStrings(strings) { pointers in
                guard strings.isEmpty || H5Dwrite(dataset, type, uniseg_H5S_ALL(), uniseg_H5S_ALL(), uniseg_H5P_DEFAULT(), pointers) >= 0 else {
                    throw error(name, "cannot write the strings")
                }
            }
        }
    }

    /// A 1-D dataset of strings, variable-length or fixed-length.
    public func readStrings(_ name: String) throws -> [String] {
        try HDF5Lock.run {
            try withDataset(name) { dataset, space, type in
                guard H5Tget_class(type) == H5T_STRING else { throw error(name, "not a string dataset") }
                let shape = try dims(space, name)
                guard shape.count == 1 else { throw error(name, "expected a 1-D list of strings, shape \(shape)") }
                return try readStringValues(count: shape[0], type: type, name: name) { memoryType, buffer in
                    H5Dread(dataset, memoryType, uniseg_H5S_ALL(), uniseg_H5S_ALL(), uniseg_H5P_DEFAULT(), buffer)
                }
            }
        }
    }

    /// Reads `count` strings through `read(memoryType, buffer)`, for variable- or fixed-length types.
    private func readStringValues(count: Int, type: hid_t, name: String,
                                  _ read: (hid_t, UnsafeMutableRawPointer) -> herr_t) throws -> [String] {
        if count == 0 { return [] }
        if H5Tis_variable_str(type) > 0 {
            let memoryType = uniseg_vlen_utf8_type()
            defer { H5Tclose(memoryType) }
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            let status = pointers.withUnsafeMutableBytes { read(memoryType, $0.baseAddress!) }
            guard status >= 0 else { throw error(name, "cannot read the strings") }
            defer { for p in pointers { if let p { H5free_memory(p) } } }
            return pointers.map { $0.map { String(cString: $0) } ?? "" }
        }
        let size = H5Tget_size(type)
        var bytes = [UInt8](repeating: 0, count: count * size)
        let memoryType = H5Tcopy(type)
        defer { H5Tclose(memoryType) }
        let status = bytes.withUnsafeMutableBytes { read(memoryType, $0.baseAddress!) }
        guard status >= 0 else { throw error(name, "cannot read the strings") }
        return (0..<count).map { i in
            let slice = bytes[(i * size)..<((i + 1) * size)]
            return String(decoding: slice.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Runs `body` with a C array of C strings (what HDF5 writes as variable-length strings).
    private func withCStrings<T>(_ strings: [String], _ body: (UnsafeRawPointer) throws -> T) throws -> T {
        let copies: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        defer { for c in copies { free(c) } }
        return try copies.withUnsafeBytes { try body($0.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!) }
    }

    // MARK: - Attributes

    /// Sets a string attribute (variable-length UTF-8, as h5py writes `str`) on the object at
    /// `path` ("/" for the file).
    public func setAttribute(_ attribute: String, string value: String, on path: String = "/") throws {
        try HDF5Lock.run {
            try withObject(path) { object in
                if H5Aexists(object, attribute) > 0 { H5Adelete(object, attribute) }
                let type = uniseg_vlen_utf8_type()
                defer { H5Tclose(type) }
                let space = H5Screate(H5S_SCALAR)
                defer { H5Sclose(space) }
                let a = H5Acreate2(object, attribute, type, space, uniseg_H5P_DEFAULT(), uniseg_H5P_DEFAULT())
                guard a >= 0 else { throw error(path, "cannot create attribute \(attribute)") }
                defer { H5Aclose(a) }
                try withCStrings([value]) { pointer in
                    guard H5Awrite(a, type, pointer) >= 0 else { throw error(path, "cannot write attribute \(attribute)") }
                }
            }
        }
    }

    /// Sets an integer attribute (int64).
    public func setAttribute(_ attribute: String, int value: Int64, on path: String = "/") throws {
        try HDF5Lock.run {
            try withObject(path) { object in
                if H5Aexists(object, attribute) > 0 { H5Adelete(object, attribute) }
                let space = H5Screate(H5S_SCALAR)
                defer { H5Sclose(space) }
                let a = H5Acreate2(object, attribute, uniseg_H5T_STD_I64LE(), space, uniseg_H5P_DEFAULT(), uniseg_H5P_DEFAULT())
                guard a >= 0 else { throw error(path, "cannot create attribute \(attribute)") }
                defer { H5Aclose(a) }
                var v = value
                guard H5Awrite(a, uniseg_H5T_NATIVE_INT64(), &v) >= 0 else { throw error(path, "cannot write attribute \(attribute)") }
            }
        }
    }

    /// A string attribute, or nil when the object has none of that name.
    public func stringAttribute(_ attribute: String, on path: String = "/") throws -> String? {
        try withAttribute(attribute, on: path, ofClass: H5T_STRING, kind: "a string") { a, type in
            try readStringValues(count: 1, type: type, name: "\(path)@\(attribute)") { memoryType, buffer in
                H5Aread(a, memoryType, buffer)
            }.first
        }
    }

    /// An integer attribute, or nil when the object has none of that name.
    public func intAttribute(_ attribute: String, on path: String = "/") throws -> Int64? {
        try withAttribute(attribute, on: path, ofClass: H5T_INTEGER, kind: "an integer") { a, _ in
            var v: Int64 = 0
            guard H5Aread(a, uniseg_H5T_NATIVE_INT64(), &v) >= 0 else { throw error(path, "cannot read attribute \(attribute)") }
            return v
        }
    }

    /// Opens `attribute` of the object at `path` and checks its type class before `read`; nil
    /// when the object has no attribute of that name.
    private func withAttribute<T>(_ attribute: String, on path: String, ofClass typeClass: H5T_class_t, kind: String,
                                  _ read: (hid_t, hid_t) throws -> T?) throws -> T? {
        try HDF5Lock.run {
            try withObject(path) { object in
                guard H5Aexists(object, attribute) > 0 else { return nil }
                let a = H5Aopen(object, attribute, uniseg_H5P_DEFAULT())
                guard a >= 0 else { throw error(path, "cannot open attribute \(attribute)") }
                defer { H5Aclose(a) }
                let type = H5Aget_type(a)
                defer { H5Tclose(type) }
                guard H5Tget_class(type) == typeClass else { throw error(path, "attribute \(attribute) is not \(kind)") }
                return try read(a, type)
            }
        }
    }

    private func withObject<T>(_ path: String, _ body: (hid_t) throws -> T) throws -> T {
        if path != "/" && !existsUnlocked(path) { throw error(path, "no such group or dataset") }
        let object = H5Oopen(id, path, uniseg_H5P_DEFAULT())
        guard object >= 0 else { throw error(path, "cannot open") }
        defer { H5Oclose(object) }
        return try body(object)
    }

    /// Creates the group `path` (and its parents) if missing.
    public func createGroup(_ path: String) throws {
        try HDF5Lock.run {
            if existsUnlocked(path) { return }
            let lcpl = H5Pcreate(uniseg_H5P_LINK_CREATE())
            defer { H5Pclose(lcpl) }
            H5Pset_create_intermediate_group(lcpl, 1)
            let g = H5Gcreate2(id, path, lcpl, uniseg_H5P_DEFAULT(), uniseg_H5P_DEFAULT())
            guard g >= 0 else { throw error(path, "cannot create the group") }
            H5Gclose(g)
        }
    }
}
