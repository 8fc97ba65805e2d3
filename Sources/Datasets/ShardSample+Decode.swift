import Images

extension ShardSample {
    /// The decoded RGB image (HWC, row-major).
    public func decodeImage(encoding: ImageEncoding) throws -> Image8 {
        switch encoding {
        case .raw:
            return Image8(width: width, height: height, channels: channels, pixels: image)
        case .png:
            let decoded = try PNG.decode(image, mode: .rgb)
            guard decoded.width == width, decoded.height == height else {
                throw ImageError(file: "<shard image>", message: "the PNG is \(decoded.width)x\(decoded.height), the shard says \(width)x\(height)")
            }
            return decoded
        case .jpeg:
            let decoded = try JPEG.decode(image)
            guard decoded.width == width, decoded.height == height else {
                throw ImageError(file: "<shard image>", message: "the JPEG is \(decoded.width)x\(decoded.height), the shard says \(width)x\(height)")
            }
            return decoded
        }
    }
}
