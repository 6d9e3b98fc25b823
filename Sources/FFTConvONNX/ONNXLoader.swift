import FFTConv
import Foundation
import SwiftProtobuf

/// Loads ONNX models (as exported by `torch.onnx.export`, opsets 7–21) into FFTConv graphs and networks.
///
/// ```swift
/// let net = try ONNXModel.load(contentsOf: "resnet18.onnx", options: NetworkOptions(threads: 2))
/// let y = try net(x)   // x: [1, 3, 224, 224]
/// ```
///
/// Every node the loader cannot translate is reported in one `ONNXError.unsupported` list (name, operator,
/// opset, reason), before anything runs; a file that is not an ONNX model is `ONNXError.malformed`.
public enum ONNXModel {
    /// The operator-set versions of the default domain this loader translates.
    public static let supportedOpsets = 7...21

    /// Reads and translates the model at `path` (external data files are looked up next to it).
    public static func graph(contentsOf path: String) throws -> Graph {
        // Mapped, not read: the weights are copied once, from the page cache into their tensors (a read would
        // first copy the whole file into fresh memory: 0.25 s for VGG16). Files that cannot be mapped are read.
        let url = URL(fileURLWithPath: path)
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            do { data = try Data(contentsOf: url) } catch { throw ONNXError.io(path: path, reason: error.localizedDescription) }
        }
        return try graph(data: data, directory: (path as NSString).deletingLastPathComponent)
    }

    /// Translates a model held in memory; `directory` is where external data files live.
    public static func graph(data: Data, directory: String? = nil) throws -> Graph {
        // Decoded without the initializers' raw_data, which is read from `data` itself (ONNXRawData): the
        // weights are copied once, into their tensors. Should the walk and swift-protobuf disagree, or the
        // stripped bytes not decode, the untouched bytes are decoded instead (and any error is theirs).
        if let stripped = ONNXRawData.strip(data), let model = try? decode(stripped.model),
           stripped.payloads.count == model.graph.initializer.count {
            let payloads = stripped.payloads.map { range in
                range.map { data[(data.startIndex + $0.lowerBound)..<(data.startIndex + $0.upperBound)] }
            }
            return try translate(model, directory: directory, payloads: payloads)
        }
        return try translate(try decode(data), directory: directory, payloads: [])
    }

    private static func decode(_ bytes: Data) throws -> Onnx_ModelProto {
        let model: Onnx_ModelProto
        do { model = try Onnx_ModelProto(serializedBytes: bytes) } catch {
            throw ONNXError.malformed("protobuf decoding failed (\(error))")
        }
        guard model.hasGraph else { throw ONNXError.malformed("the model has no graph") }
        return model
    }

    private static func translate(_ model: Onnx_ModelProto, directory: String?, payloads: [Data?]) throws -> Graph {
        let opset = model.opsetImport.filter { $0.domain.isEmpty || $0.domain == "ai.onnx" }.map { Int($0.version) }.max() ?? 13
        var translator = ONNXTranslator(graph: model.graph, opset: opset, directory: directory, payloads: payloads)
        return try translator.translate()
    }

    /// Loads the model at `path` and prepares it as a network.
    ///
    /// - Parameter inputShapes: shapes for inputs whose model shape has symbolic or unknown dimensions.
    public static func load(contentsOf path: String, inputShapes: [String: [Int]] = [:], options: NetworkOptions = .init()) throws -> Network {
        try Network(graph: try graph(contentsOf: path), inputShapes: inputShapes, options: options)
    }
}

/// One graph's translation: initializers to constants, nodes to `GraphOperation`s, unsupported nodes collected.
struct ONNXTranslator {
    let graph: Onnx_GraphProto
    let opset: Int
    let directory: String?
    var unsupported: [UnsupportedNode] = []
    var constants: [String: Tensor] = [:]
    /// Shapes of values known to be constant at load time (initializers and Identity/Constant of them).
    var constantShapes: [String: [Int]] = [:]

    /// Each initializer's raw_data, read from the model's own bytes (empty: it is in the decoded protos).
    let payloads: [Data?]

