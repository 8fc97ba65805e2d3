import Foundation
import XCTest
import Autograd
@testable import HDF5
import Core

final class HDF5FileTests: XCTestCase {
    let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/h5py_params.h5").path

    func temporaryPath(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hdf5tests-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    func testReadsWhatH5pyWrote() throws {
        let file = try HDF5File(fixture)
        XCTAssertEqual(try file.datasetNames(), ["classes", "extra/nested/table", "image", "layers.0.bias",
                                                 "layers.0.weight", "layers.1.bias", "layers.1.weight", "scalar"])
        let w = try file.readFloats("layers.0.weight")     // deflate + shuffle
        XCTAssertEqual(w.shape, [6, 4])
        XCTAssertEqual(w.values, (0..<24).map { Float($0) / 8 })
        XCTAssertEqual(try file.readFloats("layers.0.bias").values, [0.5, -1.25, 2.0, 0.0, 3.5, -0.125])
        XCTAssertEqual(try file.readDoubles("extra/nested/table").values, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(try file.readInt64s("classes").values, [3, -7, 1 << 40])
        let image = try file.readBytes("image")
        XCTAssertEqual(image.shape, [2, 3, 4])
        XCTAssertEqual(image.values, (0..<24).map { UInt8($0) })
        let scalar = try file.readFloats("scalar")
        XCTAssertEqual(scalar.shape, [])
        XCTAssertEqual(scalar.values, [2.5])
        XCTAssertTrue(file.contains("extra/nested"))
        XCTAssertFalse(file.contains("extra/missing"))
    }

    func testErrorsNameTheFileAndTheObject() throws {
        let file = try HDF5File(fixture)
        XCTAssertThrowsError(try file.readFloats("classes")) { error in
            XCTAssertTrue("\(error)".contains("h5py_params.h5: classes:"), "\(error)")   // int64 is not read as float
        }
        XCTAssertThrowsError(try file.readBytes("classes"))                           // 8-byte ints do not fit a byte
        XCTAssertThrowsError(try file.readFloats("layers.9.weight")) { error in
            XCTAssertEqual((error as? HDF5Error)?.object, "layers.9.weight")
        }
        XCTAssertThrowsError(try HDF5File("/nonexistent/x.h5")) { XCTAssertTrue("\($0)".contains("no such file"), "\($0)") }
        let notHDF5 = temporaryPath("plain.txt")
        try "hello".write(toFile: notHDF5, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try HDF5File(notHDF5)) { XCTAssertTrue("\($0)".contains("not a readable HDF5 file"), "\($0)") }
    }

    func testRoundTripAllTypes() throws {
        let path = temporaryPath("roundtrip.h5")
        try HDF5File.writeAtomically(to: path) { f in
            try f.write("a/b/floats", floats: [1, -2.5, 3e-8, .greatestFiniteMagnitude], shape: [2, 2], deflate: 4)
            try f.write("bytes", bytes: [0, 255, 7], shape: [3])
            try f.write("ints", int64s: [Int64.min, 0, Int64.max], shape: [3, 1])
            try f.write("empty", floats: [], shape: [0, 5])
            try f.write("scalar", floats: [7], shape: [])
            XCTAssertThrowsError(try f.write("bytes", bytes: [1], shape: [1]))            // exists
            XCTAssertThrowsError(try f.write("bad", floats: [1, 2], shape: [3]))          // count vs shape
        }
        let f = try HDF5File(path)
        XCTAssertEqual(try f.readFloats("a/b/floats").values, [1, -2.5, 3e-8, .greatestFiniteMagnitude])
        XCTAssertEqual(try f.readBytes("bytes").values, [0, 255, 7])
        XCTAssertEqual(try f.readInt64s("ints").shape, [3, 1])
        XCTAssertEqual(try f.readInt64s("ints").values, [Int64.min, 0, Int64.max])
        XCTAssertEqual(try f.readFloats("empty").shape, [0, 5])
        XCTAssertEqual(try f.readFloats("scalar").values, [7])
    }

    func testFailedAtomicWriteKeepsTheOldFile() throws {
        let path = temporaryPath("keep.h5")
        try HDF5File.writeAtomically(to: path) { try $0.write("x", floats: [1], shape: [1]) }
        struct Boom: Error {}
        XCTAssertThrowsError(try HDF5File.writeAtomically(to: path) { f in
            try f.write("x", floats: [2], shape: [1])
            throw Boom()
        })
        XCTAssertEqual(try HDF5File(path).readFloats("x").values, [1])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent)
            .filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
    }

    func testParameterFileRoundTrip() throws {
        let path = temporaryPath("arrays.h5")
        try ParameterFile.save([("a.weight", [2, 3], (0..<6).map(Float.init)), ("a.bias", [2], [1, -1])], to: path)
        let (arrays, stored) = try ParameterFile.load(path, names: ["a.weight", "a.bias", "missing"])
        XCTAssertEqual(Set(stored), ["a.weight", "a.bias"])
        XCTAssertEqual(arrays["a.weight"]?.shape, [2, 3])
        XCTAssertEqual(arrays["a.weight"]?.values, (0..<6).map(Float.init))
        XCTAssertEqual(arrays["a.bias"]?.values, [1, -1])
        XCTAssertNil(arrays["missing"])
    }
}
