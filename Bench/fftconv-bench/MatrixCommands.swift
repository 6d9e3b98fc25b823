import ArgumentParser
import Dispatch
import FFTConv
import Foundation

/// Medians and minima of timed calls, in milliseconds.
func timeCalls(warmup: Int, loops: Int, _ body: () throws -> Void) rethrows -> (median: Double, min: Double) {
    for _ in 0..<warmup { try body() }
    var times: [Double] = []
    for _ in 0..<loops {
        let t = DispatchTime.now().uptimeNanoseconds
        try body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
    }
    times.sort()
    let median = times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
    return (median, times[0])
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// `fftconv-bench peak`: the FMA peak of this machine, 1 and all threads.
struct PeakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "peak", abstract: "Measure the single-precision FMA peak (Swift SIMD FMA chains).")

    @Option(help: "Thread counts, comma separated (default: 1 and all cores).")
    var threads: String?

    @Flag(help: "Print JSON.")
    var json = false

    struct Row: Encodable { var threads: Int; var gflops: Double }

    func run() throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let counts = try threads.map { try $0.split(separator: ",").map { s -> Int in
            guard let v = Int(s), v >= 1, v <= 1024 else { throw ValidationError("--threads: expected positive integers") }
            return v
        } } ?? Array(Set([1, cores])).sorted()
        let rows = counts.map { Row(threads: $0, gflops: Peak.measure(threads: $0)) }
        if json { try printJSON(rows) } else {
            print("FMA peak (\(BuildInfo.compiledFor.contains(.avx512f) ? "SIMD16" : "SIMD8") chains, compiled for \(BuildInfo.compiledFor)):")
            for r in rows { print(String(format: "  %2d thread(s): %7.1f GFLOP/s", r.threads, r.gflops)) }
        }
    }
}

/// `fftconv-bench gemm M N K`: the packed SGEMM, as a share of the peak measured in the same run.
struct GEMMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gemm",
        abstract: "Time C[M×N] = A[M×K]·B[K×N] (A packed once, as layer weights are; B packed per call).")

    @Argument(help: "M (rows of A and C).") var m: Int
    @Argument(help: "N (columns of B and C).") var n: Int
    @Argument(help: "K (columns of A, rows of B).") var k: Int
    @Option(help: "Threads.") var threads: Int = 1
    @Option(help: "Untimed calls.") var warmup: Int = 3
    @Option(help: "Timed calls.") var loops: Int = 20
    @Option(help: "Micro-kernel variant (default: chosen for this CPU).") var kernel: String?
    @Flag(help: "Print JSON.") var json = false

    struct Row: Encodable {
        var m: Int, n: Int, k: Int, threads: Int, median_ms: Double, gflops: Double, peak_share: Double
        var kernel: String, peak_gflops: Double
    }

    func validate() throws {
        guard m >= 1, n >= 1, k >= 1, m <= 1 << 16, n <= 1 << 16, k <= 1 << 16 else { throw ValidationError("M, N, K must be in 1...65536") }
        guard threads >= 1 && threads <= 1024, loops >= 1, warmup >= 0 else { throw ValidationError("bad --threads/--loops/--warmup") }
    }

    func run() throws {
        var rng = SeededGenerator(seed: 7)
        let a = try Tensor.random(shape: [m, k], using: &rng), b = try Tensor.random(shape: [k, n], using: &rng)
        let mm = try MatrixMultiplication(a: a, threads: threads, microKernel: kernel)
        var c = try Tensor(zeros: [m, n])
        let t = try timeCalls(warmup: warmup, loops: loops) { try mm.run(b, into: &c) }
        let peak = Peak.measure(threads: threads)
        let gflops = 2 * Double(m) * Double(n) * Double(k) / (t.median * 1e6)
        let row = Row(m: m, n: n, k: k, threads: threads, median_ms: t.median, gflops: gflops, peak_share: gflops / peak,
                      kernel: mm.kernelName, peak_gflops: peak)
        if json { try printJSON(row) } else {
            print(String(format: "gemm %dx%dx%d, %d thread(s), %@: median %.3f ms, %.1f GFLOP/s = %.0f%% of the %.1f GFLOP/s peak",
                         m, n, k, threads, mm.kernelName, t.median, gflops, 100 * gflops / peak, peak))
        }
    }
}

/// `fftconv-bench fc IN OUT`: a fully-connected layer at batch 1, as a share of memory bandwidth.
struct FullyConnectedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fc", abstract: "Time a fully-connected layer (weights streamed from memory).")

    @Argument(help: "Input features.") var inputs: Int = 9216
    @Argument(help: "Output features.") var outputs: Int = 4096
    @Option(help: "Batch size.") var batch: Int = 1
    @Option(help: "Threads.") var threads: Int = 1
    @Option(help: "Timed calls.") var loops: Int = 20
    @Flag(help: "Print JSON.") var json = false

    struct Row: Encodable {
        var inputs: Int, outputs: Int, batch: Int, threads: Int, median_ms: Double, min_ms: Double, weight_gbps: Double, gflops: Double
        var dram_read_gbps: Double, dram_share: Double
    }

    func validate() throws {
        guard inputs >= 1, outputs >= 1, batch >= 1, inputs <= 1 << 20, outputs <= 1 << 20 else { throw ValidationError("sizes must be positive") }
        guard threads >= 1 && threads <= 1024, loops >= 1 else { throw ValidationError("bad --threads/--loops") }
    }

    func run() throws {
        var rng = SeededGenerator(seed: 9)
        let w = try Tensor.random(shape: [outputs, inputs], in: -0.01...0.01, using: &rng)
        let b = try Tensor.random(shape: [outputs], using: &rng)
        let x = try Tensor.random(shape: [batch, inputs], using: &rng)
        let fc = try FullyConnected(weights: w, bias: b, threads: threads)
        let t = try timeCalls(warmup: 2, loops: loops) { _ = try fc(x) }
        let bytes = Double(inputs * outputs * 4)
        let dram = Peak.readBandwidth(threads: threads)
        let gbps = bytes / (t.median * 1e6)
        let row = Row(inputs: inputs, outputs: outputs, batch: batch, threads: threads, median_ms: t.median, min_ms: t.min,
                      weight_gbps: gbps, gflops: 2 * Double(batch) * bytes / 4 / (t.median * 1e6),
                      dram_read_gbps: dram, dram_share: gbps / dram)
        if json { try printJSON(row) } else {
            print(String(format: "fc %d->%d batch %d, %d thread(s): median %.3f ms (min %.3f), weights streamed at %.1f GB/s = %.0f%% of the %.1f GB/s DRAM read bandwidth measured now",
                         inputs, outputs, batch, threads, t.median, t.min, gbps, 100 * gbps / dram, dram))
        }
    }
}
