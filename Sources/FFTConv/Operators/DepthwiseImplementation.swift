import FFTConvKernels

/// Depthwise convolution (one input and one output channel per group): each channel's plane is rewritten
/// into a `PhaseLayout` (the layout change), then `dw_*` kernels compute tiles of flat positions with every
/// tap as one broadcast weight times a contiguous vector load; bias, residual and activation on the store.
final class DepthwiseImplementation: ConvolutionImplementation, @unchecked Sendable {
    let problem: ConvolutionProblem
    let kernel: DepthwiseKernel
    let layout: PhaseLayout
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
        kernel = try KernelChoice.depthwise(forced: forcedKernel, outputWidth: p.output.width)
        layout = PhaseLayout(geometry: p.geometry, padBottom: d.padding.bottom, padRight: d.padding.right, lanes: kernel.lanes)
        self.weights = weights.storage
        var offsets: [Int] = []
        for kh in 0..<d.kernel.height {
            for kw in 0..<d.kernel.width { offsets.append(layout.tapOffset(channel: 0, channels: 1, kh: kh, kw: kw)) }
        }
        tapOffsets = offsets
        self.bias = bias?.scalars
        epilogue = d.activation.epilogue
        workerStride = layout.imageSize(channels: 1) + roundUp(layout.positions, kernel.lanes)
        workspace = WorkspacePool(count: threads * workerStride)
    }

    var preparedBytes: Int { weights.count * 4 }
    var summary: String { "\(kernel.name), phase layout \(layout.phases)x\(layout.phaseHeight)x\(layout.phaseWidth)" }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
             batch: Int, threads: Int) {
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
                            case .rows:
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
}
