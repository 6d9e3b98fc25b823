import Foundation

/// A network prepared for a batch of several images that runs it image by image (`BatchSchedule.imageByImage`).
///
/// The graph is cut at a value that alone crosses from the steps before it to the rest (`cut`: where the steps
/// before it move the most bytes of maps per byte of weights — a network's early, large-map layers); the part before
/// it is prepared for one image (`perImage`) and the part after (`rest`) for the whole batch. A call runs the images
/// through `perImage` side by side, one per worker, each on its own thread alone (`Parallel.serially`), the images
/// the threads do not divide (all of them, when there are fewer images than threads) one at a time on all of them; their outputs are stacked into the batch's value at the
/// cut, and `rest` runs once on it. Where no cut is better than none, every step runs image by image.
///
/// Why: a step on the whole batch writes a batch's tensor — 8 × SqueezeNet's 1.55 MB — that no cache holds for
/// the next step, and its threads split each step, so each reads what the other core wrote; one image at a time
/// keeps a batch-1 network's working set, and images side by side share no data between the cores. Layers with
/// large weights and small maps (ResNet's last stages, AlexNet's 3x3 layers and classifier) read their weights once
/// for the whole batch instead of once per image.
///
/// Only for graphs that compute each image on its own: every value before the cut (every value, without a cut)
/// has the batch as its first dimension at batch N and 1 at batch 1 with its other dimensions equal, and no step
/// there reads across its first dimension (`computesImagesApart`). Otherwise the network runs every step on the
/// whole batch. Without a cut, each image's outputs are the bits a batch-1 network prepared with the same options
/// gives for it; with one, also where the steps after it compute each image as at batch 1 (fully-connected layers of
/// up to 128 images sum each image's row as one image's: `GEMV.runBatch`).
struct BatchSplit: @unchecked Sendable {
    let batch: Int
    /// The graph's input, with the batch's shape.
    let input: Graph.Value
    /// The steps up to the cut, prepared for one image.
    let perImage: Network
    /// `perImage`'s outputs with the batch's shapes: the value at the cut, or (no cut) the graph's outputs.
    let stacked: [Graph.Value]
    /// The steps from the cut on, prepared for the batch; nil without a cut.
    let rest: Network?

    /// The split for `graph` at `inputShapes`, or nil where it does not apply: the schedule is `wholeBatch`, the
    /// batch is 1, the graph has other than one input, or does not compute its images apart. A graph the network
    /// would refuse is left to it (nil), so that its error is the same either way.
    static func make(graph declaredGraph: Graph, inputShapes: [String: [Int]], options: NetworkOptions) -> BatchSplit? {
        guard options.batchSchedule == .imageByImage else { return nil }
        let live = declaredGraph.liveInputs
        guard live.count == 1, let declared = live.first else { return nil }
        let shape = inputShapes[declared.name] ?? declared.shape
        guard shape.count >= 2, shape[0] > 1, shape.allSatisfy({ $0 > 0 }) else { return nil }
        guard NetworkBuilder.shape(shape, fits: declared.shape) else { return nil }
        // The input's batch dimension opened (a graph built for 8 images, as the model zoo's are, is asked about
        // one): whether the graph really computes its images apart is what the shapes at both batches tell.
        var graph = declaredGraph
        if let i = graph.inputs.firstIndex(where: { $0.name == declared.name }) { graph.inputs[i].shape[0] = -1 }
        let batch = shape[0], one = [1] + shape.dropFirst()
        guard let whole = try? NetworkBuilder.callTimeNodes(graph: graph, inputShapes: [declared.name: shape], options: options),
              let single = try? NetworkBuilder.callTimeNodes(graph: graph, inputShapes: [declared.name: one], options: options),
              whole.count == single.count, !whole.isEmpty else { return nil }
        let producers = Dictionary(graph.nodes.flatMap { node in node.outputs.filter { !$0.isEmpty }.map { ($0, node) } },
                                   uniquingKeysWith: { first, _ in first })
        // Which nodes compute each image apart (same shapes but the batch, no reading across it).
        var apart: [String: Bool] = [:]
        for (w, s) in zip(whole, single) {
            apart[w.output] = w.name == s.name && w.output == s.output && w.shape.first == batch && s.shape.first == 1
                && w.shape.dropFirst() == s.shape.dropFirst() && computesImagesApart(w)
        }
        guard let (cut, _) = Self.cut(single, graph: graph, input: declared.name, producers: producers, apart: apart) else { return nil }
        var options = options
        options.batchSchedule = .wholeBatch
        let outputs = cut.map { [$0] } ?? graph.outputs
        // Stacked outputs are computed per image (a constant output would be repeated, not returned once).
        guard outputs.allSatisfy({ apart[$0] == true }) else { return nil }
        // Where the threads divide the batch every image runs on one thread: the per-image steps are prepared (and
        // measured, with a measuring planner) for one; else for all, as the images left over run.
        var imageOptions = options
        if batch % options.threads == 0 { imageOptions.threads = 1 }
        guard let head = Self.subgraph(graph, inputs: [Graph.Value(name: declared.name, shape: one)], outputs: outputs, producers: producers),
              let perImage = try? Network(graph: head, inputShapes: [declared.name: one], options: imageOptions) else { return nil }
        var stacked: [Graph.Value] = []
        for name in outputs {
            guard let i = perImage.outputNames.firstIndex(of: name), let s = perImage.outputShapes[i], s.first == 1 else { return nil }
            stacked.append(Graph.Value(name: name, shape: [batch] + s.dropFirst()))
        }
        var rest: Network?
        if cut != nil {
            let x = stacked[0]
            guard let tail = Self.subgraph(graph, inputs: [x], outputs: graph.outputs, producers: producers),
                  let network = try? Network(graph: tail, inputShapes: [x.name: x.shape], options: options) else { return nil }
            rest = network
        }
        return BatchSplit(batch: batch, input: Graph.Value(name: declared.name, shape: shape), perImage: perImage,
                          stacked: stacked, rest: rest)
    }

