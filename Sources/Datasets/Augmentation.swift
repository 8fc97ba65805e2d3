import Autograd
import Images
import Core

/// A decoded sample: the image and its annotations in pixels of that image.
public struct DecodedSample: Sendable {
    public var image: Image8
    /// 1 where the image is real, 0 where augmentation padded it.
    public var valid: [UInt8]
    public var semantic: [UInt16]?
    public var panoptic: [UInt32]?
    public var segments: [ShardSegment]
    public var labels: [Int32]?
    public var ignoreLabel: UInt16
    /// Instance masks (row-major, one per segment, in segment order), decoded from the shard's
    /// run-length counts.
    public var instanceMasks: [[UInt8]]?

    public init(_ s: ShardSample, encoding: ImageEncoding, ignoreLabel: Int = 255) throws {
        image = try s.decodeImage(encoding: encoding)
        valid = [UInt8](repeating: 1, count: s.height * s.width)
        semantic = s.semantic
        panoptic = s.panoptic
        segments = s.segments
        labels = s.labels
        self.ignoreLabel = UInt16(ignoreLabel)
        if s.segments.contains(where: { $0.rle != nil }) {
            let (h, w) = (s.height, s.width)
            instanceMasks = s.segments.map { seg in
                // COCO counts are column-major runs starting with zeros.
                var mask = [UInt8](repeating: 0, count: h * w)
                var position = 0, value: UInt8 = 0
                for run in seg.rle ?? [] {
                    if value == 1 { for i in position..<min(position + Int(run), h * w) { mask[(i % h) * w + i / h] = 1 } }
                    position += Int(run)
                    value ^= 1
                }
                return mask
            }
            for i in segments.indices { segments[i].rle = nil }
        }
    }
}

/// Per-dataset augmentation, as Detectron2's large-scale jitter: resize by a random scale so the
/// image fits `size`·scale, then a random `size` x `size` crop (padded where the image is
/// smaller), a random horizontal flip, and colour jitter — applied consistently to the image,
/// label maps, panoptic maps and boxes.
public struct AugmentationConfig: Equatable, Codable, Sendable {
    /// Output side (square crops).
    public var size: Int = 128
    public var minScale: Double = 0.5
    public var maxScale: Double = 1.5
    public var horizontalFlip: Bool = true
    /// Brightness, contrast and saturation each scaled by a factor in [1 − j, 1 + j]; 0 = off.
    public var colorJitter: Double = 0.2
    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case size, minScale = "min_scale", maxScale = "max_scale", horizontalFlip = "horizontal_flip", colorJitter = "color_jitter"
    }


    /// No randomness: the image resized to fit `size` and padded (evaluation).
    public static func evaluation(size: Int) -> AugmentationConfig {
        var c = AugmentationConfig()
        c.size = size
        c.minScale = 1
        c.maxScale = 1
        c.horizontalFlip = false
        c.colorJitter = 0
        return c
    }
}

public enum Augmentation {
    /// Applies `config` with randomness from `rng`.
    public static func apply(_ sample: DecodedSample, _ config: AugmentationConfig, rng: inout SeededRNG) -> DecodedSample {
        var s = sample
        let (h, w) = (s.image.height, s.image.width)
        let scale = config.minScale + (config.maxScale - config.minScale) * Double(rng.nextUniform())
        let factor = scale * min(Double(config.size) / Double(h), Double(config.size) / Double(w))
        let (nh, nw) = (max(1, Int((Double(h) * factor).rounded())), max(1, Int((Double(w) * factor).rounded())))
        s = resize(s, height: nh, width: nw)
        let y0 = nh > config.size ? rng.nextInt(below: nh - config.size + 1) : 0
        let x0 = nw > config.size ? rng.nextInt(below: nw - config.size + 1) : 0
        s = crop(s, y0: y0, x0: x0, height: config.size, width: config.size)
        if config.horizontalFlip && rng.nextUniform() < 0.5 { s = flip(s) }
        if config.colorJitter > 0 { s.image = jitter(s.image, config.colorJitter, rng: &rng) }
        return s
    }

