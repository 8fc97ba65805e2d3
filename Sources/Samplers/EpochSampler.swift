import Core

/// Sample indices of one dataset, epoch by epoch: each epoch is a fresh shuffle from the
/// project's seeded RNG, optionally with repeat-factor sampling (LVIS: an image whose rarest
/// class is rare appears more than once per epoch). The state is small and restores exactly.
public struct EpochSampler: Sendable {
    public let count: Int
    /// Per-image repeat factors (nil: every image once per epoch).
    public let repeatFactors: [Double]?
    public private(set) var epoch: Int = 0
    public private(set) var position: Int = 0
    /// The generator as it was when the current epoch's order was drawn.
    private var epochStart: SeededRNG
    private var rng: SeededRNG
    private var order: [Int] = []

    public init(count: Int, seed: UInt64, repeatFactors: [Double]? = nil) {
        precondition(count > 0, "EpochSampler: a dataset needs at least one sample")
        precondition(repeatFactors == nil || repeatFactors!.count == count, "EpochSampler: one repeat factor per sample")
        self.count = count
        self.repeatFactors = repeatFactors
        rng = SeededRNG(seed: seed)
        epochStart = rng
        order = Self.drawOrder(count: count, repeatFactors: repeatFactors, rng: &rng)
    }

    /// The next sample index.
    public mutating func next() -> Int {
        if position == order.count {
            epoch += 1
            position = 0
            epochStart = rng
            order = Self.drawOrder(count: count, repeatFactors: repeatFactors, rng: &rng)
        }
        defer { position += 1 }
        return order[position]
    }

    /// The images of one epoch, each repeated floor(r) times plus once more with probability
    /// frac(r) (stochastic rounding), shuffled (Fisher-Yates).
    static func drawOrder(count: Int, repeatFactors: [Double]?, rng: inout SeededRNG) -> [Int] {
        var order: [Int] = []
        if let factors = repeatFactors {
            for (i, r) in factors.enumerated() {
                let whole = Int(r.rounded(.down))
                let extra = Double(rng.nextUniform()) < r - Double(whole) ? 1 : 0
                order += [Int](repeating: i, count: max(whole + extra, 0))
            }
            if order.isEmpty { order = [0] }
        } else {
            order = Array(0..<count)
        }
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            order.swapAt(i, rng.nextInt(below: i + 1))
        }
        return order
    }

    /// What restores this sampler exactly: epoch, position and the generator at the epoch's start.
    public struct State: Codable, Equatable, Sendable {
        public var epoch: Int
        public var position: Int
        public var rng: [UInt64]
    }

    public var state: State { State(epoch: epoch, position: position, rng: epochStart.state) }

    public init(count: Int, repeatFactors: [Double]? = nil, restoring state: State) {
        self.count = count
        self.repeatFactors = repeatFactors
        epoch = state.epoch
        position = state.position
        epochStart = SeededRNG(state: state.rng)
        rng = epochStart
        order = Self.drawOrder(count: count, repeatFactors: repeatFactors, rng: &rng)
        precondition(position <= order.count, "EpochSampler: saved position \(position) is past the epoch's \(order.count) samples")
    }

    /// LVIS repeat factors: r(c) = max(1, sqrt(t / f(c))) with f(c) the fraction of images
    /// containing class c; an image takes the largest r(c) of its classes (1 without classes).
    public static func repeatFactors(imageClasses: [[Int]], threshold: Double) -> [Double] {
        var imagesWith: [Int: Int] = [:]
        for classes in imageClasses { for c in Set(classes) { imagesWith[c, default: 0] += 1 } }
        let n = Double(max(imageClasses.count, 1))
        let classFactor = imagesWith.mapValues { max(1, (threshold / (Double($0) / n)).squareRoot()) }
        return imageClasses.map { classes in classes.map { classFactor[$0]! }.max() ?? 1 }
    }
}
