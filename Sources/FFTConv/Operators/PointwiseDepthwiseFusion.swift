import FFTConvKernels

/// A 1x1 convolution whose output only a depthwise convolution reads (MobileNetV2's expansion and depthwise
/// layers), run as one step that never writes the intermediate tensor.
///
/// Unfused, the 1x1 layer writes its output as NCHW planes and the depthwise layer (`dw_blocked16`, on planes up to
/// 56² at stride 1 and 28² at stride 2) transposes them back, 16 channels at a time, into a zero-padded plane of
/// 16-channel pixel vectors — that transpose was 35–60% of those layers' time (fftconv-bench layer with it left
/// out: 144×56² 0.106 → 0.067 ms, 576×14² 0.030 → 0.018). Here the 1x1 product is computed with positions as the
/// tile's rows and 32 output channels as its columns (`gemm_7x32`, the weights packed into 32-channel panels at
/// prepare; the input read in place by the strided split form on whole planes, else packed into 7-position panels
/// as `TransposedImplementation.pack` does), so each result row
/// is two 16-channel pixel vectors: with the 1x1 layer's bias and activation applied, they are stored straight
/// into two blocks' padded planes — from the micro-kernel's registers (`gemm_7x32_split`) where a tile's 7
/// positions lie in one image row and the activation is a clip (MobileNetV2's fused steps at 1 thread, two builds
/// alternated: 0.217–0.227 → 0.192–0.194 ms on 56², 0.077–0.079 → 0.068–0.069 on 28², 0.062–0.065 → 0.059–0.061
/// on 14², unchanged on 7²; through a tile buffer and a bias pass before), else through a tile buffer — and the
/// depthwise kernel computes and transposes out each block as it does
/// unfused (`DepthwiseBlockedKernels.computeFilledBlock`). The 1x1 sums run over all input channels in one
/// chain, in the same order as the unfused layer's micro-kernel: the fused step gives the same bits as the two
/// layers run one after the other on these kernels. Workers take whole 32-channel panels (with an odd count
/// over several workers, the last one's tiles and then its blocks are split between them).
///
/// Where a panel's two whole padded planes would not stay in L2 (`Band.planeBudget`: MobileNetV2's 16→96 expansion at
/// 112², two 113×113 planes of 16-channel pixels, 1.6 MB) the step runs in bands of output rows (`runBands`), which
/// also brings `dw_blocked16` to planes too large for it alone: no transpose in, and a stride-2 layer reads its
/// pixel vectors without the permutes `dw_s2direct16` needs to split even and odd columns.
final class PointwiseDepthwiseFusion: PointwiseDepthwisePair, @unchecked Sendable {
    static let label = "fused 1x1 + depthwise"
    /// The 1x1 layer and the depthwise layer that reads it.
    let pointwise: ConvolutionDescriptor
    let depthwise: ConvolutionDescriptor
    /// The input size of both layers, and the depthwise layer's output size.
    let inputSize: Size2D
    let outputSize: Size2D
    let threads: Int
    let kernel: GEMMMicroKernel
    /// The 1x1 weights as panels of 32 output channels: panel `j`, row `k` holds `W[32j ..< 32j + 32][k]` (zero
    /// past the last channel).
    let panels: AlignedBuffer
    /// The 1x1 bias per channel, zero past the last and when the layer has none.
    let pointwiseBias: AlignedBuffer
    let pointwiseEpilogue: Epilogue
    /// The split micro-kernel (`gemm_7x32_split`) and the 1x1 activation as its clip, when every tile lies in one
    /// image row (widths that are multiples of 7: every MobileNetV2 plane): each tile is then stored with its bias
    /// and a clamp-type activation straight into the two padded planes, no tile buffer between; any other
    /// activation (`splitActivation`) is applied to the stored tile right after.
    let split: (kernel: GEMMMicroKernel.PackedSplit, lo: Float, hi: Float)?
    /// With `split`, the 1x1 activation when it is not a clamp (hard swish, SiLU): the kernel stores with no clamp.
    let splitActivation: Epilogue?
    /// The split kernel's strided-A form (`gemm_7x32_split_strided`), with `split`: whole planes and bands then read
    /// the input's tiles in place, with no packing pass (bands packed the rows each adds until the thirty-second
    /// session: MobileNetV2's 16→96 + stride-2 step 0.336 → 0.319 ms at 1 thread, 0.159 → 0.153 at 2, `step_ab.sh`).
    let splitInPlace: GEMMMicroKernel.PackedSplitStrided?
    /// Whether panels' weights are prefetched ahead of their tiles: on planes of 7 tiles or more (figures in `fill`).
    let prefetchesPanels: Bool
    let layout: DepthwiseBlockedKernels.Layout
    /// Bands of output rows, when whole padded planes would not stay in L2 (`Band.planeBudget`) or to split the rows
    /// between threads (`Band.rowSplitRows`); nil: whole planes.
    let band: Band?
    let depthwiseWeights: AlignedBuffer
    let depthwiseBias: AlignedBuffer?
    let depthwiseEpilogue: Epilogue
    let panelCount: Int
    /// Per worker, in the network-wide scratch: two padded planes — whole, or one band's (margins zeroed by the
    /// worker at each call, interiors rewritten by every panel or band) — the depthwise output block and its
    /// staging, one 7 × 32 result tile; in bands also a band's packed input and each panel's carried-over rows.
    let workerStride: Int

