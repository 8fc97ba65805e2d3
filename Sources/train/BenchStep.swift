import ArgumentParser
import Autograd
import Dispatch
import Foundation
import Losses
import Matching
import Models

/// `train bench step`: the reference training iteration of `m2f-tiny.md` (batch 2, 256x256,
/// 8 targets per image, K = 133): forward, matching, losses, backward, clipping, AdamW.
struct BenchStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "One m2f-tiny training iteration, timed by phase (median of 10 after 3 warm-ups).")

    @Option(help: "Model config (YAML).") var config = "configs/m2f-tiny.yaml"
    @Option(help: "Timed iterations (the median is reported).") var repeats = 10
    @Option(help: "Warm-up iterations.") var warmup = 3
    @Flag(help: "Also time the timed iterations' GEMMs by shape, and forward and backward by op (adds three tables).") var breakdown = false
    @Option(help: "Write the figures as JSON to this file.") var json: String?
    @Option(help: "Python with torch, numpy and scipy for the same-run PyTorch baseline.") var python = "python3"
    @Option(help: "The PyTorch implementation of the same iteration (run after ours; skipped when it cannot run).")
    var pytorchScript = "scripts/bench/pytorch_step.py"
    @Flag(help: "Skip the PyTorch baseline.") var noPytorch = false

    /// The benchmark's targets: per image, `targets` rectangles of random size (16-175 px) and
    /// place as full-resolution masks, with random classes below `classes`.
    static func rectangleTargets(images: Int, targets t: Int, size: Int, classes k: Int, rng: inout SeededRNG) -> BatchTargets {
        BatchTargets(supervision: .masks, images: (0..<images).map { _ in
            var masks = [Float](repeating: 0, count: t * size * size)
            for j in 0..<t {
                let h = 16 + rng.nextInt(below: 160), w = 16 + rng.nextInt(below: 160)
                let y0 = rng.nextInt(below: size - h), x0 = rng.nextInt(below: size - w)
                for y in y0..<(y0 + h) { for x in x0..<(x0 + w) { masks[(j * size + y) * size + x] = 1 } }
            }
            return ImageTargets(classes: (0..<t).map { _ in rng.nextInt(below: k) }, masks: Tensor(shape: [t, size, size], data: masks))
        })
    }

    func run() throws {
        let modelConfig = try ModelConfigFile.load(config)
        var rng = SeededRNG(seed: 3)
        let model = M2FModel(modelConfig, rng: &rng)
        let optimizer = AdamW(groups: model.referenceParameterGroups(), learningRate: 1e-4)
        let parameters = model.parameters
        let (b, size, k, t) = (2, 256, 133, 8)
        let images = Tensor.uniform([b, 3, size, size], low: 0, high: 255, rng: &rng)
        let embeddings = Tensor.randn([k, modelConfig.embeddingDim], rng: &rng)
        let targets = Self.rectangleTargets(images: b, targets: t, size: size, classes: k, rng: &rng)
        let criterion = SetCriterion(config: LossConfig())

        func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
        // CPU time of the whole process (all threads): CPU / wall time = cores kept busy.
        func cpuNow() -> UInt64 {
            var ts = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
            return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
        }
        var busy: [[Double]] = Array(repeating: [], count: 4)   // forward, matching + losses, backward, optimizer
        var phases: [[Double]] = Array(repeating: [], count: 6)   // iteration, forward, matching, losses, backward, optimizer
        for it in 0..<(warmup + repeats) {
            if it == warmup && breakdown {
                GEMMCensus.reset()
                GEMMCensus.enabled = true
                OpProfile.reset()
            }
            let t0 = now(), c0 = cpuNow()
            let profiling = it >= warmup && breakdown
            if profiling { OpProfile.phase = .forward }
            let predictions = model(images, classEmbeddings: embeddings)
            OpProfile.phase = nil
            let t1 = now(), c1 = cpuNow()
            var matchTime: UInt64 = 0
            var total: Tensor? = nil
            for p in predictions {
                let set = PredictionSet(logits: p.logits, masks: p.masks)
                let m0 = now()
                _ = try withoutGrad { try criterion.match(set, targets, rng: &rng) }
                matchTime += now() - m0
                // `losses` matches again (the same work): that share is subtracted below.
                let losses = try criterion.losses(set, targets, numMasks: targets.targetCount, rng: &rng)
                let sum = losses.dropFirst().reduce(losses[0].value) { $0 + $1.value }
                total = total.map { $0 + sum } ?? sum
            }
            let t2 = now(), c2 = cpuNow()
            optimizer.zeroGrad()
            if profiling { OpProfile.phase = .backward }
            total!.backward()
            OpProfile.phase = nil
            let t3 = now(), c3 = cpuNow()
            clipGradNorm(parameters, maxNorm: 0.01)
            optimizer.step()
            let t4 = now(), c4 = cpuNow()
            guard total!.item.isFinite else { throw CommandError("bench step: the loss became \(total!.item) at iteration \(it)") }
            if it >= warmup {
                let lossesOnly = Double(t2 - t1 - 2 * matchTime) / 1e9   // losses() repeats the matching
                let iteration = Double(t1 - t0) / 1e9 + Double(matchTime) / 1e9 + lossesOnly + Double(t4 - t2) / 1e9
                for (i, v) in [iteration, Double(t1 - t0) / 1e9, Double(matchTime) / 1e9, lossesOnly,
                               Double(t3 - t2) / 1e9, Double(t4 - t3) / 1e9].enumerated() { phases[i].append(v) }
                for (i, (c, t)) in [(c1 - c0, t1 - t0), (c2 - c1, t2 - t1), (c3 - c2, t3 - t2), (c4 - c3, t4 - t3)].enumerated() {
                    busy[i].append(Double(c) / Double(max(t, 1)))
                }
            }
        }
        GEMMCensus.enabled = false
        let census = GEMMCensus.entries
        var inference: [Double] = []
        for it in 0..<(warmup + repeats) {
            let t0 = now()
            _ = withoutGrad { model(images, classEmbeddings: embeddings) }
            if it >= warmup { inference.append(Double(now() - t0) / 1e9) }
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakMB = Double(usage.ru_maxrss) / 1024
        let medians = phases.map(median) + [median(inference)]
        let names = ["iteration_s", "forward_s", "matching_s", "losses_s", "backward_s", "optimizer_s", "inference_s"]
        let reference = [0.612, 0.094, 0.057, 0.257, 0.175, 0.021, 0.081]   // PyTorch 2.13, m2f-tiny.md "Measured"
        // The same iteration in PyTorch, run now on the same machine: the baseline that counts
        // (these machines' speed drifts by 2x within an hour; m2f-tiny.md's figures are from another day).
        let pytorch = noPytorch ? nil : pytorchBaseline()
        print("phase (median of \(repeats))     ours (ms)   PyTorch, this run (ms)   ours/PyTorch   PyTorch, m2f-tiny.md (ms)")
        for (i, name) in names.enumerated() {
            var line = name.padding(toLength: 28, withPad: " ", startingAt: 0) + String(format: "%9.1f", medians[i] * 1e3)
            if let theirs = pytorch?[name] as? Double {
                line += String(format: "   %14.1f          %9.2f", theirs * 1e3, medians[i] / theirs)
            } else {
                line += "   " + String(repeating: " ", count: 13) + "-" + String(repeating: " ", count: 18) + "-"
            }
            print(line + String(format: "   %14.1f", reference[i] * 1e3))
        }
        var memory = String(format: "peak resident memory: %.0f MB", peakMB)
        if let theirs = pytorch?["peak_rss_mb"] as? Double { memory += String(format: " (PyTorch, this run: %.0f MB)", theirs) }
        print(memory)
        print(String(format: "matching: %.1f %% of the iteration", 100 * medians[2] / medians[0]))
        if pytorch == nil && !noPytorch {
            print("(PyTorch baseline not run: \(python) \(pytorchScript) failed — it needs torch, numpy and scipy)")
        }
        if breakdown {
            // Per iteration; the bench's separately timed matching has no GEMM, so nothing is counted twice.
            let seconds = census.reduce(0) { $0 + $1.entry.seconds } / Double(repeats)
            let flops = census.reduce(0) { $0 + $1.shape.flops * Double($1.entry.calls) } / Double(repeats)
            print(String(format: "GEMM per iteration: %.1f ms (%.0f %% of the iteration), %.1f GFLOP at %.1f GFLOP/s; the costliest shapes (M x N x K, ops):",
                         seconds * 1e3, 100 * seconds / medians[0], flops / 1e9, flops / seconds / 1e9))
            for (shape, entry) in census.prefix(12) {
                print("  " + shape.description.padding(toLength: 22, withPad: " ", startingAt: 0)
                      + String(format: "%4d calls %8.1f ms %7.1f GFLOP/s", entry.calls / repeats, entry.seconds * 1e3 / Double(repeats),
                               shape.flops * Double(entry.calls) / entry.seconds / 1e9))
            }
            print(String(format: "cores busy (process CPU time / wall time, median; %d cores): forward %.2f, matching + losses %.2f, backward %.2f, optimizer %.2f",
                         Parallel.threads, median(busy[0]), median(busy[1]), median(busy[2]), median(busy[3])))
            for (phase, name) in [(OpProfile.Phase.forward, "forward"), (.backward, "backward")] {
                print("\(name) per iteration by op (GEMMs included\(phase == .forward ? "; each op with the work just before it" : ", with gradient accumulation")):")
                for (op, calls, seconds) in OpProfile.entries(phase).prefix(10) {
                    print("  " + op.padding(toLength: 22, withPad: " ", startingAt: 0)
                          + String(format: "%4d calls %8.1f ms", calls / repeats, seconds * 1e3 / Double(repeats)))
                }
            }
        }
        if let json {
            var object: [String: Any] = Dictionary(uniqueKeysWithValues: zip(names, medians))
            object["peak_rss_mb"] = peakMB
            if let pytorch { object["pytorch_same_run"] = pytorch }
            try writeJSON(object, to: json)
            print("wrote \(json)")
        }
    }

    /// The PyTorch script's medians (seconds) and peak RSS, or nil when it cannot run.
    func pytorchBaseline() -> [String: Any]? {
        guard FileManager.default.fileExists(atPath: pytorchScript) else { return nil }
        return runPythonJSON(python, [pytorchScript, "--print-json", "--threads", "\(Parallel.threads)",
                                      "--warmup", "\(warmup)", "--repeats", "\(repeats)"]) as? [String: Any]
    }
}
