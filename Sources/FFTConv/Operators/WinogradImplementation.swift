import FFTConvKernels

/// Winograd convolution F(m×m, r×r) for stride-1, undilated 3x3 and 5x5 layers (groups included).
///
/// Prepare: every filter becomes its `α×α` tile `G g Gᵀ` (in `Double`, rounded once), regrouped as α² matrices
/// `U[ξν]` of `outputChannels × inputChannels` per group and packed for the GEMM micro-kernel.
/// Run, per chunk of whole tile rows: input tiles → `V[ξν]` (`WinogradKernels.transformInput`), α² GEMMs
/// `M[ξν] = U[ξν] · V[ξν]` on the micro-kernel's indirect form reading `V`'s rows where they are (no B
/// packing; a last column tile of at most 16 on the 16-column twin) — or, where a chunk's tile count wastes
/// lanes of 32-column tiles (25 tiles of F(6×6) on 28² cost 32), transposed: `M[ξν]ᵀ = V[ξν]ᵀ · U[ξν]ᵀ` in tiles of
/// 13 or 7 Winograd tiles × 32 output channels, `V` read in place by the strided form, `Uᵀ` packed as panels,
/// each panel's result transposed back — then `Aᵀ M A` with bias, residual and activation
/// (`WinogradKernels.transformOutput`). Chunks are independent, so threads split them and every output is
/// computed the same way for any thread count.
final class WinogradImplementation: ConvolutionImplementation, @unchecked Sendable {
    let problem: ConvolutionProblem
    let transform: WinogradTransform
    let kernel: GEMMMicroKernel
    /// `kernel`'s 16-column twin, for a last column tile of at most 16 tiles.
    let narrow: GEMMMicroKernel?
    /// The transposed GEMM's micro-kernel (tiles as its rows, `V` read by its strided form), where the layer's chunks
    /// compute enough fewer columns that way (`transposedChoice`); nil: `kernel` on `U` packed as A.
    let transposed: (kernel: GEMMMicroKernel, strided: GEMMMicroKernel.PackedStrided)?
    /// With `transposed` and a straight-line output stage, the products stay transposed — `Mᵀ[ξν]`, tile `t`'s row of
    /// every output channel at `t · productRowStride`, matrices `productMatrixStride` apart — and the output stage reads
    /// them with the channels as lanes (`WinogradKernels.transformOutputTransposed`); else each panel's result is
    /// transposed back into `M[ξν]`.
    let keepsProductsTransposed: Bool
    let productRowStride: Int, productMatrixStride: Int
    /// The bias padded with zeros for whole 16-channel vectors (the transposed output stage's).
    let paddedBias: AlignedBuffer
    /// `U`, packed: group g, element ξν at `(g * α² + ξν) * packedStride` — as A panels of `kernel.mr` output
    /// channels, or with `transposed` as `Uᵀ` in panels of `nr` output channels (panel `j`, row `c` holds
    /// `U[j·nr ..< j·nr + nr][c]`, zero past the last channel).
    let packed: AlignedBuffer
    let packedStride: Int
    let plan: WinogradStagePlan
    let bias: [Float]?
    let epilogue: Epilogue
    let tileRows: Int, tilesPerRow: Int
    let rowsPerChunk: Int
    /// Chunks a plane is cut into: `rowsPerChunk` rows each (the last shorter) or, with `balancedChunks`, that many
    /// cut evenly.
    let chunksPerImage: Int
    /// The chunks' rows cut evenly (`c · tileRows / chunksPerImage` on), in a multiple of the thread count, where
    /// chunks of `rowsPerChunk` rows would leave one worker more GEMM columns (`balancedChunkCount`).
    let balancedChunks: Bool
    /// Threads share each chunk stage by stage (input channels, then tile elements, then output channels)
    /// instead of taking whole chunks.
    let staged: Bool
    /// Floats of scratch a call takes from `SharedScratch` (every worker's `V`, `M` and transform scratch).
    let scratchFloats: Int
    let layout: (v: Int, products: Int, gemm: Int, transforms: Int)
    /// Row stride of `V` in every chunk: a full chunk's tiles plus a vector (the input transform stores whole
    /// vectors, and the GEMM's last column tile reads up to a vector past the last tile).
    let vStride: Int
    /// `c · vStride` for input channel `c`: the GEMM reads `V`'s row `c` at `base + rowOffsets[c]`.
    let rowOffsets: [Int]
    let workerStride: Int
    /// Floats from one of `V`'s α² matrices to the next: an odd number of cache lines (`oddLineStride`), so the
    /// matrices start in different L1 sets (an even stride put 18 of F(4x4)'s 36 at the same 4 KB offset).
    let vMatrixStride: Int

    /// Depth of one micro-kernel call in the GEMMs (input channels summed before adding to the partial result).
    static let depthBlock = 256

    /// Tile-row chunks aim at about this many tiles (the GEMMs' column count): 128. With 128 channels or more 256
    /// is slower (128→256 at 56²: 3.27 → 3.69 ms). Alone, layers of at most 64 input and 64 output channels ran
    /// faster at 256 — each tile element's GEMM is small and longer rows amortize its calls (F4 on 64→64 at 224²
    /// 13.6 → 11.7 ms, at 56² 0.640 → 0.631, on the Zen-5-like host; on the Zen 4 host 16→64 at 55² 0.29–0.30 →
    /// 0.274, 64→64 at 56² 0.855–0.863 → 0.807–0.832, but 64→64 at 112² 3.00–3.11 at 98 tiles against 3.25–3.40)
    /// — yet in a network the larger chunk's scratch (16→64 at 55²: 2.3 MB of transformed inputs and products) is
    /// written into lines the rest of the call pushed out of the caches: SqueezeNet's first expand3x3 took 0.46–0.57
    /// ms against 0.30–0.40 for the identical second one, and with 128 everywhere SqueezeNet at 1 thread ran
    /// 5.54–5.75 → 5.41–5.54 ms (4 rounds alternated), ResNet-18 20.54–20.76 → 20.31–20.60 (3) and 11.14–11.77 →
    /// 10.77–10.99 at 2 threads (2), VGG16 and SqueezeNet at 2 threads within noise (Zen 4 host). The packed and
    /// the in-place GEMM ranked 128, 256 and 512 alike on five VGG16 layers.
    static let targetColumns = 128

