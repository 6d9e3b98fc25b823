import FFTConv
import FFTConvKernels
import XCTest

/// The Winograd family tester: every variant in `WinogradRegistry` over an edge-shape grid against the
/// reference, plus the algebra of its matrices on its own.
final class WinogradTests: XCTestCase {
    /// `Aᵀ[(G g) ⊙ (Bᵀ d)]` equals the 1-D correlation of `d` with `g`, in exact-enough double arithmetic.
    func testTransformMatricesComputeTheCorrelation() {
        var rng = SeededGenerator(seed: 17)
        for t in WinogradRegistry.all {
            let (m, r, a) = (t.m, t.r, t.alpha)
            for _ in 0..<5 {
                let d = (0..<a).map { _ in Double.random(in: -1...1, using: &rng) }
                let g = (0..<r).map { _ in Double.random(in: -1...1, using: &rng) }
                let gg = (0..<a).map { i in (0..<r).reduce(0.0) { $0 + t.filterMatrix[i * r + $1] * g[$1] } }
                let bd = (0..<a).map { i in (0..<a).reduce(0.0) { $0 + t.inputMatrix[i * a + $1] * d[$1] } }
                for i in 0..<m {
                    let y = (0..<a).reduce(0.0) { $0 + t.outputMatrix[i * a + $1] * gg[$1] * bd[$1] }
                    let expected = (0..<r).reduce(0.0) { $0 + d[i + $1] * g[$1] }
                    XCTAssertEqual(y, expected, accuracy: 1e-12, "\(t) output \(i)")
                }
            }
        }
        XCTAssertEqual(WinogradRegistry.f4x4_3x3.inputMatrix[0..<6], [4, 0, -5, 0, 1, 0])  // Lavin & Gray's first row of Bᵀ
    }

    /// Edge shapes for `r × r` filters: sizes 1, primes, outputs that are not multiples of any tile, asymmetric
    /// padding, groups, batch, residual, every activation, tile rows spread over several chunks.
    static func edgeCases(filter r: Int) throws -> [ConvolutionCase] {
        func c(_ cin: Int, _ cout: Int, _ input: Size2D, padding: Padding? = nil, groups: Int = 1, batch: Int = 1,
               activation: Activation = .relu) throws -> ConvolutionCase {
            ConvolutionCase(descriptor: try ConvolutionDescriptor(inputChannels: cin, outputChannels: cout, kernel: Size2D(r, r),
                                                                  padding: padding ?? Padding(integerLiteral: r / 2), groups: groups, activation: activation),
                            batch: batch, input: input)
        }
        return [
            try c(1, 1, Size2D(1, 1)), try c(3, 5, Size2D(r, r), padding: 0), try c(2, 3, Size2D(7, 11)),
            try c(4, 6, Size2D(13, 17), padding: Padding(top: 0, left: 2, bottom: 2, right: 0), activation: .none),
            try c(6, 4, Size2D(9, 9), groups: 2, batch: 2, activation: .leakyReLU(alpha: 0.1)),
            try c(3, 3, Size2D(5, 70), activation: .relu6),                       // many tiles per row
            try c(5, 7, Size2D(90, 37), padding: Padding(top: 1, left: 0, bottom: 0, right: 1)),  // several chunks
            try c(33, 17, Size2D(6, 6), activation: .clip(min: -0.3, max: 0.3)),  // channels past a micro-kernel tile
            try c(8, 16, Size2D(13, 15), batch: 2),                               // rows of 4 F(4x4) tiles: two per 8-lane vector
            try c(5, 9, Size2D(10, 16), activation: .relu),                        // rows of 4 tiles, a last unpaired tile row
            // Rows of 4 F(4x4) tiles read with one 16-float load where the row allows (fftconv_split4pad16), every
            // left padding it takes (0–3) and widths 13, 14 and 16 (AlexNet's 13², ResNet's 14²):
            try c(3, 5, Size2D(14, 14), batch: 2),
            try c(2, 4, Size2D(11, 16), padding: Padding(top: 1, left: 0, bottom: 1, right: 0)),
            try c(2, 4, Size2D(9, 13), padding: Padding(top: 2, left: 2, bottom: 0, right: 0), activation: .none),
            try c(2, 4, Size2D(10, 12), padding: Padding(top: 0, left: 3, bottom: 1, right: 0)),
            try c(16, 12, Size2D(27, 27), batch: 2),                              // AlexNet's 5x5 plane: rows of 7 F(4x4) tiles
            try c(4, 8, Size2D(9, 110)),                                          // rows of 19 F(6x6) tiles: a 16- and an 8-lane vector
            // The row's last tile reads phase position 16 from a block of the split with no column of the row (stored
            // as zeros): 16 F(4x4) tiles on 63 columns, 16 F(6x6) tiles on 95.
            try c(3, 4, Size2D(5, 63)), try c(2, 3, Size2D(4, 95), activation: .none),
        ]
    }

