import Dispatch
import FFTConv
import XCTest

/// One prepared layer shared by many threads, and threads inside a call: same bits every time.
final class ConcurrencyTests: XCTestCase {
    /// Outputs left unzeroed are NaN-filled, so an element a kernel misses fails the comparison.
    override func setUp() { BufferCache.fillsUnzeroedTensorsWithNaN = true }

    static func layerCase() throws -> ConvolutionCase {
        ConvolutionCase(descriptor: try ConvolutionDescriptor(inputChannels: 12, outputChannels: 20, kernel: 5, stride: Size2D(1, 2),
                                                              padding: 2, groups: 2, activation: .relu),
                        batch: 2, input: Size2D(23, 19))
    }

    func testEightConcurrentCallersGetBitIdenticalOutputs() throws {
        let c = try Self.layerCase()
        let (x, w, b) = try c.data(seed: 11)
        for algorithm in [ConvolutionAlgorithm.fft, .direct] {
            for threads in [1, 2] {
                let conv = try Convolution2D(descriptor: c.descriptor, input: c.input, weights: w, bias: b,
                                             algorithm: algorithm, options: ConvolutionOptions(threads: threads))
                let expected = try conv(x)
                XCTAssertGreaterThan(expected.maxAbsolute, 0)
                let results = UnsafeMutableBufferPointer<Tensor?>.allocate(capacity: 8)
                results.initialize(repeating: nil)
                defer { _ = results.deinitialize(); results.deallocate() }  // (deallocate alone leaked the tensors)
                DispatchQueue.concurrentPerform(iterations: 8) { i in
                    var last: Tensor?
                    for _ in 0..<4 { last = try? conv(x) }  // several calls each, so they overlap
                    results[i] = last
                }
                for i in 0..<8 { XCTAssertEqual(results[i], expected, "\(algorithm) threads \(threads) caller \(i)") }
            }
        }
    }

    func testThreadCountDoesNotChangeBits() throws {
        let c = try Self.layerCase()
        let (x, w, b) = try c.data(seed: 12)
        for algorithm in [ConvolutionAlgorithm.fft, .direct] {
            var outputs: [Tensor] = []
            for threads in [1, 2, 3, 8] {
                let conv = try Convolution2D(descriptor: c.descriptor, input: c.input, weights: w, bias: b,
                                             algorithm: algorithm, options: ConvolutionOptions(threads: threads))
                outputs.append(try conv(x))
            }
            for o in outputs.dropFirst() { XCTAssertEqual(o, outputs[0], "\(algorithm)") }
            try assertMatchesReference(c, algorithm: algorithm, seed: 12, options: ConvolutionOptions(threads: 3))
        }
    }

    /// The sixth session's paths, forced by name: the transposed 1x1 (input channels packed by ranges, (panel, tile)
    /// pairs split between workers: an odd panel count splits inside a panel), channel blocks, stride 2 from the
    /// planes — and im2col's output channels split when a plane is one column chunk: the same bits for 1, 2, 3 and 8
    /// threads, and every element of a NaN-filled output written.
    func testKernelVariantsGiveTheSameBitsForEveryThreadCount() throws {
        let cases: [(ConvolutionDescriptor, Size2D, ConvolutionAlgorithm, String)] = [
            (try ConvolutionDescriptor(inputChannels: 96, outputChannels: 160, kernel: 1, activation: .relu6), Size2D(7, 7), .direct, "gemm_7x32t"),
            (try ConvolutionDescriptor(inputChannels: 40, outputChannels: 40, kernel: 3, padding: 1, groups: 40, activation: .relu6),
             Size2D(14, 14), .depthwise, "dw_blocked16"),
            (try ConvolutionDescriptor(inputChannels: 24, outputChannels: 24, kernel: 3, stride: 2, padding: 1, groups: 24),
             Size2D(20, 64), .depthwise, "dw_s2direct16"),
            // im2col on a plane of one column chunk: with more threads than chunks the output channels are split.
            (try ConvolutionDescriptor(inputChannels: 64, outputChannels: 80, kernel: 1, stride: 2, activation: .relu),
             Size2D(14, 14), .gemm, "gemm_12x32"),
        ]
        for (d, input, algorithm, name) in cases {
            let c = ConvolutionCase(descriptor: d, batch: 2, input: input)
            let (x, w, b) = try c.data(seed: 21)
            var outputs: [Tensor] = []
            for threads in [1, 2, 3, 8] {
                let conv = try Convolution2D(descriptor: d, input: input, weights: w, bias: b, algorithm: algorithm,
                                             options: ConvolutionOptions(threads: threads, microKernel: name))
                var y = try Tensor(shape: conv.outputShape(batch: 2), repeating: .nan)
                try conv.run(x, into: &y)
                XCTAssertFalse(y.scalars.contains { $0.isNaN }, "\(name) threads \(threads)")
                outputs.append(y)
            }
            for o in outputs.dropFirst() { XCTAssertEqual(o, outputs[0], name) }
            try assertMatchesReference(c, algorithm: algorithm, seed: 21, options: ConvolutionOptions(threads: 3, microKernel: name))
        }
    }

