import FFTConvKernels

/// A convolution with one group as the transposed GEMM `Yᵀ[P × Cout] = Xᵀ[P × K] · Wᵀ[K × Cout]`: tiles of 7 output
/// positions × `nr` output channels (`gemm_7x32`; `gemm_7x16` when forced), A read by the kernels' strided form
/// (7 consecutive positions of every row of X), the weights packed into `nr`-channel panels once at prepare; results
/// transposed back into the NCHW output with bias, residual and activation.
///
/// X is the input itself for a 1x1 stride-1 unpadded layer (read in place; only a last tile of fewer than 7
/// positions is packed). For every other layer it is the zero-padded `PhaseLayout`, written once per image by all
/// threads together (one copy of the input, where an im2col would write kH·kW/(sh·sw) of them) and read in place
/// through the kernels' gathered form: tile `t`'s element `k` at the tile's first flat position plus tap `k`'s offset
/// (`tapOffsets`) — an output row's positions are consecutive floats of one phase row at any stride. Where the output
/// rows are whole 7-position tiles (every plane of a 224-pixel network: 7², 14², 28², …) tiles are 7 outputs of one
/// row; else (`flatTiles`) they run over the layout's flat positions, row after row with the phase rows' extra columns
/// between (computed, never stored: at stride 2 and padding 1 one column a row, at stride 1 two).
///
/// The direct path (positions as the tile's columns) computes a plane in whole 32- or 16-position tiles: 49
/// positions (7²) cost 64, 196 (14²) cost 208 plus a zero-padded copy of the last tile's inputs; at stride 2 its
/// padded phase rows add a discarded column per row (7² out: 56 positions in 64 columns). Every plane of a
/// 224-pixel network is a multiple of 7 positions (7², 14², 28², …, 112²), so here no lane is wasted; the price is
/// the transposed store (bias and activation on channel vectors, then 16×16 block transposes), about P·Cout floats
/// moved against P·K·Cout multiply-adds.
///
/// A 1x1 layer reading a depthwise layer's output (`ConvolutionOptions.splitsInputChannels`) sums its input channels
/// in two halves and adds them (`split`): at several threads each half is one half of the workers' — the channels
/// the depthwise step's workers wrote.
final class TransposedImplementation: ConvolutionImplementation, @unchecked Sendable {
    let problem: ConvolutionProblem
    let kernel: GEMMMicroKernel
    /// The kernel's strided-A form: whole input tiles read in place.
    let strided: GEMMMicroKernel.PackedStrided
    /// The kernel's gathered-A form when X is the phase layout (`tapOffsets`); nil when X is the input.
    let gathered: GEMMMicroKernel.PackedGathered?
    /// The last panel's kernel when at most half of `kernel`'s columns remain for it (`gemm_7x16` after
    /// `gemm_7x32`: 112 output channels computed as 3 × 32 + 16, not 4 × 32) and its strided form; nil: every
    /// panel on `kernel`.
    let narrow: (kernel: GEMMMicroKernel, strided: GEMMMicroKernel.PackedStrided, gathered: GEMMMicroKernel.PackedGathered?)?
    /// Weights as panels of `nr` output channels: panel `j`, row `k` holds `W[j·nr ..< j·nr + nr][k]` (zero
    /// past the last channel), rows contiguous; with `narrow`, the last panel's rows are its `narrow.kernel.nr`
    /// channels (it starts at `j·k·nr` all the same).
    let panels: AlignedBuffer
    /// The bias per output channel, zero past the last and when the layer has none.
    let bias: AlignedBuffer
    let epilogue: Epilogue
    let tiles: Int
    let panelCount: Int
    /// Rows of X (input channels × kernel taps).
    let depth: Int
    /// Rows of X per pass over a tile (each pass goes on with the chain of the last: the bits of one chain, as the
    /// fused 1x1 + depthwise step and `DirectImplementation` sum): the weight panel's rows that a pass reads, 16 KB of
    /// them, so that they stay in L1 from one tile to the next beside the tile's input lines (a line or two per row).
    /// 32 KB passes and their ~23 KB of input lines overflowed Zen 5's 48 KB L1 (thirty-second session, in the
    /// network, `step_ab.sh`, 1 thread, ms, 32 KB → 16 KB): MobileNetV2's 320→1280 on 7² 0.246 → 0.220, 960→320
    /// 0.185 → 0.157, ResNet-50's 7² 1x1 layers 0.65–0.74 → 0.50–0.58; through an im2col (then one pass of all rows
    /// before) ResNet-50's 3x3 stride-2 512→512 from 14² 2.11 → 1.80, ResNet-18's 256→512 0.77 → 0.68.
    let kc: Int
    /// On the input read in place with whole tiles: the input channel at which the sums split in two — each tile's
    /// products of channels below it and of those from it on are summed apart (each in `kc`-row passes from zero)
    /// and then added, for any thread count. With several threads the halves are computed by different workers:
    /// the first half of the workers reads the channels below the split, the second half the rest — the channels
    /// the workers of a fused 1x1 + depthwise step before it wrote, split the same way (half its panels each), so
    /// that no worker reads what the other core wrote or writes lines the other core read (MobileNetV2's 14²
    /// expansion + depthwise pairs ran 0.056–0.065 ms at 2 threads alone and 0.084–0.087 between such layers).
    /// nil: one chain of passes over every channel.
    let split: Int?
    /// X when it is not the input: the zero-padded phase layout; nil: the input is X.
    let layout: PhaseLayout?
    /// With `layout`: row `k`'s offset from a tile's first flat position (`PhaseLayout.tapOffset` of its channel and
    /// tap); empty otherwise.
    let tapOffsets: [Int]
    /// With `layout`, whether tiles run over its flat positions (output rows not whole 7-position tiles) rather than
    /// along each output row.
    let flatTiles: Bool

