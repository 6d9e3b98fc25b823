import FFTConv
import FFTConvKernels
import XCTest

/// A 1x1 layer read only by a depthwise layer runs as one fused step (`NetworkOptions.fusesPointwiseDepthwise`),
/// and so does a stem convolution read only by a max pool (`fusesConvolutionPool`): the same bits as the layers run
/// apart, and the reference convolutions' (and a naive pool's) result.
/// The networks here run every step on the whole batch (`.wholeBatch`): the cases at batch 2 check the fused steps'
/// own batch loops, which a batch run image by image would not reach (BatchTests checks that schedule).
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
        /// The first layer's kernel side and stride (padded to keep its size at stride 1): 1 for a 1x1 layer.
        var firstKernel = 1, firstStride = 1

        func descriptors() throws -> (ConvolutionDescriptor, ConvolutionDescriptor) {
            (try ConvolutionDescriptor(inputChannels: cin, outputChannels: mid, kernel: Size2D(firstKernel, firstKernel),
                                       stride: Size2D(firstStride, firstStride), padding: Padding(integerLiteral: firstKernel / 2),
                                       hasBias: pointwiseBias, activation: pointwiseActivation),
             try ConvolutionDescriptor(inputChannels: mid, outputChannels: mid, kernel: Size2D(kernel, kernel), stride: Size2D(stride, stride),
                                       dilation: Size2D(dilation, dilation), padding: Padding(top: padding, left: padding, bottom: padding, right: padding), groups: mid,
                                       activation: depthwiseActivation))
        }
    }

    /// The pair's input, 1x1 weights and bias, depthwise weights and bias.
    func tensors(_ c: Pair, seed: UInt64) throws -> (Tensor, Tensor, Tensor, Tensor, Tensor) {
        let (pd, dd) = try c.descriptors()
        var rng = SeededGenerator(seed: seed)
        let x = try Tensor.random(shape: [c.batch, c.cin, c.input.height, c.input.width], using: &rng)
        let wp = try Tensor.random(shape: pd.weightShape, using: &rng), bp = try Tensor.random(shape: [c.mid], using: &rng)
        let wd = try Tensor.random(shape: dd.weightShape, using: &rng), bd = try Tensor.random(shape: [c.mid], using: &rng)
        return (x, wp, bp, wd, bd)
    }

    /// The pair's network, its input, and the chained reference convolutions' output.
    func build(_ c: Pair, seed: UInt64, threads: Int, fused: Bool) throws -> (Network, Tensor, Tensor) {
        let (pd, dd) = try c.descriptors()
        let (x, wp, bp, wd, bd) = try tensors(c, seed: seed)
        let nodes = [Graph.Node(name: "expand", operation: .convolution(pd, autoPad: .explicit),
                                inputs: c.pointwiseBias ? ["x", "wp", "bp"] : ["x", "wp"], outputs: ["e"]),
                     Graph.Node(name: "dw", operation: .convolution(dd, autoPad: .explicit), inputs: ["e", "wd", "bd"], outputs: ["y"])]
        let graph = Graph(inputs: [Graph.Value(name: "x", shape: x.shape)], outputs: c.pointwiseIsOutput ? ["y", "e"] : ["y"],
                          constants: ["wp": wp, "bp": bp, "wd": wd, "bd": bd], nodes: nodes)
        let network = try Network(graph: graph, options: NetworkOptions(threads: threads, fusesPointwiseDepthwise: fused, batchSchedule: .wholeBatch))
        let e = try ReferenceConvolution.run(descriptor: pd, input: x, weights: wp, bias: c.pointwiseBias ? bp : nil)
        let reference = try ReferenceConvolution.run(descriptor: dd, input: e, weights: wd, bias: bd)
        return (network, x, reference)
    }

    func testFusedPairGivesTheSameBitsAsTheLayersApart() throws {
        let pairs = [
            // MobileNetV2-like: 56²-class plane at stride 1, 14² here (28 tiles: the next panel's weights prefetched);
            // channels a whole number of 32-channel panels.
            Pair(cin: 24, mid: 96, input: Size2D(14, 14), batch: 1, kernel: 3, stride: 1, padding: 1,
                 pointwiseActivation: .relu6, depthwiseActivation: .relu6),
            // Stride 2 on odd sides; 40 channels: a half panel, a partial 16-channel block; no 1x1 bias.
            Pair(cin: 16, mid: 40, input: Size2D(9, 11), batch: 1, kernel: 3, stride: 2, padding: 1,
                 pointwiseActivation: .relu, depthwiseActivation: .none, pointwiseBias: false),
            // 5x5 (the general blocked kernel), positions not a multiple of 7, batch 2.
            Pair(cin: 8, mid: 16, input: Size2D(5, 6), batch: 2, kernel: 5, stride: 1, padding: 2,
                 pointwiseActivation: .leakyReLU(alpha: 0.1), depthwiseActivation: .relu6),
            // 7² plane, many input channels (one long chain of 200 products per output), batch 2.
            Pair(cin: 200, mid: 64, input: Size2D(7, 7), batch: 2, kernel: 3, stride: 1, padding: 1,
                 pointwiseActivation: .none, depthwiseActivation: .relu),
            // MobileNetV3's 40→120 expansion with hard swish into a 5x5 depthwise layer with hard swish, 14² plane.
            Pair(cin: 40, mid: 120, input: Size2D(14, 14), batch: 1, kernel: 5, stride: 1, padding: 2,
                 pointwiseActivation: .hardSwish, depthwiseActivation: .hardSwish),
            // EfficientNet's SiLU on both layers, 3x3 on 28² (four 7-position tiles per row).
            Pair(cin: 24, mid: 144, input: Size2D(28, 28), batch: 1, kernel: 3, stride: 1, padding: 1,
                 pointwiseActivation: .silu, depthwiseActivation: .silu),
        ]
        for (i, c) in pairs.enumerated() {
            for threads in [1, 2] {
                // Fused only on builds with 16-float registers (dw_blocked16).
                try assertFusedMatchesApart("pair \(i), \(threads) threads", marker: "fused 1x1 + depthwise",
                                            expectFused: KernelTarget.wideRegisters) { fused in
                    try build(c, seed: UInt64(10 + i), threads: threads, fused: fused)
                }
            }
        }
    }

    /// A MobileNet block (1x1 expansion, 3x3 depthwise, 1x1 projection, then a 1x1 reading the projection): the network
    /// sums the projection's input channels in halves — it reads a depthwise layer's output — and not the last 1x1's,
    /// on builds where those layers take the transposed path (7², 16-float registers); the output is the same for 1,
    /// 2 and 3 threads and, fused or not, within 1e-4 of the chained reference layers.
    func testProjectionAfterADepthwiseLayerSumsItsInputChannelsInHalves() throws {
        let c = Pair(cin: 32, mid: 192, input: Size2D(7, 7), batch: 1, kernel: 3, stride: 1, padding: 1,
                     pointwiseActivation: .relu6, depthwiseActivation: .relu6)
        let (pd, dd) = try c.descriptors()
        let (x, wp, bp, wd, bd) = try tensors(c, seed: 41)
        let project = try ConvolutionDescriptor(inputChannels: 192, outputChannels: 64, kernel: 1)
        let last = try ConvolutionDescriptor(inputChannels: 64, outputChannels: 64, kernel: 1, activation: .relu)
        var rng = SeededGenerator(seed: 42)
        let wj = try Tensor.random(shape: project.weightShape, using: &rng), bj = try Tensor.random(shape: [64], using: &rng)
        let wl = try Tensor.random(shape: last.weightShape, using: &rng), bl = try Tensor.random(shape: [64], using: &rng)
        let graph = Graph(inputs: [Graph.Value(name: "x", shape: x.shape)], outputs: ["z"],
                          constants: ["wp": wp, "bp": bp, "wd": wd, "bd": bd, "wj": wj, "bj": bj, "wl": wl, "bl": bl],
                          nodes: [Graph.Node(name: "expand", operation: .convolution(pd, autoPad: .explicit), inputs: ["x", "wp", "bp"], outputs: ["e"]),
                                  Graph.Node(name: "dw", operation: .convolution(dd, autoPad: .explicit), inputs: ["e", "wd", "bd"], outputs: ["d"]),
                                  Graph.Node(name: "project", operation: .convolution(project, autoPad: .explicit), inputs: ["d", "wj", "bj"], outputs: ["p"]),
                                  Graph.Node(name: "last", operation: .convolution(last, autoPad: .explicit), inputs: ["p", "wl", "bl"], outputs: ["z"])])
        var reference = try ReferenceConvolution.run(descriptor: pd, input: x, weights: wp, bias: bp)
        reference = try ReferenceConvolution.run(descriptor: dd, input: reference, weights: wd, bias: bd)
        reference = try ReferenceConvolution.run(descriptor: project, input: reference, weights: wj, bias: bj)
        reference = try ReferenceConvolution.run(descriptor: last, input: reference, weights: wl, bias: bl)
        for fused in [true, false] {
            var outputs: [Tensor] = []
            for threads in [1, 2, 3] {
                let network = try Network(graph: graph, options: NetworkOptions(threads: threads, fusesPointwiseDepthwise: fused, batchSchedule: .wholeBatch))
                let halves = network.layers.map { $0.algorithm.contains("input channels summed in halves") }
                XCTAssertEqual(halves, network.layers.map { $0.name == "project" && KernelTarget.wideRegisters },
                               "\(network.layers.map(\.algorithm))")
                outputs.append(try network(x))
            }
            for o in outputs.dropFirst() { XCTAssertEqual(o, outputs[0], "fused \(fused)") }
            let diff = try XCTUnwrap(outputs[0].maxAbsoluteDifference(reference))
            XCTAssertLessThanOrEqual(diff, 1e-4 * max(1, reference.maxAbsolute), "fused \(fused)")
        }
    }

    /// The network `build(true)` makes has a step whose algorithm starts with `marker` (when `expectFused`), the one
    /// `build(false)` makes has no fused step; both give the same bits, within 1e-4 of the reference.
    func assertFusedMatchesApart(_ what: String, marker: String, expectFused: Bool,
                                 build: (Bool) throws -> (Network, Tensor, Tensor)) throws {
        let (fused, x, reference) = try build(true)
        let (apart, _, _) = try build(false)
        XCTAssertEqual(fused.layers.contains { $0.algorithm.hasPrefix(marker) }, expectFused, what)
        XCTAssertFalse(apart.layers.contains { $0.algorithm.hasPrefix("fused") }, what)
        let y = try fused(x), z = try apart(x)
        XCTAssertEqual(y.shape, reference.shape, what)
        try assertSameBits(y, z, nearReference: reference, what)
    }

    /// `y` (a fused step's output) has the bits of `z` (the layers apart) and is within 1e-4 of the reference.
    func assertSameBits(_ y: Tensor, _ z: Tensor, nearReference reference: Tensor, _ what: String) throws {
        XCTAssertEqual(y, z, "\(what): fused and separate layers differ")
        let diff = try XCTUnwrap(y.maxAbsoluteDifference(reference))
        XCTAssertLessThanOrEqual(diff, 1e-4 * max(1, reference.maxAbsolute), what)
        XCTAssertGreaterThan(reference.maxAbsolute, 0, what)
    }

    /// Planes too large for whole padded planes in L2 run the fused pair in bands of output rows, and at 2 threads
    /// a 56² pair is split by rows: the same bits as the 1x1 layer then `dw_blocked16` on its whole output (apart,
    /// the network would run another depthwise kernel on the large planes) — the first band (top padding), the
    /// last (bottom padding at stride 1), bands carrying rows over, workers starting mid-image (14 bands over 3),
    /// partial panels and blocks.
    func testBandedPairGivesTheSameBitsAsTheLayersApartOnBlockedKernels() throws {
        let pairs = [
            // MobileNetV2's 16→96 expansion at 112², then its stride-2 depthwise layer: 14 bands, one row carried.
            Pair(cin: 16, mid: 96, input: Size2D(112, 112), batch: 1, kernel: 3, stride: 2, padding: 1,
                 pointwiseActivation: .relu6, depthwiseActivation: .relu6),
            // Stride 1 (two rows carried, a zero row below the last band); 40 channels: a half panel, a partial
            // block; no 1x1 bias; batch 2.
            Pair(cin: 8, mid: 40, input: Size2D(112, 112), batch: 2, kernel: 3, stride: 1, padding: 1,
                 pointwiseActivation: .relu, depthwiseActivation: .none, pointwiseBias: false),
            // 5x5 at stride 1 (four rows carried: a whole band's worth) on a 112×84 plane, the general kernel.
            Pair(cin: 12, mid: 64, input: Size2D(112, 84), batch: 1, kernel: 5, stride: 1, padding: 2,
                 pointwiseActivation: .leakyReLU(alpha: 0.1), depthwiseActivation: .relu6),
            // 5x5 at stride 2 (three rows carried).
            Pair(cin: 16, mid: 32, input: Size2D(112, 112), batch: 1, kernel: 5, stride: 2, padding: 2,
                 pointwiseActivation: .relu6, depthwiseActivation: .relu),
            // MobileNetV2's 24→144 pair at 56² (whole planes fit): split by rows, one band per worker, at 2 threads
            // (28 rows each; whole planes at 1, and at 3, which do not divide 56 rows).
            Pair(cin: 24, mid: 144, input: Size2D(56, 56), batch: 2, kernel: 3, stride: 1, padding: 1,
                 pointwiseActivation: .relu6, depthwiseActivation: .relu6),
            // Its 24→144 pair at 56² before a stride-2 layer: split by rows at 2 threads (14 output rows, 28 input
            // rows each), else `PointwiseStride2DepthwiseFusion`'s.
            Pair(cin: 24, mid: 144, input: Size2D(56, 56), batch: 1, kernel: 3, stride: 2, padding: 1,
                 pointwiseActivation: .relu6, depthwiseActivation: .relu6),
            // MnasNet's 24→72 pair at 56² into a 5x5 stride-2 layer (flat alone): whole planes (two 59×59 padded
            // planes fit the budget) at 1 and 3 threads, split by rows at 2; 72 channels: a partial panel and block.
            Pair(cin: 24, mid: 72, input: Size2D(56, 56), batch: 1, kernel: 5, stride: 2, padding: 2,
                 pointwiseActivation: .relu, depthwiseActivation: .relu),
        ]
        // Per pair and thread count: banded, whole planes, or another form (nil).
        func expected(_ i: Int, _ threads: Int) -> Bool? { i < 4 || threads == 2 ? true : i == 4 || i == 6 ? false : nil }
        for (i, c) in pairs.enumerated() {
            let (pd, dd) = try c.descriptors()
            for threads in [1, 2, 3] {
                let what = "banded pair \(i), \(threads) threads"
                let (network, x, reference) = try build(c, seed: UInt64(70 + i), threads: threads, fused: true)
                let fused = network.layers.first { $0.algorithm.hasPrefix("fused 1x1 + depthwise") }
                XCTAssertEqual(fused?.algorithm.contains("bands of"), KernelTarget.wideRegisters ? expected(i, threads) : nil, what)
                guard fused != nil else { continue }
                let y = try network(x)
                // The layers apart, the depthwise one forced onto dw_blocked16.
                let (_, wp, bp, wd, bd) = try tensors(c, seed: UInt64(70 + i))
                let expand = try Convolution2D(descriptor: pd, input: c.input, weights: wp, bias: c.pointwiseBias ? bp : nil,
                                               algorithm: .direct, options: ConvolutionOptions(threads: threads))
                let e = try expand(x)
                let depthwise = try Convolution2D(descriptor: dd, input: c.input, weights: wd, bias: bd, algorithm: .depthwise,
                                                  options: ConvolutionOptions(threads: threads, microKernel: "dw_blocked16"))
                try assertSameBits(y, try depthwise(e), nearReference: reference, what)
            }
        }
    }

    /// A 1x1 layer read by a 3x3 stride-2 depthwise layer (`PointwiseStride2DepthwiseFusion`, on planes between
    /// `dw_blocked16`'s and the banded pair's): band by band, the same bits as apart — the first band (top padding),
    /// bands carrying their first row over, a second worker's channels (panels after the first).
    func testFusedPointwiseStride2DepthwiseGivesTheSameBitsAsTheLayersApart() throws {
        let pairs = [
            // MobileNetV2's 16→96 expansion on a 56×64 plane, then a stride-2 depthwise layer: 7 bands.
            Pair(cin: 16, mid: 96, input: Size2D(56, 64), batch: 1, kernel: 3, stride: 2, padding: 1,
                 pointwiseActivation: .relu6, depthwiseActivation: .relu6),
            // Rows of 56 (a band's 8 input rows: 14 tiles of 32); batch 2; no 1x1 bias. (At 2 threads this pair is
            // split by rows in `PointwiseDepthwiseFusion`: 3 threads here.)
            Pair(cin: 24, mid: 144, input: Size2D(56, 56), batch: 2, kernel: 3, stride: 2, padding: 1,
                 pointwiseActivation: .relu, depthwiseActivation: .none, pointwiseBias: false),
            // Five bands of 4 output rows, 40-wide rows, a leaky depthwise activation.
            Pair(cin: 8, mid: 24, input: Size2D(40, 40), batch: 1, kernel: 3, stride: 2, padding: 1,
                 pointwiseActivation: .none, depthwiseActivation: .leakyReLU(alpha: 0.1)),
            // A hard-swish depthwise layer (MobileNetV3) after a ReLU expansion.
            Pair(cin: 16, mid: 64, input: Size2D(40, 40), batch: 1, kernel: 3, stride: 2, padding: 1,
                 pointwiseActivation: .relu, depthwiseActivation: .hardSwish),
        ]
        for (i, c) in pairs.enumerated() {
            for threads in [1, i == 1 ? 3 : 2] {
                try assertFusedMatchesApart("stride-2 pair \(i), \(threads) threads", marker: "fused 1x1 + stride-2 depthwise",
                                            expectFused: KernelTarget.wideRegisters) { fused in
                    try build(c, seed: UInt64(50 + i), threads: threads, fused: fused)
                }
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
            // Stride 2 on a plane of odd height: no whole row pairs for the stride-2 fusion; two whole padded planes
            // over `planeBudget` and rows of 120 (not whole 7-position tiles), so no whole-plane or banded pair either.
            Pair(cin: 8, mid: 24, input: Size2D(121, 120), batch: 1, kernel: 3, stride: 2, padding: 1,
                 pointwiseActivation: .relu, depthwiseActivation: .relu),
            // A 112×110 plane: the depthwise layer runs on another kernel, and rows of 110 are not whole 7-position
            // tiles, which bands need.
            Pair(cin: 4, mid: 16, input: Size2D(112, 110), batch: 1, kernel: 3, stride: 1, padding: 1,
                 pointwiseActivation: .relu6, depthwiseActivation: .relu6),
            // MobileNetV2's stem: a 3x3 stride-2 layer, not a 1x1 one, before the depthwise layer (its output a 14²
            // plane of 32 channels, as the fused steps take).
            Pair(cin: 3, mid: 32, input: Size2D(28, 28), batch: 1, kernel: 3, stride: 1, padding: 1,
                 pointwiseActivation: .relu6, depthwiseActivation: .relu6, firstKernel: 3, firstStride: 2),
        ]
        for (i, c) in pairs.enumerated() {
            let (network, x, reference) = try build(c, seed: UInt64(30 + i), threads: 1, fused: true)
            XCTAssertFalse(network.layers.contains { $0.algorithm.hasPrefix("fused") }, "pair \(i)")
            let y = try XCTUnwrap(network.predict(["x": x])["y"])
            let diff = try XCTUnwrap(y.maxAbsoluteDifference(reference))
            XCTAssertLessThanOrEqual(diff, 1e-4 * max(1, reference.maxAbsolute), "pair \(i)")
        }
    }

    // MARK: stem convolution + max pool (`NetworkOptions.fusesConvolutionPool`)

    struct Stem {
        var cin: Int, cout: Int, input: Size2D, batch: Int
        var kernel: Int, stride: Int, padding: Int, activation: Activation
        var pool: PoolingAttributes
        /// Also a graph output: the convolution's result is kept (never fused).
        var convolutionIsOutput = false
    }

    /// A naive max pool over `x` (NCHW): the oracle for the fused step's pool.
    func naiveMaxPool(_ x: Tensor, _ a: PoolingAttributes) throws -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        func outputs(_ size: Int, _ k: Int, _ s: Int, _ p0: Int, _ p1: Int) -> Int {
            let span = size + p0 + p1 - k
            var o = (a.ceilMode ? (span + s - 1) / s : span / s) + 1
            if a.ceilMode && (o - 1) * s >= size + p0 { o -= 1 }
            return o
        }
        let oh = outputs(h, a.kernel.height, a.stride.height, a.padding.top, a.padding.bottom)
        let ow = outputs(w, a.kernel.width, a.stride.width, a.padding.left, a.padding.right)
        var y = [Float](repeating: 0, count: n * c * oh * ow)
        x.withUnsafeBufferPointer { src in
            for plane in 0..<(n * c) {
                for i in 0..<oh {
                    for j in 0..<ow {
                        var m = -Float.infinity
                        for di in 0..<a.kernel.height {
                            for dj in 0..<a.kernel.width {
                                let r = i * a.stride.height - a.padding.top + di, q = j * a.stride.width - a.padding.left + dj
                                if r >= 0 && r < h && q >= 0 && q < w { m = max(m, src[(plane * h + r) * w + q]) }
                            }
                        }
                        y[(plane * oh + i) * ow + j] = m
                    }
                }
            }
        }
        return try Tensor(shape: [n, c, oh, ow], values: y)
    }

    /// The stem's network, its input, and the reference convolution then the naive pool.
    func build(_ c: Stem, seed: UInt64, threads: Int, fused: Bool) throws -> (Network, Tensor, Tensor) {
        let d = try ConvolutionDescriptor(inputChannels: c.cin, outputChannels: c.cout, kernel: Size2D(c.kernel, c.kernel),
                                          stride: Size2D(c.stride, c.stride),
                                          padding: Padding(top: c.padding, left: c.padding, bottom: c.padding, right: c.padding),
                                          activation: c.activation)
        var rng = SeededGenerator(seed: seed)
        let x = try Tensor.random(shape: [c.batch, c.cin, c.input.height, c.input.width], using: &rng)
        let w = try Tensor.random(shape: d.weightShape, using: &rng), b = try Tensor.random(shape: [c.cout], using: &rng)
        let nodes = [Graph.Node(name: "stem", operation: .convolution(d, autoPad: .explicit), inputs: ["x", "w", "b"], outputs: ["s"]),
                     Graph.Node(name: "pool", operation: .maxPool(c.pool), inputs: ["s"], outputs: ["y"])]
        let graph = Graph(inputs: [Graph.Value(name: "x", shape: x.shape)], outputs: c.convolutionIsOutput ? ["y", "s"] : ["y"],
                          constants: ["w": w, "b": b], nodes: nodes)
        let network = try Network(graph: graph, options: NetworkOptions(threads: threads, fusesConvolutionPool: fused, batchSchedule: .wholeBatch))
        let reference = try naiveMaxPool(try ReferenceConvolution.run(descriptor: d, input: x, weights: w, bias: b), c.pool)
        return (network, x, reference)
    }

    func testFusedStemGivesTheSameBitsAsTheLayersApart() throws {
        let pool3s2 = PoolingAttributes(kernel: Size2D(3, 3), stride: Size2D(2, 2))
        let stems = [
            // SqueezeNet: 3→64 3x3 stride 2, no padding, its ceil-mode 3x3 stride-2 pool; odd sides.
            Stem(cin: 3, cout: 64, input: Size2D(23, 26), batch: 1, kernel: 3, stride: 2, padding: 0, activation: .relu,
                 pool: PoolingAttributes(kernel: Size2D(3, 3), stride: Size2D(2, 2), ceilMode: true)),
            // ResNet: 7x7 stride 2 padding 3 (147 taps), a padded pool; 32 channels (single-vector tiles only).
            Stem(cin: 3, cout: 32, input: Size2D(30, 28), batch: 1, kernel: 7, stride: 2, padding: 3, activation: .relu,
                 pool: PoolingAttributes(kernel: Size2D(3, 3), stride: Size2D(2, 2), padding: Padding(top: 1, left: 1, bottom: 1, right: 1))),
            // 80 channels (a 64-channel block and a 16-channel one), no activation, a 2x2 pool, batch 2.
            Stem(cin: 2, cout: 80, input: Size2D(13, 17), batch: 2, kernel: 5, stride: 1, padding: 2, activation: .none,
                 pool: PoolingAttributes(kernel: Size2D(2, 2), stride: Size2D(2, 2))),
            // Clip activation, a stride-1 padded pool (overlapping rows in the ring), rows of 6 positions exactly.
            Stem(cin: 4, cout: 16, input: Size2D(9, 6), batch: 1, kernel: 3, stride: 1, padding: 1, activation: .relu6,
                 pool: PoolingAttributes(kernel: Size2D(3, 3), stride: Size2D(1, 1), padding: Padding(top: 1, left: 1, bottom: 1, right: 1))),
            // AlexNet: 11x11 stride 4 padding 2 (363 taps); rows of 13 in 5-position tiles, the last shifted back.
            Stem(cin: 3, cout: 64, input: Size2D(47, 55), batch: 1, kernel: 11, stride: 4, padding: 2, activation: .relu, pool: pool3s2),
            // One input channel, 48 channels (three single-vector tiles), a padded stride-2 convolution; several rows per worker.
            Stem(cin: 1, cout: 48, input: Size2D(40, 41), batch: 1, kernel: 3, stride: 2, padding: 1, activation: .relu, pool: pool3s2),
        ]
        for (i, c) in stems.enumerated() {
            for threads in [1, 2, 3] {
                try assertFusedMatchesApart("stem \(i), \(threads) threads", marker: "fused convolution + max pool", expectFused: true) { fused in
                    try build(c, seed: UInt64(50 + i), threads: threads, fused: fused)
                }
            }
        }
    }

    func testStemsThatCannotFuseRunApart() throws {
        let stems = [
            // The convolution's result is also a graph output.
            Stem(cin: 3, cout: 16, input: Size2D(12, 12), batch: 1, kernel: 3, stride: 1, padding: 1, activation: .relu,
                 pool: PoolingAttributes(kernel: Size2D(2, 2), stride: Size2D(2, 2)), convolutionIsOutput: true),
            // 24 output channels: not a multiple of 16.
            Stem(cin: 3, cout: 24, input: Size2D(12, 12), batch: 1, kernel: 3, stride: 1, padding: 1, activation: .relu,
                 pool: PoolingAttributes(kernel: Size2D(2, 2), stride: Size2D(2, 2))),
            // Leaky ReLU: not a clamp.
            Stem(cin: 3, cout: 16, input: Size2D(12, 12), batch: 1, kernel: 3, stride: 1, padding: 1, activation: .leakyReLU(alpha: 0.1),
                 pool: PoolingAttributes(kernel: Size2D(2, 2), stride: Size2D(2, 2))),
            // Output rows of 5 positions: fewer than a tile.
            Stem(cin: 3, cout: 16, input: Size2D(8, 5), batch: 1, kernel: 3, stride: 1, padding: 1, activation: .relu,
                 pool: PoolingAttributes(kernel: Size2D(2, 2), stride: Size2D(2, 2))),
        ]
        for (i, c) in stems.enumerated() {
            let (network, x, reference) = try build(c, seed: UInt64(70 + i), threads: 1, fused: true)
            XCTAssertFalse(network.layers.contains { $0.algorithm.hasPrefix("fused") }, "stem \(i)")
            let y = try XCTUnwrap(network.predict(["x": x])["y"])
            let diff = try XCTUnwrap(y.maxAbsoluteDifference(reference))
            XCTAssertLessThanOrEqual(diff, 1e-4 * max(1, reference.maxAbsolute), "stem \(i)")
        }
    }

    // MARK: Winograd convolution + 2x2 max pool (`NetworkOptions.fusesConvolutionPool`)

    /// A convolution the planner's `estimate` puts on Winograd, read only by a max pool: the network, its input, and
    /// the reference convolution then the naive pool.
    func buildWinogradPool(cin: Int, cout: Int, kernel: Int = 3, input: Size2D, batch: Int = 1, activation: Activation,
                           pool: PoolingAttributes = PoolingAttributes(kernel: Size2D(2, 2), stride: Size2D(2, 2)),
                           convolutionIsOutput: Bool = false, seed: UInt64, threads: Int, fused: Bool,
                           knownReference: Tensor? = nil) throws -> (Network, Tensor, Tensor) {
        let p = kernel / 2
        let d = try ConvolutionDescriptor(inputChannels: cin, outputChannels: cout, kernel: Size2D(kernel, kernel),
                                          padding: Padding(top: p, left: p, bottom: p, right: p), activation: activation)
        var rng = SeededGenerator(seed: seed)
        let x = try Tensor.random(shape: [batch, cin, input.height, input.width], using: &rng)
        let w = try Tensor.random(shape: d.weightShape, using: &rng), b = try Tensor.random(shape: [cout], using: &rng)
        let nodes = [Graph.Node(name: "conv", operation: .convolution(d, autoPad: .explicit), inputs: ["x", "w", "b"], outputs: ["c"]),
                     Graph.Node(name: "pool", operation: .maxPool(pool), inputs: ["c"], outputs: ["y"])]
        let graph = Graph(inputs: [Graph.Value(name: "x", shape: x.shape)], outputs: convolutionIsOutput ? ["y", "c"] : ["y"],
                          constants: ["w": w, "b": b], nodes: nodes)
        let network = try Network(graph: graph, options: NetworkOptions(threads: threads, fusesConvolutionPool: fused, batchSchedule: .wholeBatch))
        let reference = try knownReference ?? naiveMaxPool(try ReferenceConvolution.run(descriptor: d, input: x, weights: w, bias: b), pool)
        return (network, x, reference)
    }

    /// The pool in Winograd's output stage gives the bits of the two steps apart, on every even tile the planner picks
    /// (F(2×2), F(4×4), F(6×6), F(4×4, 5×5)), odd output sides (the last row and column dropped), batch 2, 1–3
    /// threads, and weights above 1 MB (shared stage by stage at 2 threads).
    func testWinogradConvolutionWithPoolGivesTheSameBitsAsTheLayersApart() throws {
        let cases: [(cin: Int, cout: Int, kernel: Int, input: Size2D, batch: Int, activation: Activation, tile: String)] = [
            (48, 128, 3, Size2D(13, 15), 1, .relu, "wino4x4_3x3"),  // 432 taps: above the stem fusion's 400
            (128, 256, 3, Size2D(14, 17), 1, .relu, "wino4x4_3x3"),     // 4.7 MB of weights
            (64, 128, 3, Size2D(57, 61), 1, .none, "wino6x6_3x3"),  // F(6x6) on every core from 56² (Intel: not below)
            (96, 128, 3, Size2D(7, 9), 1, .relu6, "wino2x2_3x3"),
            (8, 16, 5, Size2D(14, 13), 1, .leakyReLU(alpha: 0.1), "wino4x4_5x5"),  // not a clamp: not a stem fusion
            // 128 input channels, 56 tiles: the transposed GEMM, its products pooled with the channels as lanes.
            (128, 64, 3, Size2D(28, 30), 2, .relu, "wino4x4_3x3"),
        ]
        var transposedCases = 0
        for (i, c) in cases.enumerated() {
            var known: Tensor?  // the reference of the case's seed, computed once
            for threads in [1, 2, 3] {
                let what = "case \(i), \(threads) threads"
                let build = { (fused: Bool) in
                    try self.buildWinogradPool(cin: c.cin, cout: c.cout, kernel: c.kernel, input: c.input, batch: c.batch,
                                               activation: c.activation, seed: UInt64(90 + i), threads: threads, fused: fused,
                                               knownReference: known)
                }
                let (fused, x, reference) = try build(true)
                known = reference
                let (apart, _, _) = try build(false)
                XCTAssertEqual(fused.layers.count, 1, what)
                XCTAssertTrue(fused.layers.first.map { $0.algorithm.contains(c.tile) && $0.algorithm.contains("2x2 max pool") } ?? false,
                              "\(what): \(fused.layers.map(\.algorithm))")
                XCTAssertEqual(apart.layers.count, 2, what)
                if fused.layers.first?.algorithm.contains("32t") == true { transposedCases += 1 }
                let y = try fused(x), z = try apart(x)
                XCTAssertEqual(y.shape, [c.batch, c.cout, c.input.height / 2, c.input.width / 2], what)
                try assertSameBits(y, z, nearReference: reference, what)
            }
        }
        XCTAssertEqual(transposedCases > 0, KernelTarget.wideRegisters, "no case on the transposed GEMM")
    }

    func testWinogradConvolutionsAndPoolsThatCannotFuseRunApart() throws {
        let pools = [
            PoolingAttributes(kernel: Size2D(3, 3), stride: Size2D(2, 2)),
            PoolingAttributes(kernel: Size2D(2, 2), stride: Size2D(1, 1)),
            PoolingAttributes(kernel: Size2D(2, 2), stride: Size2D(2, 2), padding: Padding(top: 1, left: 1, bottom: 1, right: 1)),
            PoolingAttributes(kernel: Size2D(2, 2), stride: Size2D(2, 2), ceilMode: true),  // 13 → 7 rows: not floor sizes
        ]
        for (i, pool) in pools.enumerated() {
            let (network, x, reference) = try buildWinogradPool(cin: 48, cout: 128, input: Size2D(13, 13), activation: .relu, pool: pool,
                                                                seed: UInt64(100 + i), threads: 1, fused: true)
            XCTAssertEqual(network.layers.count, 2, "pool \(i)")
            let y = try XCTUnwrap(network.predict(["x": x])["y"])
            XCTAssertEqual(y.shape, reference.shape, "pool \(i)")
            XCTAssertLessThanOrEqual(try XCTUnwrap(y.maxAbsoluteDifference(reference)), 1e-4 * max(1, reference.maxAbsolute), "pool \(i)")
        }
        // The convolution's result is also a graph output.
        let (network, x, reference) = try buildWinogradPool(cin: 48, cout: 128, input: Size2D(14, 14), activation: .relu,
                                                            convolutionIsOutput: true, seed: 110, threads: 1, fused: true)
        XCTAssertEqual(network.layers.count, 2)
        let y = try XCTUnwrap(network.predict(["x": x])["y"])
        XCTAssertLessThanOrEqual(try XCTUnwrap(y.maxAbsoluteDifference(reference)), 1e-4 * max(1, reference.maxAbsolute))
    }

    // MARK: depthwise + 1x1 (`NetworkOptions.fusesDepthwisePointwise`)

    /// A 3x3 depthwise layer read only by a 1x1 layer: the network, its input, and the chained reference convolutions.
    /// The depthwise + 1x1 pair's network, its input, and the chained reference convolutions' output; with `residual`,
    /// the 1x1 output plus the pair's input (`"x"`, MobileNetV3's first block) or the depthwise output (`"d"`).
    func buildDepthwisePointwise(channels: Int, outputs: Int, input: Size2D, batch: Int, depthwiseActivation: Activation,
                                 pointwiseActivation: Activation, seed: UInt64, threads: Int, fused: Bool,
                                 residual: String? = nil) throws -> (Network, Tensor, Tensor) {
        let dd = try ConvolutionDescriptor(inputChannels: channels, outputChannels: channels, kernel: 3, padding: 1, groups: channels,
                                           activation: depthwiseActivation)
        let pd = try ConvolutionDescriptor(inputChannels: channels, outputChannels: outputs, kernel: 1, hasBias: false,
                                           activation: pointwiseActivation)
        var rng = SeededGenerator(seed: seed)
        let x = try Tensor.random(shape: [batch, channels, input.height, input.width], using: &rng)
        let wd = try Tensor.random(shape: dd.weightShape, using: &rng), bd = try Tensor.random(shape: [channels], using: &rng)
        let wp = try Tensor.random(shape: pd.weightShape, using: &rng)
        var nodes = [Graph.Node(name: "dw", operation: .convolution(dd, autoPad: .explicit), inputs: ["x", "wd", "bd"], outputs: ["d"]),
                     Graph.Node(name: "project", operation: .convolution(pd, autoPad: .explicit), inputs: ["d", "wp"],
                                outputs: [residual == nil ? "y" : "p"])]
        if let residual { nodes.append(Graph.Node(name: "add", operation: .add, inputs: ["p", residual], outputs: ["y"])) }
        let graph = Graph(inputs: [Graph.Value(name: "x", shape: x.shape)], outputs: ["y"], constants: ["wd": wd, "bd": bd, "wp": wp],
                          nodes: nodes)
        let network = try Network(graph: graph, options: NetworkOptions(threads: threads, fusesDepthwisePointwise: fused, batchSchedule: .wholeBatch))
        let d = try ReferenceConvolution.run(descriptor: dd, input: x, weights: wd, bias: bd)
        let y = try ReferenceConvolution.run(descriptor: pd, input: d, weights: wp, bias: nil)
        guard let residual else { return (network, x, y) }
        let r = residual == "x" ? x : d
        return (network, x, try Tensor(shape: y.shape, values: zip(y.scalars, r.scalars).map { $0 + $1 }))
    }

    func testFusedDepthwisePointwiseMatchesTheLayersApart() throws {
        // MobileNetV2's first block (32 → 16 at 112 wide; 16 rows: two bands), a width not a multiple of 16 with
        // batch 2, and 48 → 24 channels (single-vector steps of the depthwise rows, several 1x1 panels).
        let cases: [(Int, Int, Size2D, Int, Activation, Activation)] = [
            (32, 16, Size2D(16, 112), 1, .relu6, .none),
            (16, 16, Size2D(8, 120), 2, .relu, .relu6),
            (48, 24, Size2D(24, 112), 1, .none, .relu),
        ]
        for (i, (c, m, size, batch, da, pa)) in cases.enumerated() {
            for threads in [1, 2, 3] {
                // The 16 → 16 case also with the pair's input added after the 1x1 layer (MobileNetV3's first block).
                for residual in m == c ? [nil, "x"] : [nil] {
                let what = "case \(i), \(threads) threads, residual \(residual ?? "none")"
                let pa = residual == nil ? pa : .none  // (an activation after the add is not the 1x1 layer's)
                let (fused, x, reference) = try buildDepthwisePointwise(channels: c, outputs: m, input: size, batch: batch, depthwiseActivation: da,
                                                                        pointwiseActivation: pa, seed: UInt64(90 + i), threads: threads, fused: true,
                                                                        residual: residual)
                let (apart, _, _) = try buildDepthwisePointwise(channels: c, outputs: m, input: size, batch: batch, depthwiseActivation: da,
                                                                pointwiseActivation: pa, seed: UInt64(90 + i), threads: threads, fused: false,
                                                                residual: residual)
                XCTAssertTrue(fused.layers.contains { $0.algorithm.hasPrefix("fused depthwise + 1x1") }, what)
                XCTAssertFalse(apart.layers.contains { $0.algorithm.hasPrefix("fused") }, what)
                let y = try fused(x), z = try apart(x)
                XCTAssertEqual(y.shape, reference.shape, what)
                let scale = 1e-4 * max(1, reference.maxAbsolute)
                XCTAssertLessThanOrEqual(try XCTUnwrap(y.maxAbsoluteDifference(reference)), scale, what)
                XCTAssertLessThanOrEqual(try XCTUnwrap(y.maxAbsoluteDifference(z)), scale, what)
                XCTAssertGreaterThan(reference.maxAbsolute, 0, what)
                }
            }
        }
    }

    func testDepthwisePointwisePairsThatCannotFuseRunApart() throws {
        // 56 wide (below the fused widths), a height not a multiple of 8, a leaky ReLU on the depthwise layer.
        let cases: [(Size2D, Activation)] = [(Size2D(8, 56), .relu), (Size2D(12, 112), .relu), (Size2D(8, 112), .leakyReLU(alpha: 0.1))]
        for (i, (size, da)) in cases.enumerated() {
            let (network, x, reference) = try buildDepthwisePointwise(channels: 16, outputs: 16, input: size, batch: 1, depthwiseActivation: da,
                                                                      pointwiseActivation: .none, seed: UInt64(95 + i), threads: 1, fused: true)
            XCTAssertFalse(network.layers.contains { $0.algorithm.hasPrefix("fused") }, "case \(i)")
            let y = try network(x)
            XCTAssertLessThanOrEqual(try XCTUnwrap(y.maxAbsoluteDifference(reference)), 1e-4 * max(1, reference.maxAbsolute), "case \(i)")
        }
        // The 1x1 output plus the depthwise output itself: the pair's intermediate tensor is read twice, not fused.
        let (network, x, reference) = try buildDepthwisePointwise(channels: 16, outputs: 16, input: Size2D(8, 112), batch: 1,
                                                                  depthwiseActivation: .relu, pointwiseActivation: .none, seed: 99,
                                                                  threads: 1, fused: true, residual: "d")
        XCTAssertFalse(network.layers.contains { $0.algorithm.hasPrefix("fused") }, "residual d")
        XCTAssertLessThanOrEqual(try XCTUnwrap(try network(x).maxAbsoluteDifference(reference)), 1e-4 * max(1, reference.maxAbsolute))
    }
}

