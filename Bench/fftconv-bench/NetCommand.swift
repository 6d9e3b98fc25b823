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
    @Option(help: "Keep making untimed calls (after --warmup of them) until this many seconds have passed, as ../shared/peers' harness warms each runtime for 0.3 s: a 2-thread run of a small network right after another process measured twice its time with 3 warm-up calls.")
    var warmupSeconds: Double = 0
    @Option(help: "Timed calls.") var loops: Int = 10
    @Option(help: "Convolution algorithm: auto or one of \(ConvolutionAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")).") var algorithm: String = "auto"
    @Option(help: "How auto chooses per layer: estimate (rules), measure or exhaustive (time candidates at load).") var planner: String = "estimate"
    @Option(help: "Tuning file: measured choices are read from it (when it exists) and written back.") var tuning: String?
    @Option(help: "Largest prepared weights per convolution, MB: a layer whose chosen algorithm holds more steps down to a smaller Winograd tile, smaller FFT tiles or the direct kernel (default: no limit).")
    var memoryBudget: Double?
    @Flag(help: "Run every layer as its own step: no fused 1x1 + depthwise pairs (fused by default where dw_blocked16 serves the depthwise layer), no fused stem convolution + max pool, no 2x2 max pool in a Winograd layer's output stage, no fused depthwise + 1x1.")
    var noFusion = false
    @Option(help: "At a batch of several images: images (the steps before the first fully-connected layer image by image, the images side by side on the threads, the rest on the whole batch) or whole (every step on the whole batch).")
    var batchSchedule: String = "images"
    @Flag(help: "Print per-layer times (medians of --loops extra profiled calls) with the planner's runners-up.") var profile = false
    @Option(help: "With --profile: run each step this many times in a row and time the last (the step with its weights in cache; the difference to the default profile is what the network's order costs it in memory traffic).")
    var repeatEachStep: Int = 1
    @Flag(help: "Print JSON.") var json = false

    struct Row: Encodable {
        var model: String, threads: Int, median_ms: Double, min_ms: Double, max_ms: Double, load_ms: Double, algorithm: String
        var planner: String
        /// Prepared weights (transformed and packed, every step) and the activations' peak, bytes.
        var weight_bytes: Int, peak_activation_bytes: Int
        var layers: [LayerRow]?
    }
    /// One step in `--profile --json` output (pools and other steps without a convolution: empty `algorithm` and
    /// `candidates`).
    struct LayerRow: Encodable { var name: String, operation: String, ms: Double, algorithm: String, candidates: [CandidateTiming] }

    func validate() throws {
        guard threads >= 1 && threads <= 1024, loops >= 1, warmup >= 0 else { throw ValidationError("bad --threads/--loops/--warmup") }
        guard repeatEachStep >= 1 && repeatEachStep <= 1000 else { throw ValidationError("--repeat-each-step must be in 1...1000") }
        guard warmupSeconds >= 0 && warmupSeconds <= 600 else { throw ValidationError("--warmup-seconds must be in 0...600") }
        if let m = memoryBudget, !(m >= 0 && m < 1e9) { throw ValidationError("--memory-budget must be a size in MB") }
    }

    func run() throws {
        let policy: AlgorithmPolicy
        if algorithm == "auto" { policy = .auto } else {
            guard let a = ConvolutionAlgorithm(rawValue: algorithm) else { throw ValidationError("unknown --algorithm '\(algorithm)'") }
            policy = .fixed(a)
        }
        guard let mode = PlannerMode(rawValue: planner) else {
            throw ValidationError("unknown --planner '\(planner)'; known: \(PlannerMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let schedule = BatchSchedule(rawValue: batchSchedule) else {
            throw ValidationError("unknown --batch-schedule '\(batchSchedule)'; known: \(BatchSchedule.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let tuningFile = try tuning.map { FileManager.default.fileExists(atPath: $0) ? try TuningFile(contentsOf: $0) : TuningFile() }
        let shape = try inputShape.map { try Parse.shape($0, rank: 4, what: "--input-shape") }
        let t0 = Date()
        let graph = model.hasSuffix(".onnx") ? try ONNXModel.graph(contentsOf: model) : try ModelZoo.build(model, inputShape: shape)
        guard let input = graph.inputs.first else { throw ValidationError("the model has no input") }
        var inputShapes: [String: [Int]] = [:]
        if let shape { inputShapes[input.name] = shape }
        let network = try Network(graph: graph, inputShapes: inputShapes, options: NetworkOptions(threads: threads, algorithm: policy,
                                                                                                       memoryBudget: memoryBudget.map { Int($0 * 1e6) },
                                                                                                       planner: mode, tuning: tuningFile,
                                                                                                       fusesPointwiseDepthwise: !noFusion,
                                                                                                       fusesConvolutionPool: !noFusion,
                                                                                                       fusesDepthwisePointwise: !noFusion,
                                                                                                       batchSchedule: schedule))
        if let tuning, let tuningFile { try tuningFile.write(to: tuning) }
        let load = Date().timeIntervalSince(t0) * 1e3
        var rng = SeededGenerator(seed: 3)
        let x = try Tensor.random(shape: network.inputs[0].shape, using: &rng)
        let name = network.inputs[0].name
        var times: [Double] = []
        let warmEnd = DispatchTime.now().uptimeNanoseconds + UInt64(warmupSeconds * 1e9)
        for _ in 0..<warmup { _ = try network.predict([name: x]) }
        while DispatchTime.now().uptimeNanoseconds < warmEnd { _ = try network.predict([name: x]) }
        for _ in 0..<loops {
            let t = DispatchTime.now().uptimeNanoseconds
            _ = try network.predict([name: x])
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
        }
        times.sort()
        let median = times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
        var row = Row(model: model, threads: threads, median_ms: median, min_ms: times[0], max_ms: times[times.count - 1],
                      load_ms: load, algorithm: policy.description, planner: mode.rawValue, weight_bytes: network.weightBytes,
                      peak_activation_bytes: network.peakActivationBytes, layers: nil)
        if profile {
            // Per-layer medians over `loops` profiled calls: one call's layer times vary by ±30% on a busy host.
            var runs: [[LayerTiming]] = []
            var walls: [Double] = [], sums: [Double] = []
            for _ in 0..<max(loops, 1) {
                let t = DispatchTime.now().uptimeNanoseconds
                runs.append(try network.profile([name: x], repeatingEachStep: repeatEachStep))
                walls.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
                sums.append(runs[runs.count - 1].reduce(0) { $0 + $1.milliseconds })
            }
            let timings = runs[0].indices.map { k -> LayerTiming in
                let ms = runs.map { $0[k].milliseconds }.sorted()
                return LayerTiming(layer: runs[0][k].layer, milliseconds: ms[ms.count / 2])
            }
            let total = timings.reduce(0) { $0 + $1.milliseconds }
            // Every step (a sum over the JSON rows is then the call's; the printout below leaves out those under 0.5%).
            row.layers = timings.map {
                LayerRow(name: $0.layer.name, operation: $0.layer.operation, ms: $0.milliseconds, algorithm: $0.layer.algorithm,
                         candidates: $0.layer.candidates)
            }
            for t in timings where t.milliseconds >= total * 0.005 {
                var line = String(format: "%-28@ %-24@ %8.3f ms %5.1f%%  %@", String(t.layer.name.prefix(28)) as NSString,
                                  String(t.layer.operation.prefix(24)) as NSString, t.milliseconds,
                                  100 * t.milliseconds / total, t.layer.algorithm as NSString)
                let others = t.layer.candidates.filter { $0.rejected == nil && $0.milliseconds != nil }.prefix(4)
                if !others.isEmpty {
                    line += "\n" + String(repeating: " ", count: 30) + "measured: "
                        + others.map { String(format: "%@ %.3f", $0.candidate.description, $0.milliseconds ?? 0) }.joined(separator: ", ")
                }
                FileHandle.standardError.write(Data((line + "\n").utf8))
            }
            // What a call spends outside its steps (building arguments, releasing tensors, the call's own set-up):
            // the median over the profiled calls of each call's wall time less its steps' sum.
            let outside = zip(walls, sums).map { $0 - $1 }.sorted()
            FileHandle.standardError.write(Data(String(format: "profiled calls: steps' sum median %.3f ms, wall median %.3f ms, outside the steps median %.3f ms\n",
                                                       sums.sorted()[sums.count / 2], walls.sorted()[walls.count / 2],
                                                       outside[outside.count / 2]).utf8))
        }
        if json { try printJSON([row]) } else {
            print(String(format: "%@, %d thread(s), %@/%@: median %.2f ms, min %.2f, max %.2f (%d runs); load+prepare %.0f ms, weights %.1f MB, peak activations %.1f MB",
                         model, threads, policy.description, mode.rawValue, median, times[0], times[times.count - 1], times.count, load,
                         Double(network.weightBytes) / 1e6, Double(network.peakActivationBytes) / 1e6))
            if let k = network.perImageLayerCount {
                let bytes = network.layers.prefix(k).reduce(0) { $0 + $1.weightBytes }
                print(String(format: "image by image: the first %d of %d steps (their weights %.1f MB)", k, network.layers.count, Double(bytes) / 1e6))
            }
        }
    }
}
