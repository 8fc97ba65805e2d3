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
}
