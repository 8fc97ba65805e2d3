#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Reusable scratch buffers for large temporary matrices (convolution lowering). A fresh
/// multi-megabyte allocation costs a page fault per 4 KiB on first touch, which for im2col is
/// a large share of a convolution; buffers handed back here are reused instead.
/// Thread-safe; nested use gets distinct buffers.
public enum ScratchPool {
    private final class Buffer {
        let pointer: UnsafeMutablePointer<Float>
        let capacity: Int
        init(capacity: Int) {
            self.capacity = capacity
            pointer = .allocate(capacity: capacity)
        }
        deinit { pointer.deallocate() }
    }

    nonisolated(unsafe) private static var free: [Buffer] = []
    nonisolated(unsafe) private static var mutex = pthread_mutex_t()
    nonisolated(unsafe) private static var initialized: Bool = {
        pthread_mutex_init(&mutex, nil)
        return true
    }()
    /// Buffers kept for reuse at most; more are freed when handed back.
    private static let keep = 4

    /// Runs `body` with an uninitialised buffer of at least `count` floats.
    public static func withBuffer<T>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> T) rethrows -> T {
        _ = initialized
        pthread_mutex_lock(&mutex)
        var buffer: Buffer
        if let i = free.indices.filter({ free[$0].capacity >= count }).min(by: { free[$0].capacity < free[$1].capacity }) {
            buffer = free.remove(at: i)
        } else {
            buffer = Buffer(capacity: max(count, 1))
        }
        pthread_mutex_unlock(&mutex)
        defer {
            pthread_mutex_lock(&mutex)
            free.append(buffer)
            if free.count > keep {
                // Drop the smallest: the large ones are the expensive ones to fault in again.
                free.sort { $0.capacity > $1.capacity }
                free.removeLast()
            }
            pthread_mutex_unlock(&mutex)
        }
        return try body(buffer.pointer)
    }
}
