import FFTConvKernels

/// The algorithms a `Convolution2D` can be prepared with.
public enum ConvolutionAlgorithm: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The naive double-precision oracle (`ReferenceConvolution`): slow, for checking.
    case reference
    /// Plain direct loops, vectorised along output rows (the core engine's baseline).
    case plain
    /// Direct convolution on the register-blocked SIMD micro-kernel (implicit GEMM over a phase layout).
    case direct
    /// GEMM: the input itself for 1x1 convolutions, im2col otherwise, on the packed SGEMM.
    case gemm
    /// Depthwise kernels (only for `groups == inputChannels == outputChannels`).
    case depthwise
    /// Tiled FFT convolution through FFTW.
    case fft
    /// Winograd F(m×m, r×r) (only for 3x3 and 5x5 kernels with stride 1; a dilated one with "same" padding that is
    /// a multiple of its dilation runs as its dilation phases, `DilationPhasesImplementation`); the tile is
    /// `ConvolutionOptions.winogradTile`.
    case winograd

    public var description: String { rawValue }

    /// Whether this algorithm can run `descriptor` (`depthwise` needs a depthwise layer, `winograd` a 3x3 or
    /// 5x5 stride-1 kernel, dilated only with "same" padding that is a multiple of the dilation; the others run
    /// everything).
    public func supports(_ descriptor: ConvolutionDescriptor) -> Bool {
        switch self {
        case .depthwise: return descriptor.isDepthwise
        case .winograd:
            let k = descriptor.kernel, (dh, dw) = (descriptor.dilation.height, descriptor.dilation.width), p = descriptor.padding
            guard k.height == k.width && WinogradRegistry.filterSides.contains(k.height) && descriptor.stride == Size2D(1, 1) else {
                return false
            }
            return descriptor.dilation == Size2D(1, 1) || p.top % dh == 0 && p.bottom % dh == 0 && p.left % dw == 0 && p.right % dw == 0
                && p.top + p.bottom == (k.height - 1) * dh && p.left + p.right == (k.width - 1) * dw
        case .reference, .plain, .direct, .gemm, .fft: return true
        }
    }
}

/// Settings fixed when a layer is prepared.
public struct ConvolutionOptions: Sendable, Hashable {
    /// Worker threads a call may use (1 = the calling thread only). Results are identical for any value.
    public var threads: Int
    /// FFT transform size per tile; `nil` lets the cost model choose (whole image when that is cheaper).
    public var fftTile: Size2D?
    /// How hard FFTW plans the transforms.
    public var fftPlanning: FFTPlanningEffort
    /// Largest kernel-spectra size (bytes) an FFT layer may hold; above it the cost model picks smaller
    /// tiles, and if even the smallest do not fit, spectra are recomputed on every call. `nil`: no limit.
    public var fftMemoryBudget: Int?
    /// A micro-kernel variant to use instead of the default (a name from `MicroKernelRegistry` for
    /// `direct`/`gemm`/`winograd`, from `DepthwiseKernelRegistry` for `depthwise`, from
    /// `ComplexGEMM.variants` for `fft`); for testing and tuning.
    public var microKernel: String?
    /// Outputs per tile side for `winograd`: 2, 4 or 6 for 3x3 filters, 2 or 4 for 5x5 (`WinogradRegistry`);
    /// `nil` means 4.
    public var winogradTile: Int?
    /// For a 1x1 layer on the transposed path whose input a depthwise layer wrote (a MobileNet block's projection):
    /// sum the input channels in two halves, each half's workers reading the channels the depthwise step's workers
    /// wrote (`TransposedImplementation.split`). Changes the order of the sums, the same for any thread count;
    /// ignored by every other path. The network sets it from the graph.
    public var splitsInputChannels: Bool

    /// Creates options; see each property.
    public init(threads: Int = 1, fftTile: Size2D? = nil, fftPlanning: FFTPlanningEffort = .estimate,
                fftMemoryBudget: Int? = nil, microKernel: String? = nil, winogradTile: Int? = nil,
                splitsInputChannels: Bool = false) {
        self.splitsInputChannels = splitsInputChannels
        self.winogradTile = winogradTile
        self.threads = threads
        self.fftTile = fftTile
        self.fftPlanning = fftPlanning
        self.fftMemoryBudget = fftMemoryBudget
        self.microKernel = microKernel
    }
}

/// A prepared 2-D convolution layer: descriptor, input size, weights transformed for one algorithm.
///
/// Prepare once, run many: everything that depends only on the weights (FFT kernel spectra, plans) is
/// computed by the initializer; calls only transform the input, multiply and write the output. One layer
/// may be called from any number of threads at once; each call gets its own scratch memory.
///
/// ```swift
/// let d = try ConvolutionDescriptor(inputChannels: 64, outputChannels: 192, kernel: 5, padding: 2)
/// let conv = try Convolution2D(descriptor: d, input: Size2D(27, 27), weights: w, bias: b, algorithm: .fft)
/// let y = try conv(x)   // x: [N, 64, 27, 27] → y: [N, 192, 27, 27]
/// ```
public final class Convolution2D: @unchecked Sendable {
    /// What the layer computes.
    public let descriptor: ConvolutionDescriptor
    /// The input height and width the layer was prepared for.
    public let inputSize: Size2D
    /// The output height and width.
    public let outputSize: Size2D
    /// The algorithm it runs.
    public let algorithm: ConvolutionAlgorithm
    /// The settings it was prepared with.
    public let options: ConvolutionOptions
    let implementation: ConvolutionImplementation
    /// The kernel the algorithm computes when rows or columns of `descriptor.kernel` read only padding and were
    /// dropped (`ConvolutionDescriptor.withoutDeadTaps`); `nil`: the whole kernel.
    public let livePart: Size2D?