    func testEveryVariantOverEdgeShapes() throws {
        for t in WinogradRegistry.all {
            for (i, c) in try Self.edgeCases(filter: t.r).enumerated() {
                try assertMatchesReference(c, algorithm: .winograd, seed: UInt64(40 + i),
                                           options: ConvolutionOptions(threads: i % 3 + 1, winogradTile: t.m), withResidual: i % 2 == 1)
            }
        }
    }

    /// The transposed GEMM (`gemm_13x32t`, `gemm_7x32t`: Winograd tiles as the micro-kernel's rows, `V` read in
    /// place; the products kept transposed for the channel-lane output stage, or transposed back for the stage of a
    /// variant without straight-line stages) against the reference and bit for bit against the column path
    /// (`gemm_12x32` forced): the same FMAs in the same order, the same output formulas. Shapes: tile counts that leave a last run short (its rows read `V`'s padding), output
    /// channels past a 32-channel panel, groups, batch, residual, two depth blocks (300 input channels), threads
    /// 1–3 (staged and by chunks), every variant (3x3 and 5x5). On a build without 16-float registers the names are
    /// `unsupported` errors.
    /// Grouped layers (RegNetX's 16-channel groups) share their groups' chunks between threads, cut as for one
    /// thread: the same bits at 1, 2 and 3 threads, every output written (NaN-filled), near the reference; F(4x4) on
    /// 14², F(2x2) on 7² with 25 groups (an odd share), and 4 groups of 16 on 28² (several chunks per group).
    func testGroupedLayersGiveTheSameBitsAtEveryThreadCount() throws {
        for (channels, side, groups, m) in [(160, 14, 10, 4), (400, 7, 25, 2), (64, 28, 4, 4)] {
            let c = ConvolutionCase(descriptor: try ConvolutionDescriptor(inputChannels: channels, outputChannels: channels, kernel: 3,
                                                                          padding: 1, groups: groups, activation: .relu),
                                    batch: 1, input: Size2D(side, side))
            let (x, w, b) = try c.data(seed: 90)
            var outputs: [Tensor] = []
            for threads in [1, 2, 3] {
                let conv = try Convolution2D(descriptor: c.descriptor, input: c.input, weights: w, bias: b, algorithm: .winograd,
                                             options: ConvolutionOptions(threads: threads, winogradTile: m))
                var y = try Tensor(shape: conv.outputShape(batch: 1), repeating: .nan)
                try conv.run(x, into: &y)
                XCTAssertFalse(y.scalars.contains { $0.isNaN }, "\(c) F\(m) threads \(threads)")
                outputs.append(y)
            }
            for o in outputs.dropFirst() { XCTAssertEqual(o, outputs[0], "\(c) F\(m)") }
            XCTAssert(try assertMatchesReference(c, algorithm: .winograd, seed: 90, options: ConvolutionOptions(threads: 2, winogradTile: m)))
        }
    }

    /// Where chunks of the chosen row count would give one worker more tile rows than another (F(4×4) on 55²: 14 tile
    /// rows in chunks of 4, 8 rows against 6 at 2 threads), the plane is cut into a multiple of the thread count of
    /// even chunks (3 + 4 + 3 + 4); at least one of these planes is cut so. Every chunk cut gives 1 thread's bits,
    /// every output written, near the reference.
    func testUnevenChunksAreCutEvenlyBetweenThreads() throws {
        var evenCuts = 0
        for (side, m, batch) in [(55, 4, 1), (56, 4, 2), (38, 2, 1), (50, 6, 1)] {
            let c = ConvolutionCase(descriptor: try ConvolutionDescriptor(inputChannels: 16, outputChannels: 40, kernel: 3, padding: 1,
                                                                          activation: .relu),
                                    batch: batch, input: Size2D(side, side))
            let (x, w, b) = try c.data(seed: 97)
            var first: Tensor?
            for threads in [1, 2, 3] {
                let conv = try Convolution2D(descriptor: c.descriptor, input: c.input, weights: w, bias: b, algorithm: .winograd,
                                             options: ConvolutionOptions(threads: threads, winogradTile: m))
                if conv.summary.contains("–") { evenCuts += 1 }
                var y = try Tensor(shape: conv.outputShape(batch: batch), repeating: .nan)
                try conv.run(x, into: &y)
                XCTAssertFalse(y.scalars.contains { $0.isNaN }, "\(side)² F\(m) threads \(threads): \(conv.summary)")
                if let first { XCTAssertEqual(y, first, "\(side)² F\(m): \(threads) threads differ from 1") } else { first = y }
            }
            XCTAssert(try assertMatchesReference(c, algorithm: .winograd, seed: 97, options: ConvolutionOptions(threads: 3, winogradTile: m)))
        }
        XCTAssertGreaterThan(evenCuts, 0, "no case was cut evenly")
    }

