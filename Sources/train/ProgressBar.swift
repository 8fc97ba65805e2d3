import Foundation

/// A one-line progress bar with an ETA, drawn only when stdout is a terminal.
final class ProgressBar {
    let label: String
    let start = Date()
    let enabled = isatty(STDOUT_FILENO) != 0
    private var lastDraw = Date.distantPast

    init(_ label: String) { self.label = label }

    func update(_ done: Int, _ total: Int) {
        guard enabled, total > 0, done == total || Date().timeIntervalSince(lastDraw) > 0.1 else { return }
        lastDraw = Date()
        let fraction = Double(done) / Double(total)
        let width = 30, filled = Int(fraction * Double(width))
        let elapsed = Date().timeIntervalSince(start)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        print("\r\(label) [\(bar)] \(done)/\(total)  ETA \(Self.clock(eta))   ", terminator: done == total ? "\n" : "")
        fflush(stdout)
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return String(format: "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60)
    }
}
