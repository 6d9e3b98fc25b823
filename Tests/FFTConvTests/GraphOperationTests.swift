import FFTConv
import FFTConvKernels
import Foundation
import XCTest

/// Graph operations other than convolution and pooling, where they split work over threads.
final class GraphOperationTests: XCTestCase {
    func testConcatOverThreadsPlacesEveryValue() throws {
        var rng = SeededGenerator(seed: 12)
        // Large enough (≥ 128 K floats) to be split into 16 K-float runs over threads; rows of uneven length.
        let a = try Tensor.random(shape: [2, 3, 61, 137], using: &rng), b = try Tensor.random(shape: [2, 5, 61, 137], using: &rng)
        let plane = 61 * 137
        for axis in [1, -3] {
            for threads in [1, 2, 3] {
                let node = Graph.Node(name: "cat", operation: .concat(axis: axis), inputs: ["a", "b"], outputs: ["y"])
                let graph = Graph(inputs: [Graph.Value(name: "a", shape: a.shape), Graph.Value(name: "b", shape: b.shape)],
                                  outputs: ["y"], constants: [:], nodes: [node])
                let y = try Network(graph: graph, options: NetworkOptions(threads: threads)).predict(["a": a, "b": b])["y"]
                let out = try XCTUnwrap(y)
                XCTAssertEqual(out.shape, [2, 8, 61, 137])
                for n in 0..<2 {
                    for c in 0..<8 {
                        let src = c < 3 ? a.scalars[((n * 3 + c) * plane)..<((n * 3 + c + 1) * plane)]
                                        : b.scalars[((n * 5 + c - 3) * plane)..<((n * 5 + c - 2) * plane)]
                        XCTAssertEqual(Array(out.scalars[((n * 8 + c) * plane)..<((n * 8 + c + 1) * plane)]), Array(src),
                                       "axis \(axis) threads \(threads) n \(n) c \(c)")
                    }
                }
            }
        }
    }

    /// Same-shape arithmetic (≥ 256 K floats: 16 K-float runs over threads) and GELU (≥ 64 K: 8 K-float runs) give
    /// every element, the same at 1, 2 and 3 threads.
    func testElementWiseStepsOverThreadsWriteEveryValue() throws {
        var rng = SeededGenerator(seed: 13)
        let a = try Tensor.random(shape: [1, 7, 203, 199], using: &rng), b = try Tensor.random(shape: [1, 7, 203, 199], using: &rng)
        let (sa, sb) = (a.scalars, b.scalars)
        for threads in [1, 2, 3] {
            let nodes = [Graph.Node(name: "mul", operation: .mul, inputs: ["a", "b"], outputs: ["m"]),
                         Graph.Node(name: "gelu", operation: .gelu(tanhApproximation: false), inputs: ["a"], outputs: ["g"])]
            let graph = Graph(inputs: [Graph.Value(name: "a", shape: a.shape), Graph.Value(name: "b", shape: b.shape)],
                              outputs: ["m", "g"], constants: [:], nodes: nodes)
            let out = try Network(graph: graph, options: NetworkOptions(threads: threads)).predict(["a": a, "b": b])
            let m = try XCTUnwrap(out["m"]).scalars, g = try XCTUnwrap(out["g"]).scalars
            XCTAssertEqual(m, zip(sa, sb).map { $0 * $1 }, "threads \(threads)")
            XCTAssertEqual(g, sa.map { VectorMath.gelu($0, tanh: false) }, "threads \(threads)")
        }
    }
}

/// ReduceMean, broadcasting arithmetic, Slice, Transpose, Resize, ConvTranspose and LRN against naive index walks.
final class ReductionAndBroadcastTests: XCTestCase {
    override func setUp() { BufferCache.fillsUnzeroedTensorsWithNaN = true }

    func run(_ op: GraphOperation, _ inputs: [(String, Tensor)], constants: [String: Tensor] = [:]) throws -> Tensor {
        try runNode(op, inputs, constants: constants)
    }

    /// Strides of `shape` in elements, and the flat index of `index` broadcast onto a tensor of `shape`.
    func flat(_ index: [Int], in shape: [Int]) -> Int {
        let padded = [Int](repeating: 1, count: index.count - shape.count) + shape
        var f = 0
        for d in 0..<index.count { f = f * padded[d] + (padded[d] == 1 ? 0 : index[d]) }
        return f
    }

    func testReduceMeanOverAnyAxesMatchesANaiveMean() throws {
        var rng = SeededGenerator(seed: 31)
        let x = try Tensor.random(shape: [2, 3, 4, 5], using: &rng)
        let cases: [([Int]?, [Int])] = [([2, 3], [2, 3]), ([-1, -2], [2, 3]), ([1], [1]), ([0, 2], [0, 2]), ([3], [3]),
                                        (nil, [0, 1, 2, 3]), ([1, 2, 3], [1, 2, 3])]
        for (axes, reduced) in cases {
            for keepDims in [true, false] {
                let y = try run(.reduceMean(axes: axes, keepDims: keepDims, noopWithEmptyAxes: false), [("x", x)])
                let kept = x.shape.enumerated().map { reduced.contains($0.offset) ? 1 : $0.element }
                XCTAssertEqual(y.shape, keepDims ? kept : x.shape.enumerated().filter { !reduced.contains($0.offset) }.map(\.element),
                               "\(String(describing: axes)) keepDims \(keepDims)")
                var sums = [Double](repeating: 0, count: kept.reduce(1, *))
                for i in indices(x.shape) { sums[flat(i.enumerated().map { reduced.contains($0.offset) ? 0 : $0.element }, in: kept)] += Double(x.scalars[flat(i, in: x.shape)]) }
                let n = Double(reduced.map { x.shape[$0] }.reduce(1, *))
                for (k, s) in sums.enumerated() {
                    XCTAssertEqual(Double(y.scalars[k]), s / n, accuracy: 1e-6, "\(String(describing: axes)) keepDims \(keepDims) at \(k)")
                }
            }
        }
        // Axes as a constant input (opset 18), and the no-op form.
        let y = try run(.reduceMean(axes: nil, keepDims: true, noopWithEmptyAxes: false), [("x", x)],
                        constants: ["axes": try Tensor(shape: [1], values: [1])])
        XCTAssertEqual(y.shape, [2, 1, 4, 5])
        let same = try run(.reduceMean(axes: [], keepDims: true, noopWithEmptyAxes: true), [("x", x)])
        XCTAssertEqual(same.scalars, x.scalars)
        XCTAssertThrowsError(try run(.reduceMean(axes: [4], keepDims: true, noopWithEmptyAxes: false), [("x", x)]))
        XCTAssertThrowsError(try run(.reduceMean(axes: [1, -3], keepDims: true, noopWithEmptyAxes: false), [("x", x)]))
    }

