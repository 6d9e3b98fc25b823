import FFTConvKernels

/// A network stem — a convolution over few input channels whose output only a max pool reads (SqueezeNet's
/// 3→64 3x3 stride 2 and its 3x3 stride-2 pool, ResNet's 7x7 stem and pool, AlexNet's 11x11 stride 4) — run as one
/// step that never writes the convolution's output.
///
/// Unfused, the convolution writes 64 NCHW planes (3.2 MB on SqueezeNet, out of L2) and the pool reads them back
/// with shuffles to pick the stride-2 columns (0.086 ms of SqueezeNet's 3.1 at one thread, against ONNX Runtime's
/// 0.041 in its channel-blocked layout). Here each convolution row is computed with the output channels as vector
/// lanes (`ConvolutionRowKernels.convRow`: 6 positions × 64 channels per tile, 27 taps for SqueezeNet — the form
/// with four weight vectors and six broadcasts per tap, where the NCHW kernel's 8×32 tile needs eight broadcasts
/// and two loads for half the products), into a ring of as many rows as the pool's window; each pool row is then
/// a maximum over whole vectors (`maxPoolRow`), and only the pooled row — a quarter of the convolution's output —
/// is transposed into the NCHW output, 16×16 floats at a time. The convolution sums run in the direct kernels'
/// order with their epilogue, and maxima are exact: the same bits as the two layers unfused (`FusionTests`).
/// Workers take ranges of pool rows; a convolution row two ranges share is computed by both.
final class ConvolutionPoolFusion: @unchecked Sendable {
    let convolution: ConvolutionDescriptor
    let pool: PoolingAttributes
    let inputSize: Size2D
    /// The convolution's output size, and the pool's.
    let convolutionSize: Size2D
    let outputSize: Size2D
    let threads: Int
    /// `[k][Cout]`: row `k = (c, i, j)` holds every output channel's tap weight.
    let weights: AlignedBuffer
    let bias: AlignedBuffer
    let lo: Float, hi: Float
    /// Input offsets of the `k` taps from a position's first tap, in the (padded) input.
    let taps: [Int]
    /// The zero-padded input's size (the input itself when the convolution has no padding).
    let paddedSize: Size2D
    let padded: Bool
    /// Per call: the padded image (when padded); per worker: the ring of convolution rows, the pooled row, the
    /// transpose's staging.
    let workspace: WorkspacePool
    let workerFloats: Int, imageFloats: Int

    /// Most taps (input channels × kernel area) the fused stem takes: SqueezeNet's 27, ResNet's 147, AlexNet's 363
    /// (its 11x11 stride-4 stem + pool 0.75–0.76 → 0.68–0.69 ms: all 363 taps, where the direct kernel's polyphase
    /// form pads the kernel to 12×12).
    static let maxTaps = 400

    /// Whether `d` followed by the max pool `a` runs fused: one group, undilated, at most `maxTaps` taps, output
    /// channels a multiple of 16, a clamp-type activation (none, ReLU, clip), output rows of at least 6 positions;
    /// an undilated pool whose rows start inside the convolution's output.
    static func applies(convolution d: ConvolutionDescriptor, pool a: PoolingAttributes, input: Size2D) -> Bool {
        guard d.groups == 1, d.dilation == Size2D(1, 1), d.inputChannels * d.kernel.height * d.kernel.width <= maxTaps,
              d.outputChannels % 16 == 0, d.activation.epilogue.clipBounds != nil, a.dilation == Size2D(1, 1),
              a.kernel.height >= 1, a.kernel.width >= 1,
              let problem = try? ConvolutionProblem(descriptor: d, input: input), problem.output.width >= ConvolutionRowKernels.positionsPerTile,
              let shape = try? TensorOperations.poolShape([1, d.outputChannels, problem.output.height, problem.output.width], a),
              shape[2] >= 1, shape[3] >= 1 else { return false }
        // Every window must hold a convolution row and column (ONNX sizes guarantee it; checked, not assumed).
        let lastRow = (shape[2] - 1) * a.stride.height - a.padding.top, lastColumn = (shape[3] - 1) * a.stride.width - a.padding.left
        return lastRow < problem.output.height && lastColumn < problem.output.width
            && a.padding.top < a.kernel.height && a.padding.left < a.kernel.width
    }

