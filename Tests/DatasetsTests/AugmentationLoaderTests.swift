import Foundation
import XCTest
import Autograd
import Images
import Samplers
@testable import Datasets
import Core
import Targets
import COCOMask

final class AugmentationLoaderTests: XCTestCase {
    /// A 20x30 sample whose red channel is the panoptic id (0 void, 10, 20) and whose semantic
    /// label is id / 10.
    func labelledSample() -> DecodedSample {
        let (h, w) = (20, 30)
        var ids = [UInt32](repeating: 0, count: h * w)
        for y in 2..<12 { for x in 3..<10 { ids[y * w + x] = 10 } }
        for y in 8..<18 { for x in 15..<28 { ids[y * w + x] = 20 } }
        let pixels: [UInt8] = ids.flatMap { [UInt8($0), 50, 60] }
        let shard = ShardSample(image: pixels, height: h, width: w, sourceID: 1,
                                semantic: ids.map { UInt16($0 / 10) }, panoptic: ids,
                                segments: [ShardSegment(id: 10, classID: 1, area: 70, bbox: [3, 2, 7, 10]),
                                           ShardSegment(id: 20, classID: 2, area: 130, bbox: [15, 8, 13, 10])])
        return try! DecodedSample(shard, encoding: .raw)
    }

    func testCropAndFlipKeepImageAndLabelsAligned() {
        // Output side 30 fits the 20x30 image at scale 1 exactly: no resampling, so image and
        // labels must agree pixel for pixel after the crop (padding to 30x30) and the flip.
        var config = AugmentationConfig()
        config.size = 30
        config.colorJitter = 0
        config.minScale = 1
        config.maxScale = 1
        var flipped = 0
        for seed in 0..<20 {
            var rng = SeededRNG(seed: UInt64(seed))
            let s = Augmentation.apply(labelledSample(), config, rng: &rng)
            XCTAssertEqual([s.image.width, s.image.height], [30, 30])
            XCTAssertEqual(s.valid.filter { $0 == 1 }.count, 600)
            for p in 0..<(30 * 30) where s.valid[p] == 1 {
                XCTAssertEqual(UInt32(s.image.pixels[3 * p]), s.panoptic![p])
                XCTAssertEqual(s.semantic![p], UInt16(s.panoptic![p] / 10))
            }
            for p in 0..<(30 * 30) where s.valid[p] == 0 {
                XCTAssertEqual(s.panoptic![p], 0)
                XCTAssertEqual(s.semantic![p], 255)
            }
            for seg in s.segments {
                XCTAssertEqual(seg.bbox, Augmentation.boundingBox(of: UInt32(seg.id), in: s.panoptic!, width: 30))
                XCTAssertEqual(Int(seg.area), s.panoptic!.filter { $0 == UInt32(seg.id) }.count)
            }
            if s.panoptic![2 * 30 + 3] != 10 { flipped += 1 }
        }
        XCTAssertTrue(flipped > 3 && flipped < 17, "about half the samples are flipped (\(flipped) of 20)")
    }

    func testResizeScalesMapsAndBoxes() {
        let s = Augmentation.resize(labelledSample(), height: 10, width: 15)
        XCTAssertEqual([s.image.width, s.image.height], [15, 10])
        XCTAssertEqual(s.panoptic!.count, 150)
        XCTAssertEqual(s.segments[0].bbox, [1.5, 1, 3.5, 5])
        XCTAssertEqual(s.panoptic![3 * 15 + 3], 10)      // inside the first object
        XCTAssertEqual(s.panoptic![6 * 15 + 10], 20)     // inside the second
    }

    func testFlipIsExact() {
        let s = labelledSample()
        let f = Augmentation.flip(s)
        for y in 0..<20 {
            for x in 0..<30 {
                XCTAssertEqual(f.panoptic![y * 30 + x], s.panoptic![y * 30 + 29 - x])
                XCTAssertEqual(f.image.pixels[(y * 30 + x) * 3], s.image.pixels[(y * 30 + 29 - x) * 3])
            }
        }
        XCTAssertEqual(f.segments[0].bbox, [20, 2, 7, 10])   // 30 − 3 − 7
        let twice = Augmentation.flip(f)
        XCTAssertEqual(twice.image, s.image)
    }

