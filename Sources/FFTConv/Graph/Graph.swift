/// A computation graph in FFTConv's own terms: what a model loader (ONNX) or the built-in model zoo produces,
/// and what `Network` validates, infers shapes for, fuses, prepares and runs.
///
/// Values are named. Constants (weights, shape tensors) are held in `constants`; every other value is a graph
/// input or the output of exactly one node. Integer-valued constants (shapes, axes, indices) are stored as
/// float tensors; the values they carry in real models are far below 2^24, where floats are exact.
public struct Graph: Sendable {
    /// A named value with its (possibly partly unknown, -1) shape.
    public struct Value: Sendable, Hashable {
        public var name: String
        public var shape: [Int]
        public init(name: String, shape: [Int]) {
            self.name = name
            self.shape = shape
        }
    }

    /// One operation applied to named inputs, producing named outputs.
    public struct Node: Sendable {
        /// A name for messages (the model's node name, or one made up).
        public var name: String
        /// What the node computes.
        public var operation: GraphOperation
        /// Input value names; "" marks an omitted optional input.
        public var inputs: [String]
        /// Output value names.
        public var outputs: [String]
        public init(name: String, operation: GraphOperation, inputs: [String], outputs: [String]) {
            self.name = name
            self.operation = operation
            self.inputs = inputs
            self.outputs = outputs
        }
    }

    /// Inputs the caller supplies.
    public var inputs: [Value]
    /// The inputs a call feeds: those not also given as constants (older exporters list initializers as inputs).
    public var liveInputs: [Value] { inputs.filter { constants[$0.name] == nil } }
    /// Names of the values returned by `Network.predict`.
    public var outputs: [String]
    /// Weights and other constants by name.
    public var constants: [String: Tensor]
    /// The nodes, in any order (the network sorts them).
    public var nodes: [Node]

    public init(inputs: [Value], outputs: [String], constants: [String: Tensor], nodes: [Node]) {
        self.inputs = inputs
        self.outputs = outputs
        self.constants = constants
        self.nodes = nodes
    }
}

/// Pooling geometry (ONNX MaxPool/AveragePool attributes).
public struct PoolingAttributes: Sendable, Hashable {
    public var kernel: Size2D
    public var stride: Size2D
    public var padding: Padding
    public var dilation: Size2D
    public var ceilMode: Bool
    /// Average pooling only: whether padded positions count in the divisor.
    public var countIncludePad: Bool
    public init(kernel: Size2D, stride: Size2D = 1, padding: Padding = .zero, dilation: Size2D = 1,
                ceilMode: Bool = false, countIncludePad: Bool = false) {
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
    }

    /// Whether the pool gives back its input: 1×1 windows at stride 1 without padding — what PyTorch exports for an
    /// `AdaptiveAvgPool2d` whose input already has the output's size (AlexNet's `avgpool` on 6×6). Such a step
    /// returns its input tensor instead of copying it.
    public var isIdentity: Bool { kernel == Size2D(1, 1) && stride == Size2D(1, 1) && padding == 0 }
}

