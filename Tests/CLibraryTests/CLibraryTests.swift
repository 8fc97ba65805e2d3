import CPNG
import CTurboJPEG
import CZlib
import XCTest

/// The C libraries the data pipeline builds on link and work: a round trip through each.
final class CLibraryTests: XCTestCase {
    func testZlibRoundTrip() {
        let input = [UInt8]((0..<10_000).map { UInt8($0 % 7) })
        var compressedSize = compressBound(uLong(input.count))
        var compressed = [UInt8](repeating: 0, count: Int(compressedSize))
        XCTAssertEqual(compress2(&compressed, &compressedSize, input, uLong(input.count), 6), Z_OK)
        XCTAssertLessThan(Int(compressedSize), input.count / 10)
        var outSize = uLong(input.count)
        var output = [UInt8](repeating: 0, count: input.count)
        XCTAssertEqual(uncompress(&output, &outSize, compressed, compressedSize), Z_OK)
        XCTAssertEqual(output, input)
    }

    func testLibPNGVersion() {
        let version = String(cString: png_get_libpng_ver(nil))
        XCTAssertTrue(version.hasPrefix("1.6"), version)
    }

    func testTurboJPEGRoundTrip() throws {
        let (w, h) = (16, 8)
        let rgb = [UInt8]((0..<(w * h * 3)).map { UInt8(($0 / 3 % w) * 16) })
        let compressor = try XCTUnwrap(tjInitCompress())
        defer { tjDestroy(compressor) }
        var jpeg: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        XCTAssertEqual(tjCompress2(compressor, rgb, Int32(w), 0, Int32(h), Int32(TJPF_RGB.rawValue), &jpeg, &size,
                                   Int32(TJSAMP_444.rawValue), 95, 0), 0)
        defer { tjFree(jpeg) }
        let decompressor = try XCTUnwrap(tjInitDecompress())
        defer { tjDestroy(decompressor) }
        var out = [UInt8](repeating: 0, count: w * h * 3)
        XCTAssertEqual(tjDecompress2(decompressor, jpeg, size, &out, Int32(w), 0, Int32(h), Int32(TJPF_RGB.rawValue), 0), 0)
        let maxError = zip(out, rgb).map { abs(Int($0) - Int($1)) }.max()!
        XCTAssertLessThanOrEqual(maxError, 8)
    }
}