    /// A batch normalisation with no convolution before it (DenseNet's) runs as one step with the activation it feeds,
    /// its statistics constant or given as inputs; a one-input Concat passes its input on (with constant statistics,
    /// the normalisation reads it itself).
    func testStandaloneBatchNormalizationTakesItsActivation() throws {
        var rng = SeededGenerator(seed: 35)
        let x = try Tensor.random(shape: [2, 3, 5, 9], using: &rng)
        let stats = try (0..<4).map { i in try Tensor(shape: [3], values: try Tensor.random(shape: [3], using: &rng).scalars.map { i == 3 ? abs($0) + 0.5 : $0 }) }
        let names = ["scale", "bias", "mean", "var"]
        for constantStatistics in [true, false] {
            for activation in [Activation.relu, .silu] {
                let nodes = [Graph.Node(name: "cat", operation: .concat(axis: 1), inputs: ["x"], outputs: ["c"]),
                             Graph.Node(name: "bn", operation: .batchNormalization(epsilon: 1e-3), inputs: ["c"] + names, outputs: ["b"]),
                             Graph.Node(name: "act", operation: .activation(activation), inputs: ["b"], outputs: ["y"])]
                let statValues = Dictionary(uniqueKeysWithValues: zip(names, stats))
                let graph = Graph(inputs: [Graph.Value(name: "x", shape: x.shape)] + (constantStatistics ? [] : names.map { Graph.Value(name: $0, shape: [3]) }),
                                  outputs: ["y"], constants: constantStatistics ? statValues : [:], nodes: nodes)
                let network = try Network(graph: graph)
                let fused = "BatchNormalization+\(activation == .relu ? "Relu" : "silu")"
                XCTAssert(network.layers.contains { $0.operation == (constantStatistics ? "Concat+" + fused : fused) },
                          "\(network.layers.map(\.operation))")
                let y = try XCTUnwrap(try network.predict(["x": x].merging(constantStatistics ? [:] : statValues) { a, _ in a })["y"])
                for i in indices(x.shape) {
                    let c = i[1], v = Double(x.scalars[flat(i, in: x.shape)])
                    let n = (v - Double(stats[2].scalars[c])) / (Double(stats[3].scalars[c]) + 1e-3).squareRoot() * Double(stats[0].scalars[c])
                        + Double(stats[1].scalars[c])
                    XCTAssertEqual(Double(y.scalars[flat(i, in: x.shape)]), activation.apply(n), accuracy: 1e-5, "\(activation) at \(i)")
                }
            }
        }
    }

    /// A batch normalisation with constant statistics reading a channel Concat that nothing else reads (DenseNet's
    /// `norm1` after `torch.cat`) reads the Concat's inputs itself: one step, each piece into its channels; batch 2,
    /// pieces of 3, 1 and 6 channels, 135 K floats (split over threads from 32 K), against the definition at 1, 2 and 3
    /// threads. A Concat also read by another node, or one that is a graph output, stays a step of its own.
    func testBatchNormalizationReadsTheConcatenationsInputs() throws {
        var rng = SeededGenerator(seed: 37)
        let channels = [3, 1, 6], total = 10, plane = 67 * 101
        let pieces = try channels.map { try Tensor.random(shape: [2, $0, 67, 101], using: &rng) }
        let stats = try (0..<4).map { i in try Tensor(shape: [total], values: try Tensor.random(shape: [total], using: &rng).scalars.map { i == 3 ? abs($0) + 0.5 : $0 }) }
        let names = ["scale", "bias", "mean", "var"], inputs = ["p0", "p1", "p2"]
        let values = pieces.map(\.scalars), s = stats.map(\.scalars)
        func expected(_ n: Int, _ c: Int, _ p: Int) -> Double {
            var piece = 0, ch = c
            while ch >= channels[piece] { ch -= channels[piece]; piece += 1 }
            let v = Double(values[piece][(n * channels[piece] + ch) * plane + p])
            let y = (v - Double(s[2][c])) / (Double(s[3][c]) + 1e-3).squareRoot() * Double(s[0][c]) + Double(s[1][c])
            return Swift.max(y, 0)
        }
        // 0: the Concat read by the normalisation alone; 1: also by a second node; 2: also a graph output.
        for shared in 0..<3 {
            for threads in [1, 2, 3] {
                var nodes = [Graph.Node(name: "cat", operation: .concat(axis: shared == 0 ? -3 : 1), inputs: inputs, outputs: ["c"]),
                             Graph.Node(name: "bn", operation: .batchNormalization(epsilon: 1e-3), inputs: ["c"] + names, outputs: ["b"]),
                             Graph.Node(name: "act", operation: .activation(.relu), inputs: ["b"], outputs: ["y"])]
                if shared == 1 { nodes.append(Graph.Node(name: "other", operation: .activation(.relu), inputs: ["c"], outputs: ["z"])) }
                let graph = Graph(inputs: zip(inputs, pieces).map { Graph.Value(name: $0, shape: $1.shape) },
                                  outputs: shared == 0 ? ["y"] : ["y", shared == 1 ? "z" : "c"],
                                  constants: Dictionary(uniqueKeysWithValues: zip(names, stats)), nodes: nodes)
                let network = try Network(graph: graph, options: NetworkOptions(threads: threads))
                let operations = network.layers.map(\.operation)
                XCTAssertEqual(operations.contains("Concat+BatchNormalization+Relu"), shared == 0, "\(shared): \(operations)")
                XCTAssertEqual(operations.contains("Concat"), shared != 0, "\(shared): \(operations)")
                let y = try XCTUnwrap(try network.predict(Dictionary(uniqueKeysWithValues: zip(inputs, pieces)))["y"])
                XCTAssertEqual(y.shape, [2, total, 67, 101])
                var wrong = 0
                let got = y.scalars
                for n in 0..<2 {
                    for c in 0..<total {
                        for p in 0..<plane where abs(Double(got[(n * total + c) * plane + p]) - expected(n, c, p)) > 1e-5 { wrong += 1 }
                    }
                }
                XCTAssertEqual(wrong, 0, "shared \(shared), \(threads) threads: values off the definition")
            }
        }
    }

