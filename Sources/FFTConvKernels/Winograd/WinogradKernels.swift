import CFFTConvShim

/// The run-time stages of Winograd convolution around the batched GEMM: input tiles → `Bᵀ d B`, and
/// products → `Aᵀ M A` with the fused epilogue.
///
/// Both stages work on one row of tiles at a time and are vectorised across the tiles of that row (8 lanes),
/// so any SIMD width and any tile size use the same code. The input row is first split into its `m` phases
/// (`phase[s][t] = x[t·m + s]`), which turns the tile-strided reads into contiguous ones.
///
/// Layouts (the only place where a tensor changes layout on the Winograd path):
/// - `V[ξν][c][col]`: transformed input, one `channels × columns` matrix per tile element ξν (the GEMM's B);
/// - `M[ξν][o][col]`: the GEMM products (`U[ξν] · V[ξν]`), same shape with output channels;
/// - `col = (tileRow − firstTileRow) · tilesPerRow + t`.
/// The non-zero coefficients of one transform's matrices as flat term lists, built once at prepare time so
/// the run-time loops do no divisions and skip zeros without testing them.
public struct WinogradStagePlan: Sendable {
    /// The transform the plan is for.
    public let transform: WinogradTransform
    /// Tiles per row and its vector-padded size.
    public let tilesPerRow: Int, paddedTiles: Int
    /// Tiles per vector in the straight-line stages: 8 or 16.
    public let vectorLanes: Int
    /// Whether the transform has straight-line stages (F(2×2), F(4×4) and F(6×6) with 3×3 filters, F(4×4) with
    /// 5×5; the rest use the term lists).
    public var straightLine: Bool { Self.hasStraightLine(transform) }

    static func hasStraightLine(_ t: WinogradTransform) -> Bool {
        (t.r == 3 && (t.m == 2 || t.m == 4 || t.m == 6)) || (t.r == 5 && t.m == 4)
    }
    /// Floats per phase of the split input row.
    public let phaseLength: Int
    // Each list: (coefficient, offset) pairs, list `i` at `start[i] ..< start[i + 1]`.
    let rowCoefficients: [Float], rowOffsets: [Int], rowStart: [Int]        // Bᵀ on a row: offsets into the phases
    let columnCoefficients: [Float], columnOffsets: [Int], columnStart: [Int]  // Bᵀ down columns: r · α · tp
    let outColumnCoefficients: [Float], outColumnXi: [Int], outColumnStart: [Int]  // Aᵀ row i: ξ
    let outRowCoefficients: [Float], outRowOffsets: [Int], outRowStart: [Int]      // Aᵀ row j: ν · tp

    /// Builds the term lists of `transform` for rows of `tilesPerRow` tiles; `wideVectors` lets the specialised
    /// stages work on 16 tiles at a time (right for 512-bit vectors when rows have enough tiles).
    public init(transform t: WinogradTransform, tilesPerRow: Int, wideVectors: Bool = false) {
        transform = t
        self.tilesPerRow = tilesPerRow
        let m = t.m, a = t.alpha
        vectorLanes = wideVectors && Self.hasStraightLine(t) ? 16 : 8
        let tp = (tilesPerRow + vectorLanes - 1) / vectorLanes * vectorLanes
        paddedTiles = tp
        // F(4×4)'s and F(6×6)'s rows are split into phases by whole 16-float vectors (`splitRow`): phases a multiple
        // of 16 long.
        phaseLength = (m == 4 || m == 6) && Self.hasStraightLine(t) ? (tp + a / m + 2 + 15) / 16 * 16 : tp + a / m + 2
        func terms(_ matrix: [Double], rows: Int, _ offset: (Int) -> Int) -> ([Float], [Int], [Int]) {
            var c: [Float] = [], o: [Int] = [], start = [0]
            for i in 0..<rows {
                for k in 0..<a where matrix[i * a + k] != 0 {
                    c.append(Float(matrix[i * a + k]))
                    o.append(offset(k))
                }
                start.append(c.count)
            }
            return (c, o, start)
        }
        let phaseLength = self.phaseLength
        (rowCoefficients, rowOffsets, rowStart) = terms(t.inputMatrix, rows: a) { k in (k % m) * phaseLength + k / m }
        (columnCoefficients, columnOffsets, columnStart) = terms(t.inputMatrix, rows: a) { r in r * a * tp }
        (outColumnCoefficients, outColumnXi, outColumnStart) = terms(t.outputMatrix, rows: m) { $0 }
        (outRowCoefficients, outRowOffsets, outRowStart) = terms(t.outputMatrix, rows: m) { $0 * tp }
    }