    /// A band of `rows` output rows of every plane: the padded rows its outputs read (`layout`, `inputRows` of
    /// them), of which the first `overlap` are the last ones of the band above — carried over, not computed again.
    struct Band: Sendable {
        /// Bytes of a panel's two whole padded planes above which the pair runs in bands: MobileNetV2's 96-channel
        /// expansion at 112² (two 113×113 planes, 1.6 MB) no longer stays in L2 between the 1x1 and the depthwise
        /// layer.
        static let planeBudget = 512 * 1024
        /// Output rows per band.
        static let outputRows = 4
        /// At several threads, planes are split by rows — one band per worker — where each worker's band reads at
        /// least this many input rows of its own (the rows it shares with the worker above are computed twice: 1 of
        /// 28 at 56²): the 1x1 layer after the step then reads the rows its own worker wrote, and the step its input
        /// likewise, instead of the other core's channels. MobileNetV2 at 2 threads, `net --profile`, in the host's
        /// slow periods (cross-core reads ~26 GB/s, `Bench/scripts/cross_core_probe.c`): its 24→144 pair at 56²
        /// split by rows, 0.59–0.60 → 0.46–0.48 ms, the next pair 0.43 → 0.38, the network 6.83–7.12 → 6.73–6.85 ms
        /// (6 rounds alternated); then the stride-2 one at 56² too (taken from `PointwiseStride2DepthwiseFusion`,
        /// whose threads split the channels) 0.383–0.394 → 0.264–0.272, its projection 0.094–0.097 → 0.065, the
        /// network 6.67–6.94 → 6.48–6.55. Outside those periods the 56² pair 0.214–0.217 → 0.220–0.226, the
        /// network within noise. At 14 rows (MobileNetV2's 28² and 14² pairs too) the 14² pairs lost more
        /// (0.118–0.141 → 0.150–0.157 ms: a 14² worker recomputes 1 or 2 rows of 7) than their projections gained.
        static let rowSplitRows = 28

        /// The bands a step on `g` runs in at `threads`: of `outputRows` where whole planes exceed `planeBudget`,
        /// else one per thread where each reads `rowSplitRows` input rows or more, else none (whole planes).
        static func chosen(geometry g: ConvolutionGeometry, threads: Int) -> Band? {
            let whole = DepthwiseBlockedKernels.Layout(geometry: g), oh = g.outputHeight
            if let band = Band(geometry: g, whole: whole) { return band }
            guard threads > 1, oh % threads == 0, oh / threads * g.strideHeight >= rowSplitRows else { return nil }
            return Band(geometry: g, whole: whole, rows: oh / threads)
        }

        /// Output rows per band, bands per image.
        let rows: Int
        let count: Int
        /// Padded input rows a band reads, and how many of them the band below reads too (`kernel − stride`).
        let inputRows: Int
        let overlap: Int
        /// One band's padded plane: `inputRows` rows, the whole width and its margins.
        let layout: DepthwiseBlockedKernels.Layout

