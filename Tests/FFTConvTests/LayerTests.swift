import FFTConv
import XCTest

/// Residual fusion, fully-connected and locally-connected layers, and thread-count determinism of every algorithm.
final class LayerTests: XCTestCase {
    func testResidualIsFusedByEveryAlgorithm() throws {
        let cases = [
            ConvolutionCase(descriptor: try ConvolutionDescriptor(inputChannels: 6, outputChannels: 8, kernel: 3, padding: 1, activation: .relu),
                            batch: 2, input: Size2D(9, 11)),
            ConvolutionCase(descriptor: try ConvolutionDescriptor(inputChannels: 4, outputChannels: 4, kernel: 3, stride: 2, padding: 1, groups: 4,
                                                                  activation: .relu6), batch: 1, input: Size2D(12, 12)),
        ]
        for c in cases {
            for a in ConvolutionAlgorithm.allCases where a.supports(c.descriptor) {
                try assertMatchesReference(c, algorithm: a, seed: 5, withResidual: true)
            }
        }
        let c = cases[0]
        let (x, w, b) = try c.data(seed: 1)
        let conv = try Convolution2D(descriptor: c.descriptor, input: c.input, weights: w, bias: b, algorithm: .direct)
        XCTAssertThrowsError(try conv(x, residual: try Tensor(zeros: [2, 8, 9, 10]))) {
            XCTAssertEqual($0 as? ConvolutionError, .residualShapeMismatch(expected: [2, 8, 9, 11], actual: [2, 8, 9, 10]))
        }
    }

    func testThreadCountsGiveIdenticalBitsForEveryAlgorithm() throws {
        let dense = ConvolutionCase(descriptor: try ConvolutionDescriptor(inputChannels: 16, outputChannels: 24, kernel: 3, padding: 1,
                                                                          activation: .relu), batch: 2, input: Size2D(15, 21))
        let dw = ConvolutionCase(descriptor: try ConvolutionDescriptor(inputChannels: 16, outputChannels: 16, kernel: 3, stride: 2,
                                                                       padding: 1, groups: 16), batch: 2, input: Size2D(15, 21))
        for (c, algorithms) in [(dense, [ConvolutionAlgorithm.plain, .direct, .gemm, .fft, .winograd]), (dw, [.depthwise, .direct])] {
            let (x, w, b) = try c.data(seed: 8)
            for a in algorithms {
                let outputs = try [1, 2, 3, 8].map { t in
                    try Convolution2D(descriptor: c.descriptor, input: c.input, weights: w, bias: b, algorithm: a,
                                      options: ConvolutionOptions(threads: t))(x)
                }
                for o in outputs.dropFirst() { XCTAssertEqual(o, outputs[0], "\(a)") }
            }
        }
        var rng = SeededGenerator(seed: 4)
        // A small layer (one thread whatever is asked) and one past the GEMV's 1 MB threshold (its 64-row blocks split).
        for (outputs, inputs) in [(70, 130), (700, 400)] {
            let w = try Tensor.random(shape: [outputs, inputs], using: &rng), x = try Tensor.random(shape: [1, inputs], using: &rng)
            let fcs = try [1, 2, 3, 8].map { try FullyConnected(weights: w, bias: nil, threads: $0)(x) }
            for o in fcs.dropFirst() { XCTAssertEqual(o, fcs[0]) }
        }
    }

    /// Batches of up to 128 rows (`GEMV.runBatch`: blocks of 4 rows × 4 vectors, vectors and rows left over) and
    /// past them (the row-major product on `gemm_7x32` on 16-float-register builds: blocks of 112 rows, whole and
    /// partial tiles and 32-output panels), with bias and activation (through the tile buffer) and without (stored in
    /// place), at 1 and 2 threads — one case large enough to split its tiles — against a double-precision product.
    func testBatchedFullyConnectedMatchesNaive() throws {
        var rng = SeededGenerator(seed: 23)
        // 300 and 250 rows: blocks of 112 (strided reads; 40 inputs: a partial 16-column block in their transposes)
        // and single tiles after them, at 1 and 2 threads.
        for (inputs, outputs, batch, biased) in [(40, 64, 21, false), (96, 100, 16, true), (33, 32, 7, false), (128, 130, 300, false),
                                                 (5, 3, 9, true), (40, 64, 250, false), (40, 40, 230, true)] {
            let w = try Tensor.random(shape: [outputs, inputs], using: &rng), b = try Tensor.random(shape: [outputs], using: &rng)
            let x = try Tensor.random(shape: [batch, inputs], using: &rng)
            let (ws, xs, bs) = (w.scalars, x.scalars, b.scalars)
            for threads in [1, 2] {
                let y = try FullyConnected(weights: w, bias: biased ? b : nil, activation: biased ? .relu : .none, threads: threads)(x)
                XCTAssertEqual(y.shape, [batch, outputs])
                let ys = y.scalars
                for i in 0..<batch {
                    for o in 0..<outputs {
                        var s = biased ? Double(bs[o]) : 0
                        for j in 0..<inputs { s += Double(ws[o * inputs + j]) * Double(xs[i * inputs + j]) }
                        let expected = Float(biased ? Swift.max(s, 0) : s)
                        XCTAssertEqual(ys[i * outputs + o], expected, accuracy: 1e-4 * max(1, abs(expected)),
                                       "\(inputs)->\(outputs) batch \(batch) threads \(threads) at \(i), \(o)")
                    }
                }
            }
        }
    }

