import ArgumentParser
import Core
import Foundation
import Benchmarks
#if canImport(Glibc)
import Glibc
#endif

/// The `train` command: one root with a subcommand per job.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train and evaluate universal segmentation models on several datasets at once.",
        subcommands: [Fit.self, Evaluate.self, Demo.self, Synth.self, Prepare.self, Shards.self, Forward.self, Score.self, Match.self, Bench.self],
        defaultSubcommand: Fit.self)
}

/// OpenBLAS's idle threads spin (calling sched_yield) for about 2^28 cycles after each GEMM,
/// taking a core from our own elementwise threads on a 2-core machine. The spin time is read
/// from `OPENBLAS_THREAD_TIMEOUT` when the library loads, before any Swift code runs, so when
/// it is unset the command sets it and re-executes itself once. A user's own value is kept.
func shortenOpenBLASSpinWait() {
    #if os(Linux)
    guard getenv("OPENBLAS_THREAD_TIMEOUT") == nil else { return }
    setenv("OPENBLAS_THREAD_TIMEOUT", "16", 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)
    // execv returns only on failure: carry on with OpenBLAS's default.
    #endif
}

shortenOpenBLASSpinWait()
// Errors are printed here, once: a located error (bad input: a file, a key, a sample) as
// `Error: <where>: <what>` with exit status 1; argument errors with their usage text.
do {
    var command = try Train.parseAsRoot()
    try command.run()
} catch let error as LocatedError {
    FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
    exit(1)
} catch {
    Train.exit(withError: error)
}
