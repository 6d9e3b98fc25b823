import FFTConvKernels

/// A grouped convolution with each group's output channels as the vector lanes (`GroupedLanesKernels`), the
/// direct path's form for groups of 8 to 32 output channels (RegNet's and ResNeXt's 3x3 layers; `preferred`).
///
/// The work is split over (group, block of output rows). For each item the worker first copies the input rows the
/// block reads, of the group's input channels, into its own zero-padded slab — only interiors and rows outside the
/// input are written, the slab's margin columns stay zero from its allocation — so that every tap of every output
/// is one broadcast read; the block is then computed position-major (a row of outputs × the group's channels, one
/// vector per output), transposed into the output's planes, and finished there with bias, residual and activation.
/// Weights are packed at prepare as `[group][input channel · kH · kW][output channel of the group]`.
final class GroupedLanesImplementation: ConvolutionImplementation, @unchecked Sendable {
    let problem: ConvolutionProblem
    /// `[group][tap][og]` floats.
    let weights: AlignedBuffer
    /// Each tap's offset in a slab: `channel · slabRows · width + kh · dH · width + kw · dW`.
    let taps: [Int]
    let bias: [Float]?
    let epilogue: Epilogue
    let paddedWidth: Int
    /// Output rows per work item: blocks of about `positionsPerItem` outputs.
    let rowsPerItem: Int
    /// Padded input rows a slab holds per channel: those a block of `rowsPerItem` output rows reads.
    let slabRows: Int
    /// Floats of a worker's slab at the start of its slice (the results and the transpose's staging follow).
    let slabFloats: Int
    let workerStride: Int
    let workspace: WorkspacePool

    /// The name that forces this form on the direct path (`ConvolutionOptions.microKernel`, the bench's
    /// `--micro-kernel`); any other forced name takes the implicit GEMM.
    static let kernelName = "grouped_lanes"

    /// Outputs per work item at most (where a row is not longer): the item's position-major results, 448 × 16
    /// floats, stay in L1 and L2 for the transpose that follows.
    static let positionsPerItem = 448

    /// Whether `p` is a layer these kernels compute: grouped, not depthwise, with a multiple of
    /// `GroupedLanesKernels.channelMultiple` (8) output channels per group.
    static func applies(to p: ConvolutionProblem) -> Bool {
        let d = p.descriptor
        return d.groups > 1 && d.inputChannelsPerGroup > 1 && d.outputChannelsPerGroup % GroupedLanesKernels.channelMultiple == 0
    }

    /// Whether the direct path takes this form for `p` rather than its implicit GEMM: grouped layers of 8 to 32 output
    /// channels a group at strides of 2 and more (where the implicit GEMM computes the phase layout's discarded columns
    /// and 8-row panels over 32-position tiles), and at stride 1 groups of 16 or 32 — on 8-float builds only on maps
    /// under 13×13. Twenty-ninth session, 1 thread, ms, lanes / implicit GEMM: on the AVX-512 build 1.4–3.8× faster at
    /// stride 2 with 16 a group, 1.6–3.2× with 8 (RegNetY's widths: 128 on 56² → 28² in 16 groups 0.317 / 0.498, 208 on
    /// 28² → 14² 0.129 / 0.313, 440 on 14² → 7² 0.083 / 0.268), level on 28² at stride 1 with 16, slower there with 8
    /// (104 on 28² in 13 groups 0.256 / 0.131, 440 on 7² 0.082 / 0.067: half-width vectors); on an AVX2 build of the
    /// same host (`-Xcc -march=x86-64-v3`, two vectors a 16-channel group) 32 on 112² → 56² 0.524 / 0.561, 160 on 28² →
    /// 14² 0.160 / 0.209, 400 on 7² 0.120 / 0.144, 1024 on 7² in 32 groups 0.481 / 0.521, but 160 on 14² 0.166 / 0.156
    /// and 64 on 28² 0.227 / 0.198 (F(4x4) 0.134 and 0.181 there).
    static func preferred(for p: ConvolutionProblem) -> Bool {
        let d = p.descriptor, og = d.outputChannelsPerGroup
        guard applies(to: p), og <= 32 else { return false }
        if d.stride.height > 1 || d.stride.width > 1 { return true }
        return og % 16 == 0 && (GroupedLanesKernels.lanes >= 16 || Swift.min(p.output.height, p.output.width) < 13)
    }