    /// Scratch floats `transformInput` and the generic `transformOutput` need (the straight-line output stages need
    /// `WinogradKernels.outputScratchFloats(columns:)`; callers give the larger).
    public var scratchSize: Int {
        let m = transform.m, a = transform.alpha
        let input = m * phaseLength + a * a * paddedTiles  // phases + row transforms
        let output = (m * a + m * m) * paddedTiles          // column pass + row pass
        // (48 rows of phases: F(6×6)'s eight input rows of six phases; `transformInputF4Pairs`' ten input rows use
        // 40, the one-row F(4×4) stage 24, F(4×4, 5×5)'s 32 — with up to 64 vectors of row transforms.)
        let specialised = 48 * phaseLength + 64 * vectorLanes + WinogradKernels.splitWorkFloats(phaseLength: phaseLength)
        return Swift.max(input, output, specialised) + WinogradKernels.maximumLanes
    }
}

public enum WinogradKernels {
    /// Lanes the stages vectorise over.
    public static let lanes = 8
    /// The most lanes any stage reads past a row (callers pad `products` by this many floats).
    public static let maximumLanes = 16

    /// Floats of `work` `splitRow` needs for rows of `phaseLength`-float phases (m = 2's padded row, m = 4's and 6's
    /// zero-padded block of at most 96 floats).
    static func splitWorkFloats(phaseLength: Int) -> Int { 8 * phaseLength }

    /// Tiles per row rounded up to whole vectors.
    @inlinable public static func paddedTiles(_ tilesPerRow: Int) -> Int { (tilesPerRow + lanes - 1) / lanes * lanes }

    /// The generic stages' one operation: `dst[t] = Σ_{e ∈ terms} c[e] · src[o[e]·scale + t]` for `t` in
    /// `0..<count`, `lanes` tiles at a time (whole vectors: `count` is rounded up).
    @inline(__always)
    static func applyTerms(_ c: UnsafeBufferPointer<Float>, _ o: UnsafeBufferPointer<Int>, _ terms: Range<Int>, scale: Int = 1,
                           from src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, count: Int) {
        var t = 0
        while t < count {
            var acc = SIMD8<Float>(repeating: 0)
            for e in terms {
                acc.addProduct(SIMD8(repeating: c[e]), UnsafeRawPointer(src + o[e] * scale + t).loadUnaligned(as: SIMD8<Float>.self))
            }
            UnsafeMutableRawPointer(dst + t).storeBytes(of: acc, as: SIMD8<Float>.self)
            t += lanes
        }
    }

