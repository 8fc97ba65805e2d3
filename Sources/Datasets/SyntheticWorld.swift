import Core
import Foundation

/// The built-in multi-dataset world: four datasets that differ the way COCO panoptic, ADE20K,
/// Objects365 and image-labelled data differ — one scene generator, four label spaces under
/// natural (partly synonymous) names, four kinds of annotation. Rendering is anti-aliased
/// (4x4 supersampling), objects of seven shapes (each in a class-typical hue) occlude each
/// other at varied scales over textured stuff regions.
public enum SyntheticWorld {
    /// What the scene generator draws.
    public enum Shape: String, CaseIterable, Sendable { case disk, square, triangle, diamond, ring, ellipse, cross }
    public enum Stuff: String, CaseIterable, Sendable { case grass, sky, water, wall, sand, road, snow }
    public enum Kind: Hashable, Sendable { case shape(Shape), stuff(Stuff) }

    /// A dataset of the world: its name, task and classes (name and what it labels).
    public struct DatasetSpec: Sendable {
        public var name: String
        public var task: ShardTask
        public var classes: [(name: String, kind: Kind)]
    }

    public static let datasets: [DatasetSpec] = [
        DatasetSpec(name: "synth_panoptic", task: .panoptic, classes: [
            ("ball", .shape(.disk)), ("box", .shape(.square)), ("tent", .shape(.triangle)), ("kite", .shape(.diamond)),
            ("ring", .shape(.ring)), ("grass", .stuff(.grass)), ("sky", .stuff(.sky)), ("water", .stuff(.water)), ("wall", .stuff(.wall)),
        ]),
        DatasetSpec(name: "synth_semantic", task: .semantic, classes: [
            ("lawn", .stuff(.grass)), ("sky", .stuff(.sky)), ("sea", .stuff(.water)), ("brick wall", .stuff(.wall)),
            ("beach", .stuff(.sand)), ("road", .stuff(.road)), ("sphere", .shape(.disk)), ("crate", .shape(.square)),
        ]),
        DatasetSpec(name: "synth_detection", task: .detection, classes: [
            ("soccer ball", .shape(.disk)), ("cardboard box", .shape(.square)), ("kite", .shape(.diamond)),
            ("frisbee", .shape(.ellipse)), ("road sign", .shape(.cross)),
        ]),
        DatasetSpec(name: "synth_labels", task: .imageLabels, classes: [
            ("ball", .shape(.disk)), ("tent", .shape(.triangle)), ("donut", .shape(.ring)), ("frisbee", .shape(.ellipse)),
            ("grass", .stuff(.grass)), ("snow", .stuff(.snow)), ("sand", .stuff(.sand)),
        ]),
    ]

    /// Which world: how the objects are coloured.
    public enum World: String, CaseIterable, Sendable {
        /// Each thing class has a typical hue (the default; version 2).
        case hues
        /// Random hues: the class is the shape alone (world 1's rule, where the reference recipe
        /// learned no things on a CPU budget; version 1 of this world).
        case shapes

        /// Changes whenever the same seed would render different scenes.
        public var version: Int { self == .hues ? 2 : 1 }
    }

    public enum Scale: String, CaseIterable, Sendable {
        /// Seconds to build, for tests: 64x64 images, 24 train and 8 validation per dataset.
        case small
        /// For real CPU training runs: 128x128 images, 2000 train and 200 validation per dataset.
        case full

        var size: Int { self == .small ? 64 : 128 }
        var counts: (train: Int, val: Int) { self == .small ? (24, 8) : (2000, 200) }
    }

    /// One rendered scene: the image and, per pixel, which stuff and which object (if any).
    public struct Scene {
        public var size: Int
        public var rgb: [UInt8]
        /// Stuff kind per pixel.
        public var stuff: [Stuff]
        /// Index into `objects` of the object covering the pixel (coverage >= 0.5), or −1.
        public var object: [Int]
        public var objects: [Shape]
    }

    // MARK: - Scenes