    /// Small planes at 2 threads are shared stage by stage or cut into whole chunks of tile rows as the rule for the
    /// running core says (`WinogradImplementation.fewTileRows`): on Intel cores staged where whole rows would split
    /// unevenly (1 or 3 rows of F(4x4) tiles: 4², 12²) or a share would hold fewer than 16 tiles (20²: 3 + 2 rows of 5),
    /// not 7 rows of 7 (27²: SqueezeNet's 27² layers); on other cores below 4 rows a thread (all four). Either way every
    /// output is written and the bits are those of 1 thread, near the reference.
    func testSmallPlanesSplitAsTheCoreKindRules() throws {
        let intel = BuildInfo.cpuIsIntel
        for (side, staged) in [(4, true), (12, true), (20, true), (27, !intel)] {
            let c = ConvolutionCase(descriptor: try ConvolutionDescriptor(inputChannels: 16, outputChannels: 40, kernel: 3, padding: 1,
                                                                          activation: .relu),
                                    batch: 1, input: Size2D(side, side))
            let (x, w, b) = try c.data(seed: 95)
            var outputs: [Tensor] = []
            for threads in [1, 2] {
                let conv = try Convolution2D(descriptor: c.descriptor, input: c.input, weights: w, bias: b, algorithm: .winograd,
                                             options: ConvolutionOptions(threads: threads, winogradTile: 4))
                if threads == 2 { XCTAssertEqual(conv.summary.contains("staged"), staged, "\(side)²: \(conv.summary)") }
                var y = try Tensor(shape: conv.outputShape(batch: 1), repeating: .nan)
                try conv.run(x, into: &y)
                XCTAssertFalse(y.scalars.contains { $0.isNaN }, "\(side)² threads \(threads)")
                outputs.append(y)
            }
            XCTAssertEqual(outputs[1], outputs[0], "\(side)²: 2 threads differ from 1")
            XCTAssert(try assertMatchesReference(c, algorithm: .winograd, seed: 95, options: ConvolutionOptions(threads: 2, winogradTile: 4)))
        }
    }