    /// Prepares a layer.
    ///
    /// - Parameters:
    ///   - input: input height and width (any batch size is accepted at run time).
    ///   - weights: `[outputChannels, inputChannels / groups, kH, kW]`.
    ///   - bias: `[outputChannels]` when `descriptor.hasBias`, else `nil`.
    /// - Throws: `ConvolutionError` when a shape does not fit the descriptor, the output would be empty, an
    ///   option is out of range, or the algorithm cannot run the layer.
    public init(descriptor: ConvolutionDescriptor, input: Size2D, weights: Tensor, bias: Tensor? = nil,
                algorithm: ConvolutionAlgorithm = .fft, options: ConvolutionOptions = .init()) throws {
        guard options.threads >= 1 && options.threads <= 1024 else {
            throw ConvolutionError.invalidOption("threads must be in 1...1024, got \(options.threads)")
        }
        let problem = try ConvolutionProblem(descriptor: descriptor, input: input)
        try ReferenceConvolution.checkWeights(descriptor, weights, bias)
        self.descriptor = descriptor
        self.inputSize = input
        self.outputSize = problem.output
        self.algorithm = algorithm
        self.options = options
        // Kernel rows and columns that read only padding on this input are dropped before the algorithm sees the
        // layer (`ConvolutionDescriptor.withoutDeadTaps`) — unless the algorithm cannot run what is left (Winograd on
        // a 3x3 layer that becomes 1x1, a depthwise kernel forced for the padding it had): then the whole kernel. The
        // reference and the plain loops always keep the whole kernel.
        if algorithm != .reference && algorithm != .plain, let pruned = descriptor.withoutDeadTaps(input: input),
           let live = try? Self.implementation(algorithm, problem: try ConvolutionProblem(descriptor: pruned.descriptor, input: input),
                                                weights: try weights.kernelWindow(rows: pruned.rows, columns: pruned.columns),
                                                bias: bias, options: options) {
            implementation = live
            livePart = pruned.descriptor.kernel
        } else {
            implementation = try Self.implementation(algorithm, problem: problem, weights: weights, bias: bias, options: options)
            livePart = nil
        }
    }

    /// `algorithm`'s prepared form of `problem`.
    private static func implementation(_ algorithm: ConvolutionAlgorithm, problem: ConvolutionProblem, weights: Tensor, bias: Tensor?,
                                       options: ConvolutionOptions) throws -> ConvolutionImplementation {
        let implementation: ConvolutionImplementation
        switch algorithm {
        case .reference:
            implementation = ReferenceImplementation(problem: problem, weights: weights, bias: bias)
        case .plain:
            implementation = PlainDirectImplementation(problem: problem, weights: weights, bias: bias)
        case .direct where LiveTapSumImplementation.applies(to: problem), .gemm where LiveTapSumImplementation.applies(to: problem):
            // A dilated layer whose kernel reaches past the input for many outputs: tap by tap over the outputs where
            // each reads the input, each tap a 1x1 layer on the direct path (its 1x1 kernels, in place or transposed).
            implementation = try LiveTapSumImplementation(problem: problem, weights: weights, bias: bias) { q, w in
                try Self.implementation(.direct, problem: q, weights: w, bias: nil, options: options)
            }
        case .direct where options.microKernel == GroupedLanesImplementation.kernelName
                || (options.microKernel == nil && GroupedLanesImplementation.preferred(for: problem)):
            // Groups of 8 to 32 output channels (`GroupedLanesImplementation.preferred`): each group's channels as the vector lanes.
            implementation = try GroupedLanesImplementation(problem: problem, weights: weights, bias: bias, threads: options.threads)
        case .direct:
            if let transposed = try KernelChoice.transposed(forced: options.microKernel, problem: problem) {
                implementation = try TransposedImplementation(problem: problem, weights: weights, bias: bias, kernel: transposed,
                                                              splitsInputChannels: options.splitsInputChannels)
            } else {
                implementation = try DirectImplementation(problem: problem, weights: weights, bias: bias,
                                                          forcedKernel: options.microKernel, threads: options.threads)
            }
        case .gemm:
            implementation = try GEMMImplementation(problem: problem, weights: weights, bias: bias,
                                                    forcedKernel: options.microKernel, threads: options.threads)
        case .depthwise:
            implementation = try DepthwiseImplementation(problem: problem, weights: weights, bias: bias,
                                                         forcedKernel: options.microKernel, threads: options.threads)
        case .fft:
            implementation = try FFTImplementation(problem: problem, weights: weights, bias: bias, options: options)
        case .winograd:
            if problem.descriptor.dilation != Size2D(1, 1) {
                // Dilated: the dilation phases side by side, one undilated layer.
                guard let grid = DilationPhasesImplementation.gridProblem(problem) else {
                    throw ConvolutionError.unsupported(algorithm: "winograd", reason: "a dilated layer needs stride 1 and "
                        + "\"same\" padding, (k − 1)·dilation in all, a multiple of the dilation on every side; got \(problem.descriptor)")
                }
                let inner = try WinogradImplementation(problem: grid.problem, weights: weights, bias: bias, tile: options.winogradTile,
                                                       forcedKernel: options.microKernel, threads: options.threads)
                implementation = DilationPhasesImplementation(problem: problem, grid: grid, inner: inner)
            } else {
                implementation = try WinogradImplementation(problem: problem, weights: weights, bias: bias, tile: options.winogradTile,
                                                            forcedKernel: options.microKernel, threads: options.threads)
            }
        }
        return implementation
    }

