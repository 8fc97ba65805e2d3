import Autograd
import Core
import Datasets
import Foundation
import Losses
import Models
import Targets
import Yams

/// An error in a config, naming the file (or `--set`), the key and, where it helps, the key
/// that was probably meant.
public struct ConfigFileError: LocatedError, Equatable {
    public var file: String
    public var key: String
    public var message: String
    public var location: String { key.isEmpty ? file : "\(file): \(key)" }
    public var problem: String { message }
}

/// Reads YAML configs as Detectron2 users expect: `_base_: other.yaml` (relative to the file,
/// merged recursively, the child wins), command-line overrides `key.path=value` last, one typed
/// schema (`TrainConfig`), unknown keys and wrong types as errors naming the file and the key.
public enum ConfigLoader {
    /// The config of `path` with `overrides` applied. With `requireData` false (commands that
    /// only build the model), the data section need not name any dataset.
    public static func load(_ path: String, overrides: [String] = [], requireData: Bool = true) throws -> TrainConfig {
        var origins: [String: String] = [:]
        let tree = try loadTree(path, origins: &origins, prefix: "", chain: [])
        return try finish(tree, origins: origins, path: path, overrides: overrides, requireData: requireData)
    }

    /// A config given as YAML text (a checkpoint's stored config), `name` standing for its file
    /// in errors.
    public static func load(yaml text: String, named name: String, overrides: [String] = [], requireData: Bool = true) throws -> TrainConfig {
        var origins: [String: String] = [:]
        let tree = try parseTree(text, path: name, origins: &origins, prefix: "", chain: [])
        return try finish(tree, origins: origins, path: name, overrides: overrides, requireData: requireData)
    }

    /// Overrides, key check, decoding over the defaults, validation.
    static func finish(_ loaded: [String: Any], origins given: [String: String], path: String, overrides: [String],
                       requireData: Bool) throws -> TrainConfig {
        var tree = loaded, origins = given
        for o in overrides { try apply(override: o, to: &tree, origins: &origins) }
        // Every key given must be one the schema has (its defaults, encoded, list every key) ...
        let defaults = try encodedTree(TrainConfig())
        try checkKeys(tree, against: defaults, prefix: "", origins: origins, root: path)
        // ... and the file is decoded over those defaults, so the schema's types need no
        // hand-written decoding: a key is declared once, with its default, in `TrainConfig`.
        let config = try decode(try overDefaults(tree, defaults, prefix: ""), origins: origins, root: path)
        try validate(config, origins: origins, root: path, requireData: requireData)
        if config.model.precision == .bfloat16 && !GEMMPrecision.bfloat16Available {
            FileHandle.standardError.write(Data(("warning: model.precision is bfloat16, which needs a CPU with AVX-512 and "
                + "AVX512-BF16; this one runs the model's GEMMs in float32\n").utf8))
        }
        return config
    }