    /// Splits input row `y` of a `height × width` plane into its `m` phases of `phaseLength` floats each:
    /// `phases[s · phaseLength + q] = row[q·m + s − padLeft]`, zero outside the plane (rows above or below it
    /// included). This turns the tile-strided reads of every stage into contiguous ones.
    ///
    /// With `work` (`splitWorkFloats(phaseLength:)` floats) and `m` 2, 4 or 6 — the straight-line stages — by
    /// vectors; otherwise one float at a time. (F(4x4) on 64→64 at 224², splitting one float at a time: the input
    /// stage was 39% of the Winograd time in `perf`, as much as the GEMMs.) m = 4 and 6 (`phaseLength` a multiple of
    /// 16) go by blocks of `m` vectors, in C (`fftconv_split_row4`, `fftconv_split_row6`): each block — phase
    /// positions `q ..< q + lanes`, row columns from `m·q − padLeft` — is read straight from the plane and split by
    /// shuffles, the lanes outside the row cleared; a block with no column of the row is stored as zeros, one that
    /// would read outside the plane (the left padding of its first row, the end of its last) goes through `work`,
    /// zero-padded. That replaced a zero-padded copy of the whole row split afterwards (F(4×4): three rounds of
    /// even/odd splits; about 70% of the input stage's samples on 64→64 at 56²): that layer 0.782 → 0.722 ms. The
    /// same loop in Swift was level with the copy on F(6×6) on 28²; in C 1–2% faster (twenty-second session). m = 2
    /// goes from a zero-padded copy by even/odd splits.
    @inline(__always)
    static func splitRow(_ plane: UnsafePointer<Float>, y: Int, height: Int, width: Int, padLeft: Int, m: Int,
                         phaseLength: Int, into phases: UnsafeMutablePointer<Float>, work: UnsafeMutablePointer<Float>? = nil) {
        if y < 0 || y >= height {
            phases.update(repeating: 0, count: m * phaseLength)
            return
        }
        let src = plane + y * width
        if let work, m == 4 || m == 6, phaseLength % 16 == 0 {
            if m == 4 {
                fftconv_split_row4(plane, y, height, width, padLeft, phases, phaseLength, work)
            } else {
                fftconv_split_row6(plane, y, height, width, padLeft, phases, phaseLength, work)
            }
            return
        }
        if let work, m == 2 {
            // The padded row: `padLeft` zeros, the row, zeros up to 2·phaseLength floats.
            let n = m * phaseLength, pad = Swift.min(padLeft, n), count = Swift.max(0, Swift.min(width, n - pad))
            if pad > 0 { work.update(repeating: 0, count: pad) }
            Copy.floats(work + pad, src, count)
            if pad + count < n { (work + pad + count).update(repeating: 0, count: n - pad - count) }
            Copy.splitEvenOdd(work, even: phases, odd: phases + phaseLength, count: phaseLength)
            return
        }
        for s in 0..<m {
            let ph = phases + s * phaseLength
            // q with 0 ≤ q·m + s − padLeft < width
            let lo = Swift.min(phaseLength, Swift.max(0, (padLeft - s + m - 1) / m))
            let hi = Swift.max(lo, Swift.min(phaseLength, (width + padLeft - s + m - 1) / m))
            if lo > 0 { ph.update(repeating: 0, count: lo) }
            var from = src + (lo * m + s - padLeft)
            for q in lo..<hi { ph[q] = from.pointee; from += m }
            if hi < phaseLength { (ph + hi).update(repeating: 0, count: phaseLength - hi) }
        }
    }

