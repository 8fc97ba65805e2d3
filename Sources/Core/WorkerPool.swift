import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The threads that run `Parallel.forRanges` chunks: `Parallel.threads - 1` workers beside the
/// calling thread, started on first use; one pool per process (`Parallel`'s), never torn down.
/// A region costs about a microsecond when the workers are awake, against 15-20 µs for `DispatchQueue.concurrentPerform` (which wakes a sleeping worker
/// for every region): a training step opens about 1300 regions, inference about 380.
///
/// A worker spins for a while (`spinNanoseconds`) after its last chunk, since the next region
/// usually opens microseconds later, then sleeps on a condition variable until one opens.
/// One region at a time: a region opened while another runs (a chunk's own loop, or a second
/// thread) runs its chunks inline, in order, on its calling thread — the same chunks, so the same
/// results.
final class WorkerPool: @unchecked Sendable {
    /// The region's claim word: generation in the high 32 bits, the next unclaimed chunk in the low.
    /// A worker claims a chunk by compare-and-swap on the whole word, so a worker still holding an
    /// older generation cannot take a chunk of a newer region.
    private let claim = Atomic<UInt64>(0)
    /// Chunks of the open region finished so far.
    private let finished = Atomic<Int>(0)
    /// Chunk count and body (the address of a closure on the caller's stack) of the open region.
    private let chunkCount = Atomic<Int>(0)
    private let bodyAddress = Atomic<UInt>(0)
    /// Held by the thread whose region is open.
    private let owned = Atomic<Bool>(false)
    /// Workers asleep (or about to be) on `wake`.
    private let sleepers = Atomic<Int>(0)
    /// CPU time spent polling for work (workers between regions, callers waiting for a region's
    /// last chunk): busy to the OS, idle to us.
    let spunNanoseconds = Atomic<UInt64>(0)
    /// On the heap: a `pthread` mutex and condition must not move (`&property` promises no address).
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Worker threads running (fewer than asked when the system refuses a thread).
    private var workers = 0
    /// Each worker's CPU clock (`pthread_getcpuclockid`, read as the thread is created).
    private var clocks: [clockid_t] = []

    /// How long an idle worker polls for the next region before it sleeps.
    static let spinNanoseconds: UInt64 = 200_000

    init(workers: Int) {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        for _ in 0..<workers {
            let unmanaged = Unmanaged.passRetained(self)
            var thread = pthread_t()
            let failed = pthread_create(&thread, nil, { context in
                let pool = Unmanaged<WorkerPool>.fromOpaque(context!).takeRetainedValue()
                pool.work()
                return nil
            }, unmanaged.toOpaque())
            if failed != 0 {
                // Run with the threads there are (the calling thread takes the rest of each region).
                unmanaged.release()
                fputs("warning: started \(self.workers) of \(workers) worker threads (pthread_create: \(String(cString: strerror(failed))))\n", stderr)
                break
            }
            // Before the pool is used: a clock that appeared between two readings would add the
            // thread's whole time so far to one stretch.
            var clock = clockid_t()
            if pthread_getcpuclockid(thread, &clock) == 0 { clocks.append(clock) }
            pthread_detach(thread)
            self.workers += 1
        }
    }

