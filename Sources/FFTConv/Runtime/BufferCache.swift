import Foundation

/// Where tensor memory of 64 KB and more comes from, so that a network's calls do not hand their activation
/// memory back to the operating system between (or during) calls and fault it in again, and keep it where the
/// caches have it.
///
/// Every call of a network allocates its intermediate tensors and frees each after its last use. The C
/// allocator serves blocks of this size from `mmap`, or from the top of its heap that it trims back to the
/// system once enough is free; which one happens depends on the order of earlier allocations in the whole
/// process. When it trims, each call faults every page of its activations in again and zeroes it: measured on
/// MobileNetV2's first three layers (`fftconv-bench net` of the model cut after `features.1`, with `--profile`),
/// 1.5 ms a call instead of 0.33, and on the whole network at one thread ~115 faults a call in some runs.
///
/// Two pools serve it. Tensors allocated inside `withActivationArena` (a network's call runs in one) are cut
/// from the `ActivationArena`, first fit by address, so one call's activations reuse the same few megabytes
/// layer after layer. Everything else — weights prepared at load, tensors outside a call, and activations the
/// arena has no room for (an output the caller keeps holds its range until released) — takes a separate block:
/// a freed block of at least `minimumBytes` is kept (the least recently freed ones go back to the allocator
/// beyond `capacityBytes`), and an allocation takes the most recently freed block that fits it without wasting
/// more than half. A buffer from either pool is zeroed, or left for its producer to overwrite, exactly as a
/// fresh one is. On Linux a fresh block of 2 MB or more is advised for transparent huge pages, and one of 128 KB to
/// 2 MB is cut from a 2 MB slab so advised (`slabBytes`), given back with the slab's last block.
public enum BufferCache {
    /// Blocks smaller than this go straight back to the allocator (which keeps them in its own free lists).
    public static let minimumBytes = 64 * 1024
    /// The default `capacityBytes`: 64 MB, more than the activations of the networks in Docs/Networks.md
    /// take at once.
    public static let defaultCapacityBytes = 64 << 20

    /// The alignment every block has (that of `AlignedBuffer`).
    static let blockAlignment = 64
    /// From this size on a fresh block is aligned to it and advised for transparent huge pages (Linux).
    static let hugePageBytes = 2 << 20
    /// Fresh blocks from this size up to `hugePageBytes` are cut from slabs: 2 MB regions advised for huge pages,
    /// filled first fit (Linux).
    static let slabMinimumBytes = 128 * 1024

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
            for b in evicted { release(b) }
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

    /// A 2 MB region from which blocks are cut end to end; given back when every block cut from it is released.
    private struct Slab {
        let base: UnsafeMutableRawPointer
        var used: Int
        var live: Int
    }
    nonisolated(unsafe) private static var slabs: [Slab] = []

    /// Bytes of slab regions held now (2 MB each, every one with a live or cached block in it).
    public static var slabBytes: Int { lock.withLock { slabs.count * hugePageBytes } }

    /// A block of `bytes` (rounded up to `blockAlignment`) from the first slab with room, or a new slab (lock held).
    private static func cutFromSlabLocked(_ bytes: Int) -> UnsafeMutableRawPointer {
        let n = roundUp(bytes, blockAlignment)
        if let i = slabs.firstIndex(where: { $0.used + n <= hugePageBytes }) {
            let p = slabs[i].base + slabs[i].used
            slabs[i].used += n
            slabs[i].live += 1
            return p
        }
        let base = UnsafeMutableRawPointer.allocate(byteCount: hugePageBytes, alignment: hugePageBytes)
        #if os(Linux)
        _ = madvise(base, hugePageBytes, MADV_HUGEPAGE)
        #endif
        slabs.append(Slab(base: base, used: n, live: 1))
        return base
    }

    /// Gives a block back to the allocator: to its slab (freed with the slab's last block), or to the C allocator.
    private static func release(_ p: UnsafeMutableRawPointer) {
        enum Outcome { case own, slabKept, slabEmptied(UnsafeMutableRawPointer) }
        let outcome: Outcome = lock.withLock {
            guard let i = slabs.firstIndex(where: { p >= $0.base && p < $0.base + hugePageBytes }) else { return .own }
            slabs[i].live -= 1
            return slabs[i].live > 0 ? .slabKept : .slabEmptied(slabs.remove(at: i).base)
        }
        switch outcome {
        case .own: p.deallocate()
        case .slabKept: break
        case .slabEmptied(let base): base.deallocate()
        }
    }