/// What a graph node computes. Inputs are listed per case, in ONNX order.
public enum GraphOperation: Sendable {
    /// `x, W, [B]`: 2-D convolution (cross-correlation), weights `[Cout, Cin/groups, kH, kW]`; `autoPad`
    /// (ONNX SAME_UPPER / SAME_LOWER) replaces the descriptor's padding once the input size is known.
    case convolution(ConvolutionDescriptor, autoPad: AutoPad)
    /// `x, W, [B]`: transposed convolution, weights `[Cin, Cout/groups, kH, kW]`.
    case convolutionTranspose(stride: Size2D, padding: Padding, dilation: Size2D, outputPadding: Size2D, groups: Int)
    /// `x`: ReLU, clip (ReLU6), leaky ReLU, hard sigmoid, hard swish, sigmoid or SiLU.
    case activation(Activation)
    /// `x, [min], [max]`: clip with bounds given as constant inputs (ONNX opset ≥ 11).
    case clipInputs
    /// `x`: logistic sigmoid (the same as `.activation(.sigmoid)`, which the ONNX loader writes).
    case sigmoid
    /// `x`: hyperbolic tangent.
    case tanh
    /// `x`: square root (a decomposed layer normalisation's, ConvNeXt's).
    case sqrt
    /// `x`: the error function (an exact GELU's `0.5·x·(1 + erf(x/√2))`, as PyTorch exports it below opset 20).
    case erf
    /// `x`: GELU, `0.5·x·(1 + erf(x/√2))`, or with `tanhApproximation` `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`
    /// (ONNX Gelu, opset 20; the network also rewrites the exact form's five-node export into it: ConvNeXt).
    case gelu(tanhApproximation: Bool)
    /// `x`: max pooling.
    case maxPool(PoolingAttributes)
    /// `x`: average pooling.
    case averagePool(PoolingAttributes)
    /// `x`: mean over H and W, keeping them as 1.
    case globalAveragePool
    /// `x, [axes]`: mean over `axes` (attribute, or a constant input when nil; none given: every axis, or no
    /// reduction at all when `noopWithEmptyAxes`), keeping them as 1 when `keepDims`.
    case reduceMean(axes: [Int]?, keepDims: Bool, noopWithEmptyAxes: Bool)
    /// `x, scale, [bias]`: layer normalisation over the dimensions from `axis` on, `(x − mean) / √(var + ε) · scale +
    /// bias` (ONNX LayerNormalization, opset 17; the network also rewrites the nine nodes earlier exports write:
    /// ConvNeXt). `scale` and `bias` hold one value per normalised element.
    case layerNormalization(axis: Int, epsilon: Float)
    /// `x`: local response normalisation across channels.
    case localResponseNormalization(size: Int, alpha: Float, beta: Float, bias: Float)
    /// `x, scale, B, mean, var`: inference-mode batch normalisation.
    case batchNormalization(epsilon: Float)
    /// `A, B, [C]`: `alpha · A' · B' + beta · C`.
    case gemm(transA: Bool, transB: Bool, alpha: Float, beta: Float)
    /// `A, B`: matrix product with numpy batching.
    case matMul
    /// `A, B`: element-wise with numpy broadcasting.
    case add, sub, mul, div
    /// `x...`: concatenation along `axis`.
    case concat(axis: Int)
    /// `x`: to 2-D at `axis`.
    case flatten(axis: Int)
    /// `x, shape`: reshape (0 copies a dimension unless `allowZero`, -1 is inferred).
    case reshape(allowZero: Bool)
    /// `x, [axes]`: remove size-1 dimensions (`axes` attribute, or a constant input when nil).
    case squeeze(axes: [Int]?)
    /// `x, [axes]`: insert size-1 dimensions.
    case unsqueeze(axes: [Int]?)
    /// `x`: permute dimensions (`nil`: reverse them).
    case transpose(permutation: [Int]?)
    /// `x`: softmax along `axis`; `legacy` (opset < 13) flattens to 2-D at `axis` first.
    case softmax(axis: Int, legacy: Bool)
    /// `x`: unchanged (Identity, Dropout at inference).
    case identity
    /// `x, [pads], [value]`: padding (`pads` attribute, or a constant input when nil) with `value`, or by reflecting
    /// or repeating the edge (`mode`: PyTorch's `ReflectionPad2d`, `ReplicationPad2d`).
    case pad(pads: [Int]?, value: Float, mode: PadMode)
    /// `x, scale, bias`: instance normalisation — each channel of each image normalised over its spatial positions,
    /// then scaled and shifted per channel (style-transfer and CycleGAN generators).
    case instanceNormalization(epsilon: Float)
    /// `x`: DepthToSpace (PyTorch's `PixelShuffle`: `columnRowDepth`, ONNX mode CRD; otherwise DCR) with `blockSize`.
    case depthToSpace(blockSize: Int, columnRowDepth: Bool)
    /// `x`: SpaceToDepth (ONNX's, DCR order) with `blockSize`.
    case spaceToDepth(blockSize: Int)
    /// `x, [split]`: piece `part` of `parts` of `x` along `axis` — one output of ONNX Split (the loader writes a node
    /// per output); `sizes` (or the constant `split` input) gives each piece's length, without them the pieces are
    /// equal (the last one shorter when `parts` does not divide the dimension, as opset 18 says).
    case split(axis: Int, part: Int, parts: Int, sizes: [Int]?)
    /// `x`: an element-wise function other than the activations (Softplus, ELU, Exp, …).
    case unary(UnaryFunction)
    /// `x, [roi], [scales], [sizes]`: nearest or linear resize of H and W.
    case resize(mode: ResizeMode, coordinates: ResizeCoordinates, scales: [Float]?)
    /// `x`: its shape, as a 1-D tensor.
    case shape
    /// `data, indices`: gather along `axis`.
    case gather(axis: Int)
    /// `value` attribute: a constant.
    case constant(Tensor)
    /// `shape`: a tensor of that (constant) shape filled with `value`.
    case constantOfShape(value: Float)
    /// `data, starts, ends, [axes], [steps]` (constants): numpy-style slicing.
    case slice
    /// `A, B`: element-wise power with broadcasting.
    case pow
    /// `x, slope`: `x` where `x ≥ 0`, `slope · x` elsewhere, the slope broadcast (one value, or one per channel).
    case prelu
    /// `x`: unchanged values, other element type (all values are floats here).
    case cast
}

