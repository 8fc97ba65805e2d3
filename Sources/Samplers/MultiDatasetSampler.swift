import Core

/// DaTaSeg's sampling: each iteration draws one dataset by the configured ratios, then a whole
/// batch from that dataset's epoch sampler. The whole state saves and restores exactly, so a
/// resumed run draws the same batches as one that never stopped.
public struct MultiDatasetSampler: Sendable {
    public let ratios: [Double]
    private var chooser: SeededRNG
    public private(set) var datasets: [EpochSampler]

    /// `counts[d]` samples in dataset d, drawn with probability `ratios[d] / sum(ratios)`.
    public init(counts: [Int], ratios: [Double], seed: UInt64, repeatFactors: [[Double]?]? = nil) {
        precondition(counts.count == ratios.count && !counts.isEmpty, "MultiDatasetSampler: one ratio per dataset")
        precondition(ratios.allSatisfy { $0 >= 0 } && ratios.contains { $0 > 0 }, "MultiDatasetSampler: ratios must be >= 0, one > 0")
        self.ratios = ratios
        chooser = SeededRNG(seed: seed)
        datasets = counts.enumerated().map { d, n in
            EpochSampler(count: n, seed: seed &+ 0x1000_0000 &* UInt64(d + 1), repeatFactors: repeatFactors?[d])
        }
    }

    /// The next batch: the dataset and `size` sample indices of it.
    public mutating func nextBatch(size: Int) -> (dataset: Int, indices: [Int]) {
        let total = ratios.reduce(0, +)
        var u = Double(chooser.nextUniform()) * total
        var d = 0
        while d < ratios.count - 1 && (u >= ratios[d] || ratios[d] == 0) { u -= ratios[d]; d += 1 }
        while ratios[d] == 0 { d -= 1 }   // rounding at the top end
        return (d, (0..<size).map { _ in datasets[d].next() })
    }

    public struct State: Codable, Equatable, Sendable {
        public var chooser: [UInt64]
        public var datasets: [EpochSampler.State]
    }

    public var state: State { State(chooser: chooser.state, datasets: datasets.map(\.state)) }

    public init(counts: [Int], ratios: [Double], repeatFactors: [[Double]?]? = nil, restoring state: State) {
        precondition(state.datasets.count == counts.count, "MultiDatasetSampler: saved state has \(state.datasets.count) datasets, not \(counts.count)")
        self.ratios = ratios
        chooser = SeededRNG(state: state.chooser)
        datasets = counts.enumerated().map { d, n in EpochSampler(count: n, repeatFactors: repeatFactors?[d], restoring: state.datasets[d]) }
    }
}
