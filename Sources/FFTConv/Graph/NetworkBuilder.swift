import FFTConvKernels
import Foundation

/// Turns a `Graph` into a `Network`'s steps. Phases: topological order (with validation), per node either
/// constant folding or shape inference, fusion, preparation of operators, memory plan.
struct NetworkBuilder {
    let graph: Graph
    let options: NetworkOptions
    var ids: [String: Int] = [:]
    var shapes: [Int: [Int]] = [:]
    var constants: [Int: Tensor] = [:]
    var resolvedInputs: [Graph.Value] = []
    var steps: [Network.Step] = []
    var releases: [[Int]] = []
    var peakBytes = 0
    var weightBytes = 0

    /// A node that runs at call time, before fusion and preparation.
    struct Pending {
        var name: String
        var operations: [String]
        var op: GraphOperation
        var inputs: [Int]
        var output: Int
        var shape: [Int]
        var residual: Int?
        var removed = false
        /// For a convolution feeding only a channel Concat: the concatenation's value, shape, and this
        /// convolution's first channel in it.
        var concatInto: (value: Int, shape: [Int], channel: Int)?
        /// For a batch normalisation no convolution absorbed: the activation that read it alone, applied in its pass.
        var activation: Activation?
        /// For an instance normalisation read only by a Pad over H and W: that padding, written around its output.
        var padding: SpatialPadding?
        /// For a batch normalisation with constant statistics reading a channel Concat that nothing else reads: how
        /// many of its first inputs are the concatenation's (the concatenated tensor is never written).
        var concatenated: Int?
    }
    var pending: [Pending] = []

    init(graph: Graph, inputShapes: [String: [Int]], options: NetworkOptions) throws {
        self.graph = graph
        self.options = options
        for (name, t) in graph.constants.sorted(by: { $0.key < $1.key }) {
            let i = id(name)
            constants[i] = t
            shapes[i] = t.shape
        }
        for v in graph.liveInputs {
            let shape = inputShapes[v.name] ?? v.shape
            guard Self.shape(shape, fits: v.shape), shape.allSatisfy({ $0 > 0 }) else {
                throw GraphError.inputMismatch(name: v.name, expected: v.shape, actual: shape)
            }
            try checkSize(shape, node: v.name)
            resolvedInputs.append(Graph.Value(name: v.name, shape: shape))
            shapes[id(v.name)] = shape
        }
    }

    /// Whether `shape` is one the graph's declared `declared` allows: the same rank, every dimension equal where the
    /// declared one is known (not -1).
    static func shape(_ shape: [Int], fits declared: [Int]) -> Bool {
        shape.count == declared.count && zip(shape, declared).allSatisfy { $1 < 0 || $0 == $1 }
    }

    mutating func id(_ name: String) -> Int {
        if let i = ids[name] { return i }
        let i = ids.count
        ids[name] = i
        return i
    }

    func checkSize(_ shape: [Int], node: String) throws {
        guard let n = try? Tensor.elementCount(of: shape), n.multipliedReportingOverflow(by: 4).partialValue <= options.maxTensorBytes,
              !n.multipliedReportingOverflow(by: 4).overflow else {
            throw GraphError.tooLarge(node: node, shape: shape, limitBytes: options.maxTensorBytes)
        }
    }

    mutating func build() throws {
        for node in try topologicalOrder() { try add(node) }
        try fuse()
        placeConcatenations()
        normalizeConcatenations()
        try prepare()
        plan()
    }

    // MARK: Order and validation

    func topologicalOrder() throws -> [Graph.Node] {
        var producer: [String: Int] = [:]
        for (i, node) in graph.nodes.enumerated() {
            for o in node.outputs where !o.isEmpty {
                if producer[o] != nil || graph.constants[o] != nil || resolvedInputs.contains(where: { $0.name == o }) {
                    throw GraphError.duplicateValue(o)
                }
                producer[o] = i
            }
        }
        var indegree = [Int](repeating: 0, count: graph.nodes.count)
        var dependents = [[Int]](repeating: [], count: graph.nodes.count)
        for (i, node) in graph.nodes.enumerated() {
            for name in node.inputs where !name.isEmpty {
                if let p = producer[name] {
                    indegree[i] += 1
                    dependents[p].append(i)
                } else if graph.constants[name] == nil && !resolvedInputs.contains(where: { $0.name == name }) {
                    throw GraphError.danglingInput(node: node.name, value: name)
                }
            }
        }
        var ready = (0..<graph.nodes.count).filter { indegree[$0] == 0 }.reversed().map { $0 }
        var order: [Graph.Node] = []
        while let i = ready.popLast() {
            order.append(graph.nodes[i])
            for d in dependents[i].reversed() {
                indegree[d] -= 1
                if indegree[d] == 0 { ready.append(d) }
            }
            ready.sort(by: >)
        }
        if order.count < graph.nodes.count {
            throw GraphError.cycle(nodes: graph.nodes.indices.filter { indegree[$0] > 0 }.map { graph.nodes[$0].name })
        }
        for o in graph.outputs where producer[o] == nil && graph.constants[o] == nil && !resolvedInputs.contains(where: { $0.name == o }) {
            throw GraphError.unknownOutput(o)
        }
        return order
    }

    // MARK: Folding and shape inference

    func constant(_ id: Int, node: Graph.Node) throws -> Tensor {
        guard let t = constants[id] else {
            let name = ids.first { $0.value == id }?.key ?? "#\(id)"
            throw GraphError.notConstant(node: node.name, value: name)
        }
        return t
    }

    /// `t`'s values as integers (shapes, axes, pads, slice bounds); a value that is not a finite integer-sized number
    /// (a float tensor holding NaN, ±inf or 1e30 where an int64 one belongs) is an error, not a trap.
    func ints(_ t: Tensor) throws -> [Int] {
        try t.scalars.map { v in
            guard v.isFinite, Swift.abs(v) <= 0x1p60 else { throw TensorOperations.fail("\(v) is not an integer value") }
            return Int(v)
        }
    }

    mutating func add(_ node: Graph.Node) throws {
        let consumed = Set(graph.nodes.flatMap(\.inputs) + graph.outputs)
        for extra in node.outputs.dropFirst() where !extra.isEmpty && consumed.contains(extra) {
            throw GraphError.invalidNode(node: node.name, operation: node.operation.name, reason: "only the first output is supported, '\(extra)' is used")
        }
        guard let outName = node.outputs.first, !outName.isEmpty else {
            throw GraphError.invalidNode(node: node.name, operation: node.operation.name, reason: "no output")
        }
        let inputs = node.inputs.map { $0.isEmpty ? -1 : id($0) }
        let output = id(outName)
        let present = inputs.filter { $0 >= 0 }
        let foldable: Bool
        switch node.operation {
        case .constant: foldable = true
        case .shape: foldable = present.first.flatMap { shapes[$0] } != nil
        case .convolution, .convolutionTranspose: foldable = false
        default: foldable = !present.isEmpty && present.allSatisfy { constants[$0] != nil }
        }
        do {
            let (op, shape) = try infer(node, inputs: inputs)
            try checkSize(shape, node: node.name)
            if foldable {
                let run = try makeRun(Pending(name: node.name, operations: [op.name], op: op, inputs: inputs, output: output, shape: shape))
                let value = try run(try inputs.filter { $0 >= 0 }.map { try shapeOrConstant($0, node: node, forShapeOp: op) })
                constants[output] = value
                shapes[output] = value.shape
            } else {
                shapes[output] = shape
                pending.append(Pending(name: node.name, operations: [op.name], op: op, inputs: inputs, output: output, shape: shape))
            }
        } catch let f as TensorOperations.Failure {
            throw GraphError.invalidNode(node: node.name, operation: node.operation.name, reason: f.reason)
        } catch let e as ConvolutionError {
            throw GraphError.invalidNode(node: node.name, operation: node.operation.name, reason: e.description)
        } catch let e as TensorError {
            throw GraphError.invalidNode(node: node.name, operation: node.operation.name, reason: e.description)
        }
    }

