import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one way files are written: into `.NAME.tmp-PID` beside the destination, then renamed over
/// it (atomic on POSIX). A reader never sees half a file, a failed write leaves the old file as
/// it was, and `removeLeftovers(in:)` clears what a killed process left behind.
public enum AtomicFile {
    /// The temporary name beside `path` this process writes to.
    public static func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())").path
    }

    /// Calls `body` with the temporary path to create the file there, then renames it over
    /// `path`; on any failure the temporary file is removed and the error rethrown.
    public static func write(to path: String, _ body: (String) throws -> Void) throws {
        let tmp = temporaryPath(for: path)
        do {
            try body(tmp)
            guard rename(tmp, path) == 0 else {
                throw InputError(path, "cannot move the finished temporary file into place (\(String(cString: strerror(errno))))")
            }
        } catch {
            unlink(tmp)
            throw error
        }
    }

    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { tmp in
            do { try data.write(to: URL(fileURLWithPath: tmp)) } catch {
                throw InputError(path, "cannot write (\(error.localizedDescription))")
            }
        }
    }

    public static func write(_ text: String, to path: String) throws { try write(Data(text.utf8), to: path) }

    /// `object` (JSONSerialization's types) as JSON with sorted keys, pretty-printed unless `compact`.
    public static func writeJSON(_ object: Any, to path: String, compact: Bool = false) throws {
        let data: Data
        do {
            data = try JSONSerialization.data(withJSONObject: object, options: compact ? [.sortedKeys] : [.prettyPrinted, .sortedKeys])
        } catch {
            throw InputError(path, "cannot encode the JSON (\(error.localizedDescription))")
        }
        try write(data, to: path)
    }

    /// Removes the temporary files of interrupted writes (`.NAME.tmp-PID` of a process that is
    /// no longer running) from `folder`; returns their names.
    @discardableResult
    public static func removeLeftovers(in folder: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix(".") {
            guard let cut = name.range(of: ".tmp-", options: .backwards), let pid = Int32(name[cut.upperBound...]) else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH {
                unlink((folder as NSString).appendingPathComponent(name))
                removed.append(name)
            }
        }
        return removed.sorted()
    }
}
