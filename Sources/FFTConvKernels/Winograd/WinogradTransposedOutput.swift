/// The output stage for products laid out transposed — `Mᵀ[ξν]`, one row per tile holding every output channel, as
/// the transposed GEMM (`WinogradImplementation.multiplyTransposed`) writes them — with the output channels as the
/// vector lanes: each tile's `α²` vectors of 16 channels become its `m × m` outputs of those channels by the
/// straight-line stages' formulas (`outputF2`, `outputF4`, `outputF6`, `outputF45`: down the columns, then along the
/// rows, as the tile-lane stages apply them — the same operations on every value, so the same bits), a tile row's
/// outputs are staged pixel by pixel, bias and activation (and the 2×2 max pool) applied on the channel vectors,
/// and each output row transposed into 16 channel planes, 16×16 floats at a time. Against transposing `M` back and
/// running the tile-lane stage, this moves `m²/α²` of the floats (F(4×4): 16 of 36, F(6×6): 36 of 64) and fills
/// every lane whatever the tiles per row.
extension WinogradKernels {
    /// Whether `transformOutputTransposed` serves `plan`: the straight-line stages.
    public static func canTransformTransposed(_ plan: WinogradStagePlan) -> Bool { plan.straightLine }

    /// Scratch floats `transformOutputTransposed` needs: `m` staged output rows of `tilesPerRow · m` pixels × 16
    /// channels, the column pass's `α · m` vectors, and the transpose's staging.
    public static func transposedOutputScratchFloats(plan: WinogradStagePlan) -> Int {
        let m = plan.transform.m, alpha = plan.transform.alpha
        return m * plan.tilesPerRow * m * 16 + alpha * m * 16 + Transpose.stagingFloats
    }

    /// `Aᵀ` applied to the `α` vectors `load(0) … load(α − 1)` — the formulas of the straight-line stages — and the `m`
    /// results passed to `store`.
    @inline(__always)
    static func outputChannelVectors(alpha: Int, m: Int, _ load: (Int) -> SIMD16<Float>, _ store: (Int, SIMD16<Float>) -> Void) {
        switch alpha {
        case 4:
            let y = outputF2(load(0), load(1), load(2), load(3))
            store(0, y.0); store(1, y.1)
        case 6:
            let y = outputF4(load(0), load(1), load(2), load(3), load(4), load(5))
            store(0, y.0); store(1, y.1); store(2, y.2); store(3, y.3)
        default:
            if m == 6 {
                let y = outputF6(load(0), load(1), load(2), load(3), load(4), load(5), load(6), load(7))
                store(0, y.0); store(1, y.1); store(2, y.2); store(3, y.3); store(4, y.4); store(5, y.5)
            } else {
                let y = outputF45(load(0), load(1), load(2), load(3), load(4), load(5), load(6), load(7))
                store(0, y.0); store(1, y.1); store(2, y.2); store(3, y.3)
            }
        }
    }