    /// Prepared weights up to this size may be read once per chunk; above it, chunks are not made smaller than
    /// `target` asks (every chunk reads all the weights: VGG16's 512→512 layers on 28², 38 MB in F(4×4), ran 12.6
    /// → 14.0 ms in the network in two chunks of 42 tiles instead of one of 49).
    static let rereadableWeightBytes = 8 << 20

    /// Prepared weights above this size are shared by the threads stage by stage (each thread multiplies half the
    /// tile elements of every chunk, reading half the weights) rather than chunk by chunk (each thread reading them
    /// all). VGG16 at 2 threads, in the network (`net … --profile --threads 2`, ms, chunks / stages): 64→128 on
    /// 112² (1.2 MB) 3.83 / 3.44, 128→128 on 112² (2.4 MB; 7 chunks, 4 against 3) 7.26 / 5.70, 128→256 on 56² 3.68 /
    /// 3.11, 256→256 on 56² 6.69–6.72 / 6.16–5.74; 64→64 on 224² (0.6 MB, 28 chunks) 7.50 / 8.22 stays by chunks.
    static let stagedWeightBytes = 1 << 20

    /// Whether a plane's `tileRows` (of `tilesPerRow` tiles) are too few to be shared as whole chunks between
    /// `threads` (then, with `stagedWeightBytes` or less of weights, every chunk is shared stage by stage). Zen 4 and
    /// other cores: fewer than 4 rows a thread (tuned on the Zen 4 host kind, Docs/Kernels.md). Intel cores (`intel`):
    /// where the largest share of whole rows would pass 1.25× the mean (1 or 3 rows at 2 threads, not 2, 4, 5 or 7)
    /// or the smallest would hold fewer than 16 tiles (its GEMMs then run on the 16-column twin or short runs). Staged,
    /// V and M cross between the cores twice a chunk, and on the Xeon a crossing costs more than on the Zen 4 hosts
    /// (`cross_step_probe.c`, 1 MB: 47 µs a step against 17 when nothing crosses). Fortieth session (Xeon, family 6
    /// model 207; `layer … --padding 1 --activation relu --algorithm winograd --threads 2`, ms, staged → whole chunks):
    /// SqueezeNet's 32→128 on 27² (7 rows of 7 F(4x4) tiles, chunks of 28 and 21) minima 0.115–0.117 → 0.104–0.108,
    /// in the network (`step_ab.sh 5`) its two such layers 0.174 / 0.164 → 0.127 / 0.125; 64→64 on 28² (F(4x4), 7
    /// rows) medians 0.152–0.184 → 0.130–0.135. With chunks of 15 tiles (F(6x6) on 28², 3 + 2 rows of 5) 128→32 went
    /// 0.194–0.197 → 0.248–0.249 (16→40 0.085–0.090 → 0.063): those stay staged, as do one row (64→64 on 4², 0.025 →
    /// 0.032 by chunks) and 64→64 on 14² (2 + 2 rows of 4 tiles, 0.041–0.042 against 0.039).
    static func fewTileRows(_ tileRows: Int, tilesPerRow: Int, threads: Int, intel: Bool) -> Bool {
        guard intel else { return tileRows < 4 * threads }
        return roundUp(tileRows, threads) * 4 > tileRows * 5 || tileRows / threads * tilesPerRow < 16
    }

    /// Where threads take whole chunks of one plane (`forEachRange` over them, contiguous shares): the chunk count,
    /// a multiple of `threads`, whose evenly cut chunks (`c · tileRows / count` on, none longer than `rowsPerChunk`)
    /// give the busiest worker fewer GEMM columns than chunks of `rowsPerChunk` rows do; nil where those are as even.
    /// F(4×4) on 55² or 56² (14 tile rows, chunks of 4: 8 rows against 6 at 2 threads) is cut 3 + 4 + 3 + 4.
    static func balancedChunkCount(tileRows: Int, tilesPerRow: Int, rowsPerChunk: Int, threads: Int, nr: Int, narrow: Int?) -> Int? {
        guard threads > 1 else { return nil }
        let uniform = (tileRows + rowsPerChunk - 1) / rowsPerChunk
        let count = roundUp(uniform, threads)
        // The busiest worker's computed columns with chunk `c` spanning `rows(c)`.
        func busiest(_ chunks: Int, _ rows: (Int) -> Range<Int>) -> Int {
            (0..<Swift.min(threads, chunks)).map { w in
                ((chunks * w / threads)..<(chunks * (w + 1) / threads)).reduce(0) {
                    $0 + computedColumns(rows($1).count * tilesPerRow, nr: nr, narrow: narrow)
                }
            }.max() ?? 0
        }
        let even = busiest(count) { chunkRows($0, of: count, tileRows: tileRows, rowsPerChunk: nil) }
        let uneven = busiest(uniform) { chunkRows($0, of: uniform, tileRows: tileRows, rowsPerChunk: rowsPerChunk) }
        return count <= tileRows && even < uneven ? count : nil
    }

    /// The tile rows of chunk `c` of `chunks`: `rowsPerChunk` each (the last shorter), or without it cut evenly.
    static func chunkRows(_ c: Int, of chunks: Int, tileRows: Int, rowsPerChunk: Int?) -> Range<Int> {
        guard let rowsPerChunk else { return (c * tileRows / chunks)..<((c + 1) * tileRows / chunks) }
        return (c * rowsPerChunk)..<Swift.min(tileRows, (c + 1) * rowsPerChunk)
    }

