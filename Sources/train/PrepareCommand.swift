import ArgumentParser
import Datasets
import Foundation
import COCOMask

/// `train prepare ...`: convert datasets in the field's formats into shards.
struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert COCO panoptic, COCO instances, Objects365, ADE20K or image-label data into shards.",
        subcommands: [PrepareCOCOPanoptic.self, PrepareCOCOInstances.self, PrepareObjects365.self, PrepareADE20K.self, PrepareImageLabels.self])
}

/// Options every converter shares.
struct PrepareOutput: ParsableArguments {
    @Option(help: "Output folder for the shards.") var out: String
    @Option(help: "Dataset name stored in the shards.") var name: String
    @Option(help: "Split name: shard files are SPLIT-00000.h5, ...") var split = "train"
    @Option(help: "Samples per shard file.") var samplesPerShard = 1000
    @Flag(help: "Store decoded (raw) images instead of the source JPEG/PNG bytes.") var raw = false
    @Flag(help: "Skip invalid images and annotations (each reported, with counts) instead of stopping at the first.") var skipInvalid = false

    func validate() throws {
        guard samplesPerShard > 0 else { throw ValidationError("--samples-per-shard must be positive") }
    }

    var options: ConversionOptions {
        var o = ConversionOptions(output: out, name: name)
        o.split = split
        o.samplesPerShard = samplesPerShard
        o.keepEncoded = !raw
        o.skipInvalid = skipInvalid
        return o
    }

    /// Runs a conversion with a progress bar; reports what was skipped and noticed.
    func convert(_ body: (ConversionOptions, @escaping Converters.Progress) throws -> Int) throws {
        let bar = ProgressBar(name)
        let start = Date()
        let options = self.options
        let n = try body(options) { bar.update($0, $1) }
        print(String(format: "%@: %d samples in %@ (%.1f s)", name, n, out, Date().timeIntervalSince(start)))
        for note in options.report.notes { print("note: \(note)") }
        let skipped = options.report.skipped
        if !skipped.isEmpty {
            print("skipped \(skipped.count) invalid item(s):")
            for e in skipped.prefix(50) { print("  \(e)") }
            if skipped.count > 50 { print("  ... and \(skipped.count - 50) more") }
        }
    }
}

struct PrepareCOCOPanoptic: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "coco-panoptic", abstract: "COCO panoptic (panoptic JSON + PNG folder + image folder).")
    @Option(help: "Panoptic annotations JSON.") var json: String
    @Option(help: "Folder of panoptic PNGs.") var pngDir: String
    @Option(help: "Folder of images.") var imageDir: String
    @OptionGroup var output: PrepareOutput
    func run() throws {
        try output.convert { options, progress in try Converters.cocoPanoptic(json: json, pngFolder: pngDir, imageFolder: imageDir, options: options, progress: progress) }
    }
}

struct PrepareCOCOInstances: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "coco-instances", abstract: "COCO instances (JSON with polygons and RLE) with masks.")
    @Option(help: "Instances JSON.") var json: String
    @Option(help: "Folder of images.") var imageDir: String
    @OptionGroup var output: PrepareOutput
    func run() throws {
        try output.convert { options, progress in try Converters.cocoInstances(json: json, imageFolder: imageDir, boxesOnly: false, options: options, progress: progress) }
    }
}

struct PrepareObjects365: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "objects365", abstract: "Objects365 (COCO-style JSON with boxes): detection shards.")
    @Option(help: "COCO-style annotations JSON.") var json: String
    @Option(help: "Folder of images.") var imageDir: String
    @OptionGroup var output: PrepareOutput
    func run() throws {
        try output.convert { options, progress in try Converters.cocoInstances(json: json, imageFolder: imageDir, boxesOnly: true, options: options, progress: progress) }
    }
}

struct PrepareADE20K: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ade20k", abstract: "ADE20K scene parsing (images + label PNGs; label 0 is ignored).")
    @Option(help: "Folder of images.") var imageDir: String
    @Option(help: "Folder of label PNGs.") var labelDir: String
    @Option(help: "Class list (vocabulary JSON).") var vocab = "labelspaces/vocab/ade20k_150.json"
    @OptionGroup var output: PrepareOutput
    func run() throws {
        try output.convert { options, progress in try Converters.ade20k(imageFolder: imageDir, labelFolder: labelDir, vocab: vocab, options: options, progress: progress) }
    }
}

struct PrepareImageLabels: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "image-labels", abstract: "Image-level labels (a JSON of image file -> class names).")
    @Option(help: "Labels JSON: {\"file.jpg\": [\"class\", ...]}.") var json: String
    @Option(help: "Folder of images.") var imageDir: String
    @Option(help: "Class list (vocabulary JSON).") var vocab: String
    @OptionGroup var output: PrepareOutput
    func run() throws {
        try output.convert { options, progress in try Converters.imageLabels(json: json, imageFolder: imageDir, vocab: vocab, options: options, progress: progress) }
    }
}
