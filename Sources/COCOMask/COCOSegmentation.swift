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
        let size = try c.decode([Int].self, forKey: .size)
        guard size.count == 2 else {
            throw DecodingError.dataCorruptedError(forKey: .size, in: c, debugDescription: "size must be [height, width]")
        }
        if let s = try? c.decode(String.self, forKey: .counts) {
            self = .compressed(height: size[0], width: size[1], counts: s)
        } else {
            self = .uncompressed(height: size[0], width: size[1], counts: try c.decode([Double].self, forKey: .counts))
        }
    }
}

/// A segmentation as an RLE (`COCO.annToRLE`): polygons merged, uncompressed or compressed
/// RLE as given. As pycocotools, a polygon list whose first entry has exactly 4 numbers is read
/// as boxes.
public func rleOf(_ s: COCOSegmentation, height: Int, width: Int, file: String, item: String) throws -> RLE {
    switch s {
    case .polygons(let lists):
        guard let first = lists.first, first.count >= 4 else { throw InputError(file, "\(item): empty or too short polygon") }
        if first.count == 4 { return RLE.merge(lists.map { RLE(box: $0, height: height, width: width) }) }
        if lists.contains(where: { $0.count % 2 != 0 || $0.count < 6 }) {
            throw InputError(file, "\(item): a polygon needs an even number (>= 6) of coordinates")
        }
        return RLE.merge(lists.map { RLE(polygon: $0, height: height, width: width) })
    case .compressed(let h, let w, let counts):
        guard let rle = RLE(compressed: counts, height: h, width: w) else { throw InputError(file, "\(item): invalid compressed RLE counts") }
        let total = rle.counts.reduce(0) { $0 + Int($1) }
        guard total == h * w else { throw InputError(file, "\(item): RLE counts add up to \(total), not \(h)x\(w)") }
        return rle
    case .uncompressed(let h, let w, let counts):
        guard counts.allSatisfy({ $0 >= 0 && $0 == $0.rounded() }) else { throw InputError(file, "\(item): RLE counts must be non-negative integers") }
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
    if let s = dict["counts"] as? String {
        return try rleOf(.compressed(height: Int(size[0]), width: Int(size[1]), counts: s), height: height, width: width, file: file, item: item)
    }
    guard let counts = (dict["counts"] as? [Any])?.compactMap(number) else { throw InputError(file, "\(item): RLE without counts") }
    return try rleOf(.uncompressed(height: Int(size[0]), width: Int(size[1]), counts: counts), height: height, width: width, file: file, item: item)
}
