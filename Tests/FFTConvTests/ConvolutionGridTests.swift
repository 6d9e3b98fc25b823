import FFTConv
import XCTest

/// Every algorithm against the reference over a seeded grid of descriptors and hand-picked edge cases.
final class ConvolutionGridTests: XCTestCase {
    static let algorithms: [ConvolutionAlgorithm] = [.plain, .direct, .gemm, .fft]

    /// Every algorithm that applies to `c` (depthwise only to depthwise layers, Winograd only to 3x3 stride 1).
    static func algorithms(for c: ConvolutionCase) -> [ConvolutionAlgorithm] {
        algorithms + [.depthwise, .winograd].filter { $0.supports(c.descriptor) }
    }

    /// Cases that each exercise one edge named by the core-engine issue.
    static func edgeCases() throws -> [ConvolutionCase] {
        func c(_ cin: Int, _ cout: Int, _ k: Size2D, input: Size2D, batch: Int = 1, stride: Size2D = 1,
               dilation: Size2D = 1, padding: Padding = 0, groups: Int = 1, bias: Bool = true,
               activation: Activation = .none) throws -> ConvolutionCase {
            ConvolutionCase(descriptor: try ConvolutionDescriptor(
                inputChannels: cin, outputChannels: cout, kernel: k, stride: stride, dilation: dilation,
                padding: padding, groups: groups, hasBias: bias, activation: activation), batch: batch, input: input)
        }
        return [
            try c(3, 4, 5, input: Size2D(5, 5)),                                               // 1x1 output
            try c(2, 3, Size2D(5, 4), input: Size2D(2, 3), padding: Padding(top: 2, left: 1, bottom: 1, right: 2)), // kernel > input
            try c(1, 2, 3, input: Size2D(1, 1), padding: 1),                                   // 1x1 input
            try c(6, 6, 3, input: Size2D(11, 11), stride: 2, padding: 1, groups: 6),           // depthwise s2
            try c(5, 5, 5, input: Size2D(13, 13), padding: 2, groups: 5, activation: .relu6),  // depthwise 5x5
            try c(4, 6, 3, input: Size2D(9, 7), groups: 2),                                    // grouped
            try c(3, 5, Size2D(3, 5), input: Size2D(13, 17), padding: Padding(top: 0, left: 2, bottom: 1, right: 3)), // primes
            try c(2, 3, 3, input: Size2D(11, 11), dilation: 3, padding: 3),                    // dilation
            try c(2, 3, Size2D(3, 2), input: Size2D(10, 9), dilation: Size2D(2, 4)),           // anisotropic dilation
            try c(3, 4, 3, input: Size2D(17, 19), stride: Size2D(3, 2), padding: Padding(top: 2, left: 0, bottom: 1, right: 1)),
            try c(3, 8, 11, input: Size2D(35, 35), stride: 4, padding: 2),                      // AlexNet conv1 shape, small
            try c(2, 2, 3, input: Size2D(6, 7), batch: 3, padding: 1, activation: .leakyReLU(alpha: 0.1)), // batch
            try c(7, 3, 1, input: Size2D(5, 3), bias: false),                                   // 1x1 kernel
            try c(1, 1, Size2D(1, 7), input: Size2D(1, 31), stride: Size2D(1, 3), padding: Padding(top: 0, left: 3, bottom: 0, right: 3)),
            try c(4, 4, 7, input: Size2D(23, 23), stride: 2, padding: 3, activation: .clip(min: -0.5, max: 0.5)), // ResNet stem shape
            try c(2, 3, 13, input: Size2D(40, 37), padding: 6),                                 // large kernel, several tiles
        ]
    }

