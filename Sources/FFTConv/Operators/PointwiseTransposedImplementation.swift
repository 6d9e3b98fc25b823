import FFTConvKernels

/// A 1x1 stride-1 convolution (one group) as the transposed GEMM `Yᵀ[P × Cout] = Xᵀ[P × Cin] · Wᵀ[Cin × Cout]`:
/// tiles of 7 output positions × `nr` output channels (`gemm_7x32`; `gemm_7x16` when forced), the input packed per call
/// into 7-position panels, the weights into `nr`-channel panels once at prepare; results transposed back into
/// the NCHW output with bias, residual and activation.
///
/// The other 1x1 path (`DirectImplementation`, positions as the tile's columns) computes a plane in whole
/// 32- or 16-position tiles: 49 positions (7²) cost 64, 196 (14²) cost 224 plus a zero-padded copy of the last
/// tile's inputs. Every plane of a 224-pixel network is a multiple of 7 positions (7², 14², 28², …, 112²), so
/// here no lane is wasted; the price is the packing and the transposed store (bias and activation on channel
/// vectors, then 16×16 block transposes), about P·(Cin + Cout) floats moved against P·Cin·Cout multiply-adds.
final class PointwiseTransposedImplementation: ConvolutionImplementation, @unchecked Sendable {
    let problem: ConvolutionProblem
    let kernel: GEMMMicroKernel
    /// Weights as panels of `nr` output channels: panel `j`, row `k` holds `W[j·nr ..< j·nr + nr][k]` (zero
    /// past the last channel), rows contiguous.
    let panels: AlignedBuffer
    /// `offsets[k] = k·nr`: B row `k` of a panel.
    let offsets: [Int]
    /// The bias per output channel, zero past the last and when the layer has none.
    let bias: AlignedBuffer
    let epilogue: Epilogue
    let tiles: Int
    let panelCount: Int
    /// Input channels per pass over a tile (the weight panel's rows that pass reads, ~32 KB of them).
    let kc: Int

    /// Positions per tile (the micro-kernel's rows).
    static let rows = 7

    /// Whether the layer is one this path computes: 1x1, stride 1, no padding or dilation, one group.
    static func applies(to d: ConvolutionDescriptor) -> Bool {
        d.kernel == Size2D(1, 1) && d.stride == Size2D(1, 1) && d.padding == .zero && d.dilation == Size2D(1, 1) && d.groups == 1
    }

    init(problem p: ConvolutionProblem, weights: Tensor, bias: Tensor?, kernel: GEMMMicroKernel) throws {
        let d = p.descriptor
        guard Self.applies(to: d) else {
            throw ConvolutionError.unsupported(algorithm: "direct",
                                               reason: "the transposed 1x1 path (\(kernel.name)t) needs a 1x1 stride-1 unpadded convolution with one group, got \(d)")
        }
        guard kernel.mr == Self.rows else {
            throw ConvolutionError.unsupported(algorithm: "direct", reason: "the transposed 1x1 path needs a 7-row micro-kernel, got \(kernel.name)")
        }
        problem = p
        self.kernel = kernel
        let nr = kernel.nr, k = d.inputChannels, cout = d.outputChannels
        panelCount = (cout + nr - 1) / nr
        tiles = (p.outputPlane + Self.rows - 1) / Self.rows
        kc = Swift.max(1, Swift.min(k, 8192 / nr))
        panels = AlignedBuffer(count: panelCount * k * nr)
        let w = weights.storage.pointer
        for co in 0..<cout {
            let j = co / nr, lane = co % nr
            for c in 0..<k { panels.pointer[(j * k + c) * nr + lane] = w[co * k + c] }
        }
        offsets = (0..<k).map { $0 * nr }
        self.bias = AlignedBuffer(count: panelCount * nr)
        if let bias { for co in 0..<cout { self.bias.pointer[co] = bias.storage.pointer[co] } }
        epilogue = d.activation.epilogue
    }