    /// Where to cut: the value after which the rest runs on the whole batch (nil: nothing does), and the bytes a call
    /// saves per image by it — nil when no cut saves any (or the graph's images do not run apart before any cut).
    ///
    /// A step run image by image keeps its input and output in the caches (a batch-1 network's working set) but
    /// reads its weights once per image; on the whole batch it reads them once, and its batch-sized tensors from
    /// memory. So each step's per-image bytes — its call-time inputs and output less its constant inputs
    /// (`CallTimeNode.activationBytes`, `weightBytes`, raw weights as the model has them) — are summed over the steps
    /// before each cut, and the cut with the largest sum is taken: a network's early layers have large maps and small
    /// weights, its late ones and its classifier the reverse. A cut is a value no later step reads with any other
    /// value computed before it, that is not a graph output; every step before it must compute the images apart
    /// (`apart`). The whole graph image by image (no cut) competes as the value of all its steps.
    static func cut(_ nodes: [NetworkBuilder.CallTimeNode], graph: Graph, input: String, producers: [String: Graph.Node],
                    apart: [String: Bool]) -> (value: String?, savedBytes: Int)? {
        let saved = Dictionary(nodes.map { ($0.output, $0.activationBytes - $0.weightBytes) }, uniquingKeysWith: { a, _ in a })
        var best: (value: String?, savedBytes: Int)?
        if nodes.allSatisfy({ apart[$0.output] == true }) {
            best = (nil, nodes.reduce(0) { $0 + $1.activationBytes - $1.weightBytes })
        }
        let outputs = Set(graph.outputs)
        for (i, node) in nodes.enumerated().reversed() where !outputs.contains(node.output) && i + 1 < nodes.count {
            let x = node.output
            let before = ancestors(of: x, producers: producers, graph: graph)
            guard before.allSatisfy({ $0 == input || apart[$0] == true || saved[$0] == nil }) else { continue }
            let sum = before.reduce(0) { $0 + (saved[$1] ?? 0) }
            if let b = best, b.savedBytes >= sum { continue }
            // Nothing after the cut may read a value computed before it but `x`, nor may the graph return one.
            let crosses = graph.nodes.contains { n in
                !n.outputs.contains(where: before.contains) && n.inputs.contains { $0 != x && before.contains($0) }
            }
            if crosses || graph.outputs.contains(where: before.contains) { continue }
            best = (x, sum)
        }
        guard let best, best.savedBytes > 0 else { return nil }
        return best
    }

    /// `value` and every value it is computed from (constants excluded, the graph's input included).
    private static func ancestors(of value: String, producers: [String: Graph.Node], graph: Graph) -> Set<String> {
        var seen: Set<String> = [], stack = [value]
        while let v = stack.popLast() {
            guard !v.isEmpty, graph.constants[v] == nil, seen.insert(v).inserted, let node = producers[v] else { continue }
            stack.append(contentsOf: node.inputs)
        }
        return seen
    }

