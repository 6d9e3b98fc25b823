import FFTConvKernels

/// A locally-connected 2-D layer (Keras' `LocallyConnected2D`): like a convolution, but every output
/// position has its own filter — weights are not shared across positions.
///
/// Weights have shape `[outH, outW, outputChannels, inputChannels, kH, kW]` (one convolution filter bank per
/// output position), the optional bias `[outputChannels, outH, outW]`. Geometry (stride, dilation, padding)
/// and the fused activation come from a `ConvolutionDescriptor` whose `groups` must be 1.
///
/// `algorithm: .gemm` (the default) runs a batched matrix-vector product: per output position `p`,
/// `y_p = W_p · patch_p` with the patches gathered once per image (im2col, then transposed so each patch is
/// contiguous) and every `W_p` streamed once per call; `.reference` runs naive double-precision loops.
public final class LocallyConnected2D: @unchecked Sendable {
    /// The geometry, channels and activation.
    public let descriptor: ConvolutionDescriptor
    /// The input height and width.
    public let inputSize: Size2D
    /// The output height and width.
    public let outputSize: Size2D
    /// `.gemm` or `.reference`.
    public let algorithm: ConvolutionAlgorithm
    /// Worker threads per call.
    public let threads: Int
    let problem: ConvolutionProblem
    let weights: AlignedBuffer
    let bias: [Float]?

    /// The weight shape this layer needs.
    public static func weightShape(descriptor d: ConvolutionDescriptor, output: Size2D) -> [Int] {
        [output.height, output.width, d.outputChannels, d.inputChannels, d.kernel.height, d.kernel.width]
    }

    /// Prepares the layer.
    ///
    /// - Throws: `ConvolutionError.unsupported` for `groups != 1` or an algorithm other than `.gemm` /
    ///   `.reference`; shape errors as for `Convolution2D`.
    public init(descriptor: ConvolutionDescriptor, input: Size2D, weights: Tensor, bias: Tensor? = nil,
                algorithm: ConvolutionAlgorithm = .gemm, threads: Int = 1) throws {
        guard descriptor.groups == 1 else {
            throw ConvolutionError.unsupported(algorithm: "locally connected", reason: "groups must be 1, got \(descriptor.groups)")
        }
        guard algorithm == .gemm || algorithm == .reference else {
            throw ConvolutionError.unsupported(algorithm: algorithm.rawValue, reason: "locally connected layers run with gemm or reference")
        }
        guard threads >= 1 && threads <= 1024 else { throw ConvolutionError.invalidOption("threads must be in 1...1024, got \(threads)") }
        let problem = try ConvolutionProblem(descriptor: descriptor, input: input)
        let shape = Self.weightShape(descriptor: descriptor, output: problem.output)
        do { _ = try Tensor.elementCount(of: shape) } catch { throw ConvolutionError.sizeOverflow(what: "the weight element count \(shape)") }
        guard weights.shape == shape else { throw ConvolutionError.weightShapeMismatch(expected: shape, actual: weights.shape) }
        let biasShape: [Int]? = descriptor.hasBias ? [descriptor.outputChannels, problem.output.height, problem.output.width] : nil
        guard bias?.shape == biasShape else { throw ConvolutionError.biasShapeMismatch(expected: biasShape, actual: bias?.shape) }
        self.descriptor = descriptor
        self.inputSize = input
        self.outputSize = problem.output
        self.algorithm = algorithm
        self.threads = threads
        self.problem = problem
        self.weights = weights.storage
        self.bias = bias?.scalars
    }

    /// Runs the layer on `[N, inputChannels, H, W]`, returning `[N, outputChannels, outH, outW]`.
    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        let d = descriptor
        let s = input.shape
        guard s.count == 4, s[0] >= 1, s[1] == d.inputChannels, s[2] == inputSize.height, s[3] == inputSize.width else {
            throw ConvolutionError.inputShapeMismatch(expected: [-1, d.inputChannels, inputSize.height, inputSize.width], actual: s)
        }
        let batch = s[0]
        var output = try Tensor(zeros: [batch, d.outputChannels, outputSize.height, outputSize.width])
        let k = d.inputChannels * d.kernel.height * d.kernel.width
        let positions = problem.outputPlane
        let cout = d.outputChannels
        let w = UnsafePointer(weights.pointer)
        let activation = d.activation
        let epilogue = activation.epilogue
        let (problem, threads, algorithm) = (problem, threads, algorithm)
        var patches = try Tensor(zeros: [2, k * positions])  // im2col [K][P], then its transpose [P][K]
        var partial = try Tensor(zeros: [threads, cout])
        input.withUnsafeBufferPointer { xp in
            output.withUnsafeMutableBufferPointer { yp in
                patches.withUnsafeMutableBufferPointer { pp in
                    partial.withUnsafeMutableBufferPointer { tp in
                        bias.withUnsafeOptionalBufferPointer { bp in
                            guard let x0 = xp.baseAddress, let y0 = yp.baseAddress, let cols = pp.baseAddress, let tmp0 = tp.baseAddress else { return }
                            let rowsT = cols + k * positions
                            for n in 0..<batch {
                                let x = x0 + n * d.inputChannels * problem.inputPlane
                                let y = y0 + n * cout * positions
                                if algorithm == .reference {
                                    Self.reference(problem, x: x, w: w, bias: bp, y: y)
                                    continue
                                }
                                Im2Col.run(input: x, channels: d.inputChannels, geometry: problem.geometry, columns: 0..<positions, into: cols)
                                for r in 0..<k { for p in 0..<positions { rowsT[p * k + r] = cols[r * positions + p] } }
                                Parallel.forEachRange(count: positions, threads: threads) { worker, items in
                                    let tmp = tmp0 + worker * cout
                                    for p in items {
                                        GEMV.run(m: cout, k: k, w: w + p * cout * k, ldw: k, x: rowsT + p * k, y: tmp,
                                                 epilogue: GEMMEpilogue(), rows: 0..<cout)
                                        for o in 0..<cout {
                                            let b = bp.map { $0[o * positions + p] } ?? 0
                                            y[o * positions + p] = epilogue.activate(tmp[o] + b)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return output
    }

    /// The oracle: naive loops accumulating in `Double`, for one image.
    static func reference(_ p: ConvolutionProblem, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                          bias: UnsafeBufferPointer<Float>?, y: UnsafeMutablePointer<Float>) {
        let d = p.descriptor
        let kh = d.kernel.height, kw = d.kernel.width
        for oh in 0..<p.output.height {
            for ow in 0..<p.output.width {
                let pos = oh * p.output.width + ow
                for o in 0..<d.outputChannels {
                    var acc: Double = 0
                    for c in 0..<d.inputChannels {
                        for i in 0..<kh {
                            for j in 0..<kw {
                                let ih = oh * d.stride.height + i * d.dilation.height - d.padding.top
                                let iw = ow * d.stride.width + j * d.dilation.width - d.padding.left
                                if ih < 0 || ih >= p.input.height || iw < 0 || iw >= p.input.width { continue }
                                let wv = w[(((pos * d.outputChannels + o) * d.inputChannels + c) * kh + i) * kw + j]
                                acc += Double(wv) * Double(x[(c * p.input.height + ih) * p.input.width + iw])
                            }
                        }
                    }
                    if let bias { acc += Double(bias[o * p.outputPlane + pos]) }
                    y[o * p.outputPlane + pos] = Float(d.activation.apply(acc))
                }
            }
        }
    }
}
