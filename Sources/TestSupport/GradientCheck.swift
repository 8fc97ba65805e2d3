import Autograd
import XCTest
import Core

/// Central-difference gradient check shared by the test suites. `f` maps the inputs to any
/// tensor; the check projects it to a scalar with fixed random weights (so every output element
/// matters), computes analytical gradients with the tape, and compares them with
/// `(L(x + eps) − L(x − eps)) / 2eps`, accumulated in Double. A failure names the input, the
/// element, both values and the tolerance.
public func checkGradients(_ inputs: [Tensor], eps: Float = 1e-2, atol: Float = 2e-3, rtol: Float = 2e-2,
                           file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) -> Tensor) {
    var rng = SeededRNG(seed: 1234)
    let out = f(inputs)
    let weights = Tensor.uniform(out.shape, low: -1, high: 1, rng: &rng)
    for x in inputs { x.zeroGrad() }
    (out * weights).sum().backward()

    func loss() -> Double {
        let y = withoutGrad { f(inputs) }
        var s: Double = 0
        for (a, w) in zip(y.data, weights.data) { s += Double(a) * Double(w) }
        return s
    }
    for (k, x) in inputs.enumerated() where x.requiresGrad {
        guard let analytic = x.grad else {
            XCTFail("input \(k) (shape \(x.shape)) received no gradient", file: file, line: line)
            continue
        }
        var failures = 0
        for i in 0..<x.count {
            let saved = x.data[i]
            x.data[i] = saved + eps
            let up = loss()
            x.data[i] = saved - eps
            let down = loss()
            x.data[i] = saved
            let numeric = Float((up - down) / (2 * Double(eps)))
            let err = abs(numeric - analytic[i])
            if err > atol + rtol * abs(numeric) {
                failures += 1
                if failures <= 3 {
                    XCTFail("input \(k) shape \(x.shape) element \(i) (value \(saved)): analytic \(analytic[i]), numeric \(numeric), tolerance \(atol) + \(rtol)·|numeric|",
                            file: file, line: line)
                }
            }
        }
    }
}

/// A leaf with values uniform in [low, high), requiring a gradient.
public func param(_ shape: [Int], _ seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    var rng = SeededRNG(seed: seed)
    return .uniform(shape, low: low, high: high, rng: &rng, requiresGrad: true)
}

/// Values away from 0 by at least `gap` (for kinks such as relu, abs and max).
public func awayFromZero(_ shape: [Int], _ seed: UInt64, gap: Float = 0.1) -> Tensor {
    var rng = SeededRNG(seed: seed)
    let v = (0..<elementCount(shape)).map { _ -> Float in
        let u = rng.nextUniform()
        let m = gap + (1 - gap) * rng.nextUniform()
        return u < 0.5 ? -m : m
    }
    return Tensor(shape: shape, data: v, requiresGrad: true)
}

/// Elementwise |a − b| <= atol + rtol·|b|; reports the first three misses.
public func assertClose(_ a: [Float], _ b: [Float], atol: Float = 1e-5, rtol: Float = 1e-5, _ what: String = "",
                        file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(what): \(a.count) values vs \(b.count)", file: file, line: line)
    var failures = 0
    for i in 0..<min(a.count, b.count) where !(abs(a[i] - b[i]) <= atol + rtol * abs(b[i])) {
        failures += 1
        if failures <= 3 {
            XCTFail("\(what)[\(i)]: got \(a[i]), expected \(b[i]) (atol \(atol), rtol \(rtol))", file: file, line: line)
        }
    }
}
