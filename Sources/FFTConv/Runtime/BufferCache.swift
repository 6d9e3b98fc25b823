import Foundation

/// Large freed tensor buffers kept for reuse, so that a network's calls do not hand their activation memory
/// back to the operating system between (or during) calls and fault it in again.
///
/// Every call of a network allocates its intermediate tensors and frees each after its last use. The C
/// allocator serves blocks of this size from `mmap`, or from the top of its heap that it trims back to the
/// system once enough is free; which one happens depends on the order of earlier allocations in the whole
/// process. When it trims, each call faults every page of its activations in again and zeroes it: measured on
/// MobileNetV2's first three layers (`fftconv-bench net` of the model cut after `features.1`, with `--profile`),
/// 1.5 ms a call instead of 0.33, and on the whole network at one thread ~115 faults a call in some runs.
/// Here a freed block of at least `minimumBytes` is kept (the least recently freed ones go back to the
/// allocator beyond `capacityBytes`), and an allocation takes the most recently freed block that fits it
/// without wasting more than half (memory the previous layers just used, likely still in the caches).
/// A buffer taken from the cache is zeroed, or left for its producer to overwrite, exactly as a fresh one is.
public enum BufferCache {
    /// Blocks smaller than this go straight back to the allocator (which keeps them in its own free lists).
    public static let minimumBytes = 64 * 1024
    /// The default `capacityBytes`: 64 MB, more than the activations of the networks in Docs/Networks.md
    /// take at once.
    public static let defaultCapacityBytes = 64 << 20

    /// The alignment every block has (that of `AlignedBuffer`).
    static let blockAlignment = 64

    private static let lock = NSLock()
    /// Freed blocks and their sizes, the most recently freed last.
    nonisolated(unsafe) private static var free: [(pointer: UnsafeMutableRawPointer, bytes: Int)] = []
    nonisolated(unsafe) private static var held = 0
    nonisolated(unsafe) private static var capacity = defaultCapacityBytes

    /// The most bytes the cache holds; beyond it the least recently freed blocks go back to the allocator.
    /// Lower it on a board with little memory (0 turns the cache off); lowering it releases blocks at once.
    /// Negative values count as 0.
    public static var capacityBytes: Int {
        get { lock.withLock { capacity } }
        set {
            let evicted: [UnsafeMutableRawPointer] = lock.withLock {
                capacity = Swift.max(0, newValue)
                return evictLocked()
            }
            for b in evicted { b.deallocate() }
        }
    }

    /// Removes the least recently freed blocks until the cache is within its capacity (lock held); returns them.
    private static func evictLocked() -> [UnsafeMutableRawPointer] {
        var n = 0, evicted: [UnsafeMutableRawPointer] = []
        while held > capacity {
            held -= free[n].bytes
            evicted.append(free[n].pointer)
            n += 1
        }
        free.removeFirst(n)
        return evicted
    }

    nonisolated(unsafe) private static var poison = false

    /// A debugging aid (the tests turn it on): every tensor an operator leaves unzeroed because it writes
    /// each element itself (depthwise and pooling outputs, in-place concatenations) is filled with NaN first,
    /// so an element a kernel fails to write shows up as NaN instead of as whatever the memory held.
    public static var fillsUnzeroedTensorsWithNaN: Bool {
        get { lock.withLock { poison } }
        set { lock.withLock { poison = newValue } }
    }

    /// The bytes held by the cache now.
    public static var cachedBytes: Int { lock.withLock { held } }

    /// Returns every cached block to the allocator (e.g. after the last network is released, to give the
    /// memory back to the system).
    public static func purge() {
        let blocks = lock.withLock { () -> [UnsafeMutableRawPointer] in
            let all = free.map(\.pointer)
            free = []
            held = 0
            return all
        }
        for b in blocks { b.deallocate() }
    }

    /// A block of at least `byteCount` bytes aligned to `alignment`, and its size: the most recently freed
    /// cached block of `byteCount` to `2 × byteCount` bytes when there is one.
    static func allocate(byteCount: Int, alignment: Int) -> (UnsafeMutableRawPointer, bytes: Int) {
        // Every cached block was allocated with `blockAlignment`; a stricter request gets a fresh one.
        if byteCount >= minimumBytes && alignment <= blockAlignment {
            let cached: (UnsafeMutableRawPointer, Int)? = lock.withLock {
                let fits = free.lastIndex { $0.bytes >= byteCount && $0.bytes / 2 <= byteCount }
                guard let i = fits else { return nil }
                let b = free.remove(at: i)
                held -= b.bytes
                return (b.pointer, b.bytes)
            }
            if let cached { return (cached.0, cached.1) }
        }
        let fresh = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: Swift.max(alignment, blockAlignment))
        return (fresh, byteCount)
    }

    /// Takes back a block from `allocate` (`bytes` as it returned).
    static func deallocate(_ p: UnsafeMutableRawPointer, bytes: Int) {
        guard bytes >= minimumBytes else { return p.deallocate() }
        let evicted: [UnsafeMutableRawPointer] = lock.withLock {
            free.append((p, bytes))
            held += bytes
            return evictLocked()
        }
        for b in evicted { b.deallocate() }
    }
}
