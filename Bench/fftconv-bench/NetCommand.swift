import ArgumentParser
import FFTConv
import FFTConvONNX
import Foundation

/// `fftconv-bench net NAME|MODEL.onnx`: whole-network latency.
struct NetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "net",
        abstract: "Time a whole network: a built-in architecture (\(ModelZoo.names.joined(separator: ", "))) with seeded random weights, or an .onnx file.")

    @Argument(help: "Model name or .onnx file.") var model: String
    @Option(help: "Input shape NxCxHxW (default: the model's).") var inputShape: String?
    @Option(help: "Threads per call.") var threads: Int = 1
    @Option(help: "Untimed calls.") var warmup: Int = 2
    @Option(help: "Timed calls.") var loops: Int = 10
    @Option(help: "Convolution algorithm: auto or one of \(ConvolutionAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")).") var algorithm: String = "auto"
    @Flag(help: "Print per-layer times (one extra profiled call).") var profile = false
    @Flag(help: "Print JSON.") var json = false

    struct Row: Encodable { var model: String, threads: Int, median_ms: Double, min_ms: Double, max_ms: Double, load_ms: Double, algorithm: String }

    func validate() throws {
        guard threads >= 1 && threads <= 1024, loops >= 1, warmup >= 0 else { throw ValidationError("bad --threads/--loops/--warmup") }
    }

    func run() throws {
        let policy: AlgorithmPolicy
        if algorithm == "auto" { policy = .auto } else {
            guard let a = ConvolutionAlgorithm(rawValue: algorithm) else { throw ValidationError("unknown --algorithm '\(algorithm)'") }
            policy = .fixed(a)
        }
        let shape = try inputShape.map { try Parse.shape($0, rank: 4, what: "--input-shape") }
        let t0 = Date()
        let graph = model.hasSuffix(".onnx") ? try ONNXModel.graph(contentsOf: model) : try ModelZoo.build(model, inputShape: shape)
        guard let input = graph.inputs.first else { throw ValidationError("the model has no input") }
        var inputShapes: [String: [Int]] = [:]
        if let shape { inputShapes[input.name] = shape }
        let network = try Network(graph: graph, inputShapes: inputShapes, options: NetworkOptions(threads: threads, algorithm: policy))
        let load = Date().timeIntervalSince(t0) * 1e3
        var rng = SeededGenerator(seed: 3)
        let x = try Tensor.random(shape: network.inputs[0].shape, using: &rng)
        let name = network.inputs[0].name
        var times: [Double] = []
        for i in 0..<(warmup + loops) {
            let t = DispatchTime.now().uptimeNanoseconds
            _ = try network.predict([name: x])
            if i >= warmup { times.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6) }
        }
        times.sort()
        let median = times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
        let row = Row(model: model, threads: threads, median_ms: median, min_ms: times[0], max_ms: times[times.count - 1],
                      load_ms: load, algorithm: policy.description)
        if profile {
            let timings = try network.profile([name: x])
            let total = timings.reduce(0) { $0 + $1.milliseconds }
            for t in timings where t.milliseconds >= total * 0.005 {
                FileHandle.standardError.write(Data(String(format: "%-28@ %-24@ %8.3f ms %5.1f%%  %@\n", String(t.layer.name.prefix(28)) as NSString,
                                                           String(t.layer.operation.prefix(24)) as NSString, t.milliseconds,
                                                           100 * t.milliseconds / total, t.layer.algorithm as NSString).utf8))
            }
        }
        if json { try printJSON([row]) } else {
            print(String(format: "%@, %d thread(s), %@: median %.2f ms, min %.2f, max %.2f (%d runs); load+prepare %.0f ms, weights %.1f MB, peak activations %.1f MB",
                         model, threads, policy.description, median, times[0], times[times.count - 1], times.count, load,
                         Double(network.weightBytes) / 1e6, Double(network.peakActivationBytes) / 1e6))
        }
    }
}
