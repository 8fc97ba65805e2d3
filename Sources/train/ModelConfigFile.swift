import Foundation
import Autograd
import Models
import Yams

/// Reads the `model` section of a YAML config into an `M2FConfig`. Unknown keys are errors that
/// name the file, the key and the likely intended key. (The full config schema of training
/// joins this when the trainer lands.)
enum ModelConfigFile {
    static func load(_ path: String) throws -> M2FConfig {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw CommandError("\(path): cannot read the file") }
        let root: Any?
        do { root = try Yams.load(yaml: text) } catch { throw CommandError("\(path): not valid YAML (\(error))") }
        guard let top = root as? [String: Any] else { throw CommandError("\(path): expected a mapping at the top level") }
        guard let model = top["model"] else { return M2FConfig() }
        guard let keys = model as? [String: Any] else { throw CommandError("\(path): model: expected a mapping") }
        let known = M2FConfig.CodingKeys.allCases.map(\.rawValue)
        for key in keys.keys.sorted() where !known.contains(key) {
            let hint = nearestName(key, in: known).map { " (did you mean '\($0)'?)" } ?? ""
            throw CommandError("\(path): model.\(key): unknown key\(hint)")
        }
        do {
            struct File: Decodable { let model: M2FConfig }
            let config = try YAMLDecoder().decode(File.self, from: text).model
            try config.validate()
            return config
        } catch let error as ConfigError {
            throw CommandError("\(path): model.\(error.key): \(error.message)")
        } catch let DecodingError.typeMismatch(_, context) {
            throw CommandError("\(path): model.\(context.codingPath.map(\.stringValue).joined(separator: ".")): wrong type (\(context.debugDescription))")
        } catch {
            throw CommandError("\(path): model: \(error)")
        }
    }
}
