import ArgumentParser
import Datasets
import Foundation

/// `train synth`: writes the built-in synthetic multi-dataset world as shards.
struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the synthetic world: panoptic, semantic, detection and image-label datasets (train and val shards).")

    @Option(help: "Output folder (one sub-folder per dataset).") var out = "data/synth"
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "small (64 px, 24 + 8 images per dataset: seconds) or full (128 px, 2000 + 200).") var scale = "small"
    @Option(help: "hues (each thing class has a typical hue) or shapes (random hues: the class is the shape alone).")
    var world = "hues"
    @Option(help: "Samples per shard file.") var samplesPerShard = 500
    @Option(help: "Folder of label-space files whose text embeddings go into the shards (/classes/embeddings).")
    var labelspaces = "labelspaces"
    @Flag(help: "Do nothing when the folder already holds this world (same version, seed and scale: its world.json).")
    var keepCurrent = false

    func validate() throws {
        guard SyntheticWorld.Scale(rawValue: scale) != nil else { throw ValidationError("--scale must be small or full") }
        guard SyntheticWorld.World(rawValue: world) != nil else { throw ValidationError("--world must be hues or shapes") }
        guard samplesPerShard > 0 else { throw ValidationError("--samples-per-shard must be positive") }
    }

    func run() throws {
        let world = SyntheticWorld.World(rawValue: self.world)!
        if keepCurrent, SyntheticWorld.isWritten(in: out, seed: seed, scale: SyntheticWorld.Scale(rawValue: scale)!, world: world) {
            print("\(out) already holds the synthetic world (\(world.rawValue), version \(world.version), seed \(seed), \(scale))")
            return
        }
        let start = Date()
        let terminal = isatty(STDOUT_FILENO) != 0
        let spaces: [String: LabelSpace]
        spaces = try LabelSpace.synthetic(from: labelspaces)
        let written = try SyntheticWorld.write(to: out, seed: seed, scale: SyntheticWorld.Scale(rawValue: scale)!, world: world,
                                               samplesPerShard: samplesPerShard,
                                               embeddings: spaces.mapValues { (dim: $0.dim, values: $0.embeddings) }) { message in
            if terminal { print("\r\(message)", terminator: ""); fflush(stdout) }
        }
        if terminal { print("") }
        for spec in SyntheticWorld.datasets {
            let (train, val) = written[spec.name]!
            print("\(spec.name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(spec.task.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)) \(spec.classes.count) classes, \(train) train + \(val) val")
        }
        print(String(format: "wrote %@ in %.1f s", out, Date().timeIntervalSince(start)))
    }
}