    /// Renders scene `index` of a dataset's split from `seed`: the same arguments always give
    /// the same scene.
    public static func scene(size: Int, seed: UInt64, world: World = .hues) -> Scene {
        var rng = SplitMix(seed)
        // Stuff: a horizon splits sky (or a wall) above and a ground below; sometimes a second ground.
        let top: Stuff = rng.uniform() < 0.7 ? .sky : .wall
        let grounds: [Stuff] = [.grass, .water, .sand, .road, .snow]
        let ground = grounds[rng.int(grounds.count)]
        let second = grounds[rng.int(grounds.count)]
        let horizon = 0.25 + 0.35 * rng.uniform()
        let split = rng.uniform() < 0.5 ? 0.3 + 0.4 * rng.uniform() : 2.0          // x where the second ground starts
        let tilt = (rng.uniform() - 0.5) * 0.3
        var stuff = [Stuff](repeating: .sky, count: size * size)
        var rgb = [Float](repeating: 0, count: size * size * 3)
        let phase = rng.uniform() * 10
        for y in 0..<size {
            for x in 0..<size {
                let u = (Double(x) + 0.5) / Double(size), v = (Double(y) + 0.5) / Double(size)
                let kind: Stuff = v < horizon + tilt * (u - 0.5) ? top : (u > split ? second : ground)
                stuff[y * size + x] = kind
                let c = texture(kind, u: u, v: v, phase: phase, noise: rng.uniform())
                for k in 0..<3 { rgb[(y * size + x) * 3 + k] = c[k] }
            }
        }
        // Objects, painted back to front with anti-aliased coverage.
        var object = [Int](repeating: -1, count: size * size)
        var shapes: [Shape] = []
        let count = 1 + rng.int(4)
        for _ in 0..<count {
            let shape = Shape.allCases[rng.int(Shape.allCases.count)]
            let radius = 0.08 + 0.17 * rng.uniform()                               // scale variety
            let cx = radius + (1 - 2 * radius) * rng.uniform(), cy = radius + (1 - 2 * radius) * rng.uniform()
            let angle = rng.uniform() * Double.pi
            // A class-typical hue, as real object classes have typical colours: shape k's hue is
            // k/7 of the circle ± 0.04, saturation and brightness vary freely. (With random
            // colours, the class being the shape alone, m2f-tiny learned no things in 3 epochs;
            // docs/results.md.)
            // In the shapes world the hue is random (the same draw, so the same layouts).
            let draw = rng.uniform()
            let hue = world == .shapes ? draw : Double(Shape.allCases.firstIndex(of: shape)!) / Double(Shape.allCases.count) + 0.08 * (draw - 0.5)
            let color = hsvToRGB(hue, 0.5 + 0.45 * rng.uniform(), 0.55 + 0.4 * rng.uniform()).map { Float($0) }
            let index = shapes.count
            var covered = 0
            let (ca, sa) = (cos(angle), sin(angle))
            // Only the pixels near the object (every shape lies within 1.3 radii of its centre).
            let reach = 1.3 * radius * Double(size)
            let yRange = max(0, Int(cy * Double(size) - reach))...min(size - 1, Int(cy * Double(size) + reach))
            let xRange = max(0, Int(cx * Double(size) - reach))...min(size - 1, Int(cx * Double(size) + reach))
            for y in yRange {
                for x in xRange {
                    var hits = 0
                    for sy in 0..<4 {
                        for sx in 0..<4 {
                            let u = (Double(x) + (Double(sx) + 0.5) / 4) / Double(size) - cx
                            let v = (Double(y) + (Double(sy) + 0.5) / 4) / Double(size) - cy
                            let (ru, rv) = (u * ca + v * sa, -u * sa + v * ca)
                            if inside(shape, ru / radius, rv / radius) { hits += 1 }
                        }
                    }
                    if hits == 0 { continue }
                    let a = Float(hits) / 16
                    let shade = Float(0.85 + 0.15 * (1 - (Double(y) / Double(size))))
                    for k in 0..<3 { rgb[(y * size + x) * 3 + k] = (1 - a) * rgb[(y * size + x) * 3 + k] + a * color[k] * shade }
                    if hits >= 8 { object[y * size + x] = index; covered += 1 }
                }
            }
            if covered > 0 { shapes.append(shape) } else { for i in object.indices where object[i] == index { object[i] = -1 } }
        }
        // Objects fully hidden by later ones leave no pixels: keep only visible ones, renumbered.
        var remap = [Int](repeating: -1, count: shapes.count), visible: [Shape] = []
        for i in object.indices where object[i] >= 0 && remap[object[i]] < 0 {
            remap[object[i]] = -2
        }
        for i in shapes.indices where remap[i] == -2 { remap[i] = visible.count; visible.append(shapes[i]) }
        for i in object.indices where object[i] >= 0 { object[i] = remap[object[i]] }
        let bytes = rgb.map { UInt8(max(0, min(255, ($0 * 255).rounded()))) }
        return Scene(size: size, rgb: bytes, stuff: stuff, object: object, objects: visible)
    }