    func testTargetsByTask() throws {
        let s = labelledSample()
        func areas(_ t: ImageTargets) -> [Int] {
            let m = t.masks!, hw = m.shape[1] * m.shape[2]
            return (0..<m.shape[0]).map { (j: Int) -> Int in
                let values: ArraySlice<Float> = m.data[(j * hw)..<((j + 1) * hw)]
                return Int(values.reduce(Float(0), +))
            }
        }
        let pan = try ImageTargets(s, task: .panoptic, maskStride: 4)
        XCTAssertEqual(pan.classes, [1, 2])
        XCTAssertEqual(pan.masks!.shape, [2, 20, 30])
        XCTAssertEqual(areas(pan), [70, 130])
        XCTAssertEqual(pan.maskCrops.count, 2)
        let sem = try ImageTargets(s, task: .semantic, maskStride: 4)
        XCTAssertEqual(sem.classes, [0, 1, 2])
        XCTAssertEqual(areas(sem)[0], 600 - 200)
        // Boxes in pixels of the mask map: the image's (x0, y0, x1, y1) over the stride.
        let det = try ImageTargets(s, task: .detection, maskStride: 4)
        XCTAssertEqual(det.boxes![1].0, 15 / 4)
        XCTAssertEqual(det.boxes![1].1, 8 / 4)
        XCTAssertEqual(det.boxes![1].2, 28 / 4)
        XCTAssertEqual(det.boxes![1].3, 18 / 4)
        XCTAssertNil(det.masks)
    }

    func testLoaderIsDeterministicWithAndWithoutPrefetchAndResumes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loader-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try SyntheticWorld.write(to: dir, seed: 3, scale: .small)
        let sources = try SyntheticWorld.datasets.map { try DatasetSource(folder: (dir as NSString).appendingPathComponent($0.name), split: "train") }
        XCTAssertEqual(sources.map(\.count), [24, 24, 24, 24])
        var config = AugmentationConfig()
        config.size = 48
        func loader(prefetch: Int, sampler: MultiDatasetSampler, start: Int = 0) -> DataLoader {
            DataLoader(sources: sources, augmentations: Array(repeating: config, count: 4), sampler: sampler,
                       batchSize: 3, maskStride: 4, seed: 9, startIteration: start, prefetch: prefetch)
        }
        let sampler = MultiDatasetSampler(counts: sources.map(\.count), ratios: [1, 1, 1, 1], seed: 5)
        let a = loader(prefetch: 2, sampler: sampler), b = loader(prefetch: 0, sampler: sampler)
        var saved: (MultiDatasetSampler.State, Int)? = nil
        var batchesA: [TrainingBatch] = []
        for k in 0..<6 {
            let x = try a.next(), y = try b.next()
            XCTAssertEqual(x.iteration, k)
            XCTAssertEqual(x.dataset, y.dataset)
            XCTAssertEqual(x.indices, y.indices)
            XCTAssertEqual(x.images.data, y.images.data)
            XCTAssertEqual(x.images.shape, [3, 3, 48, 48])
            XCTAssertEqual(x.targets.supervision, y.targets.supervision)
            XCTAssertEqual(x.targets.imageLabels, y.targets.imageLabels)
            XCTAssertEqual(x.targets.images.map(\.classes), y.targets.images.map(\.classes))
            XCTAssertEqual(x.targets.images.map { $0.masks?.data }, y.targets.images.map { $0.masks?.data })
            for t in x.targets.images {
                if let masks = t.masks { XCTAssertEqual(masks.shape, [t.classes.count, 48, 48]) }
            }
            if k == 2 { saved = (x.samplerState!, x.iteration + 1) }
            batchesA.append(x)
        }
        a.stop()
        // Resume after batch 2: the same batches 3, 4, 5.
        let restored = MultiDatasetSampler(counts: sources.map(\.count), ratios: [1, 1, 1, 1], restoring: saved!.0)
        let c = loader(prefetch: 1, sampler: restored, start: saved!.1)
        for k in 3..<6 {
            let z = try c.next()
            XCTAssertEqual(z.iteration, k)
            XCTAssertEqual(z.indices, batchesA[k].indices)
            XCTAssertEqual(z.images.data, batchesA[k].images.data)
        }
        c.stop()
    }
}

