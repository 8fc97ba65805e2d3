import Foundation
import XCTest
@testable import Autograd
import TestSupport

/// Forward values and gradients compared with PyTorch's, from `Fixtures/torch_ops.json`
/// (made by `Fixtures/make_torch_ops.py`).
final class TorchParityTests: XCTestCase {
    struct Array32: Decodable {
        let shape: [Int]
        let data: [Float]
        var tensor: Tensor { Tensor(shape: shape, data: data, requiresGrad: true) }
    }

    struct Case: Decodable {
        let name: String
        let op: String
        let params: [String: Param]
        let inputs: [String: Array32]
        let output: Array32
        let weights: Array32
        let grads: [String: Array32]
    }

    enum Param: Decodable {
        case int(Int), float(Float), ints([Int]), intLists([[Int]]), mask(shape: [Int], data: [Bool])
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let i = try? c.decode(Int.self) { self = .int(i) }
            else if let f = try? c.decode(Float.self) { self = .float(f) }
            else if let a = try? c.decode([Int].self) { self = .ints(a) }
            else if let a = try? c.decode([[Int]].self) { self = .intLists(a) }
            else {
                struct M: Decodable { let shape: [Int]; let data: [Bool] }
                let m = try c.decode(M.self)
                self = .mask(shape: m.shape, data: m.data)
            }
        }
        var int: Int { if case .int(let i) = self { return i }; fatalError("not an int: \(self)") }
        var float: Float {
            switch self { case .float(let f): return f; case .int(let i): return Float(i); default: fatalError("not a float") }
        }
    }

    struct Fixture: Decodable {
        struct AdamWCase: Decodable {
            struct Group: Decodable { let lr: Float; let weight_decay: Float }
            let start: [Array32]
            let grads: [[Array32]]
            let groups: [Group]
            let end: [Array32]
        }
        let cases: [Case]
        let adamw: AdamWCase
    }

    static let fixture: Fixture = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/torch_ops.json")
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }()

    /// Runs the op of `c` on `inputs`, ordered as the fixture's input names.
    func run(_ c: Case, _ x: [String: Tensor]) -> Tensor {
        switch c.op {
        case "matmul": return .matmul(x["a"]!, x["b"]!)
        case "matmul_transB": return .matmul(x["a"]!, x["b"]!, transB: true)
        case "conv2d":
            let s = c.params["stride"]!.int, p = c.params["padding"]!.int, d = c.params["dilation"]!.int
            return .conv2d(x["x"]!, weight: x["weight"]!, bias: x["bias"], stride: (s, s), padding: (p, p),
                           dilation: (d, d), groups: c.params["groups"]!.int)
        case "softmax": return x["x"]!.softmax(axis: c.params["axis"]!.int)
        case "log_softmax": return x["x"]!.logSoftmax(axis: c.params["axis"]!.int)
        case "layer_norm": return x["x"]!.layerNorm(weight: x["weight"], bias: x["bias"], eps: c.params["eps"]!.float)
        case "group_norm":
            return x["x"]!.groupNorm(groups: c.params["groups"]!.int, weight: x["weight"], bias: x["bias"], eps: c.params["eps"]!.float)
        case "resize_bilinear", "resize_nearest":
            guard case .ints(let size) = c.params["size"]! else { fatalError() }
            return c.op == "resize_bilinear" ? x["x"]!.resizeBilinear(to: (size[0], size[1])) : x["x"]!.resizeNearest(to: (size[0], size[1]))
        case "grid_sample": return .gridSample(x["input"]!, grid: x["grid"]!)
        case "attention":
            guard case .mask(let shape, let data) = c.params["blocked"]! else { fatalError() }
            return .attention(q: x["q"]!, k: x["k"]!, v: x["v"]!, blocked: BoolMask(shape: shape, values: data))
        case "deformable_attention":
            guard case .intLists(let shapes) = c.params["shapes"]! else { fatalError() }
            return .deformableAttention(value: x["value"]!, shapes: shapes.map { ($0[0], $0[1]) }, locations: x["locations"]!, weights: x["weights"]!)
        case "log_sigmoid": return x["x"]!.logSigmoid()
        case "softplus": return x["x"]!.softplus()
        default: fatalError("unknown op \(c.op) in fixture")
        }
    }

    func testOpsMatchPyTorch() {
        XCTAssertGreaterThan(Self.fixture.cases.count, 15)
        for c in Self.fixture.cases {
            let inputs = c.inputs.mapValues(\.tensor)
            let y = run(c, inputs)
            XCTAssertEqual(y.shape, c.output.shape, c.name)
            assertClose(y.data, c.output.data, atol: 1e-5, rtol: 1e-4, "\(c.name) forward")
            (y * Tensor(shape: c.weights.shape, data: c.weights.data)).sum().backward()
            for (name, expected) in c.grads {
                guard let g = inputs[name]?.grad else { XCTFail("\(c.name): no gradient for \(name)"); continue }
                assertClose(g, expected.data, atol: 1e-4, rtol: 1e-4, "\(c.name) d/d\(name)")
            }
        }
    }

    func testAdamWMatchesPyTorch() throws {
        let f = Self.fixture.adamw
        let params = f.start.map { Tensor(shape: $0.shape, data: $0.data, requiresGrad: true) }
        let groups = zip(params, f.groups).map { ParameterGroup([$0], lrMultiplier: $1.lr / 1e-2, weightDecay: $1.weight_decay) }
        let opt = AdamW(groups: groups, learningRate: 1e-2)
        for step in f.grads {
            for (p, g) in zip(params, step) { p.grad = g.data }
            opt.step()
        }
        for (p, e) in zip(params, f.end) { assertClose(p.data, e.data, atol: 1e-7, rtol: 1e-6, "adamw") }
    }
}