        /// The bands for `g` (the depthwise layer's geometry) — of `rows` output rows when given, else of
        /// `outputRows` where whole planes exceed `planeBudget` — or nil when the layer cannot be banded: bands
        /// must divide the output rows, a band's tiles must be whole input rows (widths that are multiples of 7),
        /// and the kernel must reach past its stride (no dilation).
        init?(geometry g: ConvolutionGeometry, whole: DepthwiseBlockedKernels.Layout, rows given: Int? = nil) {
            let rows = given ?? Self.outputRows, s = g.strideHeight
            guard given != nil || 2 * whole.paddedFloats * 4 > Self.planeBudget, g.dilationHeight == 1, g.dilationWidth == 1,
                  g.kernelHeight >= s, rows * s >= g.kernelHeight - s, g.outputHeight % rows == 0,
                  g.outputHeight > rows, g.inputWidth % PointwiseDepthwiseFusion.rows == 0 else { return nil }
            self.rows = rows
            count = g.outputHeight / rows
            inputRows = (rows - 1) * s + g.kernelHeight
            overlap = g.kernelHeight - s
            var b = g
            b.inputHeight = inputRows
            b.padTop = 0
            b.outputHeight = rows
            layout = DepthwiseBlockedKernels.Layout(geometry: b)
        }
    }

    /// Positions per tile (the micro-kernel's rows).
    static let rows = 7
    /// Output channels per panel (the micro-kernel's columns): two depthwise blocks.
    static let columns = 32
    /// Most input channels of the 1x1 layer: its 32-channel weight panel (here 32 KB) stays in L1 while the tiles pass.
    static let maxInputChannels = 256

    /// Whether the pair runs fused on this build at `threads`: a 1x1, stride-1, unpadded, undilated layer of one group
    /// and at most `maxInputChannels` inputs, read by a depthwise layer over its channels that `dw_blocked16` serves,
    /// that this step runs in bands (`Band.chosen`: planes too large for L2, or split by rows between threads), or
    /// whose two padded planes fit `Band.planeBudget` where it would otherwise run on the flat kernel; on a build with
    /// 16-float registers (the only one `dw_blocked16` is chosen on).
    static func applies(pointwise p: ConvolutionDescriptor, depthwise d: ConvolutionDescriptor, input: Size2D, threads: Int) -> Bool {
        guard KernelTarget.wideRegisters, TransposedImplementation.readsInPlace(p), p.inputChannels <= maxInputChannels,
              d.isDepthwise, d.inputChannels == p.outputChannels,
              let problem = try? ConvolutionProblem(descriptor: d, input: input) else { return false }
        if let k = try? KernelChoice.depthwise(forced: nil, geometry: problem.geometry, channels: d.outputChannels), case .blocked = k.form {
            return true
        }
        // Planes too large for `dw_blocked16` alone (its transposes in and out cost more than the flat or stride-2
        // kernels there) still take it here: the 1x1 writes the pixel vectors, no transpose in — in bands, or as
        // whole planes where a panel's two fit `Band.planeBudget` and the layer would otherwise run on the flat
        // kernel (a 5x5 stride-2 layer at 56²: MnasNet's, EfficientNet's, MobileNetV3's; a 3x3 stride-2 one there
        // keeps `PointwiseStride2DepthwiseFusion`'s `dw_s2direct16`).
        let g = problem.geometry
        guard d.outputChannels >= DepthwiseBlockedKernels.block else { return false }
        if Band.chosen(geometry: g, threads: threads) != nil { return true }
        return g.dilationHeight == 1 && g.dilationWidth == 1 && !DepthwiseStride2Kernels.supports(g)
            && 2 * DepthwiseBlockedKernels.Layout(geometry: g).paddedFloats * MemoryLayout<Float>.size <= Band.planeBudget
    }