    func testTransposedGEMMMatchesTheColumnPathBitForBit() throws {
        func c(_ cin: Int, _ cout: Int, _ side: Int, groups: Int = 1, batch: Int = 1, filter r: Int = 3) throws -> ConvolutionCase {
            ConvolutionCase(descriptor: try ConvolutionDescriptor(inputChannels: cin, outputChannels: cout, kernel: Size2D(r, r),
                                                                  padding: Padding(integerLiteral: r / 2), groups: groups, activation: .relu),
                            batch: batch, input: Size2D(side, side))
        }
        let cases = [try c(16, 40, 28), try c(8, 70, 9, batch: 2), try c(12, 36, 17, groups: 2), try c(300, 33, 12), try c(5, 3, 4)]
        for name in ["gemm_13x32t", "gemm_7x32t"] {
            guard KernelTarget.wideRegisters else {
                XCTAssertThrowsError(try Convolution2D(descriptor: cases[0].descriptor, input: cases[0].input,
                                                       weights: try Tensor(zeros: [40, 16, 3, 3]), bias: try Tensor(zeros: [40]), algorithm: .winograd,
                                                       options: ConvolutionOptions(microKernel: name))) {
                    guard case .unsupported? = $0 as? ConvolutionError else { return XCTFail("\($0)") }
                }
                continue
            }
            for t in WinogradRegistry.all {
                let m = t.m
                for (i, k) in try cases.map({ try c($0.descriptor.inputChannels, $0.descriptor.outputChannels, $0.input.height,
                                                    groups: $0.descriptor.groups, batch: $0.batch, filter: t.r) }).enumerated() {
                    let options = ConvolutionOptions(threads: i % 3 + 1, microKernel: name, winogradTile: m)
                    XCTAssert(try assertMatchesReference(k, algorithm: .winograd, seed: UInt64(60 + i), options: options,
                                                         withResidual: i % 2 == 0), "\(name) F\(m) \(k)")
                    let (x, w, b) = try k.data(seed: UInt64(60 + i))
                    let transposed = try Convolution2D(descriptor: k.descriptor, input: k.input, weights: w, bias: b,
                                                       algorithm: .winograd, options: options)
                    XCTAssert(transposed.summary.contains(name), transposed.summary)
                    let columns = try Convolution2D(descriptor: k.descriptor, input: k.input, weights: w, bias: b, algorithm: .winograd,
                                                    options: ConvolutionOptions(threads: i % 3 + 1, microKernel: "gemm_12x32", winogradTile: m))
                    XCTAssertFalse(columns.summary.contains("32t"), columns.summary)
                    XCTAssertEqual(try transposed(x), try columns(x), "\(name) F\(m) \(k): the two GEMM orientations differ")
                }
            }
        }
        // Unforced, F(6×6) on 28² (25 tiles, 32 columns on the column path) takes 13-tile rows from 128 input
        // channels, and on a plane up to 64² from 16 (its products kept transposed), not with 8; F(4×4) on 16² (16
        // tiles, one narrow column tile) keeps the column path.
        func summary(_ k: ConvolutionCase, tile: Int, threads: Int = 2) throws -> String {
            let (_, w, b) = try k.data(seed: 1)
            return try Convolution2D(descriptor: k.descriptor, input: k.input, weights: w, bias: b, algorithm: .winograd,
                                     options: ConvolutionOptions(threads: threads, winogradTile: tile)).summary
        }
        let deep = try summary(try c(128, 32, 28), tile: 6), shallow = try summary(cases[0], tile: 6)
        let tooShallow = try summary(try c(8, 32, 28), tile: 6)
        XCTAssertEqual(deep.contains("gemm_13x32t"), KernelTarget.wideRegisters, deep)
        XCTAssertEqual(shallow.contains("gemm_13x32t"), KernelTarget.wideRegisters, shallow)
        XCTAssertFalse(tooShallow.contains("32t"), tooShallow)
        let narrow = try summary(try c(128, 64, 16), tile: 4)
        XCTAssertFalse(narrow.contains("32t"), narrow)
        // F(4×4) on 56² (14 tile rows of 14): 196 rows in chunks of 56 tiles against 208 columns, with 128 channels
        // and with 64 (at 2 threads); on 110² (a plane above 64²: 28 tiles a row, chunks of 56 in whole 7-tile rows
        // against the column path's 112 in 3½ 32-column tiles) with 64 only at 1 thread; on 13² (16 tiles, 21 rows
        // against one 16-column tile) not even at 1 thread.
        let wide = try summary(try c(128, 32, 56), tile: 4), thin = try summary(try c(64, 32, 56), tile: 4)
        XCTAssertEqual(wide.contains("gemm_7x32t") && wide.contains("56 tiles/chunk"), KernelTarget.wideRegisters, wide)
        XCTAssertEqual(thin.contains("gemm_7x32t"), KernelTarget.wideRegisters, thin)
        let large = try summary(try c(64, 32, 110), tile: 4), single = try summary(try c(64, 32, 110), tile: 4, threads: 1)
        XCTAssertFalse(large.contains("32t"), large)
        XCTAssertEqual(single.contains("32t"), KernelTarget.wideRegisters, single)
        XCTAssertFalse(try summary(try c(64, 256, 13), tile: 4, threads: 1).contains("32t"))
        // F(4×4) on 28² (49 tiles: 49 rows in 7-tile units, 52 in 13-tile ones): the 7-tile kernel with 128 input
        // channels, the 13-tile one from 256 (`wideTileDepth`: there the 7-tile kernel's 14 accumulators cost more per
        // row) — and the layer still computes the convolution.
        let k256 = try c(256, 32, 28)
        XCTAssertEqual(try summary(try c(128, 32, 28), tile: 4, threads: 1).contains("gemm_7x32t"), KernelTarget.wideRegisters)
        XCTAssertEqual(try summary(k256, tile: 4, threads: 1).contains("gemm_13x32t"), KernelTarget.wideRegisters)
        XCTAssert(try assertMatchesReference(k256, algorithm: .winograd, seed: 71, options: ConvolutionOptions(winogradTile: 4)))
        // On 56² at 2 threads the transposed form still pays by its fewest rows (196 against 208 columns), though
        // the 13-tile kernel it then takes computes 221.
        let vggLike = try summary(try c(256, 32, 56), tile: 4)
        XCTAssertEqual(vggLike.contains("gemm_13x32t"), KernelTarget.wideRegisters, vggLike)
    }

