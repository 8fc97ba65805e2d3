import ArgumentParser
import CommandLineOptions
import Autograd
import Dispatch
import Foundation
import Datasets
import Losses
import Matching
import Models
import Targets
import Trainer
import Core
import Targets

/// `train bench step`: the reference training iteration of `docs/m2f-tiny.md` (batch 2, 256x256,
/// 8 targets per image, K = 133) run by the training step itself (`TrainStep`): forward,
/// matching, losses, backward, clipping, AdamW, timed by the step's phase clock.
struct BenchStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "One m2f-tiny training iteration, timed by phase (median of 10 after 3 warm-ups).")

    @OptionGroup var model: ModelConfigOptions
    @Option(help: "Timed iterations (the median is reported).") var repeats = 10
    @Option(help: "Warm-up iterations.") var warmup = 3
    @Flag(help: "Also time the GEMMs by shape (iteration and inference) and the ops of each phase (forward, losses, backward, inference).") var breakdown = false
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
        let modelConfig = try model.load().model
        var rng = SeededRNG(seed: 3)
        let m2f = M2FModel(modelConfig, rng: &rng)
        let (b, size, k, t) = (2, 256, 133, 8)
        let images = Tensor.uniform([b, 3, size, size], low: 0, high: 255, rng: &rng)
        let embeddings = Tensor.randn([k, modelConfig.embeddingDim], rng: &rng)
        let targets = Self.rectangleTargets(images: b, targets: t, size: size, classes: k, rng: &rng)
        // The training step itself, on one dataset of k classes.
        let space = UnifiedLabelSpace(datasets: [("bench", (0..<k).map { "class \($0)" }, Array(repeating: true, count: k), embeddings.data)],
                                      dim: modelConfig.embeddingDim)
        let step = TrainStep(model: m2f, labelSpace: space, loss: LossConfig(), solver: SolverConfig(), seed: 3)
        var phases: [[Double]] = Array(repeating: [], count: 6)   // iteration, forward, matching, losses, backward, optimizer
        var busy: [[Double]] = Array(repeating: [], count: 5)     // forward, matching, losses, backward, optimizer
        for it in 0..<(warmup + repeats) {
            if it == warmup && breakdown {
                GEMMCensus.reset()
                GEMMCensus.enabled = true
                OpProfile.reset()
                step.profileOps = true
            }
            let (output, _) = try step(TrainingBatch(iteration: it, dataset: 0, indices: [0, 1], images: images, targets: targets))
            guard output.total.item.isFinite else { throw InputError("bench step", "the loss became \(output.total.item) at iteration \(it)") }
            if it >= warmup {
                let wall = step.clock.wall, cpu = step.clock.cpu
                phases[0].append(wall.reduce(0, +))
                for (i, v) in wall.enumerated() { phases[i + 1].append(v) }
                for i in 0..<5 { busy[i].append(cpu[i] / max(wall[i], 1e-9)) }
            }
        }
        step.profileOps = false
        GEMMCensus.enabled = false
        let census = GEMMCensus.entries
        func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
        var inference: [Double] = [], inferenceBusy: [Double] = []
        var inferenceClock = PhaseClock()   // its forward phase: one inference pass
        for it in 0..<(warmup + repeats) {
            if it == warmup && breakdown {
                GEMMCensus.reset()
                GEMMCensus.enabled = true
            }
            if it >= warmup && breakdown { OpProfile.phase = .inference }
            let t0 = now()
            inferenceClock.start()
            _ = withoutGrad { m2f.finalPrediction(images, classEmbeddings: embeddings) }
            inferenceClock.lap(.forward)
            if it >= warmup {
                inference.append(Double(now() - t0) / 1e9)
                inferenceBusy.append(inferenceClock.cpu[0] / max(inferenceClock.wall[0], 1e-9))
            }
            OpProfile.phase = nil
        }
        GEMMCensus.enabled = false
        let inferenceCensus = GEMMCensus.entries
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
            // Wall time of each call: products run side by side (batched matmuls) count once each.
            for (entries, phase, total) in [(census, "iteration", medians[0]), (inferenceCensus, "inference", medians[6])] {
                let seconds = entries.reduce(0) { $0 + $1.entry.seconds } / Double(repeats)
                let flops = entries.reduce(0) { $0 + $1.shape.flops * Double($1.entry.calls) } / Double(repeats)
                print(String(format: "GEMM per \(phase): %.1f ms (%.0f %% of the \(phase)), %.1f GFLOP at %.1f GFLOP/s; the costliest shapes (M x N x K, ops):",
                             seconds * 1e3, 100 * seconds / total, flops / 1e9, flops / seconds / 1e9))
                for (shape, entry) in entries.prefix(phase == "iteration" ? 12 : 8) {
                    print("  " + shape.description.padding(toLength: 22, withPad: " ", startingAt: 0)
                          + String(format: "%4d calls %8.1f ms %7.1f GFLOP/s", entry.calls / repeats, entry.seconds * 1e3 / Double(repeats),
                                   shape.flops * Double(entry.calls) / entry.seconds / 1e9))
                }
            }
            print(String(format: "cores busy (process CPU time less the worker pool's polling, over wall time, median; %d cores): forward %.2f, matching %.2f, losses %.2f, backward %.2f, optimizer %.2f, inference %.2f",
                         Parallel.threads, median(busy[0]), median(busy[1]), median(busy[2]), median(busy[3]), median(busy[4]),
                         median(inferenceBusy)))
            for (phase, name) in [(OpProfile.Phase.forward, "forward"), (.losses, "losses"), (.backward, "backward"),
                                  (.inference, "inference")] {
                print("\(name) per \(phase == .inference ? "pass" : "iteration") by op (GEMMs included\(phase == .backward ? ", with gradient accumulation" : "; each op with the work just before it"); cores busy by the clocks of this thread and the worker pool's):")
                let entries = OpProfile.entries(phase)
                for (op, e) in entries.prefix(10) {
                    print("  " + op.padding(toLength: 22, withPad: " ", startingAt: 0)
                          + String(format: "%4d calls %8.1f ms, cores busy %.2f", e.calls / repeats, e.seconds * 1e3 / Double(repeats),
                                   e.cpuSeconds / max(e.seconds, 1e-12)))
                }
                // What stays serial: the core time each op leaves idle (goal: many cores).
                let idle = entries.map { ($0.op, $0.entry.seconds * Double(Parallel.threads) - $0.entry.cpuSeconds) }.sorted { $0.1 > $1.1 }
                print("  idle core time (wall x \(Parallel.threads) - CPU), most first: "
                      + idle.prefix(6).map { String(format: "%@ %.1f ms", $0.0, $0.1 * 1e3 / Double(repeats)) }.joined(separator: ", "))
            }
        }
        if let json {
            var object: [String: Any] = Dictionary(uniqueKeysWithValues: zip(names, medians))
            object["peak_rss_mb"] = peakMB
            if let pytorch { object["pytorch_same_run"] = pytorch }
            try AtomicFile.writeJSON(object, to: json)
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