    /// Prepares the pair; throws `unsupported` when `applies` is false, or a shape error for mismatched weights.
    init(pointwise p: ConvolutionDescriptor, pointwiseWeights: Tensor, pointwiseBias: Tensor?,
         depthwise d: ConvolutionDescriptor, depthwiseWeights: Tensor, depthwiseBias: Tensor?, input: Size2D, threads: Int) throws {
        try FusedStep.checkPair(applies: Self.applies(pointwise: p, depthwise: d, input: input, threads: threads),
                                reason: "a fused 1x1 + depthwise pair needs a 1x1 layer read by a depthwise layer on dw_blocked16, got \(p) then \(d)",
                                (p, pointwiseWeights, pointwiseBias), (d, depthwiseWeights, depthwiseBias))
        let problem = try ConvolutionProblem(descriptor: d, input: input)
        guard let kernel = MicroKernelRegistry.named("gemm_7x32") else {
            throw ConvolutionError.unsupported(algorithm: "depthwise", reason: "gemm_7x32 is not registered")
        }
        pointwise = p
        depthwise = d
        inputSize = input
        outputSize = problem.output
        self.threads = threads
        self.kernel = kernel
        let k = p.inputChannels, mid = p.outputChannels, nr = Self.columns
        panelCount = (mid + nr - 1) / nr
        (panels, self.pointwiseBias) = TransposedImplementation.packPanels(weights: pointwiseWeights, bias: pointwiseBias,
                                                                                   outputs: mid, k: k, nr: nr)
        pointwiseEpilogue = p.activation.epilogue
        if let splitKernel = kernel.split, input.width % Self.rows == 0 {
            // A clamp-type activation in the kernel's store; any other (hard swish, SiLU) on the stored tile after it.
            let bounds = pointwiseEpilogue.clipBounds
            split = (splitKernel, bounds?.lo ?? -.infinity, bounds?.hi ?? .infinity)
            splitActivation = bounds == nil ? pointwiseEpilogue : nil
            splitInPlace = kernel.splitStrided
        } else {
            split = nil
            splitActivation = nil
            splitInPlace = nil
        }
        prefetchesPanels = (input.height * input.width + Self.rows - 1) / Self.rows >= 7
        layout = DepthwiseBlockedKernels.Layout(geometry: problem.geometry)
        band = Band.chosen(geometry: problem.geometry, threads: threads)
        let planes = band?.layout ?? layout
        let block = DepthwiseBlockedKernels.block
        (self.depthwiseWeights, self.depthwiseBias) = DepthwiseImplementation.packBlocked(
            weights: depthwiseWeights, bias: depthwiseBias, channels: mid, taps: d.kernel.height * d.kernel.width)
        depthwiseEpilogue = d.activation.epilogue
        let bandFloats = band.map { [panelCount] in $0.inputRows * input.width * k + panelCount * 2 * $0.overlap * $0.layout.paddedWidth * block } ?? 0
        workerStride = Parallel.workerStride(2 * planes.paddedFloats + planes.outputFloats + block * block + Self.rows * nr + bandFloats,
                                             threads: threads)
    }

    /// Bytes of prepared weights: both layers'.
    var preparedBytes: Int { (panels.count + pointwiseBias.count + depthwiseWeights.count + (depthwiseBias?.count ?? 0)) * 4 }

    /// The choices made at prepare.
    var summary: String {
        let planes = band.map { "bands of \($0.rows) rows, planes \($0.layout.paddedHeight)x" } ?? "planes \(layout.paddedHeight)x"
        return "\(kernel.name) 1x1 into dw_blocked16 \(planes)\(layout.paddedWidth)x\(DepthwiseBlockedKernels.block), no intermediate tensor"
    }

    /// The depthwise layer's output for `input` (`[N, Cin, H, W]`); every output plane is written by the depthwise
    /// blocks' transposes.
    func callAsFunction(_ input: Tensor) throws -> Tensor {
        try FusedStep.run(input, channels: pointwise.inputChannels, size: inputSize,
                          outputShape: [depthwise.outputChannels, outputSize.height, outputSize.width]) { x, y, batch in
            run(input: x, output: y, batch: batch)
        }
    }

