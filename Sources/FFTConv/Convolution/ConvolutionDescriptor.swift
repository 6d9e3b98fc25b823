/// A pair of sizes, height first. An integer literal means the same value for both.
public struct Size2D: Sendable, Hashable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    /// The vertical size.
    public var height: Int
    /// The horizontal size.
    public var width: Int

    /// Creates a size from its two parts.
    public init(_ height: Int, _ width: Int) {
        self.height = height
        self.width = width
    }

    /// The same value for height and width.
    public init(integerLiteral value: Int) { self.init(value, value) }

    public var description: String { height == width ? "\(height)" : "\(height)x\(width)" }
}

/// Implicit zero padding around the input, which may differ on each side.
public struct Padding: Sendable, Hashable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    /// Zero rows above the input.
    public var top: Int
    /// Zero columns left of the input.
    public var left: Int
    /// Zero rows below the input.
    public var bottom: Int
    /// Zero columns right of the input.
    public var right: Int

    /// Padding given side by side.
    public init(top: Int, left: Int, bottom: Int, right: Int) {
        self.top = top
        self.left = left
        self.bottom = bottom
        self.right = right
    }

    /// The same padding on every side.
    public init(integerLiteral value: Int) { self.init(top: value, left: value, bottom: value, right: value) }

    /// No padding.
    public static let zero: Padding = 0

    public var description: String {
        top == left && left == bottom && bottom == right ? "\(top)" : "\(top),\(left),\(bottom),\(right)"
    }
}

/// Everything that defines a 2-D convolution layer except its weights and its input size.
///
/// A validated value: the initializer throws `ConvolutionError` for any request that cannot make sense,
/// so a descriptor that exists is well formed. `Hashable` and `Sendable`, it serves as a cache key.
/// Weights have shape `[outputChannels, inputChannels / groups, kernel.height, kernel.width]` (PyTorch's
/// and ONNX's layout); the convolution is a cross-correlation, as in those frameworks.
public struct ConvolutionDescriptor: Sendable, Hashable, CustomStringConvertible {
    /// Channels of the input.
    public let inputChannels: Int
    /// Channels of the output.
    public let outputChannels: Int
    /// Kernel taps, height × width (before dilation).
    public let kernel: Size2D
    /// Step between output positions.
    public let stride: Size2D
    /// Spacing between taps (1 is a dense kernel).
    public let dilation: Size2D
    /// Implicit zero padding of the input.
    public let padding: Padding
    /// Channel groups: each output channel sees `inputChannels / groups` input channels
    /// (`groups == inputChannels == outputChannels` is a depthwise convolution).
    public let groups: Int
    /// Whether a per-output-channel bias is added.
    public let hasBias: Bool
    /// The activation applied after the bias.
    public let activation: Activation

    /// Creates and validates a descriptor.
    ///
    /// - Throws: `ConvolutionError.nonPositive`, `.negativePadding`, `.channelsNotDivisibleByGroups`,
    ///   `.sizeOverflow` or `.invalidActivation`.
    public init(inputChannels: Int, outputChannels: Int, kernel: Size2D, stride: Size2D = 1,
                dilation: Size2D = 1, padding: Padding = .zero, groups: Int = 1, hasBias: Bool = true,
                activation: Activation = .none) throws {
        for (name, v) in [("inputChannels", inputChannels), ("outputChannels", outputChannels),
                          ("kernel height", kernel.height), ("kernel width", kernel.width),
                          ("stride height", stride.height), ("stride width", stride.width),
                          ("dilation height", dilation.height), ("dilation width", dilation.width),
                          ("groups", groups)] where v <= 0 {
            throw ConvolutionError.nonPositive(parameter: name, value: v)
        }
        for (name, v) in [("padding top", padding.top), ("padding left", padding.left),
                          ("padding bottom", padding.bottom), ("padding right", padding.right)] where v < 0 {
            throw ConvolutionError.negativePadding(parameter: name, value: v)
        }
        guard inputChannels % groups == 0 else {
            throw ConvolutionError.channelsNotDivisibleByGroups(parameter: "inputChannels", channels: inputChannels, groups: groups)
        }
        guard outputChannels % groups == 0 else {
            throw ConvolutionError.channelsNotDivisibleByGroups(parameter: "outputChannels", channels: outputChannels, groups: groups)
        }
        try activation.validate()
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernel = kernel
        self.stride = stride
        self.dilation = dilation
        self.padding = padding
        self.groups = groups
        self.hasBias = hasBias
        self.activation = activation
        // Sizes derived from the descriptor alone must fit in Int.
        _ = try effectiveKernel()
        do { _ = try Tensor.elementCount(of: weightShape) } catch {
            throw ConvolutionError.sizeOverflow(what: "the weight element count \(weightShape)")
        }
    }

