import FFTConvKernels

/// A convolution and the 2×2 stride-2 max pool after it in one pass (VGG's blocks end in a 3x3 convolution, ReLU
/// and a 2×2 pool), where the layer runs on Winograd with an even tile: each output stage finishes a
/// tile row's output rows in a row buffer, so the pool takes them from there, and the full-size output — four times
/// the pooled one — is never written nor read back.
extension Convolution2D {
    /// Whether `pooled2x2(_:)` can run this layer: Winograd with an even tile on the straight-line stages
    /// (F(2×2), F(4×4), F(6×6) for 3x3, F(4×4) for 5x5), and an output of at least 2×2.
    var fusesMaxPool2x2: Bool { (implementation as? WinogradImplementation)?.poolsOutput ?? false }

    /// The layer followed by a 2×2 stride-2 max pool without padding (floor sizes): `[N, Cout, ⌊outH/2⌋, ⌊outW/2⌋]`,
    /// the same bits as `callAsFunction` followed by `TensorOperations.pool`.
    /// - Throws: `ConvolutionError.inputShapeMismatch` for a wrong input, `unsupported` unless `fusesMaxPool2x2`.
    func pooled2x2(_ input: Tensor) throws -> Tensor {
        guard let winograd = implementation as? WinogradImplementation, winograd.poolsOutput else {
            throw ConvolutionError.unsupported(algorithm: algorithm.rawValue,
                                               reason: "a 2x2 max pool in the output stage needs Winograd with an even tile, got \(summary)")
        }
        let batch = try batchSize(of: input), pooled = winograd.pooledSize, threads = options.threads
        var output = try Tensor(uninitialized: [batch, descriptor.outputChannels, pooled.height, pooled.width])
        input.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in
                guard let xb = x.baseAddress, let yb = y.baseAddress else { return }
                winograd.runPooled(input: xb, output: yb, batch: batch, threads: threads)
            }
        }
        return output
    }
}