    /// For folding: the constant, or (for Shape) a zero tensor of the input's shape, whose shape is all Shape reads.
    func shapeOrConstant(_ id: Int, node: Graph.Node, forShapeOp op: GraphOperation) throws -> Tensor {
        if case .shape = op, constants[id] == nil, let s = shapes[id] { return try Tensor(zeros: s.isEmpty ? [] : [0] + s.dropFirst()).withShapeOnly(s) }
        return try constant(id, node: node)
    }

    /// The node's operation with anything resolved that needs input shapes (auto padding), and its output shape.
    func infer(_ node: Graph.Node, inputs: [Int]) throws -> (GraphOperation, [Int]) {
        func shape(_ i: Int) throws -> [Int] {
            guard i < inputs.count, inputs[i] >= 0, let s = shapes[inputs[i]] else {
                throw TensorOperations.fail("input \(i) is missing")
            }
            return s
        }
        func optionalConstant(_ i: Int) throws -> Tensor? {
            guard i < inputs.count, inputs[i] >= 0 else { return nil }
            return try constant(inputs[i], node: node)
        }
        func requiredConstant(_ i: Int) throws -> Tensor {
            guard let t = try optionalConstant(i) else { throw TensorOperations.fail("input \(i) is missing") }
            return t
        }
        let op = node.operation
        switch op {
        case .convolution(let d0, let autoPad):
            let x = try shape(0)
            guard x.count == 4, x[1] == d0.inputChannels else {
                throw TensorOperations.fail("input shape \(x) does not have \(d0.inputChannels) channels in NCHW")
            }
            let w = try requiredConstant(1)
            guard w.shape == d0.weightShape else { throw ConvolutionError.weightShapeMismatch(expected: d0.weightShape, actual: w.shape) }
            if let b = try optionalConstant(2), b.shape != [d0.outputChannels] {
                throw ConvolutionError.biasShapeMismatch(expected: [d0.outputChannels], actual: b.shape)
            }
            var d = d0
            if autoPad != .explicit {
                let k = try d0.effectiveKernel()
                func same(_ n: Int, _ s: Int, _ k: Int) -> (Int, Int) {
                    let total = Swift.max(0, ((n + s - 1) / s - 1) * s + k - n)
                    return autoPad == .sameUpper ? (total / 2, total - total / 2) : (total - total / 2, total / 2)
                }
                let (t, bottom) = same(x[2], d0.stride.height, k.height), (l, r) = same(x[3], d0.stride.width, k.width)
                d = try ConvolutionDescriptor(inputChannels: d0.inputChannels, outputChannels: d0.outputChannels, kernel: d0.kernel,
                                              stride: d0.stride, dilation: d0.dilation, padding: Padding(top: t, left: l, bottom: bottom, right: r),
                                              groups: d0.groups, hasBias: d0.hasBias, activation: d0.activation)
            }
            let o = try d.outputSize(input: Size2D(x[2], x[3]))
            return (.convolution(d, autoPad: .explicit), [x[0], d.outputChannels, o.height, o.width])
        case .convolutionTranspose(let s, let p, let dl, let op2, let g):
            let w = try requiredConstant(1)
            return (op, try TensorOperations.convolutionTransposeShape(try shape(0), weights: w.shape, stride: s, padding: p,
                                                                       dilation: dl, outputPadding: op2, groups: g))
        case .layerNormalization(let axis, let eps):
            let x = try shape(0)
            let a = try TensorOperations.axis(axis, rank: x.count), n = TensorOperations.count(Array(x[a...]))
            for i in 1..<inputs.count where inputs[i] >= 0 {
                guard TensorOperations.count(try shape(i)) == n else {
                    throw TensorOperations.fail("LayerNormalization's scale and bias need one value per normalised element (\(n)), got \(try shape(i))")
                }
            }
            return (.layerNormalization(axis: a, epsilon: eps), x)
        case .activation, .clipInputs, .sigmoid, .tanh, .sqrt, .erf, .gelu, .identity, .cast, .localResponseNormalization, .batchNormalization, .softmax:
            return (op, try shape(0))
        case .maxPool(let a), .averagePool(let a):
            return (op, try TensorOperations.poolShape(try shape(0), a))
        case .globalAveragePool:
            let x = try shape(0)
            guard x.count >= 3 else { throw TensorOperations.fail("needs N, C and spatial dimensions, got \(x)") }
            return (op, [x[0], x[1]] + [Int](repeating: 1, count: x.count - 2))
        case .reduceMean(let axes, let keepDims, let noop):
            let a = try axes ?? optionalConstant(1).map(ints)
            let x = try shape(0)
            let reduced = try TensorOperations.reducedAxes(rank: x.count, a, noopWithEmptyAxes: noop)
            return (.reduceMean(axes: reduced, keepDims: keepDims, noopWithEmptyAxes: noop),
                    try TensorOperations.reduceShape(x, axes: reduced, keepDims: keepDims))
        case .gemm(let ta, let tb, _, _):
            let a = try shape(0), b = try shape(1)
            guard a.count == 2, b.count == 2 else { throw TensorOperations.fail("Gemm needs 2-D operands, got \(a) and \(b)") }
            let (m, k1) = ta ? (a[1], a[0]) : (a[0], a[1]), (k2, n) = tb ? (b[1], b[0]) : (b[0], b[1])
            guard k1 == k2 else { throw TensorOperations.fail("Gemm inner dimensions differ: \(a) and \(b)") }
            if inputs.count > 2, inputs[2] >= 0 { _ = try TensorOperations.broadcastShape([m, n], try shape(2)) }
            return (op, [m, n])
        case .matMul:
            return (op, try TensorOperations.matMulShape(try shape(0), try shape(1)))
        case .add, .sub, .mul, .div:
            return (op, try TensorOperations.broadcastShape(try shape(0), try shape(1)))
        case .concat(let axis):
            return (op, try TensorOperations.concatShape(try inputs.indices.map { try shape($0) }, axis: axis))
        case .flatten(let axis):
            return (op, try TensorOperations.flattenShape(try shape(0), axis: axis))
        case .reshape(let allowZero):
            return (op, try TensorOperations.reshapeShape(try shape(0), try ints(try requiredConstant(1)), allowZero: allowZero))
        case .squeeze(let axes):
            let a = try axes ?? optionalConstant(1).map(ints)
            return (.squeeze(axes: a), try TensorOperations.squeezeShape(try shape(0), a))
        case .unsqueeze(let axes):
            guard let a = try axes ?? optionalConstant(1).map(ints) else { throw TensorOperations.fail("Unsqueeze needs axes") }
            return (.unsqueeze(axes: a), try TensorOperations.unsqueezeShape(try shape(0), a))
        case .transpose(let perm):
            let r = try TensorOperations.transposeShape(try shape(0), perm)
            return (.transpose(permutation: r.perm), r.shape)
        case .pad(let pads, let value, let mode):
            let x = try shape(0)
            guard var p = try pads ?? optionalConstant(1).map(ints) else { throw TensorOperations.fail("Pad needs pads") }
            if let axes = try optionalConstant(3).map(ints) {
                // Opset 18's `axes`: pads for those dimensions only, the others unpadded.
                guard p.count == 2 * axes.count else { throw TensorOperations.fail("Pad needs \(2 * axes.count) pads for axes \(axes), got \(p.count)") }
                var full = [Int](repeating: 0, count: 2 * x.count)
                for (k, a) in axes.enumerated() {
                    let d = try TensorOperations.axis(a, rank: x.count)
                    full[d] = p[k]; full[d + x.count] = p[k + axes.count]
                }
                p = full
            }
            let v = try optionalConstant(2).map { $0.scalars.first ?? 0 } ?? value
            return (.pad(pads: p, value: v, mode: mode), try TensorOperations.padShape(x, p, mode: mode))
        case .instanceNormalization:
            let x = try shape(0)
            guard x.count >= 3 else { throw TensorOperations.fail("InstanceNormalization needs N, C and spatial dimensions, got \(x)") }
            for i in 1...2 {
                guard i < inputs.count, inputs[i] >= 0, TensorOperations.count(try shape(i)) == x[1] else {
                    throw TensorOperations.fail("InstanceNormalization needs a scale and a bias of \(x[1]) values (one per channel)")
                }
            }
            return (op, x)
        case .depthToSpace(let b, _):
            return (op, try TensorOperations.depthToSpaceShape(try shape(0), blockSize: b))
        case .spaceToDepth(let b):
            return (op, try TensorOperations.spaceToDepthShape(try shape(0), blockSize: b))
        case .unary:
            return (op, try shape(0))
        case .split(let axis, let part, let parts, let given):
            let x = try shape(0), a = try TensorOperations.axis(axis, rank: x.count)
            let sizes = try TensorOperations.splitSizes(x[a], parts: parts, given ?? optionalConstant(1).map(ints))
            guard part < sizes.count else { throw TensorOperations.fail("Split has no output \(part) of \(sizes.count)") }
            var out = x
            out[a] = sizes[part]
            return (.split(axis: a, part: part, parts: parts, sizes: sizes), out)
        case .resize(let mode, let coords, let scales):
            let s = try scales ?? optionalConstant(2).flatMap { $0.count > 0 ? $0.scalars : nil }
            let sizes = try optionalConstant(3).flatMap { $0.count > 0 ? try ints($0) : nil }
            let out = try TensorOperations.resizeShape(try shape(0), scales: sizes == nil ? s : nil, sizes: sizes)
            return (.resize(mode: mode, coordinates: coords, scales: sizes == nil ? s : nil), out)
        case .shape:
            return (op, [try shape(0).count])
        case .gather(let axis):
            let x = try shape(0), i = try shape(1)
            let ax = try TensorOperations.axis(axis, rank: x.count)
            return (op, Array(x[..<ax]) + i + Array(x[(ax + 1)...]))
        case .constant(let t):
            return (op, t.shape)
        case .constantOfShape:
            let s = try ints(try requiredConstant(0))
            guard s.allSatisfy({ $0 >= 0 }) else { throw TensorOperations.fail("ConstantOfShape with negative dimensions \(s)") }
            return (op, s)
        case .slice:
            let r = try sliceParameters(node, inputs: inputs, shape: try shape(0))
            return (op, r.map(\.count))
        case .pow:
            return (op, try TensorOperations.broadcastShape(try shape(0), try shape(1)))
        case .prelu:
            let x = try shape(0)
            guard try TensorOperations.broadcastShape(x, try shape(1)) == x else {
                throw TensorOperations.fail("PRelu slope of shape \(try shape(1)) does not broadcast to the input's \(x)")
            }
            return (op, x)
        }
    }