    /// Input channels seen by each output channel.
    public var inputChannelsPerGroup: Int { inputChannels / groups }

    /// Output channels in each group.
    public var outputChannelsPerGroup: Int { outputChannels / groups }

    /// The weight tensor's shape, `[outputChannels, inputChannels / groups, kH, kW]`.
    public var weightShape: [Int] { [outputChannels, inputChannelsPerGroup, kernel.height, kernel.width] }

    /// True when every group has one input and one output channel.
    public var isDepthwise: Bool { groups == inputChannels && groups == outputChannels }

    /// The extent of the dilated kernel, `(k - 1) * dilation + 1` in each direction.
    public func effectiveKernel() throws -> Size2D {
        func extent(_ k: Int, _ d: Int, _ name: String) throws -> Int {
            let (m, o1) = (k - 1).multipliedReportingOverflow(by: d)
            let (e, o2) = m.addingReportingOverflow(1)
            if o1 || o2 { throw ConvolutionError.sizeOverflow(what: "the dilated kernel \(name)") }
            return e
        }
        return Size2D(try extent(kernel.height, dilation.height, "height"), try extent(kernel.width, dilation.width, "width"))
    }

    /// The output height and width for an input of `input` pixels.
    ///
    /// - Throws: `.nonPositive` for a non-positive input size, `.sizeOverflow`, or `.emptyOutput` when the
    ///   dilated kernel does not fit the padded input.
    public func outputSize(input: Size2D) throws -> Size2D {
        guard input.height > 0 else { throw ConvolutionError.nonPositive(parameter: "input height", value: input.height) }
        guard input.width > 0 else { throw ConvolutionError.nonPositive(parameter: "input width", value: input.width) }
        let k = try effectiveKernel()
        func padded(_ n: Int, _ a: Int, _ b: Int) throws -> Int {
            let (s1, o1) = n.addingReportingOverflow(a)
            let (s2, o2) = s1.addingReportingOverflow(b)
            if o1 || o2 { throw ConvolutionError.sizeOverflow(what: "the padded input size") }
            return s2
        }
        let ph = try padded(input.height, padding.top, padding.bottom)
        let pw = try padded(input.width, padding.left, padding.right)
        guard ph >= k.height, pw >= k.width else {
            throw ConvolutionError.emptyOutput(inputHeight: ph, inputWidth: pw,
                                               effectiveKernelHeight: k.height, effectiveKernelWidth: k.width)
        }
        return Size2D((ph - k.height) / stride.height + 1, (pw - k.width) / stride.width + 1)
    }

    /// Multiply-accumulates of a direct convolution over `batch` images of size `input`
    /// (the figure behind every GFLOP/s number: 2 × MACs / time).
    public func multiplyAccumulates(batch: Int, input: Size2D) throws -> Int {
        let o = try outputSize(input: input)
        let factors = [batch, outputChannels, o.height, o.width, inputChannelsPerGroup, kernel.height, kernel.width]
        do { return try Tensor.elementCount(of: factors) } catch {
            throw ConvolutionError.sizeOverflow(what: "the multiply-accumulate count")
        }
    }

    public var description: String {
        var s = "conv \(inputChannels)->\(outputChannels) k\(kernel)"
        if stride != 1 { s += " s\(stride)" }
        if dilation != 1 { s += " d\(dilation)" }
        if padding != .zero { s += " p\(padding)" }
        if groups != 1 { s += " g\(groups)" }
        if !hasBias { s += " nobias" }
        if activation != .none { s += " \(activation)" }
        return s
    }
}
