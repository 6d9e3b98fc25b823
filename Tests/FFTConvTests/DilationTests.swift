import XCTest
import FFTConv
import FFTConvKernels

/// Dilated layers: kernel rows and columns that read only padding dropped (`withoutDeadTaps`), dilation phases as one
/// undilated Winograd layer (`DilationPhasesImplementation`), and the planner's and the FFT path's limits on them —
/// every one against the naive reference with the whole kernel.
final class DilationTests: XCTestCase {
    func c(_ cin: Int, _ cout: Int, _ k: Size2D, _ input: Size2D, dilation: Size2D, padding: Padding, stride: Size2D = 1,
           groups: Int = 1, batch: Int = 1, activation: Activation = .relu) throws -> ConvolutionCase {
        ConvolutionCase(descriptor: try ConvolutionDescriptor(inputChannels: cin, outputChannels: cout, kernel: k, stride: stride,
                                                              dilation: dilation, padding: padding, groups: groups,
                                                              activation: activation),
                        batch: batch, input: input)
    }

    func testDeadTapsAreFoundAndDropped() throws {
        // ASPP's dilation 36 on 28²: only the centre tap reads the input.
        let aspp = try ConvolutionDescriptor(inputChannels: 8, outputChannels: 4, kernel: 3, dilation: 36, padding: 36)
        let live = try XCTUnwrap(aspp.liveTaps(input: Size2D(28, 28)))
        XCTAssertEqual(live.rows, 1..<2)
        XCTAssertEqual(live.columns, 1..<2)
        let pruned = try XCTUnwrap(aspp.withoutDeadTaps(input: Size2D(28, 28)))
        XCTAssertEqual(pruned.descriptor.kernel, Size2D(1, 1))
        XCTAssertEqual(pruned.descriptor.dilation, Size2D(1, 1))
        XCTAssertEqual(pruned.descriptor.padding, Padding.zero)
        // Dilation 24 on 28²: every tap reads some pixel, nothing to drop; nor for an ordinary 3x3 layer.
        XCTAssertNil(try ConvolutionDescriptor(inputChannels: 8, outputChannels: 4, kernel: 3, dilation: 24, padding: 24)
            .withoutDeadTaps(input: Size2D(28, 28)))
        XCTAssertNil(try ConvolutionDescriptor(inputChannels: 8, outputChannels: 4, kernel: 3, padding: 1).withoutDeadTaps(input: Size2D(5, 5)))
        // Rows only (a 3-row map under dilation 4): a 1x3 kernel that keeps its column dilation.
        let rows = try XCTUnwrap(try ConvolutionDescriptor(inputChannels: 2, outputChannels: 3, kernel: 3, dilation: 4, padding: 4)
            .withoutDeadTaps(input: Size2D(3, 9)))
        XCTAssertEqual(rows.descriptor.kernel, Size2D(1, 3))
        XCTAssertEqual(rows.descriptor.dilation, Size2D(1, 4))
        XCTAssertEqual(rows.rows, 1..<2)
        XCTAssertEqual(rows.columns, 0..<3)
    }

    func testLayersWithDeadTapsMatchTheReference() throws {
        let cases = [
            try c(6, 5, 3, Size2D(5, 6), dilation: 7, padding: 7),  // a 1x1 layer
            try c(4, 6, 3, Size2D(3, 9), dilation: 4, padding: 4, batch: 2),  // rows only
            try c(4, 4, Size2D(3, 5), Size2D(9, 4), dilation: Size2D(2, 5), padding: Padding(top: 2, left: 10, bottom: 2, right: 10),
                  groups: 2),  // columns only, all but one, grouped
            try c(3, 5, 3, Size2D(8, 8), dilation: 6, padding: Padding(top: 6, left: 0, bottom: 0, right: 6), stride: 2),  // one side each
        ]
        for (i, k) in cases.enumerated() {
            for algorithm in [ConvolutionAlgorithm.direct, .gemm, .fft] {
                let options = ConvolutionOptions(threads: i % 2 + 1)
                XCTAssertTrue(try assertMatchesReference(k, algorithm: algorithm, seed: UInt64(10 + i), options: options, withResidual: i % 2 == 0))
                let (_, w, b) = try k.data(seed: 0)
                let conv = try Convolution2D(descriptor: k.descriptor, input: k.input, weights: w, bias: b, algorithm: algorithm, options: options)
                XCTAssertNotNil(conv.livePart, "\(k): no tap dropped")
                XCTAssertTrue(conv.summary.contains("live taps"), conv.summary)
            }
        }
    }

    func testDilationPhasesThroughWinogradMatchTheReference() throws {
        let cases = [
            try c(8, 12, 3, Size2D(9, 10), dilation: 2, padding: 2, groups: 2, batch: 2),  // short phases, groups, batch
            try c(5, 16, 3, Size2D(13, 11), dilation: 3, padding: 3),
            try c(6, 7, 5, Size2D(12, 12), dilation: 2, padding: 4),
            try c(4, 9, 3, Size2D(8, 7), dilation: Size2D(2, 1), padding: Padding(top: 2, left: 1, bottom: 2, right: 1)),
            try c(3, 4, 3, Size2D(6, 6), dilation: 4, padding: 4),  // gaps wider than a phase image
        ]
        var runs = 0
        for (i, k) in cases.enumerated() {
            for tile in WinogradRegistry.tiles(filter: k.descriptor.kernel.height) {
                let options = ConvolutionOptions(threads: (i + tile) % 3 + 1, winogradTile: tile)
                XCTAssertTrue(try assertMatchesReference(k, algorithm: .winograd, seed: UInt64(i * 7 + tile), options: options,
                                                         withResidual: (i + tile) % 2 == 0))
                let (_, w, b) = try k.data(seed: 0)
                let conv = try Convolution2D(descriptor: k.descriptor, input: k.input, weights: w, bias: b, algorithm: .winograd, options: options)
                XCTAssertTrue(conv.summary.contains("dilation phases"), conv.summary)
                runs += 1
            }
        }
        XCTAssertGreaterThanOrEqual(runs, 12)
    }

