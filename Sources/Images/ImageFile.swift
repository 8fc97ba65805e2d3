import Core
import Foundation

/// Image files as the model reads them: JPEG or PNG by their first bytes (not their names),
/// decoded to 8-bit RGB (grayscale expanded, alpha dropped, CMYK JPEGs as Pillow reads them).
public enum ImageFile {
    /// The file extensions `train predict` picks from a folder.
    public static let extensions: Set<String> = ["jpg", "jpeg", "png", "jpe"]

    public static func read(_ path: String) throws -> Image8 {
        guard let data = FileManager.default.contents(atPath: path) else { throw InputError(path, "cannot be read") }
        let bytes = [UInt8](data)
        do {
            if bytes.starts(with: [0xFF, 0xD8]) { return try JPEG.decode(bytes, name: path) }
            if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return try PNG.decode(bytes, mode: .rgb, name: path) }
        } catch let error as ImageError {
            throw InputError(path, error.message)
        }
        throw InputError(path, bytes.isEmpty ? "is empty" : "is neither a JPEG nor a PNG file")
    }
}
