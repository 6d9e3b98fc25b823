/// What the fused operators (`PointwiseDepthwiseFusion`, `PointwiseStride2DepthwiseFusion`, `ConvolutionPoolFusion`,
/// `DepthwisePointwiseFusion`) share around their compute: the input's shape checked against the one they were
/// prepared for, the output allocated (not zeroed — every fused step writes all of it), and the raw pointers handed
/// over.
enum FusedStep {
    /// What a fused pair's initializer checks first: `unsupported` (naming `reason`) unless `applies`, then both
    /// layers' weight and bias shapes (`ReferenceConvolution.checkWeights`).
    static func checkPair(applies: Bool, reason: @autoclosure () -> String,
                          _ first: (ConvolutionDescriptor, Tensor, Tensor?), _ second: (ConvolutionDescriptor, Tensor, Tensor?)) throws {
        guard applies else { throw ConvolutionError.unsupported(algorithm: "depthwise", reason: reason()) }
        try ReferenceConvolution.checkWeights(first.0, first.1, first.2)
        try ReferenceConvolution.checkWeights(second.0, second.1, second.2)
    }

    /// Runs `body(input, output, batch)` over an `[N, channels, size]` input and a fresh `[N] + outputShape` output.
    ///
    /// - Throws: `ConvolutionError.inputShapeMismatch` when the input is not `[N ≥ 1, channels, size.height, size.width]`.
    static func run(_ input: Tensor, channels: Int, size: Size2D, outputShape: [Int],
                    _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) throws -> Tensor {
        let s = input.shape
        guard s.count == 4, s[0] >= 1, s[1] == channels, s[2] == size.height, s[3] == size.width else {
            throw ConvolutionError.inputShapeMismatch(expected: [-1, channels, size.height, size.width], actual: s)
        }
        var output = try Tensor(uninitialized: [s[0]] + outputShape)
        input.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in
                guard let x = x.baseAddress, let y = y.baseAddress else { return }
                body(x, y, s[0])
            }
        }
        return output
    }
}