    /// Accuracy on a VGG-like layer (256 input channels): each variant's error against the double-precision
    /// reference stays within the library's tolerance, and grows with the tile as the theory says (for each filter
    /// size, F(2×2) against the variant with the largest tile, α = 8).
    func testAccuracyGrowsWithTileButStaysWithinTolerance() throws {
        for r in WinogradRegistry.filterSides.sorted() {
            let d = try ConvolutionDescriptor(inputChannels: 256, outputChannels: 16, kernel: Size2D(r, r), padding: Padding(integerLiteral: r / 2))
            let c = ConvolutionCase(descriptor: d, batch: 1, input: Size2D(12, 12))
            let (x, w, b) = try c.data(seed: 3)
            let ref = try ReferenceConvolution.run(descriptor: d, input: x, weights: w, bias: b)
            var errors: [Float] = []
            for m in WinogradRegistry.tiles(filter: r) {
                let y = try Convolution2D(descriptor: d, input: c.input, weights: w, bias: b, algorithm: .winograd,
                                          options: ConvolutionOptions(winogradTile: m))(x)
                errors.append((y.maxAbsoluteDifference(ref) ?? .infinity) / ref.maxAbsolute)
            }
            for e in errors { XCTAssertLessThanOrEqual(e, 1e-4, "\(r)x\(r): \(errors)") }
            XCTAssertLessThan(errors[0], errors[errors.count - 1], "\(r)x\(r): F(2x2) should be the most accurate: \(errors)")
        }
    }

    func testUnsupportedShapesAndTilesAreTypedErrors() throws {
        let w = try Tensor(zeros: [2, 2, 3, 3]), b = try Tensor(zeros: [2])
        for d in [try ConvolutionDescriptor(inputChannels: 2, outputChannels: 2, kernel: 3, stride: 2),
                  try ConvolutionDescriptor(inputChannels: 2, outputChannels: 2, kernel: 3, dilation: 2)] {
            XCTAssertFalse(ConvolutionAlgorithm.winograd.supports(d))
            XCTAssertThrowsError(try Convolution2D(descriptor: d, input: Size2D(9, 9), weights: w, bias: b, algorithm: .winograd)) {
                guard case .unsupported? = $0 as? ConvolutionError else { return XCTFail("\($0)") }
            }
        }
        let d = try ConvolutionDescriptor(inputChannels: 2, outputChannels: 2, kernel: 3)
        XCTAssertThrowsError(try Convolution2D(descriptor: d, input: Size2D(9, 9), weights: w, bias: b, algorithm: .winograd,
                                               options: ConvolutionOptions(winogradTile: 3))) {
            guard case .invalidOption? = $0 as? ConvolutionError else { return XCTFail("\($0)") }
        }
        // 5x5 filters have F(2x2) and F(4x4) only; 7x7 filters none.
        let d5 = try ConvolutionDescriptor(inputChannels: 2, outputChannels: 2, kernel: 5), w5 = try Tensor(zeros: [2, 2, 5, 5])
        XCTAssertThrowsError(try Convolution2D(descriptor: d5, input: Size2D(9, 9), weights: w5, bias: b, algorithm: .winograd,
                                               options: ConvolutionOptions(winogradTile: 6))) {
            guard case .invalidOption? = $0 as? ConvolutionError else { return XCTFail("\($0)") }
        }
        let d7 = try ConvolutionDescriptor(inputChannels: 2, outputChannels: 2, kernel: 7)
        XCTAssertFalse(ConvolutionAlgorithm.winograd.supports(d7))
        XCTAssertThrowsError(try Convolution2D(descriptor: d7, input: Size2D(9, 9), weights: try Tensor(zeros: [2, 2, 7, 7]), bias: b,
                                               algorithm: .winograd)) {
            guard case .unsupported? = $0 as? ConvolutionError else { return XCTFail("\($0)") }
        }
    }
}