/// A value a later convolution adds back as its residual has that reader too: no fusion may leave it uncomputed.
final class ResidualReaderTests: XCTestCase {
    override func setUp() { BufferCache.fillsUnzeroedTensorsWithNaN = true }

    /// Two MobileNetV2-style blocks, the second of expansion 1 (`diff_fuzz.py` seed 9): `a` (a 1x1 layer on the block's
    /// input `x`, or a 3x3 depthwise layer on 112-wide planes) writes `e`; a depthwise layer (or a 1x1 layer) reads `e`,
    /// a 1x1 layer reads that and adds `e` back. `e`'s first reader would make a fused pair with `a` were `e` not read
    /// again — it ended in "input not computed".
    func testAValueAddedBackLaterIsComputed() throws {
        let c = 16
        for (pointwiseFirst, size) in [(true, Size2D(10, 10)), (false, Size2D(16, 112))] {
            var rng = SeededGenerator(seed: pointwiseFirst ? 97 : 98)
            let x = try Tensor.random(shape: [1, c, size.height, size.width], using: &rng)
            let pw = try ConvolutionDescriptor(inputChannels: c, outputChannels: c, kernel: 1, activation: .relu6)
            let dw = try ConvolutionDescriptor(inputChannels: c, outputChannels: c, kernel: 3, padding: 1, groups: c, activation: .relu6)
            let last = try ConvolutionDescriptor(inputChannels: c, outputChannels: c, kernel: 1)
            let (da, db) = pointwiseFirst ? (pw, dw) : (dw, pw)
            var constants: [String: Tensor] = [:]
            for (name, d) in [("a", da), ("b", db), ("c", last)] {
                constants["w" + name] = try Tensor.random(shape: d.weightShape, using: &rng)
                constants["b" + name] = try Tensor.random(shape: [c], using: &rng)
            }
            let nodes = [Graph.Node(name: "a", operation: .convolution(da, autoPad: .explicit), inputs: ["x", "wa", "ba"], outputs: ["e"]),
                         Graph.Node(name: "b", operation: .convolution(db, autoPad: .explicit), inputs: ["e", "wb", "bb"], outputs: ["f"]),
                         Graph.Node(name: "c", operation: .convolution(last, autoPad: .explicit), inputs: ["f", "wc", "bc"], outputs: ["p"]),
                         Graph.Node(name: "add", operation: .add, inputs: ["p", "e"], outputs: ["y"])]
            let graph = Graph(inputs: [Graph.Value(name: "x", shape: x.shape)], outputs: ["y"], constants: constants, nodes: nodes)
            func ref(_ d: ConvolutionDescriptor, _ input: Tensor, _ n: String) throws -> Tensor {
                try ReferenceConvolution.run(descriptor: d, input: input, weights: constants["w" + n]!, bias: constants["b" + n]!)
            }
            let e = try ref(da, x, "a"), p = try ref(last, try ref(db, e, "b"), "c")
            let reference = try Tensor(shape: p.shape, values: zip(p.scalars, e.scalars).map { $0 + $1 })
            for threads in [1, 2] {
                let what = "\(pointwiseFirst ? "1x1" : "depthwise") first, \(threads) threads"
                let network = try Network(graph: graph, options: NetworkOptions(threads: threads))
                XCTAssertEqual(network.layers.count, 3, what)  // a, b, then c with the add: no pair of a and b
                let y = try network(x)
                XCTAssertLessThanOrEqual(try XCTUnwrap(y.maxAbsoluteDifference(reference)), 1e-4 * max(1, reference.maxAbsolute), what)
            }
        }
    }
}