    /// The transposed 1x1 with its input channels summed in halves (`splitsInputChannels`, a MobileNet projection's):
    /// 32- and 16-channel panels (and a 16-channel last one after 32-channel ones), depths that split at a panel boundary and past one weight block (384 at 32
    /// columns: halves of 192), output channels in a partial panel, batch 2, a residual — the same bits for 1, 2, 3
    /// and 8 threads (one worker adds each tile's halves itself, several keep them apart and add them after), every
    /// element of a NaN-filled output written, within 1e-4 of the reference. A plane that is not whole 7-position
    /// tiles keeps one chain of sums.
    func testInputChannelsSummedInHalvesGiveTheSameBitsForEveryThreadCount() throws {
        let cases: [(ConvolutionDescriptor, Size2D, String, Int)] = [
            (try ConvolutionDescriptor(inputChannels: 96, outputChannels: 160, kernel: 1, activation: .relu6), Size2D(7, 7), "gemm_7x32t", 32),
            (try ConvolutionDescriptor(inputChannels: 384, outputChannels: 64, kernel: 1), Size2D(14, 14), "gemm_7x32t", 192),
            (try ConvolutionDescriptor(inputChannels: 200, outputChannels: 40, kernel: 1, activation: .relu), Size2D(7, 14), "gemm_7x16t", 96),
            // EfficientNet's 112-channel projections: three 32-channel panels and a last one on gemm_7x16.
            (try ConvolutionDescriptor(inputChannels: 192, outputChannels: 112, kernel: 1, activation: .silu), Size2D(14, 14), "gemm_7x32t", 96),
        ]
        for (d, input, name, half) in cases {
            let c = ConvolutionCase(descriptor: d, batch: 2, input: input)
            let (x, w, b) = try c.data(seed: 31)
            var rng = SeededGenerator(seed: 32)
            let out = try d.outputSize(input: input)
            let residual = try Tensor.random(shape: [2, d.outputChannels, out.height, out.width], using: &rng)
            var outputs: [Tensor] = []
            for threads in [1, 2, 3, 8] {
                let options = ConvolutionOptions(threads: threads, microKernel: name, splitsInputChannels: true)
                let conv = try Convolution2D(descriptor: d, input: input, weights: w, bias: b, algorithm: .direct, options: options)
                XCTAssert(conv.summary.contains("input channels summed in halves at \(half)"), "\(name) \(d): \(conv.summary)")
                var y = try Tensor(shape: conv.outputShape(batch: 2), repeating: .nan)
                try conv.run(x, residual: residual, into: &y)
                XCTAssertFalse(y.scalars.contains { $0.isNaN }, "\(name) threads \(threads)")
                outputs.append(y)
            }
            for o in outputs.dropFirst() { XCTAssertEqual(o, outputs[0], "\(name) \(d)") }
            XCTAssert(try assertMatchesReference(c, algorithm: .direct, seed: 31,
                                                 options: ConvolutionOptions(threads: 2, microKernel: name, splitsInputChannels: true),
                                                 withResidual: true))
        }
        let d = try ConvolutionDescriptor(inputChannels: 96, outputChannels: 32, kernel: 1)
        let w = try Tensor(zeros: d.weightShape), b = try Tensor(zeros: [32])
        let conv = try Convolution2D(descriptor: d, input: Size2D(5, 3), weights: w, bias: b, algorithm: .direct,
                                     options: ConvolutionOptions(threads: 2, microKernel: "gemm_7x32t", splitsInputChannels: true))
        XCTAssertFalse(conv.summary.contains("halves"), conv.summary)
    }

