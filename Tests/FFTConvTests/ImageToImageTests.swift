import FFTConv
import Foundation
import XCTest

/// The operators of image-to-image networks (style transfer, CycleGAN, super-resolution) against their definitions,
/// each written here independently of the library's loops.
final class ImageToImageTests: XCTestCase {
    /// The input index output index `o` reads, by bouncing off the edges until inside (reflect) or clamping (edge);
    /// nil outside a constant pad.
    func source(_ o: Int, before: Int, n: Int, mode: PadMode) -> Int? {
        var i = o - before
        switch mode {
        case .constant: return (0..<n).contains(i) ? i : nil
        case .edge: return min(max(i, 0), n - 1)
        case .reflect:
            while !(0..<n).contains(i) { i = i < 0 ? -i : 2 * (n - 1) - i }
            return i
        }
    }

    /// Pad in each mode — pads on every dimension, uneven, cropping (negative pads), the largest reflection a
    /// dimension allows — against a walk over every output index; over 2 threads on a tensor large enough to split;
    /// opset 18's `axes` input; and the pads each mode refuses.
    func testPadModesMatchTheirDefinitions() throws {
        var rng = SeededGenerator(seed: 41)
        let small = try Tensor.random(shape: [2, 3, 5, 7], using: &rng), large = try Tensor.random(shape: [1, 4, 130, 129], using: &rng)
        let cases: [(Tensor, [Int], PadMode)] = [
            (small, [0, 0, 2, 3, 0, 0, 1, 6], .reflect), (small, [0, 1, 4, 0, 1, 0, 0, 2], .reflect), (small, [0, 0, -1, 2, 0, 0, 3, -2], .reflect),
            (small, [1, 0, 2, 3, 0, 2, 1, 9], .edge), (small, [0, 0, 0, -3, 0, 0, 0, 4], .edge),
            (small, [0, 1, 2, -1, 1, 0, -2, 3], .constant), (small, [0, 0, 0, 10, 0, 0, 0, -13], .constant),  // only filled columns
            (large, [0, 0, 4, 4, 0, 0, 4, 4], .reflect), (large, [0, 0, 1, 3, 0, 0, 2, 0], .edge),
        ]
        for (x, pads, mode) in cases {
            for threads in [1, 2] {
                let y = try runNode(.pad(pads: pads, value: 1.5, mode: mode), [("x", x)], threads: threads)
                let out = (0..<4).map { x.shape[$0] + pads[$0] + pads[$0 + 4] }
                XCTAssertEqual(y.shape, out)
                let xs = x.scalars, ys = y.scalars
                var wrong = 0
                for (k, index) in indices(out).enumerated() {
                    let from = (0..<4).map { source(index[$0], before: pads[$0], n: x.shape[$0], mode: mode) }
                    var expected: Float = 1.5
                    if from.allSatisfy({ $0 != nil }) {
                        let f = from.map { $0 ?? 0 }
                        expected = xs[((f[0] * x.shape[1] + f[1]) * x.shape[2] + f[2]) * x.shape[3] + f[3]]
                    }
                    if ys[k] != expected { wrong += 1 }
                }
                XCTAssertEqual(wrong, 0, "\(mode) \(pads) on \(x.shape), \(threads) threads")
            }
        }
        // Opset 18: pads for the listed axes only.
        let byAxes = try runNode(.pad(pads: nil, value: 0, mode: .reflect), [("x", small)],
                                 constants: ["p": try Tensor(shape: [4], values: [2, 1, 3, 4]), "q": try Tensor(shape: [], values: [0]),
                                             "r": try Tensor(shape: [2], values: [-1, 2])])
        let full = try runNode(.pad(pads: [0, 0, 1, 2, 0, 0, 4, 3], value: 0, mode: .reflect), [("x", small)])
        XCTAssertEqual(byAxes.shape, full.shape)
        XCTAssertEqual(byAxes.scalars, full.scalars)
        // A reflection reaches at most size − 1 values past an edge; pads must cover every dimension.
        XCTAssertThrowsError(try runNode(.pad(pads: [0, 0, 5, 0, 0, 0, 0, 0], value: 0, mode: .reflect), [("x", small)]))
        XCTAssertThrowsError(try runNode(.pad(pads: [0, 0, 1, 1], value: 0, mode: .edge), [("x", small)]))
        XCTAssertThrowsError(try runNode(.pad(pads: [0, 0, Int.max, 0, 0, 0, 1, 0], value: 0, mode: .constant), [("x", small)]))  // no overflow trap
    }