/// ONNX's `auto_pad` for convolutions: explicit pads, or "same" output size with the odd pad after/before.
public enum AutoPad: String, Sendable, Hashable { case explicit, sameUpper, sameLower }

/// How `Pad` fills: with a constant, by mirroring the values next to the edge (not repeating it), or by repeating
/// the edge value.
public enum PadMode: String, Sendable, Hashable { case constant, reflect, edge }

/// Element-wise functions of one value that are not convolution epilogues (`Activation`).
public enum UnaryFunction: Sendable, Hashable {
    /// eˣ.
    case exp
    /// ln x.
    case log
    /// |x|.
    case abs
    /// −x.
    case neg
    /// 1 / x.
    case reciprocal
    /// ln(1 + eˣ).
    case softplus
    /// x / (1 + |x|).
    case softsign
    /// x · tanh(softplus(x)).
    case mish
    /// The hyperbolic tangent (`GraphOperation.tanh` runs as this).
    case tanh
    /// x where x > 0, alpha · (eˣ − 1) elsewhere.
    case elu(alpha: Float)
    /// max(0, x) + min(0, alpha · (e^(x/alpha) − 1)).
    case celu(alpha: Float)
    /// gamma · (x where x > 0, alpha · (eˣ − 1) elsewhere).
    case selu(alpha: Float, gamma: Float)

    /// The ONNX operator's name.
    public var name: String {
        switch self {
        case .exp: return "Exp"
        case .log: return "Log"
        case .abs: return "Abs"
        case .neg: return "Neg"
        case .reciprocal: return "Reciprocal"
        case .softplus: return "Softplus"
        case .softsign: return "Softsign"
        case .mish: return "Mish"
        case .tanh: return "Tanh"
        case .elu: return "Elu"
        case .celu: return "Celu"
        case .selu: return "Selu"
        }
    }
}

/// Resize interpolation.
public enum ResizeMode: String, Sendable, Hashable { case nearest, linear }

/// How output coordinates map to input coordinates in Resize.
public enum ResizeCoordinates: String, Sendable, Hashable {
    case halfPixel = "half_pixel", pytorchHalfPixel = "pytorch_half_pixel", alignCorners = "align_corners", asymmetric
}