    init(graph: Onnx_GraphProto, opset: Int, directory: String?, payloads: [Data?]) {
        self.graph = graph
        self.opset = opset
        self.directory = directory
        self.payloads = payloads
    }

    mutating func translate() throws -> Graph {
        if graph.sparseInitializer.count > 0 {
            unsupported.append(UnsupportedNode(name: graph.name, opType: "SparseTensor", opset: opset, reason: "sparse initializers are not supported"))
        }
        for (i, t) in graph.initializer.enumerated() {
            constants[t.name] = try ONNXTensor.convert(t, directory: directory, rawData: i < payloads.count ? payloads[i] : nil)
            constantShapes[t.name] = t.dims.map { Int($0) }
        }
        if !ONNXModel.supportedOpsets.contains(opset) {
            unsupported.append(UnsupportedNode(name: graph.name, opType: "opset", opset: opset,
                                               reason: "opset \(opset) is outside \(ONNXModel.supportedOpsets)"))
        }
        let inputs: [Graph.Value] = graph.input.filter { constants[$0.name] == nil }.map { v in
            let dims = v.type.tensorType.shape.dim.map { d -> Int in
                if case .dimValue(let n)? = d.value, n > 0 { return Int(n) }
                return -1
            }
            return Graph.Value(name: v.name, shape: dims)
        }
        var nodes: [Graph.Node] = []
        for (i, n) in graph.node.enumerated() {
            let name = n.name.isEmpty ? "\(n.opType)_\(i)" : n.name
            if !(n.domain.isEmpty || n.domain == "ai.onnx") {
                unsupported.append(UnsupportedNode(name: name, opType: n.opType, opset: opset, reason: "domain '\(n.domain)' is not supported"))
                continue
            }
            do {
                if n.opType == "Shape", let o = n.output.first, let x = n.input.first, Attributes(n).has("start") || Attributes(n).has("end") {
                    // Opset 15's start/end: the whole shape, then a Slice of it (Slice clamps and wraps them as Shape does).
                    let a = Attributes(n), whole = "\(o)#shape", bounds = "\(o)#bounds"
                    constants[bounds + ".starts"] = try Tensor(shape: [1], values: [Float(a.int("start", 0))])
                    constants[bounds + ".ends"] = try Tensor(shape: [1], values: [Float(a.int("end", Int(Int32.max)))])
                    constants[bounds + ".axes"] = try Tensor(shape: [1], values: [0])
                    nodes.append(Graph.Node(name: name, operation: .shape, inputs: [x], outputs: [whole]))
                    nodes.append(Graph.Node(name: "\(name)#slice", operation: .slice,
                                            inputs: [whole, bounds + ".starts", bounds + ".ends", bounds + ".axes"], outputs: [o]))
                    continue
                }
                if n.opType == "Split" {
                    // One node per output, each computing its own piece (the graph's nodes have one output each).
                    let a = Attributes(n), sizes = opset < 13 ? a.ints("split") : nil, axis = a.int("axis", 0)
                    for (k, o) in n.output.enumerated() where !o.isEmpty {
                        nodes.append(Graph.Node(name: "\(name)#\(k)", operation: .split(axis: axis, part: k, parts: n.output.count, sizes: sizes),
                                                inputs: Array(n.input.prefix(2)), outputs: [o]))
                    }
                    continue
                }
                if let op = try operation(n, name: name) {
                    var inputs = n.input
                    // Resize (opset 10) and Upsample (opset ≥ 9) take scales as their second input; the graph
                    // expects Resize's later layout (X, roi, scales, sizes).
                    if (n.opType == "Resize" && opset == 10) || (n.opType == "Upsample" && opset >= 9), inputs.count >= 2 {
                        inputs = [inputs[0], ""] + inputs.dropFirst()
                    }
                    nodes.append(Graph.Node(name: name, operation: op, inputs: inputs, outputs: n.output))
                    if case .identity = op, let s = n.input.first.flatMap({ constantShapes[$0] }), let o = n.output.first { constantShapes[o] = s }
                    if case .constant(let t) = op, let o = n.output.first { constantShapes[o] = t.shape }
                }
            } catch let reason as Reason {
                unsupported.append(UnsupportedNode(name: name, opType: n.opType, opset: opset, reason: reason.text))
            }
        }
        if !unsupported.isEmpty { throw ONNXError.unsupported(unsupported) }
        return Graph(inputs: inputs, outputs: graph.output.map(\.name), constants: constants, nodes: nodes)
    }

