import Autograd
import Core
import Models
import XCTest

/// MP-Former's piloted queries: what they may attend to, and that the learnable queries do not
/// see them.
final class MaskPilotingTests: XCTestCase {
    func tinyModel() -> M2FModel {
        var c = M2FConfig()
        c.stemChannels = [8, 16]
        c.stageChannels = [16, 16, 32, 32]
        (c.convDim, c.hidden, c.maskDim, c.encoderFFN, c.ffn) = (32, 32, 32, 32, 32)
        (c.queries, c.decoderLayers, c.decoderGroups, c.embeddingDim) = (5, 3, 8, 16)
        var rng = SeededRNG(seed: 3)
        return M2FModel(c, rng: &rng)
    }

    /// Image 0: two segments (a square and a bar), image 1: one (its left half); 32x32 input.
    func piloted(groups: Int, pointNoise: Float = 0, layers: [Int] = []) -> PilotedQueries {
        var settings = PilotedQueries.Settings()
        settings.groups = groups
        settings.pointNoise = pointNoise
        settings.layers = layers
        func mask(_ inside: (Int, Int) -> Bool) -> [UInt8] { (0..<(32 * 32)).map { inside($0 / 32, $0 % 32) ? 1 : 0 } }
        let masks = [[mask { y, x in y < 16 && x < 16 }, mask { y, _ in y >= 24 }], [mask { _, x in x < 16 }]]
        let p = groups * 2
        // Each segment's embedding the same in every group (its class's).
        let embeddings = (0..<(2 * p)).flatMap { row -> [Float] in
            let (i, t) = (row / p, row % p % 2)
            var rng = SeededRNG(seed: UInt64(10 + 2 * i + t))
            return t < masks[i].count ? (0..<16).map { _ in rng.nextNormal() } : [Float](repeating: 0, count: 16)
        }
        return PilotedQueries(settings: settings, perGroup: 2, segmentCounts: [2, 1], classEmbeddings: Tensor(shape: [2 * p, 16], data: embeddings),
                              masks: masks, height: 32, width: 32, seeds: [1, 2])
    }

    func testCrossAttentionMasksAreTheSegmentsOnEachLevel() {
        let q = piloted(groups: 1)
        let blocked = q.crossAttentionBlocked(height: 4, width: 4, level: 0)
        XCTAssertEqual(blocked.shape, [2, 2, 16])
        // Image 0, slot 0: the top-left quarter is open; slot 1: the bottom row of cells.
        XCTAssertEqual(blocked.values[0..<16].map { !$0 }, (0..<16).map { $0 / 4 < 2 && $0 % 4 < 2 })
        XCTAssertEqual(blocked.values[16..<32].map { !$0 }, (0..<16).map { $0 / 4 == 3 })
        // Image 1, slot 0: the left half; slot 1 is empty: nothing blocked.
        XCTAssertEqual(blocked.values[32..<48].map { !$0 }, (0..<16).map { $0 % 4 < 2 })
        XCTAssertEqual(Array(blocked.values[48..<64]), [Bool](repeating: false, count: 16))
        // Point noise flips some cells, reproducibly from the image's seed.
        let noisy = piloted(groups: 1, pointNoise: 1).crossAttentionBlocked(height: 8, width: 8, level: 1)
        XCTAssertEqual(noisy, piloted(groups: 1, pointNoise: 1).crossAttentionBlocked(height: 8, width: 8, level: 1))
        XCTAssertNotEqual(noisy, piloted(groups: 1).crossAttentionBlocked(height: 8, width: 8, level: 1))
    }

    func testSelfAttentionKeepsLearnableQueriesGroupsAndEmptySlotsApart() {
        let m = piloted(groups: 2).selfAttentionBlocked(queries: 3)
        let n = 3 + 4
        func open(_ i: Int, _ r: Int, _ c: Int) -> Bool { !m.values[(i * n + r) * n + c] }
        for r in 0..<3 { for c in 0..<n { XCTAssertEqual(open(0, r, c), c < 3, "learnable \(r) -> \(c)") } }
        // Image 0, group 0 = slots 3, 4; group 1 = slots 5, 6.
        XCTAssertTrue(open(0, 3, 4) && open(0, 4, 3) && open(0, 5, 6))
        XCTAssertFalse(open(0, 3, 5) || open(0, 5, 4) || open(0, 3, 0) || open(0, 6, 2))
        // Image 1 has one segment: slots 4 and 6 are empty and see only themselves.
        XCTAssertTrue(open(1, 4, 4) && open(1, 3, 3))
        XCTAssertFalse(open(1, 3, 4) || open(1, 4, 3) || open(1, 4, 0))
    }

    /// The learnable queries' predictions are those of a forward without piloting, and a group's
    /// piloted predictions those of a forward with that group alone.
    func testPilotedQueriesChangeNothingElse() {
        let model = tinyModel()
        var rng = SeededRNG(seed: 5)
        let images = Tensor(shape: [2, 3, 32, 32], data: (0..<(2 * 3 * 32 * 32)).map { _ in 255 * rng.nextUniform() })
        let classes = Tensor(shape: [4, 16], data: (0..<64).map { _ in rng.nextNormal() })
        let plain = withoutGrad { model(images, classEmbeddings: classes) }
        let one = withoutGrad { model.forward(images, classEmbeddings: classes, piloted: piloted(groups: 1)) }
        let two = withoutGrad { model.forward(images, classEmbeddings: classes, piloted: piloted(groups: 2)) }
        XCTAssertEqual(two.piloted.count, plain.count)
        for s in plain.indices {
            for (a, b) in [(plain[s].logits, two.predictions[s].logits), (plain[s].masks, two.predictions[s].masks)] {
                XCTAssertEqual(a.shape, b.shape)
                XCTAssertLessThan(zip(a.data, b.data).map { abs($0 - $1) }.max()!, 1e-4, "set \(s)")
            }
            // Group 0 of two (slots 0, 1) against the single group.
            XCTAssertEqual(two.piloted[s].logits.shape, [2, 4, 5])
            let first = two.piloted[s].masks.slice(axis: 1, 0..<2).data
            XCTAssertLessThan(zip(first, one.piloted[s].masks.data).map { abs($0 - $1) }.max()!, 1e-4, "set \(s)")
        }
        // Piloted layers matter: without any, the piloted queries attend through their own masks.
        let unpiloted = withoutGrad { model.forward(images, classEmbeddings: classes, piloted: piloted(groups: 1, layers: [1])) }
        XCTAssertNotEqual(unpiloted.piloted.last!.masks.data, one.piloted.last!.masks.data)
    }

    /// Gradients reach the classifier's projection through the piloted queries' content.
    func testPilotedContentIsTrainedThroughTheClassProjection() {
        let model = tinyModel()
        var rng = SeededRNG(seed: 6)
        let images = Tensor(shape: [2, 3, 32, 32], data: (0..<(2 * 3 * 32 * 32)).map { _ in 255 * rng.nextUniform() })
        let classes = Tensor(shape: [4, 16], data: (0..<64).map { _ in rng.nextNormal() })
        let out = model.forward(images, classEmbeddings: classes, piloted: piloted(groups: 1))
        out.piloted.last!.masks.sum().backward()
        let projection = model.namedParameters().first { $0.name == "predictor.class_proj.weight" }!.tensor
        XCTAssertGreaterThan(projection.grad?.map(abs).max() ?? 0, 0)
    }
}
