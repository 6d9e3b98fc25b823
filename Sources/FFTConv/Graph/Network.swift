import Dispatch
import Foundation

/// A prepared network: a `Graph` validated, shape-inferred for its input shapes, constant-folded, fused
/// (Conv + BatchNorm + residual Add + activation become one convolution), with an algorithm chosen and
/// prepared for every convolution, and a memory plan that releases each intermediate tensor after its last use.
///
/// `predict` may be called from several threads at once: steps are immutable and each call keeps its own
/// intermediate tensors.
public final class Network: @unchecked Sendable {
    /// The inputs, with the shapes the network was prepared for.
    public let inputs: [Graph.Value]
    /// The output names, in graph order.
    public let outputNames: [String]
    /// The options it was prepared with.
    public let options: NetworkOptions
    /// The prepared steps, in execution order.
    public let layers: [LayerSummary]
    /// The largest number of bytes of intermediate tensors alive at once during a call (memory plan).
    public let peakActivationBytes: Int
    /// Bytes held by prepared weights and constants.
    public let weightBytes: Int
    /// At a batch of several images run image by image (`BatchSchedule.imageByImage`): how many of `layers`, from the
    /// first, run on one image at a time (all of them without a fully-connected layer); nil: every step runs on the
    /// whole batch.
    public var perImageLayerCount: Int? { split?.perImage.layers.count }

    struct Step {
        var summary: LayerSummary
        var inputs: [Int]
        var output: Int
        var run: ([Tensor]) throws -> Tensor
        /// A convolution whose only consumer was a channel Concat writes its channels straight into the
        /// concatenation (`value`, of `shape`), allocated by the first of its producers to run; `runInto` then
        /// replaces `run`.
        var into: (value: Int, shape: [Int])? = nil
        var runInto: (([Tensor], inout Tensor) throws -> Void)? = nil
    }

    let steps: [Step]
    let constants: [(Int, Tensor)]
    let inputIDs: [Int]
    let outputIDs: [Int]
    /// Values to release after each step.
    let releases: [[Int]]
    /// Diagnostic: with the environment's `FFTCONV_KEEP_TENSORS` set, no intermediate tensor is released before the
    /// call ends, so no two tensors of a call share memory — more memory, and the same addresses written by the same
    /// step's threads from call to call (what reusing memory costs when the cores' caches are far apart: Docs/Kernels.md,
    /// seventeenth session).
    static let keepsTensors = ProcessInfo.processInfo.environment["FFTCONV_KEEP_TENSORS"] != nil
    let valueCount: Int
    /// The outputs' shapes, in `outputNames`' order (nil: not known, an output that is a constant's).
    let outputShapes: [[Int]?]
    /// At a batch of several images, the schedule that runs them image by image (`NetworkOptions.batchSchedule`);
    /// then `steps` is empty and every call goes through it.
    let split: BatchSplit?

    /// Prepares `graph`. `inputShapes` fixes the shapes of inputs whose graph shape has unknown (-1)
    /// dimensions (a fully-convolutional model accepts any size its layers allow).
    ///
    /// - Throws: `GraphError` for an invalid graph (dangling names, cycles, shape mismatches, tensors over
    ///   `options.maxTensorBytes`), `ConvolutionError` for invalid convolution parameters or options.
    public init(graph: Graph, inputShapes: [String: [Int]] = [:], options: NetworkOptions = .init()) throws {
        guard options.threads >= 1 && options.threads <= 1024 else {
            throw ConvolutionError.invalidOption("threads must be in 1...1024, got \(options.threads)")
        }
        self.options = options
        if let split = BatchSplit.make(graph: graph, inputShapes: inputShapes, options: options) {
            self.split = split
            inputs = [split.input]
            outputNames = graph.outputs
            let n = split.batch
            // The per-image steps' shapes and multiply-accumulates are given for the batch.
            layers = split.perImage.layers.map { l in
                var l = l
                if !l.outputShape.isEmpty { l.outputShape[0] *= n }
                l.multiplyAccumulates *= n
                return l
            } + (split.rest?.layers ?? [])
            outputShapes = split.rest?.outputShapes ?? split.stacked.map(\.shape)
            // Every worker's per-image tensors at once, the stacked values, then the rest's.
            let stackedBytes = split.stacked.reduce(0) { $0 + 4 * $1.shape.reduce(1, *) }
            peakActivationBytes = split.sideBySideWorkers(threads: options.threads) * split.perImage.peakActivationBytes + stackedBytes
                + (split.rest?.peakActivationBytes ?? 0)
            weightBytes = split.perImage.weightBytes + (split.rest?.weightBytes ?? 0)
            (steps, constants, inputIDs, outputIDs, releases, valueCount) = ([], [], [], [], [], 0)
            return
        }
        split = nil
        var b = try NetworkBuilder(graph: graph, inputShapes: inputShapes, options: options)
        try b.build()
        inputs = b.resolvedInputs
        outputNames = graph.outputs
        steps = b.steps
        layers = b.steps.map(\.summary)
        constants = b.constants.map { ($0.key, $0.value) }
        inputIDs = b.resolvedInputs.map { b.ids[$0.name] ?? -1 }
        outputIDs = graph.outputs.map { b.ids[$0] ?? -1 }
        outputShapes = outputIDs.map { b.shapes[$0] }
        releases = b.releases
        peakActivationBytes = b.peakBytes
        weightBytes = b.weightBytes
        valueCount = b.ids.count
    }