    /// The default `arenaBytes`: 64 MB of address space (only the pages written are backed by memory), or the
    /// environment's `FFTCONV_ARENA_MB` megabytes when set — `FFTCONV_ARENA_MB=0` gives every tensor a block of its
    /// own, so that AddressSanitizer, which does not see ranges inside the arena, checks activations too.
    public static let defaultArenaBytes: Int = {
        if let text = ProcessInfo.processInfo.environment["FFTCONV_ARENA_MB"], let mb = Int(text), mb >= 0, mb <= 1 << 20 {
            return mb << 20
        }
        return 64 << 20
    }()
    /// The arenas by lane (`withActivationArena(lane:)`): lane 0 serves every call, lane w > 0 the w-th image
    /// of a batch run side by side (`BatchSplit`), so that each worker's tensors lie in memory of its own.
    nonisolated(unsafe) private static var arenas: [Int: ActivationArena] = [:]
    nonisolated(unsafe) private static var arenaSize = defaultArenaBytes

    /// The size of the activation arena; a tensor that does not fit in its free space takes a separate block.
    /// A new size applies once every tensor in the current arena has been freed; 0 turns the arena off.
    /// Negative values count as 0.
    public static var arenaBytes: Int {
        get { lock.withLock { arenaSize } }
        set {
            lock.withLock {
                arenaSize = Swift.max(0, newValue)
                retireIdleArenaLocked()
            }
        }
    }

    /// Bytes of the activation arena held by live tensors now.
    public static var arenaUsedBytes: Int { lock.withLock { arenas.values.reduce(0) { $0 + $1.usedBytes } } }

    /// Gives back each arena when nothing in it is alive and its size is no longer the one asked for (lock held).
    private static func retireIdleArenaLocked() {
        for (lane, a) in arenas where a.usedBytes == 0 && a.size != roundedArenaSize {
            a.destroy()
            arenas[lane] = nil
        }
    }

    private static var roundedArenaSize: Int { (arenaSize + 4095) / 4096 * 4096 }