    /// Tile rows per chunk: near `target` tiles, choosing among 2/3 to 3/2 of that (without more chunks unless
    /// `moreChunks`) the count whose chunks compute the fewest GEMM columns in all (`nr`-column tiles, a last one of
    /// at most `narrow` columns on the narrow twin), then the one nearest `target`, then the fewest chunks. F(6×6) on
    /// 112² (19 tiles a row): chunks of 7 rows are 133 columns, computed as 144; of 5 rows 95, computed as 96 —
    /// 12.3–16.4 → 9.8–12.2 ms alone (128→128, 4 rounds alternated); F(4×4) there 140 → 112 tiles, 12.1–13.3 →
    /// 10.6–11.1 ms.
    static func chunkRows(target: Int, tileRows: Int, tilesPerRow: Int, nr: Int, narrow: Int?, moreChunks: Bool) -> Int {
        let nearest = Swift.max(1, Swift.min(tileRows, (target + tilesPerRow / 2) / tilesPerRow))
        let chunks = (tileRows + nearest - 1) / nearest
        func cost(_ rows: Int) -> (computed: Int, distance: Int, chunks: Int) {
            (planeColumns(rowsPerChunk: rows, tileRows: tileRows, tilesPerRow: tilesPerRow, nr: nr, narrow: narrow),
             abs(rows * tilesPerRow - target), (tileRows + rows - 1) / rows)
        }
        let lowest = Swift.max(1, nearest * 2 / 3), highest = Swift.max(lowest, Swift.min(tileRows, nearest * 3 / 2))
        return (lowest...highest).filter { moreChunks || (tileRows + $0 - 1) / $0 <= chunks }.min { cost($0) < cost($1) } ?? nearest
    }

    /// Columns the GEMMs compute over a plane of `tileRows` tile rows in chunks of `rowsPerChunk` (the last one
    /// shorter): `computedColumns` of every chunk.
    static func planeColumns(rowsPerChunk rows: Int, tileRows: Int, tilesPerRow: Int, nr: Int, narrow: Int?) -> Int {
        let full = tileRows / rows, rest = tileRows % rows
        return full * computedColumns(rows * tilesPerRow, nr: nr, narrow: narrow)
            + (rest > 0 ? computedColumns(rest * tilesPerRow, nr: nr, narrow: narrow) : 0)
    }

    /// Columns the GEMM computes for `columns` tiles: whole `nr`-column tiles, a last one of at most `narrow` columns
    /// on the narrow twin.
    static func computedColumns(_ columns: Int, nr: Int, narrow: Int?) -> Int {
        let rest = columns % nr
        return columns - rest + (rest == 0 ? 0 : narrow.map { rest <= $0 ? $0 : nr } ?? nr)
    }

    /// The strided micro-kernels the transposed GEMM chooses from (13 and 7 tiles × 32 output channels): only on
    /// builds with 16-float registers, as the transposed 1x1 path (on AVX2 a 7x16 tile already spills).
    static var transposedKernels: [GEMMMicroKernel] {
        KernelTarget.wideRegisters ? ["gemm_13x32", "gemm_7x32"].compactMap(MicroKernelRegistry.named).filter {
            $0.strided != nil && $0.mr <= WinogradKernels.maximumLanes
        } : []
    }

    /// How a plane of tile rows may be cut into chunks: the chunk rows nearest a target column count for a given
    /// micro-tile (`chunkRows`), at most a thread's share of the rows when threads take whole chunks.
    struct ChunkShape {
        let tileRows: Int, tilesPerRow: Int, threads: Int, moreChunks: Bool

        func rows(target: Int, nr: Int, narrow: Int?) -> Int {
            let rows = WinogradImplementation.chunkRows(target: target, tileRows: tileRows, tilesPerRow: tilesPerRow, nr: nr,
                                                        narrow: narrow, moreChunks: moreChunks)
            return threads > 1 ? Swift.max(1, Swift.min(rows, (tileRows + threads - 1) / threads)) : rows
        }

        func computed(rows: Int, nr: Int, narrow: Int?) -> Int {
            WinogradImplementation.planeColumns(rowsPerChunk: rows, tileRows: tileRows, tilesPerRow: tilesPerRow, nr: nr, narrow: narrow)
        }
    }

