import Autograd
import Core
import Foundation
import Samplers
import Targets

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
        guard total > 0 else {
            throw ShardError(file: folder, path: "/", sample: nil, message: "the \(split) split of dataset \(name) has no samples (\(files.count) shard file(s))")
        }
        starts = s
        count = total
    }

    /// Sample `i` of the split, decoded.
    public func decoded(_ i: Int) throws -> DecodedSample {
        var shard = starts.count - 1
        while starts[shard] > i { shard -= 1 }
        return try readers[shard].decoded(i - starts[shard])
    }

    /// The classes in each sample (for repeat-factor sampling).
    public func sampleClasses() -> [[Int]] {
        readers.flatMap { r in (0..<r.count).map { i in
            let s = r.sample(i)
            return s.segments.map { Int($0.classID) } + (s.labels ?? []).map { Int($0) }
        } }
    }
}

/// What the loader does with a training sample that fails to decode or breaks the format.
public enum BadSamplePolicy: String, Codable, CaseIterable, Sendable {
    /// Stop, naming the dataset, the shard, the sample and what is wrong.
    case stop
    /// Take the next good sample of the dataset in its place, and count it.
    case skip
}

extension SegmentationTask {
    /// The task a dataset of `task` is evaluated as (and trained as, but for panoptic data,
    /// which trains all three): image labels count as panoptic (things and stuff alike).
    public init(_ task: ShardTask) {
        switch task {
        case .panoptic, .imageLabels: self = .panoptic
        case .semantic: self = .semantic
        case .instance, .detection: self = .instance
        }
    }
}

/// What the loader changes in the targets it collates (nothing by default).
public struct TargetRules: Sendable {
    /// Per dataset: classes dropped from every sample's targets (`data.held_out_classes`).
    public var heldOut: [Set<Int>] = []
    /// OneFormer (`model.task_conditioning`): every sample gets a task; a panoptic sample one of
    /// the three drawn uniformly, its targets derived for it (`ImageTargets.derived`).
    public var sampleTasks = false
    public init(heldOut: [Set<Int>] = [], sampleTasks: Bool = false) {
        self.heldOut = heldOut
        self.sampleTasks = sampleTasks
    }

    /// `targets` of a sample of dataset `d` as the rules make them.
    func apply(_ targets: ImageTargets, dataset d: Int) -> ImageTargets {
        d < heldOut.count && !heldOut[d].isEmpty ? targets.removing(classes: heldOut[d]) : targets
    }

    /// The task of a sample of a dataset of `task` (drawn with `rng` for panoptic data).
    static func task(of task: ShardTask, rng: inout SeededRNG) -> SegmentationTask {
        task == .panoptic ? SegmentationTask(rawValue: rng.nextInt(below: SegmentationTask.allCases.count))! : SegmentationTask(task)
    }
}

/// Draws batches with the multi-dataset sampler and reads, decodes, augments and collates them
/// (image tensor and targets) on background threads, `prefetch` batches ahead: the training
/// thread gets a ready `TrainingBatch`. Sample j of iteration k is augmented with a generator
/// seeded from (seed, k, j), so batches do not depend on thread timing.
public final class DataLoader: @unchecked Sendable {
    public let sources: [DatasetSource]
    let augmentations: [AugmentationConfig]
    /// Images per batch of the whole run (all processes together).
    let batchSize: Int
    /// This process's images of each batch: slots of the global batch (all of them when alone).
    let slots: Range<Int>
    /// Boxes are given to the losses in pixels of the model's mask map: image pixels / this.
    let maskStride: Int
    let seed: UInt64
    let onBadSample: BadSamplePolicy
    let maxBadFraction: Double
    let rules: TargetRules
    /// Per dataset: samples drawn, and how many of them were bad (skipped).
    private var drawn: [Int], bad: [Int]
    private var sampler: MultiDatasetSampler
    private var nextIteration: Int
    private let lock = NSCondition()
    private var ready: [TrainingBatch] = []
    private var failure: Error? = nil
    private var stopped = false
    private let prefetch: Int
    private var thread: Thread?

