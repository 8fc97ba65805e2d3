import CTurboJPEG

/// JPEG through libjpeg-turbo's TurboJPEG API (errors are return codes, safe from Swift).
public enum JPEG {
    /// Decodes JPEG bytes to 8-bit RGB.
    public static func decode(_ bytes: [UInt8], name: String = "<memory>") throws -> Image8 {
        guard let handle = tjInitDecompress() else { throw ImageError(file: name, message: "cannot start the JPEG decoder") }
        defer { tjDestroy(handle) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = bytes.withUnsafeBufferPointer {
            tjDecompressHeader3(handle, $0.baseAddress, UInt(bytes.count), &width, &height, &subsampling, &colorspace)
        }
        guard header == 0, width > 0, height > 0 else { throw ImageError(file: name, message: "not a readable JPEG (\(lastError(handle)))") }
        guard Int(width) * Int(height) <= Image8.maxPixels else {
            throw ImageError(file: name, message: "the JPEG claims \(width)x\(height) pixels (at most \(Image8.maxPixels))")
        }
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * 3)
        let ok = bytes.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(handle, src.baseAddress, UInt(bytes.count), dst.baseAddress, width, 0, height, Int32(TJPF_RGB.rawValue), 0)
            }
        }
        guard ok == 0 else { throw ImageError(file: name, message: "cannot decode the JPEG (\(lastError(handle)))") }
        return Image8(width: Int(width), height: Int(height), channels: 3, pixels: pixels)
    }

    /// Encodes an RGB image as JPEG at `quality` (1-100), 4:2:0 chroma subsampling.
    public static func encode(_ image: Image8, quality: Int = 90) throws -> [UInt8] {
        guard image.channels == 3 else { throw ImageError(file: "<memory>", message: "JPEG encoding needs RGB, not \(image.channels) channels") }
        guard let handle = tjInitCompress() else { throw ImageError(file: "<memory>", message: "cannot start the JPEG encoder") }
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let ok = image.pixels.withUnsafeBufferPointer {
            tjCompress2(handle, $0.baseAddress, Int32(image.width), 0, Int32(image.height), Int32(TJPF_RGB.rawValue),
                        &buffer, &size, Int32(TJSAMP_420.rawValue), Int32(max(1, min(100, quality))), 0)
        }
        defer { tjFree(buffer) }
        guard ok == 0, let buffer else { throw ImageError(file: "<memory>", message: "cannot encode the JPEG (\(lastError(handle)))") }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
    }

    private static func lastError(_ handle: tjhandle) -> String {
        guard let message = tjGetErrorStr2(handle) else { return "unknown error" }
        return String(cString: message)
    }
}