    /// The transposed GEMM's kernel and chunk rows (chunks near `transposedTargetColumns` tiles), where it pays.
    ///
    /// With a straight-line output stage the products stay transposed and that stage reads them with the channels
    /// as lanes (twenty-first session): then at 1 thread from `transposeShallowDepth` input channels wherever the
    /// transposed tiles compute at most `transposeSingleMargin` percent more rows than the column path's columns; at
    /// more threads where they compute no more, from `transposeMinimumDepth` input channels — or from
    /// `transposeShallowDepth` on outputs up to `transposeShallowArea` positions. Zen 4, `fftconv-bench layer …
    /// --algorithm winograd [--micro-kernel gemm_7x32t|gemm_13x32t]`, ms, 1 / 2 threads, column → transposed:
    /// SqueezeNet's 32→128 on 27² 0.266 / 0.177 → 0.210 / 0.143, 16→64 on 55² 0.308 / 0.212 → 0.278 / 0.161,
    /// ResNet-18's 64→64 on 56² 0.813 / 0.435 → 0.777 / 0.443; on larger planes it won at 1 thread but not at 2 —
    /// VGG16's 64→64 on 224² 12.70 / 6.29 → 11.97 / 7.30, 128→128 on 112² (F(6×6), 77 rows for 76 tiles against 96
    /// columns for 95) 10.91 / 4.68 → 9.43–10.18 / 5.79 (3 rounds; 5 later rounds at 2 threads: 6.20 → 6.15 and 5.19 →
    /// 4.79–6.03, level) (in VGG16 at 1 thread, `net … --profile`: 13.0 → 12.2 and 10.7 → 9.4 ms) — and where the
    /// column path's tiles fit it lost (64→256 on 13², 16 tiles on the 16-column twin,
    /// against 21 rows: 0.206 → 0.262). The 13-tile kernel where it computes no more rows than the 7-tile one (ties
    /// to the larger tile).
    ///
    /// Else (each panel transposed back into `M`) where the lanes it saves outweigh the transposes: from
    /// `transposeMinimumDepth` input channels, where each tile and output channel costs `depth` multiply-adds in the
    /// GEMM and one float moved by a 16×16 block transpose, worth about `transposeDepth` of them — so the column path
    /// (chunk rows `columnRows`) must compute more than `1 + transposeDepth / depth` times the rows. The 25 tiles of
    /// F(6×6) on 28² are 26 in 13-tile rows against 32 columns; F(4×4)'s 14 tile rows of 14 on 56² are 196 in 7-tile
    /// rows (chunks of 56) against 208 columns (chunks of 126 and 70).
    static func transposedChoice(_ chunking: ChunkShape, columnRows: Int, nr: Int, narrow: Int?, depth: Int, outputArea: Int,
                                 threads: Int, keepsProductsTransposed: Bool) -> (GEMMMicroKernel, Int)? {
        let single = keepsProductsTransposed && threads == 1 && depth >= transposeShallowDepth
        let shallow = keepsProductsTransposed && depth >= transposeShallowDepth && outputArea <= transposeShallowArea
        guard depth >= transposeMinimumDepth || shallow || single else { return nil }
        let direct = chunking.computed(rows: columnRows, nr: nr, narrow: narrow)
        // Whether the transposed form pays is judged on the fewest rows any of its kernels computes; which kernel
        // computes them, on their cost.
        var best: (kernel: GEMMMicroKernel, rows: Int, computed: Int, cost: Int)?, fewest = Int.max
        let kernels = transposedKernels, widest = kernels.map(\.mr).max() ?? 0
        for k in kernels {
            let rows = chunking.rows(target: transposedTargetColumns, nr: k.mr, narrow: nil)
            let computed = chunking.computed(rows: rows, nr: k.mr, narrow: nil)
            // From `wideTileDepth` input channels a row of the 7-tile kernel costs `narrowTileCost` percent of one of
            // the 13-tile kernel's (its 14 accumulators against 26: more loads and broadcasts per multiply-add).
            let cost = computed * (depth >= wideTileDepth && k.mr < widest ? narrowTileCost : 100)
            if best.map({ cost < $0.cost }) ?? true { best = (k, rows, computed, cost) }
            fewest = Swift.min(fewest, computed)
        }
        guard let best else { return nil }
        if single { return fewest * 100 <= direct * (100 + transposeSingleMargin) ? (best.kernel, best.rows) : nil }
        let extra = keepsProductsTransposed ? 0 : transposeDepth
        guard direct * depth >= fewest * (depth + extra) else { return nil }
        return (best.kernel, best.rows)
    }

    /// Tiles per chunk the transposed GEMM aims at: 56. It reads each element's `V` once per 32-channel panel, and a
    /// smaller `V` stays nearer (twentieth session, F(4×4) on 56², 1 / 2 threads, ms, chunks of 126 → 56 tiles:
    /// 256→256 10.55 → 10.03 / 5.34 → 4.94, 128→256 5.73 → 5.48 / 2.79 → 2.65; 42 tiles no better than 126; the column
    /// path on 56-tile chunks slower, 12.55 → 13.61).
    static let transposedTargetColumns = 56

    /// A float moved by the transposes back, in multiply-adds of the GEMM, and the fewest input channels the
    /// transposed GEMM is used with (twentieth session, Zen 4, ms, column path → transposed): F(6×6)'s 26 rows against
    /// 32 columns on 28² won from 128 channels (ResNet-18's layer2 0.80–0.83 → 0.74–0.79 in the network, VGG16's
    /// 512→512 11.1–11.6 → 9.6–10.2), F(4×4)'s 196 against 208 on 56² with 128 and 256 (alone, 1 / 2 threads:
    /// 128→256 5.73 / 2.79 → 5.48 / 2.65, 256→256 12.45 / 6.52 → 10.03 / 4.94); with 64 channels it lost even at 224
    /// columns against 196 (ResNet-18's layer1 at 2 threads alone 0.434 → 0.481; at 1 thread in the network 0.83–1.00
    /// → 0.89–1.10), with 32 it was level (SqueezeNet's 32→128 on 27², 49 rows against 64 columns: 0.262 / 0.149 →
    /// 0.256 / 0.155), and AlexNet's 64→192 5×5 no better (1.46–1.57 → 1.47–1.62).
    static let transposeDepth = 6
    static let transposeMinimumDepth = 128

    /// From this many input channels the transposed GEMM weighs the 7-tile kernel's rows by `narrowTileCost` percent
    /// against the 13-tile kernel's (thirty-seventh session, Zen 5, `fftconv-bench layer … --algorithm winograd
    /// [--micro-kernel gemm_13x32t]`, 1 thread, ms, 7-tile → 13-tile: 256→256 F(4x4) on 56², 196 rows against 221,
    /// 6.0–6.1 → 5.6–5.8; F(6x6) on 64², 126 against 130, 8.4–10.7 → 7.3; with 128 or fewer channels the 7-tile kernel
    /// held — 128→256 on 56² 2.4 → 2.6–3.0, 64→64 0.41–0.42 → 0.44–0.46; Docs/data/winograd-kernels-2026-12-03-s37.txt).
    static let wideTileDepth = 256
    /// How much a row of the 7-tile kernel costs against one of the 13-tile kernel's, percent, from `wideTileDepth`.
    static let narrowTileCost = 115

    /// With the products kept transposed: the fewest input channels at 1 thread and on outputs of at most
    /// `transposeShallowArea` positions (64²), and at 1 thread how many percent more rows than the column path's
    /// columns the transposed tiles may compute: see `transposedChoice`.
    static let transposeShallowDepth = 16
    static let transposeShallowArea = 64 * 64
    static let transposeSingleMargin = 15

