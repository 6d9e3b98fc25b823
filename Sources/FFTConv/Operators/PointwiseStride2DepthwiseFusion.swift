import FFTConvKernels

/// A 1x1 layer whose output only a 3x3 stride-2 depthwise layer reads (MobileNetV2's 24→144 expansion at 56²
/// before a downsampling block; its 16→96 one at 112² runs in `PointwiseDepthwiseFusion`'s bands, which took it
/// over: 0.62 → 0.54 ms), run band by band so that the expanded tensor never leaves the cache.
///
/// Apart, the 1x1 layer writes its expanded output (96 planes of 112²: 4.8 MB) and the depthwise layer
/// (`dw_s2direct16`) reads it back from the last-level cache. Here a worker computes, for a band of `bandRows`
/// depthwise output rows, the 1x1 output rows those read (two per output row, plus the row above the band,
/// carried over from the band before) into its band buffer with the direct path's micro-kernel — bias and
/// activation on the store — and then runs `dw_s2direct16` on the band, writing the band's output rows. Threads
/// split the channels (whole micro-kernel panels), each running every band of its own. Both
/// layers' sums are formed by the kernels and in the order they use apart: the same bits as the two layers run
/// one after the other on those kernels.
final class PointwiseStride2DepthwiseFusion: PointwiseDepthwisePair, @unchecked Sendable {
    static let label = "fused 1x1 + stride-2 depthwise"
    let pointwise: ConvolutionDescriptor
    let depthwise: ConvolutionDescriptor
    let inputSize: Size2D
    let outputSize: Size2D
    let threads: Int
    let kernel: GEMMMicroKernel
    let packed: PackedGroupWeights
    let pointwiseBias: AlignedBuffer
    let pointwiseBounds: (lo: Float, hi: Float)
    let depthwiseWeights: AlignedBuffer
    let depthwiseBias: AlignedBuffer?
    let depthwiseEpilogue: Epilogue
    let geometry: ConvolutionGeometry
    /// Offsets of the 1x1 layer's input planes (one per channel) from the first one.
    let offsets: [Int]
    /// Floats of scratch per call: each worker's band buffer and the depthwise kernel's scratch (each row written
    /// before it is read: row 0 is carried over, or above the image and not read).
    let scratchFloats: Int
    let workerFloats: Int

    /// Depthwise output rows per band (measured against 2 and 8 on MobileNetV2's two pairs).
    static let bandRows = 4
    /// Rows of a band buffer: the 1x1 output rows `2·y0 − 1 ..< 2·(y0 + bandRows)` for the band starting at output
    /// row `y0` — the first carried over from the band before.
    static var bufferRows: Int { 2 * bandRows + 1 }
    /// Most input channels of the 1x1 layer (its weight panel stays in L1 while the tiles pass).
    static let maxInputChannels = 64

    /// Whether the pair runs fused: a 1x1, stride-1, unpadded, undilated layer of one group and at most
    /// `maxInputChannels` inputs with a clamp-type activation, whose output channels fill whole micro-kernel
    /// panels; read by a 3x3 stride-2 depthwise layer with one row and column of padding on every side that
    /// `dw_s2direct16` computes, on planes of even height whose output rows come in whole bands and whose band's
    /// input rows are whole micro-kernel tiles (width a multiple of 8); on a build with 16-float registers.
    static func applies(pointwise p: ConvolutionDescriptor, depthwise d: ConvolutionDescriptor, input: Size2D, threads: Int) -> Bool {
        guard KernelTarget.wideRegisters,
              p.kernel == Size2D(1, 1), p.stride == Size2D(1, 1), p.padding == .zero, p.groups == 1, p.dilation == Size2D(1, 1),
              p.inputChannels <= maxInputChannels, p.activation.epilogue.clipBounds != nil,
              d.isDepthwise, d.inputChannels == p.outputChannels, d.kernel == Size2D(3, 3), d.stride == Size2D(2, 2),
              d.dilation == Size2D(1, 1), d.padding == Padding(top: 1, left: 1, bottom: 1, right: 1),
              input.height % 2 == 0, input.width % 8 == 0,
              let problem = try? ConvolutionProblem(descriptor: d, input: input),
              DepthwiseStride2Kernels.supports(problem.geometry), problem.output.height % bandRows == 0,
              let k = try? KernelChoice.gemm(rows: p.outputChannels, forced: nil) else { return false }
        return p.outputChannels % k.mr == 0 && (2 * bandRows * input.width) % k.nr == 0
    }