    /// Transforms the input tiles of tile rows `tileRows` of `channels` planes into `V`.
    ///
    /// - Parameters:
    ///   - input: the first channel's plane; channel `c` at `input + c * height * width`.
    ///   - padTop, padLeft: the convolution's leading padding (tile `(tr, t)` starts at input row
    ///     `tr·m − padTop`, column `t·m − padLeft`); positions outside the plane read as zero.
    ///   - v: `V`, matrix ξν at `v + ξν * matrixStride`, row `c` at `+ c * columns`. Whole vectors are stored,
    ///     so a row is written up to `maximumLanes − 1` floats past the chunk's last tile: rows must be padded
    ///     by `maximumLanes` (a tile row's spill into the next one is overwritten when that row is done).
    ///   - scratch: `plan.scratchSize` floats.
    public static func transformInput(plan: WinogradStagePlan, input: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                                      padTop: Int, padLeft: Int, tileRows: Range<Int>,
                                      v: UnsafeMutablePointer<Float>, matrixStride: Int, columns: Int,
                                      scratch: UnsafeMutablePointer<Float>) {
        if plan.straightLine {
            // Straight-line F(2x2)/F(4x4)/F(6x6) and F(4x4, 5x5) stages, 16 or 8 tiles per vector.
            func run<V: SIMD>(_: V.Type) where V.Scalar == Float {
                if plan.transform.r == 5 || plan.transform.m == 6 {
                    transformInputAlpha8(V.self, m: plan.transform.m, plan: plan, input: input, channels: channels, height: height,
                                         width: width, padTop: padTop, padLeft: padLeft, tileRows: tileRows, v: v,
                                         matrixStride: matrixStride, columns: columns, scratch: scratch)
                } else if plan.transform.m == 4 {
                    transformInputF4(V.self, plan: plan, input: input, channels: channels, height: height, width: width,
                                     padTop: padTop, padLeft: padLeft, tileRows: tileRows, v: v, matrixStride: matrixStride,
                                     columns: columns, scratch: scratch)
                } else {
                    transformInputF2(V.self, plan: plan, input: input, channels: channels, height: height, width: width,
                                     padTop: padTop, padLeft: padLeft, tileRows: tileRows, v: v, matrixStride: matrixStride,
                                     columns: columns, scratch: scratch)
                }
            }
            if plan.transform == WinogradRegistry.f4x4_3x3 && plan.tilesPerRow == 4 && plan.vectorLanes == 8 {
                transformInputF4Pairs(plan: plan, input: input, channels: channels, height: height, width: width,
                                      padTop: padTop, padLeft: padLeft, tileRows: tileRows, v: v, matrixStride: matrixStride,
                                      columns: columns, scratch: scratch)
            } else if plan.vectorLanes == 16 { run(SIMD16<Float>.self) } else { run(SIMD8<Float>.self) }
            return
        }
        let m = plan.transform.m, alpha = plan.transform.alpha
        let tilesPerRow = plan.tilesPerRow, tp = plan.paddedTiles, phaseLength = plan.phaseLength
        let phases = scratch
        let tmp = scratch + m * phaseLength  // tmp[r][ν][t]: the row transform d·B of tile row r
        plan.rowCoefficients.withUnsafeBufferPointer { rc in plan.rowOffsets.withUnsafeBufferPointer { ro in
        plan.columnCoefficients.withUnsafeBufferPointer { cc in plan.columnOffsets.withUnsafeBufferPointer { co in
        let rowStart = plan.rowStart, columnStart = plan.columnStart
        for c in 0..<channels {
            let plane = input + c * height * width
            for tr in tileRows {
                let y0 = tr * m - padTop
                for r in 0..<alpha {
                    let y = y0 + r
                    let rowTmp = tmp + r * alpha * tp
                    if y < 0 || y >= height {
                        rowTmp.update(repeating: 0, count: alpha * tp)
                        continue
                    }
                    splitRow(plane, y: y, height: height, width: width, padLeft: padLeft, m: m, phaseLength: phaseLength,
                             into: phases)
                    // (d·B)[ν][t] = Σ_k Bᵀ[ν][k] · d[t·m + k]
                    for nu in 0..<alpha {
                        applyTerms(rc, ro, rowStart[nu]..<rowStart[nu + 1], from: phases, to: rowTmp + nu * tp, count: tp)
                    }
                }
                // V[ξν][c][col] = Σ_r Bᵀ[ξ][r] · tmp[r][ν]
                let col0 = (tr - tileRows.lowerBound) * tilesPerRow
                for xi in 0..<alpha {
                    let terms = columnStart[xi]..<columnStart[xi + 1]
                    for nu in 0..<alpha {
                        applyTerms(cc, co, terms, from: tmp + nu * tp,
                                   to: v + (xi * alpha + nu) * matrixStride + c * columns + col0, count: tilesPerRow)
                    }
                }
            }
        }
        } } } }
    }