    /// The multiply-adds per input and output channel pair that F(m×m, 3×3) spends in its GEMMs on an `output` plane
    /// — α² times the columns its chunks compute (32-column micro-kernels with a 16-column twin, as the registry's
    /// families have) — for the planner to compare tile sizes without preparing them. The transposed GEMM's
    /// tile counts are left out on purpose: the rule built on this comparison was measured before it, and with it
    /// still ranks the tiles as measured (twentieth session: F(6×6) on 28², 1664 against F(4×4)'s 1764 columns ×
    /// elements transposed, 2048 against 2304 here, ran 10.30 against 10.92 ms on 512→512; F(4×4) on 56², 6656
    /// against 7056 transposed, 7168 against 7488 here, ran 5.16 against 6.18 ms on 256→256 at 2 threads).
    static func gemmWork(m: Int, output: Size2D, inputChannels: Int, outputChannels: Int) -> Int {
        let alpha = m + 2, tileRows = (output.height + m - 1) / m, tilesPerRow = (output.width + m - 1) / m
        let weightBytes = alpha * alpha * inputChannels * outputChannels * 4
        let rows = chunkRows(target: targetColumns, tileRows: tileRows, tilesPerRow: tilesPerRow, nr: 32, narrow: 16,
                             moreChunks: weightBytes <= rereadableWeightBytes)
        return alpha * alpha * planeColumns(rowsPerChunk: rows, tileRows: tileRows, tilesPerRow: tilesPerRow, nr: 32, narrow: 16)
    }

    static func check(_ d: ConvolutionDescriptor) throws {
        guard ConvolutionAlgorithm.winograd.supports(d), d.dilation == Size2D(1, 1) else {
            throw ConvolutionError.unsupported(algorithm: "winograd",
                                               reason: "needs a 3x3 or 5x5 kernel with stride 1 and dilation 1, got \(d)")
        }
    }

