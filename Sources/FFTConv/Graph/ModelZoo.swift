/// Builds graphs layer by layer, with seeded random weights, tracking shapes as it goes.
public struct GraphBuilder {
    var rng: SeededGenerator
    var nodes: [Graph.Node] = []
    var constants: [String: Tensor] = [:]
    var shapes: [String: [Int]] = [:]
    let input: Graph.Value
    var counter = 0

    /// Starts a graph with one input named "input".
    public init(inputShape: [Int], seed: UInt64) {
        rng = SeededGenerator(seed: seed)
        input = Graph.Value(name: "input", shape: inputShape)
        shapes["input"] = inputShape
    }

    /// The input's value name.
    public var inputName: String { input.name }

    /// The shape of a value built so far.
    public func shape(_ value: String) -> [Int] { shapes[value] ?? [] }

    mutating func name(_ op: String) -> String {
        counter += 1
        return "\(op)_\(counter)"
    }

    mutating func add(_ op: GraphOperation, _ inputs: [String], shape: [Int], prefix: String) -> String {
        let out = name(prefix)
        nodes.append(Graph.Node(name: out, operation: op, inputs: inputs, outputs: [out]))
        shapes[out] = shape
        return out
    }

    mutating func weight(_ shape: [Int], fanIn: Int) throws -> String {
        let n = name("w")
        let bound = (3 / Float(Swift.max(fanIn, 1))).squareRoot()
        constants[n] = try Tensor.random(shape: shape, in: -bound...bound, using: &rng)
        return n
    }

    /// A convolution with bias (BatchNorm folded, as exported models have it) and an optional activation.
    public mutating func conv(_ x: String, _ outputs: Int, kernel: Int, stride: Int = 1, padding: Int? = nil, groups: Int = 1,
                              activation: Activation = .relu) throws -> String {
        let s = shape(x)
        let d = try ConvolutionDescriptor(inputChannels: s[1], outputChannels: outputs, kernel: Size2D(kernel, kernel),
                                          stride: Size2D(stride, stride), padding: Padding(integerLiteral: padding ?? kernel / 2), groups: groups)
        let w = try weight(d.weightShape, fanIn: d.inputChannelsPerGroup * kernel * kernel)
        let b = name("b")
        constants[b] = try Tensor.random(shape: [outputs], in: -0.1...0.1, using: &rng)
        let o = try d.outputSize(input: Size2D(s[2], s[3]))
        var y = add(.convolution(d, autoPad: .explicit), [x, w, b], shape: [s[0], outputs, o.height, o.width], prefix: "conv")
        if activation != .none { y = add(.activation(activation), [y], shape: shape(y), prefix: "act") }
        return y
    }

    /// Max pooling.
    public mutating func maxPool(_ x: String, kernel: Int, stride: Int, padding: Int = 0, ceil: Bool = false) throws -> String {
        let a = PoolingAttributes(kernel: Size2D(kernel, kernel), stride: Size2D(stride, stride), padding: Padding(integerLiteral: padding), ceilMode: ceil)
        return add(.maxPool(a), [x], shape: try TensorOperations.poolShape(shape(x), a), prefix: "maxpool")
    }

    /// Global average pooling followed by flattening to `[N, C]`.
    public mutating func globalPoolFlatten(_ x: String) -> String {
        let s = shape(x)
        let g = add(.globalAveragePool, [x], shape: [s[0], s[1], 1, 1], prefix: "gap")
        return add(.flatten(axis: 1), [g], shape: [s[0], s[1]], prefix: "flatten")
    }

    /// Flattening to `[N, rest]`.
    public mutating func flatten(_ x: String) -> String {
        let s = shape(x)
        return add(.flatten(axis: 1), [x], shape: [s[0], s.dropFirst().reduce(1, *)], prefix: "flatten")
    }

    /// A fully-connected layer (ONNX Gemm with transB, as PyTorch exports Linear).
    public mutating func fullyConnected(_ x: String, _ outputs: Int, relu: Bool) throws -> String {
        let s = shape(x)
        let w = try weight([outputs, s[1]], fanIn: s[1])
        let b = name("b")
        constants[b] = try Tensor.random(shape: [outputs], in: -0.1...0.1, using: &rng)
        var y = add(.gemm(transA: false, transB: true, alpha: 1, beta: 1), [x, w, b], shape: [s[0], outputs], prefix: "fc")
        if relu { y = add(.activation(.relu), [y], shape: shape(y), prefix: "act") }
        return y
    }

    /// Element-wise sum, optionally followed by ReLU.
    public mutating func add(_ a: String, _ b: String, relu: Bool) -> String {
        var y = add(.add, [a, b], shape: shape(a), prefix: "add")
        if relu { y = add(.activation(.relu), [y], shape: shape(y), prefix: "act") }
        return y
    }