    /// PRelu with one slope, one per channel (batch 2), one per row (a slope of shape `[H, 1]`) and a broadcast the
    /// fast path does not take (`[W]`): against `x ≥ 0 ? x : slope · x` element by element.
    func testPReluMatchesANaiveWalk() throws {
        var rng = SeededGenerator(seed: 36)
        let x = try Tensor.random(shape: [2, 3, 4, 5], using: &rng)
        for slopeShape in [[1], [3, 1, 1], [1, 3, 1, 1], [4, 1], [5], [2, 3, 4, 5]] {
            let slope = try Tensor.random(shape: slopeShape, using: &rng)
            let y = try run(.prelu, [("x", x)], constants: ["s": slope])
            XCTAssertEqual(y.shape, x.shape)
            for i in indices(x.shape) {
                let v = x.scalars[flat(i, in: x.shape)], a = slope.scalars[flat(i, in: slopeShape)]
                XCTAssertEqual(y.scalars[flat(i, in: x.shape)], v >= 0 ? v : v * a, "\(slopeShape) at \(i)")
            }
        }
        XCTAssertThrowsError(try run(.prelu, [("x", x)], constants: ["s": try Tensor(zeros: [7])]))
    }

    /// Slices that copy whole trailing runs (a channel split), runs of one row, strided and reversed axes.
    func testSliceMatchesANaiveWalk() throws {
        var rng = SeededGenerator(seed: 33)
        let x = try Tensor.random(shape: [2, 6, 5, 7], using: &rng)
        let cases: [(starts: [Int], ends: [Int], axes: [Int], steps: [Int])] = [
            ([0], [3], [1], [1]), ([3], [6], [1], [1]), ([1], [2], [0], [1]), ([1, 2], [4, 6], [2, 3], [1, 1]),
            ([0], [7], [3], [2]), ([-1], [-100], [1], [-1]), ([0, 1], [6, 5], [1, 2], [2, 2]), ([2], [100], [-1], [1]),
            ([0, 0, 0, 0], [2, 6, 5, 7], [0, 1, 2, 3], [1, 1, 1, 1]), ([4], [1], [3], [-2]),
        ]
        for c in cases {
            let constants = ["s": try Tensor(shape: [c.starts.count], values: c.starts.map(Float.init)),
                             "e": try Tensor(shape: [c.ends.count], values: c.ends.map(Float.init)),
                             "a": try Tensor(shape: [c.axes.count], values: c.axes.map(Float.init)),
                             "t": try Tensor(shape: [c.steps.count], values: c.steps.map(Float.init))]
            let node = Graph.Node(name: "slice", operation: .slice, inputs: ["x", "s", "e", "a", "t"], outputs: ["y"])
            let graph = Graph(inputs: [Graph.Value(name: "x", shape: x.shape)], outputs: ["y"], constants: constants, nodes: [node])
            let y = try XCTUnwrap(try Network(graph: graph).predict(["x": x])["y"])
            // numpy's rule per axis.
            var picks = x.shape.map { Array(0..<$0) }
            for (i, a0) in c.axes.enumerated() {
                let a = a0 < 0 ? a0 + 4 : a0, n = x.shape[a], step = c.steps[i]
                var b = c.starts[i] < 0 ? c.starts[i] + n : c.starts[i], e = c.ends[i] < 0 ? c.ends[i] + n : c.ends[i]
                b = step > 0 ? min(max(b, 0), n) : min(max(b, -1), n - 1)
                e = step > 0 ? min(max(e, 0), n) : min(max(e, -1), n - 1)
                picks[a] = Array(stride(from: b, to: e, by: step))
            }
            XCTAssertEqual(y.shape, picks.map(\.count), "\(c)")
            var expected: [Float] = []
            for i in picks[0] { for j in picks[1] { for k in picks[2] { for l in picks[3] { expected.append(x.scalars[flat([i, j, k, l], in: x.shape)]) } } } }
            XCTAssertEqual(y.scalars, expected, "\(c)")
        }
    }