    init(problem p: ConvolutionProblem, weights: Tensor, bias: Tensor?, tile: Int?, forcedKernel: String?, threads: Int) throws {
        let d = p.descriptor
        try Self.check(d)
        let m = tile ?? 4, r = d.kernel.height
        guard let transform = WinogradRegistry.variant(m: m, filter: r) else {
            throw ConvolutionError.invalidOption("Winograd tile for \(r)x\(r) filters must be one of \(WinogradRegistry.tiles(filter: r)), got \(m)")
        }
        problem = p
        self.transform = transform
        let og = d.outputChannelsPerGroup, cg = d.inputChannelsPerGroup
        // A name with a `t` suffix (`gemm_13x32t`) forces the transposed GEMM on that strided kernel.
        let forcedTransposed = try forcedKernel.flatMap { name -> GEMMMicroKernel? in
            guard name.hasSuffix("t"), let k = MicroKernelRegistry.named(String(name.dropLast())) else { return nil }
            guard Self.transposedKernels.contains(where: { $0.name == k.name }) else {
                throw ConvolutionError.unsupported(algorithm: "winograd",
                                                   reason: "\(name) needs one of \(Self.transposedKernels.map { $0.name + "t" }) (strided kernels on a build with 16-float registers)")
            }
            return k
        }
        let kernel = try KernelChoice.gemm(rows: og, forced: forcedTransposed == nil ? forcedKernel : nil)
        self.kernel = kernel
        narrow = MicroKernelRegistry.narrowTwin(of: kernel)
        let alpha = transform.alpha, a2 = alpha * alpha

        let tileRows = (p.output.height + m - 1) / m, tilesPerRow = (p.output.width + m - 1) / m
        (self.tileRows, self.tilesPerRow) = (tileRows, tilesPerRow)
        let plan = WinogradStagePlan(transform: transform, tilesPerRow: tilesPerRow,
                                     wideVectors: BuildInfo.compiledFor.contains(.avx512f) && tilesPerRow >= 12)
        self.plan = plan
        let channelLaneOutput = WinogradKernels.canTransformTransposed(plan)
        let weightBytes = d.groups * a2 * og * cg * 4
        // Few tile rows (small images) cannot be shared evenly as whole chunks, and whole chunks per thread read all
        // the weights once per thread: then every chunk is computed by all threads together, stage by stage. Not with
        // groups: their chunks are many (one set per group) and each reads its group's weights only — stage by stage,
        // a 16-channel group's output stage was one 16-channel block for one worker, and three hand-offs per chunk
        // per group (RegNetX-400MF's 25-group F(2x2) layers on 7² took longer at 2 threads than at 1: 2.59 → 2.83 ms
        // for eleven of them, `net … --profile`).
        let staged = threads > 1 && d.groups == 1
            && (Self.fewTileRows(tileRows, tilesPerRow: tilesPerRow, threads: threads, intel: BuildInfo.cpuIsIntel)
                || weightBytes > Self.stagedWeightBytes)
        self.staged = staged
        // At least one chunk per thread when the image has the tile rows for it (chunking never changes the bits:
        // every tile is transformed alone and every GEMM element sums its K terms in the same order).
        // (With groups the threads share the groups' chunks: the chunks are cut as for one thread.)
        let chunking = ChunkShape(tileRows: tileRows, tilesPerRow: tilesPerRow, threads: staged || d.groups > 1 ? 1 : threads,
                                  moreChunks: weightBytes <= Self.rereadableWeightBytes)
        let columnRows = chunking.rows(target: Self.targetColumns, nr: kernel.nr, narrow: narrow?.nr)
        let transposedKernel = forcedTransposed.map { ($0, chunking.rows(target: Self.transposedTargetColumns, nr: $0.mr, narrow: nil)) }
            ?? (forcedKernel != nil ? nil
                : Self.transposedChoice(chunking, columnRows: columnRows, nr: kernel.nr, narrow: narrow?.nr, depth: cg,
                                        outputArea: p.outputPlane, threads: threads,
                                        keepsProductsTransposed: channelLaneOutput))
        let transposed = transposedKernel.flatMap { k, _ in k.strided.map { (kernel: k, strided: $0) } }
        self.transposed = transposed
        rowsPerChunk = transposedKernel?.1 ?? columnRows
        let columns = rowsPerChunk * tilesPerRow
        let uniformChunks = (tileRows + rowsPerChunk - 1) / rowsPerChunk
        let balanced = staged || d.groups > 1 ? nil
            : Self.balancedChunkCount(tileRows: tileRows, tilesPerRow: tilesPerRow, rowsPerChunk: rowsPerChunk, threads: threads,
                                      nr: transposed?.kernel.mr ?? kernel.nr, narrow: transposed == nil ? narrow?.nr : nil)
        (chunksPerImage, balancedChunks) = (balanced ?? uniformChunks, balanced != nil)

        // Kernel transform, once: U[g][ξν][o][c] = (G g_{o,c} Gᵀ)[ξν]. Packed as A in panels of `kernel.mr` output
        // channels, or for the transposed GEMM as Uᵀ in panels of `nr` — the same packing with `nr` rows a panel.
        let panelRows = transposed?.kernel.nr ?? kernel.mr
        let packedStride = GEMM.packedASize(m: og, k: cg, mr: panelRows)
        let packed = AlignedBuffer(count: d.groups * a2 * packedStride)
        self.packedStride = packedStride
        self.packed = packed
        let u = AlignedBuffer(count: a2 * og * cg)
        weights.withUnsafeBufferPointer { w in
            let wp = w.baseAddress!
            for g in 0..<d.groups {
                for o in 0..<og {
                    for c in 0..<cg {
                        let tile = transform.transformFilter(wp + ((g * og + o) * cg + c) * r * r)
                        for e in 0..<a2 { u.pointer[(e * og + o) * cg + c] = Float(tile[e]) }
                    }
                }
                for e in 0..<a2 {
                    GEMM.packA(m: og, k: cg, a: u.pointer + e * og * cg, rowStride: cg, colStride: 1, mr: panelRows,
                               into: packed.pointer + (g * a2 + e) * packedStride)
                }
            }
        }
        self.bias = bias?.scalars
        epilogue = d.activation.epilogue

        // V's rows are padded by a vector so the input transform always stores whole vectors (Winograd kernels).
        let rowStride = columns + WinogradKernels.maximumLanes
        vStride = rowStride
        rowOffsets = (0..<cg).map { $0 * rowStride }
        vMatrixStride = oddLineStride(cg * rowStride)
        let v = a2 * vMatrixStride
        keepsProductsTransposed = transposed != nil && channelLaneOutput
        // Transposed products: every run's rows (a last run's past the chunk's tiles are written, never read), every
        // panel's channels.
        let runRows = transposed.map { (columns + $0.kernel.mr - 1) / $0.kernel.mr * $0.kernel.mr } ?? 0
        productRowStride = transposed.map { (og + $0.kernel.nr - 1) / $0.kernel.nr * $0.kernel.nr } ?? 0
        productMatrixStride = oddLineStride(runRows * productRowStride)
        let products = keepsProductsTransposed ? a2 * productMatrixStride + 16 : a2 * oddLineStride(og * columns) + WinogradKernels.maximumLanes
        // The tile of an edge panel or column tile; transposed back, one panel's tiles and the transpose's staging.
        let gemm = keepsProductsTransposed ? 0 : transposed.map { runRows * $0.kernel.nr + Transpose.stagingFloats } ?? kernel.mr * kernel.nr
        let transforms = Swift.max(plan.scratchSize, WinogradKernels.outputScratchFloats(columns: columns, m: m),
                                   keepsProductsTransposed ? WinogradKernels.transposedOutputScratchFloats(plan: plan) : 0)
        paddedBias = AlignedBuffer(count: keepsProductsTransposed ? d.outputChannels + 16 : 0)
        if keepsProductsTransposed, let bias { for o in 0..<d.outputChannels { paddedBias.pointer[o] = bias.storage.pointer[o] } }
        layout = (v, products, gemm, transforms)
        workerStride = Parallel.workerStride(roundUp(v, 16) + roundUp(products, 16) + roundUp(gemm, 16) + roundUp(transforms, 16),
                                             threads: threads)
        scratchFloats = threads * workerStride
    }

    var preparedBytes: Int { packed.count * 4 }
    var summary: String {
        let gemm = transposed.map { "\($0.kernel.name)t (\($0.kernel.mr) tiles × \($0.kernel.nr) channels)" } ?? kernel.name
        let tiles = balancedChunks ? "\(tileRows / chunksPerImage * tilesPerRow)–\((tileRows + chunksPerImage - 1) / chunksPerImage * tilesPerRow)"
            : "\(rowsPerChunk * tilesPerRow)"
        return "\(transform.name), \(gemm), \(tiles) tiles/chunk\(staged ? ", staged" : "")"
    }

    /// One work item: a chunk of tile rows of one image and group.
    struct Chunk {
        let image: Int, group: Int, rows: Range<Int>, columns: Int
    }

    func chunk(_ item: Int) -> Chunk {
        let groups = problem.descriptor.groups, chunks = chunksPerImage
        let c = item % chunks
        let rows = Self.chunkRows(c, of: chunks, tileRows: tileRows, rowsPerChunk: balancedChunks ? nil : rowsPerChunk)
        return Chunk(image: item / (groups * chunks), group: item / chunks % groups, rows: rows, columns: rows.count * tilesPerRow)
    }

    /// One worker's slice of the workspace: `V`, `M`, GEMM packing scratch, transform scratch.
    func buffers(_ ws: UnsafeMutablePointer<Float>, worker: Int) -> (v: UnsafeMutablePointer<Float>, products: UnsafeMutablePointer<Float>,
                                                                   gemm: UnsafeMutablePointer<Float>, transforms: UnsafeMutablePointer<Float>) {
        let (vSize, productSize, gemmSize, _) = layout
        let v = ws + worker * workerStride
        let products = v + roundUp(vSize, 16)
        let gemm = products + roundUp(productSize, 16)
        return (v, products, gemm, gemm + roundUp(gemmSize, 16))
    }