    /// A Pad of zeros over H and W before a convolution becomes part of its padding (one step, "Pad+Conv") and gives
    /// the reference convolution of the padded input, under every algorithm the layer can take; a Pad of another
    /// value, by reflection, over channels, or also read elsewhere stays a step and gives the same as well.
    func testZeroPadBeforeAConvolutionIsItsPadding() throws {
        var rng = SeededGenerator(seed: 44)
        let x = try Tensor.random(shape: [2, 5, 13, 11], using: &rng)
        let d = try ConvolutionDescriptor(inputChannels: 5, outputChannels: 7, kernel: 3, stride: 2, padding: Padding(top: 1, left: 0, bottom: 0, right: 1))
        let w = try Tensor.random(shape: d.weightShape, using: &rng), b = try Tensor.random(shape: [7], using: &rng)
        func graph(_ pads: [Int], value: Float, mode: PadMode, alsoOutput: Bool = false) -> Graph {
            Graph(inputs: [Graph.Value(name: "x", shape: x.shape)], outputs: alsoOutput ? ["y", "p"] : ["y"], constants: ["w": w, "b": b],
                  nodes: [Graph.Node(name: "pad", operation: .pad(pads: pads, value: value, mode: mode), inputs: ["x"], outputs: ["p"]),
                          Graph.Node(name: "conv", operation: .convolution(d, autoPad: .explicit), inputs: ["p", "w", "b"], outputs: ["y"])])
        }
        let cases: [([Int], Float, PadMode, Bool, Bool)] = [  // pads, value, mode, also an output, folded
            ([0, 0, 2, 0, 0, 0, 1, 3], 0, .constant, false, true), ([0, 0, 0, 1, 0, 0, 0, 0], 0, .constant, false, true),
            ([0, 0, 2, 0, 0, 0, 1, 3], 0.5, .constant, false, false), ([0, 0, 2, 1, 0, 0, 1, 3], 0, .reflect, false, false),
            ([0, 0, 2, 0, 0, 0, 1, -1], 0, .constant, false, false), ([0, 0, 2, 0, 0, 0, 1, 3], 0, .constant, true, false),
        ]
        for (pads, value, mode, alsoOutput, folded) in cases {
            let padded = try runNode(.pad(pads: pads, value: value, mode: mode), [("x", x)])
            let reference = try ReferenceConvolution.run(descriptor: d, input: padded, weights: w, bias: b)
            for algorithm in [AlgorithmPolicy.auto, .fixed(.direct), .fixed(.gemm), .fixed(.fft), .fixed(.winograd)] {
                let network = try Network(graph: graph(pads, value: value, mode: mode, alsoOutput: alsoOutput),
                                          options: NetworkOptions(algorithm: algorithm))
                XCTAssertEqual(network.layers.count, folded ? 1 : 2, "\(pads) \(mode) \(value): \(network.layers.map(\.operation))")
                if folded { XCTAssertEqual(network.layers.first?.operation, "Pad+Conv") }
                let y = try XCTUnwrap(try network.predict(["x": x])["y"])
                XCTAssertEqual(y.shape, reference.shape)
                let worst = zip(y.scalars, reference.scalars).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(worst, 1e-4, "\(pads) \(mode) \(value) \(algorithm)")
            }
        }
    }

