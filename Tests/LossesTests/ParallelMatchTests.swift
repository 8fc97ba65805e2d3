import XCTest
import Autograd
@testable import Losses
@testable import Matching
import Core
import Targets

/// `SetCriterion.match` gives each image its own generator (split off the batch's in image
/// order), draws every image's random points and then matches the images in parallel: the
/// assignments and the random stream must be those of matching the images one after another,
/// and an image's assignment must not depend on the other images of its batch.
final class ParallelMatchTests: XCTestCase {
    func testParallelImagesEqualSequentialMatching() throws {
        var rng = SeededRNG(seed: 17)
        let (b, q, k, h, t) = (3, 9, 6, 16, 4)
        let set = PredictionSet(logits: Tensor.randn([b, q, k + 1], rng: &rng), masks: Tensor.randn([b, q, h, h], std: 2, rng: &rng))
        let images = (0..<b).map { i -> ImageTargets in
            let count = i == 1 ? 0 : t   // an image without targets draws no points
            let masks = (0..<(count * 4 * h * 4 * h)).map { _ in Float(rng.nextUniform() < 0.3 ? 1 : 0) }
            return ImageTargets(classes: (0..<count).map { _ in rng.nextInt(below: k) },
                                masks: Tensor(shape: [count, 4 * h, 4 * h], data: masks))
        }
        let targets = BatchTargets(supervision: .masks, images: images)
        var config = LossConfig()
        config.points = 300
        let criterion = SetCriterion(config: config)

        var parallelRNG = SeededRNG(seed: 5)
        let parallel = try criterion.match(set, targets, rng: &parallelRNG)

        var sequentialRNG = SeededRNG(seed: 5)
        var generators = SetCriterion.imageGenerators(b, from: &sequentialRNG)
        let matcher = criterion.matcher(height: h, width: h)
        let sequential = try (0..<b).map { i in
            try matcher.match(logits: Tensor(shape: [q, k + 1], data: Array(set.logits.data[(i * q * (k + 1))..<((i + 1) * q * (k + 1))])),
                              masks: Tensor(shape: [q, h, h], data: Array(set.masks.data[(i * q * h * h)..<((i + 1) * q * h * h)])),
                              targets: images[i], image: i, rng: &generators[i])
        }
        XCTAssertEqual(parallel, sequential)
        XCTAssertEqual(parallel[1].rows, [])
        // The same numbers were drawn: the streams continue alike.
        XCTAssertEqual(parallelRNG.nextUniform(), sequentialRNG.nextUniform())
    }

    /// Images 1 and 2 matched in a batch of their own, with their own generators, get the
    /// assignments they get in the batch of three: what a data-parallel process relies on.
    func testAnImagesAssignmentDoesNotDependOnItsBatch() throws {
        var rng = SeededRNG(seed: 23)
        let (b, q, k, h, t) = (3, 7, 5, 12, 3)
        let logits = Tensor.randn([b, q, k + 1], rng: &rng), masks = Tensor.randn([b, q, h, h], std: 2, rng: &rng)
        let images = (0..<b).map { _ in
            ImageTargets(classes: (0..<t).map { _ in rng.nextInt(below: k) },
                         masks: Tensor(shape: [t, 4 * h, 4 * h], data: (0..<(t * 16 * h * h)).map { _ in Float(rng.nextUniform() < 0.3 ? 1 : 0) }))
        }
        var config = LossConfig()
        config.points = 200
        let criterion = SetCriterion(config: config)
        let seeds: [UInt64] = [11, 12, 13]
        var all = seeds.map { SeededRNG(seed: $0) }
        let whole = try criterion.match(PredictionSet(logits: logits, masks: masks), BatchTargets(supervision: .masks, images: images), rngs: &all)
        var part = seeds[1...].map { SeededRNG(seed: $0) }
        let slice = PredictionSet(logits: logits.slice(axis: 0, 1..<3), masks: masks.slice(axis: 0, 1..<3))
        let half = try criterion.match(slice, BatchTargets(supervision: .masks, images: Array(images[1...])), rngs: &part)
        XCTAssertEqual(Array(whole[1...]), half)
    }

    /// OpenSeeD's decoupled matching (`SetCriterion.thingQueries`): thing targets go to the
    /// thing queries and stuff targets to the stuff queries, at the least total cost any such
    /// assignment has (every one tried).
    func testDecoupledMatchingKeepsKindsApartAtLeastCost() throws {
        var rng = SeededRNG(seed: 23)
        let (q, k, h, n) = (5, 4, 8, 3)
        let set = PredictionSet(logits: Tensor.randn([1, q, k + 1], rng: &rng), masks: Tensor.randn([1, q, h, h], std: 2, rng: &rng))
        let classes = [0, 3, 1, 2], isThing = [true, true, false, false]      // targets: thing, stuff, thing, stuff
        let masks = (0..<(classes.count * 16 * h * h)).map { _ in Float(rng.nextUniform() < 0.3 ? 1 : 0) }
        let targets = BatchTargets(supervision: .masks, images: [ImageTargets(classes: classes, masks: Tensor(shape: [classes.count, 4 * h, 4 * h], data: masks))])
        var config = LossConfig()
        config.densePoints = true
        let space = UnifiedLabelSpace(datasets: [("d", ["a", "b", "c", "e"], isThing, [Float](repeating: 1, count: 4 * 2))], dim: 2)
        var criterion = SetCriterion(config: config, labelSpace: space)
        criterion.thingQueries = n
        var generator = SeededRNG(seed: 1)
        let a = try XCTUnwrap(try criterion.match(set, targets, rng: &generator).first)
        XCTAssertEqual(Set(a.cols), Set(0..<4))
        for (r, t) in zip(a.rows, a.cols) { XCTAssertEqual(r < n, isThing[classes[t]], "query \(r) took target \(t)") }
        // Every kind-respecting assignment's cost: none is below the one found.
        let cost = try criterion.matcher(height: h, width: h).costMatrix(logits: set.logits, masks: set.masks, targets: targets.images[0], image: 0, points: nil)
        var best = Double.infinity
        for r0 in 0..<n { for r2 in 0..<n where r2 != r0 { for r1 in n..<q { for r3 in n..<q where r3 != r1 {
            best = min(best, cost[r0 * 4 + 0] + cost[r1 * 4 + 1] + cost[r2 * 4 + 2] + cost[r3 * 4 + 3])
        } } } }
        let found = zip(a.rows, a.cols).reduce(0.0) { $0 + cost[$1.0 * 4 + $1.1] }
        XCTAssertEqual(found, best, accuracy: 1e-9)
        XCTAssertEqual(a.totalCost, best, accuracy: 1e-9)
    }
}
