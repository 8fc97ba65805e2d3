import XCTest
import Autograd
@testable import Losses
@testable import Matching
import Core
import Targets

/// `SetCriterion.match` draws every image's random points first (in image order) and then
/// matches the images in parallel: the assignments and the random stream must be those of
/// matching the images one after another.
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
        let matcher = criterion.matcher(height: h, width: h)
        let sequential = try (0..<b).map { i in
            try matcher.match(logits: Tensor(shape: [q, k + 1], data: Array(set.logits.data[(i * q * (k + 1))..<((i + 1) * q * (k + 1))])),
                              masks: Tensor(shape: [q, h, h], data: Array(set.masks.data[(i * q * h * h)..<((i + 1) * q * h * h)])),
                              targets: images[i], image: i, rng: &sequentialRNG)
        }
        XCTAssertEqual(parallel, sequential)
        XCTAssertEqual(parallel[1].rows, [])
        // The same numbers were drawn: the streams continue alike.
        XCTAssertEqual(parallelRNG.nextUniform(), sequentialRNG.nextUniform())
    }
}