    var preparedBytes: Int { (panels.count + bias.count) * 4 }
    var summary: String { "\(kernel.name)t, 1x1 transposed (\(Self.rows) positions × \(kernel.nr) channels)" }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
             batch: Int, threads: Int) {
        let p = problem, d = p.descriptor
        let k = d.inputChannels, cout = d.outputChannels, positions = p.outputPlane
        let mr = Self.rows, nr = kernel.nr
        // Two workers on an odd number of panels split each panel's tiles instead of leaving one idle.
        let groups = threads > 1 && panelCount % threads != 0 ? Swift.min(tiles, threads) : 1
        // Scratch (written before read): the packed input, then each worker's accumulator tiles for its share
        // of one panel.
        let packed = tiles * mr * k, perWorker = (tiles + groups - 1) / groups * mr * nr + Transpose.stagingFloats
        SharedScratch.withBuffer(count: packed + threads * perWorker) { ws in
            offsets.withUnsafeBufferPointer { offsets in
                for n in 0..<batch {
                    let x = input + n * k * positions, y = output + n * cout * positions
                    let res = residual.map { $0 + n * cout * positions }
                    // The first four blocks of weights rows are fetched while the input is packed.
                    Prefetch.toL2(panels.pointer, bytes: Swift.min(panels.count, 4 * kc * nr) * 4)
                    Parallel.forEachRange(count: tiles, threads: threads) { _, range in
                        for t in range { Self.pack(x, positions: positions, k: k, tile: t, into: ws + t * mr * k) }
                    }
                    Parallel.forEachRange(count: panelCount * groups, threads: threads) { worker, items in
                        let acc = ws + packed + worker * perWorker
                        for item in items {
                            let j = item / groups, g = item % groups
                            let t0 = g * tiles / groups, t1 = (g + 1) * tiles / groups
                            var k0 = 0
                            while k0 < k {
                                let n = Swift.min(kc, k - k0)
                                // The weights are cold in a network (other layers ran since): while this block's
                                // tiles run, the rows of the block four ahead (blocks are consecutive in memory) are
                                // fetched into L2, a share before each tile. (One block ahead: MobileNetV2's f18
                                // 0.214 ms in the network; four: 0.205–0.207, its 960→160 layers 0.094 → 0.090.)
                                let next = UnsafeRawPointer(panels.pointer + (j * k + k0 + n + 3 * kc) * nr), bytes = kc * nr * 4
                                for t in t0..<t1 {
                                    let share = bytes / (t1 - t0), from = (t - t0) * share
                                    Prefetch.toL2(next + from, bytes: t + 1 == t1 ? bytes - from : share)
                                    kernel.indirect(n, ws + (t * k + k0) * mr, panels.pointer + j * k * nr, offsets.baseAddress! + k0,
                                                    acc + (t - t0) * mr * nr, nr, k0 > 0)
                                }
                                k0 += n
                            }
                            store(acc, tiles: t0..<t1, panel: j, positions: positions, cout: cout, output: y, residual: res,
                                  staging: acc + perWorker - Transpose.stagingFloats)
                        }
                    }
                }
            }
        }
    }

    /// Tile `t`'s positions of every input channel, channel-major: `into[c·7 + i] = x[c·P + 7t + i]`, zero
    /// past the last position.
    static func pack(_ x: UnsafePointer<Float>, positions: Int, k: Int, tile t: Int, into a: UnsafeMutablePointer<Float>) {
        let p0 = t * rows, valid = Swift.min(rows, positions - p0)
        if valid == rows {
            // Eight-float copies, each overlapping the next row's first float (rewritten by it); the last row
            // is copied by itself so that no read leaves the input.
            for c in 0..<(k - 1) {
                UnsafeMutableRawPointer(a + c * rows).storeBytes(of: UnsafeRawPointer(x + c * positions + p0).loadUnaligned(as: SIMD8<Float>.self),
                                                                 as: SIMD8<Float>.self)
            }
            for i in 0..<rows { a[(k - 1) * rows + i] = x[(k - 1) * positions + p0 + i] }
        } else {
            for c in 0..<k {
                for i in 0..<rows { a[c * rows + i] = i < valid ? x[c * positions + p0 + i] : 0 }
            }
        }
    }

    /// The accumulator tiles of `tiles` for panel `j` — consecutive positions, `nr` channels each — transposed
    /// into the NCHW output: `y[co·P + p] = act(acc + bias[co] + residual[co·P + p])`, in `Epilogue.finish`'s
    /// order of operations. Bias and activation are applied on the channel vectors before the transpose; with
    /// a residual the activation follows its add, on the output rows.
    private func store(_ acc: UnsafeMutablePointer<Float>, tiles: Range<Int>, panel j: Int, positions: Int, cout: Int,
                       output y: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, staging: UnsafeMutablePointer<Float>) {
        let mr = Self.rows, nr = kernel.nr, c0 = j * nr, channels = Swift.min(nr, cout - c0)
        let p0 = tiles.lowerBound * mr, count = Swift.min(positions, tiles.upperBound * mr) - p0
        epilogue.biasRows(acc, rows: count, width: nr, bias: bias.pointer + c0, activate: residual == nil)
        Transpose.floats(acc, sourceStride: nr, y + c0 * positions + p0, destinationStride: positions, rows: count, columns: channels,
                         staging: staging)
        if let residual {
            for c in 0..<channels {
                let row = y + (c0 + c) * positions + p0
                epilogue.finish(src: row, dst: row, count: count, bias: 0, residual: residual + (c0 + c) * positions + p0)
            }
        }
    }
}