    /// Resize against the ONNX formulas in double precision: nearest and linear, every coordinate mode, scales that
    /// grow rows and columns (×8 as a segmentation head's, ×2.5), shrink them (×0.5), or one each way — both of the
    /// linear path's orders (input rows blended first; columns first where output rows outnumber input rows), and
    /// nearest's repeated rows. 16 planes of up to 40×48: 2 threads split them.
    func testResizeMatchesTheONNXFormulas() throws {
        var rng = SeededGenerator(seed: 34)
        let cases: [(h: Int, w: Int, scales: [Float])] = [(5, 6, [1, 1, 8, 8]), (7, 9, [1, 1, 2.5, 2.5]), (20, 18, [1, 1, 0.5, 0.5]),
                                                         (6, 20, [1, 1, 3, 0.5]), (20, 6, [1, 1, 0.5, 3]), (1, 5, [1, 1, 4, 1])]
        for c in cases {
            let x = try Tensor.random(shape: [2, 8, c.h, c.w], using: &rng)
            for mode in [ResizeMode.nearest, .linear] {
                for coordinates in [ResizeCoordinates.halfPixel, .pytorchHalfPixel, .alignCorners, .asymmetric] {
                    let node = Graph.Node(name: "resize", operation: .resize(mode: mode, coordinates: coordinates, scales: c.scales),
                                          inputs: ["x"], outputs: ["y"])
                    let graph = Graph(inputs: [Graph.Value(name: "x", shape: x.shape)], outputs: ["y"], constants: [:], nodes: [node])
                    let oh = Int((Float(c.h) * c.scales[2]).rounded(.down)), ow = Int((Float(c.w) * c.scales[3]).rounded(.down))
                    // The input coordinate of output `o` along an axis of `n` inputs and `m` outputs.
                    func source(_ o: Int, _ scale: Float, _ n: Int, _ m: Int) -> Double {
                        switch coordinates {
                        case .halfPixel: return (Double(o) + 0.5) / Double(scale) - 0.5
                        case .pytorchHalfPixel: return m > 1 ? (Double(o) + 0.5) / Double(scale) - 0.5 : 0
                        case .alignCorners: return m > 1 ? Double(o) * Double(n - 1) / Double(m - 1) : 0
                        case .asymmetric: return Double(o) / Double(scale)
                        }
                    }
                    // Nearest: round half down (half-pixel modes) or floor (asymmetric), clamped; linear: the two
                    // neighbours of the clamped coordinate and the weight of the second.
                    func near(_ f: Double, _ n: Int) -> Int {
                        min(max(coordinates == .asymmetric ? Int(f.rounded(.down)) : Int((f - 0.5).rounded(.up)), 0), n - 1)
                    }
                    func linear(_ f: Double, _ n: Int) -> (Int, Int, Double) {
                        let t = min(max(f, 0), Double(n - 1)), i = Int(t.rounded(.down))
                        return (i, min(i + 1, n - 1), t - Double(i))
                    }
                    var expected = [Float](), xs = x.scalars
                    for p in 0..<16 {
                        func at(_ i: Int, _ j: Int) -> Double { Double(xs[(p * c.h + i) * c.w + j]) }
                        for i in 0..<oh {
                            let fy = source(i, c.scales[2], c.h, oh)
                            for j in 0..<ow {
                                let fx = source(j, c.scales[3], c.w, ow)
                                if mode == .nearest {
                                    expected.append(Float(at(near(fy, c.h), near(fx, c.w))))
                                } else {
                                    let (y0, y1, ty) = linear(fy, c.h), (x0, x1, tx) = linear(fx, c.w)
                                    let top = at(y0, x0) * (1 - tx) + at(y0, x1) * tx, bottom = at(y1, x0) * (1 - tx) + at(y1, x1) * tx
                                    expected.append(Float(top * (1 - ty) + bottom * ty))
                                }
                            }
                        }
                    }
                    xs = []
                    for threads in [1, 2] {
                        let y = try XCTUnwrap(try Network(graph: graph, options: NetworkOptions(threads: threads)).predict(["x": x])["y"])
                        let label = "\(c) \(mode) \(coordinates) \(threads) threads"
                        XCTAssertEqual(y.shape, [2, 8, oh, ow], label)
                        let err = zip(y.scalars, expected).map { abs($0 - $1) }.max() ?? .infinity
                        XCTAssertLessThanOrEqual(err, 1e-6, label)
                    }
                }
            }
        }
    }

