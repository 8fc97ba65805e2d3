import ArgumentParser
import Autograd
import Foundation
import Losses
import Matching
import Core

/// `train bench match`: the assignment solver beside scipy's on the same matrices, and the
/// whole matching of one m2f-tiny training batch.
struct BenchMatch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "match",
        abstract: "Hungarian matching speed beside scipy.optimize.linear_sum_assignment; matching per m2f-tiny iteration.")

    @Option(help: "Write the figures as JSON to this file.") var json: String?
    @Option(help: "Timed repetitions per case (the median is reported).") var repeats = 15
    @Option(help: "Python with scipy for the baseline.") var python = "python3"

    func run() throws {
        var rng = SeededRNG(seed: 11)
        let shapes = [(50, 8), (100, 100), (200, 200), (100, 300)]
        let matrices = shapes.map { (r, c) in (0..<(r * c)).map { _ in Double(rng.nextUniform()) } }
        let scipy = scipySeconds(shapes: shapes, matrices: matrices)
        print("assignment (uniform random costs)      ours (ms)   scipy (ms)   scipy/ours")
        var cases: [[String: Any]] = []
        for (k, (r, c)) in shapes.enumerated() {
            let n = Self.callsPerSample(rows: r, cols: c)
            let t = medianSeconds(repeats: repeats) { () -> Void in for _ in 0..<n { _ = try! linearSumAssignment(matrices[k], rows: r, cols: c) } } / Double(n)
            var row: [String: Any] = ["rows": r, "cols": c, "seconds": t]
            var line = "\(r)x\(c)".padding(toLength: 39, withPad: " ", startingAt: 0) + String(format: "%-12.4f", t * 1e3)
            if let s = scipy?[k] {
                row["scipy_seconds"] = s
                line += String(format: "%-13.4f%.2f", s * 1e3, s / t)
            } else {
                line += "(scipy unavailable)"
            }
            print(line)
            cases.append(row)
        }

        // One m2f-tiny batch: 7 prediction sets x 2 images, 50 queries, 134 logits, 64x64 masks,
        // 8 targets of 256x256 each, 12544 points.
        let criterion = SetCriterion(config: LossConfig())
        let sets = (0..<7).map { _ in
            PredictionSet(logits: Tensor.randn([2, 50, 134], rng: &rng), masks: Tensor.randn([2, 50, 64, 64], rng: &rng))
        }
        // Rectangles as in `bench step` (real masks are regions, not pixel noise).
        let targets = BenchStep.rectangleTargets(images: 2, targets: 8, size: 256, classes: 133, rng: &rng)
        var matchRNG = SeededRNG(seed: 1)
        let matchAll: () -> Void = { for s in sets { _ = try! criterion.match(s, targets, rng: &matchRNG) } }
        let perIteration = medianSeconds(warmup: 1, repeats: max(3, repeats / 3), matchAll)
        print(String(format: "matching of one m2f-tiny batch (7 sets x 2 images, 50x8 costs, 12544 points): %.1f ms", perIteration * 1e3))
        if let json {
            try AtomicFile.writeJSON(["cases": cases, "matching_per_iteration_s": perIteration], to: json)
            print("wrote \(json)")
        }
    }

    /// Calls timed together per sample, so that a sample of a small case lasts well above the
    /// clock's and the interpreter's overhead (about a millisecond for 50x8 either way).
    static func callsPerSample(rows: Int, cols: Int) -> Int { max(1, 200_000 / (rows * cols * min(rows, cols))) }

    /// scipy's median time per call per case, run by `python` on the same matrices (as many
    /// calls per sample as ours); nil when it cannot run.
    func scipySeconds(shapes: [(Int, Int)], matrices: [[Double]]) -> [Double]? {
        let dir = FileManager.default.temporaryDirectory
        let input = dir.appendingPathComponent("bench-match-\(getpid()).json")
        let payload = zip(shapes, matrices).map {
            ["rows": $0.0, "cols": $0.1, "calls": Self.callsPerSample(rows: $0.0, cols: $0.1), "values": $1] as [String: Any]
        }
        guard let data = try? JSONSerialization.data(withJSONObject: payload), (try? data.write(to: input)) != nil else { return nil }
        defer { try? FileManager.default.removeItem(at: input) }
        let script = """
        import json, sys, time
        import numpy as np
        from scipy.optimize import linear_sum_assignment
        out = []
        for m in json.load(open(sys.argv[1])):
            c = np.array(m["values"]).reshape(m["rows"], m["cols"])
            n = m["calls"]
            for _ in range(2): linear_sum_assignment(c)
            ts = []
            for _ in range(\(repeats)):
                t0 = time.perf_counter()
                for _ in range(n): linear_sum_assignment(c)
                ts.append((time.perf_counter() - t0) / n)
            out.append(sorted(ts)[len(ts) // 2])
        print(json.dumps(out))
        """
        return runPythonJSON(python, ["-c", script, input.path]) as? [Double]
    }
}