    func sliceParameters(_ node: Graph.Node, inputs: [Int], shape: [Int]) throws -> [(start: Int, step: Int, count: Int)] {
        guard inputs.count >= 3 else { throw TensorOperations.fail("Slice needs starts and ends inputs") }
        func opt(_ i: Int) throws -> [Int]? { i < inputs.count && inputs[i] >= 0 ? try ints(try constant(inputs[i], node: node)) : nil }
        return try TensorOperations.sliceRanges(shape, starts: try ints(try constant(inputs[1], node: node)),
                                                ends: try ints(try constant(inputs[2], node: node)), axes: try opt(3), steps: try opt(4))
    }

    // MARK: Fusion

    /// The live nodes that read `value`: as an input, or as the residual a convolution adds (an Add fused into it is
    /// no longer a node of its own). Missing the residual readers, a 1x1 layer whose result a later block adds back —
    /// MobileNetV2's projection before a block of expansion 1 — was fused with the depthwise layer after it, and the
    /// result the add needed was never computed (`diff_fuzz.py`).
    func consumers(of value: Int) -> [Int] {
        pending.indices.filter { !pending[$0].removed && (pending[$0].inputs.contains(value) || pending[$0].residual == value) }
    }

    mutating func fuse() throws {
        let outputs = Set(graph.outputs.compactMap { ids[$0] })
        try foldZeroPads(outputs: outputs)
        fuseGatedActivations(outputs: outputs)
        fuseGELU(outputs: outputs)
        fuseLayerNormalization(outputs: outputs)
        for i in pending.indices {
            guard case .convolution(var d, _) = pending[i].op, !pending[i].removed else { continue }
            func single(_ value: Int) -> Int? {
                let c = consumers(of: value)
                return c.count == 1 && !outputs.contains(value) ? c[0] : nil
            }
            // Conv + BatchNormalization with constant statistics, one value per channel: fold into weights and bias
            // (statistics of another length stay a BatchNormalization step, which refuses them).
            if let j = single(pending[i].output), case .batchNormalization(let eps) = pending[j].op,
               pending[j].inputs.count == 5, pending[j].inputs.dropFirst().allSatisfy({ constants[$0]?.count == d.outputChannels }),
               pending[i].residual == nil {
                let p = try pending[j].inputs.dropFirst().map { try constant($0, node: graph.nodes[0]) }
                let w = try constant(pending[i].inputs[1], node: graph.nodes[0])
                let oldBias = pending[i].inputs.count > 2 && pending[i].inputs[2] >= 0 ? constants[pending[i].inputs[2]] : nil
                let perOut = d.weightShape.dropFirst().reduce(1, *)
                var nw = w, nb = try Tensor(zeros: [d.outputChannels])
                nw.withUnsafeMutableBufferPointer { wp in
                    for o in 0..<d.outputChannels {
                        let k = p[0].scalars[o] / (p[3].scalars[o] + eps).squareRoot()
                        for t in 0..<perOut { wp[o * perOut + t] *= k }
                        nb.storage.pointer[o] = ((oldBias?.scalars[o] ?? 0) - p[2].scalars[o]) * k + p[1].scalars[o]
                    }
                }
                let wid = id("\(pending[i].name)#folded_weights"), bid = id("\(pending[i].name)#folded_bias")
                constants[wid] = nw; shapes[wid] = nw.shape
                constants[bid] = nb; shapes[bid] = nb.shape
                d = try d.with(hasBias: true)
                pending[i].op = .convolution(d, autoPad: .explicit)
                pending[i].inputs = [pending[i].inputs[0], wid, bid]
                pending[i].output = pending[j].output
                pending[i].operations.append("BatchNormalization")
                pending[j].removed = true
            }
            // Conv + Add(other): the other operand becomes the fused residual, if it exists by the time the conv runs.
            if let j = single(pending[i].output), pending[i].residual == nil, d.activation == .none {
                let isAdd: Bool
                if case .add = pending[j].op { isAdd = true } else { isAdd = false }
                if isAdd, pending[j].inputs.count == 2 {
                    let other = pending[j].inputs[0] == pending[i].output ? pending[j].inputs[1] : pending[j].inputs[0]
                    let producedEarlier = constants[other] != nil || resolvedInputs.contains { ids[$0.name] == other }
                        || pending[..<i].contains { !$0.removed && $0.output == other }
                    if other != pending[i].output, producedEarlier, shapes[other] == pending[i].shape, constants[other] == nil {
                        pending[i].residual = other
                        pending[i].output = pending[j].output
                        pending[i].operations.append("Add")
                        pending[j].removed = true
                    }
                }
            }
            // Conv (+ Add) + activation.
            if let j = single(pending[i].output), d.activation == .none {
                var activation: Activation?
                switch pending[j].op {
                case .activation(let a): activation = a
                case .sigmoid: activation = .sigmoid
                case .tanh: activation = .tanh
                case .prelu:
                    // One slope for every channel (PyTorch's `nn.PReLU()`): a leaky ReLU.
                    if pending[j].inputs.count == 2, let slope = constants[pending[j].inputs[1]], slope.count == 1,
                       let alpha = slope.scalars.first, alpha.isFinite { activation = .leakyReLU(alpha: alpha) }
                case .clipInputs:
                    let lo = pending[j].inputs.count > 1 && pending[j].inputs[1] >= 0 ? constants[pending[j].inputs[1]]?.scalars.first : -.infinity
                    let hi = pending[j].inputs.count > 2 && pending[j].inputs[2] >= 0 ? constants[pending[j].inputs[2]]?.scalars.first : .infinity
                    if let lo, let hi { activation = .clip(min: lo, max: hi) }
                default: break
                }
                if let a = activation {
                    d = try d.with(activation: a)
                    pending[i].op = .convolution(d, autoPad: .explicit)
                    pending[i].output = pending[j].output
                    pending[i].operations.append(pending[j].op.name)
                    pending[j].removed = true
                }
            }
        }
        // A batch normalisation left standing (no convolution before it: DenseNet's), and an instance normalisation,
        // take the activation they feed.
        for i in pending.indices where !pending[i].removed && pending[i].activation == nil {
            switch pending[i].op {
            case .batchNormalization, .instanceNormalization: break
            default: continue
            }
            let c = consumers(of: pending[i].output)
            guard c.count == 1, !outputs.contains(pending[i].output), case .activation(let a) = pending[c[0]].op else { continue }
            pending[i].activation = a
            pending[i].output = pending[c[0]].output
            pending[i].operations.append(pending[c[0]].op.name)
            pending[c[0]].removed = true
        }
        padNormalizationOutputs(outputs: outputs)
        pending.removeAll { $0.removed }
    }

