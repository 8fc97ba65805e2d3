import Core
/// Elementwise ops. Each op is a small struct with its forward (`value`) and its backward
/// (`gradient`) side by side; the generic drivers below run them over whole tensors.
/// Generics (not closures) carry the function into the parallel loops, so the compiler
/// specialises every loop for its op: no call per element.

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A function of one value.
protocol UnaryFunction {
    static var name: String { get }
    /// Relative cost per element (1 for arithmetic, 8 for a libm call), for parallel splitting.
    static var cost: Int { get }
    func value(_ x: Float) -> Float
    /// dL/dx given dL/dy = `g` at input `x` and output `y`.
    func gradient(_ g: Float, x: Float, y: Float) -> Float
}

extension UnaryFunction {
    static var cost: Int { 1 }
}

/// A function of two values, broadcast (NumPy rules) over two tensors.
protocol BinaryFunction {
    static var name: String { get }
    func value(_ a: Float, _ b: Float) -> Float
    /// dL/da and dL/db given dL/dy = `g`.
    func gradientA(_ g: Float, a: Float, b: Float) -> Float
    func gradientB(_ g: Float, a: Float, b: Float) -> Float
    /// When both gradients are constant multiples of `g` (add, sub): those multiples, so the
    /// backward pass is a plain reduction.
    static var constantGradientScales: (Float, Float)? { get }
}

extension BinaryFunction {
    static var constantGradientScales: (Float, Float)? { nil }
}

// MARK: - The ops

struct Add: BinaryFunction {
    static let name = "add"
    func value(_ a: Float, _ b: Float) -> Float { a + b }
    func gradientA(_ g: Float, a: Float, b: Float) -> Float { g }
    func gradientB(_ g: Float, a: Float, b: Float) -> Float { g }
    static var constantGradientScales: (Float, Float)? { (1, 1) }
}

struct Sub: BinaryFunction {
    static let name = "sub"
    func value(_ a: Float, _ b: Float) -> Float { a - b }
    func gradientA(_ g: Float, a: Float, b: Float) -> Float { g }
    func gradientB(_ g: Float, a: Float, b: Float) -> Float { -g }
    static var constantGradientScales: (Float, Float)? { (1, -1) }
}

struct Mul: BinaryFunction {
    static let name = "mul"
    func value(_ a: Float, _ b: Float) -> Float { a * b }
    func gradientA(_ g: Float, a: Float, b: Float) -> Float { g * b }
    func gradientB(_ g: Float, a: Float, b: Float) -> Float { g * a }
}

struct Div: BinaryFunction {
    static let name = "div"
    func value(_ a: Float, _ b: Float) -> Float { a / b }
    func gradientA(_ g: Float, a: Float, b: Float) -> Float { g / b }
    func gradientB(_ g: Float, a: Float, b: Float) -> Float { -g * a / (b * b) }
}

struct Neg: UnaryFunction {
    static let name = "neg"
    func value(_ x: Float) -> Float { -x }
    func gradient(_ g: Float, x: Float, y: Float) -> Float { -g }
}

struct AddScalar: UnaryFunction {
    static let name = "add_scalar"
    let s: Float
    func value(_ x: Float) -> Float { x + s }
    func gradient(_ g: Float, x: Float, y: Float) -> Float { g }
}

struct ScalarMinus: UnaryFunction {
    static let name = "rsub_scalar"
    let s: Float
    func value(_ x: Float) -> Float { s - x }
    func gradient(_ g: Float, x: Float, y: Float) -> Float { -g }
}

struct MulScalar: UnaryFunction {
    static let name = "mul_scalar"
    let s: Float
    func value(_ x: Float) -> Float { x * s }
    func gradient(_ g: Float, x: Float, y: Float) -> Float { g * s }
}

struct Exp: UnaryFunction {
    static let name = "exp", cost = 8
    func value(_ x: Float) -> Float { fastExp(x) }
    func gradient(_ g: Float, x: Float, y: Float) -> Float { g * y }
}

