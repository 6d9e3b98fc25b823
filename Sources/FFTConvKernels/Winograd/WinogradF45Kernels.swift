import CFFTConvShim

/// F(4×4, 5×5) stages written out (points 0, ±1, ±2, ±½, ∞: the rows of `WinogradRegistry.f4x4_5x5`'s matrices,
/// whose algebra `testTransformMatricesComputeTheCorrelation` checks), `V.scalarCount` tiles per vector, like
/// `WinogradF4Kernels.swift`: an 8×8 input tile per 4×4 outputs, tiles 4 apart, so a tile row reads eight input rows
/// of which the next tile row shares four. (With the generic term lists, AlexNet's 64→192 5x5 layer on 27² spent
/// 56% of its time in the two stages — `perf`, `fftconv-bench layer … --winograd-tiles 4`.)
extension WinogradKernels {
    /// `Bᵀ d` for one 8-vector: the rows of `Bᵀ` for points 0, 1, −1, 2, −2, ½, −½, ∞ — pairs of rows for ±p share
    /// their even and odd parts.
    @inline(__always)
    static func inputF45<V: SIMD>(_ d0: V, _ d1: V, _ d2: V, _ d3: V, _ d4: V, _ d5: V, _ d6: V, _ d7: V)
        -> (V, V, V, V, V, V, V, V) where V.Scalar == Float {
        let c525 = V(repeating: 5.25), m425 = V(repeating: -4.25)
        let w0 = (d6 - d0).addingProduct(c525, d2 - d4)
        let e1 = (d2 + d6).addingProduct(m425, d4), o1 = (d1 + d5).addingProduct(m425, d3)
        let e2 = d6.addingProduct(V(repeating: 0.25), d2).addingProduct(V(repeating: -1.25), d4)
        let o2 = (V(repeating: 0.5) * d1).addingProduct(V(repeating: -2.5), d3).addingProduct(V(repeating: 2), d5)
        let e3 = d6.addingProduct(V(repeating: 4), d2).addingProduct(V(repeating: -5), d4)
        let o3 = (V(repeating: 2) * d1).addingProduct(V(repeating: -2.5), d3).addingProduct(V(repeating: 0.5), d5)
        let w7 = (d7 - d1).addingProduct(c525, d3 - d5)
        return (w0, e1 + o1, e1 - o1, e2 + o2, e2 - o2, e3 + o3, e3 - o3, w7)
    }

    /// `Aᵀ m` for one 8-vector: rows `pⁱ` over the points 0, 1, −1, 2, −2, ½, −½ and `e₃` at ∞.
    @inline(__always)
    static func outputF45<V: SIMD>(_ m0: V, _ m1: V, _ m2: V, _ m3: V, _ m4: V, _ m5: V, _ m6: V, _ m7: V)
        -> (V, V, V, V) where V.Scalar == Float {
        let a1 = m1 + m2, b1 = m1 - m2, a2 = m3 + m4, b2 = m3 - m4, a3 = m5 + m6, b3 = m5 - m6
        return (m0 + a1 + a2 + a3,
                b1.addingProduct(V(repeating: 2), b2).addingProduct(V(repeating: 0.5), b3),
                a1.addingProduct(V(repeating: 4), a2).addingProduct(V(repeating: 0.25), a3),
                (b1 + m7).addingProduct(V(repeating: 8), b2).addingProduct(V(repeating: 0.125), b3))
    }