    /// Bilinear resize of the image (align_corners false), nearest of the maps, boxes scaled.
    public static func resize(_ s: DecodedSample, height nh: Int, width nw: Int) -> DecodedSample {
        let (h, w) = (s.image.height, s.image.width)
        if (h, w) == (nh, nw) { return s }
        var out = s
        let sy = Double(h) / Double(nh), sx = Double(w) / Double(nw)
        var pixels = [UInt8](repeating: 0, count: nh * nw * 3)
        for y in 0..<nh {
            let fy = max((Double(y) + 0.5) * sy - 0.5, 0)
            let y0 = min(Int(fy), h - 1), y1 = min(y0 + 1, h - 1), ly = fy - Double(y0)
            for x in 0..<nw {
                let fx = max((Double(x) + 0.5) * sx - 0.5, 0)
                let x0 = min(Int(fx), w - 1), x1 = min(x0 + 1, w - 1), lx = fx - Double(x0)
                for c in 0..<3 {
                    let v = (1 - ly) * ((1 - lx) * Double(s.image.pixels[(y0 * w + x0) * 3 + c]) + lx * Double(s.image.pixels[(y0 * w + x1) * 3 + c]))
                        + ly * ((1 - lx) * Double(s.image.pixels[(y1 * w + x0) * 3 + c]) + lx * Double(s.image.pixels[(y1 * w + x1) * 3 + c]))
                    pixels[(y * nw + x) * 3 + c] = UInt8(max(0, min(255, v.rounded())))
                }
            }
        }
        out.image = Image8(width: nw, height: nh, channels: 3, pixels: pixels)
        func nearest<T>(_ map: [T]) -> [T] {
            (0..<(nh * nw)).map { i in
                let y = min(Int(Double(i / nw) * sy), h - 1), x = min(Int(Double(i % nw) * sx), w - 1)
                return map[y * w + x]
            }
        }
        out.valid = nearest(s.valid)
        out.instanceMasks = s.instanceMasks.map { $0.map(nearest) }
        out.semantic = s.semantic.map(nearest)
        out.panoptic = s.panoptic.map(nearest)
        out.segments = s.segments.map { seg in
            var t = seg
            t.bbox = [seg.bbox[0] / Float(sx), seg.bbox[1] / Float(sy), seg.bbox[2] / Float(sx), seg.bbox[3] / Float(sy)]
            t.area = Int64((Double(seg.area) / (sx * sy)).rounded())
            t.rle = nil
            return t
        }
        return out
    }

    /// The `height` x `width` window at (y0, x0); outside the image: black pixels, ignore labels,
    /// void ids, invalid. Boxes are shifted and clipped; boxes left empty are dropped.
    public static func crop(_ s: DecodedSample, y0: Int, x0: Int, height ch: Int, width cw: Int) -> DecodedSample {
        let (h, w) = (s.image.height, s.image.width)
        var out = s
        var pixels = [UInt8](repeating: 0, count: ch * cw * 3)
        var valid = [UInt8](repeating: 0, count: ch * cw)
        var semantic = s.semantic.map { _ in [UInt16](repeating: s.ignoreLabel, count: ch * cw) }
        var panoptic = s.panoptic.map { _ in [UInt32](repeating: 0, count: ch * cw) }
        for y in 0..<ch where y + y0 < h {
            for x in 0..<cw where x + x0 < w {
                let src = (y + y0) * w + (x + x0), dst = y * cw + x
                for c in 0..<3 { pixels[dst * 3 + c] = s.image.pixels[src * 3 + c] }
                valid[dst] = s.valid[src]
                if let m = s.semantic { semantic![dst] = m[src] }
                if let m = s.panoptic { panoptic![dst] = m[src] }
            }
        }
        out.image = Image8(width: cw, height: ch, channels: 3, pixels: pixels)
        out.valid = valid
        out.semantic = semantic
        out.panoptic = panoptic
        out.instanceMasks = s.instanceMasks.map { masks in
            masks.map { m in
                var c = [UInt8](repeating: 0, count: ch * cw)
                for y in 0..<ch where y + y0 < h { for x in 0..<cw where x + x0 < w { c[y * cw + x] = m[(y + y0) * w + (x + x0)] } }
                return c
            }
        }
        var keptMasks: [[UInt8]] = []
        out.segments = s.segments.enumerated().compactMap { index, seg in
            let xa = max(seg.bbox[0] - Float(x0), 0), ya = max(seg.bbox[1] - Float(y0), 0)
            let xb = min(seg.bbox[0] + seg.bbox[2] - Float(x0), Float(min(cw, w - x0))), yb = min(seg.bbox[1] + seg.bbox[3] - Float(y0), Float(min(ch, h - y0)))
            guard xb > xa, yb > ya else { return nil }
            var t = seg
            t.bbox = [xa, ya, xb - xa, yb - ya]
            t.rle = nil
            if let masks = out.instanceMasks {
                keptMasks.append(masks[index])
                t.area = Int64(masks[index].reduce(0) { $0 + Int($1) })
            }
            return t
        }
        if out.instanceMasks != nil { out.instanceMasks = keptMasks }
        if let ids = panoptic {
            // Panoptic segments: keep those still visible, with their new areas and boxes.
            var area: [UInt32: Int] = [:]
            for id in ids where id != 0 { area[id, default: 0] += 1 }
            out.segments = s.segments.compactMap { seg in
                guard let a = area[UInt32(bitPattern: seg.id)] else { return nil }
                var t = seg
                t.area = Int64(a)
                t.bbox = boundingBox(of: UInt32(bitPattern: seg.id), in: ids, width: cw)
                t.rle = nil
                return t
            }
        }
        return out
    }

