import CFFTConvShim

/// F(6×6, 3×3) stages written out, `V.scalarCount` tiles per vector, like `WinogradF4Kernels.swift`: an 8×8 input
/// tile per 6×6 outputs (64 products for 36 outputs, 21% fewer than F(4×4)'s 36 for 16), tiles 6 apart, so a tile
/// row reads eight input rows of which the next tile row shares two. The points are F(4×4, 5×5)'s (0, ±1, ±2, ±½,
/// ∞), so the input transform is `inputF45`; rows are split into six phases by `fftconv_split6x16`/`x8` and output
/// rows interleaved back by `fftconv_interleave6x16`/`x8`. (With the generic term lists, F(6×6) ran VGG16's 3x3
/// layers 1.2–2× slower than F(4×4).) The formulas are the rows of `WinogradRegistry.f6x6_3x3`'s matrices, whose
/// algebra `testTransformMatricesComputeTheCorrelation` checks; the family tester runs this path like any other.
extension WinogradKernels {
    /// `Aᵀ m` for one 8-vector: rows `pⁱ` (i < 6) over the points 0, 1, −1, 2, −2, ½, −½ and `e₅` at ∞ — pairs of
    /// points ±p share their sums (even rows) and differences (odd rows).
    @inline(__always)
    static func outputF6<V: SIMD>(_ m0: V, _ m1: V, _ m2: V, _ m3: V, _ m4: V, _ m5: V, _ m6: V, _ m7: V)
        -> (V, V, V, V, V, V) where V.Scalar == Float {
        let a1 = m1 + m2, b1 = m1 - m2, a2 = m3 + m4, b2 = m3 - m4, a3 = m5 + m6, b3 = m5 - m6
        return (m0 + a1 + a2 + a3,
                b1.addingProduct(V(repeating: 2), b2).addingProduct(V(repeating: 0.5), b3),
                a1.addingProduct(V(repeating: 4), a2).addingProduct(V(repeating: 0.25), a3),
                b1.addingProduct(V(repeating: 8), b2).addingProduct(V(repeating: 0.125), b3),
                a1.addingProduct(V(repeating: 16), a2).addingProduct(V(repeating: 0.0625), a3),
                (b1 + m7).addingProduct(V(repeating: 32), b2).addingProduct(V(repeating: 0.03125), b3))
    }

    static func transformInputF6<V: SIMD>(_: V.Type, plan: WinogradStagePlan, input: UnsafePointer<Float>, channels: Int,
                                          height: Int, width: Int, padTop: Int, padLeft: Int, tileRows: Range<Int>,
                                          v: UnsafeMutablePointer<Float>, matrixStride: Int, columns: Int,
                                          scratch: UnsafeMutablePointer<Float>) where V.Scalar == Float {
        let lanes = V.scalarCount
        let tilesPerRow = plan.tilesPerRow, tp = plan.paddedTiles, pl = plan.phaseLength
        let phases = scratch               // [r][s][q], 8 × 6 × pl: the tile row's eight input rows split into phases
        let tmp = scratch + 48 * pl        // [r][ν] × lanes: d·B of one vector of tiles
        let work = tmp + 64 * lanes        // splitRow's padded row
        for c in 0..<channels {
            let plane = input + c * height * width
            // The eight rows' phases are a ring: a tile row's last two input rows are the next one's first two.
            var rot = 0
            for tr in tileRows {
                splitRingRows(alpha: 8, m: 6, plane: plane, height: height, width: width, padTop: padTop, padLeft: padLeft,
                              tileRows: tileRows, tr: tr, hasNextChannel: c + 1 < channels, phases: phases, phaseLength: pl,
                              rot: &rot, work: work)
                let col0 = (tr - tileRows.lowerBound) * tilesPerRow
                var t = 0
                while t < tp {
                    // Row pass: column k of tile t is phase k mod 6 at t + k / 6.
                    for r in 0..<8 {
                        let p = phases + (rot + r) % 8 * 6 * pl + t
                        let w = inputF45(load(p, as: V.self), load(p + pl), load(p + 2 * pl), load(p + 3 * pl),
                                         load(p + 4 * pl), load(p + 5 * pl), load(p + 1), load(p + pl + 1))
                        let o = tmp + r * 8 * lanes
                        store(w.0, o); store(w.1, o + lanes); store(w.2, o + 2 * lanes); store(w.3, o + 3 * lanes)
                        store(w.4, o + 4 * lanes); store(w.5, o + 5 * lanes); store(w.6, o + 6 * lanes); store(w.7, o + 7 * lanes)
                    }
                    // Column pass, stored as whole vectors (also past the row's last tile: V rows are padded).
                    let dst = v + c * columns + col0 + t, step = 8 * matrixStride
                    for nu in 0..<8 {
                        let q = tmp + nu * lanes
                        let x = inputF45(load(q, as: V.self), load(q + 8 * lanes), load(q + 16 * lanes), load(q + 24 * lanes),
                                         load(q + 32 * lanes), load(q + 40 * lanes), load(q + 48 * lanes), load(q + 56 * lanes))
                        let d = dst + nu * matrixStride
                        store(x.0, d); store(x.1, d + step); store(x.2, d + 2 * step); store(x.3, d + 3 * step)
                        store(x.4, d + 4 * step); store(x.5, d + 5 * step); store(x.6, d + 6 * step); store(x.7, d + 7 * step)
                    }
                    t += lanes
                }
            }
        }
    }