    /// Panel `j`'s 32 channels at the positions of `tiles`, as pixel vectors into its two padded planes (`planes`,
    /// `plane.paddedFloats` apart; input row `r` at plane row `r + rowShift`): the product of each tile with the 1x1
    /// layer's bias and activation. The tiles are read from `packed` (tile `t` at `(t − packedFrom)·7k`), or — given
    /// the image's input `x` and where the split kernel has its strided form — from `x` in place.
    private func fill(panel j: Int, tiles: Range<Int>, planes: UnsafeMutablePointer<Float>, tile: UnsafeMutablePointer<Float>,
                      packed a: UnsafePointer<Float>, packedFrom: Int = 0, plane: DepthwiseBlockedKernels.Layout, rowShift: Int,
                      prefetches: Bool = true, inPlace x: UnsafePointer<Float>? = nil) {
        let k = pointwise.inputChannels, mr = Self.rows, nr = Self.columns, block = DepthwiseBlockedKernels.block
        let width = inputSize.width, positions = inputSize.height * width
        let padLeft = plane.geometry.padLeft, pw = plane.paddedWidth, second = planes + plane.paddedFloats
        // The next panel's weights, cold in a network (other layers ran since), are fetched into L2 a share before
        // each tile — on planes of 7 tiles or more: MobileNetV2's four 14² steps at 1 thread 0.238–0.244 →
        // 0.216–0.224 ms. Its three 7² steps (7 tiles a panel) measured slower with it while the input was packed
        // (0.288–0.311 → 0.305–0.312, 4 rounds alternated); with the input read in place, faster: 0.183–0.188 →
        // 0.177–0.184 ms each at 1 thread, level at 2 (`net --profile`, 3 rounds alternated, nineteenth session).
        let nextPanel = UnsafeRawPointer(panels.pointer + (j + 1) * k * nr)
        let panelBytes = j + 1 < panelCount && prefetchesPanels && prefetches ? k * nr * 4 : 0
        let share = (panelBytes / Swift.max(tiles.count, 1) + 63) / 64 * 64
        @inline(__always) func prefetchShare(_ t: Int) {
            let from = (t - tiles.lowerBound) * share
            if from < panelBytes { Prefetch.toL2(nextPanel + from, bytes: Swift.min(share, panelBytes - from)) }
        }
        if let split {
            // Tile `t`'s 7 positions are consecutive pixels of one row: 16-float pixel vectors `block` apart.
            for t in tiles {
                prefetchShare(t)
                let row = t * mr / width, column = t * mr % width
                let at = ((row + rowShift) * pw + column + padLeft) * block
                if let x, let splitInPlace {
                    splitInPlace(k, x + t * mr, positions, panels.pointer + j * k * nr, planes + at, second + at, block,
                                 pointwiseBias.pointer + j * nr, split.lo, split.hi)
                } else {
                    split.kernel(k, a + (t - packedFrom) * mr * k, panels.pointer + j * k * nr, planes + at, second + at, block,
                                 pointwiseBias.pointer + j * nr, split.lo, split.hi)
                }
                if let e = splitActivation {
                    // The tile's 7 pixel vectors are contiguous in each plane, still in L1.
                    e.activate(planes + at, count: mr * block)
                    e.activate(second + at, count: mr * block)
                }
            }
            return
        }
        var row = tiles.lowerBound * mr / width, column = tiles.lowerBound * mr % width
        for t in tiles {
            prefetchShare(t)
            kernel.packed(k, a + (t - packedFrom) * mr * k, panels.pointer + j * k * nr, tile, nr, false)
            pointwiseEpilogue.biasRows(tile, rows: mr, width: nr, bias: pointwiseBias.pointer + j * nr, activate: true)
            for i in 0..<Swift.min(mr, positions - t * mr) {
                let at = ((row + rowShift) * pw + column + padLeft) * block
                Copy.floats(planes + at, tile + i * nr, block)
                Copy.floats(second + at, tile + i * nr + block, block)
                column += 1
                if column == width { column = 0; row += 1 }
            }
        }
    }

    /// Block `b`'s depthwise output from its filled padded plane (laid out as `layout`: whole planes, or a band
    /// whose first output row is `firstRow`), into the image's output `y`.
    private func depthwiseBlock(_ b: Int, plane: UnsafePointer<Float>, layout: DepthwiseBlockedKernels.Layout, firstRow: Int = 0,
                                output y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let block = DepthwiseBlockedKernels.block, c0 = b * block, mid = pointwise.outputChannels
        let taps = depthwise.kernel.height * depthwise.kernel.width, outPlane = outputSize.height * outputSize.width
        DepthwiseBlockedKernels.computeFilledBlock(
            layout: layout, padded: plane, weights: depthwiseWeights.pointer + b * taps * block,
            bias: depthwiseBias.map { UnsafePointer($0.pointer + c0) }, valid: Swift.min(block, mid - c0),
            output: y + c0 * outPlane + firstRow * outputSize.width, outputStride: outPlane, scratch: scratch,
            activation: depthwiseEpilogue)
    }