    public init(sources: [DatasetSource], augmentations: [AugmentationConfig], sampler: MultiDatasetSampler,
                batchSize: Int, slots: Range<Int>? = nil, maskStride: Int, seed: UInt64, startIteration: Int = 0, prefetch: Int = 2,
                onBadSample: BadSamplePolicy = .stop, maxBadFraction: Double = 0.01, rules: TargetRules = TargetRules()) {
        precondition(slots.map { !$0.isEmpty && $0.lowerBound >= 0 && $0.upperBound <= batchSize } ?? true,
                     "DataLoader: slots \(String(describing: slots)) outside a batch of \(batchSize)")
        precondition(augmentations.count == sources.count, "DataLoader: one augmentation config per dataset")
        self.sources = sources
        self.augmentations = augmentations
        self.sampler = sampler
        self.batchSize = batchSize
        self.slots = slots ?? 0..<batchSize
        self.maskStride = maskStride
        self.onBadSample = onBadSample
        self.maxBadFraction = maxBadFraction
        self.rules = rules
        drawn = [Int](repeating: 0, count: sources.count)
        bad = drawn
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
    public func next() throws -> TrainingBatch {
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

    /// Draws, reads, augments and collates one batch (samples in parallel). Every process draws
    /// the whole batch (the same dataset and indices everywhere) and reads its slots; sample j
    /// is augmented from (seed, iteration, j), j its slot in the whole batch, so a sample looks
    /// the same whatever the number of processes.
    func makeBatch() throws -> TrainingBatch {
        let iteration = nextIteration
        nextIteration += 1
        let (d, all) = sampler.nextBatch(size: batchSize)
        let state = sampler.state
        let indices = Array(all[slots]), first = slots.lowerBound
        let source = sources[d], config = augmentations[d], stride = maskStride, seed = self.seed
        let policy = onBadSample, rules = self.rules
        let results = try Parallel.map(indices.count) { i -> (sample: DecodedSample, targets: ImageTargets, task: SegmentationTask, skipped: [String]) in
            let j = first + i
            // A bad sample: stop naming it, or (skip) the next sample of the dataset in its place.
            var skipped: [String] = []
            for k in 0..<source.count {
                let index = (indices[i] + k) % source.count
                do {
                    var rng = SeededRNG(seed: seed &* 0x9E37_79B9 &+ UInt64(iteration) &* 1_000_003 &+ UInt64(j))
                    let sample = Augmentation.apply(try source.decoded(index), config, rng: &rng)
                    var targets = rules.apply(try ImageTargets(sample, task: source.task, maskStride: stride), dataset: d)
                    var taskRNG = SeededRNG(seed: rng.next() ^ 0x7A5C_0F1E_D2B3_9481)
                    let task = TargetRules.task(of: source.task, rng: &taskRNG)
                    if rules.sampleTasks, source.task == .panoptic { targets = targets.derived(for: task, isThing: source.classes.isThing) }
                    return (sample, targets, task, skipped)
                } catch let error as LocatedError {
                    let named = InputError("dataset \(source.name), training sample \(index) (\(error.location))", error.problem)
                    guard policy == .skip else { throw named }
                    skipped.append(named.description)
                }
            }
            throw InputError("dataset \(source.name)", "no training sample could be read (every one was bad)")
        }
        let samples = results.map { ($0.sample, $0.targets) }
        let skipped = results.flatMap(\.skipped)
        drawn[d] += indices.count
        bad[d] += skipped.count
        if !skipped.isEmpty && Double(bad[d]) > maxBadFraction * Double(source.count) {
            throw InputError("dataset \(source.name)", "\(bad[d]) bad training samples, more than data.max_bad_fraction \(maxBadFraction) of its \(source.count); the last: \(skipped.last!)")
        }
        let size = samples[0].0.image.width, plane = 3 * size * size
        var pixels = [Float](repeating: 0, count: samples.count * plane)
        pixels.withUnsafeMutableBufferPointer { out in
            for (j, s) in samples.enumerated() { s.0.image.writePlanarRGB(into: out.baseAddress! + j * plane) }
        }
        let supervision = Supervision(source.task)
        var targets = supervision == .imageLabels
            ? BatchTargets(supervision: supervision, imageLabels: samples.map(\.1.classes), dataset: d)
            : BatchTargets(supervision: supervision, images: samples.map(\.1), dataset: d)
        if rules.sampleTasks { targets.tasks = results.map(\.task) }
        return TrainingBatch(iteration: iteration, dataset: d, indices: indices, firstSlot: first, skipped: skipped, badSoFar: bad[d],
                             images: Tensor(shape: [samples.count, 3, size, size], data: pixels), targets: targets, samplerState: state)
    }
}