    /// Floats of one output-row buffer of the straight-line output stages: `m` outputs for each of `columns` tiles,
    /// the tiles rounded up to whole vectors of `lanes`.
    static func outputRowBufferFloats(columns: Int, lanes: Int, m: Int) -> Int { (columns + lanes - 1) / lanes * lanes * m }

    /// One channel's output rows for tile rows `tileRows` out of the straight-line output stages' `m` row buffers
    /// (`rowLength` floats apart; tile row `tr`'s outputs at `(tr − tileRows.lowerBound) · tilesPerRow · m`), with
    /// bias, residual (a plane laid out like `output`) and activation.
    @inline(__always)
    static func finishOutputRows(m: Int, rows: UnsafePointer<Float>, rowLength: Int, tilesPerRow: Int, tileRows: Range<Int>,
                                 output: UnsafeMutablePointer<Float>, outputHeight: Int, outputWidth: Int, bias: Float,
                                 residual: UnsafePointer<Float>?, activation: Epilogue) {
        for tr in tileRows {
            let run = (tr - tileRows.lowerBound) * tilesPerRow * m, y = tr * m
            activation.finishRows(Swift.min(m, outputHeight - y), src: rows + run, srcStride: rowLength,
                                  dst: output + y * outputWidth, dstStride: outputWidth, count: outputWidth, bias: bias,
                                  residual: residual.map { $0 + y * outputWidth })
        }
    }

    /// As `finishOutputRows`, then a 2×2 stride-2 max pool (no padding, floor sizes) into `output`, whose planes are
    /// `outputHeight / 2 × outputWidth / 2`: each pair of rows is finished in place in `rows`, reduced into its first
    /// row (`PoolingKernels.verticalMax`), and its column pairs into pooled row `y / 2` (`PoolingKernels.horizontalMax`)
    /// — the functions the unfused pool runs, in its order, so the same bits. `m` is even; the row buffers are read up
    /// to 17 floats past a row's first `outputWidth` (the callers' buffers run on into further rows or scratch).
    @inline(__always)
    static func finishPooledOutputRows(m: Int, rows: UnsafeMutablePointer<Float>, rowLength: Int, tilesPerRow: Int,
                                       tileRows: Range<Int>, output: UnsafeMutablePointer<Float>, outputHeight: Int,
                                       outputWidth: Int, bias: Float, residual: UnsafePointer<Float>?, activation: Epilogue) {
        let pooledHeight = outputHeight / 2, pooledWidth = outputWidth / 2
        guard pooledWidth > 0 else { return }
        for tr in tileRows {
            let run = rows + (tr - tileRows.lowerBound) * tilesPerRow * m, y = tr * m
            for i in 0..<Swift.min(m / 2, pooledHeight - y / 2) {
                let first = run + 2 * i * rowLength
                for r in 0..<2 {
                    let row = first + r * rowLength
                    activation.finishRows(1, src: row, srcStride: rowLength, dst: row, dstStride: rowLength, count: outputWidth,
                                          bias: bias, residual: residual.map { $0 + (y + 2 * i + r) * outputWidth })
                }
                PoolingKernels.verticalMax(rows: first, rowStride: rowLength, count: 2, width: outputWidth, into: first)
                PoolingKernels.horizontalMax(row: first, stride: 2, kernel: 2, outputs: pooledWidth,
                                             into: output + (y / 2 + i) * pooledWidth)
            }
        }
    }

