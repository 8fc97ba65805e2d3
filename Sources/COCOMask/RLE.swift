/// COCO's run-length encoding of binary masks and the operations of the COCO mask API
/// (`maskApi.c` of cocoapi), reproduced operation for operation so that areas, boxes, IoUs and
/// polygon rasterisation are bit-identical to pycocotools'.
///
/// Masks are read in column-major (Fortran) order, as COCO does: `counts` alternate runs of 0s
/// and 1s, starting with 0s.
public struct RLE: Equatable, Sendable {
    public var height: Int
    public var width: Int
    public var counts: [UInt32]

    public init(height: Int, width: Int, counts: [UInt32]) {
        self.height = height
        self.width = width
        self.counts = counts
    }

    /// Encodes a column-major mask of `height·width` values (non-zero = inside).
    public init(columnMajor mask: [UInt8], height: Int, width: Int) {
        precondition(mask.count == height * width, "RLE: mask of \(mask.count) values for \(height)x\(width)")
        var counts: [UInt32] = []
        var previous: UInt8 = 0, run: UInt32 = 0
        for v in mask {
            let bit: UInt8 = v == 0 ? 0 : 1
            if bit != previous {
                counts.append(run)
                run = 0
                previous = bit
            }
            run += 1
        }
        counts.append(run)
        self.init(height: height, width: width, counts: counts)
    }

    /// Encodes a row-major mask (`mask[y * width + x]`).
    public init(rowMajor mask: [UInt8], height: Int, width: Int) {
        var columnMajor = [UInt8](repeating: 0, count: mask.count)
        for y in 0..<height { for x in 0..<width { columnMajor[x * height + y] = mask[y * width + x] } }
        self.init(columnMajor: columnMajor, height: height, width: width)
    }