    static func boundingBox(of id: UInt32, in ids: [UInt32], width: Int) -> [Float] {
        var x0 = Int.max, y0 = Int.max, x1 = -1, y1 = -1
        for (i, v) in ids.enumerated() where v == id {
            let x = i % width, y = i / width
            x0 = min(x0, x); y0 = min(y0, y); x1 = max(x1, x); y1 = max(y1, y)
        }
        return x1 < 0 ? [0, 0, 0, 0] : [Float(x0), Float(y0), Float(x1 - x0 + 1), Float(y1 - y0 + 1)]
    }

    /// Mirror left-right.
    public static func flip(_ s: DecodedSample) -> DecodedSample {
        let (h, w) = (s.image.height, s.image.width)
        var out = s
        func mirror<T>(_ m: [T], _ c: Int) -> [T] {
            var r = m
            for y in 0..<h { for x in 0..<w { for k in 0..<c { r[(y * w + x) * c + k] = m[(y * w + (w - 1 - x)) * c + k] } } }
            return r
        }
        out.image.pixels = mirror(s.image.pixels, 3)
        out.valid = mirror(s.valid, 1)
        out.semantic = s.semantic.map { mirror($0, 1) }
        out.panoptic = s.panoptic.map { mirror($0, 1) }
        out.instanceMasks = s.instanceMasks.map { $0.map { mirror($0, 1) } }
        out.segments = s.segments.map { seg in
            var t = seg
            t.bbox[0] = Float(w) - seg.bbox[0] - seg.bbox[2]
            t.rle = nil
            return t
        }
        return out
    }

    /// Brightness, contrast and saturation, each by a factor in [1 − j, 1 + j], in random order.
    static func jitter(_ image: Image8, _ j: Double, rng: inout SeededRNG) -> Image8 {
        var v = image.pixels.map { Double($0) }
        let n = image.width * image.height
        var ops = [0, 1, 2]
        for i in stride(from: 2, to: 0, by: -1) { ops.swapAt(i, rng.nextInt(below: i + 1)) }
        for op in ops {
            let f = 1 + (2 * Double(rng.nextUniform()) - 1) * j
            switch op {
            case 0: for i in v.indices { v[i] *= f }
            case 1:
                let mean = v.reduce(0, +) / Double(v.count)
                for i in v.indices { v[i] = mean + (v[i] - mean) * f }
            default:
                for p in 0..<n {
                    let gray = 0.299 * v[3 * p] + 0.587 * v[3 * p + 1] + 0.114 * v[3 * p + 2]
                    for c in 0..<3 { v[3 * p + c] = gray + (v[3 * p + c] - gray) * f }
                }
            }
        }
        return Image8(width: image.width, height: image.height, channels: 3, pixels: v.map { UInt8(max(0, min(255, $0.rounded()))) })
    }
}