    /// Output channel `o`'s rows out of the straight-line output stages' row buffers: `finishOutputRows` into its plane
    /// of `output`, or with `pool` `finishPooledOutputRows` into its plane of `⌊outputHeight/2⌋ × ⌊outputWidth/2⌋`
    /// (`residual`'s planes full size either way).
    @inline(__always)
    static func finishChannel(_ o: Int, m: Int, rows: UnsafeMutablePointer<Float>, rowLength: Int, tilesPerRow: Int,
                              tileRows: Range<Int>, output: UnsafeMutablePointer<Float>, outputHeight: Int, outputWidth: Int,
                              bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, activation: Epilogue, pool: Bool) {
        let plane = outputHeight * outputWidth, b = bias?[o] ?? 0, r = residual.map { $0 + o * plane }
        if pool {
            finishPooledOutputRows(m: m, rows: rows, rowLength: rowLength, tilesPerRow: tilesPerRow, tileRows: tileRows,
                                   output: output + o * (outputHeight / 2) * (outputWidth / 2), outputHeight: outputHeight,
                                   outputWidth: outputWidth, bias: b, residual: r, activation: activation)
        } else {
            finishOutputRows(m: m, rows: rows, rowLength: rowLength, tilesPerRow: tilesPerRow, tileRows: tileRows,
                             output: output + o * plane, outputHeight: outputHeight, outputWidth: outputWidth, bias: b,
                             residual: r, activation: activation)
        }
    }

    /// Whether `transformOutput` can pool its output (`pool: true`): the straight-line stages with an even tile.
    public static func canPool(_ plan: WinogradStagePlan) -> Bool { plan.straightLine && plan.transform.m % 2 == 0 }

    /// Scratch floats `transformOutput` needs for chunks of `columns` tiles of `m × m` outputs (besides
    /// `WinogradStagePlan.scratchSize`): the straight-line stages' `m` output-row buffers and their staging vectors
    /// (`α·m + m` of them, α ≤ 8).
    public static func outputScratchFloats(columns: Int, m: Int) -> Int {
        m * outputRowBufferFloats(columns: columns, lanes: maximumLanes, m: m) + (8 * m + m) * maximumLanes
    }

