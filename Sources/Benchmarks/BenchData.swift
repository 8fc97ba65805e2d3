import ArgumentParser
import Autograd
import Datasets
import Dispatch
import Foundation
import Images
import Models
import Samplers
import Core

/// `train bench data`: loading speed from shards — samples per second read, decoded and
/// augmented (raw and JPEG images; one thread and with prefetch), and MB/s of shard reading
/// beside a plain read of the same bytes.
struct BenchData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Samples/s read + decoded + augmented from shards (raw, JPEG; serial and prefetching); shard MB/s vs a plain file read.")

    @Option(help: "Images per shard for the benchmark.") var samples = 256
    @Option(help: "Image side of the generated scenes.") var size = 128
    @Option(help: "Batch size for the loader.") var batch = 8
    @Option(help: "Write the figures as JSON to this file.") var json: String?

    func run() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bench-data-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The same scenes as raw and as JPEG shards of one dataset each.
        var rows: [[String: Any]] = []
        let spec = SyntheticWorld.datasets[0]
        let classes = ShardClasses(names: spec.classes.map(\.name), sourceIDs: spec.classes.indices.map { Int64($0) },
                                   isThing: spec.classes.map { if case .shape = $0.kind { return true } else { return false } })
        for encoding in [ImageEncoding.raw, .jpeg] {
            let folder = (dir as NSString).appendingPathComponent(encoding.rawValue)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            var writer = ShardWriter(dataset: "bench_\(encoding.rawValue)", task: .panoptic, classes: classes, encoding: encoding)
            var made = 0, seed: UInt64 = 0
            while made < samples {
                seed += 1
                let scene = SyntheticWorld.scene(size: size, seed: seed)
                guard var sample = SyntheticWorld.sample(spec, scene, sourceID: Int64(seed)) else { continue }
                if encoding == .jpeg { sample.image = try JPEG.encode(Image8(width: size, height: size, channels: 3, pixels: scene.rgb), quality: 90) }
                writer.append(sample)
                made += 1
            }
            let shardPath = (folder as NSString).appendingPathComponent("train-00000.h5")
            try writer.write(to: shardPath)
            let bytes = (try FileManager.default.attributesOfItem(atPath: shardPath)[.size] as? NSNumber)?.doubleValue ?? 0

            // Shard reading (open + validate + all arrays) against a plain read of the file.
            let shardRead = medianSeconds(repeats: 5) { _ = try! ShardReader(shardPath) }
            let plainRead = medianSeconds(repeats: 5) { _ = FileManager.default.contents(atPath: shardPath) }
            let source = try DatasetSource(folder: folder, split: "train")
            var config = AugmentationConfig()
            config.size = size
            // One thread: read + decode + augment each sample in turn.
            let t0 = DispatchTime.now().uptimeNanoseconds
            var rng = SeededRNG(seed: 1)
            for i in 0..<source.count { _ = Augmentation.apply(try source.decoded(i), config, rng: &rng) }
            let serial = Double(source.count) / (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            // The prefetching loader (parallel within a batch, batches ahead).
            let loader = DataLoader(sources: [source], augmentations: [config],
                                    sampler: MultiDatasetSampler(counts: [source.count], ratios: [1], seed: 2),
                                    batchSize: batch, maskStride: M2FModel.maskStride, seed: 3, prefetch: 4)
            _ = try loader.next()
            let t1 = DispatchTime.now().uptimeNanoseconds
            let batches = max(1, source.count / batch)
            for _ in 0..<batches { _ = try loader.next() }
            let prefetched = Double(batches * batch) / (Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e9)
            loader.stop()
            let shardMB = bytes / shardRead / 1e6, plainMB = bytes / plainRead / 1e6
            print("\(encoding.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)) \(size)px: one thread \(f1(serial)) samples/s, prefetching loader \(f1(prefetched)) samples/s; "
                  + "shard read \(f1(shardMB)) MB/s vs plain file read \(f1(plainMB)) MB/s (\(f2(shardMB / plainMB))x)")
            rows.append(["encoding": encoding.rawValue, "samples_per_s_one_thread": serial, "samples_per_s_prefetch": prefetched,
                         "shard_read_mb_s": shardMB, "plain_read_mb_s": plainMB, "shard_mb": bytes / 1e6])
        }
        if let json { try AtomicFile.writeJSON(["cases": rows], to: json) }
    }
}