    /// Positions per tile (the micro-kernel's rows).
    static let rows = 7

    /// Whether the input is X itself: 1x1, stride 1, no padding or dilation, one group.
    static func readsInPlace(_ d: ConvolutionDescriptor) -> Bool {
        d.kernel == Size2D(1, 1) && d.stride == Size2D(1, 1) && d.padding == .zero && d.dilation == Size2D(1, 1) && d.groups == 1
    }

    /// Whether the layer is one this path computes: one group (any kernel, stride, padding, dilation).
    static func applies(to d: ConvolutionDescriptor) -> Bool { d.groups == 1 }

    /// Whether the path computes `p` with `kernel`: one group, a 7-row kernel with a strided form and — for a layer
    /// not read in place, whose X is the phase layout — a gathered one (its narrow twin too, where the last panel
    /// takes it).
    static func supports(kernel: GEMMMicroKernel, problem p: ConvolutionProblem) -> Bool {
        let d = p.descriptor
        guard applies(to: d), kernel.mr == rows, kernel.strided != nil else { return false }
        if readsInPlace(d) { return true }
        guard kernel.gathered != nil else { return false }
        let tail = d.outputChannels % kernel.nr
        if tail > 0, let twin = MicroKernelRegistry.narrowTwin(of: kernel), twin.mr == kernel.mr, tail <= twin.nr {
            return twin.gathered != nil && twin.strided != nil
        }
        return true
    }

    /// Whether a layer's tiles are 7 outputs of one row: read in place, or output rows of whole tiles.
    static func rowTiles(_ p: ConvolutionProblem) -> Bool { readsInPlace(p.descriptor) || p.geometry.outputWidth % rows == 0 }

    /// Positions the path computes per image: whole 7-position tiles over the plane, or over the phase layout's flat
    /// positions (`flatTiles`).
    static func computedPositions(_ p: ConvolutionProblem) -> Int {
        let d = p.descriptor
        let positions = rowTiles(p) ? p.outputPlane
            : PhaseLayout(geometry: p.geometry, padBottom: d.padding.bottom, padRight: d.padding.right, lanes: 16).positions
        return (positions + rows - 1) / rows * rows
    }