    /// The schema from a complete tree (every key present), with decoding errors named by key.
    static func decode(_ full: [String: Any], origins: [String: String], root path: String) throws -> TrainConfig {
        let yaml: String
        do { yaml = try Yams.dump(object: full) } catch { throw ConfigFileError(file: path, key: "", message: "cannot re-serialise: \(error)") }
        do {
            return try YAMLDecoder().decode(TrainConfig.self, from: yaml)
        } catch let DecodingError.typeMismatch(type, context) {
            let key = keyPath(context.codingPath)
            throw ConfigFileError(file: origin(key, origins, path), key: key, message: "wrong type (expected \(type))")
        } catch let DecodingError.dataCorrupted(context) {
            let key = keyPath(context.codingPath)
            let choices = Self.choices[key.replacingOccurrences(of: #"\[\d+\]"#, with: "[]", options: .regularExpression)]
            throw ConfigFileError(file: origin(key, origins, path), key: key,
                                  message: choices.map { "must be one of \($0.joined(separator: ", "))" } ?? context.debugDescription)
        } catch let DecodingError.valueNotFound(type, context) {
            let key = keyPath(context.codingPath)
            throw ConfigFileError(file: origin(key, origins, path), key: key, message: "needs a value (\(type))")
        }
    }

    /// The allowed values of the schema's enumerations, by key (list items as `[]`).
    static let choices: [String: [String]] = [
        "solver.schedule": SolverConfig.Schedule.allCases.map(\.rawValue),
        "data.label_space": UnifiedLabelSpace.Form.allCases.map(\.rawValue),
        "loss.image_label_rule": ImageLabelLoss.Rule.allCases.map(\.rawValue),
        "data.on_bad_sample": BadSamplePolicy.allCases.map(\.rawValue),
        "model.precision": GEMMPrecision.allCases.map(\.rawValue),
    ]

    /// Defaults of the items of lists of mappings, by key path: each item is decoded over them.
    static func listItemDefaults() throws -> [String: [String: Any]] {
        ["data.datasets": try encodedTree(DatasetConfig())]
    }

    /// A value of the schema as the tree YAML would give for it.
    static func encodedTree<T: Encodable>(_ value: T) throws -> [String: Any] {
        (try Yams.load(yaml: try YAMLEncoder().encode(value)) as? [String: Any]) ?? [:]
    }

    /// `given` over `defaults`: mappings merged recursively, items of known lists of mappings
    /// merged over their item defaults, anything else replaced.
    static func overDefaults(_ given: [String: Any], _ defaults: [String: Any], prefix: String) throws -> [String: Any] {
        var out = defaults
        for (k, v) in given {
            let key = prefix.isEmpty ? k : prefix + "." + k
            if let m = v as? [String: Any], let d = defaults[k] as? [String: Any] {
                out[k] = try overDefaults(m, d, prefix: key)
            } else if let list = v as? [Any], let item = try listItemDefaults()[key] {
                out[k] = try list.map { element -> Any in
                    guard let m = element as? [String: Any] else { return element }
                    return try overDefaults(m, item, prefix: key)
                }
            } else {
                out[k] = v
            }
        }
        return out
    }

    /// The fully resolved config as YAML (what a run writes to its output folder).
    public static func yaml(_ config: TrainConfig) throws -> String { try YAMLEncoder().encode(config) }

    static func loadTree(_ path: String, origins: inout [String: String], prefix: String, chain: [String]) throws -> [String: Any] {
        let resolved = URL(fileURLWithPath: path).standardizedFileURL.path
        guard !chain.contains(resolved) else { throw ConfigFileError(file: path, key: "_base_", message: "inherits from itself (\((chain + [resolved]).joined(separator: " -> ")))") }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ConfigFileError(file: path, key: "", message: "cannot read the file") }
        return try parseTree(text, path: path, origins: &origins, prefix: prefix, chain: chain + [resolved])
    }

    /// The tree of one file's text, its `_base_` (relative to `path`'s folder) merged under it.
    static func parseTree(_ text: String, path: String, origins: inout [String: String], prefix: String, chain: [String]) throws -> [String: Any] {
        let loaded: Any?
        do { loaded = try Yams.load(yaml: text) } catch { throw ConfigFileError(file: path, key: "", message: "not valid YAML: \(error)") }
        guard var tree = (loaded ?? [String: Any]()) as? [String: Any] else { throw ConfigFileError(file: path, key: "", message: "expected a mapping at the top level") }
        var base: [String: Any] = [:]
        if let b = tree.removeValue(forKey: "_base_") {
            guard let name = b as? String else { throw ConfigFileError(file: path, key: "_base_", message: "must be a file name") }
            let basePath = name.hasPrefix("/") ? name : (((path as NSString).deletingLastPathComponent) as NSString).appendingPathComponent(name)
            base = try loadTree(basePath, origins: &origins, prefix: prefix, chain: chain)
        }
        record(tree, origins: &origins, prefix: "", file: path)
        return merge(base, tree)
    }

    /// `child` over `base`: mappings merge recursively, anything else is replaced.
    static func merge(_ base: [String: Any], _ child: [String: Any]) -> [String: Any] {
        var out = base
        for (k, v) in child {
            if let b = out[k] as? [String: Any], let c = v as? [String: Any] { out[k] = merge(b, c) } else { out[k] = v }
        }
        return out
    }

    static func record(_ tree: [String: Any], origins: inout [String: String], prefix: String, file: String) {
        for (k, v) in tree {
            let key = prefix.isEmpty ? k : prefix + "." + k
            origins[key] = file
            if let sub = v as? [String: Any] { record(sub, origins: &origins, prefix: key, file: file) }
        }
    }

    /// `a.b.c=value`, the value read as YAML (`2e-4`, `[1, 1, 2]`, `true`, `text`).
    static func apply(override: String, to tree: inout [String: Any], origins: inout [String: String]) throws {
        guard let eq = override.firstIndex(of: "="), eq != override.startIndex else {
            throw ConfigFileError(file: "--set", key: override, message: "expected key.path=value")
        }
        let key = String(override[..<eq]), text = String(override[override.index(after: eq)...])
        let value: Any
        do { value = try Yams.load(yaml: text) ?? "" } catch { throw ConfigFileError(file: "--set", key: key, message: "value is not valid YAML") }
        func set(_ node: inout [String: Any], _ parts: ArraySlice<Substring>) {
            let head = String(parts.first!)
            if parts.count == 1 { node[head] = value; return }
            var child = node[head] as? [String: Any] ?? [:]
            set(&child, parts.dropFirst())
            node[head] = child
        }
        set(&tree, key.split(separator: ".")[...])
        origins[key] = "--set"
    }

    static func checkKeys(_ given: [String: Any], against known: [String: Any], prefix: String, origins: [String: String], root: String) throws {
        for (k, v) in given {
            let key = prefix.isEmpty ? k : prefix + "." + k
            guard let sub = known[k] else {
                let hint = nearestName(k, in: Array(known.keys)).map { " (did you mean '\(prefix.isEmpty ? $0 : prefix + "." + $0)'?)" } ?? ""
                throw ConfigFileError(file: origin(key, origins, root), key: key, message: "unknown key\(hint)")
            }
            if let m = v as? [String: Any], let subMap = sub as? [String: Any] {
                try checkKeys(m, against: subMap, prefix: key, origins: origins, root: root)
            } else if let list = v as? [Any], let item = try listItemDefaults()[key] {
                for (i, element) in list.enumerated() {
                    if let m = element as? [String: Any] { try checkKeys(m, against: item, prefix: "\(key)[\(i)]", origins: origins, root: root) }
                }
            }
        }
    }

    static func validate(_ c: TrainConfig, origins: [String: String], root: String, requireData: Bool) throws {
        func fail(_ key: String, _ message: String) -> ConfigFileError {
            ConfigFileError(file: origin(key, origins, root), key: key, message: message)
        }
        if c.version != TrainConfig.currentVersion {
            throw fail("version", "is \(c.version); this build reads config version \(TrainConfig.currentVersion)")
        }
        // Every number must be finite (NaN or infinity in a ratio, a scale, a mean or a rate
        // would train on in silence).
        func finite(_ node: Any, _ key: String) throws {
            if let m = node as? [String: Any] { for (k, v) in m { try finite(v, key.isEmpty ? k : key + "." + k) } }
            else if let list = node as? [Any] { for (i, v) in list.enumerated() { try finite(v, "\(key)[\(i)]") } }
            else if let d = node as? Double, !d.isFinite { throw fail(key, "must be a finite number, not \(d)") }
        }
        try finite(try encodedTree(c), "")
        // Sizes and counts that would exhaust memory are refused up front (README: input limits).
        func atMost(_ key: String, _ value: Int, _ limit: Int) throws {
            if value > limit { throw fail(key, "is \(value); at most \(limit)") }
        }
        do { try c.model.validate() } catch let error as ConfigError { throw fail("model.\(error.key)", error.message) }
        let s = c.solver
        if s.maxIter <= 0 { throw fail("solver.max_iter", "must be positive") }
        if s.imsPerBatch <= 0 { throw fail("solver.ims_per_batch", "must be positive") }
        if !(s.baseLR > 0) { throw fail("solver.base_lr", "must be positive") }
        if s.checkpointPeriod <= 0 { throw fail("solver.checkpoint_period", "must be positive") }
        if s.logPeriod <= 0 { throw fail("solver.log_period", "must be positive") }
        if s.keepCheckpoints <= 0 { throw fail("solver.keep_checkpoints", "must be positive") }
        if s.warmupIters < 0 { throw fail("solver.warmup_iters", "must be >= 0") }
        if s.betas.count != 2 || s.betas.contains(where: { $0 < 0 || $0 >= 1 }) { throw fail("solver.betas", "needs two values in [0, 1)") }
        if s.clipNorm < 0 { throw fail("solver.clip_norm", "must be >= 0 (0: no clipping)") }
        let l = c.loss
        if l.points <= 0 { throw fail("loss.points", "must be positive") }
        if l.oversampleRatio < 1 { throw fail("loss.oversample_ratio", "must be >= 1") }
        if !(0...1).contains(l.importanceSampleRatio) { throw fail("loss.importance_sample_ratio", "must be in [0, 1]") }
        if !(l.temperature > 0) { throw fail("loss.temperature", "must be positive") }
        if l.pilotingGroups < 1 { throw fail("loss.piloting_groups", "must be >= 1") }
        try atMost("loss.piloting_groups", l.pilotingGroups, 32)
        for (name, v) in [("piloting_point_noise", l.pilotingPointNoise), ("piloting_shift_noise", l.pilotingShiftNoise),
                          ("piloting_scale_noise", l.pilotingScaleNoise), ("piloting_label_noise", l.pilotingLabelNoise)] where !(0...1).contains(v) {
            throw fail("loss.\(name)", "must be in [0, 1]")
        }
        if let bad = l.pilotingLayers.first(where: { !(0..<c.model.decoderLayers).contains($0) }) {
            throw fail("loss.piloting_layers", "layer \(bad) is not one of the model's decoder layers 0..<\(c.model.decoderLayers)")
        }
        if !(0...1).contains(c.test.unionSimilarity) { throw fail("test.union_similarity", "must be in [0, 1] (1: same names only)") }
        if !(0...1).contains(c.test.overlayThreshold) { throw fail("test.overlay_threshold", "must be in [0, 1]") }
        if c.test.evalPeriod < 0 { throw fail("test.eval_period", "must be >= 0") }
        if c.test.maxImages < 0 { throw fail("test.max_images", "must be >= 0 (0: all)") }
        if !c.model.decoupledQueries.isEmpty && l.classAgnostic {
            throw fail("model.decoupled_queries", "matches things and stuff apart, which loss.class_agnostic does not tell apart; use one of them")
        }
        if l.boxConditionedMasks && l.maskPiloting {
            throw fail("loss.box_conditioned_masks", "and loss.mask_piloting both feed extra queries to the decoder; use one of them")
        }
        if l.boxConditionedStart < 0 { throw fail("loss.box_conditioned_start", "must be >= 0") }
        if c.test.calibration.power < 0 { throw fail("test.calibration.power", "must be >= 0 (0: no calibration)") }
        if c.test.calibration.images < 1 { throw fail("test.calibration.images", "must be >= 1") }
        try atMost("solver.ims_per_batch", s.imsPerBatch, 1024)
        try atMost("loss.points", l.points, 1 << 20)
        try atMost("loss.oversample_ratio", l.oversampleRatio, 16)
        if !(0...1).contains(s.warmupFactor) { throw fail("solver.warmup_factor", "must be in [0, 1]") }
        if s.weightDecay < 0 { throw fail("solver.weight_decay", "must be >= 0") }
        if s.backboneMultiplier < 0 { throw fail("solver.backbone_multiplier", "must be >= 0") }
        if !(s.gamma > 0) { throw fail("solver.gamma", "must be positive") }
        for (name, w) in [("class_weight", l.classWeight), ("mask_weight", l.maskWeight), ("dice_weight", l.diceWeight),
                          ("no_object_weight", l.noObjectWeight), ("box_projection_weight", l.boxProjectionWeight),
                          ("image_label_weight", l.imageLabelWeight), ("scaledet_hard_weight", l.scaleDetHardWeight),
                          ("scaledet_soft_weight", l.scaleDetSoftWeight), ("focal_gamma", l.focalGamma),
                          ("contrastive_weight", l.contrastiveWeight)] where w < 0 {
            throw fail("loss." + name, "must be >= 0")
        }
        if !(0...1).contains(l.focalAlpha) { throw fail("loss.focal_alpha", "must be in [0, 1]") }
        if !(0...64).contains(c.data.prefetch) { throw fail("data.prefetch", "must be in 0...64") }
        if !(0...1).contains(c.data.maxBadFraction) { throw fail("data.max_bad_fraction", "must be in [0, 1]") }
        if !(0...1).contains(c.test.objectMaskThreshold) { throw fail("test.object_mask_threshold", "must be in [0, 1]") }
        if !(0...1).contains(c.test.overlapThreshold) { throw fail("test.overlap_threshold", "must be in [0, 1]") }
        if !requireData { return }
        if c.data.datasets.isEmpty { throw fail("data.datasets", "needs at least one dataset") }
        var names = Set<String>()
        for (i, d) in c.data.datasets.enumerated() {
            let key = "data.datasets[\(i)]"
            if d.name.isEmpty { throw fail(key + ".name", "is required") }
            if !names.insert(d.name).inserted { throw fail(key + ".name", "'\(d.name)' appears twice") }
            if d.path.isEmpty { throw fail(key + ".path", "is required") }
            if d.ratio < 0 { throw fail(key + ".ratio", "must be >= 0") }
            if d.repeatThreshold < 0 { throw fail(key + ".repeat_threshold", "must be >= 0 (0: off)") }
            if d.augmentation.size <= 0 { throw fail(key + ".augmentation.size", "must be positive") }
            try atMost(key + ".augmentation.size", d.augmentation.size, 2048)
            if !(d.augmentation.minScale > 0 && d.augmentation.minScale <= d.augmentation.maxScale) {
                throw fail(key + ".augmentation.min_scale", "needs 0 < min_scale <= max_scale")
            }
            if d.augmentation.maxScale > 16 { throw fail(key + ".augmentation.max_scale", "is \(d.augmentation.maxScale); at most 16") }
            if !(0...1).contains(d.augmentation.colorJitter) { throw fail(key + ".augmentation.color_jitter", "must be in [0, 1]") }
        }
        if !c.data.datasets.contains(where: { $0.ratio > 0 }) { throw fail("data.datasets", "needs a dataset with ratio > 0") }
    }

    static func keyPath(_ path: [CodingKey]) -> String {
        var text = ""
        for k in path {
            if let i = k.intValue { text += "[\(i)]" } else { text += (text.isEmpty ? "" : ".") + k.stringValue }
        }
        return text
    }

    /// The file that set `key` (or its nearest set parent).
    static func origin(_ key: String, _ origins: [String: String], _ root: String) -> String {
        var k = key
        while true {
            if let o = origins[k] { return o }
            guard let cut = k.lastIndex(where: { $0 == "." || $0 == "[" }) else { return root }
            k = String(k[..<cut])
        }
    }
}