    /// Runs the network on named inputs, returning every graph output by name.
    public func predict(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
        try run(feeds, timings: nil)
    }

    /// Runs a single-input, single-output network.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard inputs.count == 1, outputNames.count == 1, let name = inputs.first?.name, let out = outputNames.first else {
            throw GraphError.inputMismatch(name: inputs.map(\.name).joined(separator: ","), expected: [], actual: x.shape)
        }
        guard let y = try predict([name: x])[out] else { throw GraphError.unknownOutput(out) }
        return y
    }

    /// Runs once and returns each step's wall time.
    ///
    /// With `repeatingEachStep` n > 1 each step runs n times in a row and the last run is timed: the step with its
    /// weights and tensors in the caches its own previous run left, where a network run finds what the steps before
    /// it left. The difference between the two profiles is what a step pays for fetching from further away.
    ///
    /// A batch run image by image (`BatchSchedule.imageByImage`) is profiled with its images one after another (each
    /// on the threads its steps were prepared for) and every step once (`repeatingEachStep` does not apply): a
    /// per-image step's time is its sum over the images.
    public func profile(_ feeds: [String: Tensor], repeatingEachStep repeats: Int = 1) throws -> [LayerTiming] {
        var times = [Double](repeating: 0, count: layers.count)
        if let split {
            _ = try split.run(feeds, threads: options.threads, timings: &times)
        } else {
            _ = try BufferCache.withActivationArena { try executeSteps(feeds, timings: &times, repeats: Swift.max(1, repeats)) }
        }
        return zip(layers, times).map { LayerTiming(layer: $0, milliseconds: $1) }
    }

    /// Runs a call — through the batch split, or the steps with the call's tensors cut from the activation arena
    /// (`BufferCache.withActivationArena`) — and, with `timings`, records each step's time.
    func run(_ feeds: [String: Tensor], timings: UnsafeMutablePointer<[Double]>?) throws -> [String: Tensor] {
        if let split { return try split.run(feeds, threads: options.threads, timings: timings) }
        return try BufferCache.withActivationArena { try executeSteps(feeds, timings: timings) }
    }

    private func executeSteps(_ feeds: [String: Tensor], timings: UnsafeMutablePointer<[Double]>?, repeats: Int = 1) throws -> [String: Tensor] {
        var values = [Tensor?](repeating: nil, count: valueCount)
        for (id, t) in constants { values[id] = t }
        for (value, id) in zip(inputs, inputIDs) {
            guard let t = feeds[value.name], t.shape == value.shape else {
                throw GraphError.inputMismatch(name: value.name, expected: value.shape, actual: feeds[value.name]?.shape)
            }
            values[id] = t
        }
        for k in steps.indices {
            // Each step read in place (`steps[k]`), not bound to a copy: a `Step` holds nine references, and a copy
            // retains and releases every one of them per step and call.
            var args: [Tensor] = []
            args.reserveCapacity(steps[k].inputs.count)
            for id in steps[k].inputs {
                guard let t = values[id] else {
                    throw GraphError.invalidNode(node: steps[k].summary.name, operation: steps[k].summary.operation, reason: "input not computed")
                }
                args.append(t)
            }
            var t0 = timings == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            do {
                for run in 0..<repeats {
                    if run == repeats - 1, run > 0 { t0 = DispatchTime.now().uptimeNanoseconds }
                    if let into = steps[k].into, let runInto = steps[k].runInto {
                        // Not zeroed: its producers write all its channels between them (each overwrites its own
                        // range; a test hands the Concat a NaN-filled block): SqueezeNet 3.18–3.30 → 3.12–3.17 ms at 1 thread.
                        var target = try values[into.value] ?? Tensor(uninitialized: into.shape)
                        values[into.value] = nil  // uniquely referenced while written
                        try runInto(args, &target)
                        values[into.value] = target
                    } else {
                        if run > 0 { values[steps[k].output] = nil }
                        values[steps[k].output] = try steps[k].run(args)
                    }
                }
            } catch let f as TensorOperations.Failure {
                // A value only known at run time (a Gather index) is wrong: named by its node, as at build.
                throw GraphError.invalidNode(node: steps[k].summary.name, operation: steps[k].summary.operation, reason: f.reason)
            }
            if let timings { timings.pointee[k] = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6 }
            if !Self.keepsTensors { for id in releases[k] { values[id] = nil } }
        }
        var result: [String: Tensor] = [:]
        for (name, id) in zip(outputNames, outputIDs) {
            guard id >= 0, let t = values[id] else { throw GraphError.unknownOutput(name) }
            result[name] = t
        }
        return result
    }
}
