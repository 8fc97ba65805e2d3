import Core
/// A dense Float32 tensor: contiguous row-major storage and a shape.
///
/// A tensor is a reference type so that the tape can point at it: parameters are leaf tensors
/// with `requiresGrad`, op results carry the `Node` that made them until `backward()` has used
/// it. Storage is a Swift array, so reshaping and detaching share it without a copy
/// (copy-on-write protects the original).
public final class Tensor {
    public let shape: [Int]
    /// The values, row-major. Mutate only outside a recorded computation (optimisers, loading).
    public var data: [Float]
    /// The gradient of the last `backward()` with respect to this tensor, accumulated
    /// over calls until `zeroGrad()`. Kept only on leaves; intermediate results drop theirs.
    public var grad: [Float]?
    /// Whether gradients flow to (or through) this tensor.
    public let requiresGrad: Bool
    /// A leaf is a tensor made by the user (a parameter or an input), not by an op.
    public let isLeaf: Bool
    /// How this tensor was computed; `nil` for leaves, for results computed without grad,
    /// and for every tensor of a graph after `backward()` has run through it.
    var node: Node?

    /// A leaf tensor. `data.count` must equal the product of `shape`.
    public init(shape: [Int], data: [Float], requiresGrad: Bool = false) {
        precondition(!shape.contains(where: { $0 < 0 }), "Tensor: negative size in shape \(shape)")
        precondition(data.count == elementCount(shape),
                     "Tensor: shape \(shape) needs \(elementCount(shape)) values, got \(data.count)")
        self.shape = shape
        self.data = data
        self.requiresGrad = requiresGrad
        self.isLeaf = true
    }

    /// An op result; records `node` when it is given (the caller decides with `Tape`).
    init(result shape: [Int], data: [Float], node: Node?) {
        self.shape = shape
        self.data = data
        self.requiresGrad = node != nil
        self.isLeaf = false
        self.node = node
    }

    public var rank: Int { shape.count }
    public var count: Int { data.count }

    /// The single value of a tensor with one element.
    public var item: Float {
        precondition(data.count == 1, "item: tensor of shape \(shape) has \(data.count) values, not 1")
        return data[0]
    }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }

    /// The same values, cut off from the tape (shares storage until either side writes).
    public func detached() -> Tensor { Tensor(shape: shape, data: data) }

    /// Adds `g` into `grad` (the one place gradients accumulate).
    func accumulateGrad(_ g: [Float]) {
        precondition(g.count == data.count,
                     "gradient of \(g.count) values for a tensor of shape \(shape)")
        if grad == nil {
            grad = g
        } else {
            addInPlace(&grad!, g)
        }
    }
}

// MARK: - Factories

extension Tensor {
    public convenience init(scalar: Float, requiresGrad: Bool = false) {
        self.init(shape: [], data: [scalar], requiresGrad: requiresGrad)
    }

    public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor(shape: shape, data: [Float](repeating: 0, count: elementCount(shape)), requiresGrad: requiresGrad)
    }

    public static func ones(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        full(shape, 1, requiresGrad: requiresGrad)
    }

    public static func full(_ shape: [Int], _ value: Float, requiresGrad: Bool = false) -> Tensor {
        Tensor(shape: shape, data: [Float](repeating: value, count: elementCount(shape)), requiresGrad: requiresGrad)
    }

    /// Standard normal values scaled by `std`, from the project's seeded generator.
    public static func randn(_ shape: [Int], std: Float = 1, rng: inout SeededRNG, requiresGrad: Bool = false) -> Tensor {
        var values = [Float](repeating: 0, count: elementCount(shape))
        for i in values.indices { values[i] = rng.nextNormal() * std }
        return Tensor(shape: shape, data: values, requiresGrad: requiresGrad)
    }

    /// Uniform values in `[low, high)` from the project's seeded generator.
    public static func uniform(_ shape: [Int], low: Float, high: Float, rng: inout SeededRNG,
                               requiresGrad: Bool = false) -> Tensor {
        var values = [Float](repeating: 0, count: elementCount(shape))
        for i in values.indices { values[i] = low + (high - low) * rng.nextUniform() }
        return Tensor(shape: shape, data: values, requiresGrad: requiresGrad)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = data.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor(shape: \(shape), data: [\(head)\(data.count > 8 ? ", ..." : "")])"
    }
}