    /// Prepares the pair; throws `unsupported` when `applies` is false, or a shape error for mismatched weights.
    init(convolution d: ConvolutionDescriptor, weights w: Tensor, bias b: Tensor?, pool a: PoolingAttributes, input: Size2D,
         threads: Int) throws {
        guard Self.applies(convolution: d, pool: a, input: input) else {
            throw ConvolutionError.unsupported(algorithm: "direct", reason: "a fused stem convolution + max pool does not apply to \(d) then this pool")
        }
        try ReferenceConvolution.checkWeights(d, w, b)
        let problem = try ConvolutionProblem(descriptor: d, input: input)
        convolution = d
        pool = a
        inputSize = input
        convolutionSize = problem.output
        let shape = try TensorOperations.poolShape([1, d.outputChannels, problem.output.height, problem.output.width], a)
        outputSize = Size2D(shape[2], shape[3])
        self.threads = threads
        let p = d.padding
        padded = p != .zero
        paddedSize = Size2D(input.height + p.top + p.bottom, input.width + p.left + p.right)
        let cout = d.outputChannels, kh = d.kernel.height, kw = d.kernel.width, k = d.inputChannels * kh * kw
        weights = GroupedLanesImplementation.tapsByChannel(w, groups: 1, channels: cout, k: k)
        bias = b?.storage.copy() ?? AlignedBuffer(count: cout)  // (shape checked: `cout` values; zeros without one)
        let bounds = d.activation.epilogue.clipBounds ?? (-.infinity, .infinity)
        (lo, hi) = (bounds.lo, bounds.hi)
        let plane = paddedSize.height * paddedSize.width
        taps = problem.geometry.tapOffsets(channels: d.inputChannels, planeStride: plane, rowStride: paddedSize.width)
        imageFloats = padded ? d.inputChannels * plane : 0
        // The ring (one convolution row per pool-window row), the pooled row, the transpose's staging.
        workerFloats = Parallel.workerStride((a.kernel.height * problem.output.width + outputSize.width) * cout + Transpose.stagingFloats,
                                             threads: threads)
        workspace = WorkspacePool(count: imageFloats + threads * workerFloats)
    }

    /// Bytes of prepared weights.
    var preparedBytes: Int { (weights.count + bias.count + taps.count * 2) * 4 }

    /// The choices made at prepare.
    var summary: String {
        let tile = ConvolutionRowKernels.tilePositions(positions: convolutionSize.width, channels: convolution.outputChannels,
                                                       block: KernelTarget.wideRegisters ? 64 : 32)
        return "conv rows in \(tile)-position tiles with channels as lanes, \(pool.kernel.height)x\(pool.kernel.width) max pool on channel vectors, no intermediate tensor"
    }

    /// The pool's output for `input` (`[N, Cin, H, W]`); every output row of every plane is written by the
    /// transposes of `poolRows`.
    func callAsFunction(_ input: Tensor) throws -> Tensor {
        try FusedStep.run(input, channels: convolution.inputChannels, size: inputSize,
                          outputShape: [convolution.outputChannels, outputSize.height, outputSize.width]) { x, y, batch in
            run(input: x, output: y, batch: batch)
        }
    }

    private func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, batch: Int) {
        let d = convolution, cin = d.inputChannels, cout = d.outputChannels
        let plane = inputSize.height * inputSize.width, outPlane = outputSize.height * outputSize.width
        let p = d.padding, pw = paddedSize.width, ph = paddedSize.height
        workspace.withBuffer { ws in
            for n in 0..<batch {
                var x = input + n * cin * plane
                if padded {
                    let image = ws
                    Parallel.forEachRange(count: cin, threads: threads) { _, channels in
                        for c in channels {
                            let dst = image + c * ph * pw
                            Copy.zero(dst, ph * pw)
                            for r in 0..<inputSize.height {
                                Copy.floats(dst + (r + p.top) * pw + p.left, x + c * plane + r * inputSize.width, inputSize.width)
                            }
                        }
                    }
                    x = UnsafePointer(image)
                }
                let y = output + n * cout * outPlane
                let source = x
                Parallel.forEachRange(count: outputSize.height, threads: threads) { worker, rows in
                    poolRows(rows, input: source, output: y, buffer: ws + imageFloats + worker * workerFloats)
                }
            }
        }
    }

    /// Pool rows `rows` of one image: their convolution rows computed into the ring, pooled, transposed out.
    private func poolRows(_ rows: Range<Int>, input x: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>,
                          buffer: UnsafeMutablePointer<Float>) {
        let d = convolution, cout = d.outputChannels, cw = convolutionSize.width, ch = convolutionSize.height
        let slots = pool.kernel.height, rowFloats = cw * cout
        let pooled = buffer + slots * rowFloats, staging = pooled + outputSize.width * cout
        let outPlane = outputSize.height * outputSize.width, ow = outputSize.width
        var slotRow = [Int](repeating: -1, count: slots)
        taps.withUnsafeBufferPointer { taps in
            guard let taps = taps.baseAddress else { return }
            withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: slots) { pointers in
                guard let window = pointers.baseAddress else { return }
                for i in rows {
                    let start = i * pool.stride.height - pool.padding.top
                    let r0 = Swift.max(0, start), r1 = Swift.min(ch, start + pool.kernel.height)
                    for r in r0..<r1 {
                        let slot = r % slots, ring = buffer + slot * rowFloats
                        if slotRow[slot] != r {
                            ConvolutionRowKernels.convRow(input: x + r * d.stride.height * paddedSize.width, positions: cw,
                                                          positionStride: d.stride.width, taps: taps, k: self.taps.count,
                                                          weights: weights.pointer, bias: bias.pointer, channels: cout,
                                                          lo: lo, hi: hi, into: ring)
                            slotRow[slot] = r
                        }
                        window[r - r0] = UnsafePointer(ring)
                    }
                    ConvolutionRowKernels.maxPoolRow(rows: window, rowCount: r1 - r0, positions: cw, channels: cout,
                                                     kernel: pool.kernel.width, stride: pool.stride.width,
                                                     padLeft: pool.padding.left, outputs: ow, into: pooled)
                    // pooled[j][o] → y[o][i][j]
                    Transpose.floats(pooled, sourceStride: cout, y + i * ow, destinationStride: outPlane, rows: ow, columns: cout,
                                     staging: staging)
                }
            }
        }
    }
}
