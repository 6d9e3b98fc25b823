import CFFTConvShim

/// F(4×4, 5×5) stages written out (points 0, ±1, ±2, ±½, ∞: the rows of `WinogradRegistry.f4x4_5x5`'s matrices,
/// whose algebra `testTransformMatricesComputeTheCorrelation` checks), `V.scalarCount` tiles per vector, like
/// `WinogradF4Kernels.swift`: an 8×8 input tile per 4×4 outputs, tiles 4 apart, so a tile row reads eight input rows
/// of which the next tile row shares four. (With the generic term lists, AlexNet's 64→192 5x5 layer on 27² spent
/// 56% of its time in the two stages — `perf`, `fftconv-bench layer … --winograd-tiles 4`.) Its input and output
/// stages serve F(6×6, 3×3) too, which has the same α and points (`WinogradF6Kernels.swift`).
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

    /// The input stage of both α = 8 variants — F(4×4, 5×5) (tiles `m` = 4 apart) and F(6×6, 3×3) (6 apart), which
    /// share their points and so `Bᵀ` (`inputF45`): each input row split into `m` phases, column `k` of tile `t` read
    /// as phase `k mod m` at `t + k / m`.
    static func transformInputAlpha8<V: SIMD>(_: V.Type, m: Int, plan: WinogradStagePlan, input: UnsafePointer<Float>, channels: Int,
                                              height: Int, width: Int, padTop: Int, padLeft: Int, tileRows: Range<Int>,
                                              v: UnsafeMutablePointer<Float>, matrixStride: Int, columns: Int,
                                              scratch: UnsafeMutablePointer<Float>) where V.Scalar == Float {
        let lanes = V.scalarCount
        let tilesPerRow = plan.tilesPerRow, pl = plan.phaseLength
        let phases = scratch               // [r][s][q], 8 × m × pl: the tile row's eight input rows split into phases
        let tmp = scratch + 8 * m * pl     // [r][ν] × lanes: d·B of one vector of tiles
        let work = tmp + 64 * lanes        // splitRow's padded row (and halves)
        // Where column k of a tile row's phases starts (phase k mod m, k / m tiles on).
        let (o0, o1, o2, o3) = (0, 1 % m * pl + 1 / m, 2 % m * pl + 2 / m, 3 % m * pl + 3 / m)
        let (o4, o5, o6, o7) = (4 % m * pl + 4 / m, 5 % m * pl + 5 / m, 6 % m * pl + 6 / m, 7 % m * pl + 7 / m)
        for c in 0..<channels {
            let plane = input + c * height * width
            // The eight rows' phases are a ring: a tile row's last 8 − m input rows are the next one's first ones.
            var rot = 0
            for tr in tileRows {
                splitRingRows(alpha: 8, m: m, plane: plane, height: height, width: width, padTop: padTop, padLeft: padLeft,
                              tileRows: tileRows, tr: tr, hasNextChannel: c + 1 < channels, phases: phases, phaseLength: pl,
                              rot: &rot, work: work)
                let col0 = (tr - tileRows.lowerBound) * tilesPerRow
                @inline(__always) func tiles<W: SIMD>(_: W.Type, from t: Int) where W.Scalar == Float {
                    let lanes = W.scalarCount
                    // Row pass.
                    for r in 0..<8 {
                        let p = phases + (rot + r) % 8 * m * pl + t
                        let w = inputF45(load(p + o0, as: W.self), load(p + o1), load(p + o2), load(p + o3),
                                         load(p + o4), load(p + o5), load(p + o6), load(p + o7))
                        let o = tmp + r * 8 * lanes
                        store(w.0, o); store(w.1, o + lanes); store(w.2, o + 2 * lanes); store(w.3, o + 3 * lanes)
                        store(w.4, o + 4 * lanes); store(w.5, o + 5 * lanes); store(w.6, o + 6 * lanes); store(w.7, o + 7 * lanes)
                    }
                    // Column pass, stored as whole vectors (also past the row's last tile: V rows are padded).
                    let dst = v + c * columns + col0 + t, step = 8 * matrixStride
                    for nu in 0..<8 {
                        let q = tmp + nu * lanes
                        let x = inputF45(load(q, as: W.self), load(q + 8 * lanes), load(q + 16 * lanes), load(q + 24 * lanes),
                                         load(q + 32 * lanes), load(q + 40 * lanes), load(q + 48 * lanes), load(q + 56 * lanes))
                        let d = dst + nu * matrixStride
                        store(x.0, d); store(x.1, d + step); store(x.2, d + 2 * step); store(x.3, d + 3 * step)
                        store(x.4, d + 4 * step); store(x.5, d + 5 * step); store(x.6, d + 6 * step); store(x.7, d + 7 * step)
                    }
                }
                // A row's last ≤ 8 tiles on an 8-lane vector when the stage runs 16 (F(6x6) on 112²: 19 tiles, 32 → 24).
                var t = 0
                while t < tilesPerRow {
                    if lanes > 8 && tilesPerRow - t <= 8 { tiles(SIMD8<Float>.self, from: t); t += 8 } else { tiles(V.self, from: t); t += lanes }
                }
            }
        }
    }

    /// `Aᵀ` applied to the eight vectors at `p`, `p + step`, …, `p + 7·step` — F(4×4, 5×5)'s rows (`m` = 4) or F(6×6,
    /// 3×3)'s (`m` = 6) — and the `m` results stored at `dst`, `dst + stride`, ….
    @inline(__always)
    static func outputAlpha8<V: SIMD>(_: V.Type, m: Int, _ p: UnsafePointer<Float>, step: Int, into dst: UnsafeMutablePointer<Float>,
                                      stride: Int) where V.Scalar == Float {
        let x = (load(p, as: V.self), load(p + step, as: V.self), load(p + 2 * step, as: V.self), load(p + 3 * step, as: V.self),
                 load(p + 4 * step, as: V.self), load(p + 5 * step, as: V.self), load(p + 6 * step, as: V.self),
                 load(p + 7 * step, as: V.self))
        if m == 6 {
            let y = outputF6(x.0, x.1, x.2, x.3, x.4, x.5, x.6, x.7)
            store(y.0, dst); store(y.1, dst + stride); store(y.2, dst + 2 * stride)
            store(y.3, dst + 3 * stride); store(y.4, dst + 4 * stride); store(y.5, dst + 5 * stride)
        } else {
            let y = outputF45(x.0, x.1, x.2, x.3, x.4, x.5, x.6, x.7)
            store(y.0, dst); store(y.1, dst + stride); store(y.2, dst + 2 * stride); store(y.3, dst + 3 * stride)
        }
    }

    /// The output stage of both α = 8 variants (`m` = 4: F(4×4, 5×5), `m` = 6: F(6×6, 3×3)), as `transformOutputF4`:
    /// vectors over all the chunk's tiles, each interleaved whole into `m` output-row buffers that bias, residual and
    /// activation then copy out. Callers pass `m` as a literal (the stage inlines and the branches on it fold).
    @inline(__always)
    static func transformOutputAlpha8<V: SIMD>(_: V.Type, m: Int, plan: WinogradStagePlan, products: UnsafePointer<Float>,
                                               matrixStride: Int, columns: Int, channels: Int, tileRows: Range<Int>,
                                               output: UnsafeMutablePointer<Float>, outputHeight: Int, outputWidth: Int,
                                               bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
                                               activation: Epilogue, scratch: UnsafeMutablePointer<Float>,
                                               pool: Bool = false) where V.Scalar == Float {
        let lanes = V.scalarCount
        let rowLength = outputRowBufferFloats(columns: columns, lanes: lanes, m: m)
        let rows = scratch, tmp = scratch + m * rowLength  // tmp: [i][ν] × lanes (Aᵀ down the columns), then m staged vectors
        let staged = tmp + 8 * m * lanes
        for o in 0..<channels {
            var t = 0
            while t < columns {
                let base = products + o * columns + t
                for nu in 0..<8 {
                    outputAlpha8(V.self, m: m, base + nu * matrixStride, step: 8 * matrixStride, into: tmp + nu * lanes, stride: 8 * lanes)
                }
                for i in 0..<m {
                    outputAlpha8(V.self, m: m, tmp + i * 8 * lanes, step: lanes, into: staged, stride: lanes)
                    let dst = rows + i * rowLength + t * m
                    switch (m, lanes) {
                    case (6, 16): fftconv_interleave6x16(staged, dst)
                    case (6, _): fftconv_interleave6x8(staged, dst)
                    case (_, 16): fftconv_interleave4x16(staged, dst)
                    default: fftconv_interleave4x8(staged, dst)
                    }
                }
                t += lanes
            }
            finishChannel(o, m: m, rows: rows, rowLength: rowLength, tilesPerRow: plan.tilesPerRow, tileRows: tileRows, output: output,
                          outputHeight: outputHeight, outputWidth: outputWidth, bias: bias, residual: residual,
                          activation: activation, pool: pool)
        }
    }
}
