import FFTConvKernels

/// Depthwise convolution (one input and one output channel per group): each channel's plane is rewritten
/// into a `FlatPhaseLayout` (`dw_flat32`: unpadded stride phases between zero margins) or a `PhaseLayout`
/// (the other kernels: padded phases) — the layout change — then the kernel computes flat positions with
/// every tap as one broadcast weight times a contiguous vector load; bias, residual and activation on the
/// store.
final class DepthwiseImplementation: ConvolutionImplementation, @unchecked Sendable {
    let problem: ConvolutionProblem
    let kernel: DepthwiseKernel
    let layout: PhaseLayout
    /// The flat layout with its column masks (`dw_flat32` only).
    let flat: (layout: FlatPhaseLayout, masks: [UInt32], masked: [Bool])?
    /// The padded blocked layout with the weights and bias in blocks of 16 channels (`dw_blocked16` only).
    let blocked: (layout: DepthwiseBlockedKernels.Layout, weights: AlignedBuffer, bias: AlignedBuffer?)?
    let weights: AlignedBuffer
    let tapOffsets: [Int]
    let bias: [Float]?
    let epilogue: Epilogue
    let workspace: WorkspacePool
    let workerStride: Int

    init(problem p: ConvolutionProblem, weights: Tensor, bias: Tensor?, forcedKernel: String?, threads: Int) throws {
        let d = p.descriptor
        guard d.isDepthwise else {
            throw ConvolutionError.unsupported(algorithm: "depthwise",
                                               reason: "needs groups == input channels == output channels, got \(d)")
        }
        problem = p
        kernel = try KernelChoice.depthwise(forced: forcedKernel, geometry: p.geometry, channels: d.outputChannels)
        layout = PhaseLayout(geometry: p.geometry, padBottom: d.padding.bottom, padRight: d.padding.right, lanes: kernel.lanes)
        self.weights = weights.storage
        var offsets: [Int] = []
        let slice: Int  // one worker's scratch floats
        if case .blocked = kernel.form {
            let l = DepthwiseBlockedKernels.Layout(geometry: p.geometry)
            let (packed, packedBias) = Self.packBlocked(weights: weights, bias: bias, channels: d.outputChannels,
                                                        taps: d.kernel.height * d.kernel.width)
            blocked = (l, packed, packedBias)
            flat = nil
            slice = l.bufferSize
        } else if case .stride2 = kernel.form {
            flat = nil
            blocked = nil
            slice = DepthwiseStride2Kernels.scratchFloats
        } else if case .flat = kernel.form, let f = FlatPhaseLayout(geometry: p.geometry) {
            for kh in 0..<d.kernel.height {
                for kw in 0..<d.kernel.width { offsets.append(f.tapOffset(kh: kh, kw: kw)) }
            }
            let (masks, masked) = f.columnMasks()
            flat = (f, masks, masked)
            blocked = nil
            slice = f.bufferSize
        } else {
            for kh in 0..<d.kernel.height {
                for kw in 0..<d.kernel.width { offsets.append(layout.tapOffset(channel: 0, channels: 1, kh: kh, kw: kw)) }
            }
            flat = nil
            blocked = nil
            slice = layout.imageSize(channels: 1) + roundUp(layout.positions, kernel.lanes)
        }
        workerStride = Parallel.workerStride(slice, threads: threads)
        tapOffsets = offsets
        self.bias = bias?.scalars
        epilogue = d.activation.epilogue
        workspace = WorkspacePool(count: threads * workerStride)
    }

    /// Weights and bias in `dw_blocked16`'s blocks of 16 channels (`DepthwiseBlockedKernels.packWeights`; the
    /// bias zero past the last channel, nil without one).
    static func packBlocked(weights: Tensor, bias: Tensor?, channels: Int, taps: Int) -> (AlignedBuffer, AlignedBuffer?) {
        let blocks = DepthwiseBlockedKernels.blocks(channels), block = DepthwiseBlockedKernels.block
        let packed = AlignedBuffer(count: blocks * taps * block)
        DepthwiseBlockedKernels.packWeights(weights.storage.pointer, channels: channels, taps: taps, into: packed.pointer)
        let packedBias = bias.map { b -> AlignedBuffer in
            let out = AlignedBuffer(count: blocks * block)
            for c in 0..<channels { out.pointer[c] = b.storage.pointer[c] }
            return out
        }
        return (packed, packedBias)
    }

