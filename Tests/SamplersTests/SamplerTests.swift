import XCTest
@testable import Samplers

final class SamplerTests: XCTestCase {
    func testEpochsVisitEverySampleOnceAndReshuffle() {
        var s = EpochSampler(count: 10, seed: 1)
        let first = (0..<10).map { _ in s.next() }, second = (0..<10).map { _ in s.next() }
        XCTAssertEqual(first.sorted(), Array(0..<10))
        XCTAssertEqual(second.sorted(), Array(0..<10))
        XCTAssertNotEqual(first, second)
        XCTAssertEqual(s.epoch, 1)
    }

    func testRepeatFactors() {
        // Class 1 is in 1 of 10 images: f = 0.1, t = 0.4 → r = 2; class 0 is everywhere: r = 1.
        let classes = [[0, 1]] + [[Int]](repeating: [0], count: 9)
        let r = EpochSampler.repeatFactors(imageClasses: classes, threshold: 0.4)
        XCTAssertEqual(r[0], 2, accuracy: 1e-12)
        XCTAssertEqual(r[1], 1)
        var s = EpochSampler(count: 10, seed: 2, repeatFactors: r)
        let epoch = (0..<11).map { _ in s.next() }
        XCTAssertEqual(epoch.filter { $0 == 0 }.count, 2, "the rare image twice per epoch")
        // Stochastic rounding: factor 1.5 gives 1.5 copies per epoch on average.
        var half = EpochSampler(count: 1, seed: 3, repeatFactors: [1.5])
        var copies = 0
        for _ in 0..<3000 { _ = half.next(); copies += 1 }
        XCTAssertEqual(Double(half.epoch + 1) * 1.5, Double(copies), accuracy: 0.1 * Double(copies))
    }

    func testDatasetRatios() {
        var s = MultiDatasetSampler(counts: [5, 7, 3], ratios: [1, 2, 1], seed: 4)
        var counts = [0, 0, 0]
        for _ in 0..<8000 {
            let (d, indices) = s.nextBatch(size: 2)
            counts[d] += 1
            XCTAssertTrue(indices.allSatisfy { $0 < [5, 7, 3][d] })
        }
        XCTAssertEqual(Double(counts[1]) / 8000, 0.5, accuracy: 0.03)
        XCTAssertEqual(Double(counts[0]) / 8000, 0.25, accuracy: 0.03)
        var zero = MultiDatasetSampler(counts: [5, 7], ratios: [0, 1], seed: 5)
        for _ in 0..<200 { XCTAssertEqual(zero.nextBatch(size: 1).dataset, 1) }
    }

    func testStateRestoresTheSameFuture() throws {
        let factors: [[Double]?] = [nil, [1, 2.5, 1, 1.2], nil]
        var a = MultiDatasetSampler(counts: [5, 4, 3], ratios: [1, 1, 2], seed: 6, repeatFactors: factors)
        for _ in 0..<37 { _ = a.nextBatch(size: 3) }
        // Through JSON, as a checkpoint stores it.
        let saved = try JSONDecoder().decode(MultiDatasetSampler.State.self, from: JSONEncoder().encode(a.state))
        var b = MultiDatasetSampler(counts: [5, 4, 3], ratios: [1, 1, 2], repeatFactors: factors, restoring: saved)
        for _ in 0..<100 {
            let x = a.nextBatch(size: 3), y = b.nextBatch(size: 3)
            XCTAssertEqual(x.dataset, y.dataset)
            XCTAssertEqual(x.indices, y.indices)
        }
    }
}