    /// Turns the products of tile rows `tileRows` into output rows for output channels `0..<channels`:
    /// `Y = Aᵀ M A` per tile, then `activation(Y + bias + residual)`, written once.
    ///
    /// - Parameters:
    ///   - products: `M`, matrix ξν at `products + ξν * matrixStride`, row `o` at `+ o * columns`; readable
    ///     for `maximumLanes` floats past its last element.
    ///   - output: the first output channel's plane; channel `o` at `output + o * outputHeight * outputWidth`.
    ///   - bias: one value per output channel, or nil; `residual`: planes laid out like `output`, or nil.
    ///   - scratch: `max(plan.scratchSize, outputScratchFloats(columns:m:))` floats.
    ///   - pool: a 2×2 stride-2 max pool (no padding, floor sizes) after the activation: `output`'s planes are then
    ///     `outputHeight / 2 × outputWidth / 2` (`residual`'s stay full size). Only where `canPool(plan)`.
    public static func transformOutput(plan: WinogradStagePlan, products: UnsafePointer<Float>, matrixStride: Int, columns: Int,
                                       channels: Int, tileRows: Range<Int>,
                                       output: UnsafeMutablePointer<Float>, outputHeight: Int, outputWidth: Int,
                                       bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
                                       activation: Epilogue, scratch: UnsafeMutablePointer<Float>, pool: Bool = false) {
        assert(!pool || canPool(plan), "pooled Winograd output needs a straight-line stage with an even tile")
        if plan.straightLine {
            func run<V: SIMD>(_: V.Type) where V.Scalar == Float {
                if plan.transform.r == 5 {
                    transformOutputAlpha8(V.self, m: 4, plan: plan, products: products, matrixStride: matrixStride, columns: columns,
                                          channels: channels, tileRows: tileRows, output: output, outputHeight: outputHeight,
                                          outputWidth: outputWidth, bias: bias, residual: residual, activation: activation, scratch: scratch,
                                          pool: pool)
                } else if plan.transform.m == 6 {
                    transformOutputAlpha8(V.self, m: 6, plan: plan, products: products, matrixStride: matrixStride, columns: columns,
                                          channels: channels, tileRows: tileRows, output: output, outputHeight: outputHeight,
                                          outputWidth: outputWidth, bias: bias, residual: residual, activation: activation, scratch: scratch,
                                          pool: pool)
                } else if plan.transform.m == 4 {
                    transformOutputF4(V.self, plan: plan, products: products, matrixStride: matrixStride, columns: columns,
                                      channels: channels, tileRows: tileRows, output: output, outputHeight: outputHeight,
                                      outputWidth: outputWidth, bias: bias, residual: residual, activation: activation, scratch: scratch,
                                      pool: pool)
                } else {
                    transformOutputF2(V.self, plan: plan, products: products, matrixStride: matrixStride, columns: columns,
                                      channels: channels, tileRows: tileRows, output: output, outputHeight: outputHeight,
                                      outputWidth: outputWidth, bias: bias, residual: residual, activation: activation, scratch: scratch,
                                      pool: pool)
                }
            }
            // Vectors run over the chunk's tiles, not a row's: 16 lanes whenever there are 16 tiles and registers for them.
            if plan.vectorLanes == 16 || (KernelTarget.wideRegisters && columns >= 16) { run(SIMD16<Float>.self) } else { run(SIMD8<Float>.self) }
            return
        }
        let m = plan.transform.m, alpha = plan.transform.alpha
        let tilesPerRow = plan.tilesPerRow, tp = plan.paddedTiles
        let columnPass = scratch                // [i][ν][t]: Aᵀ applied down the tile columns
        let rowPass = scratch + m * alpha * tp  // [i][j][t]
        let plane = outputHeight * outputWidth
        let outColumnStart = plan.outColumnStart, outRowStart = plan.outRowStart
        plan.outColumnCoefficients.withUnsafeBufferPointer { ac in plan.outColumnXi.withUnsafeBufferPointer { axi in
        plan.outRowCoefficients.withUnsafeBufferPointer { rc in plan.outRowOffsets.withUnsafeBufferPointer { ro in
        for o in 0..<channels {
            for tr in tileRows {
                let col0 = (tr - tileRows.lowerBound) * tilesPerRow
                let base = products + o * columns + col0
                for i in 0..<m {
                    let terms = outColumnStart[i]..<outColumnStart[i + 1]
                    for nu in 0..<alpha {
                        applyTerms(ac, axi, terms, scale: alpha * matrixStride, from: base + nu * matrixStride,
                                   to: columnPass + (i * alpha + nu) * tp, count: tilesPerRow)
                    }
                    let rowBase = columnPass + i * alpha * tp
                    for j in 0..<m {
                        applyTerms(rc, ro, outRowStart[j]..<outRowStart[j + 1], from: rowBase,
                                   to: rowPass + (i * m + j) * tp, count: tilesPerRow)
                    }
                }
                // Interleave the tiles' columns into output rows, then bias, residual and activation on each row.
                let rowsHere = Swift.min(m, outputHeight - tr * m)
                let fullTiles = Swift.min(tilesPerRow, outputWidth / m)
                for i in 0..<rowsHere {
                    let y = tr * m + i
                    let row = output + o * plane + y * outputWidth
                    let src = rowPass + i * m * tp
                    for j in 0..<m {
                        var to = row + j
                        let s = src + j * tp
                        for t in 0..<fullTiles { to.pointee = s[t]; to += m }
                    }
                    if fullTiles < tilesPerRow {
                        for j in 0..<(outputWidth - fullTiles * m) { row[fullTiles * m + j] = src[j * tp + fullTiles] }
                    }
                    activation.finish(src: row, dst: row, count: outputWidth, bias: bias?[o] ?? 0,
                                      residual: residual.map { $0 + o * plane + y * outputWidth })
                }
            }
        }
        } } } }
    }
}
