import Foundation
import HDF5

/// Collects samples and writes them as one version-1 shard (through a temporary file and a
/// rename: an interrupted write leaves no half shard).
public struct ShardWriter {
    public let dataset: String
    public let task: ShardTask
    public let classes: ShardClasses
    public let encoding: ImageEncoding
    public let ignoreLabel: Int
    public private(set) var samples: [ShardSample] = []
    /// The layout version written (1; a reader refuses others — settable to test that).
    var version: Int64 = 1

    public init(dataset: String, task: ShardTask, classes: ShardClasses, encoding: ImageEncoding, ignoreLabel: Int = 255) {
        self.dataset = dataset
        self.task = task
        self.classes = classes
        self.encoding = encoding
        self.ignoreLabel = ignoreLabel
    }

    public mutating func append(_ sample: ShardSample) { samples.append(sample) }

    public var count: Int { samples.count }

    public func write(to path: String) throws {
        try HDF5File.writeAtomically(to: path) { f in
            try f.setAttribute("format", string: "m2f-shard")
            try f.setAttribute("version", int: version)
            try f.setAttribute("dataset", string: dataset)
            try f.setAttribute("task", string: task.rawValue)
            try f.setAttribute("num_samples", int: Int64(samples.count))

            try f.write("classes/names", strings: classes.names)
            try f.write("classes/source_ids", int64s: classes.sourceIDs, shape: [classes.count])
            try f.write("classes/isthing", bytes: classes.isThing.map { $0 ? 1 : 0 }, shape: [classes.count])
            if let e = classes.embeddings {
                try f.write("classes/embeddings", floats: e.values, shape: [classes.count, e.dim])
            }

            let n = samples.count
            try f.write("images/bytes", bytes: samples.flatMap(\.image), shape: [samples.reduce(0) { $0 + $1.image.count }], deflate: encoding == .raw ? 1 : nil)
            try f.write("images/offsets", int64s: offsets(samples.map(\.image.count)), shape: [n + 1])
            try f.write("images/shape", int32s: samples.flatMap { [Int32($0.height), Int32($0.width), Int32($0.channels)] }, shape: [n, 3])
            try f.write("images/source_id", int64s: samples.map(\.sourceID), shape: [n])
            try f.setAttribute("encoding", string: encoding.rawValue, on: "images")

            if task == .semantic || samples.contains(where: { $0.semantic != nil }) {
                let maps = samples.map { $0.semantic ?? [] }
                let total = maps.reduce(0) { $0 + $1.count }
                if maps.allSatisfy({ $0.allSatisfy { $0 < 256 } }) {
                    try f.write("semantic/bytes", bytes: maps.flatMap { $0.map { UInt8($0) } }, shape: [total], deflate: 4)
                } else {
                    try f.write("semantic/bytes", uint16s: maps.flatMap { $0 }, shape: [total], deflate: 4)
                }
                try f.write("semantic/offsets", int64s: offsets(maps.map(\.count)), shape: [n + 1])
                try f.setAttribute("ignore_label", int: Int64(ignoreLabel), on: "semantic")
            }
            if task == .panoptic {
                let maps = samples.map { $0.panoptic ?? [] }
                try f.write("panoptic/bytes", uint32s: maps.flatMap { $0 }, shape: [maps.reduce(0) { $0 + $1.count }], deflate: 4)
                try f.write("panoptic/offsets", int64s: offsets(maps.map(\.count)), shape: [n + 1])
            }
            if [.panoptic, .instance, .detection].contains(task) || samples.contains(where: { !$0.segments.isEmpty }) {
                let segments = samples.flatMap(\.segments)
                let s = segments.count
                try f.write("segments/offsets", int64s: offsets(samples.map(\.segments.count)), shape: [n + 1])
                try f.write("segments/id", int32s: segments.map(\.id), shape: [s])
                try f.write("segments/class", int32s: segments.map(\.classID), shape: [s])
                try f.write("segments/iscrowd", bytes: segments.map { $0.isCrowd ? 1 : 0 }, shape: [s])
                try f.write("segments/area", int64s: segments.map(\.area), shape: [s])
                try f.write("segments/bbox", floats: segments.flatMap(\.bbox), shape: [s, 4])
                if task == .instance {
                    let rles = segments.map { $0.rle ?? [] }
                    try f.write("segments/rle", uint32s: rles.flatMap { $0 }, shape: [rles.reduce(0) { $0 + $1.count }], deflate: 4)
                    try f.write("segments/rle_offsets", int64s: offsets(rles.map(\.count)), shape: [s + 1])
                }
            }
            if task == .imageLabels || samples.contains(where: { $0.labels != nil }) {
                let labels = samples.map { $0.labels ?? [] }
                try f.write("labels/class", int32s: labels.flatMap { $0 }, shape: [labels.reduce(0) { $0 + $1.count }])
                try f.write("labels/offsets", int64s: offsets(labels.map(\.count)), shape: [n + 1])
            }
        }
    }
}

/// [0, c0, c0+c1, ...].
func offsets(_ counts: [Int]) -> [Int64] {
    var out: [Int64] = [0]
    out.reserveCapacity(counts.count + 1)
    for c in counts { out.append(out.last! + Int64(c)) }
    return out
}