    /// A batch of up to `FullyConnected.batchedGEMVLimit` rows (`GEMV.runBatch`; 128, or 16 on builds without 16-float
    /// registers, whose larger cases are left out) gives each row the bits the row alone gets (`GEMV.run`): the sums
    /// are formed in the same order — whole 4 × 4 blocks, vectors and rows left over, a tail of k under 16, rows long
    /// enough to go without the prefetch hint alone, split over threads in 64-row chunks, k in blocks.
    func testBatchedFullyConnectedRowsGetTheBitsOfTheRowAlone() throws {
        var rng = SeededGenerator(seed: 25)
        // (3000 inputs × 48 rows and 2050 × 70: past 512 KB of vectors, k in blocks of 1024 with the sums kept between
        // them — three blocks, the last short, and a tail; two blocks, 17 groups of four and two vectors left over;
        // 9000 × 16 the same within the 16 rows of builds without 16-float registers.)
        for (inputs, outputs, batch) in [(40, 70, 9), (17, 5, 6), (4100, 130, 5), (300, 700, 4), (16, 3, 2), (3000, 9, 48), (2050, 6, 70),
                                         (9000, 5, 16)]
            where batch <= FullyConnected.batchedGEMVLimit {
            let w = try Tensor.random(shape: [outputs, inputs], using: &rng), b = try Tensor.random(shape: [outputs], using: &rng)
            let x = try Tensor.random(shape: [batch, inputs], using: &rng)
            let xs = x.scalars
            for threads in [1, 2] {
                let fc = try FullyConnected(weights: w, bias: b, activation: .relu, threads: threads)
                let y = try fc(x).scalars
                for i in 0..<batch {
                    let alone = try fc(try Tensor(shape: [1, inputs], values: Array(xs[(i * inputs)..<((i + 1) * inputs)]))).scalars
                    XCTAssertEqual(Array(y[(i * outputs)..<((i + 1) * outputs)]), alone, "\(inputs)->\(outputs) row \(i) of \(batch), \(threads) threads")
                }
            }
        }
    }

    /// `MatrixMultiplication.run(_:transposedB:…)` reads `[n, k]` as its transpose through the packing (the batched
    /// `FullyConnected` path of builds without 16-float registers): the same result as the transposed copy given
    /// as `[k, n]`, partial panels, 1 and 2 threads.
    func testMatrixProductReadsBTransposed() throws {
        var rng = SeededGenerator(seed: 24)
        for (m, k, n) in [(13, 40, 21), (64, 96, 70), (5, 3, 2)] {
            let a = try Tensor.random(shape: [m, k], using: &rng), bt = try Tensor.random(shape: [n, k], using: &rng)
            let bts = bt.scalars
            let b = try Tensor(shape: [k, n], values: (0..<(k * n)).map { bts[($0 % n) * k + $0 / n] })
            for threads in [1, 2] {
                let mm = try MatrixMultiplication(a: a, threads: threads)
                var viaTranspose = try Tensor(zeros: [m, n]), plain = try Tensor(zeros: [m, n])
                try mm.run(bt, transposedB: true, into: &viaTranspose)
                try mm.run(b, into: &plain)
                XCTAssertEqual(viaTranspose, plain, "\(m)x\(k)x\(n) threads \(threads)")
            }
        }
    }

