import Core
import Foundation

/// A class list file (`labelspaces/vocab/NAME.json`): `{"classes": [{"id": 1, "name": "ball",
/// "isthing": 1, "embed_name": "ball"}, ...]}` in class order. `name` is required; `id`
/// defaults to the position + 1, `isthing` to `defaultIsThing`, `embed_name` (the words the
/// text encoder embeds, e.g. "tv" for "tv-other") to the name.
public struct ClassVocabulary: Equatable, Sendable {
    public var names: [String]
    public var embedNames: [String]
    public var sourceIDs: [Int64]
    public var isThing: [Bool]

    public init(names: [String], embedNames: [String]? = nil, sourceIDs: [Int64]? = nil, isThing: [Bool]? = nil) {
        self.names = names
        self.embedNames = embedNames ?? names
        self.sourceIDs = sourceIDs ?? names.indices.map { Int64($0 + 1) }
        self.isThing = isThing ?? names.map { _ in true }
    }

    public var count: Int { names.count }

    /// Names given on a command line: "zebra, giraffe, traffic light" (each trimmed; no
    /// empty or repeated names).
    public init(commaSeparated list: String) throws {
        let names = list.split(separator: ",", omittingEmptySubsequences: false).map { normalizedClassName(String($0)) }
        if let i = names.firstIndex(where: \.isEmpty) { throw InputError("--classes", "name \(i + 1) of '\(list)' is empty") }
        if let dup = names.enumerated().first(where: { names.firstIndex(of: $0.element) != $0.offset }) {
            throw InputError("--classes", "'\(dup.element)' is given twice")
        }
        self.init(names: names)
    }

    public static func load(_ path: String, defaultIsThing: Bool = true) throws -> ClassVocabulary {
        guard let data = FileManager.default.contents(atPath: path) else { throw InputError(path, "cannot be read") }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw InputError(path, "not a JSON object (a class list is {\"classes\": [{\"name\": ...}, ...]})")
        }
        guard let list = root["classes"] as? [[String: Any]], !list.isEmpty else {
            throw InputError("\(path): classes", "missing, empty or not a list of objects")
        }
        var vocab = ClassVocabulary(names: [])
        var seen: [String: Int] = [:]
        for (i, c) in list.enumerated() {
            func integer(_ key: String) throws -> Int? {
                guard let v = c[key] else { return nil }
                guard let n = v as? NSNumber, let x = Int(exactly: n.doubleValue) else {
                    throw InputError("\(path): classes[\(i)].\(key)", "must be an integer, is \(v)")
                }
                return x
            }
            guard let raw = c["name"] as? String, !normalizedClassName(raw).isEmpty else {
                throw InputError("\(path): classes[\(i)].name", "missing or empty")
            }
            let name = normalizedClassName(raw)
            if let first = seen[name] { throw InputError("\(path): classes[\(i)].name", "'\(name)' is also class \(first)") }
            seen[name] = i
            let embed = c["embed_name"].map { ($0 as? String).map(normalizedClassName) ?? "" } ?? name
            guard !embed.isEmpty else { throw InputError("\(path): classes[\(i)].embed_name", "must be a non-empty string") }
            vocab.names.append(name)
            vocab.embedNames.append(embed)
            vocab.sourceIDs.append(Int64(try integer("id") ?? i + 1))
            vocab.isThing.append(try integer("isthing").map { $0 != 0 } ?? defaultIsThing)
        }
        return vocab
    }

    /// The classes of a shard.
    public var shardClasses: ShardClasses { ShardClasses(names: names, sourceIDs: sourceIDs, isThing: isThing) }
}
