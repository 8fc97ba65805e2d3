import Foundation
import XCTest
import Autograd
import Core
@testable import Trainer

/// Weights files from modules: round trip, strict and lenient loading of h5py's file.
final class ModuleWeightsTests: XCTestCase {
    let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("HDF5Tests/Fixtures/h5py_params.h5").path

    func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("weights-\(getpid())-\(name)").path
    }

    func testParameterFileRoundTripAndStrictLoading() throws {
        var rng = SeededRNG(seed: 1)
        let a = MLP(input: 4, hidden: 6, output: 2, layers: 2, rng: &rng)
        let b = MLP(input: 4, hidden: 6, output: 2, layers: 2, rng: &rng)
        XCTAssertNotEqual(a.layers[0].weight.data, b.layers[0].weight.data)
        let path = temporaryPath("mlp.h5")
        try a.saveWeights(to: path)
        try b.loadWeights(from: path)
        for (pa, pb) in zip(a.parameters, b.parameters) { XCTAssertEqual(pa.data, pb.data) }

        // h5py's file has the same four parameters plus other datasets.
        XCTAssertThrowsError(try b.loadWeights(from: fixture)) { error in
            XCTAssertTrue("\(error)".contains("is not a parameter"), "\(error)")
        }
        try b.loadWeights(from: fixture, strict: false)
        XCTAssertEqual(b.layers[0].weight.data, (0..<24).map { Float($0) / 8 })
        XCTAssertEqual(b.layers[1].bias!.data, [1, -1])

        // A wrong shape names the parameter and changes nothing.
        let c = MLP(input: 4, hidden: 5, output: 2, layers: 2, rng: &rng)
        let before = c.layers[0].weight.data
        XCTAssertThrowsError(try c.loadWeights(from: path)) { error in
            XCTAssertTrue("\(error)".contains("layers.0.weight"), "\(error)")
        }
        XCTAssertEqual(c.layers[0].weight.data, before)
    }
}
