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

    /// Makes the folder `path` anew: `body` fills a fresh temporary folder beside it, which then
    /// replaces `path` (the old folder, if any, is moved aside and removed). A reader never sees
    /// half a folder, nor files of an earlier write mixed with this one's; on failure the old
    /// folder stays as it was.
    public static func replaceFolder(_ path: String, _ body: (String) throws -> Void) throws {
        let tmp = try freshTemporaryFolder(for: path)
        do {
            try body(tmp)
            try moveFolder(tmp, intoPlaceOf: path)
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            throw error
        }
    }

    /// An empty `.NAME.tmp-PID` folder beside `path` (for `moveFolder`).
    public static func freshTemporaryFolder(for path: String) throws -> String {
        let tmp = temporaryPath(for: path)
        try? FileManager.default.removeItem(atPath: tmp)
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        return tmp
    }

    /// The finished folder `tmp` in place of `path` (the old one moved aside, then removed).
    public static func moveFolder(_ tmp: String, intoPlaceOf path: String) throws {
        let url = URL(fileURLWithPath: path)
        let old = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).old-\(getpid())").path
        let files = FileManager.default
        try? files.removeItem(atPath: old)
        let hadOld = files.fileExists(atPath: path)
        if hadOld { guard rename(path, old) == 0 else { throw InputError(path, "cannot move the old folder aside (\(String(cString: strerror(errno))))") } }
        guard rename(tmp, path) == 0 else { throw InputError(path, "cannot move the new folder into place (\(String(cString: strerror(errno))))") }
        if hadOld { try? files.removeItem(atPath: old) }
    }

    /// Removes what interrupted writes left in `folder` (`.NAME.tmp-PID` files and folders, and
    /// `.NAME.old-PID` folders, of processes no longer running); returns their names.
    @discardableResult
    public static func removeLeftovers(in folder: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix(".") {
            guard let cut = name.range(of: ".tmp-", options: .backwards) ?? name.range(of: ".old-", options: .backwards),
                  let pid = Int32(name[cut.upperBound...]) else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(atPath: (folder as NSString).appendingPathComponent(name))
                removed.append(name)
            }
        }
        return removed.sorted()
    }
}