extension GraphOperation {
    /// A short name for messages and profiles.
    public var name: String {
        switch self {
        case .convolution: return "Conv"
        case .convolutionTranspose: return "ConvTranspose"
        case .activation(let a): return a == .relu ? "Relu" : a.description
        case .clipInputs: return "Clip"
        case .sigmoid: return "Sigmoid"
        case .tanh: return "Tanh"
        case .sqrt: return "Sqrt"
        case .erf: return "Erf"
        case .gelu: return "Gelu"
        case .maxPool: return "MaxPool"
        case .averagePool: return "AveragePool"
        case .globalAveragePool: return "GlobalAveragePool"
        case .reduceMean: return "ReduceMean"
        case .localResponseNormalization: return "LRN"
        case .layerNormalization: return "LayerNormalization"
        case .batchNormalization: return "BatchNormalization"
        case .gemm: return "Gemm"
        case .matMul: return "MatMul"
        case .add: return "Add"
        case .sub: return "Sub"
        case .mul: return "Mul"
        case .div: return "Div"
        case .concat: return "Concat"
        case .flatten: return "Flatten"
        case .reshape: return "Reshape"
        case .squeeze: return "Squeeze"
        case .unsqueeze: return "Unsqueeze"
        case .transpose: return "Transpose"
        case .softmax: return "Softmax"
        case .identity: return "Identity"
        case .pad: return "Pad"
        case .instanceNormalization: return "InstanceNormalization"
        case .depthToSpace: return "DepthToSpace"
        case .spaceToDepth: return "SpaceToDepth"
        case .unary(let f): return f.name
        case .split: return "Split"
        case .resize: return "Resize"
        case .shape: return "Shape"
        case .gather: return "Gather"
        case .constant: return "Constant"
        case .constantOfShape: return "ConstantOfShape"
        case .slice: return "Slice"
        case .pow: return "Pow"
        case .prelu: return "PRelu"
        case .cast: return "Cast"
        }
    }
}

/// A graph that cannot be run: what is wrong and where.
public enum GraphError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A node reads a value that no node, input or constant provides.
    case danglingInput(node: String, value: String)
    /// Two producers for one value name.
    case duplicateValue(String)
    /// The nodes form a cycle through these nodes.
    case cycle(nodes: [String])
    /// A graph output is never produced.
    case unknownOutput(String)
    /// An input tensor is missing, unknown or of the wrong shape.
    case inputMismatch(name: String, expected: [Int], actual: [Int]?)
    /// A node's inputs do not fit its operation.
    case invalidNode(node: String, operation: String, reason: String)
    /// A node needs a constant (weights, shape, axes) but the value is computed at run time.
    case notConstant(node: String, value: String)
    /// A tensor the graph would create is larger than the limit (refused before allocating).
    case tooLarge(node: String, shape: [Int], limitBytes: Int)

    public var description: String {
        switch self {
        case .danglingInput(let n, let v): return "node '\(n)' reads '\(v)', which no node, input or initializer provides"
        case .duplicateValue(let v): return "value '\(v)' is produced more than once"
        case .cycle(let nodes): return "the graph has a cycle through \(nodes.prefix(8).joined(separator: ", "))"
        case .unknownOutput(let o): return "graph output '\(o)' is never produced"
        case .inputMismatch(let n, let e, let a):
            return "input '\(n)': expected shape \(e) (-1: any), got \(a.map { "\($0)" } ?? "nothing")"
        case .invalidNode(let n, let op, let why): return "node '\(n)' (\(op)): \(why)"
        case .notConstant(let n, let v): return "node '\(n)' needs '\(v)' to be a constant (initializer), but it is computed"
        case .tooLarge(let n, let s, let l): return "node '\(n)' would create a tensor of shape \(s), over the \(l / 1_000_000) MB limit"
        }
    }
}