    struct Reason: Error { let text: String }

    /// Attribute access for one node; every read validates its type.
    struct Attributes {
        let map: [String: Onnx_AttributeProto]
        init(_ n: Onnx_NodeProto) { map = Dictionary(n.attribute.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }) }
        func int(_ k: String, _ d: Int) -> Int { map[k].map { Int($0.i) } ?? d }
        func float(_ k: String, _ d: Float) -> Float { map[k].map { $0.f } ?? d }
        func ints(_ k: String) -> [Int]? { map[k].map { $0.ints.map { Int($0) } } }
        func floats(_ k: String) -> [Float]? { map[k].map { $0.floats } }
        func string(_ k: String, _ d: String) -> String { map[k].map { String(decoding: $0.s, as: UTF8.self) } ?? d }
        func has(_ k: String) -> Bool { map[k] != nil }
    }

    func pair(_ v: [Int]?, _ d: Int, _ what: String) throws -> Size2D {
        guard let v else { return Size2D(d, d) }
        guard v.count == 2 else { throw Reason(text: "\(what) \(v): only 2-D (NCHW) is supported") }
        return Size2D(v[0], v[1])
    }

    func pads(_ v: [Int]?) throws -> Padding {
        guard let v else { return .zero }
        guard v.count == 4 else { throw Reason(text: "pads \(v): only 2-D (NCHW) is supported") }
        return Padding(top: v[0], left: v[1], bottom: v[2], right: v[3])
    }

    mutating func operation(_ n: Onnx_NodeProto, name: String) throws -> GraphOperation? {
        let a = Attributes(n)
        switch n.opType {
        case "Conv":
            guard n.input.count >= 2, let w = constantShapes[n.input[1]] else { throw Reason(text: "weights must be an initializer") }
            guard w.count == 4 else { throw Reason(text: "weights of shape \(w): only 2-D convolutions are supported") }
            let groups = a.int("group", 1)
            let autoPad = a.string("auto_pad", "NOTSET")
            let mode: AutoPad
            switch autoPad {
            case "NOTSET", "VALID": mode = .explicit
            case "SAME_UPPER": mode = .sameUpper
            case "SAME_LOWER": mode = .sameLower
            default: throw Reason(text: "auto_pad '\(autoPad)' is not supported")
            }
            if let k = a.ints("kernel_shape"), k != [w[2], w[3]] { throw Reason(text: "kernel_shape \(k) differs from the weights \(w)") }
            do {
                let d = try ConvolutionDescriptor(
                    inputChannels: w[1] * groups, outputChannels: w[0], kernel: Size2D(w[2], w[3]),
                    stride: try pair(a.ints("strides"), 1, "strides"), dilation: try pair(a.ints("dilations"), 1, "dilations"),
                    padding: autoPad == "NOTSET" ? try pads(a.ints("pads")) : .zero, groups: groups,
                    hasBias: n.input.count > 2 && !n.input[2].isEmpty)
                return .convolution(d, autoPad: mode)
            } catch let e as ConvolutionError { throw Reason(text: e.description) }
        case "ConvTranspose":
            if a.has("output_shape") { throw Reason(text: "output_shape is not supported (use pads/output_padding)") }
            guard a.string("auto_pad", "NOTSET") == "NOTSET" else { throw Reason(text: "auto_pad is not supported") }
            return .convolutionTranspose(stride: try pair(a.ints("strides"), 1, "strides"), padding: try pads(a.ints("pads")),
                                         dilation: try pair(a.ints("dilations"), 1, "dilations"),
                                         outputPadding: try pair(a.ints("output_padding"), 0, "output_padding"), groups: a.int("group", 1))
        case "Relu": return .activation(.relu)
        case "LeakyRelu": return .activation(.leakyReLU(alpha: a.float("alpha", 0.01)))
        case "PRelu": return .prelu
        case "Clip":
            if opset < 11 { return .activation(.clip(min: a.float("min", -.infinity), max: a.float("max", .infinity))) }
            return .clipInputs
        case "HardSigmoid": return .activation(.hardSigmoid(alpha: a.float("alpha", 0.2), beta: a.float("beta", 0.5)))
        case "HardSwish": return .activation(.hardSwish)
        case "Sigmoid": return .activation(.sigmoid)
        case "Tanh": return .tanh
        case "Sqrt": return .sqrt
        case "Erf": return .erf
        case "Gelu":
            switch a.string("approximate", "none") {
            case "none": return .gelu(tanhApproximation: false)
            case "tanh": return .gelu(tanhApproximation: true)
            case let other: throw Reason(text: "approximate '\(other)' is not one of none, tanh")
            }
        case "MaxPool", "AveragePool":
            // A MaxPool indices output is accepted only while nothing reads it (the network checks).
            if a.int("storage_order", 0) != 0 { throw Reason(text: "storage_order 1 is not supported") }
            let autoPad = a.string("auto_pad", "NOTSET")
            guard autoPad == "NOTSET" || autoPad == "VALID" else { throw Reason(text: "auto_pad '\(autoPad)' is not supported for pooling") }
            guard let k = a.ints("kernel_shape") else { throw Reason(text: "kernel_shape is required") }
            let attrs = PoolingAttributes(kernel: try pair(k, 1, "kernel_shape"), stride: try pair(a.ints("strides"), 1, "strides"),
                                          padding: try pads(a.ints("pads")), dilation: try pair(a.ints("dilations"), 1, "dilations"),
                                          ceilMode: a.int("ceil_mode", 0) != 0, countIncludePad: a.int("count_include_pad", 0) != 0)
            return n.opType == "MaxPool" ? .maxPool(attrs) : .averagePool(attrs)
        case "GlobalAveragePool": return .globalAveragePool
        case "ReduceMean":
            // Opset 18 moved `axes` from an attribute to an optional constant input.
            return .reduceMean(axes: a.ints("axes"), keepDims: a.int("keepdims", 1) != 0,
                               noopWithEmptyAxes: a.int("noop_with_empty_axes", 0) != 0)
        case "LRN":
            return .localResponseNormalization(size: a.int("size", 1), alpha: a.float("alpha", 1e-4), beta: a.float("beta", 0.75), bias: a.float("bias", 1))
        case "LayerNormalization": return .layerNormalization(axis: a.int("axis", -1), epsilon: a.float("epsilon", 1e-5))
        case "BatchNormalization":
            if a.int("training_mode", 0) != 0 { throw Reason(text: "training_mode is not supported (inference only)") }
            return .batchNormalization(epsilon: a.float("epsilon", 1e-5))
        case "Gemm":
            return .gemm(transA: a.int("transA", 0) != 0, transB: a.int("transB", 0) != 0, alpha: a.float("alpha", 1), beta: a.float("beta", 1))
        case "MatMul": return .matMul
        case "Add": return .add
        case "Sub": return .sub
        case "Mul": return .mul
        case "Div": return .div
        case "Concat": return .concat(axis: a.int("axis", 1))
        case "Flatten": return .flatten(axis: a.int("axis", 1))
        case "Reshape": return .reshape(allowZero: a.int("allowzero", 0) != 0)
        case "Squeeze": return .squeeze(axes: a.ints("axes"))
        case "Unsqueeze": return .unsqueeze(axes: a.ints("axes"))
        case "Transpose": return .transpose(permutation: a.ints("perm"))
        case "Softmax": return .softmax(axis: a.int("axis", opset < 13 ? 1 : -1), legacy: opset < 13)
        case "Dropout", "Identity": return .identity
        case "Cast": return .cast
        case "Shape": return .shape  // (with start/end: a Shape and a Slice, written by `translate`)
        case "Gather": return .gather(axis: a.int("axis", 0))
        case "Constant":
            if let t = a.map["value"], t.hasT {
                do { return .constant(try ONNXTensor.convert(t.t, directory: directory)) } catch let e as ONNXError { throw Reason(text: e.description) }
            }
            if let f = a.map["value_float"] { return .constant(try Tensor(shape: [], values: [f.f])) }
            if let fs = a.floats("value_floats") { return .constant(try Tensor(shape: [fs.count], values: fs)) }
            if let i = a.map["value_int"] { return .constant(try Tensor(shape: [], values: [Float(i.i)])) }
            if let ints = a.ints("value_ints") { return .constant(try Tensor(shape: [ints.count], values: ints.map(Float.init))) }
            throw Reason(text: "only tensor, float(s) and int(s) constants are supported")
        case "ConstantOfShape":
            var value: Float = 0
            if let t = a.map["value"], t.hasT {
                do { value = try ONNXTensor.convert(t.t, directory: directory).scalars.first ?? 0 } catch let e as ONNXError { throw Reason(text: e.description) }
            }
            return .constantOfShape(value: value)
        case "Slice":
            if opset < 10 { throw Reason(text: "Slice with attributes (opset < 10) is not supported") }
            return .slice
        case "Pow": return .pow
        case "Pad":
            let modeText = a.string("mode", "constant")
            guard let mode = PadMode(rawValue: modeText) else {
                throw Reason(text: "Pad mode '\(modeText)' is not supported (constant, reflect, edge)")
            }
            if opset < 11 { return .pad(pads: a.ints("pads") ?? a.ints("paddings"), value: a.float("value", 0), mode: mode) }
            return .pad(pads: nil, value: 0, mode: mode)
        case "InstanceNormalization": return .instanceNormalization(epsilon: a.float("epsilon", 1e-5))
        case "DepthToSpace", "SpaceToDepth":
            let b = a.int("blocksize", 0)
            guard b > 0 else {
                throw Reason(text: "needs a positive blocksize")
            }
            if n.opType == "SpaceToDepth" { return .spaceToDepth(blockSize: b) }
            let mode = a.string("mode", "DCR")
            guard mode == "DCR" || mode == "CRD" else { throw Reason(text: "DepthToSpace mode '\(mode)' is not supported (DCR, CRD)") }
            return .depthToSpace(blockSize: b, columnRowDepth: mode == "CRD")
        case "Exp": return .unary(.exp)
        case "Log": return .unary(.log)
        case "Abs": return .unary(.abs)
        case "Neg": return .unary(.neg)
        case "Reciprocal": return .unary(.reciprocal)
        case "Softplus": return .unary(.softplus)
        case "Softsign": return .unary(.softsign)
        case "Mish": return .unary(.mish)
        case "Elu": return .unary(.elu(alpha: a.float("alpha", 1)))
        case "Celu": return .unary(.celu(alpha: a.float("alpha", 1)))
        case "Selu": return .unary(.selu(alpha: a.float("alpha", 1.67326319217681884765625), gamma: a.float("gamma", 1.05070102214813232421875)))
        case "Resize", "Upsample":
            let modeText = a.string("mode", "nearest")
            guard let mode = ResizeMode(rawValue: modeText) ?? (modeText == "bilinear" ? .linear : nil) else {
                throw Reason(text: "mode '\(modeText)' is not supported (nearest, linear)")
            }
            let coords: ResizeCoordinates
            if n.opType == "Upsample" || opset < 11 {
                coords = .asymmetric
            } else {
                let c = a.string("coordinate_transformation_mode", "half_pixel")
                guard let parsed = ResizeCoordinates(rawValue: c) else { throw Reason(text: "coordinate_transformation_mode '\(c)' is not supported") }
                coords = parsed
            }
            if mode == .nearest, n.opType == "Resize", opset >= 11 {
                let nm = a.string("nearest_mode", "round_prefer_floor")
                let expected = coords == .asymmetric ? "floor" : "round_prefer_floor"
                guard nm == expected else { throw Reason(text: "nearest_mode '\(nm)' with '\(coords.rawValue)' coordinates is not supported") }
            }
            return .resize(mode: mode, coordinates: coords, scales: n.opType == "Upsample" && opset < 9 ? a.floats("scales") : nil)
        default:
            throw Reason(text: "operator not supported")
        }
    }
}
