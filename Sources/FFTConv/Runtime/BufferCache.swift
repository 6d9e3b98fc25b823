import Foundation

/// Large freed tensor buffers kept for reuse, so that a network's calls do not hand their activation memory
/// back to the operating system between (or during) calls and fault it in again.
///
/// Every call of a network allocates its intermediate tensors and frees each after its last use. The C
/// allocator serves blocks of this size from `mmap`, or from the top of its heap that it trims back to the
/// system once enough is free; which one happens depends on the order of earlier allocations in the whole
/// process. When it trims, each call faults every page of its activations in again and zeroes it: measured on
/// MobileNetV2's first three layers (`fftconv-bench net` of the model cut after `features.1`, with `--profile`),
/// 1.5 ms a call instead of 0.33, and on the whole network at one thread up to ~100 faults a call in some
/// runs. Here a freed block of at least `minimumBytes` is kept, keyed by its exact size, while the cache holds
/// less than `capacityBytes`; an allocation of the same size takes the most recently freed one (still in the
/// caches). Buffers taken from the cache are zeroed exactly as fresh ones are.
public enum BufferCache {
    /// Blocks smaller than this go straight back to the allocator (which keeps them in its own free lists).
    public static let minimumBytes = 64 * 1024
    /// The most bytes the cache holds; further freed blocks go back to the allocator.
    public static let capacityBytes = 64 << 20

    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [Int: [UnsafeMutableRawPointer]] = [:]
    nonisolated(unsafe) private static var held = 0

    /// The bytes held by the cache now.
    public static var cachedBytes: Int { lock.withLock { held } }

    /// Returns every cached block to the allocator (e.g. after the last network is released, to give the
    /// memory back to the system).
    public static func purge() {
        let blocks = lock.withLock { () -> [UnsafeMutableRawPointer] in
            let all = free.values.flatMap { $0 }
            free = [:]
            held = 0
            return all
        }
        for b in blocks { b.deallocate() }
    }

    /// A block of `byteCount` bytes aligned to `alignment`: a cached one when there is one of that size.
    static func allocate(byteCount: Int, alignment: Int) -> UnsafeMutableRawPointer {
        if byteCount >= minimumBytes {
            let cached: UnsafeMutableRawPointer? = lock.withLock {
                guard let p = free[byteCount]?.popLast() else { return nil }
                held -= byteCount
                return p
            }
            if let cached { return cached }
        }
        return UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: alignment)
    }

    /// Takes back a block from `allocate` (same `byteCount` and `alignment`).
    static func deallocate(_ p: UnsafeMutableRawPointer, byteCount: Int) {
        if byteCount >= minimumBytes {
            let kept: Bool = lock.withLock {
                guard held + byteCount <= capacityBytes else { return false }
                free[byteCount, default: []].append(p)
                held += byteCount
                return true
            }
            if kept { return }
        }
        p.deallocate()
    }
}