    /// ConvTranspose against its definition in double precision (every input pixel scatters its kernel window into the
    /// output): U-Net's 2x2 stride 2 (windows tiling the output; rows of 21 — one 16-wide step and a tail — and 40),
    /// 3x3 stride 2 with padding and output padding, 4x4 stride 2 padding 1 (overlapping windows), 2 groups with
    /// dilation 2, batch 2, with and without bias, 1 and 2 threads.
    func testConvTransposeMatchesItsDefinition() throws {
        var rng = SeededGenerator(seed: 35)
        struct Case { var n, cin, cout, h, w, k, stride, pad, outPad, dilation, groups: Int; var bias: Bool }
        let cases = [Case(n: 1, cin: 6, cout: 5, h: 7, w: 21, k: 2, stride: 2, pad: 0, outPad: 0, dilation: 1, groups: 1, bias: true),
                     Case(n: 2, cin: 4, cout: 3, h: 5, w: 40, k: 2, stride: 2, pad: 0, outPad: 0, dilation: 1, groups: 1, bias: false),
                     Case(n: 1, cin: 5, cout: 4, h: 6, w: 9, k: 3, stride: 2, pad: 1, outPad: 1, dilation: 1, groups: 1, bias: true),
                     Case(n: 1, cin: 4, cout: 6, h: 5, w: 7, k: 4, stride: 2, pad: 1, outPad: 0, dilation: 1, groups: 1, bias: true),
                     Case(n: 2, cin: 4, cout: 6, h: 4, w: 6, k: 3, stride: 1, pad: 2, outPad: 0, dilation: 2, groups: 2, bias: true)]
        for c in cases {
            let x = try Tensor.random(shape: [c.n, c.cin, c.h, c.w], using: &rng)
            let coutG = c.cout / c.groups, cinG = c.cin / c.groups
            let wt = try Tensor.random(shape: [c.cin, coutG, c.k, c.k], using: &rng)
            let bias = try Tensor.random(shape: [c.cout], using: &rng)
            let extent = (c.k - 1) * c.dilation + 1
            let oh = (c.h - 1) * c.stride - 2 * c.pad + extent + c.outPad, ow = (c.w - 1) * c.stride - 2 * c.pad + extent + c.outPad
            var expected = [Double](repeating: 0, count: c.n * c.cout * oh * ow)
            let xs = x.scalars, ws = wt.scalars, bs = bias.scalars
            for b in 0..<c.n {
                for ci in 0..<c.cin {
                    let g = ci / cinG
                    for i in 0..<c.h { for j in 0..<c.w {
                        let v = Double(xs[((b * c.cin + ci) * c.h + i) * c.w + j])
                        for ol in 0..<coutG { for a in 0..<c.k { for e in 0..<c.k {
                            let yy = i * c.stride - c.pad + a * c.dilation, xx = j * c.stride - c.pad + e * c.dilation
                            guard yy >= 0, yy < oh, xx >= 0, xx < ow else { continue }
                            let o = g * coutG + ol
                            expected[((b * c.cout + o) * oh + yy) * ow + xx] += v * Double(ws[((ci * coutG + ol) * c.k + a) * c.k + e])
                        } } }
                    } }
                }
                if c.bias { for o in 0..<c.cout { for p in 0..<(oh * ow) { expected[(b * c.cout + o) * oh * ow + p] += Double(bs[o]) } } }
            }
            let node = Graph.Node(name: "up", operation: .convolutionTranspose(stride: Size2D(c.stride, c.stride), padding: Padding(top: c.pad, left: c.pad, bottom: c.pad, right: c.pad),
                                                                               dilation: Size2D(c.dilation, c.dilation),
                                                                               outputPadding: Size2D(c.outPad, c.outPad), groups: c.groups),
                                  inputs: c.bias ? ["x", "w", "b"] : ["x", "w"], outputs: ["y"])
            let graph = Graph(inputs: [Graph.Value(name: "x", shape: x.shape)], outputs: ["y"],
                              constants: c.bias ? ["w": wt, "b": bias] : ["w": wt], nodes: [node])
            let scale = expected.map(abs).max() ?? 1
            for threads in [1, 2] {
                let y = try XCTUnwrap(try Network(graph: graph, options: NetworkOptions(threads: threads)).predict(["x": x])["y"])
                XCTAssertEqual(y.shape, [c.n, c.cout, oh, ow], "\(c)")
                let err = zip(y.scalars, expected).map { abs(Double($0) - $1) }.max() ?? .infinity
                XCTAssertLessThanOrEqual(err, 1e-5 * scale, "\(c) \(threads) threads")
            }
        }
    }

    /// LRN against its ONNX definition in double: AlexNet's parameters (size 5, beta 0.75: the square-root form) and
    /// others (an even size, whose window leans right; beta 0.6 through `pow`; fewer channels than the window), on
    /// planes of whole 16-float steps and a tail, batch 2.
    func testLocalResponseNormalizationMatchesItsDefinition() throws {
        var rng = SeededGenerator(seed: 36)
        for (shape, size, alpha, beta, bias) in [([2, 7, 5, 7], 5, Float(1e-4), Float(0.75), Float(1)), ([1, 6, 4, 8], 4, 2e-2, 0.6, 2),
                                                 ([1, 3, 3, 3], 5, 0.5, 0.75, 1), ([1, 9, 6, 6], 3, 1, 0.75, 0.5)] {
            var x = try Tensor.random(shape: shape, using: &rng)
            x = try Tensor(shape: shape, values: x.scalars.map { 3 * $0 })  // sums of squares large enough to count
            let node = Graph.Node(name: "lrn", operation: .localResponseNormalization(size: size, alpha: alpha, beta: beta, bias: bias),
                                  inputs: ["x"], outputs: ["y"])
            let graph = Graph(inputs: [Graph.Value(name: "x", shape: shape)], outputs: ["y"], constants: [:], nodes: [node])
            let y = try XCTUnwrap(try Network(graph: graph).predict(["x": x])["y"])
            let (c, plane) = (shape[1], shape[2] * shape[3]), xs = x.scalars
            var err = 0.0, scale = 0.0
            for b in 0..<shape[0] { for ch in 0..<c { for i in 0..<plane {
                var s = 0.0
                for k in max(0, ch - (size - 1) / 2)...min(c - 1, ch + size / 2) { let v = Double(xs[(b * c + k) * plane + i]); s += v * v }
                let idx = (b * c + ch) * plane + i
                let expected = Double(xs[idx]) / Foundation.pow(Double(bias) + Double(alpha) / Double(size) * s, Double(beta))
                err = max(err, abs(Double(y.scalars[idx]) - expected)); scale = max(scale, abs(expected))
            } } }
            XCTAssertLessThanOrEqual(err, 1e-6 * scale, "\(shape) size \(size) beta \(beta)")
        }
    }

    /// Every permutation of a rank-4 tensor and ShuffleNet's rank-5 channel shuffle.
    func testTransposeMatchesANaiveWalk() throws {
        var rng = SeededGenerator(seed: 34)
        func permutations(_ a: [Int]) -> [[Int]] { a.count <= 1 ? [a] : a.indices.flatMap { i in permutations(Array(a[..<i] + a[(i + 1)...])).map { [a[i]] + $0 } } }
        let x4 = try Tensor.random(shape: [2, 3, 4, 5], using: &rng), x5 = try Tensor.random(shape: [1, 2, 3, 4, 5], using: &rng)
        // NCHW ↔ NHWC on planes of whole 16×16 blocks and edges (the block transposes: ConvNeXt's channels-last blocks).
        let wide = try Tensor.random(shape: [2, 40, 6, 7], using: &rng), nhwc = try Tensor.random(shape: [1, 6, 7, 40], using: &rng)
        for (x, perm) in permutations([0, 1, 2, 3]).map({ (x4, $0) }) + [(x5, [0, 2, 1, 3, 4]), (x5, [4, 3, 2, 1, 0]),
                                                                         (wide, [0, 2, 3, 1]), (nhwc, [0, 3, 1, 2]), (wide, [1, 2, 3, 0])] {
            let y = try run(.transpose(permutation: perm), [("x", x)])
            let shape = perm.map { x.shape[$0] }
            XCTAssertEqual(y.shape, shape, "\(perm)")
            for i in indices(shape) {
                var source = [Int](repeating: 0, count: perm.count)
                for (d, p) in perm.enumerated() { source[p] = i[d] }
                XCTAssertEqual(y.scalars[flat(i, in: shape)], x.scalars[flat(source, in: x.shape)], "\(perm) at \(i)")
            }
        }
        let reversed = try run(.transpose(permutation: nil), [("x", x4)])
        XCTAssertEqual(reversed.shape, [5, 4, 3, 2])
    }