    /// Concatenation along channels.
    public mutating func concat(_ xs: [String]) throws -> String {
        add(.concat(axis: 1), xs, shape: try TensorOperations.concatShape(xs.map(shape), axis: 1), prefix: "concat")
    }

    /// A 2× up-sampling transposed convolution (kernel 2, stride 2).
    public mutating func upConv(_ x: String, _ outputs: Int) throws -> String {
        let s = shape(x)
        let w = try weight([s[1], outputs, 2, 2], fanIn: s[1])
        return add(.convolutionTranspose(stride: 2, padding: .zero, dilation: 1, outputPadding: 0, groups: 1), [x, w],
                   shape: [s[0], outputs, s[2] * 2, s[3] * 2], prefix: "upconv")
    }

    /// The finished graph, with `output` as its output.
    public func graph(output: String) -> Graph {
        Graph(inputs: [input], outputs: [output], constants: constants, nodes: nodes)
    }
}

/// The architectures `fftconv-bench net` times, built in Swift with seeded random weights (no files), as
/// ncnn's benchncnn does: torchvision's AlexNet, VGG16, ResNet-18/50, MobileNetV2, SqueezeNet 1.1, GoogLeNet,
/// and a U-Net. BatchNorm is folded into convolutions, as it is in exported models.
public enum ModelZoo {
    /// The names `build` accepts.
    public static let names = ["alexnet", "vgg16", "resnet18", "resnet50", "mobilenet_v2", "squeezenet", "googlenet", "unet"]

    /// The default input shape of a model.
    public static func defaultInputShape(_ name: String) -> [Int] { name == "unet" ? [1, 3, 256, 256] : [1, 3, 224, 224] }

