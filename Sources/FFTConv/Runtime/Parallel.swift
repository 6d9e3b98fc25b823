import Dispatch

/// Static work splitting over a fixed number of workers.
///
/// Work items are split into `workers` contiguous ranges, one per worker, so which worker computes an item
/// never changes what is computed: every item's arithmetic is the same for any thread count, and results
/// are bit-identical across thread counts.
enum Parallel {
    /// Calls `body(worker, range)` for `workers = min(threads, count)` contiguous ranges covering
    /// `0..<count`, concurrently when `workers > 1`.
    static func forEachRange(count: Int, threads: Int, _ body: (_ worker: Int, _ items: Range<Int>) -> Void) {
        // (`threads` is the operator's setting: the pool for it serves every loop of that operator.)
        if count <= 0 { return }
        let workers = Swift.max(1, Swift.min(threads, count))
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
}
