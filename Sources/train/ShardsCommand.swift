import ArgumentParser
import Datasets
import Foundation
import Core

/// `train shards ...`: dataset shard tools.
struct Shards: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Dataset shard tools (HDF5 layout version 1).",
        subcommands: [ShardsCheck.self])
}

struct ShardsCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate every shard of a folder (or one file) and summarise each dataset.",
        discussion: "Checks the layout and every value against docs/shard-format.md and decodes every image (--quick: the layout and values only).")

    @Argument(help: "A shard file, or a folder searched recursively for *.h5.") var path: String
    @Option(help: "Write the summary as JSON to this file.") var json: String?
    @Flag(help: "Check the layout and the values only, without decoding the images.") var quick = false

    struct Summary {
        var task: ShardTask, classes: ShardClasses, shards = 0, samples = 0, segments = 0
        var minSize: (Int, Int)? = nil, maxSize = (0, 0)
    }

    func run() throws {
        let files = try Self.shardFiles(path)
        guard !files.isEmpty else { throw InputError(path, "no .h5 shard files") }
        var summaries: [String: Summary] = [:]
        for file in files {
            let reader: ShardReader
            reader = try ShardReader(file)
            if !quick { _ = try Parallel.map(reader.count) { i -> Bool in _ = try reader.decoded(i); return true } }
            var s = summaries[reader.dataset] ?? Summary(task: reader.task, classes: reader.classes)
            guard s.classes == reader.classes else {
                throw InputError(file, "classes: differ from the other shards of dataset \(reader.dataset)")
            }
            guard s.task == reader.task else {
                throw InputError(file, "task \(reader.task.rawValue) differs from the other shards of dataset \(reader.dataset) (\(s.task.rawValue))")
            }
            s.shards += 1
            s.samples += reader.count
            s.segments += reader.segmentCount
            for (h, w) in reader.imageSizes {
                if s.minSize.map({ h * w < $0.0 * $0.1 }) ?? true { s.minSize = (h, w) }
                if h * w > s.maxSize.0 * s.maxSize.1 { s.maxSize = (h, w) }
            }
            summaries[reader.dataset] = s
        }
        if let empty = summaries.keys.sorted().first(where: { summaries[$0]!.samples == 0 }) {
            throw InputError(path, "dataset \(empty) has no samples in any shard")
        }
        print("dataset".padding(toLength: 22, withPad: " ", startingAt: 0) + "task          classes  shards  samples  segments  image sizes")
        var out: [String: Any] = [:]
        for name in summaries.keys.sorted() {
            let s = summaries[name]!
            let sizes = s.minSize.map { "\($0.0)x\($0.1) .. \(s.maxSize.0)x\(s.maxSize.1)" } ?? "-"
            print(name.padding(toLength: 22, withPad: " ", startingAt: 0) + s.task.rawValue.padding(toLength: 14, withPad: " ", startingAt: 0)
                  + String(format: "%7d %7d %8d %9d  ", s.classes.count, s.shards, s.samples, s.segments) + sizes)
            out[name] = ["task": s.task.rawValue, "classes": s.classes.count, "shards": s.shards, "samples": s.samples,
                         "segments": s.segments, "min_size": s.minSize.map { [$0.0, $0.1] } ?? [], "max_size": [s.maxSize.0, s.maxSize.1]]
        }
        print("\(files.count) shard file(s) valid" + (quick ? " (layout and values; images not decoded)" : ", every image decoded"))
        if let json { try AtomicFile.writeJSON(out, to: json) }
    }

    /// `path` itself, or every *.h5 below it, sorted.
    static func shardFiles(_ path: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw InputError(path, "no such file or folder") }
        if !isDirectory.boolValue { return [path] }
        guard let walker = FileManager.default.enumerator(atPath: path) else { throw InputError(path, "cannot list the folder") }
        var files: [String] = []
        // Hidden entries are temporary files and folders of writes in progress or interrupted
        // (`.NAME.tmp-PID`): never data.
        for case let name as String in walker where name.hasSuffix(".h5") && !name.split(separator: "/").contains(where: { $0.hasPrefix(".") }) {
            files.append((path as NSString).appendingPathComponent(name))
        }
        return files.sorted()
    }
}
