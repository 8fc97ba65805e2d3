import CPNG
import Core
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An 8-bit image: `channels` interleaved values per pixel, row-major.
public struct Image8: Equatable, Sendable {
    /// The largest image the decoders accept (2^28 pixels, 768 MB as RGB): a file's header can
    /// claim any size, and is checked before anything is allocated.
    public static let maxPixels = 1 << 28
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * channels,
                     "Image8: \(pixels.count) values for \(width)x\(height)x\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }
}

public struct ImageError: LocatedError, Equatable {
    public let file: String
    public let message: String
    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }
    public var location: String { file }
    public var problem: String { message }
}

/// PNG reading and writing through libpng's simplified API (which reports errors as values,
/// never by longjmp, so it is safe to call from Swift).
public enum PNG {
    /// How to read the stored pixels.
    public enum Mode {
        /// Single-channel values: 8-bit grayscale as is, palette images as their palette indices
        /// (as PIL's "L" and "P" modes give them: a label map's class ids).
        case labels
        /// RGB: 8-bit RGB as is, RGBA with the alpha dropped.
        case rgb
    }

    /// Reads `path`. 16-bit, grayscale-with-alpha files and (for `.rgb`) single-channel files
    /// are errors that name the file and the stored format.
    public static func read(_ path: String, mode: Mode) throws -> Image8 {
        var image = png_image()
        image.version = uniseg_png_image_version()
        guard FileManager.default.fileExists(atPath: path) else { throw ImageError(file: path, message: "no such file") }
        guard png_image_begin_read_from_file(&image, path) != 0 else {
            defer { png_image_free(&image) }
            throw ImageError(file: path, message: "not a readable PNG (\(message(of: image)))")
        }
        defer { png_image_free(&image) }
        let stored = image.format
        let isLinear = stored & UInt32(PNG_FORMAT_FLAG_LINEAR) != 0
        let isColor = stored & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
        let hasAlpha = stored & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
        let isPalette = stored & UInt32(PNG_FORMAT_FLAG_COLORMAP) != 0
        if isLinear { throw ImageError(file: path, message: "16-bit PNGs are not supported (8-bit expected)") }
        let (w, h) = (Int(image.width), Int(image.height))
        switch mode {
        case .labels:
            if isPalette {
                // Palette indices: read color-mapped (libpng keeps a palette file's indices).
                image.format = uniseg_png_format_rgb_colormap()
                var pixels = [UInt8](repeating: 0, count: w * h)
                var colormap = [UInt8](repeating: 0, count: 256 * 4)
                try finish(&image, &pixels, colormap: &colormap, path: path)
                return Image8(width: w, height: h, channels: 1, pixels: pixels)
            }
            guard !isColor, !hasAlpha else {
                throw ImageError(file: path, message: "a label map must be single-channel (grayscale or palette), found \(describe(stored))")
            }
            image.format = uniseg_png_format_gray()
            var pixels = [UInt8](repeating: 0, count: w * h)
            var none: [UInt8] = []
            try finish(&image, &pixels, colormap: &none, path: path)
            return Image8(width: w, height: h, channels: 1, pixels: pixels)
        case .rgb:
            guard isColor, !isPalette else {
                throw ImageError(file: path, message: "an RGB PNG is expected, found \(describe(stored))")
            }
            image.format = hasAlpha ? uniseg_png_format_rgba() : uniseg_png_format_rgb()
            let c = hasAlpha ? 4 : 3
            var pixels = [UInt8](repeating: 0, count: w * h * c)
            var none: [UInt8] = []
            try finish(&image, &pixels, colormap: &none, path: path)
            if hasAlpha {
                var rgb = [UInt8](repeating: 0, count: w * h * 3)
                for i in 0..<(w * h) { for k in 0..<3 { rgb[i * 3 + k] = pixels[i * 4 + k] } }
                pixels = rgb
            }
            return Image8(width: w, height: h, channels: 3, pixels: pixels)
        }
    }

