import FFTConvKernels

/// A 3x3 stride-1 depthwise layer whose output only a 1x1 layer reads (MobileNetV2's first block: 32 channels
/// at 112², then 32→16), run band by band so that the depthwise output never leaves the cache.
///
/// Apart, the depthwise layer writes 32 planes of 112² (1.6 MB, past L2) and the 1x1 layer reads them back as 32
/// streams at once: 0.071 ms alone, 0.087–0.111 in the network. Here a worker computes `bandRows` rows of every
/// channel's depthwise output into its band buffer (`DepthwiseRowKernels.rows3x3`, straight from the input
/// planes), then runs the 1x1 product over those positions with the direct path's micro-kernel, written
/// straight into the output rows with bias, residual and activation (a residual add after the 1x1 layer — MobileNetV3's
/// first block, 16 channels at 112², 16→16 then + its input — is read by the micro-kernel's store: ORT's per-node
/// profile put that block at 0.155 ms against our 0.306 apart). Bands are split between workers; the depthwise sums
/// run in another order than `dw_flat32`'s, so results match the layers apart to rounding, not bit for bit.
final class DepthwisePointwiseFusion: @unchecked Sendable {
    let depthwise: ConvolutionDescriptor
    let pointwise: ConvolutionDescriptor
    let inputSize: Size2D
    let threads: Int
    let kernel: GEMMMicroKernel
    let packed: PackedGroupWeights
    let depthwiseWeights: [Float]
    let depthwiseBias: [Float]
    let pointwiseBias: AlignedBuffer
    let depthwiseBounds: (lo: Float, hi: Float)
    let pointwiseBounds: (lo: Float, hi: Float)
    /// Offsets of the 1x1 layer's input rows (one per channel) in a band buffer.
    let offsets: [Int]
    /// Floats of scratch per call: each worker's band buffer (written by the depthwise rows before the 1x1 reads it).
    let scratchFloats: Int
    let workerFloats: Int

    /// Output rows per band.
    static let bandRows = 8
    /// Most channels of the depthwise layer (its band buffer: channels × 8 rows × width floats per worker).
    static let maxChannels = 64
    /// Narrowest plane fused (measured on 112² only).
    static let minWidth = 112

    /// Whether the pair runs fused: a 3x3, stride-1, padding-1, undilated depthwise layer of at most `maxChannels`
    /// channels on planes at least `minWidth` wide whose height is a multiple of `bandRows`, with a clamp-type
    /// activation; then a 1x1, stride-1, unpadded layer of one group over those channels whose output channels
    /// fill whole micro-kernel panels, with a clamp-type activation; a band's positions whole micro-kernel tiles.
    static func applies(depthwise d: ConvolutionDescriptor, pointwise p: ConvolutionDescriptor, input: Size2D) -> Bool {
        guard d.isDepthwise, d.kernel == Size2D(3, 3), d.stride == Size2D(1, 1), d.dilation == Size2D(1, 1),
              d.padding == Padding(top: 1, left: 1, bottom: 1, right: 1), d.outputChannels <= maxChannels,
              d.activation.epilogue.clipBounds != nil,
              p.kernel == Size2D(1, 1), p.stride == Size2D(1, 1), p.padding == .zero, p.groups == 1, p.dilation == Size2D(1, 1),
              p.inputChannels == d.outputChannels, p.activation.epilogue.clipBounds != nil,
              input.width >= minWidth, input.height % bandRows == 0,
              let k = try? KernelChoice.gemm(rows: p.outputChannels, forced: nil) else { return false }
        return p.outputChannels % k.mr == 0 && (bandRows * input.width) % k.nr == 0
    }

    /// Prepares the pair; throws `unsupported` when `applies` is false, or a shape error for mismatched weights.
    init(depthwise d: ConvolutionDescriptor, depthwiseWeights: Tensor, depthwiseBias: Tensor?,
         pointwise p: ConvolutionDescriptor, pointwiseWeights: Tensor, pointwiseBias: Tensor?, input: Size2D, threads: Int) throws {
        try FusedStep.checkPair(applies: Self.applies(depthwise: d, pointwise: p, input: input),
                                reason: "a fused depthwise + 1x1 pair does not apply to \(d) then \(p)",
                                (d, depthwiseWeights, depthwiseBias), (p, pointwiseWeights, pointwiseBias))
        depthwise = d
        pointwise = p
        inputSize = input
        self.threads = threads
        let kernel = try KernelChoice.gemm(rows: p.outputChannels, forced: nil)
        self.kernel = kernel
        packed = pointwiseWeights.withUnsafeBufferPointer { w in
            PackedGroupWeights(weights: w.baseAddress!, groups: 1, rows: p.outputChannels, k: p.inputChannels, kernel: kernel)
        }
        self.depthwiseWeights = depthwiseWeights.scalars
        self.depthwiseBias = depthwiseBias?.scalars ?? [Float](repeating: 0, count: d.outputChannels)
        self.pointwiseBias = pointwiseBias?.storage.copy() ?? AlignedBuffer(count: p.outputChannels)  // (shape checked)
        depthwiseBounds = d.activation.epilogue.clipBounds ?? (-.infinity, .infinity)
        pointwiseBounds = p.activation.epilogue.clipBounds ?? (-.infinity, .infinity)
        let bandPlane = Self.bandRows * input.width
        offsets = (0..<p.inputChannels).map { $0 * bandPlane }
        workerFloats = Parallel.workerStride(p.inputChannels * bandPlane, threads: threads)
        scratchFloats = threads * workerFloats
    }