    /// The nodes `outputs` are computed by from `inputs` and the constants, as a graph; nil when they need another
    /// value of the graph.
    private static func subgraph(_ graph: Graph, inputs: [Graph.Value], outputs: [String], producers: [String: Graph.Node]) -> Graph? {
        let given = Set(inputs.map(\.name))
        var nodes: [Graph.Node] = [], constants: [String: Tensor] = [:], done: Set<String> = [], stack = outputs
        while let v = stack.popLast() {
            guard !v.isEmpty, !given.contains(v), done.insert(v).inserted else { continue }
            if let c = graph.constants[v] { constants[v] = c; continue }
            guard let node = producers[v], !graph.inputs.contains(where: { $0.name == v }) else { return nil }
            nodes.append(node)
            for o in node.outputs { done.insert(o) }
            stack.append(contentsOf: node.inputs)
        }
        return Graph(inputs: inputs, outputs: outputs, constants: constants, nodes: nodes.reversed())
    }

    /// Whether `node` computes each image (index of its first dimension) from that image alone, given that its
    /// output keeps the batch as its first dimension: operations that read across it with the shape unchanged —
    /// a softmax or layer normalisation over the first axis, a transpose or gather that moves it, a slice of it —
    /// are not; unknown ones are not either.
    static func computesImagesApart(_ node: NetworkBuilder.CallTimeNode) -> Bool {
        let r = node.shape.count, inputRank = node.inputRanks.first ?? r
        func axis(_ a: Int) -> Int { a < 0 ? a + r : a }
        switch node.op {
        case .convolution, .convolutionTranspose, .activation, .clipInputs, .sigmoid, .tanh, .sqrt, .erf, .gelu, .maxPool,
             .averagePool, .globalAveragePool, .localResponseNormalization, .batchNormalization, .add, .sub, .mul, .div,
             .pow, .prelu, .identity, .cast, .flatten, .reshape, .squeeze, .unsqueeze, .resize, .matMul,
             .instanceNormalization, .depthToSpace, .spaceToDepth, .unary:
            return true
        case .gemm(let transA, _, _, _): return !transA
        case .split(let a, _, _, _): return axis(a) != 0
        case .pad(let pads, _, _): return pads.map { $0.count == 2 * r && $0[0] == 0 && $0[r] == 0 } ?? false
        case .concat(let a): return axis(a) != 0
        case .softmax(let a, _): return axis(a) != 0
        case .layerNormalization(let a, _): return axis(a) != 0
        case .reduceMean(let axes, _, _): return axes.map { !$0.map(axis).contains(0) } ?? false
        case .transpose(let p): return p?.first == 0
        case .gather(let a): return node.constantInputs.contains(0) || (a < 0 ? a + inputRank : a) != 0
        case .slice:
            // Axes (input 3) must be constant and leave out the first one; without them every axis is sliced.
            guard let axes = node.sliceAxes else { return false }
            return !axes.contains { v in v.isFinite && (v < 0 ? Int(v) + inputRank : Int(v)) == 0 }
        default: return false
        }
    }

    /// How many images run at once on `threads`: one per thread where every thread gets one; with fewer images than
    /// threads (2 images on 16 threads) one — they run one after another on all threads, as a batch-1 call would,
    /// instead of leaving threads idle.
    func sideBySideWorkers(threads: Int) -> Int { batch >= threads ? threads : 1 }