    /// Input transform of input channels `channels` of the chunk's group into `V`.
    func transformInput(_ k: Chunk, channels: Range<Int>, input: UnsafePointer<Float>, v: UnsafeMutablePointer<Float>,
                        scratch: UnsafeMutablePointer<Float>) {
        let p = problem, d = p.descriptor, cg = d.inputChannelsPerGroup
        let x = input + (k.image * d.inputChannels + k.group * cg + channels.lowerBound) * p.inputPlane
        WinogradKernels.transformInput(
            plan: plan, input: x, channels: channels.count, height: p.input.height, width: p.input.width,
            padTop: d.padding.top, padLeft: d.padding.left, tileRows: k.rows,
            v: v + channels.lowerBound * vStride, matrixStride: vMatrixStride, columns: vStride, scratch: scratch)
    }

    /// `M[ξν] = U[ξν] · V[ξν]` for tile element `element` of the chunk's group: for each column tile, every
    /// panel of `U[ξν]` on the micro-kernel, `V[ξν]`'s rows read in place (the tile's rows stay in L1 across the
    /// panels); an edge panel or tile goes through `scratch` (`mr × nr` floats).
    func multiply(_ k: Chunk, element e: Int, v: UnsafePointer<Float>, products: UnsafeMutablePointer<Float>,
                  scratch: UnsafeMutablePointer<Float>) {
        if let transposed { return multiplyTransposed(k, element: e, v: v, products: products, scratch: scratch, transposed) }
        let d = problem.descriptor
        let og = d.outputChannelsPerGroup, cg = d.inputChannelsPerGroup, a2 = transform.alpha * transform.alpha
        let a = packed.pointer + (k.group * a2 + e) * packedStride
        let b = v + e * vMatrixStride
        let c = products + e * oddLineStride(og * k.columns), ldc = k.columns
        let mr = kernel.mr, panels = (og + mr - 1) / mr
        rowOffsets.withUnsafeBufferPointer { offs in
            guard let offsets = offs.baseAddress else { return }
            var j0 = 0
            while j0 < k.columns {
                let width = Swift.min(kernel.nr, k.columns - j0)
                let tk = width <= 16 ? narrow ?? kernel : kernel
                for panel in 0..<panels {
                    let rows = Swift.min(mr, og - panel * mr)
                    let ap = a + panel * cg * mr, cp = c + panel * mr * ldc + j0
                    let whole = rows == mr && width == tk.nr
                    let (dst, ld) = whole ? (cp, ldc) : (scratch, tk.nr)
                    // K in blocks of 256, each added to the last: the sums the packed GEMM formed (its depth
                    // blocking), so 512-channel layers keep its accuracy (one 512-term chain lost ~½ digit).
                    var k0 = 0
                    while k0 < cg {
                        let kc = Swift.min(Self.depthBlock, cg - k0)
                        tk.indirect(kc, ap + k0 * mr, b + j0, offsets + k0, dst, ld, k0 > 0)
                        k0 += kc
                    }
                    if !whole { for r in 0..<rows { (cp + r * ldc).update(from: scratch + r * tk.nr, count: width) } }
                }
                j0 += width
            }
        }
    }

    /// `M[ξν]ᵀ = V[ξν]ᵀ · U[ξν]ᵀ` for tile element `element`: for each panel of `nr` output channels, every run of
    /// `mr` tiles on the strided kernel (tile `t`'s input channel `c` at `V + c·vStride + t`; a last run reads up to
    /// `mr − 1` floats into `V`'s row padding, into accumulator rows that are never read), the panel's depth blocks
    /// outermost so each block of `Uᵀ` stays in L1 across the runs. With `keepsProductsTransposed` each run's tile goes
    /// straight into `Mᵀ[ξν]` (a row of every channel per tile); else into `scratch`, and the panel is then transposed
    /// into `M[ξν]`'s rows. The same FMAs in the same order as `multiply`'s: the same bits.
    func multiplyTransposed(_ k: Chunk, element e: Int, v: UnsafePointer<Float>, products: UnsafeMutablePointer<Float>,
                            scratch: UnsafeMutablePointer<Float>, _ t: (kernel: GEMMMicroKernel, strided: GEMMMicroKernel.PackedStrided)) {
        let d = problem.descriptor
        let og = d.outputChannelsPerGroup, cg = d.inputChannelsPerGroup, a2 = transform.alpha * transform.alpha
        let mr = t.kernel.mr, nr = t.kernel.nr, runs = (k.columns + mr - 1) / mr, panels = (og + nr - 1) / nr
        let b = packed.pointer + (k.group * a2 + e) * packedStride
        let a = v + e * vMatrixStride
        let m = products + e * (keepsProductsTransposed ? productMatrixStride : oddLineStride(og * k.columns))
        for j in 0..<panels {
            let panel = b + j * cg * nr
            // Run `run`'s tile: in Mᵀ (row stride `productRowStride`, this panel's columns), or in `scratch`.
            let (tile, ld) = keepsProductsTransposed ? (m + j * nr, productRowStride) : (scratch, nr)
            var k0 = 0
            while k0 < cg {
                let kc = Swift.min(Self.depthBlock, cg - k0)
                // The weights stream from memory (VGG16's 512→512 F(6×6): 67 MB a call); the strided kernel asks
                // for B's lines one 256-deep block ahead into L2 as it goes (panels, then elements, are
                // consecutive), so every run over this block also brings in the next.
                for run in 0..<runs {
                    t.strided(kc, a + k0 * vStride + run * mr, vStride, panel + k0 * nr, tile + run * mr * ld, ld, k0 > 0)
                }
                k0 += kc
            }
            if !keepsProductsTransposed {
                Transpose.floats(scratch, sourceStride: nr, m + j * nr * k.columns, destinationStride: k.columns, rows: k.columns,
                                 columns: Swift.min(nr, og - j * nr), staging: scratch + runs * mr * nr)
            }
        }
    }