    /// RGB in [0, 1] of a hue (turns, any real), saturation and value in [0, 1].
    static func hsvToRGB(_ hue: Double, _ saturation: Double, _ value: Double) -> [Double] {
        let h = (hue - hue.rounded(.down)) * 6
        let sector = Int(h) % 6, f = h - Double(Int(h))
        let (p, q, t) = (value * (1 - saturation), value * (1 - saturation * f), value * (1 - saturation * (1 - f)))
        switch sector {
        case 0: return [value, t, p]
        case 1: return [q, value, p]
        case 2: return [p, value, t]
        case 3: return [p, q, value]
        case 4: return [t, p, value]
        default: return [value, p, q]
        }
    }

    /// Whether a point (in units of the object's radius, object frame) is inside the shape.
    static func inside(_ shape: Shape, _ u: Double, _ v: Double) -> Bool {
        switch shape {
        case .disk: return u * u + v * v <= 1
        case .square: return abs(u) <= 0.8 && abs(v) <= 0.8
        case .triangle: return v <= 0.7 && v >= -0.9 && abs(u) <= 0.95 * (v + 0.9) / 1.6   // apex up
        case .diamond: return abs(u) / 0.7 + abs(v) <= 1
        case .ring: let r = u * u + v * v; return r <= 1 && r >= 0.36
        case .ellipse: return u * u + (v * v) / 0.25 <= 1
        case .cross: return (abs(u) <= 0.9 && abs(v) <= 0.3) || (abs(u) <= 0.3 && abs(v) <= 0.9)
        }
    }

    /// A stuff texture's colour at (u, v), values in [0, 1].
    static func texture(_ kind: Stuff, u: Double, v: Double, phase: Double, noise: Double) -> [Float] {
        let n = (noise - 0.5) * 0.08
        let c: [Double]
        switch kind {
        case .grass: let t = 0.06 * sin(u * 90 + phase) * sin(v * 40); c = [0.22 + t, 0.55 + 2 * t, 0.18]
        case .sky: c = [0.45 + 0.2 * v, 0.65 + 0.15 * v, 0.95]
        case .water: let t = 0.08 * sin(v * 70 + 6 * sin(u * 12 + phase)); c = [0.1, 0.35 + t, 0.6 + t]
        case .wall: let brick = (Int(v * 16) % 2 == 0 ? Int(u * 8) : Int(u * 8 + 0.5)) % 2 == 0; let mortar = (v * 16).truncatingRemainder(dividingBy: 1) < 0.12
            c = mortar ? [0.8, 0.8, 0.75] : (brick ? [0.62, 0.25, 0.18] : [0.55, 0.22, 0.16])
        case .sand: let t = 0.05 * sin(u * 30 + v * 20 + phase); c = [0.86 + t, 0.76 + t, 0.5]
        case .road: let stripe = abs(u - 0.5) < 0.015 && (v * 10).truncatingRemainder(dividingBy: 1) < 0.5; c = stripe ? [0.95, 0.9, 0.3] : [0.3, 0.3, 0.32]
        case .snow: let t = 0.04 * sin(u * 50 + phase) * cos(v * 50); c = [0.92 + t, 0.94 + t, 0.98]
        }
        return c.map { Float(max(0, min(1, $0 + n))) }
    }

