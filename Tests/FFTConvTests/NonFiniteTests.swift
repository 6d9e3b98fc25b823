import FFTConv
import XCTest

/// Non-finite inputs: a NaN (or an infinity) in the input reaches every output whose window reads it, through every
/// algorithm and every fused activation — as in PyTorch and ONNX Runtime, whose ReLU and clip pass a NaN on — so that a
/// bad input shows in the output instead of being clipped into plausible numbers.
final class NonFiniteTests: XCTestCase {
    /// One NaN in an 8-channel 20×20 input of a 3x3 "same" layer: the 3×3 outputs around it are NaN in every output
    /// channel, for each algorithm (Winograd and the FFT mix a whole tile's inputs, so NaN may reach further there);
    /// on the direct, GEMM and depthwise paths every other output is finite.
    func testNaNReachesEveryOutputThatReadsIt() throws {
        let activations: [Activation] = [.none, .relu, .clip(min: 0, max: 6), .leakyReLU(alpha: 0.1), .hardSigmoid(alpha: 0.2, beta: 0.5),
                                         .hardSwish, .sigmoid, .silu, .tanh]
        for groups in [1, 8] {
            for activation in activations {
                let d = try ConvolutionDescriptor(inputChannels: 8, outputChannels: groups == 1 ? 16 : 8, kernel: 3, padding: 1,
                                                  groups: groups, activation: activation)
                let c = ConvolutionCase(descriptor: d, batch: 1, input: Size2D(20, 20))
                var (x, w, b) = try c.data(seed: 21)
                var values = x.scalars
                values[(1 * 20 + 9) * 20 + 9] = .nan
                x = try Tensor(shape: x.shape, values: values)
                var algorithms: [(ConvolutionAlgorithm, Int?)] = [(.direct, nil), (.gemm, nil), (.fft, nil), (.winograd, 2), (.winograd, 4), (.winograd, 6)]
                if groups > 1 { algorithms.append((.depthwise, nil)) }
                for (algorithm, tile) in algorithms {
                    let conv = try Convolution2D(descriptor: d, input: c.input, weights: w, bias: b, algorithm: algorithm,
                                                 options: ConvolutionOptions(winogradTile: tile))
                    let y = try conv(x).scalars
                    let exact = [.direct, .gemm, .depthwise].contains(algorithm)
                    for o in 0..<d.outputChannels where groups == 1 || o == 1 {
                        for i in 0..<20 {
                            for j in 0..<20 {
                                let v = y[(o * 20 + i) * 20 + j], reads = abs(i - 9) <= 1 && abs(j - 9) <= 1
                                if reads {
                                    XCTAssert(v.isNaN, "\(algorithm) F\(tile ?? 0) \(activation) groups \(groups): output \(o) at \(i),\(j) is \(v)")
                                } else if exact {
                                    XCTAssert(v.isFinite, "\(algorithm) \(activation) groups \(groups): output \(o) at \(i),\(j) is \(v)")
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The average pools and the standalone activation steps pass a NaN on (wherever it is: on a vector lane or in a
    /// scalar tail). Max pooling does not promise to: as ONNX Runtime's, it keeps the current maximum when a later
    /// window element is NaN (`PoolingKernels.verticalMax`; PyTorch's propagates it).
    func testNaNPassesThroughAveragePoolsAndActivations() throws {
        for (kernel, stride) in [(2, 2), (3, 2), (3, 1)] {
            for (i, j) in [(0, 0), (4, 5), (12, 37), (13, 38)] {
                var values = [Float](repeating: 0.5, count: 2 * 14 * 39)
                values[(14 + i) * 39 + j] = .nan
                let x = try Tensor(shape: [1, 2, 14, 39], values: values)
                let attributes = PoolingAttributes(kernel: Size2D(kernel, kernel), stride: Size2D(stride, stride))
                let y = try runNode(.averagePool(attributes), [("x", x)])
                let (oh, ow) = (y.shape[2], y.shape[3])
                for r in 0..<oh {
                    for c in 0..<ow {
                        let v = y.scalars[(oh + r) * ow + c]  // channel 1
                        let reads = (r * stride...(r * stride + kernel - 1)).contains(i) && (c * stride...(c * stride + kernel - 1)).contains(j)
                        XCTAssertEqual(v.isNaN, reads, "\(kernel)x\(kernel)/\(stride) average pool, NaN at \(i),\(j): output \(r),\(c) is \(v)")
                    }
                }
                let global = try runNode(.globalAveragePool, [("x", x)]).scalars
                XCTAssertTrue(global[1].isNaN && global[0] == 0.5, "\(global)")
                for activation in [Activation.relu, .clip(min: 0, max: 6), .leakyReLU(alpha: 0.1), .hardSigmoid(alpha: 0.2, beta: 0.5),
                                   .hardSwish, .sigmoid, .silu, .tanh] {
                    let out = try runNode(.activation(activation), [("x", x)]).scalars
                    XCTAssertEqual(out.indices.filter { out[$0].isNaN }, [(14 + i) * 39 + j], "\(activation)")
                }
            }
        }
    }
}
