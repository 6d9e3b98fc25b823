import FFTConv
import Foundation
import XCTest

/// The README's library example, run as written (with a temporary .npy file), so it cannot rot.
final class ReadmeExampleTests: XCTestCase {
    func testReadmeExample() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fftconv-readme-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var inputRNG = SeededGenerator(seed: 2)
        try Tensor.random(shape: [2, 64, 27, 27], using: &inputRNG).writeNPY(to: dir + "/input.npy")

        let d = try ConvolutionDescriptor(inputChannels: 64, outputChannels: 192, kernel: 5, padding: 2,
                                          activation: .relu)
        var rng = SeededGenerator(seed: 1)
        let weights = try Tensor.random(shape: d.weightShape, in: -0.1...0.1, using: &rng)
        let bias = try Tensor(zeros: [192])
        let conv = try Convolution2D(descriptor: d, input: Size2D(27, 27), weights: weights, bias: bias,
                                     algorithm: .fft, options: ConvolutionOptions(threads: 2))
        let x = try Tensor(contentsOfNPY: dir + "/input.npy")
        let y = try conv(x)
        try y.writeNPY(to: dir + "/output.npy")
        let expected = try ReferenceConvolution.run(descriptor: d, input: x, weights: weights, bias: bias)

        XCTAssertEqual(y.shape, [2, 192, 27, 27])
        XCTAssertLessThanOrEqual(try XCTUnwrap(y.maxAbsoluteDifference(expected)), 1e-4 * max(1, expected.maxAbsolute))
        XCTAssertEqual(try Tensor(contentsOfNPY: dir + "/output.npy"), y)
    }
}
