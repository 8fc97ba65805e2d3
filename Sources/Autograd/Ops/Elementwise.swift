/// Elementwise ops: broadcasting arithmetic, scalar arithmetic and the unary functions.
/// Each op's backward rule is written in its pullback, right below its forward.

// MARK: - Broadcasting binary arithmetic

extension Tensor {
    /// Forward of a broadcasting binary op.
    @inline(__always)
    static func broadcastForward(_ a: Tensor, _ b: Tensor, op: String,
                                 _ f: (Float, Float) -> Float) -> (shape: [Int], values: [Float], plan: BroadcastPlan?) {
        if a.shape == b.shape {
            return (a.shape, zipValues(a.data, b.data, f), nil)
        }
        let shape = checked { try broadcastShape(a.shape, b.shape, op: op) }
        let plan = BroadcastPlan(shape: shape, a: a.shape, b: b.shape)
        var out = [Float](repeating: 0, count: elementCount(shape))
        a.data.withUnsafeBufferPointer { ap in
            b.data.withUnsafeBufferPointer { bp in
                out.withUnsafeMutableBufferPointer { op in
                    let ab = ap.baseAddress!, bb = bp.baseAddress!, ob = op.baseAddress!
                    Parallel.forRanges(plan.rows, costPerElement: plan.inner) { rows in
                        plan.forRows(rows) { o, n, ai, aStep, bi, bStep in
                            for j in 0..<n { ob[o + j] = f(ab[ai + j * aStep], bb[bi + j * bStep]) }
                        }
                    }
                }
            }
        }
        return (shape, out, plan)
    }

    /// For each output element, `f(g, a, b)` with the operands broadcast; then summed back to
    /// `shape` (the shape of the operand whose gradient this is).
    @inline(__always)
    static func broadcastBackward(_ g: [Float], _ a: Tensor, _ b: Tensor, plan: BroadcastPlan?, to shape: [Int],
                                  _ f: (Float, Float, Float) -> Float) -> [Float] {
        guard let plan else { return zipValues(g, a.data, b.data, f) }
        var full = [Float](repeating: 0, count: g.count)
        g.withUnsafeBufferPointer { gp in
            a.data.withUnsafeBufferPointer { ap in
                b.data.withUnsafeBufferPointer { bp in
                    full.withUnsafeMutableBufferPointer { op in
                        let gb = gp.baseAddress!, ab = ap.baseAddress!, bb = bp.baseAddress!, ob = op.baseAddress!
                        Parallel.forRanges(plan.rows, costPerElement: plan.inner) { rows in
                            plan.forRows(rows) { o, n, ai, aStep, bi, bStep in
                                for j in 0..<n { ob[o + j] = f(gb[o + j], ab[ai + j * aStep], bb[bi + j * bStep]) }
                            }
                        }
                    }
                }
            }
        }
        return reduceGradient(full, from: plan.shape, to: shape)
    }

    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let (shape, values, _) = broadcastForward(a, b, op: "add") { $0 + $1 }
        return record("add", shape: shape, data: values, inputs: [a, b]) { g, needs in
            [needs[0] ? reduceGradient(g, from: shape, to: a.shape) : nil,
             needs[1] ? reduceGradient(g, from: shape, to: b.shape) : nil]
        }
    }

    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let (shape, values, _) = broadcastForward(a, b, op: "sub") { $0 - $1 }
        return record("sub", shape: shape, data: values, inputs: [a, b]) { g, needs in
            [needs[0] ? reduceGradient(g, from: shape, to: a.shape) : nil,
             needs[1] ? reduceGradient(mapValues(g) { -$0 }, from: shape, to: b.shape) : nil]
        }
    }

    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let (shape, values, plan) = broadcastForward(a, b, op: "mul") { $0 * $1 }
        return record("mul", shape: shape, data: values, inputs: [a, b]) { g, needs in
            [needs[0] ? broadcastBackward(g, a, b, plan: plan, to: a.shape) { g, _, y in g * y } : nil,
             needs[1] ? broadcastBackward(g, a, b, plan: plan, to: b.shape) { g, x, _ in g * x } : nil]
        }
    }

    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let (shape, values, plan) = broadcastForward(a, b, op: "div") { $0 / $1 }
        return record("div", shape: shape, data: values, inputs: [a, b]) { g, needs in
            [needs[0] ? broadcastBackward(g, a, b, plan: plan, to: a.shape) { g, _, y in g / y } : nil,
             needs[1] ? broadcastBackward(g, a, b, plan: plan, to: b.shape) { g, x, y in -g * x / (y * y) } : nil]
        }
    }
}

