import CFFTConvShim

/// F(4×4, 3×3) stages written out with Lavin & Gray's matrices (points 0, ±1, ±2, ∞) instead of term lists:
/// the tile size that wins most layers gets straight-line code, `V.scalarCount` tiles per vector. The
/// family tester checks this path against the reference like any other (`WinogradTests`); its formulas are
/// the rows of `WinogradRegistry.f4x4_3x3`'s matrices, which `testTransformMatricesComputeTheCorrelation`
/// checks algebraically.
extension WinogradKernels {
    @inline(__always) static func load<V: SIMD>(_ p: UnsafePointer<Float>, as _: V.Type = V.self) -> V where V.Scalar == Float {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    @inline(__always) static func store<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<Float>) where V.Scalar == Float {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }

    /// `Bᵀ d` for one 6-vector (each element a vector of tiles).
    @inline(__always)
    static func inputF4<V: SIMD>(_ d0: V, _ d1: V, _ d2: V, _ d3: V, _ d4: V, _ d5: V) -> (V, V, V, V, V, V) where V.Scalar == Float {
        let four = V(repeating: 4), minusFive = V(repeating: -5), two = V(repeating: 2)
        let w0 = d4.addingProduct(minusFive, d2).addingProduct(four, d0)
        let w1 = (d3 + d4).addingProduct(V(repeating: -4), d1 + d2)
        let w2 = (d4 - d3).addingProduct(four, d1 - d2)
        let w3 = (d4 - d2).addingProduct(two, d3 - d1)
        let w4 = (d4 - d2).addingProduct(two, d1 - d3)
        let w5 = d5.addingProduct(minusFive, d3).addingProduct(four, d1)
        return (w0, w1, w2, w3, w4, w5)
    }

    /// `Aᵀ m` for one 6-vector.
    @inline(__always)
    static func outputF4<V: SIMD>(_ m0: V, _ m1: V, _ m2: V, _ m3: V, _ m4: V, _ m5: V) -> (V, V, V, V) where V.Scalar == Float {
        let a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4
        return (m0 + a + c, b.addingProduct(V(repeating: 2), d), a.addingProduct(V(repeating: 4), c),
                (b + m5).addingProduct(V(repeating: 8), d))
    }

    /// The input stage's second pass for one vector of tiles: `Bᵀ` down the six rows of `tmp` (`[r][ν] × lanes`, the
    /// first pass's `d·B`), stored as whole vectors into `V`'s 36 matrices (element ξν at `dst + (6ξ + ν)·matrixStride`).
    @inline(__always)
    static func inputColumnsF4<V: SIMD>(_: V.Type, tmp: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>,
                                         matrixStride: Int) where V.Scalar == Float {
        let lanes = V.scalarCount, step = 6 * matrixStride
        for nu in 0..<6 {
            let q = tmp + nu * lanes
            let x = inputF4(load(q, as: V.self), load(q + 6 * lanes), load(q + 12 * lanes), load(q + 18 * lanes),
                            load(q + 24 * lanes), load(q + 30 * lanes))
            let d = dst + nu * matrixStride
            store(x.0, d); store(x.1, d + step); store(x.2, d + 2 * step)
            store(x.3, d + 3 * step); store(x.4, d + 4 * step); store(x.5, d + 5 * step)
        }
    }

    /// Splits into a ring of `alpha` phase rows (each `m` phases of `phaseLength` floats; input row `r` of tile row `tr`
    /// in slot `(rot + r) mod alpha`) the input rows tile row `tr` adds — all `alpha` at the chunk's first tile row,
    /// the last `m` after it (tiles `m` apart) — and advances `rot` (0 for a channel's first tile row). The input comes
    /// from memory (64→64 at 224²: half the input stage's time waited on the row copy): the row the next tile row
    /// splits in each place is asked for now, or at the chunk's last tile row the next channel's (when `hasNextChannel`).
    @inline(__always)
    static func splitRingRows(alpha: Int, m: Int, plane: UnsafePointer<Float>, height: Int, width: Int, padTop: Int, padLeft: Int,
                              tileRows: Range<Int>, tr: Int, hasNextChannel: Bool, phases: UnsafeMutablePointer<Float>,
                              phaseLength pl: Int, rot: inout Int, work: UnsafeMutablePointer<Float>) {
        let first = tr == tileRows.lowerBound, last = tr + 1 == tileRows.upperBound
        if !first { rot = (rot + m) % alpha }
        for r in (first ? 0 : alpha - m)..<alpha {
            let y = tr * m - padTop + r
            let (nextPlane, nextY) = last ? (plane + height * width, tileRows.lowerBound * m - padTop + r) : (plane, y + m)
            if (!last || hasNextChannel) && nextY >= 0 && nextY < height {
                Prefetch.toL2(nextPlane + nextY * width, bytes: width * 4)
            }
            splitRow(plane, y: y, height: height, width: width, padLeft: padLeft, m: m,
                     phaseLength: pl, into: phases + (rot + r) % alpha * m * pl, work: work)
        }
    }

