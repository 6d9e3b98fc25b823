import Foundation
import Synchronization

/// How long two threads take to hand a cache line back and forth: the caller stores an odd value, a second
/// thread answers with the next even one, `rounds` times, and the median over `repeats` of the average round
/// trip is reported.
///
/// On the 2-vCPU hosts these benchmarks ran on the figure is ~80–140 ns in some minutes and ~370–450 ns (or
/// worse) in others: the two vCPUs move between cores sharing a last-level cache and cores on different
/// dies. Every 2-thread result depends on it (a layer's data written by one core and read by the other
/// crosses between the dies), so the interleaved scripts print it beside each round.
enum CoreLatency {
    final class Line: Sendable {
        let value = Atomic<Int>(0)
    }

    /// The median round trip in nanoseconds, or nil on a machine with one processor.
    static func roundTripNanoseconds(rounds: Int = 20_000, repeats: Int = 5) -> Double? {
        guard ProcessInfo.processInfo.activeProcessorCount >= 2 else { return nil }
        var samples: [Double] = []
        for _ in 0..<repeats {
            let line = Line()
            let done = DispatchSemaphore(value: 0)
            let responder = Thread {
                for i in 0..<rounds {
                    while line.value.load(ordering: .acquiring) != 2 * i + 1 {}
                    line.value.store(2 * i + 2, ordering: .releasing)
                }
                done.signal()
            }
            responder.start()
            // Let the responder start spinning before the clock starts.
            Thread.sleep(forTimeInterval: 0.002)
            let t0 = DispatchTime.now().uptimeNanoseconds
            for i in 0..<rounds {
                line.value.store(2 * i + 1, ordering: .releasing)
                while line.value.load(ordering: .acquiring) != 2 * i + 2 {}
            }
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / Double(rounds))
            done.wait()
        }
        return samples.sorted()[samples.count / 2]
    }
}
