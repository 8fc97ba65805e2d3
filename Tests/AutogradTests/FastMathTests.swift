import Foundation
import XCTest
@testable import Autograd

final class FastMathTests: XCTestCase {
    /// Distance in units in the last place between two finite floats of the same sign.
    func ulps(_ a: Float, _ b: Float) -> Int {
        if a == b { return 0 }
        return abs(Int(Int32(bitPattern: a.bitPattern)) - Int(Int32(bitPattern: b.bitPattern)))
    }

    func testExpWithinTwoUlpOfLibm() {
        var worst = 0
        var x: Float = -87
        while x < 88.37 {
            let reference = Float(Foundation.exp(Double(x)))
            if reference.isNormal { worst = max(worst, ulps(fastExp(x), reference)) }
            x += 0.00731
        }
        XCTAssertLessThanOrEqual(worst, 2)
        XCTAssertEqual(fastExp(0), 1)
        XCTAssertEqual(fastExp(-100), 0)
        XCTAssertEqual(fastExp(100), .infinity)
        XCTAssertEqual(fastExp(.infinity), .infinity)
        XCTAssertEqual(fastExp(-.infinity), 0)
        XCTAssertTrue(fastExp(.nan).isNaN)
    }

    func testLogWithinTwoUlpOfLibm() {
        var worst = 0
        var x: Float = 1e-37
        while x < 1e37 {
            worst = max(worst, ulps(fastLog(x), Float(Foundation.log(Double(x)))))
            x *= 1.0137
        }
        for x in stride(from: Float(0.5), to: 2, by: 0.0001) {
            worst = max(worst, ulps(fastLog(x), Float(Foundation.log(Double(x)))))
        }
        XCTAssertLessThanOrEqual(worst, 2)
        XCTAssertEqual(fastLog(1), 0)
        XCTAssertEqual(fastLog(0), -.infinity)
        XCTAssertTrue(fastLog(-1).isNaN)
        XCTAssertTrue(fastLog(.nan).isNaN)
        XCTAssertEqual(fastLog(.infinity), .infinity)
        XCTAssertEqual(fastLog(1e-40), Float(Foundation.log(1e-40)), accuracy: 1e-4)   // denormal
    }

    func testSoftplusAndSigmoidAccuracy() {
        var worstSoftplus: Double = 0, worstSigmoid: Double = 0
        for i in -20000...20000 {
            let x = Float(i) * 0.005
            let sp = Foundation.log1p(Foundation.exp(-abs(Double(x)))) + max(Double(x), 0)
            worstSoftplus = max(worstSoftplus, abs(Double(fastSoftplus(x)) - sp) / max(sp, 1e-30))
            let sg = 1 / (1 + Foundation.exp(-Double(x)))
            worstSigmoid = max(worstSigmoid, abs(Double(fastSigmoid(x)) - sg) / max(sg, 1e-30))
        }
        XCTAssertLessThan(worstSoftplus, 5e-7)
        XCTAssertLessThan(worstSigmoid, 5e-7)
        XCTAssertEqual(fastSoftplus(-200), 0)
        XCTAssertEqual(fastSigmoid(-200), 0)
        XCTAssertEqual(fastSigmoid(200), 1)
        XCTAssertEqual(fastSoftplus(.infinity), .infinity)
        XCTAssertEqual(fastSoftplus(-.infinity), 0)
        XCTAssertTrue(fastSoftplus(.nan).isNaN)
    }
}
