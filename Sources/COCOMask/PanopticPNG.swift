/// COCO panoptic's PNG encoding of segment ids: id = R + 256·G + 256²·B (0 = void).
public enum PanopticPNG {
    /// The ids of interleaved RGB pixels.
    public static func ids(fromRGB rgb: [UInt8]) -> [UInt32] {
        (0..<(rgb.count / 3)).map { UInt32(rgb[3 * $0]) + 256 * UInt32(rgb[3 * $0 + 1]) + 65536 * UInt32(rgb[3 * $0 + 2]) }
    }

    /// Interleaved RGB pixels of `ids` (ids of 2^24 and above do not fit and lose their high bits).
    public static func rgb(fromIDs ids: [UInt32]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: ids.count * 3)
        for (p, id) in ids.enumerated() {
            out[3 * p] = UInt8(id & 0xff); out[3 * p + 1] = UInt8((id >> 8) & 0xff); out[3 * p + 2] = UInt8((id >> 16) & 0xff)
        }
        return out
    }
}