    /// The value of constant `v` when it holds exactly one.
    func scalarConstant(_ v: Int) -> Float? { constants[v].flatMap { $0.count == 1 ? $0.scalars[0] : nil } }

    /// The live node writing `v` when exactly the nodes `readers` read it and it is not one of the graph's `outputs`:
    /// an intermediate a pattern rewrite may remove.
    func producer(of v: Int, readBy readers: [Int], outputs: Set<Int>) -> Int? {
        guard !outputs.contains(v), consumers(of: v) == readers.sorted() else { return nil }
        return pending.indices.first { !pending[$0].removed && pending[$0].output == v }
    }

    /// `Mul(x, HardSigmoid(x))` with PyTorch's hard sigmoid (alpha 1/6, beta 1/2) is `HardSwish(x)` — how exports
    /// below opset 14 (which has no HardSwish) write MobileNetV3's activation — and `Mul(x, Sigmoid(x))` is SiLU
    /// (EfficientNet's swish). Each is rewritten into one activation node, which the convolution producing `x` then
    /// takes into its write-out.
    mutating func fuseGatedActivations(outputs: Set<Int>) {
        for j in pending.indices where !pending[j].removed && pending[j].inputs.count == 2 {
            guard case .mul = pending[j].op else { continue }
            for (h, x) in [(pending[j].inputs[0], pending[j].inputs[1]), (pending[j].inputs[1], pending[j].inputs[0])] {
                guard let k = producer(of: h, readBy: [j], outputs: outputs), pending[k].inputs == [x] else { continue }
                let gated: Activation
                switch pending[k].op {
                case .activation(.hardSigmoid(let alpha, let beta)) where abs(alpha - 1 / 6) <= 1e-7 && beta == 0.5: gated = .hardSwish
                case .activation(.sigmoid), .sigmoid: gated = .silu
                default: continue
                }
                pending[j].op = .activation(gated)
                pending[j].inputs = [x]
                pending[j].operations = [pending[j].op.name]
                pending[k].removed = true
                break
            }
        }
    }

    /// The exact GELU as PyTorch exports it below opset 20 — `Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5)`, each
    /// intermediate read once — rewritten into one `.gelu` node: one vector pass instead of five (ConvNeXt-Tiny's 18
    /// GELUs, 1 thread: the Erf steps alone 11.8–16 ms of the call).
    mutating func fuseGELU(outputs: Set<Int>) {
        func soleProducer(_ v: Int, readBy reader: Int) -> Int? { producer(of: v, readBy: [reader], outputs: outputs) }
        /// The operand of binary node `i` that is not the constant `c` (within 1e-6), if the other one is.
        func operand(_ i: Int, constant c: Float) -> Int? {
            let ins = pending[i].inputs
            guard ins.count == 2 else { return nil }
            if let k = scalarConstant(ins[1]), abs(k - c) <= 1e-6 * abs(c) { return ins[0] }
            if let k = scalarConstant(ins[0]), abs(k - c) <= 1e-6 * abs(c) { return ins[1] }
            return nil
        }
        for last in pending.indices where !pending[last].removed {
            guard case .mul = pending[last].op, let mv = operand(last, constant: 0.5), let m = soleProducer(mv, readBy: last),
                  case .mul = pending[m].op, pending[m].inputs.count == 2 else { continue }
            for (x, av) in [(pending[m].inputs[0], pending[m].inputs[1]), (pending[m].inputs[1], pending[m].inputs[0])] {
                guard let a = soleProducer(av, readBy: m), case .add = pending[a].op, let ev = operand(a, constant: 1),
                      let e = soleProducer(ev, readBy: a), case .erf = pending[e].op, pending[e].inputs.count == 1,
                      let d = soleProducer(pending[e].inputs[0], readBy: e), case .div = pending[d].op,
                      pending[d].inputs.count == 2, pending[d].inputs[0] == x,
                      let r = scalarConstant(pending[d].inputs[1]), abs(r - Float(2).squareRoot()) <= 1e-6 else { continue }
                pending[last].op = .gelu(tanhApproximation: false)
                pending[last].inputs = [x]
                pending[last].operations = ["Gelu"]
                for i in [m, a, e, d] { pending[i].removed = true }
                break
            }
        }
    }

    /// Layer normalisation over trailing dimensions as exports below opset 17 write it — `mean = ReduceMean(x)`, `d =
    /// Sub(x, mean)`, `Div(d, Sqrt(Add(ReduceMean(Pow(d, 2)), ε)))`, then `Mul` by a constant scale and `Add` of a
    /// constant bias, each intermediate read only there — rewritten into one `.layerNormalization` node: one step
    /// instead of nine (ConvNeXt's 23 LayerNorms).
    mutating func fuseLayerNormalization(outputs: Set<Int>) {
        func producer(_ v: Int, readBy readers: [Int]) -> Int? { self.producer(of: v, readBy: readers, outputs: outputs) }
        /// For a binary node: its non-constant operand and the constant one.
        func split(_ i: Int) -> (value: Int, constant: Int)? {
            let ins = pending[i].inputs
            guard ins.count == 2 else { return nil }
            if constants[ins[1]] != nil && constants[ins[0]] == nil { return (ins[0], ins[1]) }
            if constants[ins[0]] != nil && constants[ins[1]] == nil { return (ins[1], ins[0]) }
            return nil
        }
        /// The first reduced axis of a ReduceMean over trailing axes that keeps them, of a tensor of `rank`.
        func trailingMean(_ i: Int, rank: Int) -> Int? {
            guard case .reduceMean(let axes?, true, _) = pending[i].op, let first = axes.first, axes == Array(first..<rank) else { return nil }
            return first
        }
        for y in pending.indices where !pending[y].removed {
            guard case .add = pending[y].op, let (mv, bias) = split(y), let m = producer(mv, readBy: [y]), case .mul = pending[m].op,
                  let (nv, scale) = split(m), let n = producer(nv, readBy: [m]), case .div = pending[n].op, pending[n].inputs.count == 2,
                  let s = producer(pending[n].inputs[1], readBy: [n]), case .sqrt = pending[s].op,
                  let ve = producer(pending[s].inputs[0], readBy: [s]), case .add = pending[ve].op, let (vv, epsilon) = split(ve),
                  let eps = scalarConstant(epsilon), let v = producer(vv, readBy: [ve]),
                  let pw = producer(pending[v].inputs[0], readBy: [v]), case .pow = pending[pw].op, pending[pw].inputs.count == 2,
                  scalarConstant(pending[pw].inputs[1]) == 2 else { continue }
            let dv = pending[n].inputs[0]
            guard pending[pw].inputs[0] == dv, let d = producer(dv, readBy: [pw, n]), case .sub = pending[d].op, pending[d].inputs.count == 2,
                  let mean = producer(pending[d].inputs[1], readBy: [d]), let x = pending[mean].inputs.first, pending[d].inputs[0] == x,
                  let rank = shapes[x]?.count, let axis = trailingMean(mean, rank: rank), trailingMean(v, rank: rank) == axis,
                  let shape = shapes[x], let sc = constants[scale], let bc = constants[bias],
                  sc.count == TensorOperations.count(Array(shape[axis...])), bc.count == sc.count else { continue }
            pending[y].op = .layerNormalization(axis: axis, epsilon: eps)
            pending[y].inputs = [x, scale, bias]
            pending[y].operations = ["LayerNormalization"]
            for i in [m, n, s, ve, v, pw, d, mean] { pending[i].removed = true }
        }
    }

