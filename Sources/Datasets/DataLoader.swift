import Autograd
import Dispatch
import Foundation
import Samplers

/// All shards of one dataset split, addressed by a global sample index.
public final class DatasetSource: @unchecked Sendable {
    public let name: String
    public let task: ShardTask
    public let classes: ShardClasses
    let readers: [ShardReader]
    let starts: [Int]
    public let count: Int

    /// Every `*.h5` file of `folder` whose name starts with `split` (e.g. `train-00000.h5`).
    public init(folder: String, split: String) throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: folder)
            .filter { $0.hasPrefix(split) && $0.hasSuffix(".h5") }.sorted()
        guard !files.isEmpty else {
            throw ShardError(file: folder, path: "/", sample: nil, message: "no \(split)-*.h5 shards")
        }
        readers = try files.map { try ShardReader((folder as NSString).appendingPathComponent($0)) }
        name = readers[0].dataset
        task = readers[0].task
        classes = readers[0].classes
        for r in readers where r.classes != classes || r.task != task {
            throw ShardError(file: r.path, path: "classes", sample: nil, message: "differs from \(readers[0].path)")
        }
        var s: [Int] = [], total = 0
        for r in readers { s.append(total); total += r.count }
        starts = s
        count = total
    }

    /// Sample `i` of the split, decoded.
    public func decoded(_ i: Int) throws -> DecodedSample {
        var shard = starts.count - 1
        while starts[shard] > i { shard -= 1 }
        let reader = readers[shard]
        return try DecodedSample(reader.sample(i - starts[shard]), encoding: reader.encoding, ignoreLabel: reader.ignoreLabel)
    }

    /// The classes in each sample (for repeat-factor sampling).
    public func sampleClasses() -> [[Int]] {
        readers.flatMap { r in (0..<r.count).map { i in
            let s = r.sample(i)
            return s.segments.map { Int($0.classID) } + (s.labels ?? []).map { Int($0) }
        } }
    }
}

/// One training batch, all images augmented to one size.
public struct Batch: Sendable {
    public var iteration: Int
    public var dataset: Int
    public var indices: [Int]
    public var images: [DecodedSample]
    public var targets: [TrainingTargets]
    /// The sampler's state after this batch was drawn: what a checkpoint saves to resume after it.
    public var samplerState: MultiDatasetSampler.State
}

/// Draws batches with the multi-dataset sampler and reads, decodes and augments them on
/// background threads, `prefetch` batches ahead. Sample j of iteration k is augmented with a
/// generator seeded from (seed, k, j), so batches do not depend on thread timing.
public final class DataLoader: @unchecked Sendable {
    public let sources: [DatasetSource]
    let augmentations: [AugmentationConfig]
    let batchSize: Int
    let seed: UInt64
    private var sampler: MultiDatasetSampler
    private var nextIteration: Int
    private let lock = NSCondition()
    private var ready: [Batch] = []
    private var failure: Error? = nil
    private var stopped = false
    private let prefetch: Int
    private var thread: Thread?

    public init(sources: [DatasetSource], augmentations: [AugmentationConfig], sampler: MultiDatasetSampler,
                batchSize: Int, seed: UInt64, startIteration: Int = 0, prefetch: Int = 2) {
        precondition(augmentations.count == sources.count, "DataLoader: one augmentation config per dataset")
        self.sources = sources
        self.augmentations = augmentations
        self.sampler = sampler
        self.batchSize = batchSize
        self.seed = seed
        self.nextIteration = startIteration
        self.prefetch = max(0, prefetch)
        if self.prefetch > 0 {
            let t = Thread { [weak self] in self?.produce() }
            t.name = "DataLoader"
            thread = t
            t.start()
        }
    }

    deinit { stop() }

    /// Stops the background thread (batches not yet taken are dropped).
    public func stop() {
        lock.lock()
        stopped = true
        lock.broadcast()
        lock.unlock()
    }

    /// The next batch, in order.
    public func next() throws -> Batch {
        if prefetch == 0 { return try makeBatch() }
        lock.lock()
        defer { lock.unlock() }
        while ready.isEmpty && failure == nil { lock.wait() }
        if let failure { throw failure }
        let batch = ready.removeFirst()
        lock.broadcast()
        return batch
    }

    private func produce() {
        while true {
            lock.lock()
            while ready.count >= prefetch && !stopped { lock.wait() }
            if stopped || failure != nil { lock.unlock(); return }
            lock.unlock()
            do {
                let batch = try makeBatch()
                lock.lock()
                ready.append(batch)
                lock.broadcast()
                lock.unlock()
            } catch {
                lock.lock()
                failure = error
                lock.broadcast()
                lock.unlock()
                return
            }
        }
    }

    /// Draws, reads and augments one batch (samples in parallel).
    func makeBatch() throws -> Batch {
        let iteration = nextIteration
        nextIteration += 1
        let (d, indices) = sampler.nextBatch(size: batchSize)
        let state = sampler.state
        let source = sources[d], config = augmentations[d]
        var results = [Result<(DecodedSample, TrainingTargets), Error>?](repeating: nil, count: indices.count)
        results.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            DispatchQueue.concurrentPerform(iterations: indices.count) { j in
                do {
                    var rng = SeededRNG(seed: seed &* 0x9E37_79B9 &+ UInt64(iteration) &* 1_000_003 &+ UInt64(j))
                    let sample = Augmentation.apply(try source.decoded(indices[j]), config, rng: &rng)
                    base[j] = .success((sample, TrainingTargets.make(sample, task: source.task)))
                } catch {
                    base[j] = .failure(error)
                }
            }
        }
        let samples = try results.map { try $0!.get() }
        return Batch(iteration: iteration, dataset: d, indices: indices, images: samples.map(\.0), targets: samples.map(\.1),
                     samplerState: state)
    }
}