    static func transformInputF4<V: SIMD>(_: V.Type, plan: WinogradStagePlan, input: UnsafePointer<Float>, channels: Int,
                                          height: Int, width: Int, padTop: Int, padLeft: Int, tileRows: Range<Int>,
                                          v: UnsafeMutablePointer<Float>, matrixStride: Int, columns: Int,
                                          scratch: UnsafeMutablePointer<Float>) where V.Scalar == Float {
        let lanes = V.scalarCount
        let tilesPerRow = plan.tilesPerRow, pl = plan.phaseLength
        let phases = scratch               // [r][s][q], 6 × 4 × pl: the tile row's six input rows split into phases
        let tmp = scratch + 24 * pl        // [r][ν] × lanes: d·B of one vector of tiles
        let work = tmp + 36 * lanes        // splitRow's padded row and halves
        for c in 0..<channels {
            let plane = input + c * height * width
            // The six rows' phases are a ring: a tile row's last two input rows are the next one's first two, split once.
            var rot = 0
            for tr in tileRows {
                splitRingRows(alpha: 6, m: 4, plane: plane, height: height, width: width, padTop: padTop, padLeft: padLeft,
                              tileRows: tileRows, tr: tr, hasNextChannel: c + 1 < channels, phases: phases, phaseLength: pl,
                              rot: &rot, work: work)
                let col0 = (tr - tileRows.lowerBound) * tilesPerRow
                @inline(__always) func tiles<W: SIMD>(_: W.Type, from t: Int) where W.Scalar == Float {
                    let lanes = W.scalarCount
                    for r in 0..<6 {
                        let p = phases + (rot + r) % 6 * 4 * pl + t
                        let w = inputF4(load(p, as: W.self), load(p + pl), load(p + 2 * pl), load(p + 3 * pl), load(p + 1), load(p + pl + 1))
                        let o = tmp + r * 6 * lanes
                        store(w.0, o); store(w.1, o + lanes); store(w.2, o + 2 * lanes)
                        store(w.3, o + 3 * lanes); store(w.4, o + 4 * lanes); store(w.5, o + 5 * lanes)
                    }
                    // Whole vectors, also past the row's last tile (V rows are padded; see transformInput).
                    inputColumnsF4(W.self, tmp: tmp, into: v + c * columns + col0 + t, matrixStride: matrixStride)
                }
                // A row's last ≤ 8 tiles on an 8-lane vector when the stage runs 16 (56 tiles: 64 → 56 computed).
                var t = 0
                while t < tilesPerRow {
                    if lanes > 8 && tilesPerRow - t <= 8 { tiles(SIMD8<Float>.self, from: t); t += 8 } else { tiles(V.self, from: t); t += lanes }
                }
            }
        }
    }