struct Log: UnaryFunction {
    static let name = "log", cost = 8
    func value(_ x: Float) -> Float { fastLog(x) }
    func gradient(_ g: Float, x: Float, y: Float) -> Float { g / x }
}

struct Sigmoid: UnaryFunction {
    static let name = "sigmoid", cost = 8
    func value(_ x: Float) -> Float { fsigmoid(x) }
    func gradient(_ g: Float, x: Float, y: Float) -> Float { g * y * (1 - y) }
}

struct ReLU: UnaryFunction {
    static let name = "relu"
    func value(_ x: Float) -> Float { x > 0 ? x : 0 }
    func gradient(_ g: Float, x: Float, y: Float) -> Float { x > 0 ? g : 0 }
}

struct Tanh: UnaryFunction {
    static let name = "tanh", cost = 8
    func value(_ x: Float) -> Float { tanhf(x) }
    func gradient(_ g: Float, x: Float, y: Float) -> Float { g * (1 - y * y) }
}

/// x·Φ(x) with the exact normal CDF Φ(x) = (1 + erf(x/√2))/2: PyTorch's default GELU, BERT's.
struct GELU: UnaryFunction {
    static let name = "gelu", cost = 8
    func value(_ x: Float) -> Float { 0.5 * x * (1 + erff(x * 0.70710678118654752)) }
    /// Φ(x) + x·φ(x), φ the normal density.
    func gradient(_ g: Float, x: Float, y: Float) -> Float {
        g * (0.5 * (1 + erff(x * 0.70710678118654752)) + x * 0.39894228040143268 * expf(-0.5 * x * x))
    }
}

struct Sqrt: UnaryFunction {
    static let name = "sqrt"
    func value(_ x: Float) -> Float { x.squareRoot() }
    func gradient(_ g: Float, x: Float, y: Float) -> Float { g * 0.5 / y }
}

struct Abs: UnaryFunction {
    static let name = "abs"
    func value(_ x: Float) -> Float { Swift.abs(x) }
    func gradient(_ g: Float, x: Float, y: Float) -> Float { x > 0 ? g : (x < 0 ? -g : 0) }
}

struct Square: UnaryFunction {
    static let name = "square"
    func value(_ x: Float) -> Float { x * x }
    func gradient(_ g: Float, x: Float, y: Float) -> Float { 2 * g * x }
}

/// log(sigmoid(x)) = −softplus(−x), stable for large |x|.
struct LogSigmoid: UnaryFunction {
    static let name = "log_sigmoid", cost = 8
    func value(_ x: Float) -> Float { -fsoftplus(-x) }
    func gradient(_ g: Float, x: Float, y: Float) -> Float { g * fsigmoid(-x) }
}

/// log(1 + exp(x)), stable for large |x|.
struct Softplus: UnaryFunction {
    static let name = "softplus", cost = 8
    func value(_ x: Float) -> Float { fsoftplus(x) }
    func gradient(_ g: Float, x: Float, y: Float) -> Float { g * fsigmoid(x) }
}

struct Pow: UnaryFunction {
    static let name = "pow", cost = 8
    let p: Float
    func value(_ x: Float) -> Float { powf(x, p) }
    func gradient(_ g: Float, x: Float, y: Float) -> Float { g * p * powf(x, p - 1) }
}

/// Limited to [low, high]; the gradient passes where the value was inside.
struct Clamp: UnaryFunction {
    static let name = "clamp"
    let low: Float, high: Float
    func value(_ x: Float) -> Float { Swift.min(Swift.max(x, low), high) }
    func gradient(_ g: Float, x: Float, y: Float) -> Float { (x >= low && x <= high) ? g : 0 }
}

// MARK: - Public API