    /// 200 descriptors drawn from a fixed seed; every draw yields a valid, non-empty convolution.
    static func randomCases(count: Int = 200, seed: UInt64 = 20261129) throws -> [ConvolutionCase] {
        var rng = SeededGenerator(seed: seed)
        var cases: [ConvolutionCase] = []
        let activations: [Activation] = [.none, .relu, .relu6, .leakyReLU(alpha: 0.2), .clip(min: -1, max: 0.25), .hardSwish,
                                         .hardSigmoid(alpha: 0.2, beta: 0.5), .sigmoid, .silu, .tanh]
        while cases.count < count {
            let groups = [1, 1, 1, 2, 3].randomElement(using: &rng) ?? 1
            let depthwise = Int.random(in: 0..<8, using: &rng) == 0
            let cin = depthwise ? groups * 1 : groups * Int.random(in: 1...4, using: &rng)
            let cout = depthwise ? cin : groups * Int.random(in: 1...4, using: &rng)
            let g = depthwise ? cin : groups
            let k = Size2D(Int.random(in: 1...7, using: &rng), Int.random(in: 1...7, using: &rng))
            let s = Size2D(Int.random(in: 1...3, using: &rng), Int.random(in: 1...3, using: &rng))
            let dl = Int.random(in: 0..<4, using: &rng) == 0
                ? Size2D(Int.random(in: 1...3, using: &rng), Int.random(in: 1...3, using: &rng)) : Size2D(1, 1)
            let p = Padding(top: Int.random(in: 0...3, using: &rng), left: Int.random(in: 0...3, using: &rng),
                            bottom: Int.random(in: 0...3, using: &rng), right: Int.random(in: 0...3, using: &rng))
            let input = Size2D(Int.random(in: 1...19, using: &rng), Int.random(in: 1...19, using: &rng))
            let d = try ConvolutionDescriptor(
                inputChannels: cin, outputChannels: cout, kernel: k, stride: s, dilation: dl, padding: p, groups: g,
                hasBias: Bool.random(using: &rng), activation: activations.randomElement(using: &rng) ?? .none)
            guard (try? d.outputSize(input: input)) != nil else { continue }  // empty output: drawn again
            cases.append(ConvolutionCase(descriptor: d, batch: Int.random(in: 1...2, using: &rng), input: input))
        }
        return cases
    }

    func testGridCoversTheEdgesItClaims() throws {
        let all = try Self.edgeCases() + Self.randomCases()
        XCTAssertGreaterThanOrEqual(all.count, 200)
        let d = all.map(\.descriptor)
        XCTAssert(d.contains { $0.stride.height > 1 || $0.stride.width > 1 })
        XCTAssert(d.contains { $0.dilation.height > 1 || $0.dilation.width > 1 })
        XCTAssert(d.contains { $0.isDepthwise && $0.inputChannels > 1 })
        XCTAssert(d.contains { $0.groups > 1 && !$0.isDepthwise })
        XCTAssert(d.contains { $0.padding.top != $0.padding.bottom || $0.padding.left != $0.padding.right })
        XCTAssert(all.contains { $0.batch > 1 })
        XCTAssert(all.contains { (try? $0.descriptor.outputSize(input: $0.input)) == Size2D(1, 1) })
        XCTAssert(all.contains { $0.descriptor.kernel.height > $0.input.height || $0.descriptor.kernel.width > $0.input.width })
    }

    func testEdgeCasesMatchReference() throws {
        for (i, c) in try Self.edgeCases().enumerated() {
            for a in Self.algorithms(for: c) {
                XCTAssert(try assertMatchesReference(c, algorithm: a, seed: UInt64(i)), "degenerate edge case \(c)")
            }
        }
    }

    func testRandomGridMatchesReference() throws {
        var informative = 0
        let cases = try Self.randomCases()
        for (i, c) in cases.enumerated() {
            var nonZero = false
            for a in Self.algorithms(for: c) { nonZero = try assertMatchesReference(c, algorithm: a, seed: UInt64(1000 + i)) }
            if nonZero { informative += 1 }
        }
        // A case whose activation zeroes every output checks little; nearly all must be informative.
        XCTAssertGreaterThanOrEqual(informative, cases.count * 95 / 100)
    }

    func testEveryFFTTileSizeMatchesReference() throws {
        // The same layer through forced tiles from barely-covering-the-kernel to whole-image, odd and prime sizes.
        let d = try ConvolutionDescriptor(inputChannels: 3, outputChannels: 4, kernel: 5, stride: Size2D(1, 2), padding: 2,
                                          activation: .relu)
        let c = ConvolutionCase(descriptor: d, batch: 2, input: Size2D(21, 18))
        for tile in [Size2D(5, 5), Size2D(6, 7), Size2D(8, 8), Size2D(11, 13), Size2D(16, 9), Size2D(25, 22), Size2D(64, 64)] {
            try assertMatchesReference(c, algorithm: .fft, seed: 7, options: ConvolutionOptions(fftTile: tile))
        }
    }

    func testFFTPlanningEffortsAgree() throws {
        let d = try ConvolutionDescriptor(inputChannels: 4, outputChannels: 4, kernel: 3, padding: 1)
        let c = ConvolutionCase(descriptor: d, batch: 1, input: Size2D(12, 12))
        for effort in [FFTPlanningEffort.estimate, .measure] {
            try assertMatchesReference(c, algorithm: .fft, seed: 3, options: ConvolutionOptions(fftPlanning: effort))
        }
    }
}
