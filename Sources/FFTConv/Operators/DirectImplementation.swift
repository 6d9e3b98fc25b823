import FFTConvKernels

/// Direct convolution on the register-blocked micro-kernel (implicit GEMM).
///
/// Per image, the input is rewritten once — the one place this operator changes a tensor's layout — into a
/// `FlatPhaseLayout` where the layer's output rows are whole phase rows ("same" padding at a stride that divides
/// the input: no output column is computed and thrown away; one copy per kernel column, with the columns its
/// taps would wrap onto zeroed), or else into a `PhaseLayout` (zero-padded, split into stride phases); a 1x1,
/// stride-1, unpadded convolution reads its input planes as they are. Weights were packed into `mr`-row
/// panels at prepare. For each block of `nr`-position tiles, every panel of output channels is one `igemm` micro-kernel call over K = (input channels of the
/// group) × kH × kW, reading input row k at `base + offsets[k]` — the tile's input lines are loaded into L1
/// once and reused by all panels. The block is then written to the NCHW output with bias, residual and
/// activation.
final class DirectImplementation: ConvolutionImplementation, @unchecked Sendable {
    let problem: ConvolutionProblem
    let kernel: GEMMMicroKernel
    /// `kernel`'s 16-column twin for a last tile of at most 16 positions (where positions are the output's own).
    let narrow: GEMMMicroKernel?
    let layout: PhaseLayout
    let packed: PackedGroupWeights
    let offsets: [Int]
    let bias: [Float]?
    let epilogue: Epilogue
    let workspace: WorkspacePool
    /// True for 1x1 stride-1 unpadded layers: the input planes are the layout, no copy.
    let pointwise: Bool
    /// Whether a 1x1 layer's whole tiles are copied into one contiguous block before its panels read them
    /// (`packsPointwiseTiles`); `offsets` then holds the block's own row offsets (`k · nr`) after the input's.
    let packsTiles: Bool
    /// K: the rows of the implicit GEMM, input channels of a group × kH × kW.
    let depth: Int
    /// The unpadded layout, read as per-kernel-column copies (`nil`: the padded `PhaseLayout`).
    let flat: FlatPhaseLayout?
    /// With the layer's im2col as the layout, the floats from one of its rows to the next (`nil`: not gathered).
    /// Row `k` (input channel × tap) holds every output position, copied from the padded `layout` (`Im2Col.rows`).
    let gatherStride: Int?
    /// Whether the micro-kernel's positions are the output's own (no discarded columns): 1x1 in place, the flat layout,
    /// the im2col, or a padded layout whose phase rows are output rows (a 1x1 or 2x2 layer at its own stride, ResNet's
    /// downsampling) — whole tiles then go straight into the output through the fused kernel.
    let contiguous: Bool
    /// Most position tiles computed before their outputs are written (a block).
    let tilesPerItem: Int
    let workerStride: Int
    /// Floats of one image in the operator's input layout (0 when the input is read in place).
    let imageFloats: Int
    /// On the padded layout with a clip activation and output rows of `kernel.nr` or more: the column tiles of
    /// every output row — `(first column, kernel)`, the last one shifted left to end at the row's end (overlapping
    /// the one before; 16 columns wide on the narrow twin when at most 16 remain) — so that every tile is whole
    /// output columns of one row and the fused micro-kernel writes it into the output (no block buffer, no
    /// discarded columns written). `nil`: position tiles across rows, written out through the block buffer.
    let rowTiles: [(column: Int, kernel: GEMMMicroKernel)]?

