/// Exact minimum-cost assignment for rectangular cost matrices: the shortest augmenting path
/// method (Jonker-Volgenant, in Crouse's formulation, as `scipy.optimize.linear_sum_assignment`
/// implements it), O(n²m) for n = min(rows, cols). Every row is assigned when rows <= cols,
/// else every column. `+inf` marks a forbidden pair; NaN and `-inf` are rejected.

public struct Assignment: Equatable {
    /// Matched row indices, ascending, and the column matched to each.
    public var rows: [Int]
    public var cols: [Int]
    public var totalCost: Double
}

public enum AssignmentError: Error, CustomStringConvertible, Equatable {
    /// Some entry is NaN or -inf.
    case invalidEntry(row: Int, col: Int, value: Double)
    /// No complete assignment avoids the forbidden (+inf) pairs.
    case infeasible

    public var description: String {
        switch self {
        case .invalidEntry(let r, let c, let v):
            return "cost matrix entry (\(r), \(c)) is \(v): costs must be finite or +inf (forbidden)"
        case .infeasible: return "cost matrix is infeasible: no complete assignment avoids the forbidden (+inf) pairs"
        }
    }
}

/// Minimum-cost assignment of the `rows` x `cols` row-major matrix `cost`.
public func linearSumAssignment(_ cost: [Double], rows: Int, cols: Int) throws -> Assignment {
    precondition(cost.count == rows * cols, "linearSumAssignment: \(cost.count) costs for a \(rows) x \(cols) matrix")
    for (i, v) in cost.enumerated() where v.isNaN || v == -.infinity {
        throw AssignmentError.invalidEntry(row: i / max(cols, 1), col: i % max(cols, 1), value: v)
    }
    if rows == 0 || cols == 0 { return Assignment(rows: [], cols: [], totalCost: 0) }
    // The solver wants rows <= cols; solve the transpose otherwise.
    let transposed = rows > cols
    let (nr, nc) = transposed ? (cols, rows) : (rows, cols)
    var c = cost
    if transposed {
        for i in 0..<rows { for j in 0..<cols { c[j * rows + i] = cost[i * cols + j] } }
    }
    var solver = ShortestAugmentingPath(rows: nr, cols: nc)
    let col4row = try c.withUnsafeBufferPointer { try solver.solve($0) }
    var pairs = (0..<nr).map { (col4row[$0], $0) }   // (row, col) of the original
    if !transposed { pairs = (0..<nr).map { ($0, col4row[$0]) } }
    pairs.sort { $0.0 < $1.0 }
    var total = 0.0
    for (r, k) in pairs { total += cost[r * cols + k] }
    return Assignment(rows: pairs.map(\.0), cols: pairs.map(\.1), totalCost: total)
}

/// The solver's state, allocated once per problem; the inner loops allocate nothing.
struct ShortestAugmentingPath {
    let nr: Int, nc: Int
    var u: [Double], v: [Double], shortest: [Double]
    var path: [Int], col4row: [Int], row4col: [Int], remaining: [Int]
    var rowVisited: [Bool], colVisited: [Bool]

    init(rows: Int, cols: Int) {
        nr = rows
        nc = cols
        u = [Double](repeating: 0, count: rows)
        v = [Double](repeating: 0, count: cols)
        shortest = [Double](repeating: .infinity, count: cols)
        path = [Int](repeating: -1, count: cols)
        col4row = [Int](repeating: -1, count: rows)
        row4col = [Int](repeating: -1, count: cols)
        remaining = [Int](repeating: 0, count: cols)
        rowVisited = [Bool](repeating: false, count: rows)
        colVisited = [Bool](repeating: false, count: cols)
    }

    /// The column of each row (rows <= cols).
    mutating func solve(_ cost: UnsafeBufferPointer<Double>) throws -> [Int] {
        for current in 0..<nr {
            let (sink, minVal) = augmentingPath(cost, from: current)
            guard sink >= 0 else { throw AssignmentError.infeasible }
            // Update the dual variables.
            u[current] += minVal
            for i in 0..<nr where rowVisited[i] && i != current {
                u[i] += minVal - shortest[col4row[i]]
            }
            for j in 0..<nc where colVisited[j] {
                v[j] -= minVal - shortest[j]
            }
            // Augment along the path back to `current`.
            var j = sink
            while true {
                let i = path[j]
                row4col[j] = i
                swap(&col4row[i], &j)
                if i == current { break }
            }
        }
        return col4row
    }

    /// Dijkstra over reduced costs from row `start` to the nearest free column. The inner loop
    /// runs on raw pointers: it is the whole cost of the solver.
    private mutating func augmentingPath(_ cost: UnsafeBufferPointer<Double>, from start: Int) -> (sink: Int, minVal: Double) {
        let nc = self.nc, nr = self.nr
        let C = cost.baseAddress!
        return u.withUnsafeMutableBufferPointer { uP in
        v.withUnsafeMutableBufferPointer { vP in
        shortest.withUnsafeMutableBufferPointer { spP in
        path.withUnsafeMutableBufferPointer { pathP in
        row4col.withUnsafeMutableBufferPointer { r4cP in
        remaining.withUnsafeMutableBufferPointer { remP in
        rowVisited.withUnsafeMutableBufferPointer { rvP in
        colVisited.withUnsafeMutableBufferPointer { cvP in
            let U = uP.baseAddress!, V = vP.baseAddress!, SP = spP.baseAddress!, PATH = pathP.baseAddress!
            let R4C = r4cP.baseAddress!, REM = remP.baseAddress!
            var minVal = 0.0
            var count = nc
            // Columns in reverse order, as scipy, so that ties resolve the same way.
            for it in 0..<nc { REM[it] = nc - it - 1 }
            for i in 0..<nr { rvP[i] = false }
            for j in 0..<nc { cvP[j] = false; SP[j] = .infinity }
            var i = start
            var sink = -1
            while sink == -1 {
                var index = -1
                var lowest = Double.infinity
                rvP[i] = true
                let row = C + i * nc
                let ui = U[i]
                for it in 0..<count {
                    let j = REM[it]
                    let r = minVal + row[j] - ui - V[j]
                    if r < SP[j] {
                        PATH[j] = i
                        SP[j] = r
                    }
                    let s = SP[j]
                    if s < lowest || (s == lowest && R4C[j] == -1) {
                        lowest = s
                        index = it
                    }
                }
                minVal = lowest
                if minVal == .infinity { return (-1, minVal) }   // only forbidden pairs left
                let j = REM[index]
                if R4C[j] == -1 { sink = j } else { i = R4C[j] }
                cvP[j] = true
                count -= 1
                REM[index] = REM[count]
            }
            return (sink, minVal)
        }}}}}}}}
    }
}
