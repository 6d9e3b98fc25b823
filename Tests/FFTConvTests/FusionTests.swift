import FFTConv
import FFTConvKernels
import XCTest

/// A 1x1 layer read only by a depthwise layer runs as one fused step (`NetworkOptions.fusesPointwiseDepthwise`):
/// the same bits as the two layers run apart, and the reference convolutions' result.
final class FusionTests: XCTestCase {
    /// Outputs left unzeroed are NaN-filled, so an element the fused step misses fails the comparison.
    override func setUp() { BufferCache.fillsUnzeroedTensorsWithNaN = true }

    struct Pair {
        var cin: Int, mid: Int, input: Size2D, batch: Int
        var kernel: Int, stride: Int, padding: Int, dilation: Int = 1
        var pointwiseActivation: Activation, depthwiseActivation: Activation
        var pointwiseBias = true
        /// Also a graph output: the 1x1 result is read twice, so it must be kept (never fused).
        var pointwiseIsOutput = false

        func descriptors() throws -> (ConvolutionDescriptor, ConvolutionDescriptor) {
            (try ConvolutionDescriptor(inputChannels: cin, outputChannels: mid, kernel: 1, hasBias: pointwiseBias, activation: pointwiseActivation),
             try ConvolutionDescriptor(inputChannels: mid, outputChannels: mid, kernel: Size2D(kernel, kernel), stride: Size2D(stride, stride),
                                       dilation: Size2D(dilation, dilation), padding: Padding(top: padding, left: padding, bottom: padding, right: padding), groups: mid,
                                       activation: depthwiseActivation))
        }
    }

    /// The pair's network, its input, and the chained reference convolutions' output.
    func build(_ c: Pair, seed: UInt64, threads: Int, fused: Bool) throws -> (Network, Tensor, Tensor) {
        let (pd, dd) = try c.descriptors()
        var rng = SeededGenerator(seed: seed)
        let x = try Tensor.random(shape: [c.batch, c.cin, c.input.height, c.input.width], using: &rng)
        let wp = try Tensor.random(shape: pd.weightShape, using: &rng), bp = try Tensor.random(shape: [c.mid], using: &rng)
        let wd = try Tensor.random(shape: dd.weightShape, using: &rng), bd = try Tensor.random(shape: [c.mid], using: &rng)
        let nodes = [Graph.Node(name: "expand", operation: .convolution(pd, autoPad: .explicit),
                                inputs: c.pointwiseBias ? ["x", "wp", "bp"] : ["x", "wp"], outputs: ["e"]),
                     Graph.Node(name: "dw", operation: .convolution(dd, autoPad: .explicit), inputs: ["e", "wd", "bd"], outputs: ["y"])]
        let graph = Graph(inputs: [Graph.Value(name: "x", shape: x.shape)], outputs: c.pointwiseIsOutput ? ["y", "e"] : ["y"],
                          constants: ["wp": wp, "bp": bp, "wd": wd, "bd": bd], nodes: nodes)
        let network = try Network(graph: graph, options: NetworkOptions(threads: threads, fusesPointwiseDepthwise: fused))
        let e = try ReferenceConvolution.run(descriptor: pd, input: x, weights: wp, bias: c.pointwiseBias ? bp : nil)
        let reference = try ReferenceConvolution.run(descriptor: dd, input: e, weights: wd, bias: bd)
        return (network, x, reference)
    }

    func testFusedPairGivesTheSameBitsAsTheLayersApart() throws {
        let pairs = [
            // MobileNetV2-like: 56²-class plane at stride 1, 14² here; channels a whole number of 32-channel panels.
            Pair(cin: 24, mid: 96, input: Size2D(14, 14), batch: 1, kernel: 3, stride: 1, padding: 1,
                 pointwiseActivation: .relu6, depthwiseActivation: .relu6),
            // Stride 2 on odd sides; 40 channels: a half panel, a partial 16-channel block; no 1x1 bias.
            Pair(cin: 16, mid: 40, input: Size2D(9, 11), batch: 1, kernel: 3, stride: 2, padding: 1,
                 pointwiseActivation: .relu, depthwiseActivation: .none, pointwiseBias: false),
            // 5x5 (the general blocked kernel), positions not a multiple of 7, batch 2.
            Pair(cin: 8, mid: 16, input: Size2D(5, 6), batch: 2, kernel: 5, stride: 1, padding: 2,
                 pointwiseActivation: .leakyReLU(alpha: 0.1), depthwiseActivation: .relu6),
            // 7² plane, many input channels (one long chain of 200 products per output).
            Pair(cin: 200, mid: 64, input: Size2D(7, 7), batch: 1, kernel: 3, stride: 1, padding: 1,
                 pointwiseActivation: .none, depthwiseActivation: .relu),
        ]
        for (i, c) in pairs.enumerated() {
            for threads in [1, 2] {
                let (fused, x, reference) = try build(c, seed: UInt64(10 + i), threads: threads, fused: true)
                let (apart, _, _) = try build(c, seed: UInt64(10 + i), threads: threads, fused: false)
                XCTAssertEqual(fused.layers.contains { $0.algorithm.hasPrefix("fused 1x1 + depthwise") }, KernelTarget.wideRegisters,
                               "pair \(i): fused only on builds with 16-float registers (dw_blocked16)")
                XCTAssertFalse(apart.layers.contains { $0.algorithm.hasPrefix("fused") })
                let y = try fused(x), z = try apart(x)
                XCTAssertEqual(y.shape, reference.shape)
                XCTAssertEqual(y, z, "pair \(i), \(threads) threads: fused and separate layers differ")
                let diff = try XCTUnwrap(y.maxAbsoluteDifference(reference))
                XCTAssertLessThanOrEqual(diff, 1e-4 * max(1, reference.maxAbsolute), "pair \(i), \(threads) threads")
                XCTAssertGreaterThan(reference.maxAbsolute, 0)
            }
        }
    }

    func testPairsThatCannotFuseRunApart() throws {
        let pairs = [
            // The 1x1 result is also a graph output.
            Pair(cin: 8, mid: 32, input: Size2D(7, 7), batch: 1, kernel: 3, stride: 1, padding: 1,
                 pointwiseActivation: .relu, depthwiseActivation: .relu, pointwiseIsOutput: true),
            // Dilation 2: not a dw_blocked16 layer.
            Pair(cin: 8, mid: 32, input: Size2D(12, 12), batch: 1, kernel: 3, stride: 1, padding: 2, dilation: 2,
                 pointwiseActivation: .relu, depthwiseActivation: .relu),
            // A 112² plane: the depthwise layer runs on another kernel.
            Pair(cin: 4, mid: 16, input: Size2D(112, 112), batch: 1, kernel: 3, stride: 1, padding: 1,
                 pointwiseActivation: .relu6, depthwiseActivation: .relu6),
        ]
        for (i, c) in pairs.enumerated() {
            let (network, x, reference) = try build(c, seed: UInt64(30 + i), threads: 1, fused: true)
            XCTAssertFalse(network.layers.contains { $0.algorithm.hasPrefix("fused") }, "pair \(i)")
            let y = try XCTUnwrap(network.predict(["x": x])["y"])
            let diff = try XCTUnwrap(y.maxAbsoluteDifference(reference))
            XCTAssertLessThanOrEqual(diff, 1e-4 * max(1, reference.maxAbsolute), "pair \(i)")
        }
    }
}