    init(problem p: ConvolutionProblem, weights w: Tensor, bias: Tensor?, threads: Int) throws {
        let d = p.descriptor
        guard Self.applies(to: p) else {
            throw ConvolutionError.unsupported(algorithm: "direct (groups as lanes)", reason: "needs groups > 1, more than one "
                + "input channel a group and a multiple of \(GroupedLanesKernels.channelMultiple) output channels a group, got \(d)")
        }
        problem = p
        let cg = d.inputChannelsPerGroup, og = d.outputChannelsPerGroup
        let kh = d.kernel.height, k = cg * kh * d.kernel.width
        paddedWidth = d.padding.left + p.input.width + d.padding.right
        rowsPerItem = Swift.max(1, Swift.min(p.output.height, Self.positionsPerItem / Swift.max(1, p.output.width)))
        slabRows = (rowsPerItem - 1) * d.stride.height + (kh - 1) * d.dilation.height + 1
        taps = p.geometry.tapOffsets(channels: cg, planeStride: slabRows * paddedWidth, rowStride: paddedWidth)
        weights = Self.tapsByChannel(w, groups: d.groups, channels: og, k: k)
        self.bias = bias?.scalars
        epilogue = d.activation.epilogue
        slabFloats = roundUp(cg * slabRows * paddedWidth, 16)
        let slice = slabFloats + rowsPerItem * p.output.width * og + Transpose.stagingFloats
        workerStride = Parallel.workerStride(slice, threads: threads)
        workspace = WorkspacePool(count: threads * workerStride)
    }

    /// ONNX weights (`[output channel][input channel of the group][kH][kW]`: `k` floats per output channel) as
    /// `[group][tap][output channel of the group]` — each group's `channels × k` block transposed, the layout of the
    /// kernels that take a tap's weights as one vector of output channels (also `ConvolutionPoolFusion`'s, one group).
    static func tapsByChannel(_ w: Tensor, groups: Int, channels: Int, k: Int) -> AlignedBuffer {
        let packed = AlignedBuffer(count: groups * k * channels)
        var staging = [Float](repeating: 0, count: Transpose.stagingFloats)
        staging.withUnsafeMutableBufferPointer { staging in
            guard let staging = staging.baseAddress else { return }
            for g in 0..<groups {
                Transpose.floats(w.storage.pointer + g * channels * k, sourceStride: k, packed.pointer + g * k * channels,
                                 destinationStride: channels, rows: channels, columns: k, staging: staging)
            }
        }
        return packed
    }

    var preparedBytes: Int { weights.count * 4 }
    var summary: String {
        "groups as lanes (\(GroupedLanesKernels.tilePositions) positions × \(problem.descriptor.outputChannelsPerGroup) channels), "
            + "\(rowsPerItem) rows per item from padded slabs \(slabRows)x\(paddedWidth)"
    }
    /// Every output float is written once, block by block, plane by plane.
    var skipsOutputZeroing: Bool { true }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
             batch: Int, threads: Int) {
        let p = problem, d = p.descriptor
        let cg = d.inputChannelsPerGroup, og = d.outputChannelsPerGroup
        let k = taps.count, width = paddedWidth, plane = slabRows * width
        let oh = p.output.height, ow = p.output.width, outPlane = p.outputPlane
        let chunks = (oh + rowsPerItem - 1) / rowsPerItem
        let sh = d.stride.height, sw = d.stride.width, reach = (d.kernel.height - 1) * d.dilation.height
        let top = d.padding.top, left = d.padding.left
        let h = p.input.height, w = p.input.width
        workspace.withBuffer { ws in
            taps.withUnsafeBufferPointer { tapBuffer in
                bias.withUnsafeOptionalBufferPointer { bias in
                    guard let taps = tapBuffer.baseAddress else { return }
                    Parallel.forEachRange(count: batch * d.groups * chunks, threads: threads) { worker, items in
                        let slab = ws + worker * workerStride, results = slab + slabFloats
                        let staging = results + rowsPerItem * ow * og
                        for item in items {
                            let n = item / (d.groups * chunks), g = item / chunks % d.groups
                            let r0 = item % chunks * rowsPerItem, r1 = Swift.min(oh, r0 + rowsPerItem)
                            // The padded rows the block reads, channel by channel: interiors copied, rows above or below
                            // the input zeroed (the margin columns were zeroed with the buffer and are never written).
                            let first = r0 * sh - top, rows = (r1 - 1 - r0) * sh + reach + 1
                            let x = input + (n * d.inputChannels + g * cg) * p.inputPlane
                            for c in 0..<cg {
                                for r in 0..<rows {
                                    let to = slab + c * plane + r * width, i = first + r
                                    if i >= 0 && i < h {
                                        Copy.floats(to + left, x + c * p.inputPlane + i * w, w)
                                    } else {
                                        Copy.zero(to, width)
                                    }
                                }
                            }
                            GroupedLanesKernels.rows(input: slab, rowCount: r1 - r0, rowStride: sh * width, positions: ow,
                                                     positionStride: sw, taps: taps, k: k, weights: weights.pointer + g * k * og,
                                                     channels: og, into: results)
                            let count = (r1 - r0) * ow, at = (n * d.outputChannels + g * og) * outPlane + r0 * ow
                            Transpose.floats(results, sourceStride: og, output + at, destinationStride: outPlane,
                                             rows: count, columns: og, staging: staging)
                            for o in 0..<og {
                                let channel = output + at + o * outPlane
                                epilogue.finish(src: channel, dst: channel, count: count, bias: bias?[g * og + o] ?? 0,
                                                residual: residual.map { $0 + at + o * outPlane })
                            }
                        }
                    }
                }
            }
        }
    }
}