    init(problem p: ConvolutionProblem, weights: Tensor, bias: Tensor?, forcedKernel: String?, threads: Int) throws {
        problem = p
        let d = p.descriptor
        let kernel = try KernelChoice.gemm(rows: d.outputChannelsPerGroup, forced: forcedKernel)
        self.kernel = kernel
        layout = PhaseLayout(geometry: p.geometry, padBottom: d.padding.bottom, padRight: d.padding.right, lanes: kernel.nr)
        pointwise = d.kernel == Size2D(1, 1) && d.stride == Size2D(1, 1) && d.padding == .zero && d.dilation == Size2D(1, 1)
        let k = d.inputChannelsPerGroup * d.kernel.height * d.kernel.width
        packed = weights.withUnsafeBufferPointer { w in
            PackedGroupWeights(weights: w.baseAddress!, groups: d.groups, rows: d.outputChannelsPerGroup, k: k, kernel: kernel)
        }
        let choice = pointwise ? LayoutChoice() : Self.layoutChoice(p, layout: layout, kernel: kernel)
        let (flatLayout, ownRows, rowTiles, gatherStride) = (choice.flat, choice.ownRows, choice.rowTiles, choice.gatherStride)
        var offsets: [Int] = []
        offsets.reserveCapacity(k)
        for c in 0..<d.inputChannelsPerGroup {
            for kh in 0..<d.kernel.height {
                for kw in 0..<d.kernel.width {
                    if let f = flatLayout {
                        offsets.append(c * f.columnCopiesSize + kw * f.bufferSize + f.tapOffset(kh: kh, kw: kw))
                    } else if let stride = gatherStride {
                        offsets.append(offsets.count * stride)
                    } else {
                        offsets.append(pointwise ? c * p.inputPlane : layout.tapOffset(channel: c, channels: d.inputChannels, kh: kh, kw: kw))
                    }
                }
            }
        }
        packsTiles = pointwise && Self.packsPointwiseTiles(p, kernel: kernel)
        if packsTiles { offsets += (0..<k).map { $0 * kernel.nr } }
        self.offsets = offsets
        depth = k
        flat = flatLayout
        self.gatherStride = gatherStride
        let contiguous = pointwise || flatLayout != nil || gatherStride != nil || ownRows
        self.contiguous = contiguous
        narrow = contiguous ? MicroKernelRegistry.narrowTwin(of: kernel) : nil
        self.bias = bias?.scalars
        epilogue = d.activation.epilogue
        // Where positions are the output's own (`contiguous`): blocks of up to 256 positions, fewer when a
        // block's outputs for all of a group's channels would pass 512 KB (they stay in L2 until written) —
        // longer runs per output row than 64 positions: the 1x1 16→96 on 112² (a 4.8 MB output) 0.301 → 0.269 ms
        // at 1 thread, 0.159 → 0.140 at 2. On the padded layout 64: there the next layer (SqueezeNet's first
        // max pool) read the output 1.7× slower after 256-position blocks, for no gain in the convolution.
        let rows = roundUp(d.outputChannelsPerGroup, kernel.mr)
        let longest = contiguous ? 256 : 64
        // Packed tiles: blocks of up to 8 tiles whose packed copies take at most `packedBlockBytes`.
        tilesPerItem = packsTiles ? Swift.max(1, Swift.min(8, Self.packedBlockBytes / (k * kernel.nr * 4)))
            : Swift.max(1, Swift.min(longest / kernel.nr, (128 << 10) / (rows * kernel.nr)))
        // Per worker: the block's results, and (pointwise) the zero-padded last tile's input rows — with packed tiles,
        // the block's packed tiles.
        let packedFloats = pointwise ? k * kernel.nr * (packsTiles ? tilesPerItem : 1) : 0
        workerStride = Parallel.workerStride(rows * kernel.nr * tilesPerItem + packedFloats, threads: threads)
        // The im2col is followed by the padded layout it is copied from.
        let layoutFloats = layout.imageSize(channels: d.inputChannels)
        imageFloats = pointwise ? 0 : flatLayout.map { d.inputChannels * $0.columnCopiesSize }
            ?? gatherStride.map { roundUp(d.groups * k * $0, 16) + layoutFloats } ?? layoutFloats
        workspace = WorkspacePool(count: imageFloats + threads * workerStride)
        self.rowTiles = rowTiles
    }

    /// Whether a 1x1 layer read in place copies each whole position tile (k rows of `nr` floats) into one contiguous
    /// block before its panels run on it: where the plane is not a whole number of 16-float vectors — every channel's
    /// row then starts at another offset within a cache line, each tile row read by every panel is a vector load
    /// across two lines, a page apart from the next — and there are at least `packedTilePanels` panels to share the
    /// one copy. Thirty-eighth session, the first Intel core measured (Xeon, family 6 model 207, AVX-512; `layer …
    /// --activation relu --algorithm direct --micro-kernel gemm_12x32`, 1 thread, the least of 300–1000 calls, ms,
    /// in place → packed): SqueezeNet's classifier 512→1000 on 13² 1.19–1.33 → 1.06–1.18, 512→384 on 13² 0.48–0.50
    /// → 0.45, 256→512 on 13² 0.34 → 0.31, 128→512 on 27² 0.68–0.69 → 0.65, 2048→1000 on 7² 1.73 → 1.64; with
    /// fewer panels level or slower (512→64 on 13² 0.105 → 0.100, 16→64 on 55² 0.079 → 0.082, 128→16 on 55² 0.125 →
    /// 0.155). `Bench/scripts/microkernel_memory_probe.c` shows the cause outside the library: the same 12x32 loop at
    /// 92% of the FMA peak with its operands in L1, 76–78% on the classifier's shape reading input rows 169 or 196
    /// floats apart, 86–89% with each tile packed first (the copy timed). Not measured on AMD or ARM cores: there the
    /// copy costs at most one pass over the tile against the ≥ 16 passes of the panels.
    static func packsPointwiseTiles(_ p: ConvolutionProblem, kernel: GEMMMicroKernel) -> Bool {
        let panels = (p.descriptor.outputChannelsPerGroup + kernel.mr - 1) / kernel.mr
        return p.inputPlane % 16 != 0 && panels >= packedTilePanels
    }

    /// Whether a 1x1 layer read in place (tiles not packed, one group) on a plane of few `nr`-position tiles — fewer
    /// than about two pairs a thread, where the panels would be split among the threads — splits it by tiles instead:
    /// where there are at least two tiles a thread and the largest share is at most 1.25× the mean (13² at 2 or 3
    /// threads, 11² at 2; not 7², 10², 12²). Each worker then runs every panel on its own tiles and reads its share
    /// of the input instead of all of it. Forty-first session (Xeon, family 6 model 207), SqueezeNet's 13² squeezes
    /// (512, 384, 256 → 64, 48) at 2 threads in the network (`step_ab.sh 6`, both orders): 0.044 / 0.060 / 0.065 /
    /// 0.084 → 0.033 / 0.047 / 0.055 / 0.073 ms. Packed tiles keep the panel split (a tile split would double each
    /// worker's share of the weights: the classifier's 2 MB).
    static func sharesPointwiseTiles(positions: Int, nr: Int, threads: Int) -> Bool {
        let tiles = (positions + nr - 1) / nr
        let largestShare = Swift.min(positions, (tiles + threads - 1) / threads * nr)
        return threads > 1 && tiles >= 2 * threads && largestShare * threads * 4 <= positions * 5
    }