    /// Bytes held for the prepared weights (for FFT: the kernel spectra).
    public var preparedBytes: Int { implementation.preparedBytes }

    /// What was chosen at prepare time, e.g. the FFT tiling (`"16x16 tiles x9"`).
    public var summary: String {
        guard let live = livePart else { return implementation.summary }
        return "\(live.height)x\(live.width) live taps of \(descriptor.kernel.height)x\(descriptor.kernel.width), " + implementation.summary
    }

    /// The output shape for a batch of `batch` images.
    public func outputShape(batch: Int) -> [Int] {
        [batch, descriptor.outputChannels, outputSize.height, outputSize.width]
    }

    /// Checks an input tensor's shape and returns its batch size.
    func batchSize(of input: Tensor) throws -> Int {
        let s = input.shape
        guard s.count == 4, s[0] >= 1, s[1] == descriptor.inputChannels, s[2] == inputSize.height, s[3] == inputSize.width else {
            throw ConvolutionError.inputShapeMismatch(
                expected: [-1, descriptor.inputChannels, inputSize.height, inputSize.width], actual: s)
        }
        return s[0]
    }

    /// Runs the layer on `input` (`[N, inputChannels, H, W]`), returning `[N, outputChannels, outH, outW]`.
    /// A `residual` of the output's shape is added before the activation (ResNet's shortcut), in the same pass.
    public func callAsFunction(_ input: Tensor, residual: Tensor? = nil) throws -> Tensor {
        let shape = outputShape(batch: try batchSize(of: input))
        var output = implementation.skipsOutputZeroing ? try Tensor(uninitialized: shape) : try Tensor(zeros: shape, threads: options.threads)
        try run(input, residual: residual, into: &output)
        return output
    }

    /// Runs the layer on a batch-1 `input`, writing its output channels into channels `channel ..<
    /// channel + outputChannels` of `output` (`[1, C, outH, outW]`, `C` at least that): a channel
    /// concatenation filled in place. The other channels are left as they are.
    func run(_ input: Tensor, residual: Tensor? = nil, intoChannelsOf output: inout Tensor, at channel: Int) throws {
        let batch = try batchSize(of: input)
        let shape = outputShape(batch: batch), o = output.shape
        guard batch == 1, o.count == 4, o[0] == 1, channel >= 0, channel + shape[1] <= o[1], o[2] == shape[2], o[3] == shape[3] else {
            throw ConvolutionError.outputShapeMismatch(expected: [1, channel + shape[1], shape[2], shape[3]], actual: o)
        }
        if let residual, residual.shape != shape {
            throw ConvolutionError.residualShapeMismatch(expected: shape, actual: residual.shape)
        }
        execute(input, residual: residual, into: &output, at: channel * shape[2] * shape[3], batch: 1)
    }

    /// Runs the layer, writing into an existing output tensor of shape `outputShape(batch:)`.
    public func run(_ input: Tensor, residual: Tensor? = nil, into output: inout Tensor) throws {
        let batch = try batchSize(of: input)
        let shape = outputShape(batch: batch)
        guard output.shape == shape else {
            throw ConvolutionError.outputShapeMismatch(expected: shape, actual: output.shape)
        }
        if let residual, residual.shape != shape {
            throw ConvolutionError.residualShapeMismatch(expected: shape, actual: residual.shape)
        }
        execute(input, residual: residual, into: &output, at: 0, batch: batch)
    }

    /// The implementation on validated tensors, writing from float `offset` of `output` on.
    private func execute(_ input: Tensor, residual: Tensor?, into output: inout Tensor, at offset: Int, batch: Int) {
        let threads = options.threads
        let implementation = self.implementation
        input.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in
                guard let xb = x.baseAddress, let yb = y.baseAddress else { return }
                if let residual {
                    residual.withUnsafeBufferPointer { r in
                        implementation.run(input: xb, output: yb + offset, residual: r.baseAddress, batch: batch, threads: threads)
                    }
                } else {
                    implementation.run(input: xb, output: yb + offset, residual: nil, batch: batch, threads: threads)
                }
            }
        }
    }
}