final class InstanceMaskAugmentationTests: XCTestCase {
    func testInstanceMasksFollowTheImage() throws {
        // 4x6 image; one instance covering rows 1-2, columns 0-2 (column-major RLE).
        let (h, w) = (4, 6)
        var mask = [UInt8](repeating: 0, count: h * w)
        for y in 1...2 { for x in 0...2 { mask[y * w + x] = 1 } }
        var columnMajor = [UInt8](repeating: 0, count: h * w)
        for y in 0..<h { for x in 0..<w { columnMajor[x * h + y] = mask[y * w + x] } }
        var rle: [UInt32] = [], run: UInt32 = 0, prev: UInt8 = 0
        for v in columnMajor { if v != prev { rle.append(run); run = 0; prev = v }; run += 1 }
        rle.append(run)
        let shard = ShardSample(image: [UInt8](repeating: 9, count: h * w * 3), height: h, width: w, sourceID: 1,
                                segments: [ShardSegment(id: 0, classID: 1, area: 6, bbox: [0, 1, 3, 2], rle: rle)])
        let s = try DecodedSample(shard, encoding: .raw)
        XCTAssertEqual(s.instanceMasks, [mask])
        let f = Augmentation.flip(s)
        XCTAssertEqual(f.instanceMasks![0][1 * w + 5], 1)
        XCTAssertEqual(f.instanceMasks![0][1 * w + 0], 0)
        let t = try ImageTargets(Augmentation.crop(s, y0: 1, x0: 1, height: 3, width: 3), task: .instance, maskStride: 4)
        XCTAssertEqual(t.classes, [1])
        XCTAssertEqual(t.masks!.data, [1, 1, 0, 1, 1, 0, 0, 0, 0])
    }
}

/// A training sample that does not decode: the loader stops naming the dataset, the shard and
/// the sample; with `skip` the next sample takes its place and the skip is reported, until more
/// than the allowed share of the dataset was bad.
final class BadSampleLoaderTests: XCTestCase {
    func dataset() throws -> DatasetSource {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("badloader-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let classes = ShardClasses(names: ["a"], sourceIDs: [1], isThing: [true])
        var writer = ShardWriter(dataset: "broken", task: .imageLabels, classes: classes, encoding: .jpeg)
        for i in 0..<4 {
            let image = try JPEG.encode(Image8(width: 8, height: 8, channels: 3, pixels: [UInt8](repeating: UInt8(40 * i), count: 192)))
            writer.append(ShardSample(image: i == 1 ? Array(image.prefix(10)) : image, height: 8, width: 8, sourceID: Int64(i), labels: [0]))
        }
        try writer.write(to: (dir as NSString).appendingPathComponent("train-00000.h5"))
        return try DatasetSource(folder: dir, split: "train")
    }

    func loader(_ source: DatasetSource, _ policy: BadSamplePolicy, fraction: Double = 0.5) -> DataLoader {
        var config = AugmentationConfig.evaluation(size: 8)
        config.size = 8
        return DataLoader(sources: [source], augmentations: [config], sampler: MultiDatasetSampler(counts: [4], ratios: [1], seed: 1),
                          batchSize: 4, maskStride: 4, seed: 2, prefetch: 0, onBadSample: policy, maxBadFraction: fraction)
    }

    func testStopNamesTheSampleAndSkipReplacesAndCountsIt() throws {
        let source = try dataset()
        XCTAssertThrowsError(try loader(source, .stop).next()) {
            XCTAssertTrue("\($0)".hasPrefix("dataset broken, training sample 1 (") && "\($0)".contains("train-00000.h5: images/bytes (sample 1)")
                          && "\($0)".contains("not a readable JPEG"), "\($0)")
        }
        let batch = try loader(source, .skip).next()
        XCTAssertEqual(batch.skipped.count, 1)
        XCTAssertTrue(batch.skipped[0].hasPrefix("dataset broken, training sample 1 ("), batch.skipped[0])
        XCTAssertEqual(batch.badSoFar, 1)
        XCTAssertEqual(batch.images.shape, [4, 3, 8, 8])
        XCTAssertThrowsError(try loader(source, .skip, fraction: 0.1).next()) {
            XCTAssertTrue("\($0)".contains("1 bad training samples, more than data.max_bad_fraction 0.1 of its 4"), "\($0)")
        }
    }
}
