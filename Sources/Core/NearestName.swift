/// The candidate closest to `name` by edit distance, if reasonably close.
public func nearestName(_ name: String, in candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var prev = Array(0...b.count)
        for i in 1...Swift.max(a.count, 1) where !a.isEmpty {
            var cur = [i] + [Int](repeating: 0, count: b.count)
            for j in 1...Swift.max(b.count, 1) where !b.isEmpty {
                cur[j] = Swift.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return prev[b.count]
    }
    let a = Array(name)
    guard let best = candidates.min(by: { distance(a, Array($0)) < distance(a, Array($1)) }) else { return nil }
    return distance(a, Array(best)) <= Swift.max(2, name.count / 3) ? best : nil
}