    /// Bands `bands` of one image, in one worker's scratch `ws`: per band, the input rows it adds are packed (every
    /// channel, `TransposedImplementation.pack`), then for each panel its two band planes get the rows
    /// carried over from the band above (kept per panel in `carry`; at the worker's first band they are computed
    /// instead), the new rows' 1x1 products, and zero rows above or below the image; the panel's blocks are then
    /// computed and transposed out into the band's output rows. Workers take runs of bands.
    ///
    /// Against `PointwiseStride2DepthwiseFusion` (`gemm_12x32` into band buffers of NCHW rows, `dw_s2direct16`) on
    /// MobileNetV2's 16→96 pair at 112² (the model cut to that step: `Bench/scripts/cut_model.py`, `net … --loops
    /// 2000`, 3 rounds alternated): 0.617–0.624 → 0.542–0.547 ms at 1 thread, 0.321–0.330 → 0.281 at 2; in the
    /// network (`net --profile`, 1 thread) 0.648–0.665 → 0.554–0.572. The same bands panel by panel (each worker
    /// a run of (panel, band) items over the whole packed input, 0.8 MB there): as fast at 1 thread, 0.304 at 2.
    /// Bands of 8 rows: 0.531 and 0.314–0.318 (7 bands split 4 : 3). With a budget low enough to band MobileNetV2's
    /// 24→144 pairs at 56² too, the stride-1 one was slower (0.381 → 0.416–0.420 ms at 1 thread) and the stride-2
    /// one 3% faster at 1 thread (0.299 → 0.289–0.293) but slower at 2 in 7 bands (0.156 → 0.173–0.175) — at 2
    /// threads both now split by rows instead (`Band.rowSplitRows`).
    private func runBands(_ band: Band, _ bands: Range<Int>, input x: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>,
                          worker ws: UnsafeMutablePointer<Float>) {
        let block = DepthwiseBlockedKernels.block, plane = band.layout, g = layout.geometry, k = pointwise.inputChannels
        let rowFloats = plane.paddedWidth * block, floats = plane.paddedFloats, rows = band.inputRows, overlap = band.overlap
        let planes = ws, scratch = planes + 2 * floats, tile = scratch + plane.outputFloats + block * block
        let packed = tile + Self.rows * Self.columns, carry = packed + rows * inputSize.width * k
        let perRow = inputSize.width / Self.rows, positions = inputSize.height * inputSize.width
        let blocks = DepthwiseBlockedKernels.blocks(pointwise.outputChannels)
        plane.zeroMargins(planes)
        plane.zeroMargins(planes + floats)
        for b in bands {
            let fresh = b == bands.lowerBound
            let first = b * band.rows * g.strideHeight - g.padTop
            let from = fresh ? 0 : overlap
            let lo = Swift.min(Swift.max(first + from, 0), first + rows), hi = Swift.max(Swift.min(first + rows, inputSize.height), lo)
            let tiles = (lo * perRow)..<(hi * perRow)
            // With the split kernel's strided form the band's tiles (whole rows) are read in place, as whole planes are.
            if lo < hi && splitInPlace == nil {
                TransposedImplementation.pack(x, positions: positions, k: k, channels: 0..<k, tiles: tiles, into: packed)
            }
            for j in 0..<panelCount {
                let saved = carry + j * 2 * overlap * rowFloats
                for h in 0..<2 {
                    let p = planes + h * floats
                    if !fresh { p.update(from: saved + h * overlap * rowFloats, count: overlap * rowFloats) }
                    Copy.zero(p + from * rowFloats, (lo - first - from) * rowFloats)
                    Copy.zero(p + (hi - first) * rowFloats, (first + rows - hi) * rowFloats)
                }
                if lo < hi {
                    fill(panel: j, tiles: tiles, planes: planes, tile: tile, packed: packed, packedFrom: tiles.lowerBound, plane: plane,
                         rowShift: -first, prefetches: false, inPlace: splitInPlace == nil ? nil : x)
                }
                if b + 1 < bands.upperBound {
                    for h in 0..<2 {
                        (saved + h * overlap * rowFloats).update(from: planes + h * floats + (rows - overlap) * rowFloats, count: overlap * rowFloats)
                    }
                }
                for h in 0..<2 where 2 * j + h < blocks {
                    depthwiseBlock(2 * j + h, plane: planes + h * floats, layout: plane, firstRow: b * band.rows, output: y, scratch: scratch)
                }
            }
        }
    }

