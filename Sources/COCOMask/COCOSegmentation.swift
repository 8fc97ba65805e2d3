import Core
import Foundation

/// A segmentation as COCO writes it: polygons, or an RLE with `size` and `counts` (a string,
/// compressed, or a list, uncompressed).
public enum COCOSegmentation: Decodable {
    case polygons([[Double]])
    case compressed(height: Int, width: Int, counts: String)
    case uncompressed(height: Int, width: Int, counts: [Double])

    private enum Keys: String, CodingKey { case size, counts }

    public init(from decoder: Decoder) throws {
        if let polygons = try? decoder.singleValueContainer().decode([[Double]].self) {
            self = .polygons(polygons)
            return
        }
        let c = try decoder.container(keyedBy: Keys.self)
        let sides = try c.decode([Double].self, forKey: .size)
        guard sides.count == 2, sides.allSatisfy({ $0.isFinite && $0 >= 1 && $0 <= Double(COCOLimits.maxSide) && $0 == $0.rounded() }) else {
            throw DecodingError.dataCorruptedError(forKey: .size, in: c, debugDescription: "size must be [height, width], whole numbers from 1 to \(COCOLimits.maxSide)")
        }
        let size = sides.map { Int($0) }
        if let s = try? c.decode(String.self, forKey: .counts) {
            self = .compressed(height: size[0], width: size[1], counts: s)
        } else {
            self = .uncompressed(height: size[0], width: size[1], counts: try c.decode([Double].self, forKey: .counts))
        }
    }
}

/// What the mask API accepts before it allocates or rasterises anything: sides up to 2^16
/// pixels, 2^30 pixels a mask, polygon and box coordinates finite and within 4 image sides of
/// the image (farther points make the rasteriser walk, and allocate, without bound).
public enum COCOLimits {
    public static let maxSide = 1 << 16
    public static let maxPixels = 1 << 30

    /// `height` x `width` as a mask size, or an error naming what is wrong.
    public static func checkSize(height: Double, width: Double, file: String, item: String) throws -> (height: Int, width: Int) {
        guard height.isFinite, width.isFinite, height == height.rounded(), width == width.rounded(), height >= 1, width >= 1,
              height <= Double(maxSide), width <= Double(maxSide), height * width <= Double(maxPixels) else {
            throw InputError(file, "\(item): size \(height) x \(width) is not a mask size (whole numbers, 1...\(maxSide) a side, \(maxPixels) pixels at most)")
        }
        return (Int(height), Int(width))
    }

    /// Polygon or box coordinates of an image `height` x `width`, checked.
    public static func checkCoordinates(_ values: [Double], height: Int, width: Int, file: String, item: String) throws {
        let bound = 4 * Double(max(height, width)) + 16
        if let bad = values.first(where: { !$0.isFinite || abs($0) > bound }) {
            throw InputError(file, "\(item): coordinate \(bad) is not finite or lies far outside the \(height)x\(width) image (|x| <= \(Int(bound)))")
        }
    }
}

/// A segmentation as an RLE (`COCO.annToRLE`): polygons merged, uncompressed or compressed
/// RLE as given. As pycocotools, a polygon list whose first entry has exactly 4 numbers is read
/// as boxes. Sizes, counts and coordinates are checked first (`COCOLimits`).
public func rleOf(_ s: COCOSegmentation, height: Int, width: Int, file: String, item: String) throws -> RLE {
    switch s {
    case .polygons(let lists):
        guard let first = lists.first, first.count >= 4 else { throw InputError(file, "\(item): empty or too short polygon") }
        for list in lists { try COCOLimits.checkCoordinates(list, height: height, width: width, file: file, item: item) }
        if first.count == 4 { return RLE.merge(lists.map { RLE(box: $0, height: height, width: width) }) }
        if lists.contains(where: { $0.count % 2 != 0 || $0.count < 6 }) {
            throw InputError(file, "\(item): a polygon needs an even number (>= 6) of coordinates")
        }
        return RLE.merge(lists.map { RLE(polygon: $0, height: height, width: width) })
    case .compressed(let h, let w, let counts):
        let (h, w) = try COCOLimits.checkSize(height: Double(h), width: Double(w), file: file, item: item)
        guard counts.utf8.count <= 6 * COCOLimits.maxPixels / 5, let rle = RLE(compressed: counts, height: h, width: w) else {
            throw InputError(file, "\(item): invalid compressed RLE counts")
        }
        let total = rle.counts.reduce(0) { $0 + Int($1) }
        guard total == h * w else { throw InputError(file, "\(item): RLE counts add up to \(total), not \(h)x\(w)") }
        return rle
    case .uncompressed(let h, let w, let counts):
        let (h, w) = try COCOLimits.checkSize(height: Double(h), width: Double(w), file: file, item: item)
        guard counts.allSatisfy({ $0 >= 0 && $0 == $0.rounded() && $0 <= Double(h * w) }) else {
            throw InputError(file, "\(item): RLE counts must be whole numbers from 0 to \(h)x\(w)")
        }
        let rle = RLE(height: h, width: w, counts: counts.map { UInt32($0) })
        guard rle.counts.reduce(0, { $0 + Int($1) }) == h * w else { throw InputError(file, "\(item): RLE counts do not add up to \(h)x\(w)") }
        return rle
    }
}

/// A COCO segmentation given as parsed JSON (polygons, or an RLE with `size` and `counts`) as
/// an RLE, with the rules of `COCO.annToRLE`. For converters that read JSON generically.
public func rleFromCOCOSegmentation(_ value: Any, height: Int, width: Int, file: String, item: String) throws -> RLE {
    func number(_ v: Any) -> Double? { (v as? NSNumber)?.doubleValue }
    if let lists = value as? [Any] {
        let polygons = try lists.map { p -> [Double] in
            guard let coords = p as? [Any] else { throw InputError(file, "\(item): a polygon must be a list of numbers") }
            let values = coords.compactMap(number)
            guard values.count == coords.count else { throw InputError(file, "\(item): a polygon must be a list of numbers") }
            return values
        }
        return try rleOf(.polygons(polygons), height: height, width: width, file: file, item: item)
    }
    guard let dict = value as? [String: Any], let size = (dict["size"] as? [Any])?.compactMap(number), size.count == 2 else {
        throw InputError(file, "\(item): segmentation must be polygons or an RLE with size and counts")
    }
    let (h, w) = try COCOLimits.checkSize(height: size[0], width: size[1], file: file, item: item)
    if let s = dict["counts"] as? String {
        return try rleOf(.compressed(height: h, width: w, counts: s), height: height, width: width, file: file, item: item)
    }
    guard let counts = (dict["counts"] as? [Any])?.compactMap(number) else { throw InputError(file, "\(item): RLE without counts") }
    return try rleOf(.uncompressed(height: h, width: w, counts: counts), height: height, width: width, file: file, item: item)
}