    static func transformOutputF6<V: SIMD>(_: V.Type, plan: WinogradStagePlan, products: UnsafePointer<Float>, matrixStride: Int,
                                           columns: Int, channels: Int, tileRows: Range<Int>,
                                           output: UnsafeMutablePointer<Float>, outputHeight: Int, outputWidth: Int,
                                           bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
                                           activation: Epilogue, scratch: UnsafeMutablePointer<Float>) where V.Scalar == Float {
        let lanes = V.scalarCount
        let plane = outputHeight * outputWidth
        // As `transformOutputF4`: vectors over all the chunk's tiles, interleaved into six output-row buffers.
        let rowLength = outputRowBufferFloats(columns: columns, lanes: lanes, m: 6)
        let rows = scratch, tmp = scratch + 6 * rowLength
        for o in 0..<channels {
            var t = 0
            while t < columns {
                let base = products + o * columns + t
                let step = 8 * matrixStride
                for nu in 0..<8 {
                    let p = base + nu * matrixStride
                    let s = outputF6(load(p, as: V.self), load(p + step), load(p + 2 * step), load(p + 3 * step),
                                     load(p + 4 * step), load(p + 5 * step), load(p + 6 * step), load(p + 7 * step))
                    store(s.0, tmp + nu * lanes); store(s.1, tmp + (8 + nu) * lanes); store(s.2, tmp + (16 + nu) * lanes)
                    store(s.3, tmp + (24 + nu) * lanes); store(s.4, tmp + (32 + nu) * lanes); store(s.5, tmp + (40 + nu) * lanes)
                }
                for i in 0..<6 {
                    let q = tmp + i * 8 * lanes
                    let y = outputF6(load(q, as: V.self), load(q + lanes), load(q + 2 * lanes), load(q + 3 * lanes),
                                     load(q + 4 * lanes), load(q + 5 * lanes), load(q + 6 * lanes), load(q + 7 * lanes))
                    let staged = tmp + 48 * lanes
                    store(y.0, staged); store(y.1, staged + lanes); store(y.2, staged + 2 * lanes)
                    store(y.3, staged + 3 * lanes); store(y.4, staged + 4 * lanes); store(y.5, staged + 5 * lanes)
                    let dst = rows + i * rowLength + t * 6
                    if lanes == 16 { fftconv_interleave6x16(staged, dst) } else { fftconv_interleave6x8(staged, dst) }
                }
                t += lanes
            }
            finishOutputRows(m: 6, rows: rows, rowLength: rowLength, tilesPerRow: plan.tilesPerRow, tileRows: tileRows,
                             output: output + o * plane, outputHeight: outputHeight, outputWidth: outputWidth,
                             bias: bias?[o] ?? 0, residual: residual.map { $0 + o * plane }, activation: activation)
        }
    }
}