    /// The fewest output-channel panels for which `packsPointwiseTiles` copies a 1x1 layer's tiles.
    static let packedTilePanels = 16

    /// The most a block of packed tiles (`packsPointwiseTiles`) takes: 512 KB, a quarter of the Xeon's L2. The block's
    /// tiles are packed first, then each panel of weights runs over all of them — the weights read once per block
    /// instead of once per tile. Fortieth session (Xeon, family 6 model 207): SqueezeNet's classifier 512→1000 on 13²
    /// (six 64 KB tiles, weights 2 MB) alone at 1 thread 1.085–1.099 → 1.051–1.077 ms (minima 1.033–1.035 → 1.014–1.019,
    /// 91% of the peak), in the network (`step_ab.sh 5`) 1.101 → 1.082 at 1 thread, level at 2 (0.585 / 0.593); the
    /// other packed layers level (128→512 on 27², 512→384 and 256→512 on 13², 2048→1000 on 7²).
    static let packedBlockBytes = 512 << 10

    /// Whether the padded layout's flat positions are the output's own: phase rows exactly an output row wide (a 1x1
    /// layer at stride 2 on an even input, a 2x2 stride-2 one). ResNet-18's 64→128 1x1 stride 2 from 56² to 28² then
    /// runs as a 1x1 layer does (whole tiles into the output through the fused kernel, 256-position blocks, a 16-column
    /// last tile): `ab.sh 5`, 1 / 2 threads, ms, medians 0.201 / 0.246 → 0.198 / 0.201, minima 0.197 / 0.188 → 0.164 /
    /// 0.152 (a 1x1 layer in place on the subsampled input: 0.118; `gemm` 0.193).
    static func phaseRowsAreOutputRows(_ p: ConvolutionProblem, layout: PhaseLayout) -> Bool {
        layout.phaseWidth == p.geometry.outputWidth
    }

    /// On the padded layout with output rows of `kernel.nr` or more, the row-aligned tiles
    /// (`rowTiles`) where their overlap computes at most ~5% more columns than position tiles over the padded rows
    /// (their discarded columns): 111 or 112 wide (stems: 3.7 + 1 tiles, 0.466 → 0.353 ms for SqueezeNet's inside the
    /// network), not 55 (64 columns computed for 57: measured no faster, 0.281 ms both ways).
    static func rowTiles(_ p: ConvolutionProblem, layout: PhaseLayout, kernel: GEMMMicroKernel) -> [(column: Int, kernel: GEMMMicroKernel)]? {
        let ow = p.geometry.outputWidth, nr = kernel.nr
        guard ow >= nr else { return nil }
        let twin = MicroKernelRegistry.narrowTwin(of: kernel)
        var tiles: [(column: Int, kernel: GEMMMicroKernel)] = []
        var c = 0
        while ow - c >= nr { tiles.append((c, kernel)); c += nr }
        if let twin, ow > c, ow - c <= twin.nr { tiles.append((ow - twin.nr, twin)) } else if ow > c { tiles.append((ow - nr, kernel)) }
        let computed = tiles.reduce(0) { $0 + $1.kernel.nr }
        return computed * 20 <= layout.phaseWidth * 21 ? tiles : nil
    }

    /// The im2col's row stride where the layer reads its im2col instead of the padded layout (`nil`: it does not):
    /// whole `nr` tiles and `Im2Col.rows`' 7-float overrun, an odd number of cache lines. Only at strides of 2 and more
    /// (the im2col is kH·kW / (sH·sW) times the input: 2.25 for 3x3 stride 2, 9 at stride 1) where the padded layout's
    /// discarded columns and whole tiles compute ≥ 5% more columns than the output's own positions do (whole tiles,
    /// a 16-column last one). Twenty-first session (Zen 4, `ab.sh 5`, 1 thread, ms): ResNet-18's 64→128 from 56² to 28²
    /// (832 columns against 784) 1.222 → 1.147, 128→128 there 2.550 → 2.457; but 32→64 from 112² to 56² (3200 against
    /// 3136) 1.207 → 1.266 and, at stride 1, 64→64 on 56² (3264 against 3136) 2.318 → 2.538.
    static func gatherStride(_ p: ConvolutionProblem, layout: PhaseLayout, kernel: GEMMMicroKernel) -> Int? {
        let d = p.descriptor, positions = p.outputPlane, nr = kernel.nr
        guard d.stride.height >= 2, d.stride.width >= 2 else { return nil }
        let gathered = WinogradImplementation.computedColumns(positions, nr: nr, narrow: MicroKernelRegistry.narrowTwin(of: kernel)?.nr)
        guard roundUp(layout.positions, nr) * 100 >= gathered * 105 else { return nil }
        return oddLineStride(Swift.max(roundUp(positions, nr), positions + 7))
    }