    // MARK: - Datasets

    /// The sample of `spec` for a scene: annotations in that dataset's label space, or nil when
    /// the scene shows none of its classes (it is skipped).
    public static func sample(_ spec: DatasetSpec, _ scene: Scene, sourceID: Int64) -> ShardSample? {
        let n = scene.size
        var classOf: [Kind: Int] = [:]
        for (i, c) in spec.classes.enumerated() { classOf[c.kind] = i }
        var s = ShardSample(image: scene.rgb, height: n, width: n, sourceID: sourceID)
        func pixelClass(_ p: Int) -> Int? {
            if scene.object[p] >= 0 { return classOf[.shape(scene.objects[scene.object[p]])] }
            return classOf[.stuff(scene.stuff[p])]
        }
        func box(_ pixels: [Int]) -> [Float] {
            let xs = pixels.map { $0 % n }, ys = pixels.map { $0 / n }
            return [Float(xs.min()!), Float(ys.min()!), Float(xs.max()! - xs.min()! + 1), Float(ys.max()! - ys.min()! + 1)]
        }
        switch spec.task {
        case .semantic:
            // Objects of classes outside the vocabulary are "other": ignored (255), as ADE's 0.
            s.semantic = (0..<(n * n)).map { p in pixelClass(p).map { UInt16($0) } ?? 255 }
            if s.semantic!.allSatisfy({ $0 == 255 }) { return nil }
        case .panoptic:
            var ids = [UInt32](repeating: 0, count: n * n)
            var members: [UInt32: [Int]] = [:]
            var segments: [UInt32: Int] = [:]     // id -> class
            for p in 0..<(n * n) {
                guard let c = pixelClass(p) else { continue }
                // Things: one segment per object; stuff: one segment per class.
                let id: UInt32 = scene.object[p] >= 0 ? UInt32(1000 + scene.object[p]) : UInt32(1 + c)
                ids[p] = id
                members[id, default: []].append(p)
                segments[id] = c
            }
            if segments.isEmpty { return nil }
            s.panoptic = ids
            s.segments = segments.keys.sorted().map { id in
                ShardSegment(id: Int32(id), classID: Int32(segments[id]!), area: Int64(members[id]!.count), bbox: box(members[id]!))
            }
        case .detection, .instance:
            var members: [Int: [Int]] = [:]
            for p in 0..<(n * n) where scene.object[p] >= 0 { members[scene.object[p], default: []].append(p) }
            s.segments = members.keys.sorted().compactMap { o in
                guard let c = classOf[.shape(scene.objects[o])] else { return nil }
                return ShardSegment(id: Int32(o), classID: Int32(c), area: 0, bbox: box(members[o]!))
            }
            if s.segments.isEmpty { return nil }
        case .imageLabels:
            var present = Set<Int>()
            for p in 0..<(n * n) { if let c = pixelClass(p) { present.insert(c) } }
            if present.isEmpty { return nil }
            s.labels = present.sorted().map { Int32($0) }
        }
        return s
    }

    /// Samples (image encoded) of scenes `first ..< first + count` of a dataset's split, rendered
    /// in parallel; nil where the scene shows none of the dataset's classes. The first failure in
    /// scene order is thrown.
    static func renderBlock(_ spec: DatasetSpec, dataset d: Int, split: String, first: Int, count: Int,
                            seed: UInt64, size: Int, world: World) throws -> [ShardSample?] {
        try Parallel.map(count) { j -> ShardSample? in
            let index = first + j
            // Disjoint scene seeds per dataset and split: the datasets show different images.
            let sceneSeed = seed &* 1_000_003 &+ UInt64(d) &* 7_919 &+ (split == "train" ? 0 : 1 << 40) &+ UInt64(index)
            let scene = Self.scene(size: size, seed: sceneSeed, world: world)
            guard var sample = Self.sample(spec, scene, sourceID: Int64(index + 1)) else { return nil }
            sample.image = try pngBytes(scene)
            return sample
        }
    }

