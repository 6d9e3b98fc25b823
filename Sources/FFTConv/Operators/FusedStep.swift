/// A 1x1 layer and the depthwise layer that reads it, prepared as one step (`PointwiseDepthwiseFusion`,
/// `PointwiseStride2DepthwiseFusion`): what the graph needs to pick one and prepare it.
protocol PointwiseDepthwisePair {
    /// Whether this form runs the pair (`pointwise` read only by `depthwise`, on `input`-sized planes) at `threads`.
    static func applies(pointwise: ConvolutionDescriptor, depthwise: ConvolutionDescriptor, input: Size2D, threads: Int) -> Bool
    /// How the step's algorithm starts in a profile, before `summary`.
    static var label: String { get }
    /// Prepares the pair: `unsupported` unless `applies`, a shape error for mismatched weights.
    init(pointwise p: ConvolutionDescriptor, pointwiseWeights: Tensor, pointwiseBias: Tensor?,
         depthwise d: ConvolutionDescriptor, depthwiseWeights: Tensor, depthwiseBias: Tensor?, input: Size2D, threads: Int) throws
    /// The choices made at prepare.
    var summary: String { get }
    /// Bytes of prepared weights: both layers'.
    var preparedBytes: Int { get }
    /// The depthwise layer's output for `input`.
    func callAsFunction(_ input: Tensor) throws -> Tensor
}

/// What the fused operators (`PointwiseDepthwiseFusion`, `PointwiseStride2DepthwiseFusion`, `ConvolutionPoolFusion`,
/// `DepthwisePointwiseFusion`) share around their compute: the input's shape checked against the one they were
/// prepared for, the output allocated (not zeroed — every fused step writes all of it), and the raw pointers handed
/// over.
enum FusedStep {
    /// The forms a 1x1 + depthwise pair may take, in order of preference.
    static let pointwiseDepthwiseForms: [any PointwiseDepthwisePair.Type] = [PointwiseDepthwiseFusion.self, PointwiseStride2DepthwiseFusion.self]

    /// The first form that runs this 1x1 + depthwise pair, if any.
    static func pointwiseDepthwiseForm(pointwise: ConvolutionDescriptor, depthwise: ConvolutionDescriptor,
                                       input: Size2D, threads: Int) -> (any PointwiseDepthwisePair.Type)? {
        pointwiseDepthwiseForms.first { $0.applies(pointwise: pointwise, depthwise: depthwise, input: input, threads: threads) }
    }

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
