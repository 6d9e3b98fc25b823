/// The oracle: a deliberately naive convolution that accumulates in `Double`.
///
/// Seven nested loops, a bounds test per tap, no tiling, no SIMD: slow on purpose, so that it is easy to
/// read and hard to get wrong. Every test and the bench's error column compare against it.
public enum ReferenceConvolution {
    /// Convolves `input` (`[N, inputChannels, H, W]`) with `weights` (`descriptor.weightShape`), adds
    /// `bias` (`[outputChannels]`, required exactly when `descriptor.hasBias`), adds `residual` (the
    /// output's shape) when given, and applies the activation.
    ///
    /// - Returns: `[N, outputChannels, outH, outW]`, rounded to float once at the end.
    public static func run(descriptor: ConvolutionDescriptor, input: Tensor, weights: Tensor, bias: Tensor?,
                           residual: Tensor? = nil) throws -> Tensor {
        guard input.rank == 4, input.shape[0] >= 1, input.shape[1] == descriptor.inputChannels else {
            throw ConvolutionError.inputShapeMismatch(expected: [-1, descriptor.inputChannels, -1, -1], actual: input.shape)
        }
        let size = Size2D(input.shape[2], input.shape[3])
        let out = try descriptor.outputSize(input: size)
        try checkWeights(descriptor, weights, bias)
        let shape = [input.shape[0], descriptor.outputChannels, out.height, out.width]
        if let residual, residual.shape != shape {
            throw ConvolutionError.residualShapeMismatch(expected: shape, actual: residual.shape)
        }
        var result = try Tensor(zeros: shape)
        let r = residual?.scalars
        result.withUnsafeMutableBufferPointer { y in
            input.withUnsafeBufferPointer { x in
                weights.withUnsafeBufferPointer { w in
                    r.withUnsafeOptionalBufferPointer { res in
                        compute(descriptor, batch: input.shape[0], input: size, output: out,
                                x: x, w: w, bias: bias?.scalars, residual: res, y: y)
                    }
                }
            }
        }
        return result
    }

    /// Throws unless `weights` and `bias` fit `descriptor`.
    static func checkWeights(_ d: ConvolutionDescriptor, _ weights: Tensor, _ bias: Tensor?) throws {
        guard weights.shape == d.weightShape else {
            throw ConvolutionError.weightShapeMismatch(expected: d.weightShape, actual: weights.shape)
        }
        let expectedBias: [Int]? = d.hasBias ? [d.outputChannels] : nil
        guard bias?.shape == expectedBias else {
            throw ConvolutionError.biasShapeMismatch(expected: expectedBias, actual: bias?.shape)
        }
    }

    static func compute(_ d: ConvolutionDescriptor, batch: Int, input: Size2D, output: Size2D,
                        x: UnsafeBufferPointer<Float>, w: UnsafeBufferPointer<Float>, bias: [Float]?,
                        residual: UnsafeBufferPointer<Float>?, y: UnsafeMutableBufferPointer<Float>) {
        let cg = d.inputChannelsPerGroup, og = d.outputChannelsPerGroup
        let kh = d.kernel.height, kw = d.kernel.width
        for n in 0..<batch {
            for o in 0..<d.outputChannels {
                let g = o / og
                for oh in 0..<output.height {
                    for ow in 0..<output.width {
                        var acc: Double = 0
                        for c in 0..<cg {
                            let ic = g * cg + c
                            for i in 0..<kh {
                                for j in 0..<kw {
                                    let ih = oh * d.stride.height + i * d.dilation.height - d.padding.top
                                    let iw = ow * d.stride.width + j * d.dilation.width - d.padding.left
                                    if ih < 0 || ih >= input.height || iw < 0 || iw >= input.width { continue }
                                    let xv = x[((n * d.inputChannels + ic) * input.height + ih) * input.width + iw]
                                    let wv = w[((o * cg + c) * kh + i) * kw + j]
                                    acc += Double(xv) * Double(wv)
                                }
                            }
                        }
                        if let bias { acc += Double(bias[o]) }
                        let index = ((n * d.outputChannels + o) * output.height + oh) * output.width + ow
                        if let residual { acc += Double(residual[index]) }
                        y[index] = Float(d.activation.apply(acc))
                    }
                }
            }
        }
    }
}

extension Optional where Wrapped == [Float] {
    /// Calls `body` with the array's buffer, or with nil.
    func withUnsafeOptionalBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>?) throws -> R) rethrows -> R {
        switch self {
        case .some(let a): return try a.withUnsafeBufferPointer { try body($0) }
        case .none: return try body(nil)
        }
    }
}
