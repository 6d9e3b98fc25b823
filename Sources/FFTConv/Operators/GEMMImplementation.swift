import FFTConvKernels

/// Convolution as GEMM: per image and group, `Y[Og × OH·OW] = W[Og × K] · B[K × OH·OW]`, where B is the
/// input itself for a 1x1 stride-1 unpadded convolution and its im2col otherwise (built per column chunk, so
/// the workspace stays small). Weights are packed once; bias, residual and activation are the GEMM epilogue.
final class GEMMImplementation: ConvolutionImplementation, @unchecked Sendable {
    let problem: ConvolutionProblem
    let kernel: GEMMMicroKernel
    let blocking: GEMM.Blocking
    let packed: PackedGroupWeights
    let bias: [Float]?
    let epilogue: Epilogue
    let pointwise: Bool
    let k: Int
    let chunk: Int
    /// Floats of scratch a call takes from `SharedScratch` (every worker's im2col panel and packing).
    let scratchFloats: Int
    let workerStride: Int

    init(problem p: ConvolutionProblem, weights: Tensor, bias: Tensor?, forcedKernel: String?, threads: Int) throws {
        problem = p
        let d = p.descriptor
        let kernel = try KernelChoice.gemm(rows: d.outputChannelsPerGroup, forced: forcedKernel)
        self.kernel = kernel
        blocking = GEMM.Blocking(for: kernel)
        k = d.inputChannelsPerGroup * d.kernel.height * d.kernel.width
        pointwise = d.kernel == Size2D(1, 1) && d.stride == Size2D(1, 1) && d.padding == .zero
        let k = self.k
        packed = weights.withUnsafeBufferPointer { w in
            PackedGroupWeights(weights: w.baseAddress!, groups: d.groups, rows: d.outputChannelsPerGroup, k: k, kernel: kernel)
        }
        self.bias = bias?.scalars
        epilogue = d.activation.epilogue
        // Column chunks: a multiple of the B block, and at most ~4 MB of im2col per worker.
        let columns = p.outputPlane
        let byMemory = Swift.max(kernel.nr, (1 << 20) / Swift.max(k, 1) / kernel.nr * kernel.nr)
        chunk = Swift.min(roundUp(columns, kernel.nr), Swift.max(kernel.nr, Swift.min(byMemory, blocking.nc * 4)))
        workerStride = GEMM.packedBSize(kernel: kernel, blocking: blocking) + (pointwise ? 0 : k * chunk)
        scratchFloats = threads * workerStride
    }

    var preparedBytes: Int { packed.buffer.count * 4 }
    var summary: String { "\(kernel.name)\(pointwise ? ", 1x1 direct" : ", im2col")" }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
             batch: Int, threads: Int) {
        let p = problem, d = p.descriptor
        let og = d.outputChannelsPerGroup, cg = d.inputChannelsPerGroup
        let columns = p.outputPlane
        let chunks = (columns + chunk - 1) / chunk
        let geometry = p.geometry
        // Fewer column chunks than threads (small planes: ResNet's 1x1 stride-2 layers onto 7²): each chunk's
        // output channels are split too, in whole panels; every element is still computed the same way.
        let panels = (og + kernel.mr - 1) / kernel.mr
        let parts = batch * d.groups * chunks < threads ? Swift.min(threads, panels) : 1
        SharedScratch.withBuffer(count: scratchFloats) { ws in  // written before read: network-wide scratch
            bias.withUnsafeOptionalBufferPointer { bias in
                Parallel.forEachRange(count: batch * d.groups * chunks * parts, threads: threads) { worker, items in
                    let scratch = ws + worker * workerStride
                    let cols = scratch + GEMM.packedBSize(kernel: kernel, blocking: blocking)
                    for partItem in items {
                        let item = partItem / parts, part = partItem % parts
                        let rows = (part * panels / parts * kernel.mr)..<Swift.min(og, (part + 1) * panels / parts * kernel.mr)
                        let n = item / (d.groups * chunks), g = item / chunks % d.groups, c = item % chunks
                        let range = (c * chunk)..<Swift.min(columns, (c + 1) * chunk)
                        let x = input + (n * d.inputChannels + g * cg) * p.inputPlane
                        let y = output + (n * d.outputChannels + g * og) * p.outputPlane
                        let e = GEMMEpilogue(bias: bias.map { $0.baseAddress! + g * og },
                                             residual: residual.map { UnsafePointer($0 + (n * d.outputChannels + g * og) * p.outputPlane) },
                                             residualStride: p.outputPlane, activation: epilogue)
                        if pointwise {
                            GEMM.run(kernel: kernel, blocking: blocking, m: og, n: columns, k: k, packedA: packed.group(g),
                                     b: x, bRowStride: p.inputPlane, bColStride: 1, c: y, ldc: p.outputPlane,
                                     epilogue: e, rows: rows, cols: range, scratch: scratch)
                        } else {
                            Im2Col.run(input: x, channels: cg, geometry: geometry, columns: range, into: cols)
                            // B's column j of this chunk is output column range.lowerBound + j: shift B's base.
                            GEMM.run(kernel: kernel, blocking: blocking, m: og, n: columns, k: k, packedA: packed.group(g),
                                     b: UnsafePointer(cols) - range.lowerBound, bRowStride: range.count, bColStride: 1,
                                     c: y, ldc: p.outputPlane, epilogue: e, rows: rows, cols: range, scratch: scratch)
                        }
                    }
                }
            }
        }
    }
}
