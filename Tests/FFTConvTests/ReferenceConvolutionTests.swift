import Foundation
import FFTConv
import XCTest

/// The oracle itself, checked against values worked out by hand.
final class ReferenceConvolutionTests: XCTestCase {
    func testHandComputedCorrelationWithPaddingStrideAndBias() throws {
        // 1x1x3x3 input 1..9, 2x2 kernel [[1, 2], [3, 4]], padding 1, stride 2, bias 0.5.
        let d = try ConvolutionDescriptor(inputChannels: 1, outputChannels: 1, kernel: 2, stride: 2, padding: 1)
        let x = try Tensor(shape: [1, 1, 3, 3], values: (1...9).map(Float.init))
        let w = try Tensor(shape: [1, 1, 2, 2], values: [1, 2, 3, 4])
        let b = try Tensor(shape: [1], values: [0.5])
        let y = try ReferenceConvolution.run(descriptor: d, input: x, weights: w, bias: b)
        // Padded input (5x5) windows at (0,0), (0,2), (2,0), (2,2):
        // (0,0): 4*1 = 4;  (0,2): 3*2 + 4*3 = 18;  (2,0): 2*4 + 4*7 = 36;  (2,2): 1*5+2*6+3*8+4*9 = 77.
        XCTAssertEqual(y.shape, [1, 1, 2, 2])
        XCTAssertEqual(y.scalars, [4.5, 18.5, 36.5, 77.5])
    }

    func testGroupsDilationAndActivations() throws {
        // Two groups, one channel each; dilation 2 on a 1x5 row; kernel [1, -1] → x[i] - x[i+2].
        let x = try Tensor(shape: [1, 2, 1, 5], values: [1, 2, 4, 8, 16, -1, -2, -4, -8, -16])
        let w = try Tensor(shape: [2, 1, 1, 2], values: [1, -1, 2, 0])
        let expectations: [(Activation, [Float])] = [
            (.none, [-3, -6, -12, -2, -4, -8]),
            (.relu, [0, 0, 0, 0, 0, 0]),
            (.leakyReLU(alpha: 0.5), [-1.5, -3, -6, -1, -2, -4]),
            (.clip(min: -5, max: -2.5), [-3, -5, -5, -2.5, -4, -5]),
            // x · min(max(x/6 + 1/2, 0), 1): 0 at and below −3, −2 · 1/6 = −1/3.
            (.hardSwish, [0, 0, 0, -1.0 / 3, 0, 0]),
            // min(max(−0.1 x + 0.2, 0), 1).
            (.hardSigmoid(alpha: -0.1, beta: 0.2), [0.5, 0.8, 1, 0.4, 0.6, 1]),
            (.sigmoid, [Double]([-3, -6, -12, -2, -4, -8]).map { (t: Double) -> Float in Float(1 / (1 + Foundation.exp(-t))) }),
            (.silu, [Double]([-3, -6, -12, -2, -4, -8]).map { (t: Double) -> Float in Float(t / (1 + Foundation.exp(-t))) }),
        ]
        for (activation, expected) in expectations {
            let d = try ConvolutionDescriptor(inputChannels: 2, outputChannels: 2, kernel: Size2D(1, 2),
                                              dilation: Size2D(1, 2), groups: 2, hasBias: false, activation: activation)
            let y = try ReferenceConvolution.run(descriptor: d, input: x, weights: w, bias: nil)
            XCTAssertEqual(y.shape, [1, 2, 1, 3])
            for (v, e) in zip(y.scalars, expected) { XCTAssertEqual(v, e, accuracy: 1e-6, "\(activation)") }
            XCTAssertEqual(y.count, expected.count)
        }
    }

    func testAsymmetricPaddingAndBatch() throws {
        // Identity 1x1 kernel with pads (top 1, left 0, bottom 0, right 2): output is the input shifted, zero-filled.
        let d = try ConvolutionDescriptor(inputChannels: 1, outputChannels: 1, kernel: 1,
                                          padding: Padding(top: 1, left: 0, bottom: 0, right: 2), hasBias: false)
        let x = try Tensor(shape: [2, 1, 1, 2], values: [1, 2, 3, 4])
        let w = try Tensor(shape: [1, 1, 1, 1], values: [1])
        let y = try ReferenceConvolution.run(descriptor: d, input: x, weights: w, bias: nil)
        XCTAssertEqual(y.shape, [2, 1, 2, 4])
        XCTAssertEqual(y.scalars, [0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 3, 4, 0, 0])
    }
}
