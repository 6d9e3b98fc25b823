#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One region of address space from which a running network's tensors are cut, first fit by address: each
/// tensor takes the lowest free range that holds it, and a freed range merges with its free neighbours.
///
/// Tensors that are alive at the same time get disjoint ranges and a freed one is reused by the next tensor
/// that fits, so a network's activations stay within about its peak activation bytes, at the same addresses
/// from layer to layer and from call to call — memory the caches hold. Separately allocated blocks (even
/// recycled ones, `BufferCache`'s list, which only reuses a block within twice a request's size) spread a
/// network over a block per size class its tensors come in (MobileNetV2 at one thread: 4.27–4.30 → 4.03–4.15 ms
/// with the arena). The region is reserved whole at creation; the system backs only the pages that are written,
/// and `releaseFreePages` hands free ones back. On Linux it starts on a 2 MB boundary and is advised for
/// transparent huge pages, as prepared weights are (`BufferCache`): a network's activations are then a few TLB
/// entries, and the hardware prefetchers run across what were 4 KB page boundaries (thirtieth session, Zen 5, the
/// minimum over alternated runs of each step's median: MobileNetV2's steps summed 2.6–3.9% lower at 1 thread and
/// 0–4.6% at 2, SqueezeNet's 2% at both, ResNet-18's within ±2%; whole-network medians within the host's spread).
/// A 2.4 MB peak of activations is then backed by 4 MB.
///
/// Not thread-safe: `BufferCache` calls it under its lock.
struct ActivationArena {
    /// Offsets and sizes are multiples of this (a cache line, an AVX-512 vector, more than FFTW needs).
    static let granule = 64

    let base: UnsafeMutableRawPointer
    let size: Int
    /// The mapping `base` lies in (Linux: `size` plus up to 2 MB, so that `base` starts a huge page).
    private let mapping: (start: UnsafeMutableRawPointer, bytes: Int)
    /// Free ranges `(offset, bytes)`, sorted by offset, never adjacent (merged when they would be).
    private(set) var free: [(offset: Int, bytes: Int)]
    /// Bytes handed out and not yet given back.
    private(set) var usedBytes = 0

    /// Reserves `size` bytes (rounded up to a page), or nil when the system refuses.
    init?(size requested: Int) {
        let page = 4096
        let size = (requested + page - 1) / page * page
        guard size > 0 else { return nil }
        #if canImport(Glibc)
        let huge = 2 << 20
        let bytes = size + huge
        let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let p, p != MAP_FAILED else { return nil }
        mapping = (p, bytes)
        base = p + (huge - Int(bitPattern: p) % huge) % huge
        _ = madvise(base, size / huge * huge, MADV_HUGEPAGE)
        #else
        base = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: page)
        mapping = (base, size)
        #endif
        self.size = size
        free = [(0, size)]
    }

    /// Gives the whole region back to the system (every range must have been given back).
    func destroy() {
        #if canImport(Glibc)
        munmap(mapping.start, mapping.bytes)
        #else
        base.deallocate()
        #endif
    }

    /// Whether `p` points into the region.
    func contains(_ p: UnsafeMutableRawPointer) -> Bool { p >= base && p < base + size }

    /// The lowest free range of at least `bytes` (rounded up to the granule), and its rounded size; nil when no
    /// free range is that large.
    mutating func take(_ bytes: Int) -> (UnsafeMutableRawPointer, bytes: Int)? {
        let b = (bytes + Self.granule - 1) / Self.granule * Self.granule
        guard let i = free.firstIndex(where: { $0.bytes >= b }) else { return nil }
        let (offset, n) = free[i]
        if n == b { free.remove(at: i) } else { free[i] = (offset + b, n - b) }
        usedBytes += b
        return (base + offset, b)
    }

    /// Returns a range from `take` (`bytes` as `take` returned), merging it with free neighbours.
    mutating func give(_ p: UnsafeMutableRawPointer, bytes: Int) {
        let offset = p - base
        var i = free.firstIndex { $0.offset > offset } ?? free.count
        free.insert((offset, bytes), at: i)
        usedBytes -= bytes
        if i + 1 < free.count, free[i].offset + free[i].bytes == free[i + 1].offset {
            free[i].bytes += free[i + 1].bytes
            free.remove(at: i + 1)
        }
        if i > 0, free[i - 1].offset + free[i - 1].bytes == free[i].offset {
            free[i - 1].bytes += free[i].bytes
            free.remove(at: i)
            i -= 1
        }
    }

    /// Hands the whole pages inside free ranges back to the system (they read as zero if written again).
    func releaseFreePages() {
        #if canImport(Glibc)
        let page = 4096
        for (offset, bytes) in free {
            let lo = (offset + page - 1) / page * page, hi = (offset + bytes) / page * page
            if hi > lo { madvise(base + lo, hi - lo, MADV_DONTNEED) }
        }
        #endif
    }
}
