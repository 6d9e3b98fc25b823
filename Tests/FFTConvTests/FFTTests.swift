import FFTConv
import Foundation
import XCTest

/// FFT-specific behaviour: polyphase strides, the memory budget, wisdom, prepared-memory reporting.
final class FFTTests: XCTestCase {
    func testPolyphaseStridesMatchReference() throws {
        for (stride, dilation, k) in [(Size2D(4, 4), Size2D(1, 1), 11), (Size2D(2, 2), Size2D(1, 1), 7), (Size2D(3, 2), Size2D(2, 1), 5),
                                      (Size2D(2, 3), Size2D(1, 2), 4)] {
            let d = try ConvolutionDescriptor(inputChannels: 3, outputChannels: 10, kernel: Size2D(k, k), stride: stride, dilation: dilation,
                                              padding: Padding(top: 2, left: 1, bottom: 3, right: 0), activation: .relu)
            let c = ConvolutionCase(descriptor: d, batch: 2, input: Size2D(41, 37))
            try assertMatchesReference(c, algorithm: .fft, seed: 9, options: ConvolutionOptions(threads: 2))
        }
    }

    func testMemoryBudgetPicksSmallerTilesOrSpectraPerCall() throws {
        let d = try ConvolutionDescriptor(inputChannels: 16, outputChannels: 24, kernel: 5, padding: 2)
        let c = ConvolutionCase(descriptor: d, batch: 1, input: Size2D(27, 27))
        let (_, w, b) = try c.data(seed: 3)
        let unlimited = try Convolution2D(descriptor: d, input: c.input, weights: w, bias: b, algorithm: .fft)
        let halved = try Convolution2D(descriptor: d, input: c.input, weights: w, bias: b, algorithm: .fft,
                                       options: ConvolutionOptions(fftMemoryBudget: unlimited.preparedBytes / 2))
        XCTAssertLessThanOrEqual(halved.preparedBytes, unlimited.preparedBytes / 2)
        XCTAssertFalse(halved.summary.contains("per call"), halved.summary)
        let tiny = try Convolution2D(descriptor: d, input: c.input, weights: w, bias: b, algorithm: .fft,
                                     options: ConvolutionOptions(fftMemoryBudget: 1))
        XCTAssert(tiny.summary.contains("spectra per call"), tiny.summary)
        XCTAssertLessThan(tiny.preparedBytes, halved.preparedBytes)
        for budget in [unlimited.preparedBytes / 2, 1] {
            try assertMatchesReference(c, algorithm: .fft, seed: 3, options: ConvolutionOptions(threads: 2, fftMemoryBudget: budget))
        }
    }

    func testWisdomRoundTrip() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fftconv-wisdom-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let d = try ConvolutionDescriptor(inputChannels: 2, outputChannels: 2, kernel: 3, hasBias: false)
        _ = try Convolution2D(descriptor: d, input: Size2D(20, 20), weights: try Tensor(zeros: d.weightShape), algorithm: .fft,
                              options: ConvolutionOptions(fftTile: Size2D(20, 20), fftPlanning: .measure))
        try FFTWisdom.exportFile(path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssert(text.contains("fftwf_wisdom"), text)
        try FFTWisdom.importFile(path)
        let garbage = path + ".bad"
        try "not wisdom".write(toFile: garbage, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: garbage) }
        XCTAssertThrowsError(try FFTWisdom.importFile(garbage))
    }
}