    /// InstanceNormalization against a double-precision walk: planes with a tail past whole vectors and planes split
    /// over 2 threads; a ReLU after it runs in its write-out (the network has one step) and is applied; scales of the
    /// wrong length are refused when the graph is built.
    func testInstanceNormalizationMatchesItsDefinition() throws {
        var rng = SeededGenerator(seed: 42)
        for (shape, threads) in [([2, 3, 9, 11], 1), ([1, 5, 120, 113], 2)] {
            let x = try Tensor.random(shape: shape, in: -1...3, using: &rng)
            let c = shape[1], plane = shape[2] * shape[3]
            let scale = try Tensor.random(shape: [c], using: &rng), bias = try Tensor.random(shape: [c], using: &rng)
            let graph = Graph(inputs: [Graph.Value(name: "x", shape: shape)], outputs: ["y"], constants: ["s": scale, "b": bias],
                              nodes: [Graph.Node(name: "norm", operation: .instanceNormalization(epsilon: 1e-3), inputs: ["x", "s", "b"], outputs: ["n"]),
                                      Graph.Node(name: "relu", operation: .activation(.relu), inputs: ["n"], outputs: ["y"])])
            let network = try Network(graph: graph, options: NetworkOptions(threads: threads))
            XCTAssertEqual(network.layers.count, 1, "\(network.layers.map(\.operation))")
            let y = try XCTUnwrap(try network.predict(["x": x])["y"]).scalars, xs = x.scalars
            var worst = 0.0
            for p in 0..<(shape[0] * c) {
                let values = (0..<plane).map { Double(xs[p * plane + $0]) }
                let mean = values.reduce(0, +) / Double(plane)
                let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(plane)
                for i in 0..<plane {
                    let expected = max(0, (values[i] - mean) / (variance + 1e-3).squareRoot() * Double(scale.scalars[p % c]) + Double(bias.scalars[p % c]))
                    worst = max(worst, abs(Double(y[p * plane + i]) - expected))
                }
            }
            XCTAssertLessThan(worst, 2e-5, "\(shape)")
        }
        // A constant plane (a black frame after a convolution's bias) normalises to its bias exactly: rounding noise in
        // the mean, divided by √ε, would not.
        let constant = try Tensor(shape: [1, 2, 80, 81], repeating: 0.3)
        let biased = try runNode(.instanceNormalization(epsilon: 1e-5), [("x", constant)],
                                 constants: ["s": try Tensor(shape: [2], values: [0.7, 1.3]), "t": try Tensor(shape: [2], values: [-0.25, 0.5])])
        XCTAssertEqual(Set(biased.scalars), [-0.25, 0.5])
        XCTAssertThrowsError(try runNode(.instanceNormalization(epsilon: 1e-5), [("x", try Tensor(zeros: [1, 3, 4, 4]))],
                                         constants: ["s": try Tensor(zeros: [3]), "t": try Tensor(zeros: [4])]))
    }

    /// An instance normalisation (with its ReLU) read only by a Pad over H and W writes the padded tensor itself, one
    /// step, in every mode — the same bits as the three steps apart; split over 2 threads; not when the normalised
    /// tensor is also a graph output.
    func testInstanceNormalizationWritesThePadAfterIt() throws {
        var rng = SeededGenerator(seed: 45)
        let x = try Tensor.random(shape: [2, 3, 120, 113], in: -1...2, using: &rng)  // 81 K floats: split
        let scale = try Tensor.random(shape: [3], using: &rng), bias = try Tensor.random(shape: [3], using: &rng)
        let normalized = try runNode(.activation(.relu), [("n", try runNode(.instanceNormalization(epsilon: 1e-5), [("x", x)],
                                                                           constants: ["s": scale, "t": bias]))])
        for (pads, mode, value, alsoOutput) in [([0, 0, 2, 1, 0, 0, 3, 4], PadMode.reflect, Float(0), false), ([0, 0, 0, 2, 0, 0, 1, 0], .edge, 0, false),
                                                ([0, 0, 1, 1, 0, 0, 2, 0], .constant, 0.5, false), ([0, 0, 1, 1, 0, 0, 1, 1], .reflect, 0, true)] {
            let expected = try runNode(.pad(pads: pads, value: value, mode: mode), [("r", normalized)])
            let graph = Graph(inputs: [Graph.Value(name: "x", shape: x.shape)], outputs: alsoOutput ? ["y", "r"] : ["y"],
                              constants: ["s": scale, "t": bias],
                              nodes: [Graph.Node(name: "norm", operation: .instanceNormalization(epsilon: 1e-5), inputs: ["x", "s", "t"], outputs: ["n"]),
                                      Graph.Node(name: "relu", operation: .activation(.relu), inputs: ["n"], outputs: ["r"]),
                                      Graph.Node(name: "pad", operation: .pad(pads: pads, value: value, mode: mode), inputs: ["r"], outputs: ["y"])])
            for threads in [1, 2] {
                let network = try Network(graph: graph, options: NetworkOptions(threads: threads))
                XCTAssertEqual(network.layers.map(\.operation), alsoOutput ? ["InstanceNormalization+Relu", "Pad"] : ["InstanceNormalization+Relu+Pad"])
                let y = try XCTUnwrap(try network.predict(["x": x])["y"])
                XCTAssertEqual(y.shape, expected.shape)
                XCTAssertEqual(y.scalars, expected.scalars, "\(mode) \(pads), \(threads) threads")
            }
        }
    }

