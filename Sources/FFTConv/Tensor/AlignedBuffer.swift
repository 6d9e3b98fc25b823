/// Uninitialised-then-zeroed float storage aligned to 64 bytes: a cache line, an AVX-512 vector, and more
/// than FFTW's SIMD alignment, so any buffer (and any 16-float offset into it) can be handed to FFTW's
/// new-array execute functions. Blocks of 64 KB and more come from, and go back to, `BufferCache`, so a
/// network's activation memory is not returned to the system and faulted in again on every call.
final class AlignedBuffer: @unchecked Sendable {
    /// Alignment of every buffer, in bytes.
    static let alignment = 64

    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    /// The size of the block behind `pointer` (at least `count × 4` bytes; more when `BufferCache` gave a larger one).
    private let blockBytes: Int

    /// Allocates `count` floats, all zero. `count` must already be validated (non-negative, no overflow).
    init(count: Int) {
        self.count = count
        let (raw, block) = BufferCache.allocate(byteCount: Swift.max(count, 1) * 4, alignment: Self.alignment)
        blockBytes = block
        pointer = raw.bindMemory(to: Float.self, capacity: Swift.max(count, 1))
        pointer.initialize(repeating: 0, count: Swift.max(count, 1))
    }

    /// Allocates `count` floats without initialising them (`Float` is trivial: they may be written before
    /// they are read), for scratch that its users overwrite before reading.
    init(uninitializedCount count: Int) {
        self.count = count
        let (raw, block) = BufferCache.allocate(byteCount: Swift.max(count, 1) * 4, alignment: Self.alignment)
        blockBytes = block
        pointer = raw.bindMemory(to: Float.self, capacity: Swift.max(count, 1))
    }

    /// Allocates `count` floats holding `bytes` (native byte order, exactly `count × 4` of them): one pass over
    /// memory instead of zeroing first (a VGG16's 550 MB of weights are read this way at load).
    init(count: Int, copying bytes: UnsafeRawBufferPointer) {
        self.count = count
        let (raw, block) = BufferCache.allocate(byteCount: Swift.max(count, 1) * 4, alignment: Self.alignment)
        blockBytes = block
        if count > 0, let source = bytes.baseAddress { raw.copyMemory(from: source, byteCount: count * 4) }
        else { raw.storeBytes(of: 0, as: Float.self) }
        pointer = raw.bindMemory(to: Float.self, capacity: Swift.max(count, 1))
    }

    /// A new buffer holding the same values.
    func copy() -> AlignedBuffer {
        let b = AlignedBuffer(count: count)
        b.pointer.update(from: pointer, count: count)
        return b
    }

    deinit {
        BufferCache.deallocate(UnsafeMutableRawPointer(pointer), bytes: blockBytes)
    }
}

/// Rounds `n` up to a multiple of `m` (`m > 0`).
@inline(__always)
func roundUp(_ n: Int, _ m: Int) -> Int { (n + m - 1) / m * m }

/// `floats` rounded up to whole 64-byte lines, and to an odd number of them. Matrices laid out this many floats
/// apart start in different L1 sets — an even stride puts many of them at the same offset within 4 KB, so that
/// a loop touching them all in turn competes for a few sets (Winograd's 36 tile-element matrices).
@inline(__always)
func oddLineStride(_ floats: Int) -> Int {
    let lines = (floats + 15) / 16
    return (lines % 2 == 0 ? lines + 1 : lines) * 16
}