    func testEveryAlgorithmWritesEveryOutputElement() throws {
        // `run(into:)` overwrites whatever the caller's output holds: a NaN-filled output must come back without
        // a NaN, equal to a fresh call's, for every algorithm and edge shape.
        for c in try ConvolutionGridTests.edgeCases() + WinogradTests.edgeCases(filter: 3) + WinogradTests.edgeCases(filter: 5) {
            let (x, w, b) = try c.data(seed: 5)
            for a in ConvolutionAlgorithm.allCases where a.supports(c.descriptor) {
                let conv = try Convolution2D(descriptor: c.descriptor, input: c.input, weights: w, bias: b, algorithm: a,
                                             options: ConvolutionOptions(threads: 2))
                var y = try Tensor(shape: conv.outputShape(batch: c.batch), repeating: .nan)
                try conv.run(x, into: &y)
                XCTAssertFalse(y.scalars.contains { $0.isNaN }, "\(a) \(c)")
                XCTAssertEqual(y, try conv(x), "\(a) \(c)")
            }
        }
    }

    func testRepeatedRunsIntoTheSameOutputAreStable() throws {
        // Prepare once, run many: later calls reuse pooled workspace and must not see earlier calls' data.
        let c = try Self.layerCase()
        let (x, w, b) = try c.data(seed: 13)
        let (x2, _, _) = try c.data(seed: 14)
        let conv = try Convolution2D(descriptor: c.descriptor, input: c.input, weights: w, bias: b, algorithm: .fft)
        let first = try conv(x)
        var y = try Tensor(shape: conv.outputShape(batch: 2), repeating: .nan)
        try conv.run(x2, into: &y)
        try conv.run(x, into: &y)
        XCTAssertEqual(y, first)
    }

    /// Thousands of tiny parallel calls (the worker pool's wake-up protocol), for several thread counts, from
    /// several threads at once: every call finishes and gives the single-thread bits.
    func testManySmallParallelCallsAgree() throws {
        let d = try ConvolutionDescriptor(inputChannels: 4, outputChannels: 16, kernel: 3, padding: 1, activation: .relu)
        let c = ConvolutionCase(descriptor: d, batch: 1, input: Size2D(6, 40))
        let (x, w, b) = try c.data(seed: 21)
        let expected = try Convolution2D(descriptor: d, input: c.input, weights: w, bias: b, algorithm: .direct)(x)
        for threads in [2, 3, 8] {
            let conv = try Convolution2D(descriptor: d, input: c.input, weights: w, bias: b, algorithm: .direct,
                                         options: ConvolutionOptions(threads: threads))
            let mismatches = UnsafeMutablePointer<Int>.allocate(capacity: 3)
            mismatches.initialize(repeating: 0, count: 3)
            defer { mismatches.deallocate() }
            DispatchQueue.concurrentPerform(iterations: 3) { caller in
                for _ in 0..<400 where (try? conv(x)) != expected { mismatches[caller] += 1 }
            }
            XCTAssertEqual(mismatches[0] + mismatches[1] + mismatches[2], 0, "threads \(threads)")
        }
    }
}