    /// Prepares the pair; throws `unsupported` when `applies` is false, or a shape error for mismatched weights.
    init(pointwise p: ConvolutionDescriptor, pointwiseWeights: Tensor, pointwiseBias: Tensor?,
         depthwise d: ConvolutionDescriptor, depthwiseWeights: Tensor, depthwiseBias: Tensor?, input: Size2D, threads: Int) throws {
        try FusedStep.checkPair(applies: Self.applies(pointwise: p, depthwise: d, input: input, threads: threads),
                                reason: "a fused 1x1 + stride-2 depthwise pair does not apply to \(p) then \(d)",
                                (p, pointwiseWeights, pointwiseBias), (d, depthwiseWeights, depthwiseBias))
        let problem = try ConvolutionProblem(descriptor: d, input: input)
        pointwise = p
        depthwise = d
        inputSize = input
        outputSize = problem.output
        geometry = problem.geometry
        self.threads = threads
        let kernel = try KernelChoice.gemm(rows: p.outputChannels, forced: nil)
        self.kernel = kernel
        packed = pointwiseWeights.withUnsafeBufferPointer { w in
            PackedGroupWeights(weights: w.baseAddress!, groups: 1, rows: p.outputChannels, k: p.inputChannels, kernel: kernel)
        }
        self.pointwiseBias = pointwiseBias?.storage.copy() ?? AlignedBuffer(count: p.outputChannels)  // (shapes checked)
        pointwiseBounds = p.activation.epilogue.clipBounds ?? (-.infinity, .infinity)
        self.depthwiseWeights = depthwiseWeights.storage.copy()
        self.depthwiseBias = depthwiseBias?.storage.copy()
        depthwiseEpilogue = d.activation.epilogue
        offsets = (0..<p.inputChannels).map { $0 * input.height * input.width }
        workerFloats = Parallel.workerStride(p.outputChannels * Self.bufferRows * input.width + DepthwiseStride2Kernels.scratchFloats,
                                             threads: threads)
        scratchFloats = threads * workerFloats
    }

    /// Bytes of prepared weights: both layers'.
    var preparedBytes: Int {
        (packed.buffer.count + pointwiseBias.count + depthwiseWeights.count + (depthwiseBias?.count ?? 0)) * 4
    }

    /// The choices made at prepare.
    var summary: String {
        "\(kernel.name) 1x1 in bands of \(2 * Self.bandRows) rows into dw_s2direct16, no intermediate tensor"
    }

    /// The depthwise layer's output for `input` (`[N, C, H, W]`); every output row is written by one band.
    func callAsFunction(_ input: Tensor) throws -> Tensor {
        try FusedStep.run(input, channels: pointwise.inputChannels, size: inputSize,
                          outputShape: [depthwise.outputChannels, outputSize.height, outputSize.width]) { x, y, batch in
            run(input: x, output: y, batch: batch)
        }
    }

