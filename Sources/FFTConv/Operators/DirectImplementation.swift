import FFTConvKernels

/// Direct convolution on the register-blocked micro-kernel (implicit GEMM).
///
/// Per image, the input is rewritten once into a `PhaseLayout` (zero-padded, split into stride phases — the
/// one place this operator changes a tensor's layout); weights were packed into `mr`-row panels at prepare.
/// Each tile of `mr` output channels × `nr` flat positions is one `igemm` micro-kernel call over
/// K = (input channels of the group) × kH × kW, reading input row k at `base + offsets[k]`; its valid part is
/// written to the NCHW output with bias, residual and activation.
final class DirectImplementation: ConvolutionImplementation, @unchecked Sendable {
    let problem: ConvolutionProblem
    let kernel: GEMMMicroKernel
    let layout: PhaseLayout
    let packed: PackedGroupWeights
    let offsets: [Int]
    let bias: [Float]?
    let epilogue: Epilogue
    let workspace: WorkspacePool
    let threads: Int
    /// Position tiles per work item.
    static let tilesPerItem = 4

    init(problem p: ConvolutionProblem, weights: Tensor, bias: Tensor?, forcedKernel: String?, threads: Int) throws {
        problem = p
        let d = p.descriptor
        let kernel = try KernelChoice.gemm(rows: d.outputChannelsPerGroup, forced: forcedKernel)
        self.kernel = kernel
        layout = PhaseLayout(geometry: p.geometry, padBottom: d.padding.bottom, padRight: d.padding.right, lanes: kernel.nr)
        let k = d.inputChannelsPerGroup * d.kernel.height * d.kernel.width
        packed = weights.withUnsafeBufferPointer { w in
            PackedGroupWeights(weights: w.baseAddress!, groups: d.groups, rows: d.outputChannelsPerGroup, k: k, kernel: kernel)
        }
        var offsets: [Int] = []
        offsets.reserveCapacity(k)
        for c in 0..<d.inputChannelsPerGroup {
            for kh in 0..<d.kernel.height {
                for kw in 0..<d.kernel.width {
                    offsets.append(layout.tapOffset(channel: c, channels: d.inputChannels, kh: kh, kw: kw))
                }
            }
        }
        self.offsets = offsets
        self.bias = bias?.scalars
        epilogue = d.activation.epilogue
        self.threads = threads
        workspace = WorkspacePool(count: layout.imageSize(channels: d.inputChannels) + threads * kernel.mr * kernel.nr)
    }

    var preparedBytes: Int { packed.buffer.count * 4 + offsets.count * 8 }
    var summary: String { "\(kernel.name), phase layout \(layout.phases)x\(layout.phaseHeight)x\(layout.phaseWidth)" }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
             batch: Int, threads: Int) {
        let p = problem, d = p.descriptor
        let og = d.outputChannelsPerGroup, cg = d.inputChannelsPerGroup
        let mr = kernel.mr, nr = kernel.nr
        let panels = (og + mr - 1) / mr
        let tiles = (layout.positions + nr - 1) / nr
        let blocks = (tiles + Self.tilesPerItem - 1) / Self.tilesPerItem
        let k = offsets.count
        workspace.withBuffer { ws in
            let image = ws
            let scratch = ws + layout.imageSize(channels: d.inputChannels)
            offsets.withUnsafeBufferPointer { offs in
                bias.withUnsafeOptionalBufferPointer { bias in
                    for n in 0..<batch {
                        let x = input + n * d.inputChannels * p.inputPlane
                        Parallel.forEachRange(count: d.inputChannels, threads: threads) { _, channels in
                            layout.fill(input: x, channels: d.inputChannels, channelRange: channels, buffer: image)
                        }
                        let y = output + n * d.outputChannels * p.outputPlane
                        let res = residual.map { $0 + n * d.outputChannels * p.outputPlane }
                        Parallel.forEachRange(count: d.groups * panels * blocks, threads: threads) { worker, items in
                            let tile = scratch + worker * mr * nr
                            for item in items {
                                let g = item / (panels * blocks), panel = item / blocks % panels, block = item % blocks
                                let a = packed.group(g) + panel * k * mr
                                let base = UnsafePointer(image + g * cg * layout.planeStride)
                                let row0 = g * og + panel * mr, rows = Swift.min(mr, og - panel * mr)
                                for t in (block * Self.tilesPerItem)..<Swift.min(tiles, (block + 1) * Self.tilesPerItem) {
                                    kernel.indirect(k, a, base + t * nr, offs.baseAddress!, tile, nr, false)
                                    layout.store(tile: tile, tileStride: nr, rows: rows, lanes: nr, f0: t * nr, row0: row0,
                                                 output: y, residual: res, bias: bias?.baseAddress, activation: epilogue)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