    /// Decodes PNG bytes held in memory (RGB: 3 channels, RGBA's alpha dropped; gray: 1).
    public static func decode(_ bytes: [UInt8], mode: Mode, name: String = "<memory>") throws -> Image8 {
        var image = png_image()
        image.version = uniseg_png_image_version()
        let ok = bytes.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard ok != 0 else {
            defer { png_image_free(&image) }
            throw ImageError(file: name, message: "not a readable PNG (\(message(of: image)))")
        }
        defer { png_image_free(&image) }
        let (w, h) = (Int(image.width), Int(image.height))
        guard w > 0, h > 0, w * h <= Image8.maxPixels else {
            throw ImageError(file: name, message: "the PNG claims \(w)x\(h) pixels (at most \(Image8.maxPixels))")
        }
        let isColor = image.format & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
        switch mode {
        case .rgb:
            image.format = uniseg_png_format_rgb()
            var pixels = [UInt8](repeating: 0, count: w * h * 3)
            var none: [UInt8] = []
            try finish(&image, &pixels, colormap: &none, path: name)
            _ = isColor
            return Image8(width: w, height: h, channels: 3, pixels: pixels)
        case .labels:
            image.format = uniseg_png_format_gray()
            var pixels = [UInt8](repeating: 0, count: w * h)
            var none: [UInt8] = []
            try finish(&image, &pixels, colormap: &none, path: name)
            return Image8(width: w, height: h, channels: 1, pixels: pixels)
        }
    }

    /// Encodes an 8-bit gray (1 channel) or RGB (3 channels) image as PNG bytes.
    public static func encode(_ img: Image8) throws -> [UInt8] {
        guard img.channels == 1 || img.channels == 3 else {
            throw ImageError(file: "<memory>", message: "only 1- or 3-channel images are encoded, not \(img.channels)")
        }
        var image = png_image()
        image.version = uniseg_png_image_version()
        image.width = UInt32(img.width)
        image.height = UInt32(img.height)
        image.format = img.channels == 1 ? uniseg_png_format_gray() : uniseg_png_format_rgb()
        defer { png_image_free(&image) }
        var size: Int = 0
        let sized = img.pixels.withUnsafeBytes { png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, 0, nil) }
        guard sized != 0 else { throw ImageError(file: "<memory>", message: "cannot encode the PNG (\(message(of: image)))") }
        var out = [UInt8](repeating: 0, count: size)
        let ok = out.withUnsafeMutableBytes { o in
            img.pixels.withUnsafeBytes { png_image_write_to_memory(&image, o.baseAddress, &size, 0, $0.baseAddress, 0, nil) }
        }
        guard ok != 0 else { throw ImageError(file: "<memory>", message: "cannot encode the PNG (\(message(of: image)))") }
        return Array(out.prefix(size))
    }

    private static func finish(_ image: inout png_image, _ pixels: inout [UInt8], colormap: inout [UInt8], path: String) throws {
        let ok = pixels.withUnsafeMutableBytes { p in
            colormap.withUnsafeMutableBytes { c in
                png_image_finish_read(&image, nil, p.baseAddress, 0, c.isEmpty ? nil : c.baseAddress)
            }
        }
        guard ok != 0 else { throw ImageError(file: path, message: "cannot decode the PNG (\(message(of: image)))") }
    }

    /// Writes an 8-bit grayscale (1 channel) or RGB (3 channels) PNG through a temporary file
    /// and a rename.
    public static func write(_ img: Image8, to path: String) throws {
        guard img.channels == 1 || img.channels == 3 else {
            throw ImageError(file: path, message: "only 1- or 3-channel images are written, not \(img.channels)")
        }
        var image = png_image()
        image.version = uniseg_png_image_version()
        image.width = UInt32(img.width)
        image.height = UInt32(img.height)
        image.format = img.channels == 1 ? uniseg_png_format_gray() : uniseg_png_format_rgb()
        defer { png_image_free(&image) }
        try AtomicFile.write(to: path) { tmp in
            let ok = img.pixels.withUnsafeBytes { p in png_image_write_to_file(&image, tmp, 0, p.baseAddress, 0, nil) }
            guard ok != 0 else { throw ImageError(file: path, message: "cannot write the PNG (\(message(of: image)))") }
        }
    }

    private static func message(of image: png_image) -> String {
        withUnsafeBytes(of: image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private static func describe(_ format: UInt32) -> String {
        var parts: [String] = []
        parts.append(format & UInt32(PNG_FORMAT_FLAG_COLORMAP) != 0 ? "palette" : (format & UInt32(PNG_FORMAT_FLAG_COLOR) != 0 ? "RGB" : "grayscale"))
        if format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0 { parts.append("with alpha") }
        return parts.joined(separator: " ")
    }
}
