import FFTConv
import XCTest

/// One convolution case: descriptor, input shape, and the seeded data for it.
struct ConvolutionCase: CustomStringConvertible {
    var descriptor: ConvolutionDescriptor
    var batch: Int
    var input: Size2D

    var description: String { "\(descriptor) on \(batch)x\(descriptor.inputChannels)x\(input.height)x\(input.width)" }

    /// Random input, weights and bias drawn from `seed`.
    func data(seed: UInt64) throws -> (x: Tensor, w: Tensor, b: Tensor?) {
        var rng = SeededGenerator(seed: seed)
        let x = try Tensor.random(shape: [batch, descriptor.inputChannels, input.height, input.width], using: &rng)
        let w = try Tensor.random(shape: descriptor.weightShape, using: &rng)
        let b = descriptor.hasBias ? try Tensor.random(shape: [descriptor.outputChannels], using: &rng) : nil
        return (x, w, b)
    }
}

/// The acceptance bound of the regression grid: max|y - ref| <= 1e-4 * max(1, max|ref|).
func assertMatchesReference(_ c: ConvolutionCase, algorithm: ConvolutionAlgorithm, seed: UInt64,
                            options: ConvolutionOptions = .init(), tolerance: Float = 1e-4,
                            file: StaticString = #filePath, line: UInt = #line) throws {
    let (x, w, b) = try c.data(seed: seed)
    let reference = try ReferenceConvolution.run(descriptor: c.descriptor, input: x, weights: w, bias: b)
    let conv = try Convolution2D(descriptor: c.descriptor, input: c.input, weights: w, bias: b,
                                 algorithm: algorithm, options: options)
    let y = try conv(x)
    XCTAssertEqual(y.shape, reference.shape, "\(algorithm) \(c)", file: file, line: line)
    let diff = try XCTUnwrap(y.maxAbsoluteDifference(reference), file: file, line: line)
    let bound = tolerance * max(1, reference.maxAbsolute)
    XCTAssert(diff <= bound, "\(algorithm) \(c) [\(conv.summary)]: max|y-ref| = \(diff) > \(bound)", file: file, line: line)
}