    /// The unpadded layout where it pays: its per-column copies cost a copy of the input per kernel column; they pay
    /// where the padded layout's discarded columns cost at least 1/16 of the position tiles (small maps: 13×13,
    /// 27×27), not on 55×55, and while the copies stay cache-sized (≤ 2 MB: 64 channels of 56×56 with 5 or more
    /// columns are not).
    ///
    /// `anyGain`: also where it computes no more tiles than the padded layout (`layoutChoice`'s last resort, after the
    /// row-aligned tiles): its positions are the output's own, so whole tiles go into the output through the fused
    /// kernel, where the padded layout's tiles go through the block buffer and a write-out per output row segment —
    /// on small planes that write-out and the row-by-row padded copy cost more than the micro-kernel. Twenty-eighth
    /// session (`layer … --padding 1 --groups G --activation relu --algorithm direct`, 1 thread, ms): RegNetX-400MF's
    /// grouped 3x3 layers, 16 channels a group, 400 on 7² 0.157 → 0.118, 160 on 14² 0.149 → 0.108–0.129, 32 on 56²
    /// (2 groups) 0.333 → 0.298.
    static func flatLayout(_ p: ConvolutionProblem, padded: PhaseLayout, nr: Int, anyGain: Bool = false) -> FlatPhaseLayout? {
        guard let f = FlatPhaseLayout(geometry: p.geometry) else { return nil }
        let flatTiles = (f.positions + nr - 1) / nr, paddedTiles = (padded.positions + nr - 1) / nr
        let copyBytes = p.descriptor.inputChannels * f.columnCopiesSize * 4
        let pays = anyGain ? flatTiles <= paddedTiles : flatTiles * 16 <= paddedTiles * 15
        return !pays || copyBytes > 2 << 20 ? nil : f
    }

    /// Which layout a layer that is not 1x1-in-place reads (at most one of them; none: the padded layout's position
    /// tiles across rows).
    struct LayoutChoice {
        var flat: FlatPhaseLayout? = nil
        var ownRows = false
        var rowTiles: [(column: Int, kernel: GEMMMicroKernel)]? = nil
        var gatherStride: Int? = nil
    }

    /// `init`'s choice of layout for `p` with `kernel`, in order of preference: the flat layout where it pays, the padded
    /// layout read as the output's own positions where its phase rows are output rows, row-aligned tiles, the im2col,
    /// the flat layout where it computes no more tiles than the padded one.
    static func layoutChoice(_ p: ConvolutionProblem, layout: PhaseLayout, kernel: GEMMMicroKernel) -> LayoutChoice {
        if let f = flatLayout(p, padded: layout, nr: kernel.nr) { return LayoutChoice(flat: f) }
        if phaseRowsAreOutputRows(p, layout: layout) { return LayoutChoice(ownRows: true) }
        if let tiles = rowTiles(p, layout: layout, kernel: kernel) { return LayoutChoice(rowTiles: tiles) }
        if let gather = gatherStride(p, layout: layout, kernel: kernel) { return LayoutChoice(gatherStride: gather) }
        return LayoutChoice(flat: flatLayout(p, padded: layout, nr: kernel.nr, anyGain: true))
    }

    /// The positions the micro-kernel computes per image and group for a layer that is not 1x1-in-place with `kernel`
    /// (as `init` lays it out, `layoutChoice`): on the flat layout, the im2col or phase rows that are output rows (the
    /// output's own positions) whole `nr` tiles with a 16-column last one where at most 16 remain; with row tiles their
    /// columns; else the padded layout's flat positions (discarded columns included) in whole tiles — for the transposed
    /// path's rule (`KernelChoice.transposed`).
    static func computedPositions(_ p: ConvolutionProblem, kernel: GEMMMicroKernel) -> Int {
        let d = p.descriptor, nr = kernel.nr, twin = MicroKernelRegistry.narrowTwin(of: kernel)?.nr
        let layout = PhaseLayout(geometry: p.geometry, padBottom: d.padding.bottom, padRight: d.padding.right, lanes: nr)
        let choice = layoutChoice(p, layout: layout, kernel: kernel)
        if let f = choice.flat { return WinogradImplementation.computedColumns(f.positions, nr: nr, narrow: twin) }
        if let tiles = choice.rowTiles { return tiles.reduce(0) { $0 + $1.kernel.nr } * p.geometry.outputHeight }
        if choice.ownRows || choice.gatherStride != nil { return WinogradImplementation.computedColumns(p.outputPlane, nr: nr, narrow: twin) }
        return roundUp(layout.positions, nr)
    }