    /// The blocked and flat kernels write each output plane in order, row by row: zeroing it first only adds
    /// writes to a layer bound by memory traffic. (The stride-2 kernel's stores, 32 columns at a time with an
    /// overlapping last step, ran slower into an unzeroed output.)
    var skipsOutputZeroing: Bool {
        switch kernel.form {
        case .blocked, .flat: return true
        default: return false
        }
    }
    var preparedBytes: Int { (weights.count + (blocked.map { $0.weights.count + ($0.bias?.count ?? 0) } ?? 0)) * 4 }
    var summary: String {
        if case .stride2 = kernel.form { return "\(kernel.name), straight from the input planes" }
        if let b = blocked?.layout { return "\(kernel.name), blocked layout \(b.paddedHeight)x\(b.paddedWidth)x\(DepthwiseBlockedKernels.block)" }
        if let f = flat?.layout { return "\(kernel.name), flat layout \(f.phases)x\(f.phaseHeight)x\(f.phaseWidth)" }
        return "\(kernel.name), phase layout \(layout.phases)x\(layout.phaseHeight)x\(layout.phaseWidth)"
    }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
             batch: Int, threads: Int) {
        if case .stride2 = kernel.form {
            let channels = problem.descriptor.outputChannels, g = problem.geometry
            workspace.withBuffer { ws in
                bias.withUnsafeOptionalBufferPointer { bias in
                    Parallel.forEachRange(count: batch * channels, threads: threads) { worker, items in
                        DepthwiseStride2Kernels.runPlanes(geometry: g, items: items, channels: channels, input: input, weights: weights.pointer,
                                                          bias: bias?.baseAddress, output: output, residual: residual, activation: epilogue,
                                                          scratch: ws + worker * workerStride)
                    }
                }
            }
            return
        }
        if let blocked {
            runBlocked(blocked.layout, weights: blocked.weights, bias: blocked.bias, input: input, output: output,
                       residual: residual, batch: batch, threads: threads)
            return
        }
        if let flat {
            runFlat(flat.layout, masks: flat.masks, masked: flat.masked, input: input, output: output,
                    residual: residual, batch: batch, threads: threads)
            return
        }
        let p = problem, d = p.descriptor
        let taps = tapOffsets.count, lanes = kernel.lanes
        let tiles = (layout.positions + lanes - 1) / lanes
        workspace.withBuffer { ws in
            tapOffsets.withUnsafeBufferPointer { offs in
                bias.withUnsafeOptionalBufferPointer { bias in
                    Parallel.forEachRange(count: batch * d.outputChannels, threads: threads) { worker, items in
                        let plane = ws + worker * workerStride, tile = plane + layout.imageSize(channels: 1)
                        for item in items {
                            let c = item % d.outputChannels
                            layout.fill(input: input + item * p.inputPlane, channels: 1, channelRange: 0..<1, buffer: plane)
                            switch kernel.form {
                            case .rows, .flat, .blocked, .stride2:  // (the last three are served before this loop)
                                DepthwiseKernels.rows(plane: plane, phaseWidth: layout.phaseWidth, outputHeight: p.output.height,
                                                      outputWidth: p.output.width, tapOffsets: offs.baseAddress!, taps: taps,
                                                      weights: weights.pointer + c * taps, out: output + item * p.outputPlane,
                                                      bias: bias?[c] ?? 0, residual: residual.map { $0 + item * p.outputPlane },
                                                      activation: epilogue)
                            case .tiles(let function):
                                let y = output + item * p.outputPlane - c * p.outputPlane  // store addresses planes by row0 = c
                                let res = residual.map { $0 + item * p.outputPlane - c * p.outputPlane }
                                for t in 0..<tiles {
                                    function(plane, t * lanes, offs.baseAddress!, taps, weights.pointer + c * taps, tile + t * lanes)
                                }
                                layout.store(tile: tile, tileStride: 0, rows: 1, lanes: layout.positions, f0: 0, row0: c,
                                             output: y, residual: res, bias: bias?.baseAddress, activation: epilogue)
                            }
                        }
                    }
                }
            }
        }
    }

    /// `run` for `dw_flat32`: fill the channel's flat phases (the margins stay zero from allocation), then one
    /// call computes the whole output plane.
    private func runFlat(_ f: FlatPhaseLayout, masks: [UInt32], masked: [Bool], input: UnsafePointer<Float>,
                         output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, batch: Int, threads: Int) {
        let d = problem.descriptor
        workspace.withBuffer { ws in
            tapOffsets.withUnsafeBufferPointer { offs in
                masks.withUnsafeBufferPointer { masks in
                    masked.withUnsafeBufferPointer { masked in
                        bias.withUnsafeOptionalBufferPointer { bias in
                            Parallel.forEachRange(count: batch * d.outputChannels, threads: threads) { worker, items in
                                DepthwiseFlatKernels.runPlanes(layout: f, items: items, channels: d.outputChannels, input: input,
                                                               buffer: ws + worker * workerStride, tapOffsets: offs.baseAddress!,
                                                               weights: weights.pointer, masks: masks.baseAddress!,
                                                               maskedColumns: masked.baseAddress!, output: output,
                                                               bias: bias?.baseAddress, residual: residual, activation: epilogue)
                            }
                        }
                    }
                }
            }
        }
    }

    /// `run` for `dw_blocked16`: each worker takes whole blocks of 16 channels (transpose in, compute,
    /// transpose out) in its own buffer, whose margins stay zero from allocation.
    private func runBlocked(_ l: DepthwiseBlockedKernels.Layout, weights: AlignedBuffer, bias: AlignedBuffer?, input: UnsafePointer<Float>,
                            output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, batch: Int, threads: Int) {
        let channels = problem.descriptor.outputChannels
        workspace.withBuffer { ws in
            Parallel.forEachRange(count: batch * DepthwiseBlockedKernels.blocks(channels), threads: threads) { worker, items in
                DepthwiseBlockedKernels.runBlocks(layout: l, items: items, channels: channels, input: input,
                                                  buffer: ws + worker * workerStride, weights: weights.pointer,
                                                  bias: bias.map { UnsafePointer($0.pointer) }, output: output,
                                                  residual: residual, activation: epilogue)
            }
        }
    }
}
