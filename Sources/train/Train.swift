import ArgumentParser

/// The `train` command: one root with a subcommand per job.
@main
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train and evaluate universal segmentation models on several datasets at once.",
        subcommands: [Demo.self, Bench.self])
}
