import Core
/// Modules: objects that own parameters and sub-modules under PyTorch-style names, so that
/// `backbone.res3.conv1.weight` means the same tensor here as in a PyTorch state dict.

public protocol Module: AnyObject {
    /// This module's own parameters, each under its local name (`weight`, `bias`, ...).
    var ownParameters: [(String, Tensor)] { get }
    /// Direct sub-modules, each under its local name.
    var children: [(String, Module)] { get }
}

extension Module {
    public var ownParameters: [(String, Tensor)] { [] }
    public var children: [(String, Module)] { [] }

    /// Every parameter below this module, depth first in declaration order, with dotted names.
    public func namedParameters(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        var out: [(name: String, tensor: Tensor)] = ownParameters.map { (prefix + $0.0, $0.1) }
        for (name, child) in children {
            out += child.namedParameters(prefix: prefix + name + ".")
        }
        return out
    }

    public var parameters: [Tensor] { namedParameters().map(\.tensor) }

    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Clears every parameter's gradient.
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }

    /// Parameter values by name (what a checkpoint stores).
    public func stateDict() -> [(name: String, shape: [Int], values: [Float])] {
        namedParameters().map { ($0.name, $0.tensor.shape, $0.tensor.data) }
    }

    /// Sets parameters from `values` by name. With `strict`, every parameter must be given and
    /// every given name must be a parameter; shapes must always match. Nothing is changed when
    /// any check fails.
    public func loadStateDict(_ values: [String: (shape: [Int], values: [Float])], strict: Bool = true) throws {
        let named = namedParameters()
        let known = Set(named.map(\.name))
        if strict {
            if let missing = named.first(where: { values[$0.name] == nil }) {
                throw StateDictError.missing(missing.name)
            }
            if let extra = values.keys.sorted().first(where: { !known.contains($0) }) {
                throw StateDictError.unexpected(extra, nearest: nearestName(extra, in: Array(known)))
            }
        }
        for (name, tensor) in named {
            if let v = values[name], v.shape != tensor.shape || v.values.count != tensor.count {
                throw StateDictError.shapeMismatch(name, expected: tensor.shape, got: v.shape)
            }
        }
        for (name, tensor) in named {
            if let v = values[name] { tensor.data = v.values }
        }
    }
}

public enum StateDictError: Error, CustomStringConvertible, Equatable {
    case missing(String)
    case unexpected(String, nearest: String?)
    case shapeMismatch(String, expected: [Int], got: [Int])

    public var description: String {
        switch self {
        case .missing(let n): return "parameter '\(n)' is missing"
        case .unexpected(let n, let near):
            return "'\(n)' is not a parameter of this model" + (near.map { " (did you mean '\($0)'?)" } ?? "")
        case .shapeMismatch(let n, let e, let g): return "parameter '\(n)' has shape \(e), the file gives \(g)"
        }
    }
}

/// Sub-modules under the names "0", "1", ... (PyTorch's `ModuleList`).
public final class ModuleList<M: Module>: Module {
    public var items: [M]
    public init(_ items: [M]) { self.items = items }
    public var children: [(String, Module)] { items.enumerated().map { ("\($0.offset)", $0.element) } }
    public subscript(i: Int) -> M { items[i] }
    public var count: Int { items.count }
}
