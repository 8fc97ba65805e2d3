import Dispatch
import XCTest
@testable import Core

/// `Parallel.forRanges` / `forChunks` on the worker pool: every chunk runs exactly once, in
/// back-to-back regions, after the workers went to sleep, nested, and from several threads at once.
final class ParallelTests: XCTestCase {
    /// Adds 1 to `counts[c]` for every chunk; the counts must all end at `regions`.
    private func runRegions(_ regions: Int, chunks: Int, pause: useconds_t = 0) -> [Int] {
        var counts = [Int](repeating: 0, count: chunks)
        counts.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            for _ in 0..<regions {
                Parallel.forChunks(chunks) { c in base[c] += 1 }   // each chunk writes only its own slot
                if pause > 0 { usleep(pause) }
            }
        }
        return counts
    }

    func testEveryChunkRunsOnceInBackToBackRegions() {
        for chunks in [1, 2, 3, 7, 64] {
            XCTAssertEqual(runRegions(5000, chunks: chunks), [Int](repeating: 5000, count: chunks), "\(chunks) chunks")
        }
    }

    func testWorkersTakeChunks() throws {
        try XCTSkipIf(Parallel.threads < 2, "one thread: every region runs inline")
        let caller = pthread_self()
        var elsewhere = [Bool](repeating: false, count: 64)
        // Chunks of a few microseconds each (empty ones can all finish on the caller before a
        // woken worker gets its core), regions until one ran elsewhere or two seconds passed.
        func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
        let deadline = now() + 2_000_000_000
        elsewhere.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            while !out.contains(true) && now() < deadline {
                Parallel.forChunks(64) { c in
                    let end = now() + 5_000
                    while now() < end {}
                    if pthread_equal(pthread_self(), caller) == 0 { base[c] = true }
                }
            }
        }
        XCTAssertTrue(elsewhere.contains(true), "no chunk ran on a worker in two seconds")
    }

    /// The pool's work clock (the profiling thread's and every worker's own CPU clock, what
    /// `OpProfile` charges ops with) adds up to the process clock over a long stretch of busy
    /// regions: it counts every pool thread. (Over short stretches it is the exact one — the
    /// process clock adds threads on other cores only at scheduler ticks — but on this VM both
    /// jump when the host pauses a virtual core, so that is measured, not tested:
    /// docs/performance.md, session 12.)
    func testPoolWorkClockCountsEveryPoolThread() throws {
        try XCTSkipIf(Parallel.threads < 2, "one thread: nothing runs on other cores")
        func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
        let (pool0, process0) = (Parallel.poolWorkSeconds, Parallel.workSeconds)
        for _ in 0..<20 {
            Parallel.forChunks(Parallel.threads) { _ in
                let end = now() + 5_000_000
                while now() < end {}
            }
        }
        let (pool, process) = (Parallel.poolWorkSeconds - pool0, Parallel.workSeconds - process0)
        XCTAssertEqual(pool / process, 1, accuracy: 0.15, "pool threads' clocks \(pool) s, process clock \(process) s")
    }

    /// More workers than cores (7 beside the caller on this machine's 2), regions of 2 and of 8
    /// chunks in turn, each body a closure holding a reference: every chunk runs exactly once and
    /// every region closes only when its chunks are done. A worker that read an old region's claim
    /// but the next region's chunk count could take a chunk of the next region twice (or count a
    /// region finished early: `withoutActuallyEscaping` then found the body still referenced — a
    /// crash seen with `UNISEG_THREADS=8` on 2 cores).
    func testOversubscribedRegionsOfChangingSizes() {
        final class Box { var value = 0 }
        let pool = WorkerPool(workers: 7)
        let regions = 100_000
        var counts = [Int](repeating: 0, count: 8)
        counts.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            for r in 0..<regions {
                let box = Box()
                pool.run(r % 2 == 0 ? 2 : 8) { c in base[c] += 1 + box.value }
            }
        }
        XCTAssertEqual(counts, [Int](repeating: regions, count: 2) + [Int](repeating: regions / 2, count: 6))
    }

    func testRegionsOpenAfterTheWorkersSlept() {
        // Longer than the spin: the workers sleep between regions and must be woken each time.
        let pause = useconds_t(WorkerPool.spinNanoseconds / 1000 * 3)
        XCTAssertEqual(runRegions(40, chunks: 4, pause: pause), [Int](repeating: 40, count: 4))
    }

    func testForRangesCoversEveryIndexOnceAndMatchesASerialSum() {
        let count = 1 << 20
        let values = (0..<count).map { Float(($0 * 7919) % 1013) * 0.001 }
        var partial = [Float](repeating: 0, count: Parallel.threads)
        var seen = [UInt8](repeating: 0, count: count)
        values.withUnsafeBufferPointer { v in
            seen.withUnsafeMutableBufferPointer { s in
                partial.withUnsafeMutableBufferPointer { p in
                    Parallel.forRanges(count) { range in
                        var sum: Float = 0
                        for i in range { sum += v[i]; s[i] += 1 }
                        p[Parallel.threads * range.lowerBound / count] = sum
                    }
                }
            }
        }
        XCTAssertTrue(seen.allSatisfy { $0 == 1 })
        // The same ranges summed one after another give the same floats.
        var serial = [Float](repeating: 0, count: Parallel.threads)
        let chunks = min(Parallel.threads, count)
        for c in 0..<chunks {
            var sum: Float = 0
            for i in (count * c / chunks)..<(count * (c + 1) / chunks) { sum += values[i] }
            serial[c] = sum
        }
        XCTAssertEqual(partial, serial)
    }

    func testNestedRegionsRunInline() {
        var counts = [Int](repeating: 0, count: 4 * 6)
        counts.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            Parallel.forChunks(4) { outer in
                Parallel.forChunks(6) { inner in base[outer * 6 + inner] += 1 }
            }
        }
        XCTAssertEqual(counts, [Int](repeating: 1, count: 24))
    }

    func testRegionsFromSeveralThreadsAtOnce() {
        let threads = 4, regions = 500, chunks = 5
        var counts = [Int](repeating: 0, count: threads * chunks)
        counts.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                for _ in 0..<regions {
                    Parallel.forChunks(chunks) { c in base[t * chunks + c] += 1 }
                }
            }
        }
        XCTAssertEqual(counts, [Int](repeating: regions, count: threads * chunks))
    }

    func testMapKeepsItemOrderAndRethrowsTheFirstError() throws {
        XCTAssertEqual(Parallel.map(100) { $0 * $0 }, (0..<100).map { $0 * $0 })
        XCTAssertEqual(Parallel.map(0) { $0 }, [])
        struct Bad: Error, Equatable { let i: Int }
        XCTAssertThrowsError(try Parallel.map(50) { i -> Int in if i % 7 == 3 { throw Bad(i: i) }; return i }) {
            XCTAssertEqual($0 as? Bad, Bad(i: 3))
        }
    }

    func testRangesCoverEverythingOnce() {
        var seen = [Int](repeating: 0, count: 100_000)
        seen.withUnsafeMutableBufferPointer { s in
            let base = s.baseAddress!
            Parallel.forRanges(100_000) { r in for i in r { base[i] += 1 } }
        }
        XCTAssertTrue(seen.allSatisfy { $0 == 1 })
    }
}