    /// A Concat over channels (batch 1) whose every input is a convolution's output read by nothing else: the
    /// convolutions write their channels straight into the concatenation (consecutive channel ranges of one
    /// NCHW tensor at batch 1) and the copy disappears — SqueezeNet's fire modules, Inception's branches.
    mutating func placeConcatenations() {
        let outputs = Set(graph.outputs.compactMap { ids[$0] })
        for j in pending.indices {
            guard !pending[j].removed, case .concat(let axis) = pending[j].op else { continue }
            let shape = pending[j].shape, inputs = pending[j].inputs
            guard shape.count == 4, shape[0] == 1, axis == 1 || axis == -3, !inputs.isEmpty, Set(inputs).count == inputs.count else { continue }
            var producers: [Int] = []
            for v in inputs {
                guard !outputs.contains(v), consumers(of: v) == [j],
                      let p = pending.indices.first(where: { !pending[$0].removed && pending[$0].output == v }),
                      case .convolution = pending[p].op, pending[p].concatInto == nil else { break }
                producers.append(p)
            }
            guard producers.count == inputs.count else { continue }
            var channel = 0
            for p in producers {
                pending[p].concatInto = (pending[j].output, shape, channel)
                pending[p].operations.append("Concat")
                channel += pending[p].shape[1]
            }
            pending[j].removed = true
        }
        pending.removeAll { $0.removed }
    }

    /// A batch normalisation with constant statistics (and the activation it took) whose input is a channel Concat
    /// read by nothing else reads the concatenation's inputs itself, each into its channels of the output: the
    /// concatenated tensor is neither written nor read back. DenseNet-121 normalises a Concat of the block's features
    /// before each of its 58 bottleneck layers and 3 transitions (every feature is read by all the later Concats of its
    /// block, so no producer can write into one of them, as `placeConcatenations` has convolutions do).
    mutating func normalizeConcatenations() {
        let outputs = Set(graph.outputs.compactMap { ids[$0] })
        for i in pending.indices {
            guard !pending[i].removed, case .batchNormalization = pending[i].op, pending[i].concatenated == nil,
                  pending[i].inputs.count == 5, pending[i].inputs.dropFirst().allSatisfy({ constants[$0] != nil }) else { continue }
            let v = pending[i].inputs[0]
            guard let j = producer(of: v, readBy: [i], outputs: outputs), case .concat(let axis) = pending[j].op,
                  axis == 1 || axis == -pending[j].shape.count + 1, pending[j].shape.count >= 2, !pending[j].inputs.isEmpty else { continue }
            pending[i].inputs = pending[j].inputs + pending[i].inputs.dropFirst()
            pending[i].concatenated = pending[j].inputs.count
            pending[i].operations.insert("Concat", at: 0)
            pending[j].removed = true
        }
        pending.removeAll { $0.removed }
    }

    // MARK: Preparation

    mutating func prepare() throws {
        let planner = options.convolutionPlanner(weightBytes: constants.values.reduce(0) { $0 + $1.count * 4 })
        var index = 0
        while index < pending.count {
            let p = pending[index]
            index += 1
            let run: ([Tensor]) throws -> Tensor
            var summary = LayerSummary(name: p.name, operation: p.operations.joined(separator: "+"), outputShape: p.shape,
                                       multiplyAccumulates: 0, algorithm: "", weightBytes: 0)
            var inputs = p.inputs.filter { $0 >= 0 }
            do {
                if try prepareFusedStep(p, next: index, into: &summary) {
                    index += 1
                    continue
                }
                if case .convolution(let d, _) = p.op, let (run1, s1) = try pointwiseOnOnePosition(p, descriptor: d, summary: summary) {
                    // A 1x1 layer on a 1×1 plane (squeeze-and-excitation): a matrix-vector product.
                    (run, summary) = (run1, s1)
                    inputs = [p.inputs[0]]
                } else if case .convolution(let d, _) = p.op {
                    let x = shapes[p.inputs[0]] ?? []
                    let (w, b) = try convolutionWeights(p)
                    let input = Size2D(x[2], x[3])
                    let conv: Convolution2D
                    let splits = readsDepthwiseOutput(p)
                    // A fixed algorithm where it can run the layer its live taps leave (Winograd on a 3x3 layer at
                    // dilation 24 on 18×20 would run the whole kernel on a 47×47 grid of phases: the planner's 1x1 instead).
                    if case .fixed(let a) = options.algorithm, a.supports(d.withoutDeadTaps(input: input)?.descriptor ?? d) {
                        var o = planner.options
                        o.splitsInputChannels = splits
                        conv = try Convolution2D(descriptor: d, input: input, weights: w, bias: d.hasBias ? b : nil, algorithm: a,
                                                 options: o)
                    } else {
                        let decision: PlanDecision
                        (conv, decision) = try planner.prepare(descriptor: d, input: input, batch: x[0], weights: w,
                                                               bias: d.hasBias ? b : nil, splitsInputChannels: splits)
                        summary.candidates = decision.timings
                    }
                    summary.multiplyAccumulates = try d.multiplyAccumulates(batch: x[0], input: input)
                    summary.algorithm = "\(conv.algorithm) (\(conv.summary))"
                    summary.weightBytes = conv.preparedBytes
                    if let step = pooledStep(p, conv: conv, next: index, summary: summary) {
                        weightBytes += conv.preparedBytes
                        steps.append(step)
                        index += 1
                        continue
                    }
                    inputs = [p.inputs[0]] + (p.residual.map { [$0] } ?? [])
                    let hasResidual = p.residual != nil
                    run = { args in try conv(args[0], residual: hasResidual ? args[1] : nil) }
                    if let target = p.concatInto {
                        let channel = target.channel
                        weightBytes += conv.preparedBytes
                        var step = Network.Step(summary: summary, inputs: inputs, output: p.output, run: run)
                        step.into = (target.value, target.shape)
                        step.runInto = { args, out in
                            try conv.run(args[0], residual: hasResidual ? args[1] : nil, intoChannelsOf: &out, at: channel)
                        }
                        steps.append(step)
                        continue
                    }
                } else {
                    (run, summary) = try makeStep(p, summary: summary, inputs: &inputs)
                }
            } catch let e as ConvolutionError {
                throw GraphError.invalidNode(node: p.name, operation: summary.operation, reason: e.description)
            } catch let f as TensorOperations.Failure {
                throw GraphError.invalidNode(node: p.name, operation: summary.operation, reason: f.reason)
            }
            weightBytes += summary.weightBytes
            steps.append(Network.Step(summary: summary, inputs: inputs, output: p.output, run: run))
        }
    }

    /// A convolution node's constant weights and its bias constant, if it has one.
    func convolutionWeights(_ p: Pending) throws -> (Tensor, Tensor?) {
        (try constant(p.inputs[1], node: graph.nodes[0]), p.inputs.count > 2 && p.inputs[2] >= 0 ? constants[p.inputs[2]] : nil)
    }

