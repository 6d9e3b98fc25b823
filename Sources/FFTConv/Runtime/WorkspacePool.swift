import Foundation

/// A small stack of reusable scratch buffers for one prepared operator.
///
/// `run` takes a buffer (allocating only when every pooled one is in use, e.g. on the first call or when
/// several threads call at once) and gives it back when done, so steady-state calls do not allocate and
/// concurrent calls never share scratch memory.
final class WorkspacePool: @unchecked Sendable {
    private let lock = NSLock()
    private var free: [AlignedBuffer] = []
    /// Floats per buffer.
    let count: Int
    /// Buffers kept for reuse at most (more are released after use).
    let capacity: Int

    init(count: Int, capacity: Int = 4) {
        self.count = count
        self.capacity = capacity
    }

    /// Calls `body` with a zero-initialised-once buffer of `count` floats that no other caller holds.
    func withBuffer<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let buffer = lock.withLock { free.popLast() } ?? AlignedBuffer(count: count)
        defer { lock.withLock { if free.count < capacity { free.append(buffer) } } }
        return try body(buffer.pointer)
    }
}