    /// Element-wise functions against Foundation's: Sqrt, Erf (the vector form, within 2.5e-7), Pow by a constant 2
    /// and 0.5 (vector loops) and by another exponent (the general walk).
    func testUnaryFunctionsMatchFoundation() throws {
        let values = (0..<203).map { Float($0 - 101) / 17 }  // −5.9 … 5.9, with a tail past whole vectors
        let x = try Tensor(shape: [1, 7, 29], values: values), positive = try Tensor(shape: [1, 7, 29], values: values.map { abs($0) })
        XCTAssertEqual(try run(.sqrt, [("x", positive)]).scalars, positive.scalars.map { $0.squareRoot() })
        let e = try run(.erf, [("x", x)]).scalars
        for (v, y) in zip(values, e) { XCTAssertEqual(Double(y), Foundation.erf(Double(v)), accuracy: 2.5e-7, "erf(\(v))") }
        for (k, f) in [(Float(2), { (v: Float) in v * v }), (0.5, { (v: Float) in v.squareRoot() }), (3, { (v: Float) in Foundation.pow(v, 3) })] {
            let y = try run(.pow, [("x", positive)], constants: ["k": try Tensor(shape: [], values: [k])]).scalars
            XCTAssertEqual(y, positive.scalars.map(f), "pow \(k)")
        }
    }

    /// Split's pieces — given sizes (attribute or constant input), even pieces, and opset 18's uneven ones (⌈n/parts⌉,
    /// the last shorter) — against slices of a naive walk, along a middle and the last axis; sizes that do not add
    /// up, and more pieces than values, are refused.
    func testSplitPiecesMatchTheirRanges() throws {
        var rng = SeededGenerator(seed: 36)
        let x = try Tensor.random(shape: [2, 7, 3, 5], using: &rng), xs = x.scalars
        let cases: [(axis: Int, sizes: [Int]?, input: [Int]?, expected: [Int])] = [
            (1, [2, 0, 5], nil, [2, 0, 5]), (1, nil, [3, 4], [3, 4]), (-1, nil, nil, [2, 2, 1]), (3, nil, nil, [1, 1, 1, 1, 1]), (1, nil, nil, [4, 3]),
        ]
        for c in cases {
            let axis = c.axis < 0 ? c.axis + 4 : c.axis
            var start = 0
            for (part, length) in c.expected.enumerated() {
                let constants = try c.input.map { ["s": try Tensor(shape: [$0.count], values: $0.map(Float.init))] } ?? [:]
                let y = try run(.split(axis: c.axis, part: part, parts: c.expected.count, sizes: c.sizes), [("x", x)], constants: constants)
                var shape = x.shape
                shape[axis] = length
                XCTAssertEqual(y.shape, shape, "\(c) part \(part)")
                for (k, index) in indices(shape).enumerated() {
                    var from = index
                    from[axis] += start
                    XCTAssertEqual(y.scalars[k], xs[((from[0] * 7 + from[1]) * 3 + from[2]) * 5 + from[3]], "\(c) part \(part) at \(index)")
                }
                start += length
            }
        }
        XCTAssertThrowsError(try run(.split(axis: 1, part: 0, parts: 2, sizes: [3, 3]), [("x", x)]))
        XCTAssertThrowsError(try run(.split(axis: 1, part: 0, parts: 2, sizes: [Int.max, 8]), [("x", x)]))  // no overflow trap
        XCTAssertThrowsError(try run(.split(axis: 2, part: 0, parts: 4, sizes: nil), [("x", x)]))
    }

    /// LayerNormalization over the last one and two dimensions (rows with and without a tail past whole vectors), with
    /// and without a bias, against a double-precision walk; a scale of the wrong size is refused when the graph is built.
    func testLayerNormalizationMatchesANaiveWalk() throws {
        var rng = SeededGenerator(seed: 35)
        let x = try Tensor.random(shape: [2, 3, 5, 7], using: &rng), xs = x.scalars
        for (axis, biased) in [(3, true), (2, false), (-1, false)] {
            let a = axis < 0 ? axis + 4 : axis, n = x.shape[a...].reduce(1, *)
            let scale = try Tensor.random(shape: Array(x.shape[a...]), using: &rng), bias = try Tensor.random(shape: [n], using: &rng)
            var constants = ["s": scale]
            if biased { constants["t"] = bias }
            let y = try run(.layerNormalization(axis: axis, epsilon: 1e-5), [("x", x)], constants: constants).scalars
            let (ss, bs) = (scale.scalars, bias.scalars)
            for r in 0..<(x.count / n) {
                let row = (0..<n).map { Double(xs[r * n + $0]) }
                let mean = row.reduce(0, +) / Double(n), variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
                for i in 0..<n {
                    let expected = (row[i] - mean) / (variance + 1e-5).squareRoot() * Double(ss[i]) + (biased ? Double(bs[i]) : 0)
                    XCTAssertEqual(Double(y[r * n + i]), expected, accuracy: 1e-5 * max(1, abs(expected)), "axis \(axis) row \(r) at \(i)")
                }
            }
        }
        // Constant rows (of 771 values: whole vectors and a tail) normalise to the bias exactly: rounding noise in the
        // mean, divided by √ε, would not.
        let constant = try Tensor(shape: [2, 771], repeating: 0.3), shift = try Tensor.random(shape: [771], using: &rng)
        let flat = try run(.layerNormalization(axis: 1, epsilon: 1e-5), [("x", constant)],
                           constants: ["s": try Tensor(shape: [771], repeating: 1.7), "t": shift]).scalars
        XCTAssertEqual(flat, shift.scalars + shift.scalars)
        XCTAssertThrowsError(try run(.layerNormalization(axis: -1, epsilon: 1e-5), [("x", x)],
                                     constants: ["s": try Tensor(zeros: [6])]))
    }