    func testFullyConnectedMatchesNaive() throws {
        var rng = SeededGenerator(seed: 21)
        // (400→700 and 4100→70: split over the threads in 64-row chunks; 4100 inputs: rows long enough to go without the
        // prefetch hint, and a 4-float tail.)
        for (inputs, outputs, batch) in [(1, 1, 1), (17, 5, 1), (130, 70, 1), (33, 19, 3), (300, 9, 2), (400, 700, 1), (4100, 70, 1)] {
            let w = try Tensor.random(shape: [outputs, inputs], using: &rng), b = try Tensor.random(shape: [outputs], using: &rng)
            let x = try Tensor.random(shape: [batch, inputs], using: &rng)
            let y = try FullyConnected(weights: w, bias: b, activation: .leakyReLU(alpha: 0.5), threads: 2)(x)
            XCTAssertEqual(y.shape, [batch, outputs])
            let (ws, xs, bs) = (w.scalars, x.scalars, b.scalars)  // `scalars` copies: once, not per product
            for i in 0..<batch {
                for o in 0..<outputs {
                    var s = Double(bs[o])
                    for j in 0..<inputs { s += Double(ws[o * inputs + j]) * Double(xs[i * inputs + j]) }
                    let expected = Float(s >= 0 ? s : 0.5 * s)
                    XCTAssertEqual(y.scalars[i * outputs + o], expected, accuracy: 1e-4 * max(1, abs(expected)), "\(inputs)->\(outputs) batch \(batch)")
                }
            }
        }
        let fc = try FullyConnected(weights: try Tensor(zeros: [3, 4]), bias: nil)
        XCTAssertThrowsError(try fc(try Tensor(zeros: [1, 5]))) {
            XCTAssertEqual($0 as? ConvolutionError, .inputShapeMismatch(expected: [-1, 4], actual: [1, 5]))
        }
        XCTAssertThrowsError(try FullyConnected(weights: try Tensor(zeros: [3, 4]), bias: try Tensor(zeros: [4]))) {
            XCTAssertEqual($0 as? ConvolutionError, .biasShapeMismatch(expected: [3], actual: [4]))
        }
    }

    func testLocallyConnectedMatchesItsReferenceAndConvolutionWhenWeightsAreShared() throws {
        var rng = SeededGenerator(seed: 17)
        let d = try ConvolutionDescriptor(inputChannels: 3, outputChannels: 5, kernel: 3, stride: Size2D(1, 2), padding: 1,
                                          activation: .relu)
        let input = Size2D(7, 9)
        let out = try d.outputSize(input: input)
        let x = try Tensor.random(shape: [2, 3, 7, 9], using: &rng)
        let w = try Tensor.random(shape: LocallyConnected2D.weightShape(descriptor: d, output: out), using: &rng)
        let b = try Tensor.random(shape: [5, out.height, out.width], using: &rng)
        let fast = try LocallyConnected2D(descriptor: d, input: input, weights: w, bias: b, threads: 2)(x)
        let reference = try LocallyConnected2D(descriptor: d, input: input, weights: w, bias: b, algorithm: .reference)(x)
        XCTAssertLessThanOrEqual(try XCTUnwrap(fast.maxAbsoluteDifference(reference)), 1e-4 * max(1, reference.maxAbsolute))
        XCTAssertGreaterThan(reference.maxAbsolute, 0)

        // With the same filter at every position (and a per-channel bias), it is a convolution.
        let filters = try Tensor.random(shape: d.weightShape, using: &rng), perChannel = try Tensor.random(shape: [5], using: &rng)
        let shared = try Tensor(shape: w.shape) { i in filters.scalars[i % filters.count] }
        let sharedBias = try Tensor(shape: b.shape) { i in perChannel.scalars[i / (out.height * out.width)] }
        let lc = try LocallyConnected2D(descriptor: d, input: input, weights: shared, bias: sharedBias)(x)
        let conv = try ReferenceConvolution.run(descriptor: d, input: x, weights: filters, bias: perChannel)
        XCTAssertLessThanOrEqual(try XCTUnwrap(lc.maxAbsoluteDifference(conv)), 1e-4 * max(1, conv.maxAbsolute))

        XCTAssertThrowsError(try LocallyConnected2D(descriptor: d, input: input, weights: filters, bias: b)) { error in
            guard case .weightShapeMismatch? = error as? ConvolutionError else { return XCTFail("\(error)") }
        }
        let grouped = try ConvolutionDescriptor(inputChannels: 4, outputChannels: 4, kernel: 3, groups: 2)
        XCTAssertThrowsError(try LocallyConnected2D(descriptor: grouped, input: input, weights: w)) { error in
            guard case .unsupported? = error as? ConvolutionError else { return XCTFail("\(error)") }
        }
    }
}