    /// The default world's version (`World.hues.version`).
    public static let version = World.hues.version

    /// The stamp `write` leaves in its folder: the world's version, seed and scale (and its name,
    /// for any world but the default).
    public static func stamp(seed: UInt64, scale: Scale, world: World = .hues) -> String {
        let name = world == .hues ? "" : ", \"world\": \"\(world.rawValue)\""
        return "{\"version\": \(world.version)\(name), \"seed\": \(seed), \"scale\": \"\(scale.rawValue)\"}\n"
    }

    /// Whether `folder` already holds this world with `seed` and `scale` (its stamp matches).
    public static func isWritten(in folder: String, seed: UInt64, scale: Scale, world: World = .hues) -> Bool {
        (try? String(contentsOfFile: (folder as NSString).appendingPathComponent("world.json"), encoding: .utf8)) == stamp(seed: seed, scale: scale, world: world)
    }

    /// Writes every dataset's train and validation shards under `folder` (one folder per
    /// dataset, `NAME/train-00000.h5`, `NAME/val-00000.h5`, ...), `samplesPerShard` a shard; the
    /// folder is made anew (`AtomicFile.replaceFolder`).
    /// Returns the number of samples written per dataset and split.
    @discardableResult
    public static func write(to folder: String, seed: UInt64, scale: Scale, world: World = .hues, samplesPerShard: Int = 500,
                             embeddings: [String: (dim: Int, values: [Float])] = [:],
                             progress: (String) -> Void = { _ in }) throws -> [String: (train: Int, val: Int)] {
        var written: [String: (train: Int, val: Int)] = [:]
        // Into a fresh folder that then replaces `folder`: no stale shards of an earlier world,
        // no half world (the stamp is written last, inside).
        try AtomicFile.replaceFolder(folder) { folder in
        let stampPath = (folder as NSString).appendingPathComponent("world.json")
        for (d, spec) in datasets.enumerated() {
            let dir = (folder as NSString).appendingPathComponent(spec.name)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let classes = ShardClasses(names: spec.classes.map(\.name), sourceIDs: spec.classes.indices.map { Int64($0 + 1) },
                                       isThing: spec.classes.map { if case .shape = $0.kind { return true } else { return false } },
                                       embeddings: embeddings[spec.name])
            var counts = (train: 0, val: 0)
            for (split, n) in [("train", scale.counts.train), ("val", scale.counts.val)] {
                var shard = 0, writer = ShardWriter(dataset: spec.name, task: spec.task, classes: classes, encoding: .png)
                var made = 0, index = 0
                var block: [ShardSample?] = [], next = 0
                while made < n {
                    if next == block.count {
                        // Scenes render in parallel blocks and are taken in index order: the
                        // same shards as one scene after another.
                        block = try renderBlock(spec, dataset: d, split: split, first: index, count: 64, seed: seed, size: scale.size, world: world)
                        next = 0
                    }
                    let rendered = block[next]
                    next += 1
                    index += 1
                    guard let sample = rendered else { continue }
                    writer.append(sample)
                    made += 1
                    if writer.count == samplesPerShard || made == n {
                        try writer.write(to: (dir as NSString).appendingPathComponent(String(format: "%@-%05d.h5", split, shard)))
                        shard += 1
                        writer = ShardWriter(dataset: spec.name, task: spec.task, classes: classes, encoding: .png)
                    }
                    if made % 100 == 0 { progress("\(spec.name) \(split): \(made)/\(n)") }
                }
                if split == "train" { counts.train = made } else { counts.val = made }
            }
            written[spec.name] = counts
        }
        // The stamp last (write then rename): present only when every shard is.
        try AtomicFile.write(stamp(seed: seed, scale: scale, world: world), to: stampPath)
        }
        return written
    }
}

/// A small, fast generator for scene layout (splitmix64): reproducible per scene seed.
struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) / 9_007_199_254_740_992.0 }
    mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