    /// Turns transposed products of tile rows `tileRows` into output rows for output channels `channels`:
    /// `Y = Aᵀ M A` per tile, then `activation(Y + bias + residual)` — with `pool`, then the 2×2 stride-2 max pool (no
    /// padding, floor sizes), in the unfused pool's order (rows, then columns) — written once. Same bits as
    /// `transformOutput` on the same products laid out `M[ξν][o][t]`.
    ///
    /// - Parameters:
    ///   - products: `Mᵀ`, matrix ξν at `products + ξν · matrixStride`, tile `t`'s (chunk column `t`'s) row at
    ///     `+ t · rowStride`, channel `o` at `+ o`; readable for 16 floats from every channel block's start.
    ///   - output: channel 0's plane (channel `o` at `output + o · plane`, planes `outputHeight × outputWidth`, or
    ///     with `pool` `⌊outputHeight/2⌋ × ⌊outputWidth/2⌋`); `residual`: full-size planes laid out the same, or nil
    ///     (nil with `pool`).
    ///   - bias: one value per channel, readable (zero or anything) for 16 floats from every block's start.
    ///   - scratch: `transposedOutputScratchFloats(plan:)` floats.
    public static func transformOutputTransposed(plan: WinogradStagePlan, products: UnsafePointer<Float>, matrixStride: Int,
                                                 rowStride: Int, channels: Range<Int>, tileRows: Range<Int>,
                                                 output: UnsafeMutablePointer<Float>, outputHeight: Int, outputWidth: Int,
                                                 bias: UnsafePointer<Float>, residual: UnsafePointer<Float>?,
                                                 activation: Epilogue, scratch: UnsafeMutablePointer<Float>, pool: Bool) {
        typealias V = SIMD16<Float>
        let m = plan.transform.m, alpha = plan.transform.alpha, tilesPerRow = plan.tilesPerRow
        let width = tilesPerRow * m                   // staged pixels per output row
        let staged = scratch                          // [i][x] × 16: a tile row's outputs for one channel block
        let tmp = staged + m * width * 16             // [i][ν] × 16: Aᵀ down the columns
        let transposeStaging = tmp + alpha * m * 16
        let plane = outputHeight * outputWidth
        let pooledHeight = outputHeight / 2, pooledWidth = outputWidth / 2, pooledPlane = pooledHeight * pooledWidth
        @inline(__always) func ld(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        @inline(__always) func st(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }
        for tr in tileRows {
            let y0 = tr * m, rowsHere = Swift.min(m, outputHeight - y0)
            let firstTile = (tr - tileRows.lowerBound) * tilesPerRow
            var c = channels.lowerBound
            while c < channels.upperBound {
                let count = Swift.min(16, channels.upperBound - c)
                for tx in 0..<tilesPerRow {
                    let base = products + ((firstTile &+ tx) &* rowStride &+ c)
                    for nu in 0..<alpha {
                        outputChannelVectors(alpha: alpha, m: m, { xi in ld(base + (xi &* alpha &+ nu) &* matrixStride) },
                                             { i, v in st(v, tmp + (i &* alpha &+ nu) &* 16) })
                    }
                    for i in 0..<m {
                        let row = tmp + i &* alpha &* 16, out = staged + (i &* width &+ tx &* m) &* 16
                        outputChannelVectors(alpha: alpha, m: m, { nu in ld(row + nu &* 16) }, { j, v in st(v, out + j &* 16) })
                    }
                }
                if pool {
                    // Bias and activation on the rows the pool reads, then each pair of rows and of columns reduced
                    // as `finishPooledOutputRows` does (vertical first, the later row or column where greater).
                    let pooledRows = Swift.min(m / 2, pooledHeight - y0 / 2)
                    for i in 0..<(2 * Swift.max(pooledRows, 0)) {
                        activation.biasRows(staged + i * width * 16, rows: 2 * pooledWidth, width: 16, bias: bias + c, activate: true)
                    }
                    for i in 0..<Swift.max(pooledRows, 0) {
                        let top = staged + 2 * i * width * 16, bottom = top + width * 16, pooled = top
                        for b in 0..<pooledWidth {
                            var left = ld(top + 2 * b * 16), right = ld(top + (2 * b + 1) * 16)
                            let belowLeft = ld(bottom + 2 * b * 16), belowRight = ld(bottom + (2 * b + 1) * 16)
                            left.replace(with: belowLeft, where: belowLeft .> left)
                            right.replace(with: belowRight, where: belowRight .> right)
                            left.replace(with: right, where: right .> left)
                            st(left, pooled + b * 16)
                        }
                        Transpose.floats(pooled, sourceStride: 16, output + c * pooledPlane + (y0 / 2 + i) * pooledWidth,
                                         destinationStride: pooledPlane, rows: pooledWidth, columns: count, staging: transposeStaging)
                    }
                } else {
                    for i in 0..<rowsHere {
                        let row = staged + i * width * 16, y = y0 + i
                        activation.biasRows(row, rows: outputWidth, width: 16, bias: bias + c, activate: residual == nil)
                        let dst = output + c * plane + y * outputWidth
                        Transpose.floats(row, sourceStride: 16, dst, destinationStride: plane, rows: outputWidth, columns: count,
                                         staging: transposeStaging)
                        if let residual {
                            for o in 0..<count {
                                let line = dst + o * plane
                                activation.finish(src: line, dst: line, count: outputWidth, bias: 0,
                                                  residual: residual + (c + o) * plane + y * outputWidth)
                            }
                        }
                    }
                }
                c += 16
            }
        }
    }
}