    private func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, batch: Int) {
        let k = pointwise.inputChannels, mid = pointwise.outputChannels, mr = Self.rows
        let positions = inputSize.height * inputSize.width, tiles = (positions + mr - 1) / mr
        let outPlane = outputSize.height * outputSize.width, block = DepthwiseBlockedKernels.block
        let blocks = DepthwiseBlockedKernels.blocks(mid), paddedFloats = layout.paddedFloats
        let threads = self.threads, workerStride = self.workerStride
        // The packed input and the workers' planes, in the network-wide scratch (the planes' margins zeroed here).
        // In pools of their own, these planes and the band buffers of the other fused steps added 2.3 MB at 1
        // thread, 4.5 MB at 2, to what MobileNetV2 touches per call; shared, its steps at 1 thread summed 7.30–7.33
        // → 7.12–7.17 ms (`net --profile`, 2 rounds; features.1–.3 gained most).
        if let band {
            SharedScratch.withBuffer(count: threads * workerStride) { ws in
                for n in 0..<batch {
                    let x = input + n * k * positions, y = output + n * mid * outPlane
                    Parallel.forEachRange(count: band.count, threads: threads) { worker, bands in
                        runBands(band, bands, input: x, output: y, worker: ws + worker * workerStride)
                    }
                }
            }
            return
        }
        // With the split kernel's strided form the tiles are read in place; otherwise packed first, the channels
        // split between the workers. (Packed at 2 threads, each worker's writes invalidated lines the other had read
        // in the call before and its reads fetched the half the other wrote: Docs/Kernels.md, nineteenth session.)
        let inPlace = splitInPlace != nil
        func compute(packing: UnsafeMutablePointer<Float>?) {
            SharedScratch.withBuffer(count: threads * workerStride) { ws in
                let a = UnsafePointer(packing ?? ws)  // (not read when the tiles are read in place)
                for n in 0..<batch {
                    let x = input + n * k * positions, y = output + n * mid * outPlane
                    // Whole panels per worker; with an odd count over several workers the last panel is shared (its
                    // tiles split, then its blocks), so that 144 channels (4½ panels) do not split 3 : 1½.
                    let whole = threads > 1 && panelCount % 2 == 1 ? panelCount - 1 : panelCount
                    // Each worker first asks for its first panel's weights, then packs its share of the channels.
                    let workers = Swift.min(threads, whole)
                    if let packing {
                        Parallel.forEachRange(count: k, threads: threads) { w, channels in
                            if w < workers && prefetchesPanels {
                                Prefetch.toL2(panels.pointer + whole * w / workers * k * Self.columns, bytes: k * Self.columns * 4)
                            }
                            TransposedImplementation.pack(x, positions: positions, k: k, channels: channels, into: packing)
                        }
                    }
                    Parallel.forEachRange(count: whole, threads: threads) { worker, items in
                        let planes = ws + worker * workerStride
                        let scratch = planes + 2 * paddedFloats, tile = scratch + layout.outputFloats + block * block
                        if inPlace && prefetchesPanels {
                            Prefetch.toL2(panels.pointer + items.lowerBound * k * Self.columns, bytes: k * Self.columns * 4)
                        }
                        layout.zeroMargins(planes)
                        layout.zeroMargins(planes + paddedFloats)
                        for j in items {
                            fill(panel: j, tiles: 0..<tiles, planes: planes, tile: tile, packed: a, plane: layout,
                                 rowShift: layout.geometry.padTop, inPlace: x)
                            for h in 0..<2 where 2 * j + h < blocks {
                                depthwiseBlock(2 * j + h, plane: planes + h * paddedFloats, layout: layout, output: y, scratch: scratch)
                            }
                        }
                    }
                    if whole < panelCount {
                        let j = whole, planes = ws  // worker 0's planes, free again
                        if whole == 0 { layout.zeroMargins(planes); layout.zeroMargins(planes + paddedFloats) }
                        Parallel.forEachRange(count: tiles, threads: threads) { worker, range in
                            let tile = ws + worker * workerStride + 2 * paddedFloats + layout.outputFloats + block * block
                            fill(panel: j, tiles: range, planes: planes, tile: tile, packed: a, plane: layout,
                                 rowShift: layout.geometry.padTop, inPlace: x)
                        }
                        Parallel.forEachRange(count: Swift.min(2, blocks - 2 * j), threads: threads) { worker, halves in
                            for h in halves {
                                depthwiseBlock(2 * j + h, plane: planes + h * paddedFloats, layout: layout, output: y,
                                               scratch: ws + worker * workerStride + 2 * paddedFloats)
                            }
                        }
                    }
                }
            }
        }
        if inPlace {
            compute(packing: nil)
        } else {
            SharedScratch.withBuffer(count: tiles * mr * k) { compute(packing: $0) }
        }
    }
}