    /// GELU, exact and tanh-approximated (ONNX Gelu), against the double-precision formulas; and the exact form as
    /// PyTorch exports it below opset 20 (`Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5)`) runs as one Gelu step with the
    /// same result — but not when an intermediate is also read elsewhere.
    func testGELUMatchesItsFormulasAndReplacesTheExportedPattern() throws {
        let values = (0..<203).map { Float($0 - 101) / 17 }
        let x = try Tensor(shape: [1, 7, 29], values: values)
        for tanh in [false, true] {
            let y = try run(.gelu(tanhApproximation: tanh), [("x", x)]).scalars
            for (v, g) in zip(values, y) {
                let d = Double(v)
                let expected = tanh ? 0.5 * d * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (d + 0.044715 * d * d * d)))
                    : 0.5 * d * (1 + Foundation.erf(d / 2.0.squareRoot()))
                XCTAssertEqual(Double(g), expected, accuracy: 1e-6 * max(1, abs(expected)), "gelu(\(v)) tanh \(tanh)")
            }
        }
        for alsoRead in [false, true] {
            let constants: [String: Tensor] = ["r2": try Tensor(shape: [], values: [Float(2).squareRoot()]),
                                               "one": try Tensor(shape: [], values: [1]), "half": try Tensor(shape: [], values: [0.5])]
            var nodes = [Graph.Node(name: "div", operation: .div, inputs: ["x", "r2"], outputs: ["d"]),
                         Graph.Node(name: "erf", operation: .erf, inputs: ["d"], outputs: ["e"]),
                         Graph.Node(name: "add", operation: .add, inputs: ["e", "one"], outputs: ["a"]),
                         Graph.Node(name: "mul", operation: .mul, inputs: ["x", "a"], outputs: ["m"]),
                         Graph.Node(name: "half", operation: .mul, inputs: ["m", "half"], outputs: ["y"])]
            if alsoRead { nodes.append(Graph.Node(name: "other", operation: .mul, inputs: ["e", "x"], outputs: ["z"])) }
            let graph = Graph(inputs: [Graph.Value(name: "x", shape: x.shape)], outputs: alsoRead ? ["y", "z"] : ["y"],
                              constants: constants, nodes: nodes)
            let network = try Network(graph: graph)
            XCTAssertEqual(network.layers.contains { $0.operation == "Gelu" }, !alsoRead, "also read: \(alsoRead)")
            let y = try XCTUnwrap(network.predict(["x": x])["y"]).scalars
            for (v, g) in zip(values, y) {
                let expected = 0.5 * Double(v) * (1 + Foundation.erf(Double(v) / 2.0.squareRoot()))
                XCTAssertEqual(Double(g), expected, accuracy: 1e-6 * max(1, abs(expected)), "pattern gelu(\(v)), also read: \(alsoRead)")
            }
        }
    }

    /// Same shapes, one value per plane or per row of the other operand (either side: the squeeze-and-excitation
    /// scale), and broadcasts that need the general walk.
    func testBroadcastArithmeticMatchesANaiveWalk() throws {
        var rng = SeededGenerator(seed: 32)
        let shapes: [([Int], [Int])] = [([2, 3, 4, 5], [2, 3, 4, 5]), ([2, 3, 4, 5], [2, 3, 1, 1]), ([2, 3, 1, 1], [2, 3, 4, 5]),
                                        ([2, 3, 4, 5], [3, 1, 1]), ([1, 3, 4, 5], [1, 3, 1, 1]), ([2, 3, 4, 5], [1, 3, 1, 1]),
                                        ([2, 3, 4, 5], [5]), ([2, 3, 4, 5], [2, 3, 4, 1]), ([2, 3, 4, 5], []), ([1, 7, 3, 3], [1, 7, 3, 3]),
                                        // A vector along the last dimensions, either side (vector rows and a tail).
                                        ([2, 3, 21], [21]), ([4, 21], [2, 4, 21]), ([2, 3, 4, 5], [4, 5])]
        let ops: [(GraphOperation, (Float, Float) -> Float)] = [(.add, +), (.sub, -), (.mul, *), (.div, /)]
        for (sa, sb) in shapes {
            let a = try Tensor.random(shape: sa, using: &rng)
            let b = try Tensor(shape: sb, values: try Tensor.random(shape: sb, using: &rng).scalars.map { $0 + 2 })  // no zero divisors
            let shape = (0..<max(sa.count, sb.count)).map { d -> Int in
                let x = d < max(sa.count, sb.count) - sa.count ? 1 : sa[d - (max(sa.count, sb.count) - sa.count)]
                let y = d < max(sa.count, sb.count) - sb.count ? 1 : sb[d - (max(sa.count, sb.count) - sb.count)]
                return max(x, y)
            }
            for (op, f) in ops {
                let y = try run(op, [("a", a), ("b", b)])
                XCTAssertEqual(y.shape, shape, "\(sa) \(op.name) \(sb)")
                for i in indices(shape) {
                    let expected = f(a.scalars[flat(i, in: sa)], b.scalars[flat(i, in: sb)])
                    XCTAssertEqual(y.scalars[flat(i, in: shape)], expected, "\(sa) \(op.name) \(sb) at \(i)")
                }
            }
        }
    }
}