    /// Bytes of prepared weights: both layers'.
    var preparedBytes: Int { (packed.buffer.count + pointwiseBias.count + depthwiseWeights.count + depthwiseBias.count) * 4 }

    /// The choices made at prepare.
    var summary: String {
        "depthwise 3x3 in bands of \(Self.bandRows) rows into \(kernel.name) 1x1, no intermediate tensor"
    }

    /// The 1x1 layer's output for `input` (`[N, C, H, W]`), plus `residual` (the output's shape) before the 1x1
    /// layer's activation when given; every output row is written by the bands' products.
    func callAsFunction(_ input: Tensor, residual: Tensor? = nil) throws -> Tensor {
        let shape = [pointwise.outputChannels, inputSize.height, inputSize.width]
        if let residual, residual.shape != [input.shape.first ?? 0] + shape {
            throw ConvolutionError.residualShapeMismatch(expected: [input.shape.first ?? 0] + shape, actual: residual.shape)
        }
        return try FusedStep.run(input, channels: depthwise.inputChannels, size: inputSize, outputShape: shape) { x, y, batch in
            guard let residual else { return run(input: x, output: y, residual: nil, batch: batch) }
            residual.withUnsafeBufferPointer { r in run(input: x, output: y, residual: r.baseAddress, batch: batch) }
        }
    }

    private func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, batch: Int) {
        let c = depthwise.outputChannels, m = pointwise.outputChannels
        let plane = inputSize.height * inputSize.width
        let bands = inputSize.height / Self.bandRows
        SharedScratch.withBuffer(count: scratchFloats) { ws in
            offsets.withUnsafeBufferPointer { offs in
                guard let offsets = offs.baseAddress else { return }
                for n in 0..<batch {
                    let x = input + n * c * plane, y = output + n * m * plane, r = residual.map { $0 + n * m * plane }
                    Parallel.forEachRange(count: bands, threads: threads) { worker, items in
                        let band = ws + worker * workerFloats
                        for b in items { runBand(b, input: x, output: y, residual: r, band: band, offsets: offsets) }
                    }
                }
            }
        }
    }

    /// Band `b`: its depthwise rows for every channel into `band`, then the 1x1 product (plus `residual`'s rows)
    /// into the output rows.
    private func runBand(_ b: Int, input x: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>,
                         residual: UnsafePointer<Float>?, band: UnsafeMutablePointer<Float>, offsets: UnsafePointer<Int>) {
        let rows = Self.bandRows, width = inputSize.width, height = inputSize.height, plane = height * width
        let r0 = b * rows, bandPlane = rows * width
        let c = depthwise.outputChannels, m = pointwise.outputChannels
        depthwiseWeights.withUnsafeBufferPointer { dw in
            guard let dw = dw.baseAddress else { return }
            for ch in 0..<c {
                DepthwiseRowKernels.rows3x3(plane: x + ch * plane, height: height, width: width, firstRow: r0, rows: rows,
                                            weights: dw + ch * 9, bias: depthwiseBias[ch], lo: depthwiseBounds.lo,
                                            hi: depthwiseBounds.hi, into: band + ch * bandPlane)
            }
        }
        let mr = kernel.mr, nr = kernel.nr, a = packed.group(0)
        for t in 0..<(bandPlane / nr) {
            for panel in 0..<(m / mr) {
                let row = panel * mr, at = row * plane + r0 * width + t * nr
                kernel.fused(c, a + panel * c * mr, band + t * nr, offsets, y + at, plane, pointwiseBias.pointer + row,
                             residual.map { $0 + at }, pointwiseBounds.lo, pointwiseBounds.hi)
            }
        }
    }
}
