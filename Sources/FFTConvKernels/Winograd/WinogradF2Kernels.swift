import CFFTConvShim

/// F(2×2, 3×3) stages written out (points 0, ±1, ∞: the rows of `WinogradRegistry.f2x2_3x3`'s matrices,
/// whose algebra `testTransformMatricesComputeTheCorrelation` checks), `V.scalarCount` tiles per vector, like
/// `WinogradF4Kernels.swift`.
extension WinogradKernels {
    /// `Bᵀ d` for one 4-vector: rows (−1, 0, 1, 0), (0, 1, 1, 0), (0, −1, 1, 0), (0, −1, 0, 1).
    @inline(__always)
    static func inputF2<V: SIMD>(_ d0: V, _ d1: V, _ d2: V, _ d3: V) -> (V, V, V, V) where V.Scalar == Float {
        (d2 - d0, d1 + d2, d2 - d1, d3 - d1)
    }

    /// `Aᵀ m` for one 4-vector: rows (1, 1, 1, 0), (0, 1, −1, 1).
    @inline(__always)
    static func outputF2<V: SIMD>(_ m0: V, _ m1: V, _ m2: V, _ m3: V) -> (V, V) where V.Scalar == Float {
        (m0 + m1 + m2, m1 - m2 + m3)
    }

    static func transformInputF2<V: SIMD>(_: V.Type, plan: WinogradStagePlan, input: UnsafePointer<Float>, channels: Int,
                                          height: Int, width: Int, padTop: Int, padLeft: Int, tileRows: Range<Int>,
                                          v: UnsafeMutablePointer<Float>, matrixStride: Int, columns: Int,
                                          scratch: UnsafeMutablePointer<Float>) where V.Scalar == Float {
        let lanes = V.scalarCount
        let tilesPerRow = plan.tilesPerRow, tp = plan.paddedTiles, pl = plan.phaseLength
        let phases = scratch               // [r][s][q], 4 × 2 × pl: the tile row's four input rows split into phases
        let tmp = scratch + 8 * pl         // [r][ν] × lanes: d·B of one vector of tiles
        let work = tmp + 16 * lanes        // splitRow's padded row
        for c in 0..<channels {
            let plane = input + c * height * width
            // The four rows' phases are a ring: a tile row's last two input rows are the next one's first two, split once.
            var rot = 0
            for tr in tileRows {
                let first = tr == tileRows.lowerBound
                if !first { rot = (rot + 2) % 4 }
                for r in (first ? 0 : 2)..<4 {
                    splitRow(plane, y: tr * 2 - padTop + r, height: height, width: width, padLeft: padLeft, m: 2,
                             phaseLength: pl, into: phases + (rot + r) % 4 * 2 * pl, work: work)
                }
                let col0 = (tr - tileRows.lowerBound) * tilesPerRow
                var t = 0
                while t < tp {
                    for r in 0..<4 {
                        let p = phases + (rot + r) % 4 * 2 * pl + t
                        let w = inputF2(load(p, as: V.self), load(p + pl), load(p + 1), load(p + pl + 1))
                        let o = tmp + r * 4 * lanes
                        store(w.0, o); store(w.1, o + lanes); store(w.2, o + 2 * lanes); store(w.3, o + 3 * lanes)
                    }
                    for nu in 0..<4 {
                        let q = tmp + nu * lanes
                        let x = inputF2(load(q, as: V.self), load(q + 4 * lanes), load(q + 8 * lanes), load(q + 12 * lanes))
                        let dst = v + nu * matrixStride + c * columns + col0 + t
                        let step = 4 * matrixStride
                        // Whole vectors, also past the row's last tile (V rows are padded; see transformInput).
                        store(x.0, dst); store(x.1, dst + step); store(x.2, dst + 2 * step); store(x.3, dst + 3 * step)
                    }
                    t += lanes
                }
            }
        }
    }

    static func transformOutputF2<V: SIMD>(_: V.Type, plan: WinogradStagePlan, products: UnsafePointer<Float>, matrixStride: Int,
                                           columns: Int, channels: Int, tileRows: Range<Int>,
                                           output: UnsafeMutablePointer<Float>, outputHeight: Int, outputWidth: Int,
                                           bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
                                           activation: Epilogue, scratch: UnsafeMutablePointer<Float>,
                                           pool: Bool = false) where V.Scalar == Float {
        let lanes = V.scalarCount
        let tilesPerRow = plan.tilesPerRow
        // Vectors over all the chunk's tiles into two output-row buffers, as in `transformOutputF4`.
        let rowLength = outputRowBufferFloats(columns: columns, lanes: lanes, m: 2)
        let rows = scratch, tmp = scratch + 2 * rowLength
        for o in 0..<channels {
            var t = 0
            while t < columns {
                let base = products + o * columns + t
                let step = 4 * matrixStride
                for nu in 0..<4 {
                    let p = base + nu * matrixStride
                    let s = outputF2(load(p, as: V.self), load(p + step), load(p + 2 * step), load(p + 3 * step))
                    store(s.0, tmp + nu * lanes); store(s.1, tmp + (4 + nu) * lanes)
                }
                for i in 0..<2 {
                    let q = tmp + i * 4 * lanes
                    let y = outputF2(load(q, as: V.self), load(q + lanes), load(q + 2 * lanes), load(q + 3 * lanes))
                    let staged = tmp + 8 * lanes
                    store(y.0, staged); store(y.1, staged + lanes)
                    let dst = rows + i * rowLength + t * 2
                    if lanes == 16 { fftconv_interleave2x16(staged, dst) } else { fftconv_interleave2x8(staged, dst) }
                }
                t += lanes
            }
            finishChannel(o, m: 2, rows: rows, rowLength: rowLength, tilesPerRow: tilesPerRow, tileRows: tileRows, output: output,
                          outputHeight: outputHeight, outputWidth: outputWidth, bias: bias, residual: residual,
                          activation: activation, pool: pool)
        }
    }
}