    /// DepthToSpace in both orders and SpaceToDepth against ONNX's index formulas, and SpaceToDepth undoing
    /// DepthToSpace (DCR); channels or sizes the block does not divide are refused.
    func testDepthToSpaceAndSpaceToDepthMatchTheirDefinitions() throws {
        var rng = SeededGenerator(seed: 43)
        let b = 3
        for (shape, threads) in [([2, 18, 4, 5], 1), ([1, 18, 70, 61], 2)] {  // the second split over rows
            let x = try Tensor.random(shape: shape, using: &rng), xs = x.scalars
            let (c, h, w) = (shape[1] / 9, shape[2], shape[3])
            for crd in [false, true] {
                let y = try runNode(.depthToSpace(blockSize: b, columnRowDepth: crd), [("x", x)], threads: threads)
                XCTAssertEqual(y.shape, [shape[0], c, h * b, w * b])
                var wrong = 0
                for (k, index) in indices(y.shape).enumerated() {
                    let (n, ch, row, column) = (index[0], index[1], index[2], index[3]), (i, j) = (row % b, column % b)
                    let channel = crd ? ch * b * b + i * b + j : (i * b + j) * c + ch
                    if y.scalars[k] != xs[((n * shape[1] + channel) * h + row / b) * w + column / b] { wrong += 1 }
                }
                XCTAssertEqual(wrong, 0, "\(crd ? "CRD" : "DCR") \(shape)")
                if !crd {
                    let back = try runNode(.spaceToDepth(blockSize: b), [("d", y)])
                    XCTAssertEqual(back.shape, x.shape)
                    XCTAssertEqual(back.scalars, xs)
                }
            }
        }
        let z = try Tensor.random(shape: [1, 2, 4, 6], using: &rng)
        let s = try runNode(.spaceToDepth(blockSize: 2), [("z", z)])
        XCTAssertEqual(s.shape, [1, 8, 2, 3])
        for index in indices(s.shape) {
            let (c, h, w) = (index[1], index[2], index[3]), block = c / 2, (i, j) = (block / 2, block % 2)
            XCTAssertEqual(s.scalars[(c * 2 + h) * 3 + w], z.scalars[((c % 2) * 4 + h * 2 + i) * 6 + w * 2 + j])
        }
        XCTAssertThrowsError(try runNode(.depthToSpace(blockSize: 4, columnRowDepth: false), [("x", try Tensor(zeros: [1, 18, 2, 2]))]))
        XCTAssertThrowsError(try runNode(.spaceToDepth(blockSize: 3), [("z", z)]))
        XCTAssertThrowsError(try runNode(.depthToSpace(blockSize: Int.max, columnRowDepth: false), [("z", z)]))  // no overflow trap
        XCTAssertThrowsError(try runNode(.spaceToDepth(blockSize: Int.max), [("z", z)]))
    }

    /// Each element-wise function against its double-precision formula, over −9…9 with a tail past whole vectors,
    /// split over 2 threads on a large tensor (Tanh: the vector form both the Tanh step and a convolution's write-out use).
    func testElementWiseFunctionsMatchTheirFormulas() throws {
        let values = (0..<(1 << 16) + 203).map { Float($0 % 1999 - 999) / 111 }
        let x = try Tensor(shape: [1, 1, values.count], values: values)
        let positive = try Tensor(shape: x.shape, values: values.map { abs($0) + 0.01 })
        func softplus(_ v: Double) -> Double { Foundation.log(1 + Foundation.exp(v)) }
        let cases: [(UnaryFunction, (Double) -> Double, Bool)] = [
            (.exp, { Foundation.exp($0) }, false), (.log, { Foundation.log($0) }, true), (.abs, { abs($0) }, false), (.neg, { -$0 }, false),
            (.reciprocal, { 1 / $0 }, true), (.softplus, softplus, false), (.softsign, { $0 / (1 + abs($0)) }, false),
            (.mish, { $0 * Foundation.tanh(softplus($0)) }, false), (.tanh, { Foundation.tanh($0) }, false), (.elu(alpha: 0.7), { $0 > 0 ? $0 : 0.7 * (Foundation.exp($0) - 1) }, false),
            (.celu(alpha: 1.3), { max(0, $0) + min(0, 1.3 * (Foundation.exp($0 / 1.3) - 1)) }, false),
            (.selu(alpha: 1.6732632, gamma: 1.050701), { 1.050701 * ($0 > 0 ? $0 : 1.6732632 * (Foundation.exp($0) - 1)) }, false),
        ]
        for (f, formula, needsPositive) in cases {
            for threads in [1, 2] {
                let input = needsPositive ? positive : x
                let y = try runNode(.unary(f), [("x", input)], threads: threads).scalars
                var worst = 0.0
                for (v, out) in zip(input.scalars, y) {
                    let expected = formula(Double(v))
                    worst = max(worst, abs(Double(out) - expected) / max(1, abs(expected)))
                }
                XCTAssertLessThan(worst, 1e-6, "\(f.name), \(threads) threads")
            }
        }
    }
}