    /// Output transform, bias, residual and activation for output channels `channels` of the chunk's group (with
    /// `pool`, then the 2×2 stride-2 max pool into planes of `pooledSize`).
    func transformOutput(_ k: Chunk, channels: Range<Int>, products: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                         residual: UnsafePointer<Float>?, bias: UnsafeBufferPointer<Float>?, scratch: UnsafeMutablePointer<Float>,
                         pool: Bool) {
        let p = problem, d = p.descriptor, og = d.outputChannelsPerGroup
        let o0 = k.group * og + channels.lowerBound  // first output channel of the image
        let outputPlane = pool ? pooledSize.height * pooledSize.width : p.outputPlane
        if keepsProductsTransposed {
            let g0 = k.image * d.outputChannels + k.group * og  // the group's first channel in the batch
            WinogradKernels.transformOutputTransposed(
                plan: plan, products: products, matrixStride: productMatrixStride, rowStride: productRowStride, channels: channels,
                tileRows: k.rows, output: output + g0 * outputPlane, outputHeight: p.output.height, outputWidth: p.output.width,
                bias: paddedBias.pointer + k.group * og, residual: residual.map { $0 + g0 * p.outputPlane }, activation: epilogue,
                scratch: scratch, pool: pool)
            return
        }
        WinogradKernels.transformOutput(
            plan: plan, products: products + channels.lowerBound * k.columns, matrixStride: oddLineStride(og * k.columns),
            columns: k.columns, channels: channels.count, tileRows: k.rows,
            output: output + (k.image * d.outputChannels + o0) * outputPlane,
            outputHeight: p.output.height, outputWidth: p.output.width,
            bias: bias.map { $0.baseAddress! + o0 },
            residual: residual.map { $0 + (k.image * d.outputChannels + o0) * p.outputPlane },
            activation: epilogue, scratch: scratch, pool: pool)
    }

    /// Whether `runPooled` can run: the output stage is a straight-line one with an even tile (F(2×2), F(4×4),
    /// F(6×6), F(4×4, 5×5)) — its tile rows then hold whole pairs of output rows — and the pooled planes are not empty.
    var poolsOutput: Bool { WinogradKernels.canPool(plan) && pooledSize.height >= 1 && pooledSize.width >= 1 }

    /// The output size after a 2×2 stride-2 max pool without padding (floor sizes).
    var pooledSize: Size2D { Size2D(problem.output.height / 2, problem.output.width / 2) }

    /// The layer followed by a 2×2 stride-2 max pool (no padding, floor sizes), the pool applied to each pair of
    /// output rows as the output stage finishes it: `output` holds `pooledSize` planes, the full-size output is never
    /// written. Same bits as `run` followed by the pool. Needs `poolsOutput`.
    func runPooled(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, batch: Int, threads: Int) {
        execute(input: input, output: output, residual: nil, batch: batch, threads: threads, pool: true)
    }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
             batch: Int, threads: Int) {
        execute(input: input, output: output, residual: residual, batch: batch, threads: threads, pool: false)
    }

    func execute(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
                 batch: Int, threads: Int, pool: Bool) {
        let d = problem.descriptor
        let og = d.outputChannelsPerGroup, cg = d.inputChannelsPerGroup
        let a2 = transform.alpha * transform.alpha
        let items = batch * d.groups * chunksPerImage
        // Written before read: the network-wide scratch (a layer's own V and M, 2 MB and more, fell out of the
        // last-level cache between calls inside a network: F(4x4) on SqueezeNet's 55² expand layers 0.36 ms
        // in the network against 0.21 alone; 0.23–0.30 on the shared scratch).
        SharedScratch.withBuffer(count: scratchFloats) { ws in
            bias.withUnsafeOptionalBufferPointer { bias in
                if !staged {
                    // Whole chunks per thread.
                    Parallel.forEachRange(count: items, threads: threads) { worker, items in
                        let b = buffers(ws, worker: worker)
                        for item in items {
                            let k = chunk(item)
                            transformInput(k, channels: 0..<cg, input: input, v: b.v, scratch: b.transforms)
                            for e in 0..<a2 { multiply(k, element: e, v: b.v, products: b.products, scratch: b.gemm) }
                            transformOutput(k, channels: 0..<og, products: b.products, output: output, residual: residual,
                                            bias: bias, scratch: b.transforms, pool: pool)
                        }
                    }
                    return
                }
                // Staged: the chunks one after the other, each by all threads — input transform split over input
                // channels, the α² products over tile elements, the output transform over output channels. Every
                // value is computed as in the per-chunk path, so the bits depend on neither mode nor thread count.
                // V and M are worker 0's; scratch is each worker's own.
                let shared = buffers(ws, worker: 0)
                for item in 0..<items {
                    let k = chunk(item)
                    Parallel.forEachRange(count: cg, threads: threads) { worker, channels in
                        transformInput(k, channels: channels, input: input, v: shared.v, scratch: buffers(ws, worker: worker).transforms)
                    }
                    Parallel.forEachRange(count: a2, threads: threads) { worker, elements in
                        for e in elements {
                            multiply(k, element: e, v: shared.v, products: shared.products, scratch: buffers(ws, worker: worker).gemm)
                        }
                    }
                    // Transposed products: whole 16-channel vectors per worker.
                    let block = keepsProductsTransposed ? 16 : 1
                    Parallel.forEachRange(count: (og + block - 1) / block, threads: threads) { worker, blocks in
                        let channels = (blocks.lowerBound * block)..<Swift.min(og, blocks.upperBound * block)
                        transformOutput(k, channels: channels, products: shared.products, output: output, residual: residual,
                                        bias: bias, scratch: buffers(ws, worker: worker).transforms, pool: pool)
                    }
                }
            }
        }
    }
}
