/// Shapes are plain `[Int]` arrays, row-major (the last axis is contiguous).
/// This file holds the arithmetic on them and the errors every op reports.

/// A shape that an op cannot accept. The message names the op and every shape involved.
public struct ShapeError: Error, CustomStringConvertible, Equatable {
    public let op: String
    public let detail: String
    public init(op: String, _ detail: String) {
        self.op = op
        self.detail = detail
    }
    public var description: String { "\(op): \(detail)" }
}

/// Ops are called from model code that cannot sensibly recover from a shape bug, so an op
/// that receives an invalid shape stops with the message of its `ShapeError`. The shape rules
/// themselves are throwing functions (`broadcastShape`, `normalizeAxis`, ...) so that they can
/// be tested and used by code that wants to validate before calling.
@inline(never)
func shapeFailure(_ error: Error) -> Never {
    fatalError("shape error in \(error)")
}

@inline(__always)
func checked<T>(_ body: () throws -> T) -> T {
    do { return try body() } catch { shapeFailure(error) }
}

@inlinable
public func elementCount(_ shape: [Int]) -> Int {
    var n = 1
    for d in shape { n *= d }
    return n
}

/// Row-major strides of a contiguous tensor of `shape`.
@inlinable
public func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = s
        s *= shape[i]
    }
    return strides
}

/// A possibly negative axis turned into `0..<rank`.
public func normalizeAxis(_ axis: Int, rank: Int, op: String) throws -> Int {
    let a = axis < 0 ? axis + rank : axis
    guard a >= 0 && a < rank else {
        throw ShapeError(op: op, "axis \(axis) is out of range for rank \(rank)")
    }
    return a
}

/// NumPy / PyTorch broadcasting: shapes are aligned at their last axis; each pair of sizes
/// must be equal or one of them 1. Anything else is an error naming both shapes.
public func broadcastShape(_ a: [Int], _ b: [Int], op: String) throws -> [Int] {
    let rank = max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        if da == db || db == 1 {
            out[i] = da
        } else if da == 1 {
            out[i] = db
        } else {
            throw ShapeError(op: op, "shapes \(a) and \(b) cannot be broadcast together (axis \(i): \(da) vs \(db))")
        }
    }
    return out
}

/// Strides with which an operand of `shape` is read when broadcast to `target`
/// (0 on broadcast axes). `shape` must broadcast to `target`.
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let own = contiguousStrides(shape)
    var out = [Int](repeating: 0, count: target.count)
    let offset = target.count - shape.count
    for i in 0..<shape.count where shape[i] != 1 || target[i + offset] == 1 {
        out[i + offset] = shape[i] == 1 ? 0 : own[i]
    }
    return out
}

/// `reshape` with at most one `-1` inferred.
public func resolveReshape(_ from: [Int], _ to: [Int]) throws -> [Int] {
    let n = elementCount(from)
    var out = to
    let inferred = to.indices.filter { to[$0] == -1 }
    guard inferred.count <= 1, !to.contains(where: { $0 < -1 }) else {
        throw ShapeError(op: "reshape", "invalid target shape \(to) for \(from)")
    }
    if let i = inferred.first {
        let known = to.enumerated().reduce(1) { $1.offset == i ? $0 : $0 * $1.element }
        guard known > 0, n % known == 0 else {
            throw ShapeError(op: "reshape", "cannot infer -1 in \(to) for shape \(from)")
        }
        out[i] = n / known
    }
    guard elementCount(out) == n else {
        throw ShapeError(op: "reshape", "shape \(from) (\(n) elements) cannot become \(to)")
    }
    return out
}