    /// `transformInputF4` for rows of 4 tiles (13² to 16² outputs) on 8-lane vectors: two tile rows per vector —
    /// lanes 0–3 the first row's tiles, 4–7 the next row's, whose `V` columns follow on — instead of a half-empty
    /// vector per row. A pair's ten input rows are split into phases afresh (the two it shares with the pair
    /// before are split again). A last unpaired tile row takes the one-row path.
    static func transformInputF4Pairs(plan: WinogradStagePlan, input: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                                      padTop: Int, padLeft: Int, tileRows: Range<Int>, v: UnsafeMutablePointer<Float>,
                                      matrixStride: Int, columns: Int, scratch: UnsafeMutablePointer<Float>) {
        typealias V = SIMD8<Float>
        let lanes = 8, pl = plan.phaseLength
        let phases = scratch               // [r][s][q], 10 × 4 × pl: the pair's ten input rows split into phases
        let tmp = phases + 40 * pl         // [r][ν] × lanes: d·B of one vector of tiles
        let work = tmp + 36 * lanes        // splitRow's padded row and halves
        @inline(__always) func pairLoad(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> V {
            V(lowHalf: UnsafeRawPointer(a).loadUnaligned(as: SIMD4<Float>.self), highHalf: UnsafeRawPointer(b).loadUnaligned(as: SIMD4<Float>.self))
        }
        // Rows of at most 16 floats are split by one shuffle and one 8-float store per phase (`fftconv_split4pad16`)
        // where 16 floats can be read from the row's start inside the plane — every row but the last one or two.
        // `splitRow` (a padded copy, then even/odd splits of 14 and 7 floats) took 13% of 384→256 on 13² (0.16 of
        // 1.25 ms), nearly all of it in loads that straddle its own stores, which store-to-load forwarding does not
        // serve; the whole-phase stores here contain every load the transform makes of them.
        let short = width <= 16 && (0...3).contains(padLeft) && pl >= 8
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 32) { masks in
            for s in 0..<4 {
                for q in 0..<8 { masks[8 * s + q] = (0..<width).contains(4 * q + s - padLeft) ? -1 : 0 }
            }
            var tr = tileRows.lowerBound
            while tr + 1 < tileRows.upperBound {
                for c in 0..<channels {
                    let plane = input + c * height * width
                    for r in 0..<10 {
                        let y = tr * 4 - padTop + r
                        if short && y >= 0 && y * width + 16 <= height * width {
                            fftconv_split4pad16(plane + y * width, padLeft, masks.baseAddress, phases + r * 4 * pl, pl)
                        } else {
                            splitRow(plane, y: y, height: height, width: width, padLeft: padLeft, m: 4,
                                     phaseLength: pl, into: phases + r * 4 * pl, work: work)
                        }
                    }
                    for r in 0..<6 {
                        let a = phases + r * 4 * pl, b = phases + (r + 4) * 4 * pl
                        let w = inputF4(pairLoad(a, b), pairLoad(a + pl, b + pl), pairLoad(a + 2 * pl, b + 2 * pl),
                                        pairLoad(a + 3 * pl, b + 3 * pl), pairLoad(a + 1, b + 1), pairLoad(a + pl + 1, b + pl + 1))
                        let o = tmp + r * 6 * lanes
                        store(w.0, o); store(w.1, o + lanes); store(w.2, o + 2 * lanes)
                        store(w.3, o + 3 * lanes); store(w.4, o + 4 * lanes); store(w.5, o + 5 * lanes)
                    }
                    let col0 = (tr - tileRows.lowerBound) * 4
                    inputColumnsF4(V.self, tmp: tmp, into: v + c * columns + col0, matrixStride: matrixStride)
                }
                tr += 2
            }
            if tr < tileRows.upperBound {
                transformInputF4(V.self, plan: plan, input: input, channels: channels, height: height, width: width,
                                 padTop: padTop, padLeft: padLeft, tileRows: tr..<tileRows.upperBound,
                                 v: v + (tr - tileRows.lowerBound) * 4, matrixStride: matrixStride, columns: columns, scratch: scratch)
            }
        }
    }

    static func transformOutputF4<V: SIMD>(_: V.Type, plan: WinogradStagePlan, products: UnsafePointer<Float>, matrixStride: Int,
                                           columns: Int, channels: Int, tileRows: Range<Int>,
                                           output: UnsafeMutablePointer<Float>, outputHeight: Int, outputWidth: Int,
                                           bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
                                           activation: Epilogue, scratch: UnsafeMutablePointer<Float>,
                                           pool: Bool = false) where V.Scalar == Float {
        let lanes = V.scalarCount
        let tilesPerRow = plan.tilesPerRow
        // The chunk's tiles are consecutive columns of M, tile row after tile row: vectors run over them all
        // (not row by row, which left lanes idle on rows of 4 or 7 tiles), each interleaved whole into four
        // output-row buffers of `4 · columns` floats (rounded up to vectors) — a tile row's tiles land next to each
        // other there, so each output row is one run that bias, residual and activation then copy out.
        let rowLength = outputRowBufferFloats(columns: columns, lanes: lanes, m: 4)
        let rows = scratch, tmp = scratch + 4 * rowLength
        for o in 0..<channels {
            var t = 0
            while t < columns {
                let base = products + o * columns + t
                let step = 6 * matrixStride
                for nu in 0..<6 {
                    let p = base + nu * matrixStride
                    let s = outputF4(load(p, as: V.self), load(p + step), load(p + 2 * step), load(p + 3 * step),
                                     load(p + 4 * step), load(p + 5 * step))
                    store(s.0, tmp + nu * lanes); store(s.1, tmp + (6 + nu) * lanes)
                    store(s.2, tmp + (12 + nu) * lanes); store(s.3, tmp + (18 + nu) * lanes)
                }
                for i in 0..<4 {
                    let q = tmp + i * 6 * lanes
                    let y = outputF4(load(q, as: V.self), load(q + lanes), load(q + 2 * lanes), load(q + 3 * lanes),
                                     load(q + 4 * lanes), load(q + 5 * lanes))
                    let staged = tmp + 24 * lanes
                    store(y.0, staged); store(y.1, staged + lanes); store(y.2, staged + 2 * lanes); store(y.3, staged + 3 * lanes)
                    let dst = rows + i * rowLength + t * 4
                    if lanes == 16 { fftconv_interleave4x16(staged, dst) } else { fftconv_interleave4x8(staged, dst) }
                }
                t += lanes
            }
            finishChannel(o, m: 4, rows: rows, rowLength: rowLength, tilesPerRow: tilesPerRow, tileRows: tileRows, output: output,
                          outputHeight: outputHeight, outputWidth: outputWidth, bias: bias, residual: residual,
                          activation: activation, pool: pool)
        }
    }
}