    private func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, batch: Int) {
        let c = pointwise.inputChannels, m = pointwise.outputChannels, mr = kernel.mr
        let inPlane = inputSize.height * inputSize.width, outPlane = outputSize.height * outputSize.width
        let bands = outputSize.height / Self.bandRows
        SharedScratch.withBuffer(count: scratchFloats) { ws in
            offsets.withUnsafeBufferPointer { offs in
                guard let offsets = offs.baseAddress else { return }
                for n in 0..<batch {
                    let x = input + n * c * inPlane, y = output + n * m * outPlane
                    // Threads split the channels (whole micro-kernel panels), each running every band of its own:
                    // split by bands, each worker's first band had to compute the row above it too (the 56² pair at
                    // 2 threads: 0.091–0.094 ms, 1.7× the 1-thread speed), and the input, 16–24 planes, is small.
                    Parallel.forEachRange(count: m / mr, threads: threads) { worker, panels in
                        let buffer = ws + worker * workerFloats
                        for b in 0..<bands {
                            runBand(b, channels: (panels.lowerBound * mr)..<(panels.upperBound * mr), input: x, output: y,
                                    buffer: buffer, offsets: offsets)
                        }
                    }
                }
            }
        }
    }

    /// Band `b` of output channels `channels` (whole panels): the 1x1 rows its output rows read into `buffer`
    /// (channel `channels.lowerBound + i` at plane `i`), then its depthwise output rows. For `b > 0` the buffer holds
    /// band `b − 1`, whose last row is this band's first.
    private func runBand(_ b: Int, channels: Range<Int>, input x: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>,
                         buffer: UnsafeMutablePointer<Float>, offsets: UnsafePointer<Int>) {
        let w = inputSize.width, n = channels.count, c0 = channels.lowerBound
        let rows = Self.bufferRows, bufferPlane = rows * w
        let y0 = b * Self.bandRows
        // Buffer row 0 (input row 2·y0 − 1): above the image for the first band, else the last band's last row.
        if b > 0 {
            for ch in 0..<n { (buffer + ch * bufferPlane).update(from: buffer + ch * bufferPlane + (rows - 1) * w, count: w) }
        }
        pointwiseRows(input: x + 2 * y0 * w, count: (rows - 1) * w, panels: (c0 / kernel.mr)..<(channels.upperBound / kernel.mr),
                      into: buffer + w, bufferPlane: bufferPlane, offsets: offsets)
        // The band's depthwise rows: from buffer row 0, or at the top of the image from row 1 below one padding row.
        var g = geometry
        g.outputHeight = Self.bandRows
        g.padTop = b == 0 ? 1 : 0
        g.inputHeight = b == 0 ? rows - 1 : rows
        let from = buffer + (b == 0 ? w : 0)
        let outPlane = outputSize.height * outputSize.width
        DepthwiseStride2Kernels.runPlanes(geometry: g, items: 0..<n, channels: n, input: from, inputStride: bufferPlane,
                                          weights: depthwiseWeights.pointer + c0 * 9,
                                          bias: depthwiseBias.map { UnsafePointer($0.pointer + c0) },
                                          output: y + c0 * outPlane + y0 * outputSize.width, outputStride: outPlane, residual: nil,
                                          activation: depthwiseEpilogue, scratch: buffer + pointwise.outputChannels * bufferPlane)
    }

    /// The 1x1 layer's output at `count` positions from `input` (positions of whole input rows, a whole number of
    /// tiles) for the output channels of `panels`, into `into` (the first
    /// panel's first channel; channel planes `bufferPlane` floats apart), bias and activation applied.
    private func pointwiseRows(input: UnsafePointer<Float>, count: Int, panels: Range<Int>, into: UnsafeMutablePointer<Float>,
                               bufferPlane: Int, offsets: UnsafePointer<Int>) {
        let c = pointwise.inputChannels, mr = kernel.mr, a = packed.group(0)
        for j0 in stride(from: 0, to: count, by: kernel.nr) {
            for panel in panels {
                let row = panel * mr
                kernel.fused(c, a + panel * c * mr, input + j0, offsets, into + (row - panels.lowerBound * mr) * bufferPlane + j0,
                             bufferPlane, pointwiseBias.pointer + row, nil, pointwiseBounds.lo, pointwiseBounds.hi)
            }
        }
    }
}
