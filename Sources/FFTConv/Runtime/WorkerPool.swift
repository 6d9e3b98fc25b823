import CFFTConvShim
import Dispatch
import Foundation

/// Persistent worker threads that spin briefly between jobs.
///
/// A network runs dozens of layers of 20–200 µs each; waking a sleeping Dispatch worker for every one costs
/// about as much as the work it brings (measured: MobileNetV2 ran no faster on 2 threads than on 1). The
/// pool's helper threads stay awake, spinning on an atomic generation counter, for `spinNanoseconds`
/// after each job, so consecutive layers start on all threads at once; then they sleep on a semaphore and
/// cost nothing between calls. One job runs at a time per pool; a second caller (another thread running
/// another network, or a nested parallel loop) falls back to Dispatch.
final class WorkerPool: @unchecked Sendable {
    /// Threads a job uses, the caller included.
    let width: Int
    /// How long an idle helper spins before it sleeps: 300 µs, or nothing when the pool has more threads
    /// than the machine has cores (spinning would then take time from the threads doing the work).
    let spinNanoseconds: UInt64

    // generation, done, active workers, then one "asleep" flag per helper.
    private let words: UnsafeMutablePointer<fftconv_atomic_word>
    private let job: UnsafeMutablePointer<((Int) -> Void)?>
    /// One semaphore per helper: a shared one would let a helper that already ran the new job consume the
    /// wake-up meant for another that still sleeps.
    private let wake: [DispatchSemaphore]
    private let busy = NSLock()

    private static let registryLock = NSLock()
    nonisolated(unsafe) private static var pools: [Int: WorkerPool] = [:]

    /// The process-wide pool of `width` threads (created on first use, never torn down); jobs may use fewer.
    static func shared(width: Int) -> WorkerPool {
        registryLock.withLock {
            if let p = pools[width] { return p }
            let p = WorkerPool(width: width)
            pools[width] = p
            return p
        }
    }

    private init(width: Int) {
        self.width = width
        spinNanoseconds = width <= ProcessInfo.processInfo.activeProcessorCount ? 300_000 : 0
        words = .allocate(capacity: 3 + width)
        words.initialize(repeating: fftconv_atomic_word(value: 0), count: 3 + width)
        wake = (0..<width).map { _ in DispatchSemaphore(value: 0) }
        job = .allocate(capacity: 1)
        job.initialize(to: nil)
        for helper in 1..<Swift.max(width, 1) {
            let t = Thread { [unowned self] in self.helperLoop(index: helper) }
            t.name = "fftconv-worker-\(helper)"
            t.start()
        }
    }

    private var generation: UnsafeMutablePointer<fftconv_atomic_word> { words }
    private var done: UnsafeMutablePointer<fftconv_atomic_word> { words + 1 }
    private var active: UnsafeMutablePointer<fftconv_atomic_word> { words + 2 }
    private func asleep(_ helper: Int) -> UnsafeMutablePointer<fftconv_atomic_word> { words + 3 + helper }

    private func helperLoop(index: Int) {
        // Generation 0 is the pool's state at creation (before any job), whenever this thread starts running.
        var seen = 0
        while true {
            var idleSince = DispatchTime.now().uptimeNanoseconds
            var spins = 0
            while fftconv_atomic_load(generation) == seen {
                fftconv_spin_pause()
                spins &+= 1
                // The clock is read every 64 pauses only (it costs more than a pause).
                if spins & 63 == 0 && DispatchTime.now().uptimeNanoseconds - idleSince > spinNanoseconds {
                    // Announce the sleep, then re-check: a caller that bumped the generation before seeing the
                    // flag is seen here; one that bumps it after signals (a signal that finds this helper
                    // awake leaves a permit that only makes its next sleep return early, to the loop).
                    fftconv_atomic_store(asleep(index), 1)
                    if fftconv_atomic_load(generation) == seen { wake[index].wait() }
                    fftconv_atomic_store(asleep(index), 0)
                    idleSince = DispatchTime.now().uptimeNanoseconds
                }
            }
            seen = fftconv_atomic_load(generation)
            if index < fftconv_atomic_load(active) { job.pointee?(index) }
            _ = fftconv_atomic_add(done, 1)
        }
    }

    /// Calls `body(w)` for `w` in `0..<workers` (at most `width`) concurrently (`w == 0` on the calling thread)
    /// and returns when all have finished. Returns false, without calling anything, when the pool is running
    /// another job.
    func run(workers: Int, _ body: (Int) -> Void) -> Bool {
        guard workers <= width, busy.try() else { return false }
        defer { busy.unlock() }
        withoutActuallyEscaping(body) { body in
            job.pointee = body
            fftconv_atomic_store(active, workers)
            fftconv_atomic_store(done, 0)
            _ = fftconv_atomic_add(generation, 1)
            for helper in 1..<Swift.max(width, 1) where fftconv_atomic_load(asleep(helper)) != 0 { wake[helper].signal() }
            body(0)
            while fftconv_atomic_load(done) < width - 1 { fftconv_spin_pause() }
            job.pointee = nil
        }
        return true
    }
}
