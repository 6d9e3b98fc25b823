import FFTConvKernels

/// A convolution descriptor together with the input size it is prepared for: everything an algorithm
/// needs to lay out its prepared weights and its workspace.
struct ConvolutionProblem: Sendable, Hashable {
    let descriptor: ConvolutionDescriptor
    let input: Size2D
    let output: Size2D
    let effectiveKernel: Size2D

    init(descriptor: ConvolutionDescriptor, input: Size2D) throws {
        self.descriptor = descriptor
        self.input = input
        self.output = try descriptor.outputSize(input: input)
        self.effectiveKernel = try descriptor.effectiveKernel()
        // Planes must be addressable: one input and one output image's element counts fit in Int.
        do {
            _ = try Tensor.elementCount(of: [descriptor.inputChannels, input.height, input.width])
            _ = try Tensor.elementCount(of: [descriptor.outputChannels, output.height, output.width])
        } catch {
            throw ConvolutionError.sizeOverflow(what: "the image element count")
        }
        // The direct paths lay the padded input out in whole strides (`PhaseLayout`): a stride or padding far past
        // the input would make that layout absurd however small the output (a stride of 2³¹ on a 226-pixel row: 8 TB
        // requested, and a trap in the allocator). Refused above `maxLaidOutElements` as unsupported.
        let d = descriptor
        func laidOut(_ n: Int, _ s: Int) -> Int {
            let (t, o) = (n / s + (n % s == 0 ? 0 : 1)).multipliedReportingOverflow(by: s)
            return o ? .max : t
        }
        let ph = input.height + d.padding.top + d.padding.bottom, pw = input.width + d.padding.left + d.padding.right
        let dims = [d.inputChannels, laidOut(ph, d.stride.height), laidOut(pw, d.stride.width)]
        guard let n = try? Tensor.elementCount(of: dims), n <= Self.maxLaidOutElements else {
            throw ConvolutionError.unsupported(algorithm: "any algorithm", reason: "stride \(d.stride.height)x\(d.stride.width) and padding "
                + "\(d.padding) on a \(input.height)x\(input.width) input: its padded input in whole strides would be "
                + "\(dims.map(String.init).joined(separator: " × ")) floats, over 2^31")
        }
    }

    /// Most floats of an image's padded input laid out in whole strides: 2³¹ (8 GB; a tensor of more is refused by
    /// the graph's default 4 GB limit anyway).
    static let maxLaidOutElements = 1 << 31

    var inputPlane: Int { input.height * input.width }
    var outputPlane: Int { output.height * output.width }

    /// The per-plane geometry handed to kernels.
    var geometry: ConvolutionGeometry {
        let d = descriptor
        return ConvolutionGeometry(inputHeight: input.height, inputWidth: input.width,
                                   kernelHeight: d.kernel.height, kernelWidth: d.kernel.width,
                                   strideHeight: d.stride.height, strideWidth: d.stride.width,
                                   dilationHeight: d.dilation.height, dilationWidth: d.dilation.width,
                                   padTop: d.padding.top, padLeft: d.padding.left,
                                   outputHeight: output.height, outputWidth: output.width)
    }
}

/// One algorithm's prepared form of a layer: transformed weights plus whatever it precomputed.
protocol ConvolutionImplementation: AnyObject, Sendable {
    /// Bytes held for the prepared weights (kernel spectra, re-laid-out weights, …).
    var preparedBytes: Int { get }
    /// A short description of the choices made at prepare time (e.g. the FFT tiling).
    var summary: String { get }
    /// Computes `batch` images: `input` is `[batch, Cin, H, W]`, `output` `[batch, Cout, outH, outW]`;
    /// `residual`, when given, has the output's shape and is added before the activation.
    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
             batch: Int, threads: Int)
    /// Whether a new output tensor is better left unzeroed. Every implementation overwrites its whole output
    /// (a test runs each into a NaN-filled one); zeroing first still pays where the kernel's stores are scattered
    /// (a `memset` writes whole lines without reading them, a store into an uncached line reads it first: the
    /// fifth session's uninitialised 1x1 outputs were slower), not where they sweep the output plane by plane.
    var skipsOutputZeroing: Bool { get }
}

extension ConvolutionImplementation {
    var skipsOutputZeroing: Bool { false }
}