    /// The row-aligned tiles write every output row whole, row after row (all channels' rows of one output row,
    /// then the next): zeroing a stem's large output first only doubled its writes. MobileNetV2's stem (32 × 112²)
    /// 0.156–0.161 → 0.146–0.148 ms at 1 thread, 0.081–0.084 → 0.077 at 2; VGG16's first layer (64 × 224²) 1.63–1.75
    /// → 1.36–1.47, 0.83–0.92 → 0.76–0.82 (`net … --profile`, 2–3 rounds alternated). The other paths keep the
    /// zeroed output (`ConvolutionImplementation.skipsOutputZeroing`).
    var skipsOutputZeroing: Bool { rowTiles != nil }
    var preparedBytes: Int { packed.buffer.count * 4 + offsets.count * 8 }
    var summary: String {
        if pointwise { return "\(kernel.name), 1x1 " + (packsTiles ? "with packed tiles" : "in place") }
        if let f = flat { return "\(kernel.name), flat layout \(f.phases)x\(f.phaseHeight)x\(f.phaseWidth) x\(f.geometry.kernelWidth) column copies" }
        if gatherStride != nil { return "\(kernel.name), im2col from phase layout \(layout.phases)x\(layout.phaseHeight)x\(layout.phaseWidth)" }
        return "\(kernel.name), phase layout \(layout.phases)x\(layout.phaseHeight)x\(layout.phaseWidth)"
            + (rowTiles.map { ", \($0.count) tiles per row" } ?? "")
    }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
             batch: Int, threads: Int) {
        let p = problem, d = p.descriptor
        let og = d.outputChannelsPerGroup, cg = d.inputChannelsPerGroup
        let mr = kernel.mr, nr = kernel.nr
        let panels = (og + mr - 1) / mr
        let positions = pointwise ? p.inputPlane : flat?.positions ?? (gatherStride != nil ? p.outputPlane : layout.positions)
        let contiguous = contiguous
        let tiles = (positions + nr - 1) / nr
        // Tiles whose vector loads stay inside the input (pointwise reads the caller's buffer directly).
        let safeTiles = pointwise ? positions / nr : tiles
        // Where positions are the output's own and the activation is a clip, whole tiles of whole panels are
        // written straight into the output by the fused micro-kernel (no trip through the block buffer); the
        // last partial panel and the last partial tile still go through it.
        let fusedClip = contiguous ? epilogue.clipBounds : nil
        let wholeTiles = positions / nr, wholeRows = og / mr * mr, plane = p.outputPlane
        let k = depth
        let width = nr * tilesPerItem
        // The flat layout's margins must stay zero between calls: its own pool. The padded layout and the
        // block buffers are written before they are read: the network-wide scratch.
        let count = workspace.count, pool = workspace
        let scratch: ((UnsafeMutablePointer<Float>) -> Void) -> Void = flat == nil
            ? { body in SharedScratch.withBuffer(count: count) { body($0) } } : { body in pool.withBuffer { body($0) } }
        let packsTiles = packsTiles
        scratch { ws in
            offsets.withUnsafeBufferPointer { offs in
                bias.withUnsafeOptionalBufferPointer { bias in
                    guard let offsets = offs.baseAddress else { return }
                    for n in 0..<batch {
                        let image: UnsafePointer<Float>
                        if pointwise {
                            image = input + n * d.inputChannels * p.inputPlane
                        } else if let f = flat {
                            // Flat layout: each channel's column copies, phases between margins that stay zero
                            // (only interiors are written).
                            let x = input + n * d.inputChannels * p.inputPlane
                            Parallel.forEachRange(count: d.inputChannels, threads: threads) { _, channels in
                                for c in channels { f.fillColumnCopies(input: x + c * p.inputPlane, buffer: ws + c * f.columnCopiesSize) }
                            }
                            image = UnsafePointer(ws)
                        } else if let stride = gatherStride {
                            // The im2col in `ws`, copied from the padded layout after it.
                            layout.writeIm2Col(input: input + n * d.inputChannels * p.inputPlane, channels: d.inputChannels,
                                               phases: ws + (imageFloats - layout.imageSize(channels: d.inputChannels)),
                                               rowStride: stride, into: ws, threads: threads)
                            image = UnsafePointer(ws)
                        } else {
                            let x = input + n * d.inputChannels * p.inputPlane
                            if d.inputChannels >= 4 * threads {
                                Parallel.forEachRange(count: d.inputChannels, threads: threads) { _, channels in
                                    layout.fill(input: x, channels: d.inputChannels, channelRange: channels, buffer: ws)
                                }
                            } else {
                                // A stem's three channels: by phase rows, as the workers split the outputs, so that each
                                // fills about what it reads (by channels, the layout filled 1:2 crossed between the
                                // cores). With more channels, split by rows, the workers would write a cache line
                                // together at their boundary in every plane.
                                Parallel.forEachRange(count: layout.phaseHeight, threads: threads) { _, rows in
                                    layout.fill(input: x, channels: d.inputChannels, phaseRows: rows, buffer: ws)
                                }
                            }
                            image = UnsafePointer(ws)
                        }
                        let planeStride = pointwise ? p.inputPlane : flat?.columnCopiesSize
                            ?? gatherStride.map { $0 * d.kernel.height * d.kernel.width } ?? layout.planeStride
                        let y = output + n * d.outputChannels * p.outputPlane
                        let res = residual.map { $0 + n * d.outputChannels * p.outputPlane }
                        if let rowTiles {
                            runRowTiles(rowTiles, image: image, planeStride: planeStride, output: y, residual: res, bias: bias?.baseAddress,
                                        scratch: ws + imageFloats, threads: threads)
                            continue
                        }
                        // A 1x1 layer onto at most 16 channels (SqueezeNet's squeezes) whose input is more than 1 MB
                        // (the L2 of the Zen 4 host it was measured on): each tile reads 32 positions of every input plane — more streams than the hardware
                        // prefetchers follow — for little arithmetic, so the next tile's are asked for ahead.
                        // SqueezeNet's 128→16 on 55² in the network 0.21–0.28 → 0.136–0.146 ms (the whole network
                        // 5.42–5.62 → 5.37–5.42, 4 rounds alternated); on MobileNetV2's projections onto 24 channels
                        // and more it measured 2–4% slower, on SqueezeNet's other squeezes (inputs of 0.35–0.77 MB) no faster.
                        let prefetchesInputs = pointwise && og <= 16 && k * p.inputPlane * 4 > 1 << 20
                        // A 1x1 layer from at most 32 channels (SqueezeNet's expand1x1): 2k flops per output float,
                        // its time is its stores — a tile writes every output channel's row, 64 streams into memory
                        // the caches no longer hold — so the lines of the tile two ahead are asked for first.
                        // SqueezeNet's 16→64 on 55² in the network 0.135–0.151 → 0.084–0.087 ms, the next one
                        // 0.085 → 0.078–0.082 (3 rounds alternated; one tile ahead 0.084–0.106, four 0.085–0.117);
                        // its 32→128 on 27² unchanged.
                        let prefetchesOutputs = pointwise && k <= 32
                        // Few position tiles (7x7 maps): threads also split the output-channel panels — in `threads`
                        // parts with packed tiles, as every part packs its blocks' tiles (in 2·threads parts each worker
                        // packed them twice: SqueezeNet's classifier at 2 threads 0.652 → 0.636 ms, `step_ab.sh 6`).
                        // Not a 1x1 layer read in place whose few tiles split evenly (`sharesPointwiseTiles`).
                        let splitsTiles = pointwise && !packsTiles && d.groups == 1
                            && Self.sharesPointwiseTiles(positions: positions, nr: nr, threads: threads)
                        let fewTiles = !splitsTiles && d.groups * ((tiles + 1) / 2) < 2 * threads
                        // A few tiles the threads do not divide (14²: 7 tiles of 32 positions, the last a
                        // 4-position one), written straight by the fused kernel: items (group, tile, part) with the
                        // panels split in `threads` parts, part fastest, so a worker's share ends halfway through a
                        // tile instead of a whole tile short (MobileNetV2's 14² projections at 2 threads: the
                        // caller waited 3 tiles against 4).
                        let tileMajor = !fewTiles && threads > 1 && pointwise && fusedClip != nil
                            && (d.groups * tiles) % threads != 0 && d.groups * tiles < 8 * threads && panels >= threads
                        let parts = fewTiles ? Swift.min(panels, (packsTiles ? 1 : 2) * threads) : tileMajor ? threads : 1
                        // Work items are single tiles — (group, part, tile), tile fastest (with `tileMajor`, (group,
                        // tile, part)) — so threads get equal shares whatever the block size; each worker takes its
                        // tiles in blocks of consecutive tiles of one group and part (one tile with `tileMajor`).
                        Parallel.forEachRange(count: d.groups * parts * tiles, threads: threads) { worker, items in
                            let results = ws + imageFloats + worker * workerStride
                            let tail = results + roundUp(og, mr) * width
                            var item = items.lowerBound
                            while item < items.upperBound {
                                let g = item / (parts * tiles), part: Int, t0: Int, t1: Int
                                if tileMajor {
                                    (t0, part) = (item % (parts * tiles) / parts, item % parts)
                                    t1 = t0 + 1
                                } else {
                                    (t0, part) = (item % tiles, item / tiles % parts)
                                    t1 = Swift.min(tiles, t0 + tilesPerItem, t0 + items.upperBound - item)
                                }
                                item += tileMajor ? 1 : t1 - t0
                                let panelRange = (part * panels / parts)..<((part + 1) * panels / parts)
                                if panelRange.isEmpty { continue }
                                let base = image + g * cg * planeStride
                                // Panel `panel` on tile `t` (its rows at `src + offs[kk]`) with `tk`: whole panels of
                                // whole tiles through the fused kernel into the output, the rest into the block buffer.
                                func product(panel: Int, t: Int, src: UnsafePointer<Float>, offs: UnsafePointer<Int>, tk: GEMMMicroKernel) {
                                    let a = packed.group(g) + panel * k * mr
                                    if let (lo, hi) = fusedClip, t < wholeTiles, (panel + 1) * mr <= og {
                                        let row = g * og + panel * mr, at = row * plane + t * nr
                                        if prefetchesOutputs && t + 2 < wholeTiles {
                                            for c in 0..<mr { Prefetch.toL2(y + at + c * plane + 2 * nr, bytes: nr * 4) }
                                        }
                                        kernel.fused(k, a, src, offs, y + at, plane, bias?.baseAddress.map { $0 + row },
                                                     res.map { $0 + at }, lo, hi)
                                    } else {
                                        tk.indirect(k, a, src, offs, results + panel * mr * width + (t - t0) * nr, width, false)
                                    }
                                }
                                // Packed tiles: the block's whole tiles copied first, then panel by panel over all of
                                // them (`packedBlockBytes`); the block's last tile of a plane that is not whole tiles
                                // follows as below.
                                let packedEnd = packsTiles ? Swift.max(t0, Swift.min(t1, safeTiles)) : t0
                                for t in t0..<packedEnd {
                                    let b = base + t * nr, to = tail + (t - t0) * k * nr
                                    for kk in 0..<k { Copy.floats(to + kk * nr, b + offsets[kk], nr) }
                                }
                                for panel in panelRange where packedEnd > t0 {
                                    for t in t0..<packedEnd {
                                        product(panel: panel, t: t, src: tail + (t - t0) * k * nr, offs: offsets + k, tk: kernel)
                                    }
                                }
                                for t in packedEnd..<t1 {
                                    let b = base + t * nr
                                    let valid = positions - t * nr
                                    if prefetchesInputs && t + 1 < safeTiles {
                                        for kk in 0..<k { Prefetch.toL2(b + nr + offsets[kk], bytes: nr * 4) }
                                    }
                                    // A last tile of at most 16 positions runs the 16-column twin (same packed A).
                                    let tk = valid <= 16 ? narrow ?? kernel : kernel
                                    if t >= safeTiles {
                                        // The last pointwise tile: copy its in-bounds inputs, zero-padded, so no load leaves the input.
                                        let tn = tk.nr
                                        for kk in 0..<k {
                                            Copy.floats(tail + kk * tn, b + offsets[kk], valid)
                                            Copy.zero(tail + kk * tn + valid, tn - valid)
                                        }
                                        kernelOnTail(tk, k: k, g: g, panels: panelRange, tail: tail, results: results + (t - t0) * nr, width: width)
                                        continue
                                    }
                                    for panel in panelRange { product(panel: panel, t: t, src: b, offs: offsets, tk: tk) }
                                }
                                let r0 = panelRange.lowerBound * mr, r1 = Swift.min(og, panelRange.upperBound * mr)
                                if fusedClip == nil {
                                    layout.storeRows(contiguous: contiguous, tile: results + r0 * width, tileStride: width, rows: r1 - r0,
                                                     lanes: (t1 - t0) * nr, f0: t0 * nr, row0: g * og + r0, output: y, residual: res,
                                                     bias: bias?.baseAddress, activation: epilogue)
                                    continue
                                }
                                // What the fused kernel did not write: the partial panel's rows over the block, and
                                // the partial last tile's other rows.
                                let r2 = Swift.min(Swift.max(r0, wholeRows), r1)
                                if r2 < r1 {
                                    layout.storeRows(contiguous: contiguous, tile: results + r2 * width, tileStride: width, rows: r1 - r2,
                                                     lanes: (t1 - t0) * nr, f0: t0 * nr, row0: g * og + r2, output: y, residual: res,
                                                     bias: bias?.baseAddress, activation: epilogue)
                                }
                                if t1 > wholeTiles && r0 < r2 {
                                    let t = Swift.max(t0, wholeTiles)
                                    layout.storeRows(contiguous: contiguous, tile: results + r0 * width + (t - t0) * nr, tileStride: width,
                                                     rows: r2 - r0, lanes: (t1 - t) * nr, f0: t * nr, row0: g * og + r0, output: y,
                                                     residual: res, bias: bias?.baseAddress, activation: epilogue)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// How many output rows ahead `runRowTiles` asks for the lines it will write (into L2, a micro-tile's
    /// channels and columns before each call): a stem writes each of its 32 or 64 channels' rows, more store
    /// streams than the hardware prefetchers follow, into memory the rest of the network has pushed out of the
    /// caches. MobileNetV2's stem in the network 0.34–0.56 → 0.29–0.34 ms, VGG16's first layer 2.9–3.1 → 2.15
    /// (alone, its output cached: 0.255 → 0.260). All of a row's lines at once, at its first tile, gained less
    /// (0.31–0.44 ms: bursts of 224 requests); 1, 4 and 8 rows measured no better than 2.
    static let prefetchRowsAhead = 2

    /// The padded layout's row-aligned tiles (`rowTiles`): work items are (group, part, output row, column tile);
    /// whole panels go through the fused micro-kernel straight into the output, a partial last panel through a
    /// tile buffer and `Epilogue.finish`. A row's shifted last tile overlaps the one before: those columns are
    /// written twice, possibly by two workers at once, with the same values (the same computation, same bits).
    /// A clamp-type activation is the fused kernel's clamp; any other (hard swish, SiLU: the stems of MobileNetV3 and
    /// EfficientNet) is applied to the stored rows right after — except on the two overlapping tiles, which go
    /// through the tile buffer (stored then activated in place, a second writer could leave a column activated twice).
    private func runRowTiles(_ rowTiles: [(column: Int, kernel: GEMMMicroKernel)], image: UnsafePointer<Float>, planeStride: Int,
                             output y: UnsafeMutablePointer<Float>, residual res: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                             scratch: UnsafeMutablePointer<Float>, threads: Int) {
        let p = problem, d = p.descriptor, g = p.geometry
        let og = d.outputChannelsPerGroup, cg = d.inputChannelsPerGroup, mr = kernel.mr
        let panels = (og + mr - 1) / mr, perRow = rowTiles.count, tiles = g.outputHeight * perRow
        let bounds = epilogue.clipBounds, lo = bounds?.lo ?? -.infinity, hi = bounds?.hi ?? .infinity
        let after: Epilogue? = bounds == nil ? epilogue : nil
        // Tiles sharing columns with a neighbour (the row's shifted last tile and the one before it).
        let overlaps = rowTiles.indices.map { i in
            (i > 0 && rowTiles[i - 1].column + rowTiles[i - 1].kernel.nr > rowTiles[i].column)
                || (i + 1 < rowTiles.count && rowTiles[i].column + rowTiles[i].kernel.nr > rowTiles[i + 1].column)
        }
        let plane = p.outputPlane, ow = g.outputWidth, k = depth
        let parts = d.groups * ((tiles + 1) / 2) >= 2 * threads ? 1 : Swift.min(panels, 2 * threads)
        offsets.withUnsafeBufferPointer { offs in
            guard let offsets = offs.baseAddress else { return }
            Parallel.forEachRange(count: d.groups * parts * tiles, threads: threads) { worker, items in
                let results = scratch + worker * workerStride
                for item in items {
                    let grp = item / (parts * tiles), part = item / tiles % parts, t = item % tiles
                    let r = t / perRow, (c0, tk) = rowTiles[t % perRow]
                    let b = image + grp * cg * planeStride + r * layout.phaseWidth + c0
                    let at = r * ow + c0
                    let ahead = r + Self.prefetchRowsAhead < g.outputHeight ? Self.prefetchRowsAhead * ow : 0
                    for panel in (part * panels / parts)..<((part + 1) * panels / parts) {
                        let a = packed.group(grp) + panel * k * mr, row = grp * og + panel * mr
                        if ahead > 0 {
                            for c in row..<Swift.min(row + mr, grp * og + og) { Prefetch.toL2(y + c * plane + at + ahead, bytes: tk.nr * 4) }
                        }
                        if (panel + 1) * mr <= og && (after == nil || !overlaps[t % perRow]) {
                            tk.fused(k, a, b, offsets, y + row * plane + at, plane, bias.map { $0 + row },
                                     res.map { $0 + row * plane + at }, lo, hi)
                            if let after {
                                for c in row..<(row + mr) { after.activate(y + c * plane + at, count: tk.nr) }
                            }
                        } else {
                            tk.indirect(k, a, b, offsets, results, tk.nr, false)
                            for rr in 0..<Swift.min(mr, og - panel * mr) {
                                let c = row + rr
                                epilogue.finish(src: results + rr * tk.nr, dst: y + c * plane + at, count: tk.nr,
                                                bias: bias?[c] ?? 0, residual: res.map { $0 + c * plane + at })
                            }
                        }
                    }
                }
            }
        }
    }

    /// Runs `panels` with `kernel` (the operator's or its narrow twin) on a tile whose input rows were copied to
    /// `tail` (`k` rows of `kernel.nr` floats).
    private func kernelOnTail(_ kernel: GEMMMicroKernel, k: Int, g: Int, panels: Range<Int>, tail: UnsafeMutablePointer<Float>,
                              results: UnsafeMutablePointer<Float>, width: Int) {
        let nr = kernel.nr, mr = kernel.mr
        let rowOffsets = (0..<k).map { $0 * nr }
        rowOffsets.withUnsafeBufferPointer { ro in
            guard let ro = ro.baseAddress else { return }
            for panel in panels {
                kernel.indirect(k, packed.group(g) + panel * k * mr, tail, ro, results + panel * mr * width, width, false)
            }
        }
    }
}

extension PhaseLayout {
    /// One image's im2col (`Im2Col.rows`: row `(c · kH + kh) · kW + kw` at `im2col + row · rowStride`), copied from
    /// this layout filled at `phases`: the input channels split between the workers, each filling its channels' planes
    /// and copying their rows (the direct path's im2col).
    func writeIm2Col(input: UnsafePointer<Float>, channels: Int, phases: UnsafeMutablePointer<Float>, rowStride: Int,
                     into im2col: UnsafeMutablePointer<Float>, threads: Int) {
        Parallel.forEachRange(count: channels, threads: threads) { _, range in
            fill(input: input, channels: channels, channelRange: range, buffer: phases)
            Im2Col.rows(layout: self, buffer: phases, channels: channels, channelRange: range, rowStride: rowStride, into: im2col)
        }
    }

    /// `store` for the direct operator: when the positions are the output's own (`contiguous`: a pointwise layer, the
    /// flat layout, the im2col, phase rows that are output rows — no discarded columns), it writes rows of the block
    /// straight through.
    func storeRows(contiguous: Bool, tile: UnsafePointer<Float>, tileStride: Int, rows: Int, lanes: Int, f0: Int, row0: Int,
                   output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                   activation: Epilogue) {
        if !contiguous {
            store(tile: tile, tileStride: tileStride, rows: rows, lanes: lanes, f0: f0, row0: row0, output: output,
                  residual: residual, bias: bias, activation: activation)
            return
        }
        let plane = geometry.outputHeight * geometry.outputWidth
        let count = Swift.min(lanes, plane - f0)
        for r in 0..<rows {
            let c = row0 + r
            activation.finish(src: tile + r * tileStride, dst: output + c * plane + f0, count: count,
                              bias: bias?[c] ?? 0, residual: residual.map { $0 + c * plane + f0 })
        }
    }
}
