/// The spatial geometry of one 2-D convolution over one plane: what a kernel needs to know to map an
/// output position to input positions. Channels, groups and batch are the caller's business.
public struct ConvolutionGeometry: Sendable, Hashable {
    /// Input plane height and width (unpadded).
    public var inputHeight: Int, inputWidth: Int
    /// Kernel height and width (taps, before dilation).
    public var kernelHeight: Int, kernelWidth: Int
    /// Step between neighbouring output positions, in input pixels.
    public var strideHeight: Int, strideWidth: Int
    /// Spacing between neighbouring taps, in input pixels.
    public var dilationHeight: Int, dilationWidth: Int
    /// Implicit zero rows above / columns left of the input.
    public var padTop: Int, padLeft: Int
    /// Output plane height and width.
    public var outputHeight: Int, outputWidth: Int

    /// Creates a geometry; the caller has validated that every size is positive and the output non-empty.
    public init(inputHeight: Int, inputWidth: Int, kernelHeight: Int, kernelWidth: Int,
                strideHeight: Int, strideWidth: Int, dilationHeight: Int, dilationWidth: Int,
                padTop: Int, padLeft: Int, outputHeight: Int, outputWidth: Int) {
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight
        self.strideWidth = strideWidth
        self.dilationHeight = dilationHeight
        self.dilationWidth = dilationWidth
        self.padTop = padTop
        self.padLeft = padLeft
        self.outputHeight = outputHeight
        self.outputWidth = outputWidth
    }

    /// Each tap's offset in zero-padded planes `planeStride` floats apart with rows `rowStride` floats apart, for
    /// `channels` input channels: `c · planeStride + kh · dilationHeight · rowStride + kw · dilationWidth`, channel by
    /// channel, then kernel row, then column (the weights' order) — the taps of the kernels that broadcast one input
    /// float per tap (`ConvolutionRowKernels`, `GroupedLanesKernels`).
    public func tapOffsets(channels: Int, planeStride: Int, rowStride: Int) -> [Int] {
        var offsets: [Int] = []
        offsets.reserveCapacity(channels * kernelHeight * kernelWidth)
        for c in 0..<channels {
            for i in 0..<kernelHeight {
                for j in 0..<kernelWidth { offsets.append(c * planeStride + i * dilationHeight * rowStride + j * dilationWidth) }
            }
        }
        return offsets
    }

    /// The output positions `o` in `0..<outputCount` whose input position `o * stride + offset` lies in
    /// `0..<inputCount`, as a half-open range (possibly empty).
    @inlinable
    public static func validOutputRange(offset: Int, stride: Int, inputCount: Int, outputCount: Int) -> Range<Int> {
        // o * stride + offset >= 0  <=>  o >= ceil(-offset / stride)
        let lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride
        // o * stride + offset <= inputCount - 1  <=>  o <= floor((inputCount - 1 - offset) / stride)
        let num = inputCount - 1 - offset
        if num < 0 { return 0..<0 }
        let hi = Swift.min(outputCount, num / stride + 1)
        return lo < hi ? lo..<hi : 0..<0
    }
}