    /// Prepares `p` and the node after it as one fused step, when they make one, and says whether it did. Under the
    /// `auto` policy (a fixed algorithm runs each layer on its own), with any planner — a measuring one does not time
    /// a fused step, the rule decides — when `p` is a convolution only that node reads (not a graph output, no
    /// residual, no Concat target; the node after it adds no residual either, but for the depthwise + 1x1 pair):
    /// - a 1x1 layer and the depthwise layer it feeds, where that runs on `dw_blocked16` or its planes are too large
    ///   to stay in L2 (then in bands of output rows; `PointwiseDepthwiseFusion`, `options.fusesPointwiseDepthwise`),
    ///   or band by band where it is 3x3 stride 2 on `dw_s2direct16` (`PointwiseStride2DepthwiseFusion`, the same
    ///   option);
    /// - a 3x3 depthwise layer and the 1x1 layer it feeds, on planes of 112 and more, with the residual that 1x1 layer
    ///   adds if any (`DepthwisePointwiseFusion`, `options.fusesDepthwisePointwise`);
    /// - a stem convolution and the max pool it feeds (`ConvolutionPoolFusion`, `options.fusesConvolutionPool`).
    /// The step is named after `p`; its operations are both nodes'.
    mutating func prepareFusedStep(_ p: Pending, next: Int, into summary: inout LayerSummary) throws -> Bool {
        guard case .auto = options.algorithm, case .convolution(let d, _) = p.op,
              let q = soleReader(of: p, next: next, allowingResidual: true), let x = shapes[p.inputs[0]], x.count == 4 else { return false }
        let input = Size2D(x[2], x[3]), threads = options.threads
        let macs = try d.multiplyAccumulates(batch: x[0], input: input)
        // `run` takes the step's inputs: `p`'s input, then `q`'s residual when it has one.
        let made: (algorithm: String, bytes: Int, macs: Int, run: ([Tensor]) throws -> Tensor)
        // The 1x1 + depthwise form that runs this pair, if `p` is such a 1x1 layer.
        var pairForm: (any PointwiseDepthwisePair.Type)?
        if case .convolution(let dd, _) = q.op, q.residual == nil, options.fusesPointwiseDepthwise {
            pairForm = FusedStep.pointwiseDepthwiseForm(pointwise: d, depthwise: dd, input: input, threads: options.threads)
        }
        switch (q.op, pairForm) {
        case (.convolution(let dd, _), let form?):
            let (wp, bp) = try convolutionWeights(p), (wd, bd) = try convolutionWeights(q)
            let fused = try form.init(pointwise: d, pointwiseWeights: wp, pointwiseBias: d.hasBias ? bp : nil,
                                      depthwise: dd, depthwiseWeights: wd, depthwiseBias: dd.hasBias ? bd : nil,
                                      input: input, threads: threads)
            made = ("\(form.label) (\(fused.summary))", fused.preparedBytes,
                    macs + (try dd.multiplyAccumulates(batch: x[0], input: input)), { try fused($0[0]) })
        case (.convolution(let pd, _), _) where options.fusesDepthwisePointwise && DepthwisePointwiseFusion.applies(depthwise: d, pointwise: pd, input: input):
            let (wd, bd) = try convolutionWeights(p), (wp, bp) = try convolutionWeights(q)
            let fused = try DepthwisePointwiseFusion(depthwise: d, depthwiseWeights: wd, depthwiseBias: d.hasBias ? bd : nil,
                                                     pointwise: pd, pointwiseWeights: wp, pointwiseBias: pd.hasBias ? bp : nil,
                                                     input: input, threads: threads)
            let hasResidual = q.residual != nil
            made = ("fused depthwise + 1x1 (\(fused.summary))", fused.preparedBytes,
                    macs + (try pd.multiplyAccumulates(batch: x[0], input: input)),
                    { try fused($0[0], residual: hasResidual ? $0[1] : nil) })
        case (.maxPool(let a), _) where q.inputs.count == 1 && q.residual == nil && options.fusesConvolutionPool
                                && ConvolutionPoolFusion.applies(convolution: d, pool: a, input: input):
            let (w, b) = try convolutionWeights(p)
            let fused = try ConvolutionPoolFusion(convolution: d, weights: w, bias: d.hasBias ? b : nil, pool: a, input: input,
                                                  threads: threads)
            made = ("fused convolution + max pool (\(fused.summary))", fused.preparedBytes, macs, { try fused($0[0]) })
        default:
            return false
        }
        summary.operation = (p.operations + q.operations).joined(separator: "+")
        summary.outputShape = q.shape
        summary.multiplyAccumulates = made.macs
        summary.algorithm = made.algorithm
        summary.weightBytes = made.bytes
        weightBytes += made.bytes
        let run = made.run
        // `q`'s residual was produced before `q`, and not by `p` (`soleReader`): before `p`, where this step runs.
        steps.append(Network.Step(summary: summary, inputs: [p.inputs[0]] + (q.residual.map { [$0] } ?? []), output: q.output,
                                  run: { args in try run(args) }))
        return true
    }

    /// Whether `p` is a 1x1 layer whose input a depthwise layer of the graph writes (MobileNet's projections): its
    /// input channels are then summed in halves (`ConvolutionOptions.splitsInputChannels`). From the graph alone, so
    /// the same for any thread count.
    func readsDepthwiseOutput(_ p: Pending) -> Bool {
        guard case .convolution(let d, _) = p.op, d.kernel == Size2D(1, 1), let source = p.inputs.first,
              let producer = pending.first(where: { $0.output == source && !$0.removed }),
              case .convolution(let w, _) = producer.op else { return false }
        return w.groups > 1 && w.groups == w.inputChannels && w.groups == w.outputChannels
    }

    /// The node after `p` (`pending[next]`) when it is the only reader of `p`'s output, which is not a graph output,
    /// and neither node adds a residual (`q` may with `allowingResidual`, one that `p` did not write) or writes into a
    /// Concat — when the two may run as one step; else nil.
    func soleReader(of p: Pending, next: Int, allowingResidual: Bool = false) -> Pending? {
        guard next < pending.count, p.residual == nil, p.concatInto == nil else { return nil }
        let q = pending[next]
        guard allowingResidual || q.residual == nil, q.residual != p.output,
              q.concatInto == nil, q.inputs.first == p.output, consumers(of: p.output) == [next],
              !graph.outputs.contains(where: { ids[$0] == p.output }) else { return nil }
        return q
    }

    /// A convolution prepared on Winograd with an even tile, and the 2×2 stride-2 max pool (no padding) that alone
    /// reads it, as one step: the pool in the output stage (`Convolution2D.pooled2x2`, the same bits as the two
    /// steps), under the `auto` policy with `options.fusesConvolutionPool` — VGG16's five pools (a U-Net encoder's
    /// convolution also feeds its skip connection, so it stays whole). Nil where that does not apply.
    func pooledStep(_ p: Pending, conv: Convolution2D, next: Int, summary s: LayerSummary) -> Network.Step? {
        guard case .auto = options.algorithm, options.fusesConvolutionPool, conv.fusesMaxPool2x2, p.shape.count == 4,
              let q = soleReader(of: p, next: next), case .maxPool(let a) = q.op, q.inputs.count == 1,
              a.kernel == Size2D(2, 2), a.stride == Size2D(2, 2), a.padding == .zero, a.dilation == Size2D(1, 1),
              q.shape == [p.shape[0], p.shape[1], p.shape[2] / 2, p.shape[3] / 2] else { return nil }
        var summary = s
        summary.operation = (p.operations + q.operations).joined(separator: "+")
        summary.outputShape = q.shape
        summary.algorithm = "\(conv.algorithm) (\(conv.summary), 2x2 max pool in the output stage)"
        return Network.Step(summary: summary, inputs: [p.inputs[0]], output: q.output, run: { args in try conv.pooled2x2(args[0]) })
    }

    /// A 1x1, one-group, unpadded convolution on a 1×1 plane — the squeeze-and-excitation layers of MobileNetV3,
    /// EfficientNet and RegNetY — as a `FullyConnected` layer with the convolution's activation: the GEMV streams each
    /// weight once where the convolution kernels would fill a 7-position tile with one position. Not when an algorithm
    /// is forced, nor with a residual or a Concat to write into.
    func pointwiseOnOnePosition(_ p: Pending, descriptor d: ConvolutionDescriptor,
                                summary s: LayerSummary) throws -> (([Tensor]) throws -> Tensor, LayerSummary)? {
        guard case .auto = options.algorithm, let x = shapes[p.inputs[0]], x.count == 4, x[2] == 1, x[3] == 1,
              d.kernel == Size2D(1, 1), d.groups == 1, d.padding == .zero, p.residual == nil, p.concatInto == nil else { return nil }
        let (w, b) = try convolutionWeights(p)
        let fc = try FullyConnected(weights: Tensor(reshaping: w, to: [d.outputChannels, d.inputChannels]), bias: d.hasBias ? b : nil,
                                    activation: d.activation, threads: options.threads)
        var summary = s
        summary.multiplyAccumulates = x[0] * d.outputChannels * d.inputChannels
        summary.algorithm = "fully connected (\(x[0] == 1 ? "GEMV" : "GEMM"), a 1x1 layer on a 1×1 plane)"
        summary.weightBytes = fc.preparedBytes
        let n = x[0], k = d.inputChannels, outShape = p.shape
        return ({ args in Tensor(reshaping: try fc(Tensor(reshaping: args[0], to: [n, k])), to: outShape) }, summary)
    }