    func testLiveTapSumsMatchTheReference() throws {
        // Dilated layers whose taps reach past the input for many outputs: the direct and GEMM paths sum the taps, each
        // over the outputs where it reads the input. Groups, batch 2, a residual, stride 2, and outputs that read only
        // padding (the top rows under a padding of 6: bias, residual and activation alone; no tap covers the output).
        let cases = [
            try c(6, 8, 3, Size2D(7, 8), dilation: 5, padding: 5, groups: 2, batch: 2),
            try c(4, 6, 3, Size2D(11, 9), dilation: 4, padding: 4, stride: 2),
            try c(3, 5, 3, Size2D(5, 6), dilation: 2, padding: Padding(top: 6, left: 1, bottom: 0, right: 1), activation: .sigmoid),
        ]
        for (i, k) in cases.enumerated() {
            for algorithm in [ConvolutionAlgorithm.direct, .gemm] {
                let options = ConvolutionOptions(threads: i % 2 + 1)
                XCTAssertTrue(try assertMatchesReference(k, algorithm: algorithm, seed: UInt64(40 + i), options: options, withResidual: i != 1))
                let (_, w, b) = try k.data(seed: 0)
                let conv = try Convolution2D(descriptor: k.descriptor, input: k.input, weights: w, bias: b, algorithm: algorithm, options: options)
                XCTAssertTrue(conv.summary.contains("live taps summed"), conv.summary)
            }
        }
    }

    func testWinogradRefusesDilatedLayersWithoutSamePadding() throws {
        // Padding not a multiple of the dilation, or not "same": unsupported, and `supports` says so beforehand.
        for d in [try ConvolutionDescriptor(inputChannels: 4, outputChannels: 4, kernel: 3, dilation: 2, padding: 1),
                  try ConvolutionDescriptor(inputChannels: 4, outputChannels: 4, kernel: 3, dilation: 2, padding: 4)] {
            XCTAssertFalse(ConvolutionAlgorithm.winograd.supports(d))
            let w = try Tensor(zeros: d.weightShape)
            XCTAssertThrowsError(try Convolution2D(descriptor: d, input: Size2D(10, 10), weights: w, bias: try Tensor(zeros: [4]),
                                                   algorithm: .winograd)) { error in
                guard case ConvolutionError.unsupported = error else { return XCTFail("\(error)") }
            }
        }
    }

    func testPlannerTakesPhasesOrTheLiveTapsAndTheFFTPathRefusesHugeSpectra() throws {
        let planner = ConvolutionPlanner(mode: .estimate)
        // DeepLabV3's dilated ResNet-50 stages on 28²: Winograd on the phase grid; its ASPP at dilation 36: the 1x1 layer
        // the live taps leave (direct); at dilation 24 (18% of the products read the input) and 12 (51%, against a 47²
        // grid of 28² outputs) the taps summed on the direct path, never the FFT; at dilation 12 on 65² (77%) Winograd on
        // an 83² grid.
        let d2 = try ConvolutionDescriptor(inputChannels: 256, outputChannels: 256, kernel: 3, dilation: 2, padding: 2)
        XCTAssertEqual(planner.estimate(d2, input: Size2D(28, 28)).algorithm, .winograd)
        let d36 = try ConvolutionDescriptor(inputChannels: 2048, outputChannels: 256, kernel: 3, dilation: 36, padding: 36)
        XCTAssertEqual(planner.estimate(d36, input: Size2D(28, 28)).algorithm, .direct)
        let d24 = try ConvolutionDescriptor(inputChannels: 2048, outputChannels: 256, kernel: 3, dilation: 24, padding: 24)
        XCTAssertEqual(planner.estimate(d24, input: Size2D(28, 28)).algorithm, .direct)
        let d12 = try ConvolutionDescriptor(inputChannels: 2048, outputChannels: 256, kernel: 3, dilation: 12, padding: 12)
        XCTAssertEqual(planner.estimate(d12, input: Size2D(28, 28)).algorithm, .direct)
        XCTAssertEqual(planner.estimate(d12, input: Size2D(65, 65)).algorithm, .winograd)
        // Forced, the FFT path would need ~21 GB of spectra for it: a typed refusal, nothing allocated.
        let w = try Tensor(zeros: d24.weightShape)
        XCTAssertThrowsError(try Convolution2D(descriptor: d24, input: Size2D(28, 28), weights: w, bias: try Tensor(zeros: [256]),
                                               algorithm: .fft)) { error in
            guard case ConvolutionError.unsupported(let algorithm, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(algorithm, "fft")
            XCTAssertTrue(reason.contains("MB"), reason)
        }
    }
}