extension Tensor {
    public static func + (a: Tensor, b: Tensor) -> Tensor { binary(Add(), a, b) }
    public static func - (a: Tensor, b: Tensor) -> Tensor { binary(Sub(), a, b) }
    public static func * (a: Tensor, b: Tensor) -> Tensor { binary(Mul(), a, b) }
    public static func / (a: Tensor, b: Tensor) -> Tensor { binary(Div(), a, b) }

    public static prefix func - (x: Tensor) -> Tensor { x.unary(Neg()) }
    public static func + (x: Tensor, s: Float) -> Tensor { x.unary(AddScalar(s: s)) }
    public static func + (s: Float, x: Tensor) -> Tensor { x.unary(AddScalar(s: s)) }
    public static func - (x: Tensor, s: Float) -> Tensor { x.unary(AddScalar(s: -s)) }
    public static func - (s: Float, x: Tensor) -> Tensor { x.unary(ScalarMinus(s: s)) }
    public static func * (x: Tensor, s: Float) -> Tensor { x.unary(MulScalar(s: s)) }
    public static func * (s: Float, x: Tensor) -> Tensor { x.unary(MulScalar(s: s)) }
    public static func / (x: Tensor, s: Float) -> Tensor { x.unary(MulScalar(s: 1 / s)) }

    public func exp() -> Tensor { unary(Exp()) }
    public func log() -> Tensor { unary(Log()) }
    public func sigmoid() -> Tensor { unary(Sigmoid()) }
    public func relu() -> Tensor { unary(ReLU()) }
    public func tanh() -> Tensor { unary(Tanh()) }
    /// The exact (erf) GELU.
    public func gelu() -> Tensor { unary(GELU()) }
    public func sqrt() -> Tensor { unary(Sqrt()) }
    public func abs() -> Tensor { unary(Abs()) }
    public func square() -> Tensor { unary(Square()) }
    /// log(sigmoid(x)), stable for large |x|.
    public func logSigmoid() -> Tensor { unary(LogSigmoid()) }
    /// log(1 + exp(x)), stable for large |x|.
    public func softplus() -> Tensor { unary(Softplus()) }
    /// `x^p` for a constant exponent.
    public func pow(_ p: Float) -> Tensor { unary(Pow(p: p)) }
    /// Values limited to `[low, high]`; the gradient passes where the value was inside.
    public func clamp(min low: Float = -.infinity, max high: Float = .infinity) -> Tensor {
        unary(Clamp(low: low, high: high))
    }
}

// MARK: - Drivers

extension Tensor {
    func unary<F: UnaryFunction>(_ f: F) -> Tensor {
        let x = data
        let y = x.withUnsafeBufferPointer { xp in
            makeValues(x.count, costPerElement: F.cost) { o, r in
                let xb = xp.baseAddress!
                for i in r { o[i] = f.value(xb[i]) }
            }
        }
        return Tensor.record(F.name, shape: shape, data: y, inputs: [self]) { g, _ in
            let dx = g.withUnsafeBufferPointer { gp in
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeBufferPointer { yp in
                        makeValues(g.count, costPerElement: F.cost) { o, r in
                            let gb = gp.baseAddress!, xb = xp.baseAddress!, yb = yp.baseAddress!
                            for i in r { o[i] = f.gradient(gb[i], x: xb[i], y: yb[i]) }
                        }
                    }
                }
            }
            return [dx]
        }
    }

    static func binary<F: BinaryFunction>(_ f: F, _ a: Tensor, _ b: Tensor) -> Tensor {
        let shape = a.shape == b.shape ? a.shape : checked { try broadcastShape(a.shape, b.shape, op: F.name) }
        let plan = BroadcastPlan(shape: shape, a: a.shape, b: b.shape)
        let values = forEachBroadcast(plan, nil, a.data, b.data, BinaryValue(f: f))
        return record(F.name, shape: shape, data: values, inputs: [a, b]) { g, needs in
            if let (sa, sb) = F.constantGradientScales {
                return [needs[0] ? reduceGradient(sa == 1 ? g : scaled(g, sa), from: shape, to: a.shape) : nil,
                        needs[1] ? reduceGradient(sb == 1 ? g : scaled(g, sb), from: shape, to: b.shape) : nil]
            }
            let da = needs[0] ? reduceGradient(forEachBroadcast(plan, g, a.data, b.data, BinaryGradientA(f: f)),
                                               from: shape, to: a.shape) : nil
            let db = needs[1] ? reduceGradient(forEachBroadcast(plan, g, a.data, b.data, BinaryGradientB(f: f)),
                                               from: shape, to: b.shape) : nil
            return [da, db]
        }
    }
}

