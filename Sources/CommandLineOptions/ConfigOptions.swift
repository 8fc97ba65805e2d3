import ArgumentParser
import Trainer

/// `--config FILE [--set key=value ...]`, the same in every command that reads a config: one
/// YAML schema (`TrainConfig`), loaded by `ConfigLoader` (`_base_`, overrides last).
public struct ConfigOptions: ParsableArguments {
    public init() {}
    @Option(help: "The config (YAML).") public var config: String
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a config key, e.g. --set solver.base_lr=2e-4 (repeatable).", valueName: "key=value"))
    public var overrides: [String] = []

    /// The config; with `requireData` false only the model (and losses) need to be usable.
    public func load(requireData: Bool = true) throws -> TrainConfig {
        try ConfigLoader.load(config, overrides: overrides, requireData: requireData)
    }
}

/// The same for commands that only build the model (benchmarks, `forward`), with m2f-tiny as default.
public struct ModelConfigOptions: ParsableArguments {
    public init() {}
    @Option(help: "The config (YAML); only its model section is used.") public var config = "configs/m2f-tiny.yaml"
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a config key (repeatable).", valueName: "key=value"))
    public var overrides: [String] = []

    public func load() throws -> TrainConfig { try ConfigLoader.load(config, overrides: overrides, requireData: false) }
}
