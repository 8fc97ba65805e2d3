import ArgumentParser
import Autograd
import Core
import Dispatch
import Foundation

/// `train bench ...`: speed measurements, always against a baseline measured in the same run.
public struct Bench: ParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(
        abstract: "Measure speed against same-run baselines (build with -c release).",
        subcommands: [BenchOps.self, BenchMatch.self, BenchScore.self, BenchStep.self, BenchData.self])
}

/// Wall time of `body` in seconds: the median of `repeats` runs after `warmup` runs.
func medianSeconds(warmup: Int = 2, repeats: Int = 7, _ body: () -> Void) -> Double {
    for _ in 0..<warmup { body() }
    var times: [Double] = []
    for _ in 0..<repeats {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    times.sort()
    return times[times.count / 2]
}

/// Runs `python` with `arguments` and returns its standard output parsed as JSON; nil when
/// Python or the modules the script needs are not there (the bench then reports no baseline).
func runPythonJSON(_ python: String, _ arguments: [String]) -> Any? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [python] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return nil }
    let out = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    return try? JSONSerialization.jsonObject(with: out)
}

/// Convolution and GEMM speed on the shapes of the reference model, and elementwise bandwidth.
struct BenchOps: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops",
        abstract: "conv2d and matmul GFLOP/s beside plain cblas_sgemm on the same GEMM; elementwise GB/s.")

    @Option(help: "Write the figures as JSON to this file.") var json: String?
    @Option(help: "Timed repetitions per case (the median is reported).") var repeats = 7
    @Option(help: "Batch size of the model's input.") var batch = 2
    @Option(help: "Input image size (square).") var imageSize = 256

    /// The convolutions of m2f-tiny (`docs/m2f-tiny.md`): name, in, out, kernel,
    /// stride, input size as a fraction of the image.
    static let convs: [(String, Int, Int, Int, Int, Int)] = [
        ("stem.conv1", 3, 32, 3, 2, 1), ("stem.conv2", 32, 64, 3, 2, 2),
        ("res2.conv", 64, 64, 3, 1, 4),
        ("res3.conv1", 64, 128, 3, 2, 4), ("res3.conv2", 128, 128, 3, 1, 8), ("res3.shortcut", 64, 128, 1, 2, 4),
        ("res4.conv1", 128, 256, 3, 2, 8), ("res4.conv2", 256, 256, 3, 1, 16), ("res4.shortcut", 128, 256, 1, 2, 8),
        ("res5.conv1", 256, 512, 3, 2, 16), ("res5.conv2", 512, 512, 3, 1, 32), ("res5.shortcut", 256, 512, 1, 2, 16),
        ("input_proj.0", 512, 128, 1, 1, 32), ("input_proj.1", 256, 128, 1, 1, 16), ("input_proj.2", 128, 128, 1, 1, 8),
        ("lateral", 64, 128, 1, 1, 4), ("output_conv", 128, 128, 3, 1, 4), ("mask_features", 128, 128, 1, 1, 4),
    ]

    func run() throws {
        var rng = SeededRNG(seed: 7)
        print("threads: OpenBLAS \(blasThreads), elementwise \(Parallel.threads); OPENBLAS_CORETYPE=\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)"); model GEMMs: \(GEMMBackend.current.rawValue)")
        let backendRows = benchBackends(repeats: repeats, rng: &rng)
        print("")
        print(pad("conv (batch \(batch), \(imageSize)px)", 38) + pad("fwd GF/s", 10) + pad("bwd GF/s", 10) + pad("sgemm GF/s", 12) + pad("fwd/sgemm", 11) + "bwd/sgemm")
        var convRows: [[String: Any]] = []
        for (name, cin, cout, k, s, div) in Self.convs {
            let size = imageSize / div
            let x = Tensor.randn([batch, cin, size, size], rng: &rng, requiresGrad: true)
            let w = Tensor.randn([cout, cin, k, k], std: 0.1, rng: &rng, requiresGrad: true)
            let pad = k / 2
            let geo = ConvGeometry(batch: batch, inChannels: cin, height: size, width: size, outChannels: cout,
                                   kernelH: k, kernelW: k, strideH: s, strideW: s, padH: pad, padW: pad,
                                   dilationH: 1, dilationW: 1, groups: 1)
            let flops = geo.forwardFLOPs
            let fwd = medianSeconds(repeats: repeats) {
                _ = withoutGrad { Tensor.conv2d(x, weight: w, stride: (s, s), padding: (pad, pad)) }
            }
            var seed: [Float] = []
            let bwd = medianSeconds(repeats: repeats, timedBackward: {
                let y = Tensor.conv2d(x, weight: w, stride: (s, s), padding: (pad, pad))
                if seed.count != y.count { seed = [Float](repeating: 0.01, count: y.count) }
                x.zeroGrad(); w.zeroGrad()
                return { y.backward(seed: seed) }
            })
            let gemm = sgemmSeconds(m: cout, n: geo.positions, k: geo.patchSize, repeats: repeats, rng: &rng)
            let (gf, gb, gs) = (flops / fwd / 1e9, 2 * flops / bwd / 1e9, flops / gemm / 1e9)
            let shapeName = "\(name) \(cin)->\(cout) k\(k)s\(s) @\(size)"
            print(self.pad(shapeName, 38) + self.pad(f1(gf), 10) + self.pad(f1(gb), 10) + self.pad(f1(gs), 12)
                  + self.pad(f2(gf / gs), 11) + f2(gb / gs))
            convRows.append(["name": shapeName, "gflops_fwd": gf, "gflops_bwd": gb, "gflops_sgemm": gs,
                             "ratio_fwd": gf / gs, "ratio_bwd": gb / gs])
        }
        let fwdRatios = convRows.map { $0["ratio_fwd"] as! Double }, bwdRatios = convRows.map { $0["ratio_bwd"] as! Double }
        print("median ratio over the model's convs: forward \(f2(median(fwdRatios))), backward \(f2(median(bwdRatios)))")

        // Linear layers of the model on its token counts.
        let tokens = batch * ((imageSize / 32) * (imageSize / 32) + (imageSize / 16) * (imageSize / 16) + (imageSize / 8) * (imageSize / 8))
        let gemms: [(String, Int, Int, Int)] = [
            ("encoder.ffn1 tokens x128 -> 512", tokens, 512, 128), ("encoder.ffn2 tokens x512 -> 128", tokens, 128, 512),
            ("encoder.value_proj tokens x128 -> 128", tokens, 128, 128),
            ("mask logits 50x128 . 128x(64*64)", 50, (imageSize / 4) * (imageSize / 4), 128),
        ]
        var gemmRows: [[String: Any]] = []
        print("\n" + pad("matmul (linear: x · Wᵀ)", 44) + pad("fwd GF/s", 10) + pad("bwd GF/s", 10) + pad("sgemm GF/s", 12) + pad("fwd/sgemm", 11) + "bwd/sgemm")
        for (name, m, n, k) in gemms {
            let a = Tensor.randn([m, k], rng: &rng, requiresGrad: true)
            let b = Tensor.randn([n, k], std: 0.1, rng: &rng, requiresGrad: true)
            let flops = 2.0 * Double(m * n * k)
            let fwd = medianSeconds(repeats: repeats) { _ = withoutGrad { Tensor.matmul(a, b, transB: true) } }
            var seed: [Float] = []
            let bwd = medianSeconds(repeats: repeats, timedBackward: {
                let y = Tensor.matmul(a, b, transB: true)
                if seed.count != y.count { seed = [Float](repeating: 0.01, count: y.count) }
                a.zeroGrad(); b.zeroGrad()
                return { y.backward(seed: seed) }
            })
            let gemm = sgemmSeconds(m: m, n: n, k: k, transB: true, repeats: repeats, rng: &rng)
            let (gf, gb, gs) = (flops / fwd / 1e9, 2 * flops / bwd / 1e9, flops / gemm / 1e9)
            print(pad(name, 44) + pad(f1(gf), 10) + pad(f1(gb), 10) + pad(f1(gs), 12) + pad(f2(gf / gs), 11) + f2(gb / gs))
            gemmRows.append(["name": name, "gflops_fwd": gf, "gflops_bwd": gb, "gflops_sgemm": gs,
                             "ratio_fwd": gf / gs, "ratio_bwd": gb / gs])
        }

        // Elementwise work and reductions on a stride-4 feature map of the model.
        let shape = [batch, 128, imageSize / 4, imageSize / 4]
        let n = elementCount(shape)
        let a = Tensor.randn(shape, rng: &rng), b = Tensor.randn(shape, rng: &rng)
        let bias = Tensor.randn([1, 128, 1, 1], rng: &rng)
        let bytes = Double(n * 4)
        let cases: [(String, Double, () -> Void)] = [
            ("copy (baseline: Array copy)", 2, { var c = a.data; c[0] = 1; _ = c }),
            ("add", 3, { _ = a + b }),
            ("add bias [1,C,1,1]", 2, { _ = a + bias }),
            ("mul", 3, { _ = a * b }),
            ("relu", 2, { _ = a.relu() }),
            ("exp", 2, { _ = a.exp() }),
            ("sigmoid", 2, { _ = a.sigmoid() }),
            ("sum over H,W", 1, { _ = a.sum(axes: [2, 3]) }),
            ("sum all", 1, { _ = a.sum() }),
            ("softmax over last axis", 2, { _ = a.softmax(axis: -1) }),
            ("group norm (32 groups)", 2, { _ = a.groupNorm(groups: 32, weight: nil, bias: nil) }),
        ]
        print("\nelementwise on \(shape) (\(n) values)" + String(repeating: " ", count: 4) + "GB/s")
        var elemRows: [[String: Any]] = []
        for (name, passes, body) in cases {
            let t = medianSeconds(repeats: repeats) { withoutGrad { body() } }
            let gbps = passes * bytes / t / 1e9
            print(pad(name, 46) + f1(gbps))
            elemRows.append(["name": name, "gbps": gbps])
        }
        if let json {
            try AtomicFile.writeJSON(["sgemm_backends": backendRows, "conv": convRows, "gemm": gemmRows, "elementwise": elemRows,
                           "threads": ["blas": blasThreads, "elementwise": Parallel.threads]], to: json)
            print("wrote \(json)")
        }
    }

    /// Median time of plain `cblas_sgemm` (OpenBLAS, whatever `sgemm` uses otherwise) on an
    /// M x K by K x N product, or of `backend` when given.
    func sgemmSeconds(m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false, repeats: Int,
                      rng: inout SeededRNG, backend: GEMMBackend = .openblas) -> Double {
        let a = Tensor.randn([m * k], rng: &rng).data, b = Tensor.randn([k * n], rng: &rng).data
        var c = [Float](repeating: 0, count: m * n)
        let previous = GEMMBackend.current
        GEMMBackend.current = backend
        defer { GEMMBackend.current = previous }
        return a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    medianSeconds(repeats: repeats) {
                        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: ap.baseAddress!, b: bp.baseAddress!,
                              c: cp.baseAddress!)
                    }
                }
            }
        }
    }

    /// The costliest GEMM shapes of an m2f-tiny iteration (`bench step --breakdown`) and a square
    /// one: the AVX-512 kernel beside OpenBLAS's `cblas_sgemm` on the same operands.
    static let gemmShapes: [(m: Int, n: Int, k: Int, transA: Bool, transB: Bool)] = [
        (1024, 1024, 1024, false, false),
        (128, 8192, 1152, false, false), (128, 1152, 8192, false, true), (1152, 8192, 128, true, false),
        (64, 8192, 576, false, false), (64, 576, 8192, false, true), (576, 8192, 64, true, false),
        (50, 4096, 128, false, false), (50, 128, 4096, false, true), (128, 4096, 50, true, false),
        (2688, 512, 128, false, false), (2688, 128, 512, false, false), (512, 128, 2688, true, false),
    ]

    func benchBackends(repeats: Int, rng: inout SeededRNG) -> [[String: Any]] {
        print("\n" + pad("sgemm M x N x K (op)", 30) + pad("OpenBLAS GF/s", 15) + pad("AVX-512 GF/s", 14) + "AVX-512/OpenBLAS")
        guard GEMMBackend.preferred == .avx512 else {
            print("(this CPU has no AVX-512, or UNISEG_GEMM=openblas: OpenBLAS only)")
            return []
        }
        var rows: [[String: Any]] = []
        for s in Self.gemmShapes {
            let flops = 2.0 * Double(s.m * s.n * s.k)
            let blas = flops / sgemmSeconds(m: s.m, n: s.n, k: s.k, transA: s.transA, transB: s.transB,
                                            repeats: repeats, rng: &rng, backend: .openblas) / 1e9
            let own = flops / sgemmSeconds(m: s.m, n: s.n, k: s.k, transA: s.transA, transB: s.transB,
                                           repeats: repeats, rng: &rng, backend: .avx512) / 1e9
            let name = "\(s.m)x\(s.n)x\(s.k) \(s.transA ? "T" : "N")\(s.transB ? "T" : "N")"
            print(pad(name, 30) + pad(f1(blas), 15) + pad(f1(own), 14) + f2(own / blas))
            rows.append(["name": name, "gflops_openblas": blas, "gflops_avx512": own, "ratio": own / blas])
        }
        print("median AVX-512/OpenBLAS: \(f2(median(rows.map { $0["ratio"] as! Double })))")
        return rows
    }

    func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s + " " : s + String(repeating: " ", count: w - s.count) }
}

/// Like `medianSeconds`, but `prepare` runs untimed and returns the part to time.
func medianSeconds(warmup: Int = 2, repeats: Int = 7, timedBackward prepare: () -> (() -> Void)) -> Double {
    for _ in 0..<warmup { prepare()() }
    var times: [Double] = []
    for _ in 0..<repeats {
        let body = prepare()
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    times.sort()
    return times[times.count / 2]
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
func f1(_ x: Double) -> String { String(format: "%.1f", x) }
func f2(_ x: Double) -> String { String(format: "%.2f", x) }
