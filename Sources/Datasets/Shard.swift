import Foundation
import HDF5
import Core

/// Dataset shards, layout version 1 (`docs/shard-format.md`): one HDF5 file holds
/// N samples — images, and the annotations of the shard's task — as flat arrays with offsets.

public enum ShardTask: String, Codable, CaseIterable, Sendable {
    case panoptic, semantic, instance, detection
    case imageLabels = "image_labels"
}

public enum ImageEncoding: String, Codable, CaseIterable, Sendable {
    case raw, jpeg, png
}

/// The class list every shard of a dataset carries.
public struct ShardClasses: Equatable, Sendable {
    public var names: [String]
    /// The ids the classes had in the source annotations.
    public var sourceIDs: [Int64]
    public var isThing: [Bool]
    /// Optional text embeddings `[K, D]` (an addition to version 1: `/classes/embeddings`).
    public var embeddings: (dim: Int, values: [Float])?

    public init(names: [String], sourceIDs: [Int64], isThing: [Bool], embeddings: (dim: Int, values: [Float])? = nil) {
        self.names = names
        self.sourceIDs = sourceIDs
        self.isThing = isThing
        self.embeddings = embeddings
    }

    public var count: Int { names.count }

    public static func == (a: ShardClasses, b: ShardClasses) -> Bool {
        a.names == b.names && a.sourceIDs == b.sourceIDs && a.isThing == b.isThing
            && a.embeddings?.dim == b.embeddings?.dim && a.embeddings?.values == b.embeddings?.values
    }
}

/// One row of a shard's segment table.
public struct ShardSegment: Equatable, Sendable {
    /// The id in the panoptic map (panoptic), else a running index.
    public var id: Int32
    public var classID: Int32
    public var isCrowd: Bool
    /// Pixel area, 0 where unknown (boxes only).
    public var area: Int64
    /// x, y, width, height in pixels.
    public var bbox: [Float]
    /// Instance shards: the mask as uncompressed COCO RLE counts (column-major).
    public var rle: [UInt32]?

    public init(id: Int32, classID: Int32, isCrowd: Bool = false, area: Int64, bbox: [Float], rle: [UInt32]? = nil) {
        self.id = id
        self.classID = classID
        self.isCrowd = isCrowd
        self.area = area
        self.bbox = bbox
        self.rle = rle
    }
}

/// One sample as stored: the encoded image and the annotations.
public struct ShardSample: Equatable, Sendable {
    public var image: [UInt8]
    /// Height, width, channels of the decoded image.
    public var height: Int, width: Int, channels: Int
    public var sourceID: Int64
    /// Semantic label map (HW), values fitting uint16.
    public var semantic: [UInt16]?
    /// Panoptic segment-id map (HW), 0 = void.
    public var panoptic: [UInt32]?
    public var segments: [ShardSegment]
    /// Image-level labels.
    public var labels: [Int32]?

    public init(image: [UInt8], height: Int, width: Int, channels: Int = 3, sourceID: Int64, semantic: [UInt16]? = nil,
                panoptic: [UInt32]? = nil, segments: [ShardSegment] = [], labels: [Int32]? = nil) {
        (self.image, self.height, self.width, self.channels, self.sourceID) = (image, height, width, channels, sourceID)
        (self.semantic, self.panoptic, self.segments, self.labels) = (semantic, panoptic, segments, labels)
    }
}

/// An error in a shard: the file, the path inside it and, where it applies, the sample.
public struct ShardError: LocatedError, Equatable {
    public var file: String
    public var path: String
    public var sample: Int?
    public var message: String
    public var location: String { "\(file): \(path)\(sample.map { " (sample \($0))" } ?? "")" }
    public var problem: String { message }
}
