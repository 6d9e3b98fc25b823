import CFFTConvShim
import Dispatch

/// Work splitting over a fixed number of workers.
///
/// `forEachRange` splits the items into `workers` contiguous ranges, one per worker (a layer's worker then reads
/// what the same worker wrote in the layer before); `forEachChunk` hands out chunks to whichever worker is free.
/// Either way, which worker computes an item never changes what is computed: every item's arithmetic is the same
/// for any thread count, and results are bit-identical across thread counts.
enum Parallel {
    /// Floats from one worker's scratch slice to the next: `floats` rounded up to whole cache lines and, with several
    /// threads, `sliceGap` more. The hardware prefetchers run up to ~100 KB ahead of a worker's accesses; slices
    /// back to back had them pull the start of the next worker's slice into the first core's cache, and the next
    /// worker's stores then waited on the other core (MobileNetV2's depthwise + 1x1 step at 112², 112 KB bands per
    /// worker, Zen 4 host: the second worker's depthwise part took 1.5× the first's; a gap of 32 KB 1.35×, 64 KB
    /// 1.16×, 96 KB and more 1.0×, whichever thread had the second slice).
    static func workerStride(_ floats: Int, threads: Int) -> Int {
        threads > 1 ? roundUp(floats, 16) + sliceGap : floats
    }

    /// The gap `workerStride` leaves between workers' slices: 128 KB of floats.
    static let sliceGap = 32 << 10

    /// Runs `body` with every loop it starts on this thread run on this thread alone (as if `threads` were 1):
    /// for work already spread over the workers a level up — a batch's images, one per worker, each through
    /// steps prepared for several threads. Every split covers all items, so what is computed does not change.
    static func serially<R>(_ body: () throws -> R) rethrows -> R {
        let depth = fftconv_serial_depth()
        fftconv_set_serial_depth(depth + 1)
        defer { fftconv_set_serial_depth(depth) }
        return try body()
    }

    /// Calls `body(worker, range)` for `workers = min(threads, count)` contiguous ranges covering
    /// `0..<count`, concurrently when `workers > 1` (one range on the calling thread inside `serially`).
    static func forEachRange(count: Int, threads: Int, _ body: (_ worker: Int, _ items: Range<Int>) -> Void) {
        // (`threads` is the operator's setting: the pool for it serves every loop of that operator.)
        if count <= 0 { return }
        let workers = fftconv_serial_depth() > 0 ? 1 : Swift.max(1, Swift.min(threads, count))
        if workers == 1 {
            body(0, 0..<count)
            return
        }
        // Persistent spinning workers (see WorkerPool); Dispatch when the pool is busy with another job.
        let ran = WorkerPool.shared(width: Swift.min(threads, 1024)).run(workers: workers) { w in
            body(w, (count * w / workers)..<(count * (w + 1) / workers))
        }
        if ran { return }
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            body(w, (count * w / workers)..<(count * (w + 1) / workers))
        }
    }

    /// Calls `body(worker, range)` for ranges of up to `chunk` items covering `0..<count`, each taken by whichever
    /// worker asks next (an atomic counter): for work whose items cost the same on any core and share nothing, so a
    /// worker slowed by the host (another tenant on its core) does not keep the others waiting at the end. What
    /// each item computes does not depend on who computes it.
    static func forEachChunk(count: Int, chunk: Int, threads: Int, _ body: (_ worker: Int, _ items: Range<Int>) -> Void) {
        if count <= 0 { return }
        let chunk = Swift.max(1, chunk), chunks = (count + chunk - 1) / chunk
        if Swift.min(threads, chunks) <= 1 || fftconv_serial_depth() > 0 {
            body(0, 0..<count)
            return
        }
        let next = UnsafeMutablePointer<fftconv_atomic_word>.allocate(capacity: 1)
        next.initialize(to: fftconv_atomic_word(value: 0))
        defer { next.deallocate() }
        forEachRange(count: Swift.min(threads, chunks), threads: threads) { worker, _ in
            while true {
                let c = fftconv_atomic_add(next, 1)
                if c >= chunks { break }
                body(worker, (c * chunk)..<Swift.min(count, (c + 1) * chunk))
            }
        }
    }
}