    /// The mask, column-major, 0 or 1.
    public func decodeColumnMajor() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: height * width)
        var position = 0, value: UInt8 = 0
        for c in counts {
            let end = min(position + Int(c), out.count)
            if value == 1 { for i in position..<end { out[i] = 1 } }
            position = end
            value ^= 1
        }
        return out
    }

    /// Number of pixels inside.
    public var area: Int {
        var a = 0
        var j = 1
        while j < counts.count { a += Int(counts[j]); j += 2 }
        return a
    }

    /// The bounding box `[x, y, w, h]` (`rleToBbox`).
    public var boundingBox: [Double] {
        let h = UInt32(height)
        let m = (counts.count / 2) * 2
        if m == 0 { return [0, 0, 0, 0] }
        var xs = UInt32(width), ys = h, xe: UInt32 = 0, ye: UInt32 = 0, cc: UInt32 = 0, xp: UInt32 = 0
        for j in 0..<m {
            cc &+= counts[j]
            let t = cc &- UInt32(j % 2)
            let y = t % h, x = (t - y) / h
            if j % 2 == 0 { xp = x } else if xp < x { ys = 0; ye = h - 1 }
            xs = min(xs, x); xe = max(xe, x); ys = min(ys, y); ye = max(ye, y)
        }
        return [Double(xs), Double(ys), Double(xe - xs + 1), Double(ye - ys + 1)]
    }

    /// Union (or intersection) of masks of one size (`rleMerge`). Masks of different sizes give
    /// an empty 0x0 result, as in the C code.
    public static func merge(_ masks: [RLE], intersect: Bool = false) -> RLE {
        guard let first = masks.first else { return RLE(height: 0, width: 0, counts: []) }
        if masks.count == 1 { return first }
        var cnts = first.counts
        let (h, w) = (first.height, first.width)
        for b in masks.dropFirst() {
            if b.height != h || b.width != w { return RLE(height: 0, width: 0, counts: []) }
            let a = cnts
            var out: [UInt32] = []
            var ca = a[0], cb = b.counts[0]
            var v = false, va = false, vb = false
            var ia = 1, ib = 1
            var cc: UInt32 = 0, ct: UInt32 = 1
            while ct > 0 {
                let c = min(ca, cb)
                cc += c
                ct = 0
                ca -= c
                if ca == 0 && ia < a.count { ca = a[ia]; ia += 1; va.toggle() }
                ct += ca
                cb -= c
                if cb == 0 && ib < b.counts.count { cb = b.counts[ib]; ib += 1; vb.toggle() }
                ct += cb
                let vp = v
                v = intersect ? (va && vb) : (va || vb)
                if v != vp || ct == 0 { out.append(cc); cc = 0 }
            }
            cnts = out
        }
        return RLE(height: h, width: w, counts: cnts)
    }

    /// Rasterises a polygon `[x0, y0, x1, y1, ...]` (`rleFrPoly`): the boundary is upsampled
    /// 5x, walked, and its crossings of pixel columns give the runs. The C code stores the walk
    /// and then scans it; here each point is checked as it is made (the same points, in the same
    /// order, the same arithmetic).
    public init(polygon xy: [Double], height: Int, width: Int) {
        let k = xy.count / 2
        let scale = 5.0
        var x = [Int](repeating: 0, count: k + 1), y = [Int](repeating: 0, count: k + 1)
        for j in 0..<k {
            x[j] = cInt(scale * xy[j * 2] + 0.5)
            y[j] = cInt(scale * xy[j * 2 + 1] + 0.5)
        }
        if k > 0 { x[k] = x[0]; y[k] = y[0] }
        var total = 0
        for j in 0..<k { total += max(abs(x[j] - x[j + 1]), abs(y[j] - y[j + 1])) + 1 }
        // Points where the boundary crosses a pixel column, downsampled.
        var a: [UInt32] = []
        a.reserveCapacity(total / 4 + 1)
        var pu = 0, pv = 0, started = false
        @inline(__always) func visit(_ u: Int, _ v: Int) {
            defer { pu = u; pv = v; started = true }
            guard started, u != pu else { return }
            // The C code's xd = (x + 0.5) / 5 - 0.5 in doubles is a whole number exactly when
            // x = 2 (mod 5), and then equals (x - 2) / 5; its yd = ceil((y + 0.5) / 5 - 0.5),
            // clamped to [0, h], is ceil((y - 2) / 5) clamped (the doubles are exact or far from
            // whole numbers for |x|, |y| < 2^33, which cInt's range keeps). So: integers.
            let x = (u < pu ? u : u - 1) - 2
            guard x % 5 == 0, x >= 0, x / 5 <= width - 1 else { return }
            let y = (v < pv ? v : pv) - 2
            let row = y <= 0 ? 0 : min(height, (y + 4) / 5)
            a.append(UInt32(truncatingIfNeeded: x / 5 * height + row))
        }
        for j in 0..<k {
            var xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1]
            let dx = abs(xe - xs), dy = abs(ys - ye)
            let flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye)
            if flip { swap(&xs, &xe); swap(&ys, &ye) }
            let s = dx >= dy ? Double(ye - ys) / Double(dx) : Double(xe - xs) / Double(dy)
            if dx >= dy {
                for d in 0...dx {
                    let t = flip ? dx - d : d
                    visit(t + xs, cInt(Double(ys) + s * Double(t) + 0.5))
                }
            } else {
                for d in 0...dy {
                    let t = flip ? dy - d : d
                    visit(cInt(Double(xs) + s * Double(t) + 0.5), t + ys)
                }
            }
        }
        a.append(UInt32(truncatingIfNeeded: height * width))
        a.sort()
        var previous: UInt32 = 0
        for j in a.indices { let t = a[j]; a[j] = t &- previous; previous = t }
        var b: [UInt32] = [a[0]]
        var j = 1
        while j < a.count {
            if a[j] > 0 {
                b.append(a[j]); j += 1
            } else {
                j += 1
                if j < a.count { b[b.count - 1] += a[j]; j += 1 }
            }
        }
        self.init(height: height, width: width, counts: b)
    }

    /// The mask of a box `[x, y, w, h]` (`rleFrBbox`: the box as a polygon).
    public init(box bb: [Double], height: Int, width: Int) {
        let (xs, ys) = (bb[0], bb[1]), (xe, ye) = (bb[0] + bb[2], bb[1] + bb[3])
        self.init(polygon: [xs, ys, xs, ye, xe, ye, xe, ys], height: height, width: width)
    }

    /// COCO's compressed `counts` string (`rleToString`: LEB128-like, 6 bits a character,
    /// deltas from index 3 on).
    public var compressedString: String {
        var bytes: [UInt8] = []
        for i in counts.indices {
            var x = Int(counts[i])
            if i > 2 { x -= Int(counts[i - 2]) }
            var more = true
            while more {
                var c = UInt8(x & 0x1f)
                x >>= 5
                more = (c & 0x10) != 0 ? x != -1 : x != 0
                if more { c |= 0x20 }
                bytes.append(c + 48)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Decodes a compressed `counts` string (`rleFrString`). Nil if a character is outside
    /// the alphabet (48...111).
    public init?(compressed s: String, height: Int, width: Int) {
        var counts: [UInt32] = []
        let chars = Array(s.utf8)
        var p = 0
        while p < chars.count {
            var x = 0, k = 0, more = true
            while more {
                guard p < chars.count, chars[p] >= 48, chars[p] < 112 else { return nil }
                let c = Int(chars[p]) - 48
                x |= (c & 0x1f) << (5 * k)
                more = (c & 0x20) != 0
                p += 1
                k += 1
                if !more && (c & 0x10) != 0 { x |= -1 << (5 * k) }
            }
            if counts.count > 2 { x += Int(counts[counts.count - 2]) }
            counts.append(UInt32(truncatingIfNeeded: x))
        }
        self.init(height: height, width: width, counts: counts)
    }
}

/// C's `(int)` conversion of a double as x86-64 performs it (the COCO API's compiled
/// behaviour): truncation, and INT_MIN for NaN or values outside the int range (a degenerate
/// polygon edge computes 0/0).
@inline(__always)
func cInt(_ d: Double) -> Int {
    guard d.isFinite, d > -2147483649, d < 2147483648 else { return Int(Int32.min) }
    return Int(Int32(d))
}

/// IoU of a detection with a ground truth as the COCO API computes it: over the union, or,
/// for a crowd ground truth, over the detection's own area. Boxes are `[x, y, w, h]`.
public func boxIoU(_ d: [Double], _ g: [Double], crowd: Bool) -> Double {
    let w = min(d[2] + d[0], g[2] + g[0]) - max(d[0], g[0])
    if w <= 0 { return 0 }
    let h = min(d[3] + d[1], g[3] + g[1]) - max(d[1], g[1])
    if h <= 0 { return 0 }
    let i = w * h
    let u = crowd ? d[2] * d[3] : d[2] * d[3] + g[2] * g[3] - i
    return i / u
}

/// Mask IoU (`rleIou`): boxes first (0 when they do not overlap), then the runs; −1 for masks of
/// different sizes. `dBox`/`gBox` are the masks' bounding boxes.
public func maskIoU(_ d: RLE, _ g: RLE, crowd: Bool, dBox: [Double], gBox: [Double]) -> Double {
    if boxIoU(dBox, gBox, crowd: crowd) <= 0 { return 0 }
    if d.height != g.height || d.width != g.width { return -1 }
    var ca = d.counts[0], cb = g.counts[0]
    var va = false, vb = false
    var a = 1, b = 1
    var i: UInt32 = 0, u: UInt32 = 0, ct: UInt32 = 1
    while ct > 0 {
        let c = min(ca, cb)
        if va || vb { u &+= c; if va && vb { i &+= c } }
        ct = 0
        ca -= c
        if ca == 0 && a < d.counts.count { ca = d.counts[a]; a += 1; va.toggle() }
        ct &+= ca
        cb -= c
        if cb == 0 && b < g.counts.count { cb = g.counts[b]; b += 1; vb.toggle() }
        ct &+= cb
    }
    if i == 0 { u = 1 } else if crowd { u = UInt32(d.area) }
    return Double(i) / Double(u)
}