    static func transformInputF45<V: SIMD>(_: V.Type, plan: WinogradStagePlan, input: UnsafePointer<Float>, channels: Int,
                                           height: Int, width: Int, padTop: Int, padLeft: Int, tileRows: Range<Int>,
                                           v: UnsafeMutablePointer<Float>, matrixStride: Int, columns: Int,
                                           scratch: UnsafeMutablePointer<Float>) where V.Scalar == Float {
        let lanes = V.scalarCount
        let tilesPerRow = plan.tilesPerRow, tp = plan.paddedTiles, pl = plan.phaseLength
        let phases = scratch               // [r][s][q], 8 × 4 × pl: the tile row's eight input rows split into phases
        let tmp = scratch + 32 * pl        // [r][ν] × lanes: d·B of one vector of tiles
        let work = tmp + 64 * lanes        // splitRow's padded row and halves
        for c in 0..<channels {
            let plane = input + c * height * width
            // The eight rows' phases are a ring: a tile row's last four input rows are the next one's first four.
            var rot = 0
            for tr in tileRows {
                splitRingRows(alpha: 8, m: 4, plane: plane, height: height, width: width, padTop: padTop, padLeft: padLeft,
                              tileRows: tileRows, tr: tr, hasNextChannel: c + 1 < channels, phases: phases, phaseLength: pl,
                              rot: &rot, work: work)
                let col0 = (tr - tileRows.lowerBound) * tilesPerRow
                var t = 0
                while t < tp {
                    // Row pass: column k of tile t is phase k mod 4 at t + k / 4.
                    for r in 0..<8 {
                        let p = phases + (rot + r) % 8 * 4 * pl + t
                        let w = inputF45(load(p, as: V.self), load(p + pl), load(p + 2 * pl), load(p + 3 * pl),
                                         load(p + 1), load(p + pl + 1), load(p + 2 * pl + 1), load(p + 3 * pl + 1))
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

    static func transformOutputF45<V: SIMD>(_: V.Type, plan: WinogradStagePlan, products: UnsafePointer<Float>, matrixStride: Int,
                                            columns: Int, channels: Int, tileRows: Range<Int>,
                                            output: UnsafeMutablePointer<Float>, outputHeight: Int, outputWidth: Int,
                                            bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
                                            activation: Epilogue, scratch: UnsafeMutablePointer<Float>) where V.Scalar == Float {
        let lanes = V.scalarCount
        let plane = outputHeight * outputWidth
        // As `transformOutputF4`: vectors over all the chunk's tiles, interleaved into four output-row buffers.
        let rowLength = outputRowBufferFloats(columns: columns, lanes: lanes, m: 4)
        let rows = scratch, tmp = scratch + 4 * rowLength
        for o in 0..<channels {
            var t = 0
            while t < columns {
                let base = products + o * columns + t
                let step = 8 * matrixStride
                for nu in 0..<8 {
                    let p = base + nu * matrixStride
                    let s = outputF45(load(p, as: V.self), load(p + step), load(p + 2 * step), load(p + 3 * step),
                                      load(p + 4 * step), load(p + 5 * step), load(p + 6 * step), load(p + 7 * step))
                    store(s.0, tmp + nu * lanes); store(s.1, tmp + (8 + nu) * lanes)
                    store(s.2, tmp + (16 + nu) * lanes); store(s.3, tmp + (24 + nu) * lanes)
                }
                for i in 0..<4 {
                    let q = tmp + i * 8 * lanes
                    let y = outputF45(load(q, as: V.self), load(q + lanes), load(q + 2 * lanes), load(q + 3 * lanes),
                                      load(q + 4 * lanes), load(q + 5 * lanes), load(q + 6 * lanes), load(q + 7 * lanes))
                    let staged = tmp + 32 * lanes
                    store(y.0, staged); store(y.1, staged + lanes); store(y.2, staged + 2 * lanes); store(y.3, staged + 3 * lanes)
                    let dst = rows + i * rowLength + t * 4
                    if lanes == 16 { fftconv_interleave4x16(staged, dst) } else { fftconv_interleave4x8(staged, dst) }
                }
                t += lanes
            }
            finishOutputRows(m: 4, rows: rows, rowLength: rowLength, tilesPerRow: plan.tilesPerRow, tileRows: tileRows,
                             output: output + o * plane, outputHeight: outputHeight, outputWidth: outputWidth,
                             bias: bias?[o] ?? 0, residual: residual.map { $0 + o * plane }, activation: activation)
        }
    }
}
