import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// The one thread policy of the project. Elementwise loops: small ones run inline (a region
/// costs a microsecond or so), large ones are cut into one contiguous chunk per core
/// (`forRanges`, on the project's `WorkerPool`). Independent items (images of a batch, samples,
/// files): one task each on Dispatch's worker pool, results in item order (`map`).
public enum Parallel {
    /// Cores used by elementwise work: the machine's, or `UNISEG_THREADS` when set.
    public static let threads: Int = {
        if let s = getenv("UNISEG_THREADS"), let n = Int(String(cString: s)), n > 0 { return n }
        return max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }()

    /// Below this many elements a loop stays on the calling thread.
    public static let minParallelWork = 1 << 15

    /// Calls `body` on disjoint ranges covering `0..<count`, in parallel when `count` (times
    /// `costPerElement`) is large. Ranges are fixed by `count` and the thread count, so results
    /// that depend on the chunking are reproducible.
    @inline(__always)
    public static func forRanges(_ count: Int, costPerElement: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = (count * costPerElement < minParallelWork || threads == 1) ? 1 : min(threads, count)
        if chunks <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        forChunks(chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }

    /// `body(c)` for each `c` in `0..<chunks`, in parallel on the worker pool (`WorkerPool`): for
    /// work already cut into about one chunk per core.
    @inline(__always)
    public static func forChunks(_ chunks: Int, _ body: (Int) -> Void) {
        pool.run(chunks, body)
    }

    private static let pool = WorkerPool(workers: threads - 1)

    /// CPU seconds the pool's threads have spent polling for work since the process started:
    /// the OS counts them as busy; subtract them from process CPU time to see the work.
    public static var spinSeconds: Double { Double(pool.spunNanoseconds.load(ordering: .relaxed)) / 1e9 }

    /// Process CPU seconds less the pool's polling (`spinSeconds`): the CPU time that did work.
    /// Differences over a stretch, divided by its wall time, give the cores it kept busy. The
    /// kernel adds the time of threads running on other cores at its ticks: use it over
    /// stretches of many milliseconds (phases of a step), `poolWorkSeconds` for short ones.
    public static var workSeconds: Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9 - spinSeconds
    }

    /// CPU seconds of the calling thread and the pool's workers less the pool's polling: the work
    /// of this thread's ops and their parallel regions, exact over stretches of microseconds (what
    /// `OpProfile` charges each op). Threads outside the pool (Dispatch's, in `map`) are not in it.
    public static var poolWorkSeconds: Double {
        Double(pool.threadsCPUNanoseconds()) / 1e9 - spinSeconds
    }

    /// `body(i)` for each `i` in `0..<count`, the items in parallel; the results in item order.
    /// Inlinable, so that callers' result types are copied without generic witnesses (50 000
    /// COCO objects read through the unspecialised form spent 10 % of the reading in them).
    @inlinable
    public static func map<T>(_ count: Int, _ body: (Int) -> T) -> [T] {
        if count == 0 { return [] }
        if count == 1 || threads == 1 { return (0..<count).map(body) }
        var results = [T?](repeating: nil, count: count)
        results.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            DispatchQueue.concurrentPerform(iterations: count) { i in base[i] = body(i) }
        }
        return results.map { $0! }
    }

    /// The same for a body that throws: the first error (by item) is rethrown once every item
    /// has finished.
    @inlinable
    public static func map<T>(_ count: Int, _ body: (Int) throws -> T) throws -> [T] {
        if count == 0 { return [] }
        if count == 1 || threads == 1 { return try (0..<count).map(body) }
        var results = [Result<T, Error>?](repeating: nil, count: count)
        results.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            DispatchQueue.concurrentPerform(iterations: count) { i in base[i] = Result { try body(i) } }
        }
        return try results.map { try $0!.get() }
    }
}