/// A channel Concat whose inputs are convolutions read by nothing else is filled in place by them.
final class ConcatenationPlacementTests: XCTestCase {
    /// Outputs left unzeroed are NaN-filled, so an element a kernel misses fails the comparison.
    override func setUp() { BufferCache.fillsUnzeroedTensorsWithNaN = true }

    /// SqueezeNet's fire module (squeeze 1x1, expand 1x1 and 3x3, Concat), a third, 5x5 branch with a residual Add
    /// and a ReLU (8 channels on a 12×13 plane: Winograd F(4x4, 5x5), writing into the Concat), then a consumer of
    /// the Concat: against the reference convolutions and a copied Concat.
    func testConvolutionsWriteIntoTheirConcatenation() throws {
        var rng = SeededGenerator(seed: 77)
        let squeeze = try ConvolutionDescriptor(inputChannels: 6, outputChannels: 8, kernel: 1, activation: .relu)
        let e1 = try ConvolutionDescriptor(inputChannels: 8, outputChannels: 7, kernel: 1)
        let e3 = try ConvolutionDescriptor(inputChannels: 8, outputChannels: 9, kernel: 3, padding: 1)
        let e5 = try ConvolutionDescriptor(inputChannels: 8, outputChannels: 8, kernel: 5, padding: 2)  // + squeeze output
        let last = try ConvolutionDescriptor(inputChannels: 24, outputChannels: 4, kernel: 3, padding: 1)
        var constants: [String: Tensor] = [:]
        for (name, d) in [("s", squeeze), ("e1", e1), ("e3", e3), ("e5", e5), ("l", last)] {
            constants[name + ".w"] = try Tensor.random(shape: d.weightShape, using: &rng)
            constants[name + ".b"] = try Tensor.random(shape: [d.outputChannels], using: &rng)
        }
        func conv(_ name: String, _ d: ConvolutionDescriptor, _ x: String, _ y: String) -> Graph.Node {
            var plain = d
            if d.activation != .none { plain = try! ConvolutionDescriptor(inputChannels: d.inputChannels, outputChannels: d.outputChannels,
                                                                         kernel: d.kernel, padding: d.padding) }
            return Graph.Node(name: name, operation: .convolution(plain, autoPad: .explicit), inputs: [x, name + ".w", name + ".b"], outputs: [y])
        }
        let nodes = [
            conv("s", squeeze, "x", "s.c"), Graph.Node(name: "s.r", operation: .activation(.relu), inputs: ["s.c"], outputs: ["s.y"]),
            conv("e1", e1, "s.y", "e1.c"), Graph.Node(name: "e1.r", operation: .activation(.relu), inputs: ["e1.c"], outputs: ["e1.y"]),
            conv("e3", e3, "s.y", "e3.y"),
            conv("e5", e5, "s.y", "e5.c"), Graph.Node(name: "e5.a", operation: .add, inputs: ["e5.c", "s.y"], outputs: ["e5.s"]),
            Graph.Node(name: "e5.r", operation: .activation(.relu), inputs: ["e5.s"], outputs: ["e5.y"]),
            Graph.Node(name: "cat", operation: .concat(axis: 1), inputs: ["e1.y", "e3.y", "e5.y"], outputs: ["cat.y"]),
            conv("l", last, "cat.y", "y"),
        ]
        for (batch, outputs, inPlace) in [(1, ["y"], true), (2, ["y"], false), (1, ["y", "e3.y"], false)] {
            // The Concat is not zeroed: `setUp` has it NaN-filled, so a channel no producer wrote shows.
            let x = try Tensor.random(shape: [batch, 6, 12, 13], using: &rng)
            let graph = Graph(inputs: [Graph.Value(name: "x", shape: x.shape)], outputs: outputs, constants: constants, nodes: nodes)
            for threads in [1, 2] {
                // (At batch 2 on the whole batch: image by image, each image's Concat would be filled in place.)
                let net = try Network(graph: graph, options: NetworkOptions(threads: threads, batchSchedule: .wholeBatch))
                XCTAssertEqual(net.layers.filter { $0.operation.hasSuffix("+Concat") }.count, inPlace ? 3 : 0, "\(net.layers.map(\.operation))")
                XCTAssertEqual(net.layers.contains { $0.operation == "Concat" }, !inPlace)
                XCTAssertEqual(net.layers.filter { $0.algorithm.contains("wino4x4_5x5") }.count, 1, "\(net.layers.map(\.algorithm))")
                let got = try XCTUnwrap(try net.predict(["x": x])["y"])
                // The reference: each convolution on its own, the Concat copied by hand.
                func ref(_ d: ConvolutionDescriptor, _ name: String, _ input: Tensor, residual: Tensor? = nil) throws -> Tensor {
                    try ReferenceConvolution.run(descriptor: d, input: input, weights: constants[name + ".w"]!, bias: constants[name + ".b"]!,
                                                 residual: residual)
                }
                let s = try ref(squeeze, "s", x)
                let e5r = try ReferenceConvolution.run(descriptor: try ConvolutionDescriptor(inputChannels: 8, outputChannels: 8, kernel: 5, padding: 2,
                                                                                             activation: .relu),
                                                       input: s, weights: constants["e5.w"]!, bias: constants["e5.b"]!, residual: s)
                let parts = [try ref(try ConvolutionDescriptor(inputChannels: 8, outputChannels: 7, kernel: 1, activation: .relu), "e1", s),
                             try ref(e3, "e3", s), e5r]
                let plane = 12 * 13
                var cat: [Float] = []
                for n in 0..<batch { for p in parts { let c = p.shape[1]; cat += p.scalars[(n * c * plane)..<((n + 1) * c * plane)] } }
                let expected = try ref(last, "l", try Tensor(shape: [batch, 24, 12, 13], values: cat))
                let err = try XCTUnwrap(got.maxAbsoluteDifference(expected))
                XCTAssertLessThanOrEqual(err, 1e-4 * max(1, expected.maxAbsolute), "batch \(batch) outputs \(outputs) threads \(threads)")
            }
        }
    }
}