    /// The thread-specific flag that `withActivationArena` sets.
    private static let arenaKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Runs `body` with the tensors this thread allocates in it cut from the activation arena (those of 64 KB
    /// and more, while it has room). `Network` runs every call in one; nested calls are allowed (and keep the
    /// arena of the call around them), and other threads are not affected.
    public static func withActivationArena<R>(_ body: () throws -> R) rethrows -> R {
        try withArenaFlag(pthread_getspecific(arenaKey).map(UnsafeRawPointer.init) ?? UnsafeRawPointer(bitPattern: 1), body)
    }

    /// `withActivationArena` on lane `lane`'s arena: a batch's images run side by side each take their tensors
    /// (and `SharedScratch` its buffers) from memory only their worker uses — shared, the workers' tensors lay side
    /// by side, each core's prefetchers pulled in the other's lines, and the scratch one worker freed went to the
    /// other (SqueezeNet at batch 8 on 2 threads took 1.2–1.9× what two processes of 4 images each took at once).
    static func withActivationArena<R>(lane: Int, _ body: () throws -> R) rethrows -> R {
        try withArenaFlag(UnsafeRawPointer(bitPattern: Swift.max(0, lane) + 1), body)
    }

    /// The lane this thread allocates on (0 outside `withActivationArena(lane:)`).
    static var currentLane: Int { pthread_getspecific(arenaKey).map { Int(bitPattern: $0) - 1 } ?? 0 }

    /// Runs `body` with this thread's allocations outside the activation arena, for memory that outlives the
    /// call that first needs it (operators' scratch pools, allocated on their first run).
    static func outsideActivationArena<R>(_ body: () throws -> R) rethrows -> R {
        try withArenaFlag(nil, body)
    }

    private static func withArenaFlag<R>(_ flag: UnsafeRawPointer?, _ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(arenaKey)
        pthread_setspecific(arenaKey, flag)
        defer { pthread_setspecific(arenaKey, previous) }
        return try body()
    }

    /// A debugging aid (the tests turn it on): every tensor an operator leaves unzeroed because it writes
    /// each element itself (depthwise and pooling outputs, in-place concatenations) is filled with NaN first,
    /// and so is every buffer `SharedScratch` hands out, so an element a kernel fails to write (or scratch it
    /// reads before writing in that call) shows up as NaN instead of as whatever the memory held.
    public static var fillsUnzeroedTensorsWithNaN: Bool {
        get { lock.withLock { poison } }
        set { lock.withLock { poison = newValue } }
    }

    /// The bytes held by the cache now.
    public static var cachedBytes: Int { lock.withLock { held } }

    /// Returns every cached block to the allocator and the activation arena's free pages to the system (e.g.
    /// after the last network is released, to give the memory back), the scratch buffers kept between layers included.
    public static func purge() {
        SharedScratch.purge()
        let blocks = lock.withLock { () -> [UnsafeMutableRawPointer] in
            let all = free.map(\.pointer)
            free = []
            held = 0
            for (lane, a) in arenas {
                if a.usedBytes == 0 { a.destroy(); arenas[lane] = nil } else { a.releaseFreePages() }
            }
            return all
        }
        for b in blocks { release(b) }
    }

    /// A block of at least `byteCount` bytes aligned to `alignment`, and its size: inside `withActivationArena`,
    /// the arena's lowest free range that holds it; else the most recently freed cached block of `byteCount` to
    /// `2 × byteCount` bytes when there is one.
    static func allocate(byteCount: Int, alignment: Int) -> (UnsafeMutableRawPointer, bytes: Int) {
        // Every cached block was allocated with `blockAlignment`; a stricter request gets a fresh one.
        if byteCount >= minimumBytes && alignment <= blockAlignment {
            if let flag = pthread_getspecific(arenaKey) {
                let lane = Int(bitPattern: flag) - 1
                let range: (UnsafeMutableRawPointer, bytes: Int)? = lock.withLock {
                    if arenas[lane] == nil, arenaSize > 0 { arenas[lane] = ActivationArena(size: arenaSize) }
                    return arenas[lane]?.take(byteCount)
                }
                if let range { return range }
            }
            let cached: (UnsafeMutableRawPointer, Int)? = lock.withLock {
                let fits = free.lastIndex { $0.bytes >= byteCount && $0.bytes / 2 <= byteCount }
                guard let i = fits else { return nil }
                let b = free.remove(at: i)
                held -= b.bytes
                return (b.pointer, b.bytes)
            }
            if let cached { return (cached.0, cached.1) }
        }
        #if os(Linux)
        // Blocks of 2 MB and more (prepared weights, large scratch) start on a 2 MB boundary and ask for transparent
        // huge pages (`MADV_HUGEPAGE`; honoured where the system's THP mode is `madvise` or `always`): weights that
        // come back from memory on every call — AlexNet's, after its classifier's 234 MB have passed through the
        // caches — are then read with one TLB entry per 2 MB instead of per 4 KB. AlexNet at 1 thread 10.05–10.31 →
        // 9.55–9.73 ms, at 2 threads 5.32–5.48 → 5.13–5.35 (3 rounds alternated; ResNet-18, VGG16, MobileNetV2 and
        // SqueezeNet within noise). Only whole 2 MB pages inside the block are advised (a scratch block written only
        // in part may then be backed in full).
        if byteCount >= hugePageBytes && alignment <= hugePageBytes {
            let fresh = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: hugePageBytes)
            _ = madvise(fresh, byteCount / hugePageBytes * hugePageBytes, MADV_HUGEPAGE)
            return (fresh, byteCount)
        }
        // Blocks of 128 KB to 2 MB — the prepared weights of most layers: MobileNetV2's are 0.1–1.6 MB each — are cut
        // from slabs of huge pages, several to a slab, instead of each taking 4 KB pages of its own. In the network its
        // 7² layers' weights come from DRAM; with one TLB entry per 2 MB, and the hardware prefetchers no longer
        // stopping at every 4 KB, MobileNetV2 at 1 thread 6.94–7.40 → 6.93–7.08 ms (5 rounds alternated), at 2
        // threads 3.99–4.50 → 3.87–4.09 (3 of 4 rounds; one in a slow period); its resident memory 50.9 → 53.8 MB
        // (the slabs' unused tails), 22 MB of it in huge pages instead of 4. (Each such block rounded up to a 2 MB
        // block of its own measured alike but added ~11 MB and 100 ms of loading.)
        if byteCount >= slabMinimumBytes && byteCount < hugePageBytes && alignment <= blockAlignment {
            return (lock.withLock { cutFromSlabLocked(byteCount) }, byteCount)
        }
        #endif
        let fresh = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: Swift.max(alignment, blockAlignment))
        return (fresh, byteCount)
    }

    /// Takes back a block from `allocate` (`bytes` as it returned).
    static func deallocate(_ p: UnsafeMutableRawPointer, bytes: Int) {
        guard bytes >= minimumBytes else { return p.deallocate() }
        let inArena: Bool = lock.withLock {
            guard let lane = arenas.first(where: { $0.value.contains(p) })?.key else { return false }
            arenas[lane]?.give(p, bytes: bytes)
            retireIdleArenaLocked()
            return true
        }
        if inArena { return }
        let evicted: [UnsafeMutableRawPointer] = lock.withLock {
            free.append((p, bytes))
            held += bytes
            return evictLocked()
        }
        for b in evicted { release(b) }
    }
}