// MARK: - Unary functions and scalar arithmetic

extension Tensor {
    /// A unary op whose backward needs the input `x` and/or the output `y`:
    /// `dx = derivative(g, x, y)`.
    @inline(__always)
    func unary(_ op: String, cost: Int = 1, _ f: (Float) -> Float,
               derivative: @escaping (_ g: Float, _ x: Float, _ y: Float) -> Float) -> Tensor {
        let x = data
        let y = mapValues(x, costPerElement: cost, f)
        return Tensor.record(op, shape: shape, data: y, inputs: [self]) { g, _ in
            [zipValues(g, x, y, derivative)]
        }
    }

    public static prefix func - (x: Tensor) -> Tensor {
        x.unary("neg", { -$0 }) { g, _, _ in -g }
    }

    public static func + (x: Tensor, s: Float) -> Tensor { x.unary("add_scalar", { $0 + s }) { g, _, _ in g } }
    public static func + (s: Float, x: Tensor) -> Tensor { x + s }
    public static func - (x: Tensor, s: Float) -> Tensor { x + (-s) }
    public static func - (s: Float, x: Tensor) -> Tensor { x.unary("rsub_scalar", { s - $0 }) { g, _, _ in -g } }
    public static func * (x: Tensor, s: Float) -> Tensor { x.unary("mul_scalar", { $0 * s }) { g, _, _ in g * s } }
    public static func * (s: Float, x: Tensor) -> Tensor { x * s }
    public static func / (x: Tensor, s: Float) -> Tensor { x * (1 / s) }

    public func exp() -> Tensor { unary("exp", cost: 8, fexp) { g, _, y in g * y } }
    public func log() -> Tensor { unary("log", cost: 8, flog) { g, x, _ in g / x } }
    public func sigmoid() -> Tensor { unary("sigmoid", cost: 8, fsigmoid) { g, _, y in g * y * (1 - y) } }
    public func relu() -> Tensor { unary("relu", { Swift.max($0, 0) }) { g, x, _ in x > 0 ? g : 0 } }
    public func tanh() -> Tensor { unary("tanh", cost: 8, ftanh) { g, _, y in g * (1 - y * y) } }
    public func sqrt() -> Tensor { unary("sqrt", { $0.squareRoot() }) { g, _, y in g * 0.5 / y } }
    public func abs() -> Tensor { unary("abs", { Swift.abs($0) }) { g, x, _ in x > 0 ? g : (x < 0 ? -g : 0) } }
    public func square() -> Tensor { unary("square", { $0 * $0 }) { g, x, _ in 2 * g * x } }

    /// log(sigmoid(x)) = -softplus(-x), stable for large |x|.
    public func logSigmoid() -> Tensor {
        unary("log_sigmoid", cost: 8, { -fsoftplus(-$0) }) { g, x, _ in g * fsigmoid(-x) }
    }

    /// log(1 + exp(x)), stable for large |x|.
    public func softplus() -> Tensor {
        unary("softplus", cost: 8, fsoftplus) { g, x, _ in g * fsigmoid(x) }
    }

    /// `x^p` for a constant exponent.
    public func pow(_ p: Float) -> Tensor {
        unary("pow", cost: 8, { powf($0, p) }) { g, x, _ in g * p * powf(x, p - 1) }
    }

    /// Values limited to `[low, high]`; the gradient passes where the value was inside.
    public func clamp(min low: Float = -.infinity, max high: Float = .infinity) -> Tensor {
        unary("clamp", { Swift.min(Swift.max($0, low), high) }) { g, x, _ in (x >= low && x <= high) ? g : 0 }
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