    /// Preparation of a non-convolution step: matrix products with constant weights become `FullyConnected`.
    func makeStep(_ p: Pending, summary s: LayerSummary, inputs: inout [Int]) throws -> (([Tensor]) throws -> Tensor, LayerSummary) {
        var summary = s
        let node = Graph.Node(name: p.name, operation: p.op, inputs: [], outputs: [])
        switch p.op {
        case .gemm(let ta, let tb, let alpha, let beta) where constants[p.inputs[1]] != nil:
            let b = try constant(p.inputs[1], node: node)
            let (k, n) = tb ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
            // FullyConnected weights [n, k]: B itself when transB, else Bᵀ; alpha folded in.
            var w = tb ? b : try TensorOperations.transpose(b, [1, 0])
            if alpha != 1 { w = try TensorOperations.map(w) { $0 * alpha } }
            let c = p.inputs.count > 2 && p.inputs[2] >= 0 ? constants[p.inputs[2]] : nil
            let biasVector = try c.flatMap { c -> Tensor? in c.count == n ? try TensorOperations.map(try Tensor(shape: [n], values: c.scalars)) { $0 * beta } : nil }
            let fc = try FullyConnected(weights: w, bias: biasVector, threads: options.threads)
            summary.multiplyAccumulates = p.shape[0] * n * k
            summary.algorithm = "fully connected (\(p.shape[0] == 1 ? "GEMV" : "GEMM"))"
            summary.weightBytes = fc.preparedBytes
            let extra = (c != nil && biasVector == nil) ? p.inputs[2] : nil
            inputs = [p.inputs[0]] + (extra.map { [$0] } ?? [])
            return ({ args in
                var y = try fc(ta ? try TensorOperations.transpose(args[0], [1, 0]) : args[0])
                if extra != nil { y = try TensorOperations.binary(y, try TensorOperations.map(args[1]) { $0 * beta }, +) }
                return y
            }, summary)
        case .matMul where constants[p.inputs[1]] != nil && constants[p.inputs[1]]?.rank == 2 && (shapes[p.inputs[0]]?.count ?? 0) >= 2:
            let b = try constant(p.inputs[1], node: node)
            let fc = try FullyConnected(weights: try TensorOperations.transpose(b, [1, 0]), bias: nil, threads: options.threads)
            let a = shapes[p.inputs[0]] ?? []
            let rows = a.dropLast().reduce(1, *), k = b.shape[0]
            summary.multiplyAccumulates = rows * k * b.shape[1]
            summary.algorithm = "fully connected"
            summary.weightBytes = fc.preparedBytes
            inputs = [p.inputs[0]]
            let outShape = p.shape
            return ({ args in Tensor(reshaping: try fc(Tensor(reshaping: args[0], to: [rows, k])), to: outShape) }, summary)
        default:
            return (try makeRun(p), summary)
        }
    }

