import Autograd

/// A mask cut to the smallest rectangle holding its pixels that are not 0 (NaN counts as
/// nonzero), with a border of zeros: a bilinear sample of the mask can be nonzero only near the
/// rectangle, and `Tensor.sampleWindow` samples it there from the crop alone, bit for bit.
public struct MaskCrop: Equatable, Sendable {
    /// Zeros around the rectangle (the taps of the points `SparseTargetSamples` samples reach
    /// up to 3 pixels out).
    public static let border = 3
    /// The rectangle; empty for an all-zero mask.
    public let rows: Range<Int>
    public let cols: Range<Int>
    /// The rectangle grown by `border` on every side, row-major (none for an all-zero mask).
    public let values: [Float]

    public var windowWidth: Int { cols.isEmpty ? 0 : cols.count + 2 * Self.border }

    /// The crop of each map of `masks` `[T, H, W]` (none unless rank 3).
    public static func of(_ masks: Tensor) -> [MaskCrop] {
        guard masks.rank == 3 else { return [] }
        let (t, h, w) = (masks.shape[0], masks.shape[1], masks.shape[2])
        return masks.data.withUnsafeBufferPointer { mp in
            (0..<t).map { j in
                let map = mp.baseAddress! + j * h * w
                var (y0, y1, x0, x1) = (h, 0, w, 0)
                for y in 0..<h {
                    let row = map + y * w
                    var first = 0
                    while first < w && row[first] == 0 { first += 1 }
                    if first == w { continue }
                    var last = w - 1
                    while row[last] == 0 { last -= 1 }
                    (y0, y1) = (Swift.min(y0, y), y + 1)
                    (x0, x1) = (Swift.min(x0, first), Swift.max(x1, last + 1))
                }
                if y1 == 0 { return MaskCrop(rows: 0..<0, cols: 0..<0, values: []) }
                let ww = x1 - x0 + 2 * border
                var values = [Float](repeating: 0, count: (y1 - y0 + 2 * border) * ww)
                for y in y0..<y1 {
                    for x in x0..<x1 { values[(y - y0 + border) * ww + x - x0 + border] = map[y * w + x] }
                }
                return MaskCrop(rows: y0..<y1, cols: x0..<x1, values: values)
            }
        }
    }
}