    init(problem p: ConvolutionProblem, weights: Tensor, bias: Tensor?, kernel: GEMMMicroKernel, splitsInputChannels: Bool = false) throws {
        let d = p.descriptor
        guard Self.applies(to: d) else {
            throw ConvolutionError.unsupported(algorithm: "direct",
                                               reason: "the transposed path (\(kernel.name)t) needs a convolution with one group, got \(d)")
        }
        guard Self.supports(kernel: kernel, problem: p), let strided = kernel.strided else {
            throw ConvolutionError.unsupported(algorithm: "direct",
                                               reason: "the transposed path needs a 7-row micro-kernel with a strided form (and a gathered "
                                                   + "one, its narrow twin's too, for a layer not read in place), got \(kernel.name)")
        }
        let inPlace = Self.readsInPlace(d)
        self.strided = strided
        gathered = inPlace ? nil : kernel.gathered
        problem = p
        self.kernel = kernel
        let nr = kernel.nr, k = d.inputChannels * d.kernel.height * d.kernel.width, cout = d.outputChannels
        depth = k
        panelCount = (cout + nr - 1) / nr
        tiles = Self.computedPositions(p) / Self.rows
        kc = Swift.max(1, Swift.min(k, 4096 / nr))
        split = splitsInputChannels && inPlace && p.outputPlane % Self.rows == 0 && k >= 2 * nr ? k / nr / 2 * nr : nil
        let phaseLayout = inPlace ? nil : PhaseLayout(geometry: p.geometry, padBottom: d.padding.bottom, padRight: d.padding.right, lanes: 16)
        layout = phaseLayout
        flatTiles = !Self.rowTiles(p)
        if let phaseLayout {
            var offsets: [Int] = []
            offsets.reserveCapacity(k)
            for c in 0..<d.inputChannels {
                for kh in 0..<d.kernel.height {
                    for kw in 0..<d.kernel.width {
                        offsets.append(phaseLayout.tapOffset(channel: c, channels: d.inputChannels, kh: kh, kw: kw))
                    }
                }
            }
            tapOffsets = offsets
        } else {
            tapOffsets = []
        }
        let tail = cout % nr
        if tail > 0, let twin = MicroKernelRegistry.narrowTwin(of: kernel), twin.mr == kernel.mr, tail <= twin.nr,
           let twinStrided = twin.strided {
            narrow = (twin, twinStrided, inPlace ? nil : twin.gathered)
            let whole = cout / nr * nr
            // Whole panels as usual, then the tail's channels packed `twin.nr` wide right after them.
            (panels, self.bias) = Self.packPanels(weights: weights, bias: bias, outputs: cout, k: k, nr: nr, packing: whole)
            GEMM.packA(m: tail, k: k, a: weights.storage.pointer + whole * k, rowStride: k, colStride: 1, mr: twin.nr,
                       into: panels.pointer + whole * k)
        } else {
            narrow = nil
            (panels, self.bias) = Self.packPanels(weights: weights, bias: bias, outputs: cout, k: k, nr: nr)
        }
        epilogue = d.activation.epilogue
    }

    /// Panel `j`'s width (`narrow`'s for the last panel when there is one), kernel, strided and gathered forms.
    @inline(__always)
    private func panelKernel(_ j: Int)
        -> (nr: Int, kernel: GEMMMicroKernel, strided: GEMMMicroKernel.PackedStrided, gathered: GEMMMicroKernel.PackedGathered?) {
        if let narrow, j == panelCount - 1 { return (narrow.kernel.nr, narrow.kernel, narrow.strided, narrow.gathered) }
        return (kernel.nr, kernel, strided, gathered)
    }

    /// `[outputs, k]` weights as panels of `nr` output channels (panel `j`, row `c` holds `W[j·nr ..< j·nr + nr][c]`,
    /// zero past the last channel, rows contiguous), and the bias padded to whole panels (zero when nil). With
    /// `packing`, only the first `packing` channels are packed (the rest of the buffer left zero, for the caller).
    static func packPanels(weights: Tensor, bias: Tensor?, outputs: Int, k: Int, nr: Int, packing: Int? = nil) -> (AlignedBuffer, AlignedBuffer) {
        let count = (outputs + nr - 1) / nr
        let panels = AlignedBuffer(count: count * k * nr), padded = AlignedBuffer(count: count * nr)
        // Wᵀ in panels of nr channels is W packed as A with nr rows a panel.
        GEMM.packA(m: packing ?? outputs, k: k, a: weights.storage.pointer, rowStride: k, colStride: 1, mr: nr, into: panels.pointer)
        if let bias { for co in 0..<outputs { padded.pointer[co] = bias.storage.pointer[co] } }
        return (panels, padded)
    }

