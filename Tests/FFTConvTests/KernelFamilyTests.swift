import Foundation
import FFTConv
import FFTConvKernels
import XCTest

/// One tester per kernel family: every variant listed in a registry runs over an edge-shape grid against a
/// naive double-precision computation. A new variant is covered by adding it to its registry.
final class KernelFamilyTests: XCTestCase {
    /// Outputs left unzeroed are NaN-filled, so an element a kernel misses fails the comparison.
    override func setUp() { BufferCache.fillsUnzeroedTensorsWithNaN = true }

    /// Naive `C = act(alpha·A·B + beta·C₀ + bias)` in double.
    static func naiveGEMM(_ a: [Float], _ b: [Float], _ c0: [Float], m: Int, n: Int, k: Int, alpha: Float, beta: Float,
                          bias: [Float]?, activation: Activation) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s: Double = 0
                for kk in 0..<k { s += Double(a[i * k + kk]) * Double(b[kk * n + j]) }
                s = Double(alpha) * s + Double(beta) * Double(c0[i * n + j]) + Double(bias?[i] ?? 0)
                c[i * n + j] = Float(activation.apply(s))
            }
        }
        return c
    }

    func testEveryComplexGEMMVariantAgainstNaiveAndInsideFFT() throws {
        var rng = SeededGenerator(seed: 5)
        let mr = ComplexGEMM.mr
        for kernel in ComplexGEMM.variants {
            let nr = kernel.nr
            for kc in [1, 3, 16, 37] {
                // Packed per k: A = [Re x(t0..t3), Im x(t0..t3)], B = [Re w(o0..<nr), Im w(o0..<nr)].
                let a = (0..<(kc * 2 * mr)).map { _ in Float.random(in: -1...1, using: &rng) }
                let b = (0..<(kc * 2 * nr)).map { _ in Float.random(in: -1...1, using: &rng) }
                let ldc = nr + 3
                var re = [Float](repeating: .nan, count: mr * ldc), im = re
                a.withUnsafeBufferPointer { a in
                    b.withUnsafeBufferPointer { b in
                        re.withUnsafeMutableBufferPointer { re in
                            im.withUnsafeMutableBufferPointer { im in
                                kernel.function(kc, a.baseAddress!, b.baseAddress!, re.baseAddress!, im.baseAddress!, ldc)
                            }
                        }
                    }
                }
                for t in 0..<mr {
                    for o in 0..<nr {
                        var sr = 0.0, si = 0.0
                        for k in 0..<kc {
                            let xr = Double(a[k * 2 * mr + t]), xi = Double(a[k * 2 * mr + mr + t])
                            let wr = Double(b[k * 2 * nr + o]), wi = Double(b[k * 2 * nr + nr + o])
                            sr += xr * wr - xi * wi
                            si += xr * wi + xi * wr
                        }
                        XCTAssertEqual(Double(re[t * ldc + o]), sr, accuracy: 1e-5 * Double(kc), "\(kernel) kc \(kc) re[\(t)][\(o)]")
                        XCTAssertEqual(Double(im[t * ldc + o]), si, accuracy: 1e-5 * Double(kc), "\(kernel) kc \(kc) im[\(t)][\(o)]")
                    }
                }
            }
            // Inside an FFT convolution: spectra packed in `nr`-output blocks, outputs not a multiple of nr, groups.
            let d = try ConvolutionDescriptor(inputChannels: 6, outputChannels: 10, kernel: 5, padding: 2, groups: 2, activation: .relu)
            try assertMatchesReference(ConvolutionCase(descriptor: d, batch: 1, input: Size2D(19, 23)), algorithm: .fft, seed: 8,
                                       options: ConvolutionOptions(threads: 2, microKernel: kernel.name))
        }
    }

    /// The passes that transform two real planes as one complex plane: `split` of the naive DFT of `a + i·b`
    /// must give the naive half spectra of `a` and `b`, and `combine` of those the full spectrum back — on odd
    /// and even sizes, narrow ones (scalar steps only) and wide ones (four-bin vector steps and their tails).
    func testSpectrumPairsAgainstNaiveDFT() {
        for (rows, cols) in [(1, 1), (5, 7), (6, 9), (8, 8), (3, 16), (9, 18), (4, 21)] {
            let n = rows * cols, half = cols / 2 + 1
            var rng = SeededGenerator(seed: UInt64(rows * 100 + cols))
            let a = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }, b = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
            // Naive DFTs (double): the full spectrum of a + i·b, the half spectra of a and b.
            func dft(_ re: [Float], _ im: [Float], _ u: Int, _ v: Int) -> (Double, Double) {
                var sr = 0.0, si = 0.0
                for y in 0..<rows {
                    for x in 0..<cols {
                        let t = -2 * Double.pi * (Double(u * y) / Double(rows) + Double(v * x) / Double(cols))
                        sr += Double(re[y * cols + x]) * cos(t) - Double(im[y * cols + x]) * sin(t)
                        si += Double(re[y * cols + x]) * sin(t) + Double(im[y * cols + x]) * cos(t)
                    }
                }
                return (sr, si)
            }
            let zero = [Float](repeating: 0, count: n)
            var full = [Float](repeating: 0, count: 2 * n)
            var expectedA = [Double](repeating: 0, count: 2 * rows * half), expectedB = expectedA
            for u in 0..<rows {
                for v in 0..<cols {
                    let (r, i) = dft(a, b, u, v)
                    full[2 * (u * cols + v)] = Float(r); full[2 * (u * cols + v) + 1] = Float(i)
                    if v < half {
                        (expectedA[2 * (u * half + v)], expectedA[2 * (u * half + v) + 1]) = dft(a, zero, u, v)
                        (expectedB[2 * (u * half + v)], expectedB[2 * (u * half + v) + 1]) = dft(b, zero, u, v)
                    }
                }
            }
            var spectrumA = [Float](repeating: .nan, count: 2 * rows * half), spectrumB = spectrumA
            SpectrumPairs.split(full, rows: rows, cols: cols, into: &spectrumA, &spectrumB)
            let tolerance = 1e-5 * Double(n)
            for j in 0..<spectrumA.count {
                XCTAssertEqual(Double(spectrumA[j]), expectedA[j], accuracy: tolerance, "split A \(rows)x\(cols) at \(j)")
                XCTAssertEqual(Double(spectrumB[j]), expectedB[j], accuracy: tolerance, "split B \(rows)x\(cols) at \(j)")
            }
            var combined = [Float](repeating: .nan, count: 2 * n)
            SpectrumPairs.combine(spectrumA, spectrumB, rows: rows, cols: cols, into: &combined)
            for j in 0..<combined.count {
                XCTAssertEqual(Double(combined[j]), Double(full[j]), accuracy: tolerance, "combine \(rows)x\(cols) at \(j)")
            }
            var z = [Float](repeating: .nan, count: 2 * n), a2 = zero, b2 = zero
            SpectrumPairs.interleave(a, b, count: n, into: &z)
            SpectrumPairs.deinterleave(z, count: n, into: &a2, &b2)
            XCTAssertEqual(a2, a)
            XCTAssertEqual(b2, b)
            XCTAssertEqual(stride(from: 0, to: 2 * n, by: 2).map { z[$0] }, a)
        }
    }

    /// The fused stem's row kernels against naive loops: `convRow` on 13 positions (two tiles, the second shifted
    /// back) × 80 channels (a four-vector block and single vectors; on 8-lane builds, 32-channel blocks), stride 2,
    /// two input channels of 3x3 taps, clamped; then `maxPoolRow` over two of its rows, 3 wide, stride 2, one column
    /// of left padding. Then whole channel blocks, where rows of 13 and 25 take tiles of 5 positions (13: the last
    /// shifted back) and a row of 12 tiles of 6.
    func testConvolutionRowKernelsAgainstNaive() {
        for (positions, channels) in [(13, 64), (25, 128), (12, 64)] {
            let blocks = KernelTarget.wideRegisters ? 64 : 32
            XCTAssertEqual(ConvolutionRowKernels.tilePositions(positions: positions, channels: channels, block: blocks),
                           positions == 12 ? 6 : 5, "\(positions) positions")
            checkConvolutionRow(positions: positions, channels: channels, seed: UInt64(positions))
        }
        let rows = checkConvolutionRow(positions: 13, channels: 80, seed: 77)
        let positions = 13, channels = 80
        let outputs = 7
        var pooled = [Float](repeating: .nan, count: outputs * channels)
        rows[0].withUnsafeBufferPointer { a in
            rows[1].withUnsafeBufferPointer { b in
                let pointers = [UnsafePointer(a.baseAddress!), UnsafePointer(b.baseAddress!)]
                ConvolutionRowKernels.maxPoolRow(rows: pointers, rowCount: 2, positions: positions, channels: channels, kernel: 3,
                                                 stride: 2, padLeft: 1, outputs: outputs, into: &pooled)
            }
        }
        for j in 0..<outputs {
            for o in 0..<channels {
                var m = -Float.infinity
                for c in (j * 2 - 1)..<(j * 2 + 2) where c >= 0 && c < positions { m = max(m, rows[0][c * channels + o], rows[1][c * channels + o]) }
                XCTAssertEqual(pooled[j * channels + o], m, "pooled \(j) channel \(o)")
            }
        }
    }

    /// Two rows of `convRow` (stride 2, two input channels of 3x3 taps, clamped) against naive sums; returns them.
    @discardableResult
    func checkConvolutionRow(positions: Int, channels: Int, seed: UInt64) -> [[Float]] {
        let cin = 2, kh = 3, kw = 3, stride = 2, width = 2 * positions + kw, height = 4
        var rng = SeededGenerator(seed: seed)
        let input = (0..<(cin * height * width)).map { _ in Float.random(in: -1...1, using: &rng) }
        let k = cin * kh * kw
        let weights = (0..<(k * channels)).map { _ in Float.random(in: -1...1, using: &rng) }
        let bias = (0..<channels).map { _ in Float.random(in: -1...1, using: &rng) }
        let taps = (0..<k).map { t in (t / (kh * kw)) * height * width + (t / kw % kh) * width + t % kw }
        var rows = [[Float]](repeating: [Float](repeating: .nan, count: positions * channels), count: 2)
        for r in 0..<2 {
            input.withUnsafeBufferPointer { x in
                ConvolutionRowKernels.convRow(input: x.baseAddress! + r * width, positions: positions, positionStride: stride,
                                              taps: taps, k: k, weights: weights, bias: bias, channels: channels,
                                              lo: -0.5, hi: 2, into: &rows[r])
            }
            for j in 0..<positions {
                for o in 0..<channels {
                    var sum = 0.0
                    for t in 0..<k { sum += Double(input[r * width + j * stride + taps[t]]) * Double(weights[t * channels + o]) }
                    let expected = min(max(sum + Double(bias[o]), -0.5), 2)
                    XCTAssertEqual(Double(rows[r][j * channels + o]), expected, accuracy: 1e-5,
                                   "\(positions)x\(channels): row \(r) position \(j) channel \(o)")
                }
            }
        }
        return rows
    }

    /// The fused depthwise + 1x1 step's row kernel against naive loops: widths 16 (one step, zeros shifted in on both
    /// sides), 20 (the last step shifted back) and 37; bands at the top, in the middle and at the bottom of the
    /// plane; an odd row count (a pair, then a single row).
    func testDepthwiseRowKernelAgainstNaive() {
        var rng = SeededGenerator(seed: 91)
        let weights = (0..<9).map { _ in Float.random(in: -1...1, using: &rng) }
        for width in [16, 20, 37] {
            let height = 7
            let plane = (0..<(height * width)).map { _ in Float.random(in: -1...1, using: &rng) }
            for (first, rows) in [(0, 3), (2, 4), (4, 3), (0, 7)] {
                var out = [Float](repeating: .nan, count: rows * width)
                DepthwiseRowKernels.rows3x3(plane: plane, height: height, width: width, firstRow: first, rows: rows, weights: weights,
                                            bias: 0.25, lo: -1, hi: 1.5, into: &out)
                for r in 0..<rows {
                    for j in 0..<width {
                        var sum = 0.0
                        for i in 0..<3 {
                            for k in 0..<3 {
                                let y = first + r + i - 1, x = j + k - 1
                                if y >= 0 && y < height && x >= 0 && x < width { sum += Double(weights[3 * i + k]) * Double(plane[y * width + x]) }
                            }
                        }
                        XCTAssertEqual(Double(out[r * width + j]), min(max(sum + 0.25, -1), 1.5), accuracy: 1e-5,
                                       "width \(width), rows \(first)+\(r), column \(j)")
                    }
                }
            }
        }
    }

    /// `Transpose.floats` against its definition for sides under, at and past a 16×16 block, with strides wider than
    /// the matrices (NaN between rows and around `dst`): every float lands where it belongs, and nothing outside the
    /// destination matrix is written — the last block of a row or column shifted back to the edge included.
    func testTransposeAgainstDefinition() {
        let sides = [1, 7, 16, 17, 31, 33, 55]
        let staging = UnsafeMutablePointer<Float>.allocate(capacity: Transpose.stagingFloats)
        defer { staging.deallocate() }
        for rows in sides {
            for columns in sides {
                let sourceStride = columns + 3, destinationStride = rows + 5
                var src = [Float](repeating: .nan, count: rows * sourceStride)
                for i in 0..<rows { for j in 0..<columns { src[i * sourceStride + j] = Float(i * 1000 + j) } }
                var dst = [Float](repeating: .nan, count: columns * destinationStride + 8)
                src.withUnsafeBufferPointer { s in
                    dst.withUnsafeMutableBufferPointer { d in
                        Transpose.floats(s.baseAddress!, sourceStride: sourceStride, d.baseAddress!, destinationStride: destinationStride,
                                         rows: rows, columns: columns, staging: staging)
                    }
                }
                var wrong = 0, outside = 0
                for (at, v) in dst.enumerated() {
                    let j = at / destinationStride, i = at % destinationStride
                    if j < columns && i < rows {
                        if v != Float(i * 1000 + j) { wrong += 1 }
                    } else if !v.isNaN {
                        outside += 1
                    }
                }
                XCTAssertEqual(wrong, 0, "\(rows)×\(columns): floats misplaced")
                XCTAssertEqual(outside, 0, "\(rows)×\(columns): floats written outside the destination")
            }
        }
    }

    /// `Copy.even` (a 1x1 stride-2 layer's phase layout) against its definition for every count up to 70, from a
    /// buffer of exactly the `2·count − 1` floats it may read (an address-sanitizer run catches a load past them): a
    /// missed or wrong lane, or a write past `count`, fails the comparison.
    func testEvenColumnsAgainstDefinition() {
        for count in 1...70 {
            let n = 2 * count - 1
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: n)
            defer { buffer.deallocate() }
            for i in 0..<n { buffer[i] = Float(i) + 0.5 }
            var out = [Float](repeating: .nan, count: count + 1)
            out.withUnsafeMutableBufferPointer { Copy.even(buffer, into: $0.baseAddress!, count: count) }
            for j in 0..<count { XCTAssertEqual(out[j], Float(2 * j) + 0.5, "count \(count), column \(j)") }
            XCTAssertTrue(out[count].isNaN, "count \(count): written past the end")
        }
    }

    func testEveryGEMMVariantOverEdgeShapes() throws {
        // Sizes 1, primes, non-multiples of every tile, and K past the 256-deep cache block.
        let shapes: [(Int, Int, Int)] = [(1, 1, 1), (1, 17, 3), (7, 1, 5), (6, 16, 8), (12, 32, 4), (13, 31, 29),
                                         (5, 33, 300), (25, 50, 7), (37, 15, 513), (64, 70, 2)]
        var rng = SeededGenerator(seed: 31)
        for kernel in MicroKernelRegistry.gemm {
            for (m, n, k) in shapes {
                for (alpha, beta, withBias, act) in [(Float(1), Float(0), false, Activation.none), (0.5, 2, true, .relu),
                                                     (-1, 0, true, .leakyReLU(alpha: 0.25))] {
                    for transposed in [false, true] {
                        let a = try Tensor.random(shape: transposed ? [k, m] : [m, k], using: &rng)
                        let b = try Tensor.random(shape: [k, n], using: &rng)
                        var c = try Tensor.random(shape: [m, n], using: &rng)
                        let c0 = c.scalars
                        let bias = withBias ? try Tensor.random(shape: [m], using: &rng) : nil
                        for threads in [1, 3] {
                            c = try Tensor(shape: [m, n], values: c0)
                            let mm = try MatrixMultiplication(a: a, transposed: transposed, threads: threads, microKernel: kernel.name)
                            try mm.run(b, into: &c, alpha: alpha, beta: beta, bias: bias, activation: act)
                            var aRowMajor = a.scalars
                            if transposed { aRowMajor = (0..<(m * k)).map { a.scalars[($0 % k) * m + $0 / k] } }
                            let expected = Self.naiveGEMM(aRowMajor, b.scalars, c0, m: m, n: n, k: k, alpha: alpha, beta: beta,
                                                          bias: bias?.scalars, activation: act)
                            let got = c.scalars
                            let scale = max(1, expected.map(abs).max() ?? 0)
                            let err = zip(got, expected).map { abs($0 - $1) }.max() ?? 0
                            XCTAssertLessThanOrEqual(err, 1e-4 * scale, "\(kernel) \(m)x\(n)x\(k) alpha \(alpha) beta \(beta) T \(transposed) threads \(threads)")
                        }
                    }
                }
            }
        }
    }

    /// Edge shapes for the indirect (direct convolution) form of every GEMM variant. The activations take
    /// turns: leaky ReLU goes through the block buffer's write-out, the clips (none, ReLU, ReLU6) through the
    /// fused micro-kernels where positions are the output's own; the last cases take hard swish and SiLU (block
    /// buffer write-outs, as leaky ReLU).
    static func convolutionEdgeCases() throws -> [ConvolutionCase] {
        let activations: [Activation] = [.leakyReLU(alpha: 0.1), .relu, .none, .clip(min: 0, max: 6)]
        var made = 0
        func c(_ cin: Int, _ cout: Int, _ k: Size2D, _ input: Size2D, stride: Size2D = 1, dilation: Size2D = 1,
               padding: Padding = 0, groups: Int = 1, batch: Int = 1, activation: Activation? = nil) throws -> ConvolutionCase {
            made += 1
            return ConvolutionCase(descriptor: try ConvolutionDescriptor(inputChannels: cin, outputChannels: cout, kernel: k, stride: stride,
                                                                         dilation: dilation, padding: padding, groups: groups,
                                                                         activation: activation ?? activations[made % activations.count]),
                                   batch: batch, input: input)
        }
        return [
            try c(1, 1, 1, Size2D(1, 1)), try c(3, 7, 3, Size2D(5, 7), padding: 1), try c(5, 13, 3, Size2D(11, 13), stride: 2, padding: 1),
            try c(2, 17, 5, Size2D(9, 9), padding: Padding(top: 2, left: 1, bottom: 0, right: 3)),
            try c(4, 33, 7, Size2D(19, 17), stride: 2, padding: 3), try c(3, 12, 11, Size2D(31, 29), stride: 4, padding: 2),
            try c(6, 9, 3, Size2D(10, 10), dilation: 2, padding: 2, groups: 3), try c(8, 16, 1, Size2D(17, 3), batch: 2),
            try c(2, 5, Size2D(1, 3), Size2D(4, 37), stride: Size2D(1, 3)), try c(260, 7, 1, Size2D(3, 5)),
            try c(3, 5, 3, Size2D(6, 67), stride: 2, padding: 1), try c(2, 4, 7, Size2D(9, 58), stride: 2, padding: 3),
            // Small "same" maps, where the direct operator reads the flat layout's per-column copies: stride 1 and 2,
            // dilation, groups, batch 2 (the asymmetric 5x5 case above is one too).
            try c(5, 9, 3, Size2D(13, 13), padding: 1, batch: 2), try c(3, 10, 5, Size2D(26, 26), stride: 2, padding: 2),
            try c(4, 5, 3, Size2D(13, 13), dilation: 2, padding: 2), try c(6, 9, 3, Size2D(13, 11), padding: 1, groups: 3),
            // As many tiles as the padded layout (7² "same": 49 positions against 63), taken for the fused write-out:
            // RegNetX's grouped layers, 16 channels a group.
            try c(32, 32, 3, Size2D(7, 7), padding: 1, groups: 2),
            // Layers whose taps never read some stride phase rows (fill skips them): 1x1 stride 2 (ResNet's
            // downsampling), dilation 2 at stride 2.
            try c(6, 10, 1, Size2D(9, 12), stride: 2), try c(3, 4, 3, Size2D(13, 12), stride: 2, dilation: 2, padding: 2),
            // Phase rows that are output rows (the positions the output's own on the padded layout): 2x2 stride 2.
            try c(4, 20, 2, Size2D(10, 14), stride: 2, batch: 2),
            // 1x1 in place with whole tiles, whole and partial panels and a partial last tile (the fused write-out
            // beside the buffered one), grouped too.
            try c(16, 30, 1, Size2D(9, 20)), try c(12, 20, 1, Size2D(8, 9), groups: 2), try c(8, 26, 1, Size2D(7, 7), batch: 2),
            // The padded layout's row-aligned tiles (outputs 32+ wide, clip activations, little overlap): rows of
            // exactly 32 and 48, a last tile on the narrow twin shifted left (47), a whole one shifted left (62),
            // partial panels, groups, stride 2, a residual.
            try c(2, 16, 3, Size2D(5, 34), batch: 2), try c(4, 20, 3, Size2D(6, 50)), try c(3, 9, 5, Size2D(7, 64), padding: 1),
            try c(6, 8, 3, Size2D(9, 49), groups: 2), try c(2, 16, 3, Size2D(5, 34), batch: 2),
            try c(5, 14, 3, Size2D(9, 94), stride: 2, padding: 1),
            // The im2col copied from the padded layout (stride 2, odd sides so that no flat layout serves them, output
            // rows under a tile wide): 14², 20² and 28² outputs, groups, batch 2.
            try c(6, 20, 3, Size2D(27, 27), stride: 2, padding: 1), try c(8, 16, 3, Size2D(39, 39), stride: 2, padding: 1, groups: 2),
            try c(4, 24, 3, Size2D(55, 55), stride: 2, padding: 1, batch: 2),
            try c(3, 20, 3, Size2D(11, 40), padding: 1, activation: .hardSwish), try c(16, 30, 1, Size2D(9, 20), activation: .silu),
            try c(5, 13, 3, Size2D(11, 13), stride: 2, padding: 1, activation: .sigmoid),
            // Row-aligned tiles with a non-clamp activation (EfficientNet's and MobileNetV3's stems): rows of 111 (a
            // shifted last tile overlapping the one before: both through the tile buffer) and 112 (none), stride 2.
            try c(3, 16, 3, Size2D(4, 111), padding: 1, activation: .silu),
            try c(3, 24, 3, Size2D(7, 224), stride: 2, padding: 1, activation: .hardSwish),
            try c(3, 20, 3, Size2D(5, 222), stride: 2, padding: 1, batch: 2, activation: .silu),
            // ESPCN's first layer: one channel in, a 5x5 kernel, tanh in the write-out.
            try c(1, 16, 5, Size2D(9, 30), padding: 2, activation: .tanh),
        ]
    }

    func testEveryDirectVariantOverEdgeShapes() throws {
        for kernel in MicroKernelRegistry.gemm {
            var flat = 0, rowTiles = 0, gathered = 0
            for (i, c) in try Self.convolutionEdgeCases().enumerated() {
                for algorithm in [ConvolutionAlgorithm.direct, .gemm] {
                    let options = ConvolutionOptions(threads: i % 3 + 1, microKernel: kernel.name)
                    try assertMatchesReference(c, algorithm: algorithm, seed: UInt64(i), options: options, withResidual: i % 3 == 1)
                    let (_, w, b) = try c.data(seed: 0)
                    if algorithm == .direct,
                       try Convolution2D(descriptor: c.descriptor, input: c.input, weights: w, bias: b, algorithm: .direct,
                                         options: options).summary.contains("flat layout") { flat += 1 }
                    if algorithm == .direct,
                       try Convolution2D(descriptor: c.descriptor, input: c.input, weights: w, bias: b, algorithm: .direct,
                                         options: options).summary.contains("tiles per row") { rowTiles += 1 }
                    if algorithm == .direct,
                       try Convolution2D(descriptor: c.descriptor, input: c.input, weights: w, bias: b, algorithm: .direct,
                                         options: options).summary.contains("im2col from phase layout") { gathered += 1 }
                }
            }
            XCTAssertGreaterThanOrEqual(flat, 4, "\(kernel): too few cases on the flat layout")
            // A 32-column variant without a 16-column twin (gemm_13x32) shifts a whole tile over a short last one,
            // which the 5% rule allows on fewer rows (32, 64 wide).
            let twinless = kernel.nr > 16 && MicroKernelRegistry.narrowTwin(of: kernel) == nil
            XCTAssertGreaterThanOrEqual(rowTiles, twinless ? 2 : 4, "\(kernel): too few cases on row-aligned tiles")
            XCTAssertGreaterThanOrEqual(gathered, 2, "\(kernel): too few cases on the im2col")
        }
    }

    /// 1x1 layers whose whole tiles are copied into one contiguous block before the panels read them
    /// (`DirectImplementation.packsPointwiseTiles`: a plane that is not whole 16-float vectors, 16 panels or more), on
    /// every variant: a partial last panel and a partial last tile, blocks of several packed tiles (the panels run over
    /// all of a block's tiles), more blocks than a worker's first, groups, batch 2, 1–3 threads, with and without a
    /// residual, clamp activations (the fused write-out) and others (the block buffer). A plane of whole vectors, or
    /// fewer panels, stays in place.
    func testPackedPointwiseTilesOverEdgeShapes() throws {
        let activations: [Activation] = [.relu, .none, .silu, .clip(min: -0.5, max: 0.5)]
        for kernel in MicroKernelRegistry.gemm {
            let cout = 16 * kernel.mr + 5  // 17 panels, the last partial (`packedTilePanels` is 16)
            let shapes: [(cin: Int, cout: Int, input: Size2D, groups: Int, batch: Int)] = [
                (24, cout, Size2D(13, 13), 1, 1), (9, cout, Size2D(5, 7), 1, 2), (14, 2 * cout, Size2D(3, 11), 2, 1),
                (24, cout, Size2D(41, 41), 1, 1),  // several blocks of packed tiles per worker (`packedBlockBytes`)
            ]
            for (i, s) in shapes.enumerated() {
                for (j, activation) in activations.enumerated() {
                    let d = try ConvolutionDescriptor(inputChannels: s.cin, outputChannels: s.cout, kernel: 1, groups: s.groups,
                                                      activation: activation)
                    let c = ConvolutionCase(descriptor: d, batch: s.batch, input: s.input)
                    let options = ConvolutionOptions(threads: (i + j) % 3 + 1, microKernel: kernel.name)
                    try assertMatchesReference(c, algorithm: .direct, seed: UInt64(10 * i + j), options: options, withResidual: j % 2 == 0)
                    let (_, w, b) = try c.data(seed: 0)
                    let summary = try Convolution2D(descriptor: d, input: s.input, weights: w, bias: b, algorithm: .direct,
                                                    options: options).summary
                    XCTAssertTrue(summary.contains("1x1 with packed tiles"), "\(kernel.name) \(s): \(summary)")
                }
            }
            for (cout, input) in [(cout, Size2D(4, 8)), (cout - kernel.mr - 5, Size2D(13, 13))] {
                let d = try ConvolutionDescriptor(inputChannels: 8, outputChannels: cout, kernel: 1)
                let (_, w, b) = try ConvolutionCase(descriptor: d, batch: 1, input: input).data(seed: 0)
                let summary = try Convolution2D(descriptor: d, input: input, weights: w, bias: b, algorithm: .direct,
                                                options: ConvolutionOptions(microKernel: kernel.name)).summary
                XCTAssertTrue(summary.contains("1x1 in place"), "\(kernel.name) \(cout) on \(input): \(summary)")
            }
        }
    }

    /// 1x1 layers read in place on planes of a few tiles, where threads split the tiles (`sharesPointwiseTiles`: 11²,
    /// 13²), the output-channel panels (7², 10², 12²) or both (14²: tile-major items): at 1, 2 and 3 threads every
    /// output is written, with 1 thread's bits, near the reference (with and without a residual, a fused clip or not).
    func testPointwiseInPlaceSharesOverFewTiles() throws {
        for kernel in MicroKernelRegistry.gemm {
            let cout = 3 * kernel.mr + 5  // 4 panels, the last partial: read in place, not packed
            for (i, side) in [7, 10, 11, 12, 13, 14].enumerated() {
                let activation: Activation = i % 2 == 1 ? .relu : .none  // 14²'s tile-major items need the fused clip
                let d = try ConvolutionDescriptor(inputChannels: 20, outputChannels: cout, kernel: 1, activation: activation)
                let c = ConvolutionCase(descriptor: d, batch: 1, input: Size2D(side, side))
                try assertSameBitsAcrossThreads(c, algorithm: .direct, seed: UInt64(70 + i), microKernel: kernel.name,
                                                summary: "1x1 in place")
                XCTAssert(try assertMatchesReference(c, algorithm: .direct, seed: UInt64(70 + i),
                                                     options: ConvolutionOptions(threads: 2, microKernel: kernel.name),
                                                     withResidual: i % 3 == 0), "\(kernel.name) \(side)²")
            }
        }
    }

    /// A tile `got` computed by one of `kernel`'s in-place forms from A's floats `values` (packed: `mr` per k) and
    /// packed `b`, starting from `start` when accumulating: against the naive double-precision product, and the same
    /// bits as the packed form on `values`.
    private func assertTile(_ got: [Float], kernel: GEMMMicroKernel, k: Int, values: [Float], b: [Float], start: [Float],
                            accumulate: Bool, _ form: String, file: StaticString = #filePath, line: UInt = #line) {
        let (mr, nr) = (kernel.mr, kernel.nr)
        var packed = start
        packed.withUnsafeMutableBufferPointer { c in kernel.packed(k, values, b, c.baseAddress!, nr, accumulate) }
        for r in 0..<mr {
            for col in 0..<nr {
                var s: Double = accumulate ? Double(start[r * nr + col]) : 0
                for kk in 0..<k { s += Double(values[kk * mr + r]) * Double(b[kk * nr + col]) }
                let v = got[r * nr + col]
                XCTAssertEqual(Double(v), s, accuracy: 1e-4 * Swift.max(1, abs(s)), "\(kernel) \(form) k \(k) row \(r) col \(col)",
                               file: file, line: line)
                XCTAssertEqual(v.bitPattern, packed[r * nr + col].bitPattern, "\(kernel) \(form) k \(k): other bits than packed",
                               file: file, line: line)
            }
        }
    }

    /// Every variant with a strided-A form (`GEMMMicroKernel.strided`): A read in place at a row stride wider than the
    /// tile (the floats between rows never read: NaN there would show), against the naive product, and the same bits
    /// as the packed form on A packed from the same floats; accumulating into a tile adds to it.
    func testEveryStridedGEMMVariantAgainstNaive() throws {
        var rng = SeededGenerator(seed: 34)
        let variants = MicroKernelRegistry.gemm.filter { $0.strided != nil }
        XCTAssertEqual(variants.isEmpty, false, "no variant has a strided form")
        for kernel in variants {
            guard let strided = kernel.strided else { continue }
            let (mr, nr) = (kernel.mr, kernel.nr)
            for (k, lda) in [(1, mr), (5, 49), (64, 13), (300, 196)] {
                let values = try Tensor.random(shape: [k, mr], using: &rng).scalars
                var a = [Float](repeating: .nan, count: k * lda)
                for kk in 0..<k { for r in 0..<mr { a[kk * lda + r] = values[kk * mr + r] } }
                let b = try Tensor.random(shape: [k, nr], using: &rng).scalars
                let start = try Tensor.random(shape: [mr, nr], using: &rng).scalars
                for accumulate in [false, true] {
                    var got = start
                    got.withUnsafeMutableBufferPointer { c in strided(k, a, lda, b, c.baseAddress!, nr, accumulate) }
                    assertTile(got, kernel: kernel, k: k, values: values, b: b, start: start, accumulate: accumulate, "strided, lda \(lda)")
                }
            }
        }
    }

    /// Every variant with a gathered-A form (`GEMMMicroKernel.gathered`): row `r`'s element `k` read at
    /// `a + offsets[k] + r`, offsets out of order, repeated and far apart (NaN on every float no row reads), against
    /// the naive product, and the same bits as the packed form on A packed from the same floats; accumulating adds.
    func testEveryGatheredGEMMVariantAgainstNaive() throws {
        var rng = SeededGenerator(seed: 35)
        let variants = MicroKernelRegistry.gemm.filter { $0.gathered != nil }
        XCTAssertEqual(Set(variants.map(\.name)), ["gemm_7x32", "gemm_7x16"])
        for kernel in variants {
            guard let gathered = kernel.gathered else { continue }
            let (mr, nr) = (kernel.mr, kernel.nr)
            for k in [1, 9, 130] {
                // Row k's floats at a spread, shuffled offset; the last row read twice (two taps on one line).
                var offsets = (0..<k).map { ($0 * 37 % Swift.max(k, 1)) * 11 + 3 }
                if k > 1 { offsets[k - 1] = offsets[0] }
                var a = [Float](repeating: .nan, count: (offsets.max() ?? 0) + mr + 5)
                var values = [Float](repeating: 0, count: k * mr)
                for kk in 0..<k {
                    for r in 0..<mr {
                        if kk == k - 1 && k > 1 { values[kk * mr + r] = a[offsets[kk] + r]; continue }
                        let v = Float.random(in: -1...1, using: &rng)
                        a[offsets[kk] + r] = v
                        values[kk * mr + r] = v
                    }
                }
                let b = try Tensor.random(shape: [k, nr], using: &rng).scalars
                let start = try Tensor.random(shape: [mr, nr], using: &rng).scalars
                for accumulate in [false, true] {
                    var got = start
                    got.withUnsafeMutableBufferPointer { c in gathered(k, a, offsets, b, c.baseAddress!, nr, accumulate) }
                    assertTile(got, kernel: kernel, k: k, values: values, b: b, start: start, accumulate: accumulate, "gathered")
                }
            }
        }
    }

    /// Every variant's packed, indirect and strided forms: a product over K computed in passes (the first from zero,
    /// each next one accumulating) has the bits of one pass over all of K — an accumulating call goes on with the
    /// tile's chain — so an operator may block K as it likes (the transposed path's 16 KB passes) and still give the
    /// fused steps' and the other paths' bits.
    func testPassesOverKGiveOneChainsBits() throws {
        var rng = SeededGenerator(seed: 35)
        let k = 300
        for kernel in MicroKernelRegistry.gemm {
            let (mr, nr) = (kernel.mr, kernel.nr)
            let a = try Tensor.random(shape: [k, mr], using: &rng).scalars
            let b = try Tensor.random(shape: [k, nr], using: &rng).scalars
            let offsets = (0..<k).map { $0 * nr }
            for cuts in [[128, 256], [1, 2, 299], [150]] {
                let bounds = [0] + cuts + [k]
                var whole = [Float](repeating: .nan, count: mr * nr), passes = whole
                var indirectWhole = whole, indirectPasses = whole, stridedPasses = whole
                kernel.packed(k, a, b, &whole, nr, false)
                kernel.indirect(k, a, b, offsets, &indirectWhole, nr, false)
                for (lo, hi) in zip(bounds, bounds.dropFirst()) {
                    kernel.packed(hi - lo, Array(a[(lo * mr)...]), Array(b[(lo * nr)...]), &passes, nr, lo > 0)
                    kernel.indirect(hi - lo, Array(a[(lo * mr)...]), Array(b[(lo * nr)...]), offsets, &indirectPasses, nr, lo > 0)
                    if let strided = kernel.strided {
                        stridedPasses.withUnsafeMutableBufferPointer { c in
                            strided(hi - lo, Array(a[(lo * mr)...]), mr, Array(b[(lo * nr)...]), c.baseAddress!, nr, lo > 0)
                        }
                    }
                }
                func differing(_ x: [Float], _ y: [Float]) -> Int { zip(x, y).filter { $0.bitPattern != $1.bitPattern }.count }
                XCTAssertFalse(whole.contains { $0.isNaN }, "\(kernel)")
                XCTAssertEqual(differing(passes, whole), 0, "\(kernel) packed, passes ending at \(cuts): floats with other bits")
                XCTAssertEqual(differing(indirectPasses, indirectWhole), 0, "\(kernel) indirect, passes ending at \(cuts): floats with other bits")
                if kernel.strided != nil {
                    XCTAssertEqual(differing(stridedPasses, whole), 0, "\(kernel) strided, passes ending at \(cuts): floats with other bits")
                }
            }
        }
    }

    /// Every variant with a split packed form (`GEMMMicroKernel.split`): rows of pixel vectors into two planes at a
    /// row stride wider than 16 (gaps between rows stay untouched), against the naive product with the column bias
    /// and clip, and the same bits as the packed form followed by the bias and clip; its strided-A twin
    /// (`splitStrided`), where there is one, the same bits as the split form.
    func testEverySplitGEMMVariantAgainstNaive() throws {
        var rng = SeededGenerator(seed: 33)
        let variants = MicroKernelRegistry.gemm.filter { $0.split != nil }
        XCTAssertEqual(variants.isEmpty, false, "no variant has a split form")
        for kernel in variants {
            guard let split = kernel.split else { continue }
            let (mr, nr, ldc) = (kernel.mr, kernel.nr, 24)
            XCTAssertEqual(nr, 32, "\(kernel): the split form stores two 16-column halves")
            for (k, lo, hi) in [(1, Float(-1), Float(1)), (5, 0, .infinity), (64, -.infinity, .infinity), (300, 0, 6)] {
                let a = try Tensor.random(shape: [k, mr], using: &rng).scalars   // packed: mr floats per k
                let b = try Tensor.random(shape: [k, nr], using: &rng).scalars
                let bias = try Tensor.random(shape: [nr], using: &rng).scalars.map { $0 * 4 }
                var planes = [Float](repeating: .nan, count: 2 * mr * ldc)
                var tile = [Float](repeating: 0, count: mr * nr)
                planes.withUnsafeMutableBufferPointer { p in
                    split(k, a, b, p.baseAddress!, p.baseAddress! + mr * ldc, ldc, bias, lo, hi)
                }
                tile.withUnsafeMutableBufferPointer { t in kernel.packed(k, a, b, t.baseAddress!, nr, false) }
                // The strided-A twin, on the same floats 49 apart (NaN between): the same bits.
                if let splitStrided = kernel.splitStrided {
                    var spread = [Float](repeating: .nan, count: k * 49)
                    for kk in 0..<k { for r in 0..<mr { spread[kk * 49 + r] = a[kk * mr + r] } }
                    var again = [Float](repeating: .nan, count: 2 * mr * ldc)
                    again.withUnsafeMutableBufferPointer { p in
                        splitStrided(k, spread, 49, b, p.baseAddress!, p.baseAddress! + mr * ldc, ldc, bias, lo, hi)
                    }
                    XCTAssert(zip(again, planes).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(kernel) k \(k): strided split differs from split")
                }
                for r in 0..<mr {
                    for col in 0..<nr {
                        let got = planes[(col / 16) * mr * ldc + r * ldc + col % 16]
                        var s: Double = 0
                        for kk in 0..<k { s += Double(a[kk * mr + r]) * Double(b[kk * nr + col]) }
                        let expected = Float(Swift.min(Swift.max(s + Double(bias[col]), Double(lo)), Double(hi)))
                        XCTAssertEqual(got, expected, accuracy: 1e-4 * Swift.max(1, abs(expected)), "\(kernel) k \(k) row \(r) col \(col)")
                        var v = tile[r * nr + col] + bias[col]
                        if v < lo { v = lo }
                        if v > hi { v = hi }
                        XCTAssertEqual(got.bitPattern, v.bitPattern, "\(kernel) k \(k) row \(r) col \(col): other bits than packed + bias")
                    }
                    for gap in 16..<ldc {
                        XCTAssert(planes[r * ldc + gap].isNaN && planes[mr * ldc + r * ldc + gap].isNaN, "\(kernel) wrote past a pixel vector")
                    }
                }
            }
        }
    }

    /// The transposed path (`gemm_7x32t`, `gemm_7x16t`: 7 positions × 32 or 16 channels per tile) against the
    /// reference. 1x1 stride-1 layers read their input in place: positions that are and are not whole 7-position
    /// tiles (whole tiles read in place, the last one packed), whole and partial channel panels (on `gemm_7x32t` a
    /// last panel of at most 16 channels on `gemm_7x16t`: 1, 5, 33, 40 and 70 outputs; 17 not), input channels past
    /// one and several weight blocks (256 rows at 32 columns, 512 at 16), batch 2, a residual, every activation, and
    /// 2 threads on an odd number of panels (one panel's tiles split between the workers, both computing a partial
    /// last tile). Every other layer with one group reads its phase layout in place, in tiles along each output row
    /// where the rows are whole 7-position tiles and in flat tiles (the phase rows' extra columns computed, not stored)
    /// where they are not: 3x3 at strides 1 and 2 with and without padding, asymmetric padding, dilation, 1x1 at stride
    /// 2, 5x5 and 7x2 kernels, rectangular planes, output rows narrower than a tile (one tile over several rows, a
    /// 1×1 output) and wider, depths past a weight block, batch 2 (each image's layout written anew) — both ways, with the direct
    /// path's bits.
    func testTransposedPathOverEdgeShapes() throws {
        let activations: [Activation] = [.relu6, .leakyReLU(alpha: 0.1), .none, .relu, .hardSwish, .silu, .tanh]
        let shapes: [(cin: Int, cout: Int, input: Size2D, batch: Int)] = [
            (1, 1, Size2D(1, 1), 1), (3, 5, Size2D(7, 7), 1), (17, 33, Size2D(7, 7), 2), (8, 40, Size2D(5, 3), 1),
            (64, 96, Size2D(14, 14), 2), (300, 17, Size2D(3, 11), 1), (600, 64, Size2D(4, 4), 1), (40, 160, Size2D(7, 7), 1),
        ]
        let gathered: [(d: ConvolutionDescriptor, input: Size2D, batch: Int)] = [
            (try ConvolutionDescriptor(inputChannels: 16, outputChannels: 40, kernel: 3, stride: 2, padding: 1), Size2D(14, 14), 1),
            (try ConvolutionDescriptor(inputChannels: 40, outputChannels: 64, kernel: 3, padding: 1), Size2D(7, 7), 2),
            (try ConvolutionDescriptor(inputChannels: 30, outputChannels: 33, kernel: 3), Size2D(9, 12), 1),
            (try ConvolutionDescriptor(inputChannels: 24, outputChannels: 48, kernel: 1, stride: 2), Size2D(15, 13), 1),
            (try ConvolutionDescriptor(inputChannels: 5, outputChannels: 20, kernel: 5, stride: 2, padding: 2), Size2D(23, 21), 2),
            (try ConvolutionDescriptor(inputChannels: 8, outputChannels: 16, kernel: 3, dilation: 2, padding: 2), Size2D(10, 10), 1),
            (try ConvolutionDescriptor(inputChannels: 4, outputChannels: 12, kernel: Size2D(7, 2), stride: Size2D(1, 3),
                                       padding: Padding(top: 0, left: 1, bottom: 3, right: 0)), Size2D(12, 40), 1),
            (try ConvolutionDescriptor(inputChannels: 64, outputChannels: 70, kernel: 3, stride: 2, padding: 1), Size2D(8, 8), 1),
            (try ConvolutionDescriptor(inputChannels: 8, outputChannels: 36, kernel: 3, dilation: 2, padding: 2), Size2D(14, 14), 2),
            (try ConvolutionDescriptor(inputChannels: 150, outputChannels: 32, kernel: 3, stride: 2, padding: 1), Size2D(28, 27), 1),
            (try ConvolutionDescriptor(inputChannels: 12, outputChannels: 20, kernel: 3, padding: 1), Size2D(4, 5), 2),
            (try ConvolutionDescriptor(inputChannels: 64, outputChannels: 48, kernel: 3, stride: 2, padding: 1), Size2D(32, 32), 1),
            (try ConvolutionDescriptor(inputChannels: 10, outputChannels: 24, kernel: 3, stride: 2, padding: 1), Size2D(2, 2), 2),
        ]
        for name in ["gemm_7x32t", "gemm_7x16t"] {
            var cases: [(ConvolutionCase, String)] = []
            for s in shapes {
                let d = try ConvolutionDescriptor(inputChannels: s.cin, outputChannels: s.cout, kernel: 1)
                cases.append((ConvolutionCase(descriptor: d, batch: s.batch, input: s.input), "1x1 transposed"))
            }
            for g in gathered {
                // The output's width alone decides how tiles run.
                let rows = try g.d.outputSize(input: g.input).width % 7 == 0
                cases.append((ConvolutionCase(descriptor: g.d, batch: g.batch, input: g.input), rows ? "phase layout" : "in flat tiles"))
            }
            // Both ways among the cases: whole-tile output rows at strides 1 and 2, and rows that are not.
            XCTAssertEqual(Set(cases.map(\.1)), ["1x1 transposed", "phase layout", "in flat tiles"])
            for (i, (c0, expected)) in cases.enumerated() {
                var c = c0
                c.descriptor = try ConvolutionDescriptor(
                    inputChannels: c.descriptor.inputChannels, outputChannels: c.descriptor.outputChannels, kernel: c.descriptor.kernel,
                    stride: c.descriptor.stride, dilation: c.descriptor.dilation, padding: c.descriptor.padding,
                    activation: activations[i % activations.count])
                let options = ConvolutionOptions(threads: i % 2 + 1, microKernel: name)
                XCTAssert(try assertMatchesReference(c, algorithm: .direct, seed: UInt64(40 + i), options: options, withResidual: i % 3 == 0))
                let (_, w, b) = try c.data(seed: 0)
                let summary = try Convolution2D(descriptor: c.descriptor, input: c.input, weights: w, bias: b, algorithm: .direct,
                                                options: options).summary
                XCTAssert(summary.contains(expected) && summary.contains("transposed"), "\(name) \(c): \(summary)")
                XCTAssertEqual(summary.contains("flat tiles"), expected == "in flat tiles", "\(name) \(c): \(summary)")
                // On gemm_7x32t, at most 16 channels past the last whole panel go on gemm_7x16t (17: one more 32).
                let tail = c.descriptor.outputChannels % 32
                XCTAssertEqual(summary.contains("channels on gemm_7x16t"), name == "gemm_7x32t" && tail > 0 && tail <= 16,
                               "\(name) \(c): \(summary)")
                if expected != "1x1 transposed" {
                    // On the phase layout, one chain in the direct path's order: its bits (forced to its own kernel).
                    let (x, _, _) = try c.data(seed: 7)
                    let mine = try Convolution2D(descriptor: c.descriptor, input: c.input, weights: w, bias: b, algorithm: .direct,
                                                 options: options)(x)
                    let direct = try Convolution2D(descriptor: c.descriptor, input: c.input, weights: w, bias: b, algorithm: .direct,
                                                   options: ConvolutionOptions(threads: 1, microKernel: "gemm_8x16"))(x)
                    XCTAssertEqual(mine, direct, "\(name) \(c): not the direct path's bits")
                }
            }
        }
        // Unforced, a 1x1 layer read in place takes the path on 7² planes (the direct path's whole tiles 1.31× the
        // positions) and 14² ones (1.06×), and leaves a 28² one (no waste there) to the other — on builds with
        // 16-float registers; elsewhere it is never chosen.
        let wide = KernelTarget.wideRegisters, split = wide && BuildInfo.cpuSplitsWideVectors
        for (side, expected) in [(7, wide), (14, wide), (28, false)] {
            let d = try ConvolutionDescriptor(inputChannels: 32, outputChannels: 64, kernel: 1)
            let w = try Tensor(zeros: d.weightShape), b = try Tensor(zeros: [64])
            let summary = try Convolution2D(descriptor: d, input: Size2D(side, side), weights: w, bias: b, algorithm: .direct).summary
            XCTAssertEqual(summary.contains("transposed"), expected, "\(side)²: \(summary)")
        }
        // Other layers by the same margin: ResNet's 3x3 stride-2 layers onto 7² (64 for 49) and, where FMAs are split,
        // 14² (208 for 196 on the direct path's own im2col), not onto 28² (784 for 784 there), nor a 13² plane on the
        // flat layout (176 for 175) — on Intel cores also every layer with K ≥ 256 and 32 output channels whose phase
        // layout the path reads in place (`KernelChoice.prefersPhaseLayout`: 32→64 onto 14², 64→64 onto 28², 32→64 3x3
        // on 56², not 16→64 onto 28² with its K of 144, nor 64→64 onto 32², whose rows are not whole tiles).
        let intel = wide && BuildInfo.cpuIsIntel
        for (cin, side, stride, expected) in [(64, 14, 2, wide), (32, 28, 2, split || intel), (64, 56, 2, intel),
                                              (16, 56, 2, false), (16, 13, 1, false), (32, 56, 1, intel), (64, 64, 2, false)] {
            let d = try ConvolutionDescriptor(inputChannels: cin, outputChannels: 64, kernel: 3, stride: Size2D(stride, stride), padding: 1,
                                              activation: .relu)
            let w = try Tensor(zeros: d.weightShape), b = try Tensor(zeros: [64])
            let summary = try Convolution2D(descriptor: d, input: Size2D(side, side), weights: w, bias: b, algorithm: .direct).summary
            XCTAssertEqual(summary.contains("phase layout") && summary.contains("transposed"), expected, "\(cin)→64 3x3/\(stride) on \(side)²: \(summary)")
        }
        // On Intel cores also 1x1 layers with K ≥ 256 onto 32 or 64 channels from at most 1.5 MB of input
        // (`KernelChoice.prefersTransposedSqueeze`: SqueezeNet's 13² and 27² squeezes), not 48 channels, K 192, or
        // 256→64 on 56² (3.2 MB); the margin alone takes none of these.
        for (cin, cout, side, expected) in [(512, 64, 13, intel), (256, 32, 27, intel), (384, 48, 13, false), (192, 32, 27, false),
                                            (256, 64, 56, false)] {
            let d = try ConvolutionDescriptor(inputChannels: cin, outputChannels: cout, kernel: 1, activation: .relu)
            let w = try Tensor(zeros: d.weightShape), b = try Tensor(zeros: [cout])
            let summary = try Convolution2D(descriptor: d, input: Size2D(side, side), weights: w, bias: b, algorithm: .direct).summary
            XCTAssertEqual(summary.contains("transposed"), expected, "\(cin)→\(cout) on \(side)²: \(summary)")
        }
        // A grouped layer, or a kernel without 7 rows, is an `unsupported` error when forced.
        let grouped = try ConvolutionDescriptor(inputChannels: 4, outputChannels: 8, kernel: 3, padding: 1, groups: 2)
        let k1 = try ConvolutionDescriptor(inputChannels: 4, outputChannels: 8, kernel: 1)
        for (d, name) in [(grouped, "gemm_7x32t"), (k1, "gemm_8x32t")] {
            XCTAssertThrowsError(try Convolution2D(descriptor: d, input: Size2D(7, 7), weights: try Tensor(zeros: d.weightShape),
                                                   bias: try Tensor(zeros: [8]), algorithm: .direct,
                                                   options: ConvolutionOptions(microKernel: name))) { error in
                guard case .unsupported? = error as? ConvolutionError else { return XCTFail("\(name): \(error)") }
            }
        }
    }

    /// The transposed path at several threads where workers take runs of tiles with every panel
    /// (`TransposedImplementation.sharesTiles`: fewer output channels than positions) and where they take runs of
    /// (panel, tile) pairs: 1x1 layers read in place (a last partial tile packed by the worker that has it) and layers
    /// on the phase layout, whole-tile rows and flat tiles — at 1, 2 and 3 threads the same bits, every output
    /// written, near the reference.
    func testTransposedPathSharesTilesOrPanels() throws {
        guard KernelTarget.wideRegisters else { return }
        let cases: [(d: ConvolutionDescriptor, input: Size2D)] = [
            (try ConvolutionDescriptor(inputChannels: 384, outputChannels: 64, kernel: 1, activation: .relu), Size2D(13, 13)),
            (try ConvolutionDescriptor(inputChannels: 40, outputChannels: 48, kernel: 1), Size2D(9, 9)),
            (try ConvolutionDescriptor(inputChannels: 20, outputChannels: 96, kernel: 1, activation: .relu6), Size2D(7, 7)),
            (try ConvolutionDescriptor(inputChannels: 32, outputChannels: 64, kernel: 3, stride: 2, padding: 1, activation: .relu),
             Size2D(28, 28)),
            (try ConvolutionDescriptor(inputChannels: 24, outputChannels: 32, kernel: 3, padding: 1), Size2D(12, 12)),
        ]
        for (i, k) in cases.enumerated() {
            let c = ConvolutionCase(descriptor: k.d, batch: 1, input: k.input)
            try assertSameBitsAcrossThreads(c, algorithm: .direct, seed: UInt64(80 + i), microKernel: "gemm_7x32t",
                                            summary: "transposed")
            XCTAssert(try assertMatchesReference(c, algorithm: .direct, seed: UInt64(80 + i),
                                                 options: ConvolutionOptions(threads: 2, microKernel: "gemm_7x32t"),
                                                 withResidual: i % 2 == 0), "\(k.d) on \(k.input)")
        }
    }

    /// The direct path's grouped form with a group's output channels as the vector lanes (`grouped_lanes`): groups
    /// of 8, 16 and 32 output channels (8-float vectors for 8; one and two 16-float vectors on wide builds, two and four 8-float ones elsewhere), rows
    /// shorter than a 7-position tile (one position at a time), longer and not a multiple of 7 (a last tile shifted
    /// left), stride 2 on even and odd sides, dilation, a 5x5 kernel with asymmetric padding, a 1x3 kernel, input
    /// channels per group other than the outputs', batch 2 (the padded planes refilled), 1–3 threads over items of
    /// whole planes and of row blocks (a 60-wide map: 7 rows an item), residuals and every kind of activation
    /// write-out — each against the reference and run into a NaN-filled output.
    func testGroupedLanesOverEdgeShapes() throws {
        let activations: [Activation] = [.relu, .leakyReLU(alpha: 0.1), .none, .hardSwish, .silu, .relu6, .tanh]
        func c(_ cin: Int, _ cout: Int, _ groups: Int, _ k: Size2D, _ input: Size2D, stride: Size2D = 1, dilation: Size2D = 1,
               padding: Padding = 0, batch: Int = 1) throws -> ConvolutionCase {
            ConvolutionCase(descriptor: try ConvolutionDescriptor(inputChannels: cin, outputChannels: cout, kernel: k, stride: stride,
                                                                  dilation: dilation, padding: padding, groups: groups),
                            batch: batch, input: input)
        }
        let cases = [
            try c(32, 32, 2, 3, Size2D(7, 7), padding: 1), try c(64, 64, 4, 3, Size2D(14, 14), stride: 2, padding: 1),
            try c(48, 32, 2, 3, Size2D(11, 9), padding: 1), try c(32, 64, 2, 3, Size2D(5, 5), padding: 1, batch: 2),
            try c(32, 32, 2, 3, Size2D(13, 13), dilation: 2, padding: 2), try c(48, 48, 3, 3, Size2D(15, 15), stride: 2, padding: 1),
            try c(32, 32, 2, 5, Size2D(12, 10), padding: Padding(top: 2, left: 1, bottom: 0, right: 3)),
            try c(16, 32, 2, Size2D(1, 3), Size2D(6, 17), stride: Size2D(1, 2)), try c(64, 32, 2, 3, Size2D(60, 60), padding: 1),
            try c(96, 64, 2, 3, Size2D(16, 16), stride: 2, padding: 1, batch: 2),
            // 8 channels a group (8-float vectors on every build): at stride 2 unforced, at stride 1 forced only.
            try c(64, 64, 8, 3, Size2D(14, 14), stride: 2, padding: 1), try c(24, 32, 4, 3, Size2D(9, 11), padding: 1),
        ]
        for (i, c0) in cases.enumerated() {
            var c = c0
            let d = c.descriptor
            c.descriptor = try ConvolutionDescriptor(inputChannels: d.inputChannels, outputChannels: d.outputChannels, kernel: d.kernel,
                                                     stride: d.stride, dilation: d.dilation, padding: d.padding, groups: d.groups,
                                                     activation: activations[i % activations.count])
            // Unforced: at stride 2, and at stride 1 with 16 or 32 a group — on 8-float builds on maps under 13×13.
            let out = try c.descriptor.outputSize(input: c.input)
            let unforced = c.descriptor.stride != Size2D(1, 1) || c.descriptor.outputChannelsPerGroup % 16 == 0
                && (KernelTarget.wideRegisters || min(out.height, out.width) < 13)
            for (options, lanes) in [(ConvolutionOptions(threads: i % 3 + 1), unforced),
                                     (ConvolutionOptions(threads: 2, microKernel: "grouped_lanes"), true)] {
                XCTAssert(try assertMatchesReference(c, algorithm: .direct, seed: UInt64(90 + i), options: options, withResidual: i % 2 == 0))
                let (_, w, b) = try c.data(seed: 0)
                let summary = try Convolution2D(descriptor: c.descriptor, input: c.input, weights: w, bias: b, algorithm: .direct,
                                                options: options).summary
                XCTAssertEqual(summary.contains("groups as lanes"), lanes, "\(c): \(summary)")
            }
        }
        // Unforced, groups of 48 output channels and groups of 16 under a forced GEMM kernel take the implicit GEMM;
        // forced, a layer the form cannot compute (one group; 12 channels a group) is an `unsupported` error.
        let wide = try ConvolutionDescriptor(inputChannels: 96, outputChannels: 96, kernel: 3, padding: 1, groups: 2)
        let sixteen = try ConvolutionDescriptor(inputChannels: 32, outputChannels: 32, kernel: 3, padding: 1, groups: 2)
        for (d, options) in [(wide, ConvolutionOptions()), (sixteen, ConvolutionOptions(microKernel: "gemm_8x32"))] {
            let summary = try Convolution2D(descriptor: d, input: Size2D(7, 7), weights: try Tensor(zeros: d.weightShape),
                                            bias: try Tensor(zeros: [d.outputChannels]), algorithm: .direct, options: options).summary
            XCTAssertFalse(summary.contains("groups as lanes"), "\(d): \(summary)")
        }
        let dense = try ConvolutionDescriptor(inputChannels: 16, outputChannels: 16, kernel: 3, padding: 1)
        let twelve = try ConvolutionDescriptor(inputChannels: 24, outputChannels: 24, kernel: 3, padding: 1, groups: 2)
        for d in [dense, twelve] {
            XCTAssertThrowsError(try Convolution2D(descriptor: d, input: Size2D(7, 7), weights: try Tensor(zeros: d.weightShape),
                                                   bias: try Tensor(zeros: [d.outputChannels]), algorithm: .direct,
                                                   options: ConvolutionOptions(microKernel: "grouped_lanes"))) { error in
                guard case .unsupported? = error as? ConvolutionError else { return XCTFail("\(d): \(error)") }
            }
        }
    }

    func testEveryDepthwiseVariantOverEdgeShapes() throws {
        func c(_ ch: Int, _ k: Size2D, _ input: Size2D, stride: Size2D = 1, dilation: Size2D = 1, padding: Padding = 0,
               batch: Int = 1, activation: Activation = .relu6) throws -> ConvolutionCase {
            ConvolutionCase(descriptor: try ConvolutionDescriptor(inputChannels: ch, outputChannels: ch, kernel: k, stride: stride,
                                                                  dilation: dilation, padding: padding, groups: ch, activation: activation),
                            batch: batch, input: input)
        }
        let cases = [
            try c(1, 3, Size2D(1, 1), padding: 1), try c(4, 3, Size2D(7, 7), padding: 1), try c(5, 3, Size2D(13, 11), stride: 2, padding: 1),
            try c(3, 5, Size2D(17, 19), padding: 2), try c(6, 5, Size2D(23, 23), stride: 2, padding: 2, batch: 2),
            try c(2, 3, Size2D(9, 10), dilation: 2, padding: Padding(top: 2, left: 1, bottom: 0, right: 3), activation: .none),
            try c(3, Size2D(3, 1), Size2D(5, 70), stride: Size2D(2, 1)), try c(2, 7, Size2D(29, 31), stride: 3, padding: 3),
            // Column stride 2 on rows long enough for the vector phase split, even and odd padding.
            try c(3, 3, Size2D(9, 70), stride: 2, padding: 1), try c(2, 5, Size2D(7, 61), stride: 2, padding: 2),
            try c(2, 3, Size2D(5, 50), stride: 2), try c(2, 3, Size2D(4, 41), stride: Size2D(1, 2), padding: Padding(top: 0, left: 3, bottom: 1, right: 0)),
            // Stride 1 on rows long enough for the row kernel's 32-, 16- and 8-wide steps, asymmetric padding.
            try c(3, 3, Size2D(6, 45), padding: Padding(top: 0, left: 2, bottom: 1, right: 0)), try c(2, 5, Size2D(9, 40), padding: 2),
            try c(2, 3, Size2D(3, 33), padding: Padding(top: 2, left: 0, bottom: 0, right: 2), activation: .leakyReLU(alpha: 0.2)),
            // The flat layout's shapes ("same" output width at stride 1 and 2): planes that are and are not
            // whole 32-position steps, rows under and over the two-row pass's 24, odd and even row counts,
            // one row, asymmetric padding, dilation, 5x5 and 7x1.
            try c(3, 3, Size2D(8, 8), padding: 1), try c(2, 3, Size2D(7, 7), padding: 1), try c(3, 3, Size2D(5, 56), padding: 1),
            try c(2, 3, Size2D(6, 24), padding: 1, activation: .none), try c(2, 3, Size2D(1, 30), padding: 1),
            try c(2, 3, Size2D(12, 28), stride: 2, padding: Padding(top: 0, left: 0, bottom: 1, right: 1)),
            try c(3, 3, Size2D(14, 14), stride: 2, padding: 1), try c(2, 3, Size2D(4, 50), padding: Padding(top: 2, left: 2, bottom: 0, right: 0)),
            try c(2, 3, Size2D(9, 26), dilation: 2, padding: 2), try c(2, 5, Size2D(11, 27), padding: 2),
            try c(2, 5, Size2D(16, 20), stride: 2, padding: 2), try c(2, Size2D(7, 1), Size2D(9, 33), padding: Padding(top: 3, left: 0, bottom: 3, right: 0)),
            // Stride-2 phase rows of 32, 20, 5 and 3 columns: the column split's 16- and 8-pair steps run past
            // row ends (and must not past a plane's last row), or go one pair at a time.
            try c(3, 3, Size2D(10, 64), stride: 2, padding: 1), try c(2, 3, Size2D(8, 40), stride: 2, padding: 1),
            try c(3, 3, Size2D(8, 10), stride: 2, padding: 1), try c(2, 3, Size2D(6, 6), stride: 2, padding: 1),
            // Stride 1 on planes large enough (≥ 8192 floats) for the middle rows to be read in place
            // (`FlatPhaseLayout.inPlaceRows`), the rows above and below from the buffer: odd widths, 5x5, dilation, taps only right/below, 7x1,
            // several planes per worker (the buffer's rows left from the plane before), batch 2.
            try c(5, 3, Size2D(96, 90), padding: 1), try c(3, 3, Size2D(100, 83), padding: 1, batch: 2),
            try c(3, 5, Size2D(90, 93), padding: 2, activation: .none), try c(2, 3, Size2D(91, 91), dilation: 2, padding: 2),
            try c(3, 3, Size2D(64, 130), padding: Padding(top: 0, left: 0, bottom: 2, right: 2)),
            try c(2, Size2D(7, 1), Size2D(92, 90), padding: Padding(top: 3, left: 0, bottom: 3, right: 0), activation: .relu),
            // Blocks of 16 channels (`dw_blocked16`): whole blocks and a last partial one, planes that are and are
            // not whole 16-pixel groups, batch 2, the 3x3 path at strides 1 and 2, the general path (5x5, 7x7 at
            // stride 4, dilation, column stride 2), rows of one output (a row's four-pixel step past its end).
            try c(32, 3, Size2D(7, 7), padding: 1), try c(33, 3, Size2D(14, 14), stride: 2, padding: 1, batch: 2),
            try c(16, 3, Size2D(8, 8), padding: 1, activation: .none), try c(20, 5, Size2D(9, 11), padding: 2, activation: .leakyReLU(alpha: 0.1)),
            try c(17, 3, Size2D(6, 9), stride: Size2D(1, 2), padding: Padding(top: 1, left: 0, bottom: 0, right: 1)),
            try c(48, 3, Size2D(5, 3)), try c(16, 7, Size2D(10, 10), stride: 4, padding: 3), try c(16, 3, Size2D(9, 10), dilation: 2, padding: 2),
            // 3x3 stride 2 straight from the planes (`dw_s2direct16`, rows of 32+): odd and even heights, one and two
            // rows, no top padding, an odd width, rows one output past a whole vector (the last step overlapping),
            // batch 2; the last row of every plane reads its end through the scratch.
            try c(2, 3, Size2D(7, 32), stride: 2, padding: 1), try c(3, 3, Size2D(10, 48), stride: 2, padding: Padding(top: 0, left: 1, bottom: 1, right: 1)),
            try c(2, 3, Size2D(9, 33), stride: 2, padding: Padding(top: 0, left: 1, bottom: 0, right: 0), activation: .leakyReLU(alpha: 0.2)),
            try c(3, 3, Size2D(5, 34), stride: 2, padding: 1, activation: .none), try c(2, 3, Size2D(6, 96), stride: 2, padding: 1, batch: 2),
            try c(4, 3, Size2D(3, 100), stride: 2, padding: 1), try c(2, 3, Size2D(1, 40), stride: 2, padding: 1),
            try c(2, 3, Size2D(2, 64), stride: 2, padding: 1, activation: .relu), try c(3, 3, Size2D(12, 112), stride: 2, padding: 1),
        ]
        for kernel in DepthwiseKernelRegistry.all {
            var covered = 0
            for (i, cs) in cases.enumerated() {
                let d = cs.descriptor, out = try d.outputSize(input: cs.input)
                let g = ConvolutionGeometry(inputHeight: cs.input.height, inputWidth: cs.input.width, kernelHeight: d.kernel.height,
                                            kernelWidth: d.kernel.width, strideHeight: d.stride.height, strideWidth: d.stride.width,
                                            dilationHeight: d.dilation.height, dilationWidth: d.dilation.width, padTop: d.padding.top,
                                            padLeft: d.padding.left, outputHeight: out.height, outputWidth: out.width)
                let options = ConvolutionOptions(threads: 2, microKernel: kernel.name)
                guard kernel.supports(g) else {
                    // A variant asked for a shape it cannot compute refuses it, typed, at prepare time.
                    let (_, w, b) = try cs.data(seed: 0)
                    XCTAssertThrowsError(try Convolution2D(descriptor: d, input: cs.input, weights: w, bias: b, algorithm: .depthwise,
                                                           options: options), "\(kernel) \(cs)") { error in
                        guard case .unsupported? = error as? ConvolutionError else { return XCTFail("\(error)") }
                    }
                    continue
                }
                try assertMatchesReference(cs, algorithm: .depthwise, seed: UInt64(i), options: options, withResidual: i % 2 == 0)
                covered += 1
            }
            XCTAssertGreaterThanOrEqual(covered, 12, "\(kernel) ran on too few shapes")
        }
    }

    /// `VectorMath.erf` (ONNX Erf, an exact GELU's) within 2.5e-7 of `erf` and 1e-6 of it relatively from −9 to 9
    /// (both branches, the switch at 0.5, saturation at ±1), odd, and ±1 at ±∞.
    func testVectorErfIsWithinItsBound() {
        var worst = 0.0, worstRelative = 0.0
        for i in -90_000...90_000 {
            let v = Float(i) / 10_000, exact = Foundation.erf(Double(v)), e = Double(VectorMath.erf(v))
            worst = max(worst, abs(e - exact))
            if exact != 0 { worstRelative = max(worstRelative, abs(e - exact) / abs(exact)) }
            XCTAssertEqual(VectorMath.erf(-v), -VectorMath.erf(v), "odd at \(v)")
        }
        XCTAssertLessThanOrEqual(worst, 2.5e-7, "worst absolute error")
        XCTAssertLessThanOrEqual(worstRelative, 1e-6, "worst relative error")
        XCTAssertEqual(VectorMath.erf(Float.infinity), 1)
        XCTAssertEqual(VectorMath.erf(-Float.infinity), -1)
        XCTAssertEqual(VectorMath.erf(0), 0)
    }

    /// `VectorMath.exp` (the sigmoid and SiLU write-outs) within 3 ulp of `Foundation.exp` from −87 to 88, saturating
    /// outside; the scalar, eight- and sixteen-lane forms give the same bits; and the write-out loops of sigmoid and
    /// SiLU match their double-precision definitions on every length (vector body and tails).
    func testVectorExpAndTheLogisticActivations() throws {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let v = SIMD16<Float>((0..<16).map { x + Float($0) * 0.37 })
            let e = VectorMath.exp(v), e8 = VectorMath.exp(SIMD8<Float>((0..<8).map { v[$0] }))
            for i in 0..<16 where v[i] < 88 {
                let exact = Foundation.exp(Double(v[i]))
                worst = max(worst, Float(abs(Double(e[i]) - exact) / Double(Float(exact).ulp)))
                XCTAssertEqual(e[i].bitPattern, VectorMath.exp(v[i]).bitPattern, "\(v[i])")
                if i < 8 { XCTAssertEqual(e[i].bitPattern, e8[i].bitPattern, "\(v[i])") }
            }
            x += 16 * 0.37
        }
        XCTAssertLessThanOrEqual(worst, 3, "worst error in ulp")
        XCTAssertEqual(VectorMath.exp(Float(-200)), VectorMath.exp(Float(-87.3365447504019)))
        XCTAssert(VectorMath.exp(Float(200)).isFinite && VectorMath.exp(Float(200)) > 1e38)
        for n in [1, 7, 8, 9, 16, 17, 40] {
            let src = (0..<n).map { Float($0) * 1.7 - 30 }
            let cases: [(Epilogue, (Double) -> Double)] = [(Epilogue(kind: .sigmoid), { t in 1 / (1 + Foundation.exp(-t)) }),
                                                           (Epilogue(kind: .silu), { t in t / (1 + Foundation.exp(-t)) }),
                                                           (Epilogue(kind: .tanh), { t in Foundation.tanh(t) })]
            for (a, f) in cases {
                var dst = [Float](repeating: .nan, count: n)
                src.withUnsafeBufferPointer { s in
                    dst.withUnsafeMutableBufferPointer { d in
                        a.finish(src: s.baseAddress!, dst: d.baseAddress!, count: n, bias: 0.25, residual: nil)
                    }
                }
                for i in 0..<n {
                    let e = f(Double(src[i]) + 0.25)
                    XCTAssertEqual(Double(dst[i]), e, accuracy: 2e-7 * max(1, abs(e)), "\(a.kind) n \(n) at \(i)")
                }
            }
        }
    }

    func testUnknownVariantsAreTypedErrors() throws {
        let d = try ConvolutionDescriptor(inputChannels: 2, outputChannels: 2, kernel: 3, groups: 2)
        let w = try Tensor(zeros: d.weightShape), b = try Tensor(zeros: [2])
        for (alg, name) in [(ConvolutionAlgorithm.direct, "gemm_7x7"), (.depthwise, "dw_5")] {
            XCTAssertThrowsError(try Convolution2D(descriptor: d, input: Size2D(5, 5), weights: w, bias: b, algorithm: alg,
                                                   options: ConvolutionOptions(microKernel: name))) { error in
                guard case .invalidOption? = error as? ConvolutionError else { return XCTFail("\(error)") }
            }
        }
        let dense = try ConvolutionDescriptor(inputChannels: 2, outputChannels: 4, kernel: 3)
        XCTAssertThrowsError(try Convolution2D(descriptor: dense, input: Size2D(5, 5), weights: try Tensor(zeros: dense.weightShape),
                                               bias: try Tensor(zeros: [4]), algorithm: .depthwise)) { error in
            guard case .unsupported? = error as? ConvolutionError else { return XCTFail("\(error)") }
        }
    }
}
