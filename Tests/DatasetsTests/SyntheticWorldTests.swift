import Foundation
import XCTest
@testable import Datasets

final class SyntheticWorldTests: XCTestCase {
    func testSmallWorldWritesValidShardsWithConsistentAnnotations() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("synth-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        let written = try SyntheticWorld.write(to: dir, seed: 7, scale: .small, samplesPerShard: 16)
        XCTAssertEqual(Set(written.keys), ["synth_panoptic", "synth_semantic", "synth_detection", "synth_labels"])
        XCTAssertTrue(SyntheticWorld.isWritten(in: dir, seed: 7, scale: .small), "the stamp names what was written")
        XCTAssertFalse(SyntheticWorld.isWritten(in: dir, seed: 8, scale: .small))
        XCTAssertFalse(SyntheticWorld.isWritten(in: dir, seed: 7, scale: .full))
        for spec in SyntheticWorld.datasets {
            XCTAssertEqual(written[spec.name]!.train, 24)
            XCTAssertEqual(written[spec.name]!.val, 8)
            let first = try ShardReader((dir as NSString).appendingPathComponent("\(spec.name)/train-00000.h5"))
            XCTAssertEqual(first.task, spec.task)
            XCTAssertEqual(first.count, 16, "shards of the requested size")
            XCTAssertEqual(first.classes.names, spec.classes.map(\.name))
            XCTAssertEqual(try ShardReader((dir as NSString).appendingPathComponent("\(spec.name)/train-00001.h5")).count, 8)
            for i in 0..<first.count {
                let s = first.sample(i)
                let image = try s.decodeImage(encoding: first.encoding)
                XCTAssertEqual([image.width, image.height, image.channels], [64, 64, 3])
                switch spec.task {
                case .panoptic:
                    // Every id in the map has a segment whose area is its pixel count, and back.
                    var counts: [UInt32: Int] = [:]
                    for id in s.panoptic! where id != 0 { counts[id, default: 0] += 1 }
                    XCTAssertEqual(Set(counts.keys), Set(s.segments.map { UInt32($0.id) }))
                    for seg in s.segments { XCTAssertEqual(Int(seg.area), counts[UInt32(seg.id)]) }
                    // Stuff classes get one segment per class, things one per object.
                    let stuffSegments = s.segments.filter { !first.classes.isThing[Int($0.classID)] }
                    XCTAssertEqual(Set(stuffSegments.map(\.classID)).count, stuffSegments.count)
                case .semantic:
                    XCTAssertTrue(s.semantic!.allSatisfy { $0 == 255 || Int($0) < spec.classes.count })
                case .detection:
                    XCTAssertFalse(s.segments.isEmpty)
                    for seg in s.segments { XCTAssertTrue(seg.bbox[2] > 0 && seg.bbox[3] > 0 && seg.bbox[0] + seg.bbox[2] <= 64) }
                case .imageLabels:
                    XCTAssertFalse(s.labels!.isEmpty)
                    XCTAssertEqual(s.labels!, s.labels!.sorted())
                case .instance:
                    XCTFail("the world has no instance dataset")
                }
            }
        }
    }

    func testScenesAreReproducibleAndVaried() {
        let a = SyntheticWorld.scene(size: 32, seed: 11), b = SyntheticWorld.scene(size: 32, seed: 11)
        XCTAssertEqual(a.rgb, b.rgb)
        XCTAssertEqual(a.object, b.object)
        let scenes = (0..<40).map { SyntheticWorld.scene(size: 32, seed: UInt64($0)) }
        let shapes = Set(scenes.flatMap(\.objects))
        XCTAssertEqual(shapes.count, SyntheticWorld.Shape.allCases.count, "every shape appears")
        let stuff = Set(scenes.flatMap(\.stuff))
        XCTAssertEqual(stuff.count, SyntheticWorld.Stuff.allCases.count, "every stuff kind appears")
        // Anti-aliasing: object edges produce colours between object and background.
        XCTAssertGreaterThan(Set(a.rgb).count, 40)
    }

    func testHSV() {
        XCTAssertEqual(SyntheticWorld.hsvToRGB(0, 1, 1), [1, 0, 0])
        XCTAssertEqual(SyntheticWorld.hsvToRGB(1.0 / 3, 1, 1), [0, 1, 0])
        XCTAssertEqual(SyntheticWorld.hsvToRGB(-1.0 / 3, 1, 0.5), [0, 0, 0.5], "hues wrap around")
        XCTAssertEqual(SyntheticWorld.hsvToRGB(0.25, 0, 0.7), [0.7, 0.7, 0.7], "no saturation: grey")
    }

    func testCommittedLabelSpacesMatchTheWorld() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let spaces = try LabelSpace.synthetic(from: root.appendingPathComponent("labelspaces").path)
        for spec in SyntheticWorld.datasets {
            let space = spaces[spec.name]!
            XCTAssertEqual(space.dim, 384)
            for k in 0..<space.names.count {
                let row = space.embeddings[(k * 384)..<((k + 1) * 384)]
                XCTAssertEqual(row.reduce(0) { $0 + $1 * $1 }, 1, accuracy: 1e-4, "\(spec.name) \(space.names[k]) is unit norm")
            }
            // The vocabulary file the embeddings were made from lists the same classes.
            let vocab = try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("labelspaces/vocab/\(spec.name).json"))) as! [String: Any]
            let names = (vocab["classes"] as! [[String: Any]]).map { $0["name"] as! String }
            XCTAssertEqual(names, spec.classes.map(\.name))
        }
        // Synonyms across datasets are close in the embedding space (what the classifier uses).
        func cosine(_ a: (String, String), _ b: (String, String)) -> Float {
            let sa = spaces[a.0]!, sb = spaces[b.0]!
            let i = sa.names.firstIndex(of: a.1)!, j = sb.names.firstIndex(of: b.1)!
            return (0..<384).reduce(0) { $0 + sa.embeddings[i * 384 + $1] * sb.embeddings[j * 384 + $1] }
        }
        XCTAssertGreaterThan(cosine(("synth_panoptic", "grass"), ("synth_semantic", "lawn")), 0.8)
        XCTAssertGreaterThan(cosine(("synth_panoptic", "box"), ("synth_detection", "cardboard box")), 0.8)
        XCTAssertLessThan(cosine(("synth_panoptic", "ring"), ("synth_detection", "road sign")), 0.6)
    }

    /// Writing the world again (another shard size) replaces the folder: no stale shard stays.
    func testRewritingReplacesTheFolder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rewrite-\(UUID().uuidString)").path
        try SyntheticWorld.write(to: dir, seed: 1, scale: .small, samplesPerShard: 8)
        let stray = (dir as NSString).appendingPathComponent("synth_panoptic/old-file.h5")
        FileManager.default.createFile(atPath: stray, contents: Data([1]))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/synth_panoptic").filter { $0.hasPrefix("train") }.count, 3)
        try SyntheticWorld.write(to: dir, seed: 1, scale: .small, samplesPerShard: 500)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/synth_panoptic").sorted(), ["train-00000.h5", "val-00000.h5"])
        XCTAssertTrue(SyntheticWorld.isWritten(in: dir, seed: 1, scale: .small))
        let parent = (dir as NSString).deletingLastPathComponent, name = (dir as NSString).lastPathComponent
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: parent).contains { $0.hasPrefix(".\(name).") }, "nothing temporary left")
    }
}