    /// CPU nanoseconds used so far by the calling thread and the workers, each read from its own
    /// clock: exact at any instant, where the process clock counts a thread running on another
    /// core only up to its last scheduler tick (a 100 µs stretch of two busy threads reads
    /// anywhere from 0.2 to 40 cores).
    func threadsCPUNanoseconds() -> UInt64 {
        var total = threadCPUNanoseconds()
        for clock in clocks {
            var ts = timespec()
            if clock_gettime(clock, &ts) == 0 { total &+= UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec) }
        }
        return total
    }

    /// `body(c)` for every `c` in `0..<chunks`, on this thread and the workers; returns when all
    /// have finished.
    func run(_ chunks: Int, _ body: (Int) -> Void) {
        guard workers > 0, chunks > 1, owned.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for c in 0..<chunks { body(c) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            var closure = escapable
            withUnsafePointer(to: &closure) { address in
                // First a generation with nothing to claim (index at its maximum), then the new
                // region's count and body, then the next generation, open. A worker still holding
                // the last region's claim word then fails its compare-and-swap, whatever count or
                // body it read: with the count and body written under the old generation, a worker
                // that had read the old (fully claimed) word but the new, larger count took a chunk
                // of the new region before it opened — that chunk ran twice, and the region could
                // close while a chunk still ran (`ParallelTests.testOversubscribedRegionsOfChangingSizes`).
                let closing = (claim.load(ordering: .relaxed) >> 32) &+ 1
                claim.store(closing << 32 | 0xFFFF_FFFF, ordering: .sequentiallyConsistent)
                chunkCount.store(chunks, ordering: .releasing)
                bodyAddress.store(UInt(bitPattern: address), ordering: .releasing)
                finished.store(0, ordering: .relaxed)
                let generation = closing &+ 1
                claim.store(generation << 32, ordering: .sequentiallyConsistent)
                if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                    pthread_mutex_lock(mutex)
                    pthread_cond_broadcast(wake)
                    pthread_mutex_unlock(mutex)
                }
                runChunks(generation: generation)
                if finished.load(ordering: .acquiring) < chunks {
                    let start = threadCPUNanoseconds()
                    while finished.load(ordering: .acquiring) < chunks { spinPause() }
                    spunNanoseconds.add(threadCPUNanoseconds() &- start, ordering: .relaxed)
                }
            }
        }
        owned.store(false, ordering: .releasing)
    }

    /// Claims and runs chunks of region `generation` until none is left (or a newer region opened).
    private func runChunks(generation: UInt64) {
        var word = claim.load(ordering: .acquiring)
        while word >> 32 == generation {
            // Acquiring: a count or body of a newer region comes with its closing generation, so
            // the compare-and-swap below then fails.
            let chunks = chunkCount.load(ordering: .acquiring), address = bodyAddress.load(ordering: .acquiring)
            let index = Int(word & 0xFFFF_FFFF)
            if index >= chunks { return }
            let (exchanged, current) = claim.compareExchange(expected: word, desired: word + 1, ordering: .acquiringAndReleasing)
            if exchanged {
                // The region cannot close before this chunk finishes, so its body is still alive.
                Self.runChunk(address, index)
                finished.add(1, ordering: .releasing)
                word = claim.load(ordering: .acquiring)
            } else {
                word = current
            }
        }
    }

    /// Chunk `index` of the body at `address`. Not inlined: this thread's copy of the body is
    /// released inside, before the caller counts the chunk finished (the region's owner checks
    /// that no copy of its body outlives the region).
    @inline(never)
    private static func runChunk(_ address: UInt, _ index: Int) {
        let body = UnsafePointer<(Int) -> Void>(bitPattern: address)!.pointee
        body(index)
    }

    private func work() {
        var seen: UInt64 = 0
        while true {
            var generation = claim.load(ordering: .acquiring) >> 32
            if generation == seen {
                // Wall time bounds the spin; the thread's own CPU time is what it cost (a yielded
                // core ran someone else's work meanwhile, which must not be subtracted as polling).
                // The cost is added every 16 polls (a few microseconds), not once at the end: a
                // profile reading the work clocks around a short op must see the polling
                // of its own interval, not one that began during an earlier op.
                var start = DispatchTime.now().uptimeNanoseconds, startCPU = threadCPUNanoseconds()
                var polls = 0
                while generation == seen {
                    spinPause()
                    polls += 1
                    if polls & 15 == 0 {
                        let cpu = threadCPUNanoseconds()
                        spunNanoseconds.add(cpu &- startCPU, ordering: .relaxed)
                        startCPU = cpu
                    }
                    if polls & 63 == 0 && DispatchTime.now().uptimeNanoseconds - start > Self.spinNanoseconds {
                        spunNanoseconds.add(threadCPUNanoseconds() &- startCPU, ordering: .relaxed)
                        pthread_mutex_lock(mutex)
                        sleepers.add(1, ordering: .sequentiallyConsistent)
                        while claim.load(ordering: .sequentiallyConsistent) >> 32 == seen { pthread_cond_wait(wake, mutex) }
                        sleepers.subtract(1, ordering: .sequentiallyConsistent)
                        pthread_mutex_unlock(mutex)
                        (start, startCPU) = (DispatchTime.now().uptimeNanoseconds, threadCPUNanoseconds())
                    }
                    generation = claim.load(ordering: .acquiring) >> 32
                }
                spunNanoseconds.add(threadCPUNanoseconds() &- startCPU, ordering: .relaxed)
            }
            seen = generation
            runChunks(generation: generation)
        }
    }
}

/// CPU time of the calling thread (what its polling cost, as the OS counts process CPU time).
@inline(__always)
private func threadCPUNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// One poll of a spinning thread: `sched_yield` lets another runnable thread (a data loader's,
/// OpenBLAS's) have the core, and costs well under a microsecond when none is waiting.
@inline(__always)
private func spinPause() {
    sched_yield()
}
