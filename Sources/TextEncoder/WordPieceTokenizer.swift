import Core
import Foundation

/// BERT's tokenizer as Hugging Face's fast `BertTokenizer` runs it for all-MiniLM-L6-v2
/// (`tokenizer.json`: BertNormalizer, BertPreTokenizer, WordPiece, `[CLS] … [SEP]`):
///
/// 1. normalise: drop NUL, U+FFFD and control characters, turn whitespace into spaces, put
///    spaces around CJK ideographs, strip accents (NFD, then drop nonspacing marks), lower-case
///    character by character;
/// 2. split on whitespace and around every punctuation character (ASCII punctuation and
///    Unicode P*);
/// 3. split each word into the longest vocabulary pieces from the left, pieces after the first
///    prefixed `##`; a word with no such split, or over 100 characters, is `[UNK]`;
/// 4. `[CLS]` first, `[SEP]` last, truncated to `maxLength` tokens in all.
///
/// Pieces are compared as Unicode scalars, not as Swift `String`s (which compare canonically
/// equivalent spellings equal, where the reference does not).
public struct WordPieceTokenizer: Sendable {
    /// Token id by its scalars.
    private let ids: [[Unicode.Scalar]: Int]
    public let tokens: [String]
    public let unknown: Int, classToken: Int, separator: Int, padding: Int
    /// sentence-transformers' `max_seq_length` for all-MiniLM-L6-v2.
    public let maxLength: Int
    public static let maxCharactersPerWord = 100

    /// Reads `vocab.txt` (one token a line; its id is its line number, from 0).
    public init(vocabularyFile path: String, maxLength: Int = 256) throws {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw InputError(path, "cannot be read as UTF-8 text (\(error.localizedDescription))")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        try self.init(tokens: lines.map { String($0.unicodeScalars.reversed().drop(while: { $0.properties.isWhitespace }).reversed().map(Character.init)) },
                      source: path, maxLength: maxLength)
    }

    public init(tokens: [String], source: String = "vocabulary", maxLength: Int = 256) throws {
        var ids: [[Unicode.Scalar]: Int] = [:]
        for (i, t) in tokens.enumerated() where ids[Array(t.unicodeScalars)] == nil { ids[Array(t.unicodeScalars)] = i }
        func id(_ t: String) throws -> Int {
            guard let i = ids[Array(t.unicodeScalars)] else { throw InputError(source, "has no \(t) token (not a BERT vocabulary?)") }
            return i
        }
        guard maxLength >= 2 else { throw InputError(source, "max length \(maxLength) leaves no room for [CLS] and [SEP]") }
        self.ids = ids
        self.tokens = tokens
        unknown = try id("[UNK]"); classToken = try id("[CLS]"); separator = try id("[SEP]"); padding = try id("[PAD]")
        self.maxLength = maxLength
    }

    /// Token ids of `text`, `[CLS]` and `[SEP]` included.
    public func encode(_ text: String) -> [Int] {
        var out = [classToken]
        for word in Self.words(Self.normalized(text)) {
            out += pieces(word)
            if out.count >= maxLength - 1 { break }
        }
        return Array(out.prefix(maxLength - 1)) + [separator]
    }

    /// The tokens of `text` as strings (for tests and messages).
    public func tokenize(_ text: String) -> [String] { encode(text).map { tokens[$0] } }

    /// Step 3: greedy longest-match-first WordPiece.
    func pieces(_ word: [Unicode.Scalar]) -> [Int] {
        if word.count > Self.maxCharactersPerWord { return [unknown] }
        var out: [Int] = [], start = 0
        let prefix = Array("##".unicodeScalars)
        while start < word.count {
            var end = word.count, found: Int?
            while start < end {
                let piece = start > 0 ? prefix + word[start..<end] : Array(word[start..<end])
                if let id = ids[piece] { found = id; break }
                end -= 1
            }
            guard let id = found else { return [unknown] }
            out.append(id)
            start = end
        }
        return out
    }

    /// Step 1, BertNormalizer with clean_text, handle_chinese_chars, strip_accents, lowercase.
    static func normalized(_ text: String) -> [Unicode.Scalar] {
        var cleaned = String.UnicodeScalarView()
        for c in text.unicodeScalars {
            if c.value == 0 || c.value == 0xFFFD || isControl(c) { continue }
            if isWhitespace(c) { cleaned.append(" "); continue }
            if isCJK(c) { cleaned.append(" "); cleaned.append(c); cleaned.append(" "); continue }
            cleaned.append(c)
        }
        var out: [Unicode.Scalar] = []
        for c in String(cleaned).decomposedStringWithCanonicalMapping.unicodeScalars where c.properties.generalCategory != .nonspacingMark {
            out += c.properties.lowercaseMapping.unicodeScalars
        }
        return out
    }

    /// Step 2, BertPreTokenizer: whitespace separates, punctuation stands alone.
    static func words(_ scalars: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var words: [[Unicode.Scalar]] = [], current: [Unicode.Scalar] = []
        for c in scalars {
            if isWhitespace(c) {
                if !current.isEmpty { words.append(current); current = [] }
            } else if isPunctuation(c) {
                if !current.isEmpty { words.append(current); current = [] }
                words.append([c])
            } else {
                current.append(c)
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    /// Rust's `char::is_whitespace` (the White_Space property), as the reference uses.
    static func isWhitespace(_ c: Unicode.Scalar) -> Bool { c.properties.isWhitespace }

    /// Other (C*) but tab, newline and carriage return.
    static func isControl(_ c: Unicode.Scalar) -> Bool {
        if c == "\t" || c == "\n" || c == "\r" { return false }
        switch c.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    static func isPunctuation(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII, (33...47).contains(c.value) || (58...64).contains(c.value)
            || (91...96).contains(c.value) || (123...126).contains(c.value) { return true }
        switch c.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    /// The CJK Unified Ideographs blocks BERT spaces out.
    static func isCJK(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F: return true
        default: return false
        }
    }
}
