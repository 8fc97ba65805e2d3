import Core
import Foundation

/// A safetensors file, Hugging Face's weight format: an 8-byte little-endian header length N,
/// N bytes of JSON (`{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
/// ..., "__metadata__": {string: string}}`), then the raw little-endian arrays.
///
/// Read whole and checked as strictly as the reference reader checks: the header inside the
/// file and a JSON object, every entry with a known dtype, a shape of non-negative integers and
/// a byte range as long as dtype × shape, the ranges back to back with no gap or overlap and
/// covering the data exactly. Errors name the file and the key.
public struct SafeTensors {
    public struct Entry: Equatable, Sendable {
        public let dtype: String
        public let shape: [Int]
        /// Bytes within the data section.
        public let range: Range<Int>
    }

    public let path: String
    public let entries: [String: Entry]
    public let metadata: [String: String]
    /// The data section (everything after the header).
    private let data: Data

    /// Bytes per element of each dtype the format defines.
    public static let itemSizes: [String: Int] = [
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
        "U32": 4, "I32": 4, "F32": 4, "U64": 8, "I64": 8, "F64": 8,
    ]
    /// The reference reader's limit on the header (100 MB).
    public static let maxHeaderBytes = 100_000_000

    public init(path: String) throws {
        let bytes: Data
        do { bytes = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe) } catch {
            throw InputError(path, "cannot be read (\(error.localizedDescription))")
        }
        try self.init(bytes: bytes, path: path)
    }

    public init(bytes: Data, path: String) throws {
        self.path = path
        func fail(_ key: String?, _ problem: String) -> InputError {
            InputError(key.map { "\(path): \($0)" } ?? path, problem)
        }
        guard bytes.count >= 8 else { throw fail(nil, "\(bytes.count) bytes: too short for a safetensors header length") }
        let n = bytes.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard n <= UInt64(Self.maxHeaderBytes), Int(n) <= bytes.count - 8 else {
            throw fail(nil, "header length \(n) does not fit in the file's \(bytes.count - 8) bytes after it (not a safetensors file?)")
        }
        let headerBytes = bytes.subdata(in: bytes.startIndex + 8..<bytes.startIndex + 8 + Int(n))
        guard let header = try? JSONSerialization.jsonObject(with: headerBytes) as? [String: Any] else {
            throw fail(nil, "the \(n)-byte header is not a JSON object")
        }
        data = bytes.subdata(in: bytes.startIndex + 8 + Int(n)..<bytes.endIndex)
        var entries: [String: Entry] = [:], metadata: [String: String] = [:]
        for (key, value) in header {
            if key == "__metadata__" {
                guard let m = value as? [String: Any], let strings = m as? [String: String] else {
                    throw fail(key, "must map strings to strings")
                }
                metadata = strings
                continue
            }
            guard let e = value as? [String: Any] else { throw fail(key, "is not an object") }
            if let extra = Set(e.keys).subtracting(["dtype", "shape", "data_offsets"]).sorted().first {
                throw fail(key, "unknown field '\(extra)'")
            }
            guard let dtype = e["dtype"] as? String, let size = Self.itemSizes[dtype] else {
                throw fail(key, "dtype \(e["dtype"].map { "\($0)" } ?? "missing") is not one of \(Self.itemSizes.keys.sorted().joined(separator: ", "))")
            }
            guard let shape = Self.integers(e["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
                throw fail(key, "shape must be a list of non-negative integers")
            }
            guard let offsets = Self.integers(e["data_offsets"]), offsets.count == 2, offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw fail(key, "data_offsets must be two integers [begin, end] with begin <= end")
            }
            let (count, overflow) = shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d); return (p, acc.1 || o)
            }
            guard !overflow, count.multipliedReportingOverflow(by: size).overflow == false,
                  offsets[1] - offsets[0] == count * size else {
                throw fail(key, "data_offsets \(offsets) hold \(offsets[1] - offsets[0]) bytes; \(dtype) \(shape) needs \(count * size)")
            }
            entries[key] = Entry(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
        }
        // Back to back from 0 to the end of the data, as the reference reader requires.
        var end = 0
        for (key, e) in entries.sorted(by: { ($0.value.range.lowerBound, $0.value.range.upperBound) < ($1.value.range.lowerBound, $1.value.range.upperBound) }) {
            guard e.range.lowerBound == end else {
                throw fail(key, e.range.lowerBound < end ? "data_offsets \(e.range) overlap the previous tensor's (ending at \(end))"
                                                          : "data_offsets \(e.range) leave a gap after byte \(end)")
            }
            end = e.range.upperBound
        }
        guard end == data.count else {
            throw fail(nil, "the tensors cover \(end) bytes of data; the file holds \(data.count) after the header (truncated or padded)")
        }
        self.entries = entries
        self.metadata = metadata
    }

    /// JSON integers (not floats, not booleans) as Ints.
    private static func integers(_ value: Any?) -> [Int]? {
        guard let list = value as? [Any] else { return nil }
        var out: [Int] = []
        for v in list {
            // JSON integers come back as NSNumbers of an integer type; true/false as "c", 1.0 as "d".
            guard let n = v as? NSNumber, "ilqsILQS".contains(String(cString: n.objCType)) else { return nil }
            out.append(n.intValue)
        }
        return out
    }

    /// A float32 tensor's shape and values.
    public func floats(_ name: String) throws -> (shape: [Int], values: [Float]) {
        guard let e = entries[name] else {
            let near = nearestName(name, in: Array(entries.keys)).map { " (did you mean \($0)?)" } ?? ""
            throw InputError("\(path): \(name)", "no such tensor\(near)")
        }
        guard e.dtype == "F32" else { throw InputError("\(path): \(name)", "is \(e.dtype); float32 (F32) expected") }
        var values = [Float](repeating: 0, count: e.range.count / 4)
        values.withUnsafeMutableBytes { out in
            data.withUnsafeBytes { raw in
                out.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[e.range]))
            }
        }
        #if _endian(big)
        for i in values.indices { values[i] = Float(bitPattern: UInt32(littleEndian: values[i].bitPattern)) }
        #endif
        return (e.shape, values)
    }
}