    /// Runs a call: the images through `perImage` (side by side where the threads divide them), then `rest`.
    /// `timings`, when given, gets each step's time summed over the images, which then run one after another.
    func run(_ feeds: [String: Tensor], threads: Int, timings: UnsafeMutablePointer<[Double]>?) throws -> [String: Tensor] {
        guard let x = feeds[input.name], x.shape == input.shape else {
            throw GraphError.inputMismatch(name: input.name, expected: input.shape, actual: feeds[input.name]?.shape)
        }
        let imageFloats = x.count / batch
        let one = [1] + input.shape.dropFirst()
        let results = ImageResults(count: batch)
        let headSteps = perImage.layers.count
        var headTimes = [Double](repeating: 0, count: headSteps)
        func image(_ i: Int, timed: UnsafeMutablePointer<[Double]>?) throws {
            var xi = try Tensor(uninitialized: one)
            x.withUnsafeBufferPointer { src in
                xi.withUnsafeMutableBufferPointer { dst in
                    if let d = dst.baseAddress, let s = src.baseAddress { d.update(from: s + i * imageFloats, count: imageFloats) }
                }
            }
            results.set(i, try perImage.run([input.name: xi], timings: timed))
        }
        let workers = timings == nil ? sideBySideWorkers(threads: threads) : 1
        let sideBySide = workers > 1 ? batch / workers * workers : 0
        if sideBySide > 0 {
            // Each worker on its own lane: its tensors and scratch in memory no other worker touches.
            Parallel.forEachRange(count: sideBySide, threads: workers) { worker, images in
                BufferCache.withActivationArena(lane: worker) {
                    Parallel.serially {
                        for i in images {
                            do { try image(i, timed: nil) } catch { results.fail(error) }
                        }
                    }
                }
            }
            if let error = results.error { throw error }
        }
        for i in sideBySide..<batch {
            if timings != nil {
                var t = [Double](repeating: 0, count: headSteps)
                try image(i, timed: &t)
                for k in t.indices { headTimes[k] += t[k] }
            } else {
                try image(i, timed: nil)
            }
        }
        // The per-image outputs stacked along the batch.
        var outputs: [String: Tensor] = [:]
        for value in stacked {
            var t = try Tensor(uninitialized: value.shape)
            let per = t.count / batch
            try t.withUnsafeMutableBufferPointer { dst in
                guard let d = dst.baseAddress else { return }
                for i in 0..<batch {
                    guard let y = results.get(i)?[value.name], y.count == per else { throw GraphError.unknownOutput(value.name) }
                    y.withUnsafeBufferPointer { src in
                        if let s = src.baseAddress { (d + i * per).update(from: s, count: per) }
                    }
                }
            }
            outputs[value.name] = t
        }
        guard let rest else {
            timings?.pointee = headTimes
            return outputs
        }
        guard let timings else { return try rest.run(outputs, timings: nil) }
        var restTimes = [Double](repeating: 0, count: rest.layers.count)
        let result = try rest.run(outputs, timings: &restTimes)
        timings.pointee = headTimes + restTimes
        return result
    }

    /// Each image's outputs, written by the workers (under a lock), and the first error one of them met.
    private final class ImageResults: @unchecked Sendable {
        private let lock = NSLock()
        private var outputs: [[String: Tensor]?]
        private(set) var error: Error?
        init(count: Int) { outputs = Array(repeating: nil, count: count) }
        func set(_ i: Int, _ value: [String: Tensor]) { lock.withLock { outputs[i] = value } }
        func get(_ i: Int) -> [String: Tensor]? { lock.withLock { outputs[i] } }
        func fail(_ e: Error) { lock.withLock { if error == nil { error = e } } }
    }
}

extension NetworkBuilder {
    /// A node that runs at call time (not folded into a constant), with its output shape: what `BatchSplit` checks.
    struct CallTimeNode {
        var name: String
        var op: GraphOperation
        /// Output name and shape.
        var output: String
        var shape: [Int]
        /// Positions of the inputs that are constants (folded or given).
        var constantInputs: Set<Int>
        /// The ranks of the inputs' values, by position (0 for an omitted one).
        var inputRanks: [Int]
        /// Bytes of its call-time inputs and output, and of its constant inputs.
        var activationBytes: Int
        var weightBytes: Int
        /// A Slice's axes (its constant fourth input), when it has them.
        var sliceAxes: [Float]?
    }

    /// The graph's call-time nodes in execution order, shapes inferred for `inputShapes` and constants folded — no
    /// fusion, nothing prepared.
    static func callTimeNodes(graph: Graph, inputShapes: [String: [Int]], options: NetworkOptions) throws -> [CallTimeNode] {
        var b = try NetworkBuilder(graph: graph, inputShapes: inputShapes, options: options)
        for node in try b.topologicalOrder() { try b.add(node) }
        var names: [Int: String] = [:]
        for (name, id) in b.ids { names[id] = name }
        return b.pending.map { p in
            let constant = Set(p.inputs.indices.filter { p.inputs[$0] >= 0 && b.constants[p.inputs[$0]] != nil })
            let ranks = p.inputs.map { $0 < 0 ? 0 : b.shapes[$0]?.count ?? 0 }
            var axes: [Float]?
            if case .slice = p.op, p.inputs.count > 3, p.inputs[3] >= 0 { axes = b.constants[p.inputs[3]]?.scalars }
            func bytes(_ id: Int) -> Int { 4 * (b.shapes[id]?.reduce(1, *) ?? 0) }
            let present = p.inputs.filter { $0 >= 0 }
            let weights = present.filter { b.constants[$0] != nil }.reduce(0) { $0 + bytes($1) }
            let data = present.filter { b.constants[$0] == nil }.reduce(4 * p.shape.reduce(1, *)) { $0 + bytes($1) }
            return CallTimeNode(name: p.name, op: p.op, output: names[p.output] ?? "", shape: p.shape,
                                constantInputs: constant, inputRanks: ranks, activationBytes: data, weightBytes: weights, sliceAxes: axes)
        }
    }
}