    /// The generic implementation of a step (also used for constant folding).
    func makeRun(_ p: Pending) throws -> ([Tensor]) throws -> Tensor {
        let shape = p.shape
        let node = Graph.Node(name: p.name, operation: p.op, inputs: [], outputs: [])
        switch p.op {
        case .activation(let a):
            let e = a.epilogue
            return { args in try TensorOperations.activate(args[0], e) }
        case .clipInputs:
            let lo = p.inputs.count > 1 && p.inputs[1] >= 0 ? try constant(p.inputs[1], node: node).scalars.first ?? -.infinity : -.infinity
            let hi = p.inputs.count > 2 && p.inputs[2] >= 0 ? try constant(p.inputs[2], node: node).scalars.first ?? .infinity : .infinity
            return { args in try TensorOperations.map(args[0]) { Swift.min(Swift.max($0, lo), hi) } }
        case .sigmoid: return { args in try TensorOperations.activate(args[0], Activation.sigmoid.epilogue) }
        case .tanh:
            // By the vector formula, split over threads as the other element-wise functions: by Foundation's, one float
            // at a time, ESPCN's two Tanh steps took 41.4 and 16.9 ms of its 68.5 at 224² (1 thread), now 2.2 and 1.1
            // (`fftconv-bench net … --profile`).
            let threads = options.threads
            return { args in try TensorOperations.unary(args[0], .tanh, threads: threads) }
        case .sqrt: return { args in try TensorOperations.map(args[0], vector: { $0.squareRoot() }, scalar: { $0.squareRoot() }) }
        case .erf: return { args in try TensorOperations.map(args[0], vector: { VectorMath.erf($0) }, scalar: { VectorMath.erf($0) }) }
        case .gelu(let tanh):
            // ~1.5 ns a float (the exact form): split over threads from 64 K floats (~100 µs), in runs of 8 K.
            let threads = options.threads
            return { args in
                let y = try Tensor(uninitialized: args[0].shape), n = y.count, run = 8192
                let x = args[0].storage.pointer, out = y.storage.pointer
                Parallel.forEachRange(count: (n + run - 1) / run, threads: n >= 1 << 16 ? threads : 1) { _, runs in
                    let lo = runs.lowerBound * run, hi = Swift.min(n, runs.upperBound * run)
                    VectorMath.gelu(x + lo, out + lo, count: hi - lo, tanh: tanh)
                }
                return y
            }
        case .identity, .cast: return { args in args[0] }
        case .maxPool(let a) where a.isIdentity, .averagePool(let a) where a.isIdentity: return { args in args[0] }
        case .maxPool(let a):
            let threads = options.threads
            return { args in try TensorOperations.pool(args[0], a, max: true, threads: threads) }
        case .averagePool(let a):
            let threads = options.threads
            return { args in try TensorOperations.pool(args[0], a, max: false, threads: threads) }
        case .globalAveragePool: return { args in try TensorOperations.globalAveragePool(args[0]) }
        case .reduceMean(let axes, let keepDims, _):
            let reduced = axes ?? []
            return { args in try TensorOperations.reduceMean(args[0], axes: reduced, keepDims: keepDims) }
        case .layerNormalization(let axis, let eps):
            let threads = options.threads
            return { args in
                try TensorOperations.layerNormalization(args[0], scale: args[1], bias: args.count > 2 ? args[2] : nil, axis: axis,
                                                        epsilon: eps, threads: threads)
            }
        case .localResponseNormalization(let size, let alpha, let beta, let bias):
            return { args in try TensorOperations.localResponseNormalization(args[0], size: size, alpha: alpha, beta: beta, bias: bias) }
        case .batchNormalization(let eps):
            let e = p.activation?.epilogue ?? .identity, pieces = p.concatenated ?? 1, threads = options.threads
            let statistics = p.inputs.dropFirst(pieces)
            if statistics.count == 4, statistics.allSatisfy({ constants[$0] != nil }), shape.count >= 2 {
                // Constant statistics (every exported model): the affine map once, here; the input as the Concat's pieces
                // when it took one in.
                let t = try statistics.map { try constant($0, node: node) }
                let a = try TensorOperations.batchNormalizationAffine(channels: shape[1], scale: t[0], bias: t[1], mean: t[2], variance: t[3], epsilon: eps)
                return { args in
                    try TensorOperations.batchNormalization(concatenating: Array(args.prefix(pieces)), k: a.k, shift: a.shift, activation: e,
                                                            threads: threads)
                }
            }
            return { args in
                guard args.count == 5 else { throw TensorOperations.fail("BatchNormalization needs 5 inputs") }
                guard args[0].rank >= 2 else { throw TensorOperations.fail("BatchNormalization needs at least N and C dimensions, got \(args[0].shape)") }
                let a = try TensorOperations.batchNormalizationAffine(channels: args[0].shape[1], scale: args[1], bias: args[2], mean: args[3],
                                                                      variance: args[4], epsilon: eps)
                return try TensorOperations.batchNormalization(args[0], k: a.k, shift: a.shift, activation: e)
            }
        case .gemm(let ta, let tb, let alpha, let beta):
            return { args in
                let a = ta ? try TensorOperations.transpose(args[0], [1, 0]) : args[0]
                let b = tb ? try TensorOperations.transpose(args[1], [1, 0]) : args[1]
                var y = try TensorOperations.map(try TensorOperations.matMul(a, b)) { $0 * alpha }
                if args.count > 2 { y = try TensorOperations.binary(y, args[2]) { $0 + beta * $1 } }
                return y
            }
        case .matMul: return { args in try TensorOperations.matMul(args[0], args[1]) }
        case .add, .sub, .mul, .div:
            let threads = options.threads
            let op: TensorOperations.Arithmetic
            switch p.op {
            case .add: op = .add
            case .sub: op = .sub
            case .mul: op = .mul
            default: op = .div
            }
            return { args in try TensorOperations.binary(args[0], args[1], op, threads: threads) }
        case .concat(let axis):
            let threads = options.threads
            // One input (DenseNet's first `torch.cat`): the same values, no copy.
            return { args in args.count == 1 ? args[0] : try TensorOperations.concat(args, axis: axis, threads: threads) }
        case .flatten, .reshape, .squeeze, .unsqueeze: return { args in Tensor(reshaping: args[0], to: shape) }
        case .transpose(let perm): return { args in try TensorOperations.transpose(args[0], perm) }
        case .softmax(let axis, let legacy): return { args in try TensorOperations.softmax(args[0], axis: axis, legacy: legacy) }
        case .pad(let pads, let value, let mode):
            guard let pads else { throw TensorOperations.fail("Pad needs pads") }
            let threads = options.threads
            return { args in try TensorOperations.pad(args[0], pads, value: value, mode: mode, threads: threads) }
        case .instanceNormalization(let eps):
            let e = p.activation?.epilogue ?? .identity, threads = options.threads, padding = p.padding
            return { args in
                guard args.count == 3 else { throw TensorOperations.fail("InstanceNormalization needs 3 inputs") }
                return try TensorOperations.instanceNormalization(args[0], scale: args[1], bias: args[2], epsilon: eps, activation: e,
                                                                  padding: padding, threads: threads)
            }
        case .depthToSpace(let b, let crd):
            let threads = options.threads
            return { args in try TensorOperations.depthToSpace(args[0], blockSize: b, columnRowDepth: crd, threads: threads) }
        case .spaceToDepth(let b): return { args in try TensorOperations.spaceToDepth(args[0], blockSize: b) }
        case .split(let axis, let part, _, let sizes?):
            let start = sizes[..<part].reduce(0, +), rank = shapes[p.inputs[0]]?.count ?? 0
            let ranges = (0..<rank).map { d in d == axis ? (start: start, step: 1, count: sizes[part]) : (start: 0, step: 1, count: shape[d]) }
            return { args in try TensorOperations.slice(args[0], ranges) }
        case .split: throw TensorOperations.fail("Split's sizes are not resolved")
        case .unary(let f):
            let threads = options.threads
            return { args in try TensorOperations.unary(args[0], f, threads: threads) }
        case .resize(let mode, let coords, let scales):
            let threads = options.threads
            return { args in try TensorOperations.resize(args[0], to: shape, mode: mode, coordinates: coords, scales: scales, threads: threads) }
        case .shape: return { args in try Tensor(shape: shape, values: args[0].shape.map(Float.init)) }
        case .gather(let axis): return { args in try TensorOperations.gather(args[0], args[1], axis: axis) }
        case .constant(let t): return { _ in t }
        case .constantOfShape(let value): return { _ in try Tensor(shape: shape, repeating: value) }
        case .slice:
            let ranges = try sliceParameters(node, inputs: p.inputs, shape: shapes[p.inputs[0]] ?? [])
            return { args in try TensorOperations.slice(args[0], ranges) }
        case .pow:
            // A constant exponent of 2 (a decomposed layer normalisation's variance: ConvNeXt) or 0.5 as vector loops.
            if p.inputs.count > 1, let k = scalarConstant(p.inputs[1]), k == 2 || k == 0.5,
               shapes[p.inputs[0]] == shape {
                return k == 2 ? { args in try TensorOperations.map(args[0], vector: { $0 * $0 }, scalar: { $0 * $0 }) }
                    : { args in try TensorOperations.map(args[0], vector: { $0.squareRoot() }, scalar: { $0.squareRoot() }) }
            }
            return { args in try TensorOperations.binary(args[0], args[1]) { Foundation.pow($0, $1) } }
        case .prelu: return { args in try TensorOperations.prelu(args[0], slope: args[1]) }
        case .convolutionTranspose(let s, let pd, let dl, let op, let g):
            let w = try constant(p.inputs[1], node: node)
            let b = p.inputs.count > 2 && p.inputs[2] >= 0 ? try constant(p.inputs[2], node: node) : nil
            let prepared = try ConvolutionTranspose(weights: w, bias: b, stride: s, padding: pd, dilation: dl, outputPadding: op,
                                                    groups: g, threads: options.threads)
            return { args in try prepared(args[0], outputShape: shape) }
        case .convolution(let d, _):
            // Only reached when folding a convolution of constants, which `add` never does; kept total.
            return { args in
                let w = args[1], b = args.count > 2 ? args[2] : nil
                return try ReferenceConvolution.run(descriptor: d, input: args[0], weights: w, bias: d.hasBias ? b : nil)
            }
        }
    }

    // MARK: Memory plan

    mutating func plan() {
        var lastUse: [Int: Int] = [:]
        for (k, step) in steps.enumerated() { for i in step.inputs { lastUse[i] = k } }
        let keep = Set(graph.outputs.compactMap { ids[$0] }).union(constants.keys)
        releases = steps.indices.map { k in lastUse.filter { $0.value == k && !keep.contains($0.key) }.map(\.key).sorted() }
        var alive = 0, peak = 0
        var bytes: [Int: Int] = [:]
        for v in resolvedInputs { if let i = ids[v.name] { bytes[i] = v.shape.reduce(4, *); alive += bytes[i] ?? 0 } }
        peak = alive
        for (k, step) in steps.enumerated() {
            if let into = step.into {  // the concatenation, counted once, when its first producer runs
                if bytes[into.value] == nil { bytes[into.value] = into.shape.reduce(4, *); alive += bytes[into.value] ?? 0 }
            } else {
                let b = step.summary.outputShape.reduce(4, *)
                bytes[step.output] = b
                alive += b
            }
            peak = Swift.max(peak, alive)
            for r in releases[k] { alive -= bytes[r] ?? 0 }
        }
        peakBytes = peak
        // Keep only constants a step or an output still reads: weights transformed into prepared operators
        // (packed, spectra) are released here, so each weight is held once.
        let read = Set(steps.flatMap(\.inputs)).union(graph.outputs.compactMap { ids[$0] })
        constants = constants.filter { read.contains($0.key) }
        weightBytes += constants.values.reduce(0) { $0 + $1.count * 4 }
    }
}

extension Tensor {
    /// A tensor that only carries `shape` (for folding `Shape`, which reads nothing else).
    func withShapeOnly(_ shape: [Int]) throws -> Tensor {
        Tensor(reshaping: self, to: shape)
    }
}

extension ConvolutionDescriptor {
    /// The same descriptor with another bias flag.
    func with(hasBias: Bool) throws -> ConvolutionDescriptor {
        try ConvolutionDescriptor(inputChannels: inputChannels, outputChannels: outputChannels, kernel: kernel, stride: stride,
                                  dilation: dilation, padding: padding, groups: groups, hasBias: hasBias, activation: activation)
    }

    /// The same descriptor with another activation.
    func with(activation: Activation) throws -> ConvolutionDescriptor {
        try ConvolutionDescriptor(inputChannels: inputChannels, outputChannels: outputChannels, kernel: kernel, stride: stride,
                                  dilation: dilation, padding: padding, groups: groups, hasBias: hasBias, activation: activation)
    }
}
