import Foundation

/// A small stack of reusable scratch buffers for one prepared operator.
///
/// `run` takes a buffer (allocating only when every pooled one is in use, e.g. on the first call or when
/// several threads call at once) and gives it back when done, so steady-state calls do not allocate and
/// concurrent calls never share scratch memory.
final class WorkspacePool: @unchecked Sendable {
    private let lock = NSLock()
    /// Kept buffers with the lane (`BufferCache.currentLane`) that last used each.
    private var free: [(lane: Int, buffer: AlignedBuffer)] = []
    /// Floats per buffer.
    let count: Int
    /// Buffers kept for reuse at most (more are released after use).
    let capacity: Int

    init(count: Int, capacity: Int = 4) {
        self.count = count
        self.capacity = capacity
    }

    /// Calls `body` with a zero-initialised-once buffer of `count` floats that no other caller holds — the one its
    /// lane used last when there is one (a batch's images side by side each keep theirs).
    func withBuffer<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let lane = BufferCache.currentLane
        let buffer = lock.withLock { () -> AlignedBuffer? in
            guard let i = free.lastIndex(where: { $0.lane == lane }) ?? free.indices.last else { return nil }
            return free.remove(at: i).buffer
        } ?? BufferCache.outsideActivationArena { AlignedBuffer(count: count) }
        defer { lock.withLock { if free.count < capacity { free.append((lane, buffer)) } } }
        return try body(buffer.pointer)
    }
}

/// Scratch memory shared by every operator of the process whose scratch needs no contents between calls (it
/// writes before it reads): a free list of buffers, the most recently returned handed out first. Consecutive
/// layers of a network then reuse the same memory, which stays in the caches, instead of each layer touching
/// its own (per-operator pools add up to tens of MB in a network and push each other out of the last-level
/// cache). Concurrent callers get distinct buffers.
enum SharedScratch {
    private static let lock = NSLock()
    /// Kept buffers by lane (`BufferCache.currentLane`): a batch's images side by side each reuse their own.
    nonisolated(unsafe) private static var free: [Int: [AlignedBuffer]] = [:]
    /// Buffers kept for reuse at most, per lane.
    static let capacity = 8

    /// A new buffer, filled with NaN once: a user that read scratch before writing it would produce NaN
    /// (the tests would see it) instead of depending on the zeros of fresh memory.
    private static func allocate(_ count: Int) -> AlignedBuffer {
        let b = BufferCache.outsideActivationArena { AlignedBuffer(uninitializedCount: count) }
        b.pointer.initialize(repeating: .nan, count: Swift.max(count, 1))
        return b
    }

    /// Reads the buffer the next caller gets (the most recently returned) back into the caches — for the
    /// planner's timing with cold weights: in a network the layer before has just used it.
    static func readBack() {
        let lane = BufferCache.currentLane
        lock.withLock {
            if let b = free[lane]?.last { CacheFlush.read(UnsafeBufferPointer(start: b.pointer, count: b.count)) }
        }
    }

    /// Calls `body` with a buffer of at least `count` floats whose contents are unspecified, held by no other caller.
    static func withBuffer<R>(count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let lane = BufferCache.currentLane
        let buffer: AlignedBuffer = lock.withLock {
            if let i = free[lane]?.lastIndex(where: { $0.count >= count }) { return free[lane]?.remove(at: i) }
            if let last = free[lane]?.indices.last { free[lane]?.remove(at: last) }  // too small: dropped, a larger one replaces it
            return nil
        } ?? Self.allocate(count)
        defer { lock.withLock { if free[lane, default: []].count < capacity { free[lane, default: []].append(buffer) } } }
        if BufferCache.fillsUnzeroedTensorsWithNaN { buffer.pointer.update(repeating: .nan, count: buffer.count) }
        return try body(buffer.pointer)
    }

    /// Drops the buffers kept for reuse (`BufferCache.purge`; the next callers allocate afresh). Buffers in use stay
    /// with their callers.
    static func purge() {
        let dropped = lock.withLock { () -> [Int: [AlignedBuffer]] in
            defer { free = [:] }
            return free
        }
        withExtendedLifetime(dropped) {}  // released here, outside the lock (their memory goes back to BufferCache)
    }
}