    var preparedBytes: Int { (panels.count + bias.count) * 4 }
    var summary: String {
        let x = layout.map { "phase layout \($0.phases)x\($0.phaseHeight)x\($0.phaseWidth)\(flatTiles ? " in flat tiles" : "")" } ?? "1x1"
        return "\(kernel.name)t, \(x) transposed (\(Self.rows) positions × \(kernel.nr) channels)"
            + (narrow.map { ", last \(problem.descriptor.outputChannels % kernel.nr) channels on \($0.kernel.name)t" } ?? "")
            + (split.map { ", input channels summed in halves at \($0)" } ?? "")
    }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
             batch: Int, threads: Int) {
        let p = problem, d = p.descriptor
        let k = depth, cout = d.outputChannels, positions = p.outputPlane
        let mr = Self.rows, nr = kernel.nr, tiles = tiles, panelCount = panelCount, kc = kc
        // Whole tiles are read in place (`strided`: 7 positions of each row of X, rows `lda` floats apart); on the
        // input itself a last tile of fewer than 7 positions would read past the plane, so each worker that computes
        // it packs it first (`pack`, zero past the last position) into its own scratch. An im2col X has whole tiles.
        //
        // Before: a packing pass, the input's channels split between the workers into one packed copy that every
        // worker then read — at 2 threads each worker's writes invalidated the lines the other had read in the call
        // before, and its reads fetched the half the other wrote (MobileNetV2's 960→160 on 7²: the pass took 9% of
        // the time at 1 thread, 17% at 2, and its barrier more). A copy packed by each worker for itself, before
        // shares of many panels, measured no better than reading in place (Docs/Kernels.md, nineteenth session).
        // Work items are (panel, tile) pairs, panel-major: a worker's share is whole panels plus at most a run of tiles
        // at each end, so any panel count splits evenly (MobileNetV2's five 160-channel panels over 7² positions: 17
        // and 18 tiles instead of 3 and 4 tiles of each panel) — or, with fewer channels than positions
        // (`sharesTiles`), runs of tiles with every panel.
        let items = panelCount * tiles, workers = Swift.min(threads, items)
        let tileMajor = Self.sharesTiles(tiles: tiles, positions: positions, columns: panelCount * nr, threads: workers)
        let lda = positions
        let whole = layout == nil ? positions / mr : tiles, packedTiles = tiles - whole
        // Scratch (written before read): the phase layout X, then per worker the accumulator tiles for its share of one
        // panel, the transpose's staging, and the packed last tile.
        let layoutFloats = layout.map { $0.imageSize(channels: d.inputChannels) } ?? 0
        let tileFloats = tiles * mr * nr
        // With a split: at one worker a second accumulator block (the upper channels' sums); at several, both
        // halves' sums of every (panel, tile) in `halves`, then added tile by tile.
        let splitWorkers = split != nil && workers > 1
        let halfFloats = splitWorkers ? panelCount * tileFloats : 0
        let perWorker = Parallel.workerStride((split != nil ? 2 : 1) * tileFloats + Transpose.stagingFloats + packedTiles * mr * k,
                                              threads: threads)
        SharedScratch.withBuffer(count: layoutFloats + 2 * halfFloats + workers * perWorker) { scratch in
            let halves = scratch + layoutFloats, ws = halves + 2 * halfFloats
            for n in 0..<batch {
                let image = input + n * d.inputChannels * p.inputPlane, y = output + n * cout * positions
                let res = residual.map { $0 + n * cout * positions }
                let x: UnsafePointer<Float>
                if let layout {
                    // The phase layout, its channels written by all the workers; each then reads every channel.
                    Parallel.forEachRange(count: d.inputChannels, threads: threads) { _, range in
                        layout.fill(input: image, channels: d.inputChannels, channelRange: range, buffer: scratch)
                    }
                    x = UnsafePointer(scratch)
                } else {
                    x = image
                }
                if let split, splitWorkers {
                    // Items (half, panel, tile), half-major: each worker's share lies in one half's channels (or
                    // two runs, with an odd worker count). Then the halves are added and stored by (panel, tile).
                    Parallel.forEachRange(count: 2 * items, threads: threads) { _, share in
                        Self.forEachRun(share, per: items) { h, pairs in
                            let channels = h == 0 ? 0..<split : split..<k
                            Self.forEachRun(pairs, per: tiles) { j, run in
                                // (`split` needs whole tiles: nothing is read from `packed`.)
                                sums(x: x, lda: lda, panel: j, tiles: run, channels: channels, whole: whole, packed: x,
                                     into: halves + h * halfFloats + j * tileFloats + run.lowerBound * mr * panelKernel(j).nr)
                            }
                        }
                    }
                    Parallel.forEachRange(count: items, threads: threads) { worker, items in
                        let acc = ws + worker * perWorker, staging = acc + tileFloats
                        Self.forEachRun(items, per: tiles) { j, run in
                            let nj = panelKernel(j).nr, lower = halves + j * tileFloats + run.lowerBound * mr * nj
                            GEMM.addPartials(lower, lower + halfFloats, into: acc, count: run.count * mr * nj)
                            store(acc, tiles: run, panel: j, positions: positions, cout: cout, output: y, residual: res,
                                  staging: staging)
                        }
                    }
                    continue
                }
                Parallel.forEachRange(count: tileMajor ? tiles : items, threads: threads) { worker, share in
                    let acc = ws + worker * perWorker, staging = acc + tileFloats, packed = staging + Transpose.stagingFloats
                    // The first blocks of the worker's first panel, asked for before its first tile.
                    Prefetch.toL2(panels.pointer + (tileMajor ? 0 : share.lowerBound / tiles) * k * nr,
                                  bytes: Swift.min(k, 4 * kc) * nr * 4)
                    var packedYet = false
                    func product(_ j: Int, _ run: Range<Int>) {
                        if packedTiles > 0 && run.upperBound > whole && !packedYet {
                            Self.pack(x, positions: positions, k: k, channels: 0..<k, tiles: whole..<tiles, into: packed)
                            packedYet = true
                        }
                        if let split {
                            // One worker: both halves' sums for each tile, then added as the workers' halves are.
                            let upper = staging + Transpose.stagingFloats + packedTiles * mr * k
                            sums(x: x, lda: lda, panel: j, tiles: run, channels: 0..<split, whole: whole, packed: packed, into: acc)
                            sums(x: x, lda: lda, panel: j, tiles: run, channels: split..<k, whole: whole, packed: packed, into: upper)
                            GEMM.addPartials(acc, upper, into: acc, count: run.count * mr * panelKernel(j).nr)
                        } else {
                            sums(x: x, lda: lda, panel: j, tiles: run, channels: 0..<k, whole: whole, packed: packed, into: acc)
                        }
                        store(acc, tiles: run, panel: j, positions: positions, cout: cout, output: y, residual: res,
                              staging: staging)
                    }
                    if tileMajor {
                        for j in 0..<panelCount { product(j, share) }
                    } else {
                        Self.forEachRun(share, per: tiles, product)
                    }
                }
            }
        }
    }

    /// Panel `j`'s sums over the input channels `channels` for the tiles `tiles`, in passes of `kc` rows (the first
    /// from zero) into `acc` (tile `t` at `acc + (t − tiles.lowerBound)·7·nr`): whole tiles read in place from `x`
    /// (rows `lda` apart), the tiles from `whole` on from `packed`. While a pass's tiles run, the weight rows of the
    /// pass four ahead (passes are consecutive in memory) are asked for into L2, a share before each tile. (One pass
    /// ahead: MobileNetV2's f18 0.214 ms in the network; four: 0.205–0.207, its 960→160 layers 0.094 → 0.090.)
    private func sums(x: UnsafePointer<Float>, lda: Int, panel j: Int, tiles: Range<Int>, channels: Range<Int>, whole: Int,
                      packed: UnsafePointer<Float>, into acc: UnsafeMutablePointer<Float>) {
        let mr = Self.rows, k = depth, (nr, kernel, strided, gathered) = panelKernel(j), base = panels.pointer + j * k * self.kernel.nr
        if let gathered, let layout {
            // The phase layout read in place: tile t is 7 outputs of one row, at its first position's flat index, or
            // with `flatTiles` the flat positions from 7t on.
            let width = problem.geometry.outputWidth, phaseWidth = layout.phaseWidth, flat = flatTiles
            tapOffsets.withUnsafeBufferPointer { offsets in
                guard let offsets = offsets.baseAddress else { return }
                passes(base, nr: nr, tiles: tiles, channels: channels) { t, k0, n, b, accumulate in
                    let p0 = t * mr, f0 = flat ? p0 : p0 / width * phaseWidth + p0 % width
                    gathered(n, x + f0, offsets + k0, b, acc + (t - tiles.lowerBound) * mr * nr, nr, accumulate)
                }
            }
            return
        }
        passes(base, nr: nr, tiles: tiles, channels: channels) { t, k0, n, b, accumulate in
            let c = acc + (t - tiles.lowerBound) * mr * nr
            if t < whole {
                strided(n, x + k0 * lda + t * mr, lda, b, c, nr, accumulate)
            } else {
                kernel.packed(n, packed + ((t - whole) * k + k0) * mr, b, c, nr, accumulate)
            }
        }
    }

    /// The passes of `kc` weight rows over `channels` of a panel whose rows start at `base` (`nr` floats each): for each
    /// pass, `tile(t, k0, n, b, accumulate)` for every tile of `tiles` — the pass's first row `k0`, its `n` rows at `b`,
    /// whether it goes on from the pass before — with the weight rows of the pass four ahead asked for into L2, a share
    /// before each tile.
    @inline(__always)
    private func passes(_ base: UnsafePointer<Float>, nr: Int, tiles: Range<Int>, channels: Range<Int>,
                        _ tile: (_ t: Int, _ k0: Int, _ n: Int, _ b: UnsafePointer<Float>, _ accumulate: Bool) -> Void) {
        let kc = kc
        var k0 = channels.lowerBound
        while k0 < channels.upperBound {
            let n = Swift.min(kc, channels.upperBound - k0)
            let next = UnsafeRawPointer(base + (k0 + n + 3 * kc) * nr), bytes = kc * nr * 4
            let b = base + k0 * nr
            for t in tiles {
                let share = bytes / tiles.count, from = (t - tiles.lowerBound) * share
                Prefetch.toL2(next + from, bytes: t + 1 == tiles.upperBound ? bytes - from : share)
                tile(t, k0, n, b, k0 > channels.lowerBound)
            }
            k0 += n
        }
    }

    /// Whether workers take runs of tiles with every panel (tile-major) instead of runs of (panel, tile) pairs
    /// panel-major: at several threads where the output has fewer channels (`columns`, whole panels) than positions —
    /// a worker then reads every panel's weights and its share of X, less than its share of the weights and all of X
    /// — and the tiles split in shares of two or more whose largest is at most 1.25× the mean positions. Each worker
    /// also writes its own positions of every channel, which the next layer, split by positions, reads on the same
    /// core. Forty-first session (Xeon, family 6 model 207, 2 threads, `Bench/scripts/step_ab.sh 4`, both orders):
    /// ResNet-18's 64→128 3x3 stride 2 onto 28² (128 channels against 784 positions) 0.668 / 0.793 → 0.515 / 0.680 ms
    /// in the network, the steps after it faster too (sum of the steps 0.92–0.95×); SqueezeNet's 13² squeezes on this
    /// path (`KernelChoice.prefersTransposedSqueeze`) 12–24% slower panel by panel, level with the in-place direct
    /// path this way; MobileNetV2's 14² projections (64–96 channels against 196) level. Its 7² layers (160–1280
    /// channels against 49) keep the panel-major shares.
    static func sharesTiles(tiles: Int, positions: Int, columns: Int, threads: Int) -> Bool {
        guard threads > 1, tiles >= 2 * threads, columns < positions else { return false }
        return (tiles + threads - 1) / threads * rows * threads * 4 <= positions * 5
    }

    /// Calls `body(i, run)` for each block `i` of `n` consecutive items that `items` (not empty) touches, `run` the
    /// items of block `i` it holds, counted from the block's start — a share of (panel, tile) pairs as each panel's
    /// run of tiles.
    @inline(__always)
    static func forEachRun(_ items: Range<Int>, per n: Int, _ body: (_ block: Int, _ run: Range<Int>) -> Void) {
        for i in (items.lowerBound / n)...((items.upperBound - 1) / n) {
            body(i, Swift.max(items.lowerBound - i * n, 0)..<Swift.min(items.upperBound - i * n, n))
        }
    }

    /// Input channels `channels` of the tiles `tiles` (nil: every tile), each tile channel-major: tile `t`'s block
    /// (at `into + (t − tiles.lowerBound)·7k`) holds `x[c·P + 7t + i]` at `c·7 + i`, zero past the last position.
    /// Each input row is read once, front to back.
    static func pack(_ x: UnsafePointer<Float>, positions: Int, k: Int, channels: Range<Int>, tiles: Range<Int>? = nil,
                     into a: UnsafeMutablePointer<Float>) {
        let full = positions / rows, tiles = tiles ?? 0..<((positions + rows - 1) / rows), t0 = tiles.lowerBound
        let whole = t0..<Swift.max(t0, Swift.min(full, tiles.upperBound)), partial = whole.upperBound..<tiles.upperBound
        for c in channels {
            let row = x + c * positions
            // Eight-float copies, each overlapping the next channel's first float of the tile (rewritten when
            // that channel is packed); a range's last channel is copied by itself, so that no write reaches
            // another worker's channel or a tile block already packed, and no read leaves the input.
            if c + 1 < channels.upperBound {
                for t in whole {
                    UnsafeMutableRawPointer(a + ((t - t0) * k + c) * rows)
                        .storeBytes(of: UnsafeRawPointer(row + t * rows).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                }
            } else {
                for t in whole { for i in 0..<rows { a[((t - t0) * k + c) * rows + i] = row[t * rows + i] } }
            }
            for t in partial {
                for i in 0..<rows { a[((t - t0) * k + c) * rows + i] = t * rows + i < positions ? row[t * rows + i] : 0 }
            }
        }
    }

    /// The accumulator tiles of `tiles` for panel `j` — consecutive positions, `nr` channels each — transposed
    /// into the NCHW output: `y[co·P + p] = act(acc + bias[co] + residual[co·P + p])`, in `Epilogue.finish`'s
    /// order of operations. Bias and activation are applied on the channel vectors before the transpose; with
    /// a residual the activation follows its add, on the output rows. With `flatTiles` the tiles' positions are the
    /// layout's flat ones: each output row's part of them is stored by itself, the phase rows' extra columns skipped.
    private func store(_ acc: UnsafeMutablePointer<Float>, tiles: Range<Int>, panel j: Int, positions: Int, cout: Int,
                       output y: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, staging: UnsafeMutablePointer<Float>) {
        let mr = Self.rows, nr = panelKernel(j).nr, c0 = j * kernel.nr, channels = Swift.min(nr, cout - c0)
        // One run of consecutive output positions: `count` accumulator rows from row `row` on, to positions `p0…`.
        func run(row: Int, p0: Int, count: Int) {
            let a = acc + row * nr
            epilogue.biasRows(a, rows: count, width: nr, bias: bias.pointer + c0, activate: residual == nil)
            Transpose.floats(a, sourceStride: nr, y + c0 * positions + p0, destinationStride: positions, rows: count, columns: channels,
                             staging: staging)
            if let residual {
                for c in 0..<channels {
                    let out = y + (c0 + c) * positions + p0
                    epilogue.finish(src: out, dst: out, count: count, bias: 0, residual: residual + (c0 + c) * positions + p0)
                }
            }
        }
        let f0 = tiles.lowerBound * mr
        guard flatTiles, let layout else {
            run(row: 0, p0: f0, count: Swift.min(positions, tiles.upperBound * mr) - f0)
            return
        }
        let width = problem.geometry.outputWidth, phaseWidth = layout.phaseWidth
        let f1 = Swift.min(tiles.upperBound * mr, layout.positions)
        guard f1 > f0 else { return }
        for oy in (f0 / phaseWidth)...((f1 - 1) / phaseWidth) {
            let start = Swift.max(f0, oy * phaseWidth), end = Swift.min(f1, oy * phaseWidth + width)
            if start < end { run(row: start - f0, p0: oy * width + start - oy * phaseWidth, count: end - start) }
        }
    }
}
