import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Work splitting for elementwise loops. Small loops run inline (a dispatch costs
/// microseconds); large ones are cut into one contiguous chunk per core.
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
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }
}