    /// Builds `name` for `inputShape`, or throws `ConvolutionError.invalidOption` for an unknown name.
    public static func build(_ name: String, inputShape: [Int]? = nil, seed: UInt64 = 1) throws -> Graph {
        var b = GraphBuilder(inputShape: inputShape ?? defaultInputShape(name), seed: seed)
        let x = b.inputName
        let y: String
        switch name {
        case "alexnet":
            var h = try b.maxPool(try b.conv(x, 64, kernel: 11, stride: 4, padding: 2), kernel: 3, stride: 2)
            h = try b.maxPool(try b.conv(h, 192, kernel: 5), kernel: 3, stride: 2)
            h = try b.conv(try b.conv(try b.conv(h, 384, kernel: 3), 256, kernel: 3), 256, kernel: 3)
            h = b.flatten(try b.maxPool(h, kernel: 3, stride: 2))
            y = try b.fullyConnected(try b.fullyConnected(try b.fullyConnected(h, 4096, relu: true), 4096, relu: true), 1000, relu: false)
        case "vgg16":
            var h = x
            for stage in [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]] {
                for c in stage { h = try b.conv(h, c, kernel: 3) }
                h = try b.maxPool(h, kernel: 2, stride: 2)
            }
            h = b.flatten(h)
            y = try b.fullyConnected(try b.fullyConnected(try b.fullyConnected(h, 4096, relu: true), 4096, relu: true), 1000, relu: false)
        case "resnet18", "resnet50":
            let bottleneck = name == "resnet50"
            var h = try b.maxPool(try b.conv(x, 64, kernel: 7, stride: 2, padding: 3), kernel: 3, stride: 2, padding: 1)
            for (stage, (width, blocks)) in zip([64, 128, 256, 512], bottleneck ? [3, 4, 6, 3] : [2, 2, 2, 2]).enumerated() {
                for block in 0..<blocks {
                    let stride = stage > 0 && block == 0 ? 2 : 1
                    let out = bottleneck ? width * 4 : width
                    let shortcut = stride != 1 || b.shape(h)[1] != out
                        ? try b.conv(h, out, kernel: 1, stride: stride, padding: 0, activation: .none) : h
                    var r: String
                    if bottleneck {
                        r = try b.conv(h, width, kernel: 1, padding: 0)
                        r = try b.conv(r, width, kernel: 3, stride: stride)
                        r = try b.conv(r, out, kernel: 1, padding: 0, activation: .none)
                    } else {
                        r = try b.conv(try b.conv(h, width, kernel: 3, stride: stride), width, kernel: 3, activation: .none)
                    }
                    h = b.add(r, shortcut, relu: true)
                }
            }
            y = try b.fullyConnected(b.globalPoolFlatten(h), 1000, relu: false)
        case "mobilenet_v2":
            var h = try b.conv(x, 32, kernel: 3, stride: 2, activation: .relu6)
            for (t, c, n, s) in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)] {
                for i in 0..<n {
                    let cin = b.shape(h)[1]
                    var r = t == 1 ? h : try b.conv(h, cin * t, kernel: 1, padding: 0, activation: .relu6)
                    r = try b.conv(r, cin * t, kernel: 3, stride: i == 0 ? s : 1, groups: cin * t, activation: .relu6)
                    r = try b.conv(r, c, kernel: 1, padding: 0, activation: .none)
                    h = (i > 0 || s == 1) && cin == c ? b.add(r, h, relu: false) : r
                }
            }
            h = try b.conv(h, 1280, kernel: 1, padding: 0, activation: .relu6)
            y = try b.fullyConnected(b.globalPoolFlatten(h), 1000, relu: false)
        case "squeezenet":
            func fire(_ b: inout GraphBuilder, _ x: String, _ squeeze: Int, _ expand: Int) throws -> String {
                let s = try b.conv(x, squeeze, kernel: 1, padding: 0)
                return try b.concat([try b.conv(s, expand, kernel: 1, padding: 0), try b.conv(s, expand, kernel: 3)])
            }
            var h = try b.maxPool(try b.conv(x, 64, kernel: 3, stride: 2, padding: 0), kernel: 3, stride: 2, ceil: true)
            h = try fire(&b, try fire(&b, h, 16, 64), 16, 64)
            h = try b.maxPool(h, kernel: 3, stride: 2, ceil: true)
            h = try fire(&b, try fire(&b, h, 32, 128), 32, 128)
            h = try b.maxPool(h, kernel: 3, stride: 2, ceil: true)
            h = try fire(&b, try fire(&b, try fire(&b, try fire(&b, h, 48, 192), 48, 192), 64, 256), 64, 256)
            y = b.globalPoolFlatten(try b.conv(h, 1000, kernel: 1, padding: 0))
        case "googlenet":
            func inception(_ b: inout GraphBuilder, _ x: String, _ c1: Int, _ c3r: Int, _ c3: Int, _ c5r: Int, _ c5: Int, _ pool: Int) throws -> String {
                let a = try b.conv(x, c1, kernel: 1, padding: 0)
                let m = try b.conv(try b.conv(x, c3r, kernel: 1, padding: 0), c3, kernel: 3)
                let n = try b.conv(try b.conv(x, c5r, kernel: 1, padding: 0), c5, kernel: 3)
                let p = try b.conv(try b.maxPool(x, kernel: 3, stride: 1, padding: 1, ceil: true), pool, kernel: 1, padding: 0)
                return try b.concat([a, m, n, p])
            }
            var h = try b.maxPool(try b.conv(x, 64, kernel: 7, stride: 2, padding: 3), kernel: 3, stride: 2, ceil: true)
            h = try b.maxPool(try b.conv(try b.conv(h, 64, kernel: 1, padding: 0), 192, kernel: 3), kernel: 3, stride: 2, ceil: true)
            h = try inception(&b, try inception(&b, h, 64, 96, 128, 16, 32, 32), 128, 128, 192, 32, 96, 64)
            h = try b.maxPool(h, kernel: 3, stride: 2, ceil: true)
            for p in [(192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64), (112, 144, 288, 32, 64, 64),
                      (256, 160, 320, 32, 128, 128)] {
                h = try inception(&b, h, p.0, p.1, p.2, p.3, p.4, p.5)
            }
            h = try b.maxPool(h, kernel: 2, stride: 2, ceil: true)
            h = try inception(&b, try inception(&b, h, 256, 160, 320, 32, 128, 128), 384, 192, 384, 48, 128, 128)
            y = try b.fullyConnected(b.globalPoolFlatten(h), 1000, relu: false)
        case "unet":
            var skips: [String] = []
            var h = x
            for c in [64, 128, 256, 512] {
                h = try b.conv(try b.conv(h, c, kernel: 3), c, kernel: 3)
                skips.append(h)
                h = try b.maxPool(h, kernel: 2, stride: 2)
            }
            h = try b.conv(try b.conv(h, 1024, kernel: 3), 1024, kernel: 3)
            for (c, skip) in zip([512, 256, 128, 64], skips.reversed()) {
                h = try b.concat([try b.upConv(h, c), skip])
                h = try b.conv(try b.conv(h, c, kernel: 3), c, kernel: 3)
            }
            y = try b.conv(h, 2, kernel: 1, padding: 0, activation: .none)
        default:
            throw ConvolutionError.invalidOption("unknown model '\(name)'; known: \(names.joined(separator: ", "))")
        }
        return b.graph(output: y)
    }
}
