import ArgumentParser
import Core
import Datasets
import Foundation
import TextEncoder

/// `train labelspace`: class names to a label-space file with the Swift text encoder, exactly as
/// `tools/embed_classes.py` makes them (its templates by default), no Python needed.
struct MakeLabelSpace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "labelspace",
        abstract: "Embed class names (a class list file or --classes) into a label-space file with all-MiniLM-L6-v2.",
        discussion: "The text model is read from $UNISEG_TEXT_MODEL or ~/.cache/uniseg/all-MiniLM-L6-v2 (scripts/setup.sh fetches it).")

    @Option(help: "Class list file (labelspaces/vocab/NAME.json: classes with name, optional embed_name).") var vocab: String?
    @Option(help: "Class names, comma-separated (instead of --vocab).") var classes: String?
    @Option(parsing: .singleValue, help: "A prompt template with {} for the name (repeat for several; default: tools/embed_classes.py's six).")
    var templates: [String] = []
    @Option(help: "The label-space file to write (HDF5: names, embeddings).") var out: String
    @Option(help: "The sentence-transformers model folder (default: $UNISEG_TEXT_MODEL or ~/.cache/uniseg/all-MiniLM-L6-v2).")
    var textModel: String?

    func validate() throws {
        guard (vocab == nil) != (classes == nil) else { throw ValidationError("give exactly one of --vocab and --classes") }
    }

    func run() throws {
        let list: ClassVocabulary
        if let vocab { list = try ClassVocabulary.load(vocab) } else { list = try ClassVocabulary(commaSeparated: classes!) }
        let start = Date()
        let encoder = try TextModel.encoder(folder: textModel)
        let templates = self.templates.isEmpty ? TextModel.defaultTemplates : self.templates
        let embeddings = try TextModel.embedClasses(list.embedNames, templates: templates, encoder: encoder)
        try LabelSpace(names: list.names, dim: encoder.dim, embeddings: embeddings).write(to: out, model: TextModel.name, templates: templates)
        print("\(out): \(list.count) classes, \(encoder.dim)-d, \(templates.count) templates (\(String(format: "%.1f", Date().timeIntervalSince(start))) s)")
    }
}
