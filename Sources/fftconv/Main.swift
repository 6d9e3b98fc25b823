import ArgumentParser
import FFTConv
import FFTConvONNX
import Foundation

@main
struct FFTConvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fftconv",
        abstract: "Run or inspect ONNX models (as exported by PyTorch) with FFTConv.",
        subcommands: [RunCommand.self, InspectCommand.self, TuneCommand.self])
}

/// Options shared by `run` and `inspect`.
struct ModelOptions: ParsableArguments {
    @Argument(help: "The .onnx model file.") var model: String
    @Option(help: "Threads per call.") var threads: Int = 1
    @Option(help: "Convolution algorithm: auto, \(ConvolutionAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")).")
    var algorithm: String = "auto"
    @Option(help: "Input shape NxCxHxW for models with symbolic input sizes.") var inputShape: String?
    @Option(help: "How auto chooses: estimate (rules), measure or exhaustive (time the candidates at load). Default: measure with --tuning, else estimate.")
    var planner: String?
    @Option(help: "Tuning file (from `fftconv tune`): measured choices are taken from it instead of timed again.")
    var tuning: String?
    @Option(help: "At a batch of several images: images (the steps where maps outweigh weights image by image, the images side by side on the threads, the rest on the whole batch) or whole (every step on the whole batch).")
    var batchSchedule: String = "images"
    @Option(help: "Largest prepared weights per convolution, MB: a layer whose chosen algorithm holds more steps down to a smaller Winograd tile, smaller FFT tiles or the direct kernel (default: no limit; `inspect` prints what the model holds).")
    var memoryBudget: Double?

    func validate() throws {
        guard threads >= 1 && threads <= 1024 else { throw ValidationError("--threads must be in 1...1024") }
        if let m = memoryBudget, !(m >= 0 && m < 1e9) { throw ValidationError("--memory-budget must be a size in MB") }
        _ = try policy()
        _ = try plannerMode()
        _ = try schedule()
    }

    func schedule() throws -> BatchSchedule {
        guard let s = BatchSchedule(rawValue: batchSchedule) else {
            throw ValidationError("unknown --batch-schedule '\(batchSchedule)'; known: \(BatchSchedule.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return s
    }

    func plannerMode() throws -> PlannerMode {
        guard let planner else { return tuning == nil ? .estimate : .measure }
        guard let m = PlannerMode(rawValue: planner) else {
            throw ValidationError("unknown --planner '\(planner)'; known: \(PlannerMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return m
    }

    func tuningFile() throws -> TuningFile? { try tuning.map { try TuningFile(contentsOf: $0) } }

    func policy() throws -> AlgorithmPolicy {
        if algorithm == "auto" { return .auto }
        guard let a = ConvolutionAlgorithm(rawValue: algorithm) else {
            throw ValidationError("unknown --algorithm '\(algorithm)'; known: auto, \(ConvolutionAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return .fixed(a)
    }

    /// Loads the graph and prepares it for `shapes` — one per live input, in the model's order — or for the model's
    /// own input shapes, the first one replaced by --input-shape when given.
    func network(inputShapes given: [[Int]]?, planner forced: PlannerMode? = nil, tuning: TuningFile? = nil) throws -> Network {
        let graph = try ONNXModel.graph(contentsOf: model)
        let live = graph.liveInputs
        var shapes: [String: [Int]] = [:]
        if let given {
            guard given.count == live.count else {
                throw ValidationError("the model has \(live.count) input(s) (\(Self.describe(live))); give --input once for each, in that order")
            }
            for (value, shape) in zip(live, given) { shapes[value.name] = shape }
        } else if let s = inputShape, let first = live.first {
            let dims = s.lowercased().split(separator: "x").map { Int($0) }
            guard !dims.isEmpty, dims.allSatisfy({ ($0 ?? 0) > 0 }) else { throw ValidationError("--input-shape \(s): expected e.g. 1x3x224x224") }
            shapes[first.name] = dims.compactMap { $0 }
        }
        if let symbolic = live.first(where: { shapes[$0.name] == nil && $0.shape.contains { $0 < 0 } }) {
            throw ValidationError("input '\(symbolic.name)' has symbolic sizes \(symbolic.shape) (-1: any): give them with --input-shape, e.g. 1x3x224x224")
        }
        return try Network(graph: graph, inputShapes: shapes,
                           options: NetworkOptions(threads: threads, algorithm: try policy(), memoryBudget: memoryBudget.map { Int($0 * 1e6) },
                                                   planner: try forced ?? plannerMode(),
                                                   tuning: try tuning ?? tuningFile(), batchSchedule: try schedule()))
    }

    /// "name [shape], …" for the error messages.
    static func describe(_ values: [Graph.Value]) -> String {
        values.map { "\($0.name) \($0.shape)" }.joined(separator: ", ")
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run a model on a .npy tensor and write the output as .npy.")

    @OptionGroup var options: ModelOptions
    @Option(help: "Input tensor (.npy, float32, C order); once per model input, in the model's order.") var input: [String] = []
    @Option(help: "Where to write the output (.npy); once per model output, in the model's order.") var output: [String] = []
    @Flag(help: "Print per-layer time, algorithm and share of the total.") var profile = false

    func validate() throws {
        guard !input.isEmpty else { throw ValidationError("missing --input") }
        guard !output.isEmpty else { throw ValidationError("missing --output") }
    }

    func run() throws {
        let xs = try input.map { try Tensor(contentsOfNPY: $0) }
        let network = try options.network(inputShapes: xs.map(\.shape))
        // Every output gets a file: a model of several outputs with one --output would lose the others.
        guard output.count == network.outputNames.count else {
            throw ValidationError("the model has \(network.outputNames.count) output(s) (\(network.outputNames.joined(separator: ", "))); "
                                  + "give --output once for each, in that order")
        }
        let feeds = Dictionary(zip(network.inputs.map(\.name), xs), uniquingKeysWith: { first, _ in first })
        if profile {
            let timings = try network.profile(feeds)
            let total = timings.reduce(0) { $0 + $1.milliseconds }
            print("layer".padding(toLength: 28, withPad: " ", startingAt: 0) + "operation".padding(toLength: 26, withPad: " ", startingAt: 0)
                  + "      ms   share  algorithm")
            for t in timings {
                print(String(t.layer.name.prefix(27)).padding(toLength: 28, withPad: " ", startingAt: 0)
                      + String(t.layer.operation.prefix(25)).padding(toLength: 26, withPad: " ", startingAt: 0)
                      + String(format: "%8.3f %6.1f%%  ", t.milliseconds, 100 * t.milliseconds / Swift.max(total, 1e-9)) + t.layer.algorithm)
            }
            print(String(format: "total %.3f ms", total))
        }
        let y = try network.predict(feeds)
        for (name, path) in zip(network.outputNames, output) {
            guard let out = y[name] else { throw ValidationError("no output '\(name)'") }
            try out.writeNPY(to: path)
        }
    }
}

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect",
        abstract: "List a model's prepared layers: shapes, MACs, chosen algorithm, weight and activation memory.")

    @OptionGroup var options: ModelOptions

    func run() throws {
        let network = try options.network(inputShapes: nil)
        print("inputs: " + ModelOptions.describe(network.inputs))
        print("outputs: " + network.outputNames.joined(separator: ", "))
        print("layer".padding(toLength: 28, withPad: " ", startingAt: 0) + "operation".padding(toLength: 26, withPad: " ", startingAt: 0)
              + "output shape".padding(toLength: 22, withPad: " ", startingAt: 0) + "   MMAC  weights MB  algorithm")
        for l in network.layers {
            print(String(l.name.prefix(27)).padding(toLength: 28, withPad: " ", startingAt: 0)
                  + String(l.operation.prefix(25)).padding(toLength: 26, withPad: " ", startingAt: 0)
                  + "\(l.outputShape)".padding(toLength: 22, withPad: " ", startingAt: 0)
                  + String(format: "%7.1f  %10.2f  ", Double(l.multiplyAccumulates) / 1e6, Double(l.weightBytes) / 1e6) + l.algorithm
                  + Self.overBudget(l))
        }
        let macs = network.layers.reduce(0) { $0 + $1.multiplyAccumulates }
        print(String(format: "total: %.3f GMAC, weights %.1f MB, peak activations %.1f MB", Double(macs) / 1e9,
                     Double(network.weightBytes) / 1e6, Double(network.peakActivationBytes) / 1e6))
        if let k = network.perImageLayerCount, let n = network.inputs.first?.shape.first {
            print(k == network.layers.count ? "batch of \(n): every step image by image"
                  : "batch of \(n): the first \(k) steps image by image, the other \(network.layers.count - k) on the whole batch")
        }
    }
}

extension InspectCommand {
    /// " — over --memory-budget: winograd F6 16.8 MB, …" for a layer the budget stepped down, else "".
    static func overBudget(_ l: LayerSummary) -> String {
        let over = l.candidates.filter { $0.rejection == .overMemoryBudget }
        guard !over.isEmpty else { return "" }
        return " — over --memory-budget: " + over.map { String(format: "%@ %.1f MB", $0.candidate.description, Double($0.preparedBytes) / 1e6) }
            .joined(separator: ", ")
    }
}

struct TuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tune",
        abstract: "Time every candidate algorithm for each convolution of a model and write the winners to a tuning file.",
        discussion: "The file is keyed by CPU model, layer, input shape, batch and threads, and carries FFTW's wisdom; "
            + "`fftconv run MODEL --tuning FILE` then prepares the same choices without timing. An existing --output file is extended.")

    @OptionGroup var options: ModelOptions
    @Option(help: "Where to write the tuning file (JSON).") var output: String
    @Flag(help: "Also try every FFT tile size and GEMM micro-kernel (slower).") var exhaustive = false

    func run() throws {
        let existing = FileManager.default.fileExists(atPath: output) ? try TuningFile(contentsOf: output) : TuningFile()
        let t0 = Date()
        let network = try options.network(inputShapes: nil, planner: exhaustive ? .exhaustive : .measure, tuning: existing)
        try existing.write(to: output)
        print(String(format: "tuned %d convolutions in %.1f s (%d entries in %@)",
                     network.layers.filter { !$0.candidates.isEmpty }.count, Date().timeIntervalSince(t0), existing.count, output))
        for l in network.layers where !l.candidates.isEmpty {
            let timed = l.candidates.filter { $0.rejected == nil && $0.milliseconds != nil }
            let list = timed.prefix(4).map { String(format: "%@ %.3f", $0.candidate.description, $0.milliseconds ?? 0) }.joined(separator: ", ")
            print(String(l.name.prefix(27)).padding(toLength: 28, withPad: " ", startingAt: 0) + l.algorithm + "\n    ms: " + list)
        }
    }
}
