import XCTest
@testable import Autograd
import TestSupport

final class ElementwiseGradTests: XCTestCase {
    func testBinaryOpsSameShape() {
        let a = param([2, 3], 1), b = param([2, 3], 2, low: 0.5, high: 2)
        checkGradients([a, b]) { $0[0] + $0[1] }
        checkGradients([a, b]) { $0[0] - $0[1] }
        checkGradients([a, b]) { $0[0] * $0[1] }
        checkGradients([a, b]) { $0[0] / $0[1] }
    }

    func testBinaryOpsBroadcast() {
        // Row vector, column, size-1 middle axis, rank extension, scalar tensor.
        let x = param([2, 3, 4], 3)
        let shapes: [[Int]] = [[4], [3, 1], [2, 1, 4], [1, 3, 1], [], [1]]
        for (i, s) in shapes.enumerated() {
            let y = param(s, UInt64(10 + i), low: 0.5, high: 2)
            checkGradients([x, y]) { $0[0] + $0[1] }
            checkGradients([x, y]) { $0[1] - $0[0] }
            checkGradients([x, y]) { $0[0] * $0[1] }
            checkGradients([x, y]) { $0[0] / $0[1] }
        }
        // Both sides broadcast.
        let c = param([3, 1], 20), r = param([1, 4], 21, low: 0.5, high: 2)
        checkGradients([c, r]) { $0[0] * $0[1] }
        checkGradients([c, r]) { $0[0] / $0[1] }
    }

    func testBroadcastValues() {
        let a = Tensor(shape: [2, 1], data: [1, 2])
        let b = Tensor(shape: [3], data: [10, 20, 30])
        XCTAssertEqual((a + b).shape, [2, 3])
        XCTAssertEqual((a + b).data, [11, 21, 31, 12, 22, 32])
        XCTAssertEqual((a * b).data, [10, 20, 30, 20, 40, 60])
    }

    func testBroadcastMismatchIsAnErrorNamingBothShapes() {
        XCTAssertThrowsError(try broadcastShape([2, 3], [4], op: "add")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("add") && text.contains("[2, 3]") && text.contains("[4]"), text)
        }
        XCTAssertEqual(try broadcastShape([5, 1, 3], [4, 1], op: "mul"), [5, 4, 3])
    }

    func testScalarOps() {
        let x = param([3, 2], 4)
        checkGradients([x]) { $0[0] + 1.5 }
        checkGradients([x]) { 2 - $0[0] }
        checkGradients([x]) { $0[0] * -3 }
        checkGradients([x]) { $0[0] / 4 }
        checkGradients([x]) { -$0[0] }
    }

    func testUnaryFunctions() {
        let x = param([2, 5], 5, low: -3, high: 3)
        let pos = param([2, 5], 6, low: 0.2, high: 3)
        let kinked = awayFromZero([2, 5], 7, gap: 0.05)
        checkGradients([x]) { $0[0].exp() }
        checkGradients([pos]) { $0[0].log() }
        checkGradients([x]) { $0[0].sigmoid() }
        checkGradients([kinked]) { $0[0].relu() }
        checkGradients([x]) { $0[0].tanh() }
        checkGradients([x]) { $0[0].gelu() }
        checkGradients([pos]) { $0[0].sqrt() }
        checkGradients([kinked]) { $0[0].abs() }
        checkGradients([x]) { $0[0].square() }
        checkGradients([x]) { $0[0].logSigmoid() }
        checkGradients([x]) { $0[0].softplus() }
        checkGradients([pos]) { $0[0].pow(1.7) }
        let around = Tensor(shape: [2, 4], data: [-0.9, -0.62, -0.3, 0.1, 0.35, 0.6, 0.8, -0.05], requiresGrad: true)
        checkGradients([around]) { $0[0].clamp(min: -0.5, max: 0.5) }
    }

    func testStableFunctionsInTheTails() {
        let x = Tensor(shape: [4], data: [-100, -30, 30, 100])
        XCTAssertEqual(x.logSigmoid().data, [-100, -30, -9.357623e-14, 0], accuracy: 1e-6)
        XCTAssertEqual(x.softplus().data, [0, 9.357623e-14, 30, 100], accuracy: 1e-6)
        XCTAssertEqual(x.sigmoid().data, [0, 9.357623e-14, 1, 1], accuracy: 1e-6)
        XCTAssertFalse(x.logSigmoid().data.contains { !$0.isFinite })
    }

    func testLargeElementwiseMatchesSerialResult() {
        // Large enough to run on both cores; the values must not depend on the split.
        let n = 200_000
        let a = Tensor(shape: [n], data: (0..<n).map { Float($0 % 97) * 0.01 })
        let b = Tensor(shape: [n], data: (0..<n).map { Float($0 % 13) * 0.1 + 1 })
        let y = (a * b + a.exp()).data
        for i in stride(from: 0, to: n, by: 997) {
            XCTAssertEqual(y[i], a.data[i] * b.data[i] + expf(a.data[i]), accuracy: 1e-5)
        }
    }
}

func XCTAssertEqual(_ a: [Float], _ b: [Float], accuracy: Float, file: StaticString = #filePath, line: UInt = #line) {
    assertClose(a, b, atol: accuracy, rtol: 0, "", file: file, line: line)
}