/// What `forEachBroadcast` computes per element from (g, a, b). A generic value rather than a
/// closure: a closure called inside the parallel loop would not be specialised.
protocol ElementKernel {
    func callAsFunction(_ g: Float, _ a: Float, _ b: Float) -> Float
}

private struct BinaryValue<F: BinaryFunction>: ElementKernel {
    let f: F
    func callAsFunction(_ g: Float, _ a: Float, _ b: Float) -> Float { f.value(a, b) }
}

private struct BinaryGradientA<F: BinaryFunction>: ElementKernel {
    let f: F
    func callAsFunction(_ g: Float, _ a: Float, _ b: Float) -> Float { f.gradientA(g, a: a, b: b) }
}

private struct BinaryGradientB<F: BinaryFunction>: ElementKernel {
    let f: F
    func callAsFunction(_ g: Float, _ a: Float, _ b: Float) -> Float { f.gradientB(g, a: a, b: b) }
}

/// `body(g[e], a[e'], b[e''])` for each element `e` of `plan.shape`, with `g` (0 when absent)
/// laid out like the output and `a`, `b` read broadcast.
private func forEachBroadcast<K: ElementKernel>(_ plan: BroadcastPlan, _ g: [Float]?, _ a: [Float], _ b: [Float],
                                                _ body: K) -> [Float] {
    let n = elementCount(plan.shape)
    if n == 0 { return [] }
    return (g ?? []).withUnsafeBufferPointer { gp in
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                let gb = g == nil ? nil : gp.baseAddress, ab = ap.baseAddress!, bb = bp.baseAddress!
                if plan.aStrides == contiguousStrides(plan.shape) && plan.bStrides == plan.aStrides {
                    return makeValues(n) { o, r in
                        if let gb {
                            for i in r { o[i] = body(gb[i], ab[i], bb[i]) }
                        } else {
                            for i in r { o[i] = body(0, ab[i], bb[i]) }
                        }
                    }
                }
                var out = [Float](unsafeUninitializedCapacity: n) { _, c in c = n }
                out.withUnsafeMutableBufferPointer { op in
                    let o = op.baseAddress!
                    Parallel.forRanges(plan.rows, costPerElement: plan.inner) { rows in
                        plan.forRows(rows) { s, count, ai, aStep, bi, bStep in
                            // The common layouts get loops with constant operands hoisted.
                            if let gb {
                                for j in 0..<count { o[s + j] = body(gb[s + j], ab[ai + j * aStep], bb[bi + j * bStep]) }
                            } else if aStep == 1 && bStep == 0 {
                                let bv = bb[bi]
                                for j in 0..<count { o[s + j] = body(0, ab[ai + j], bv) }
                            } else if aStep == 0 && bStep == 1 {
                                let av = ab[ai]
                                for j in 0..<count { o[s + j] = body(0, av, bb[bi + j]) }
                            } else {
                                for j in 0..<count { o[s + j] = body(0, ab[ai + j * aStep], bb[bi + j * bStep]) }
                            }
                        }
                    }
                }
                return out
            }
        }
    }
}

/// `g · s`.
private func scaled(_ g: [Float], _ s: Float) -> [Float] {
    g.withUnsafeBufferPointer { gp in
        makeValues(g.count) { o, r in
            let gb = gp.baseAddress!
            for i in r { o[i] = gb[i] * s }
        }
    }
}
