import ArgumentParser
import Core
import Foundation
import Benchmarks
import Communication
#if canImport(Glibc)
import Glibc
#endif

/// The `train` command: one root with a subcommand per job.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train and evaluate universal segmentation models on several datasets at once.",
        subcommands: [Fit.self, Evaluate.self, Predict.self, Demo.self, Synth.self, Prepare.self, Shards.self, MakeLabelSpace.self, Forward.self, Score.self, Match.self, Bench.self],
        defaultSubcommand: Fit.self)
}

/// Settings OpenBLAS reads when it loads, before any Swift code runs, so the command sets the
/// missing ones and re-executes itself once (a user's own values are kept):
/// - `OPENBLAS_THREAD_TIMEOUT=16`: OpenBLAS's idle threads otherwise spin (calling sched_yield)
///   for about 2^28 cycles after each GEMM, taking a core from our own elementwise threads.
/// - Under `mpirun`, the machine's cores shared among the processes on it: `UNISEG_THREADS` and
///   `OPENBLAS_NUM_THREADS` = cores / local processes (at least 1), so that N processes do not
///   each start a thread per core.
func prepareEnvironment() {
    #if os(Linux)
    var missing: [(String, String)] = []
    if getenv("OPENBLAS_THREAD_TIMEOUT") == nil { missing.append(("OPENBLAS_THREAD_TIMEOUT", "16")) }
    if let local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE").flatMap({ Int(String(cString: $0)) }), local > 1 {
        let share = "\(max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)) / local))"
        if getenv("UNISEG_THREADS") == nil { missing.append(("UNISEG_THREADS", share)) }
        if getenv("OPENBLAS_NUM_THREADS") == nil { missing.append(("OPENBLAS_NUM_THREADS", share)) }
    }
    guard !missing.isEmpty else { return }
    for (name, value) in missing { setenv(name, value, 1) }
    execv("/proc/self/exe", CommandLine.unsafeArgv)
    // execv returns only on failure: carry on with OpenBLAS's defaults.
    #endif
}

prepareEnvironment()
// Errors are printed here, once: a located error (bad input: a file, a key, a sample) as
// `Error: <where>: <what>` with exit status 1; argument errors with their usage text.
do {
    var command = try Train.parseAsRoot()
    try command.run()
} catch let error as LocatedError {
    FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
    exitAfterFailure(1)
} catch {
    if MPIProcesses.isInitialized {
        FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
        exitAfterFailure(1)
    }
    Train.exit(withError: error)
}
