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
        if colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue) {
            return try decodeCMYK(bytes, handle: handle, width: Int(width), height: Int(height), name: name)
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

    /// A CMYK (or YCCK) JPEG as RGB, as Pillow reads it: values inverted when the file carries
    /// Adobe's APP14 marker (Photoshop stores CMYK inverted), then R = (255 − C)(255 − K)/255
    /// rounded as Pillow's `MULDIV255` (and G, B from M, Y).
    static func decodeCMYK(_ bytes: [UInt8], handle: tjhandle, width: Int, height: Int, name: String) throws -> Image8 {
        var cmyk = [UInt8](repeating: 0, count: width * height * 4)
        let ok = bytes.withUnsafeBufferPointer { src in
            cmyk.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(handle, src.baseAddress, UInt(bytes.count), dst.baseAddress, Int32(width), 0, Int32(height), Int32(TJPF_CMYK.rawValue), 0)
            }
        }
        guard ok == 0 else { throw ImageError(file: name, message: "cannot decode the CMYK JPEG (\(lastError(handle)))") }
        let inverted = hasAdobeMarker(bytes)
        func muldiv255(_ a: Int, _ b: Int) -> Int { let t = a * b + 128; return ((t >> 8) + t) >> 8 }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for p in 0..<(width * height) {
            var v = (Int(cmyk[4 * p]), Int(cmyk[4 * p + 1]), Int(cmyk[4 * p + 2]), Int(cmyk[4 * p + 3]))
            if inverted { v = (255 - v.0, 255 - v.1, 255 - v.2, 255 - v.3) }
            let nk = 255 - v.3
            pixels[3 * p] = UInt8(nk - muldiv255(v.0, nk))
            pixels[3 * p + 1] = UInt8(nk - muldiv255(v.1, nk))
            pixels[3 * p + 2] = UInt8(nk - muldiv255(v.2, nk))
        }
        return Image8(width: width, height: height, channels: 3, pixels: pixels)
    }

    /// Whether the JPEG's header segments include Adobe's APP14 ("Adobe") marker.
    static func hasAdobeMarker(_ bytes: [UInt8]) -> Bool {
        var i = 2
        while i + 4 <= bytes.count, bytes[i] == 0xFF {
            let marker = bytes[i + 1]
            if marker == 0xDA || marker == 0xD9 { return false }       // start of scan, end of image
            let length = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            if marker == 0xEE, i + 9 <= bytes.count, Array(bytes[(i + 4)..<(i + 9)]) == Array("Adobe".utf8) { return true }
            guard length >= 2 else { return false }
            i += 2 + length
        }
        return false
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
