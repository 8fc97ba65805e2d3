import ArgumentParser
import CommandLineOptions
import Foundation
import Trainer

/// `train --config FILE [--set k=v ...] [--resume] [--output DIR]`: the training run (the
/// default subcommand, so `train --config ...` runs it).
struct Fit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fit",
        abstract: "Train on the configured datasets (the default: `train --config FILE`).")

    @OptionGroup var options: ConfigOptions
    @Flag(help: "Continue from the newest complete checkpoint in the output folder.") var resume = false
    @Flag(help: "Delete the files of another run in the output folder and start over (without it, such a folder is refused).")
    var overwrite = false
    @Option(help: "Output folder (default: the config's output_dir).") var output: String?

    func run() throws {
        let config = try options.load()
        let run = try TrainingRun(config: config, outputDir: output)
        let main = run.communicator.isMain
        if main {
            print("training \(config.data.datasets.map(\.name).joined(separator: " + ")) for \(config.solver.maxIter) iterations"
                  + (run.communicator.size > 1 ? " on \(run.communicator.size) processes" : "") + "; output in \(run.outputDir)")
        }
        // A progress line with ETA on a terminal; plain log lines otherwise.
        try run.run(resume: resume, overwrite: overwrite, progress: isatty(STDOUT_FILENO) != 0) { line in
            print(line)
            fflush(stdout)      // log lines appear as they happen when stdout is a file or a pipe
        }
        if main { print("done: \(run.outputDir)/model_final.h5") }
    }
}
