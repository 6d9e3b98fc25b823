import FFTConv
import FFTConvKernels
import Foundation
import XCTest

/// The planner: its rules, its measured choice, the tuning file and the memory budget.
final class PlannerTests: XCTestCase {
    func testEstimateRules() throws {
        let planner = ConvolutionPlanner(mode: .estimate)
        func choice(_ d: ConvolutionDescriptor, _ input: Size2D) -> ConvolutionCandidate { planner.estimate(d, input: input) }
        XCTAssertEqual(choice(try .init(inputChannels: 32, outputChannels: 32, kernel: 3, padding: 1, groups: 32), Size2D(56, 56)).algorithm, .depthwise)
        // Grouped 3x3 layers of 16 and 32 output channels a group (RegNetX, ResNeXt's later stages): direct, with the
        // channels as lanes, at stride 1 and 2 on every map — on 8-float builds only at stride 2 and under 13×13 (F(4x4)
        // by the grouped rule on larger maps); 48 a group keeps Winograd by the grouped rule.
        let wide = KernelTarget.wideRegisters
        for (channels, groups, side, stride, direct) in [(64, 4, 28, 1, wide), (160, 10, 14, 1, wide), (400, 25, 7, 1, true),
                                                         (1024, 32, 7, 1, true), (400, 25, 14, 2, true)] {
            let d = try ConvolutionDescriptor(inputChannels: channels, outputChannels: channels, kernel: 3,
                                              stride: Size2D(stride, stride), padding: 1, groups: groups)
            let c = choice(d, Size2D(side, side))
            XCTAssertEqual(c.algorithm, direct ? .direct : .winograd, "\(d) on \(side)²")
        }
        XCTAssertEqual(choice(try .init(inputChannels: 96, outputChannels: 96, kernel: 3, padding: 1, groups: 2), Size2D(28, 28)).algorithm,
                       .winograd)
        // 3x3 stride-1 layers: (input channels, output channels, output side, Winograd tile or nil for direct).
        let f6Below56 = BuildInfo.cpuIsIntel ? 4 : 6
        let threeByThree: [(Int, Int, Int, Int?)] = [
            // 24² and more: F(6x6) where its GEMMs compute ≥ 10% less than F(4x4)'s, from 64 → 128 channels — on Intel
            // cores only from 56² (F(4x4) below).
            (256, 256, 56, 4), (128, 128, 56, 4), (64, 64, 56, 4), (512, 512, 28, f6Below56), (128, 128, 28, f6Below56),
            (64, 192, 27, f6Below56),
            (64, 128, 112, 6), (128, 128, 112, 6), (64, 64, 224, 4), (16, 64, 55, 4),
            // 13²–23²: F(4x4) from 32 input channels and 32·128 channel pairs; 12²: F(4x4) from 48 → 192 channels,
            // F(2x2) from 64 → 128 below that; smaller layers stay direct.
            (512, 512, 14, 4), (384, 256, 13, 4), (64, 256, 13, 4), (48, 192, 13, 4), (96, 208, 14, 4), (128, 128, 14, 4),
            (32, 192, 14, 4), (64, 64, 14, 4), (64, 128, 20, 4), (32, 64, 20, nil), (16, 64, 14, nil),
            (64, 128, 12, 2), (128, 128, 12, 2), (64, 64, 12, nil),
            // 6²–11² (ResNet's last stage): F(2x2) from 96 → 128 channels; 5², and 64→128 on 7², stay direct.
            (512, 512, 7, 2), (256, 256, 7, 2), (128, 128, 7, 2), (512, 512, 5, nil), (64, 128, 7, nil),
            // SqueezeNet's expand layers: 16→64 on 55² and 32→128 on 27² take F(4x4); 8 input channels do not.
            (16, 64, 55, 4), (32, 128, 27, 4), (8, 64, 55, nil),
            // 32 output channels (DenseNet's 128→32 bottlenecks, GoogLeNet's 16→32): F(4x4) from 24², on 13²–23² with
            // 32·128 channel pairs, F(2x2) on 7²; 16 output channels stay direct.
            (128, 32, 56, 4), (128, 32, 28, 4), (16, 32, 56, 4), (32, 32, 28, 4), (128, 32, 14, 4), (256, 32, 14, 4),
            (32, 32, 14, nil), (128, 32, 7, 2), (64, 32, 7, nil), (128, 16, 28, nil),
        ]
        for (cin, cout, side, tile) in threeByThree {
            let d = try ConvolutionDescriptor(inputChannels: cin, outputChannels: cout, kernel: 3, padding: 1)
            let expected = tile.map { ConvolutionCandidate(.winograd, winogradTile: $0) } ?? ConvolutionCandidate(.direct)
            XCTAssertEqual(choice(d, Size2D(side, side)), expected, "\(cin)→\(cout) on \(side)²")
        }
        XCTAssertEqual(choice(try .init(inputChannels: 256, outputChannels: 256, kernel: 3, stride: 2, padding: 1), Size2D(56, 56)).algorithm, .direct)
        // 5x5 stride-1 layers: F(4x4, 5x5) from 12² outputs and 8 input channels, on 10² from 64 → 64 channels,
        // direct below; other large kernels (7x7) with 16 channels: FFT.
        let fiveByFive: [(Int, Int, Int, Int?)] = [(64, 192, 27, 4), (8, 8, 56, 4), (24, 64, 14, 4), (4, 8, 28, nil),
                                                   (64, 128, 10, 4), (16, 32, 10, nil), (48, 128, 7, nil)]
        for (cin, cout, side, tile) in fiveByFive {
            let d = try ConvolutionDescriptor(inputChannels: cin, outputChannels: cout, kernel: 5, padding: 2)
            let expected = tile.map { ConvolutionCandidate(.winograd, winogradTile: $0) } ?? ConvolutionCandidate(.direct)
            XCTAssertEqual(choice(d, Size2D(side, side)), expected, "5x5 \(cin)→\(cout) on \(side)²")
        }
        XCTAssertEqual(choice(try .init(inputChannels: 64, outputChannels: 192, kernel: 7, padding: 3), Size2D(27, 27)).algorithm, .fft)
        XCTAssertEqual(choice(try .init(inputChannels: 256, outputChannels: 64, kernel: 1), Size2D(56, 56)).algorithm, .direct)
        // 1x1 stride 2 onto 7² or less with ≤ 512 KB of weights: im2col, at any thread count; onto 14² only where
        // 512-bit FMAs are split or vectors are narrower; direct onto larger planes or with more weights.
        let down = try ConvolutionDescriptor(inputChannels: 256, outputChannels: 512, kernel: 1, stride: 2)
        XCTAssertEqual(choice(down, Size2D(14, 14)).algorithm, .gemm)
        let onto14: ConvolutionAlgorithm = BuildInfo.cpuSplitsWideVectors || !KernelTarget.wideRegisters ? .gemm : .direct
        XCTAssertEqual(choice(try .init(inputChannels: 128, outputChannels: 256, kernel: 1, stride: 2), Size2D(28, 28)).algorithm, onto14)
        XCTAssertEqual(choice(down, Size2D(56, 56)).algorithm, .direct)
        XCTAssertEqual(choice(try .init(inputChannels: 1024, outputChannels: 2048, kernel: 1, stride: 2), Size2D(14, 14)).algorithm, .direct)
        XCTAssertEqual(ConvolutionPlanner(mode: .estimate, options: ConvolutionOptions(threads: 2)).estimate(down, input: Size2D(14, 14)).algorithm, .gemm)
    }

    func testCandidateSets() throws {
        let d3 = try ConvolutionDescriptor(inputChannels: 8, outputChannels: 8, kernel: 3, padding: 1)
        let measure = ConvolutionPlanner(mode: .measure).candidates(for: d3, input: Size2D(20, 20))
        XCTAssertEqual(measure.first, ConvolutionCandidate(.direct), "direct first: the accuracy baseline")
        XCTAssertEqual(Set(measure.map(\.algorithm)), [.direct, .gemm, .winograd, .fft])
        XCTAssertEqual(measure.filter { $0.algorithm == .winograd }.compactMap(\.winogradTile), [2, 4, 6])
        let d5 = try ConvolutionDescriptor(inputChannels: 8, outputChannels: 8, kernel: 5, padding: 2)
        let five = ConvolutionPlanner(mode: .measure).candidates(for: d5, input: Size2D(20, 20))
        XCTAssertEqual(five.filter { $0.algorithm == .winograd }.compactMap(\.winogradTile), [2, 4], "F(2x2, 5x5) and F(4x4, 5x5)")
        let d7 = try ConvolutionDescriptor(inputChannels: 8, outputChannels: 8, kernel: 7, padding: 3)
        XCTAssertFalse(ConvolutionPlanner(mode: .measure).candidates(for: d7, input: Size2D(20, 20)).contains { $0.algorithm == .winograd })
        let dw = try ConvolutionDescriptor(inputChannels: 8, outputChannels: 8, kernel: 3, stride: 2, padding: 1, groups: 8)
        let dwSet = ConvolutionPlanner(mode: .measure).candidates(for: dw, input: Size2D(20, 20))
        XCTAssert(dwSet.contains(ConvolutionCandidate(.depthwise)))
        XCTAssertFalse(dwSet.contains { $0.algorithm == .winograd })
        let exhaustive = ConvolutionPlanner(mode: .exhaustive).candidates(for: d3, input: Size2D(20, 20))
        XCTAssertGreaterThan(exhaustive.count, measure.count)
        XCTAssert(exhaustive.contains { $0.algorithm == .fft && $0.fftTile != nil })
        XCTAssert(exhaustive.contains { $0.microKernel != nil })
        XCTAssertEqual(Set(exhaustive).count, exhaustive.count, "no candidate twice")
        // A 1x1 layer on 7² or 14² (the transposed form by rule, on 16-float builds) also offers the direct path's own
        // form, forced by its micro-kernel; on 28² the rule keeps the own form and the transposed one is offered forced.
        let pointwise = try ConvolutionDescriptor(inputChannels: 64, outputChannels: 64, kernel: 1)
        let wide = KernelTarget.wideRegisters
        for (side, ruleTransposed) in [(7, true), (14, true), (28, false)] {
            let set = ConvolutionPlanner(mode: .measure).candidates(for: pointwise, input: Size2D(side, side))
            let forced = set.compactMap(\.microKernel)
            XCTAssertEqual(forced.count, wide ? 1 : 0, "\(side)²: \(set)")
            XCTAssertEqual(forced.contains { $0.hasSuffix("t") }, wide && !ruleTransposed, "\(side)²: \(set)")
            XCTAssert(set.allSatisfy { $0.microKernel == nil || $0.algorithm == .direct }, "\(side)²: \(set)")
            // No FFT for a 1x1 kernel, in any mode: every bin would carry the direct GEMM's work.
            for mode in [PlannerMode.measure, .exhaustive] {
                XCTAssertFalse(ConvolutionPlanner(mode: mode).candidates(for: pointwise, input: Size2D(side, side)).contains { $0.algorithm == .fft })
            }
        }
    }

    /// Where another candidate times faster than `direct` at first, the baseline goes to the final alternating rounds
    /// whatever its first time (a slow spell of the host during it must not decide the layer).
    func testMeasureRetimesTheBaselineBesideAFasterCandidate() throws {
        let c = ConvolutionCase(descriptor: try ConvolutionDescriptor(inputChannels: 64, outputChannels: 64, kernel: 3, padding: 1),
                                batch: 1, input: Size2D(28, 28))
        let (_, w, b) = try c.data(seed: 4)
        let (_, decision) = try ConvolutionPlanner(mode: .measure).prepare(descriptor: c.descriptor, input: c.input, weights: w, bias: b)
        let direct = try XCTUnwrap(decision.timings.first { $0.candidate == ConvolutionCandidate(.direct) })
        let retimed = decision.timings.filter(\.retimed)
        XCTAssert(decision.chosen == ConvolutionCandidate(.direct) || direct.retimed, "\(decision.timings)")
        XCTAssert(retimed.isEmpty || retimed.contains { $0.candidate == decision.chosen }, "\(decision.timings)")
        XCTAssertLessThanOrEqual(retimed.count, ConvolutionPlanner.finalists)
    }

    func testMeasureKeepsTheFastestAccurateCandidateAndRecordsIt() throws {
        let c = ConvolutionCase(descriptor: try ConvolutionDescriptor(inputChannels: 16, outputChannels: 24, kernel: 3, padding: 1,
                                                                      activation: .relu), batch: 1, input: Size2D(14, 13))
        let (x, w, b) = try c.data(seed: 9)
        let tuning = TuningFile()
        let planner = ConvolutionPlanner(mode: .measure, options: ConvolutionOptions(threads: 2), tuning: tuning)
        let (conv, decision) = try planner.prepare(descriptor: c.descriptor, input: c.input, weights: w, bias: b)
        let ref = try ReferenceConvolution.run(descriptor: c.descriptor, input: x, weights: w, bias: b)
        XCTAssertLessThanOrEqual(try XCTUnwrap(try conv(x).maxAbsoluteDifference(ref)), 1e-4 * max(1, ref.maxAbsolute))
        XCTAssertFalse(decision.fromTuningFile)
        XCTAssertEqual(decision.chosen.algorithm, conv.algorithm)
        let eligible = decision.timings.filter { $0.rejected == nil }
        XCTAssertEqual(eligible.count, planner.candidates(for: c.descriptor, input: c.input).count)
        // The close ones were timed again in alternation, and the choice is among them.
        let retimed = eligible.filter(\.retimed)
        XCTAssert(retimed.isEmpty || (2...ConvolutionPlanner.finalists).contains(retimed.count), "\(retimed)")
        if !retimed.isEmpty { XCTAssert(retimed.contains { $0.candidate == decision.chosen }) }
        let fastest = try XCTUnwrap((retimed.isEmpty ? eligible : retimed).compactMap(\.milliseconds).min())
        XCTAssertEqual(decision.timings.first?.candidate, decision.chosen)
        let chosenMs = try XCTUnwrap(decision.timings.first?.milliseconds)
        if decision.chosen == ConvolutionCandidate(.direct) {
            XCTAssertLessThanOrEqual(chosenMs, fastest * (1 + ConvolutionPlanner.margin))  // kept within the margin
        } else {
            XCTAssertEqual(chosenMs, fastest)
            // The baseline was in the final rounds, and lost them by more than the margin.
            let direct = try XCTUnwrap(decision.timings.first { $0.candidate == ConvolutionCandidate(.direct) })
            XCTAssert(direct.retimed, "\(decision.timings)")
            XCTAssertGreaterThan(try XCTUnwrap(direct.milliseconds), fastest * (1 + ConvolutionPlanner.margin))
        }
        XCTAssertEqual(tuning.count, 1)
        XCTAssertEqual(tuning.allEntries.first?.chosen, decision.chosen)
    }

    func testTuningFileRoundTripReplaysTheChoiceWithoutTiming() throws {
        let d = try ConvolutionDescriptor(inputChannels: 8, outputChannels: 8, kernel: 5, padding: 2)
        let c = ConvolutionCase(descriptor: d, batch: 1, input: Size2D(16, 16))
        let (_, w, b) = try c.data(seed: 2)
        let tuning = TuningFile()
        // A recorded choice that measuring would hardly pick: replaying must take it as it is.
        let key = TuningFile.key(for: d, input: c.input, batch: 1, threads: 1)
        // Set-aside candidates keep their reason through the file, each kind of it.
        let setAside = CandidateRejection.allCases.map {
            CandidateTiming(candidate: ConvolutionCandidate(.winograd, winogradTile: 4), milliseconds: nil, preparedBytes: 10,
                            rejected: "words for \($0)", rejection: $0)
        }
        tuning.record(.init(key: key, chosen: ConvolutionCandidate(.fft, fftTile: Size2D(9, 9)),
                            timings: [CandidateTiming(candidate: ConvolutionCandidate(.fft, fftTile: Size2D(9, 9)), milliseconds: 1,
                                                      preparedBytes: 0, rejected: nil)] + setAside))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("fftconv-tuning-\(UUID()).json").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try tuning.write(to: file)
        let text = try String(contentsOfFile: file, encoding: .utf8)
        XCTAssert(text.contains("\"fftw_wisdom\""), text)
        XCTAssert(text.contains(BuildInfo.cpuModel))
        let loaded = try TuningFile(contentsOf: file)
        XCTAssertEqual(loaded.allEntries, tuning.allEntries)
        XCTAssertEqual(loaded.allEntries.first?.timings.compactMap(\.rejection), CandidateRejection.allCases)
        // A file written before the reasons were recorded: the words only, no reason.
        let old = try JSONDecoder().decode(CandidateTiming.self, from: Data(#"{"candidate":{"algorithm":"direct"},"prepared_bytes":4,"rejected":"prepared weights 4 B over the budget 1 B"}"#.utf8))
        XCTAssertNil(old.rejection)
        XCTAssertEqual(old.rejected, "prepared weights 4 B over the budget 1 B")
        let (conv, decision) = try ConvolutionPlanner(mode: .measure, tuning: loaded).prepare(descriptor: d, input: c.input, weights: w, bias: b)
        XCTAssertTrue(decision.fromTuningFile)
        XCTAssertEqual(conv.algorithm, .fft)
        XCTAssertEqual(conv.summary.hasPrefix("9x9"), true, conv.summary)
        try assertMatchesReference(c, algorithm: .fft, seed: 2, options: ConvolutionOptions(fftTile: Size2D(9, 9)))
    }

    func testColdCacheMeasurementsAreKeptApartFromWarmOnes() throws {
        let d = try ConvolutionDescriptor(inputChannels: 8, outputChannels: 8, kernel: 3, padding: 1)
        let c = ConvolutionCase(descriptor: d, batch: 1, input: Size2D(10, 10))
        let (x, w, b) = try c.data(seed: 6)
        let tuning = TuningFile()
        let (cold, coldDecision) = try ConvolutionPlanner(mode: .measure, tuning: tuning, coldCaches: true)
            .prepare(descriptor: d, input: c.input, weights: w, bias: b)
        XCTAssertFalse(coldDecision.fromTuningFile)
        XCTAssert(tuning.allEntries.first?.key.hasSuffix("| cold weights") == true, "\(tuning.allEntries.map(\.key))")
        let ref = try ReferenceConvolution.run(descriptor: d, input: x, weights: w, bias: b)
        XCTAssertLessThanOrEqual(try XCTUnwrap(try cold(x).maxAbsoluteDifference(ref)), 1e-4 * max(1, ref.maxAbsolute))
        let (_, warmDecision) = try ConvolutionPlanner(mode: .measure, tuning: tuning).prepare(descriptor: d, input: c.input, weights: w, bias: b)
        XCTAssertFalse(warmDecision.fromTuningFile, "a warm plan must not reuse a cold measurement")
        XCTAssertEqual(tuning.count, 2)
        // Cold timing at 2 threads reads the input and output back on both workers (an odd batch, so the halves are
        // uneven); the layer it prepares still computes the convolution, and the entry is a third one.
        let c3 = ConvolutionCase(descriptor: d, batch: 3, input: Size2D(10, 10))
        let (x3, _, _) = try c3.data(seed: 6)
        let (cold2, _) = try ConvolutionPlanner(mode: .measure, options: ConvolutionOptions(threads: 2), tuning: tuning, coldCaches: true)
            .prepare(descriptor: d, input: c3.input, batch: 3, weights: w, bias: b)
        let ref3 = try ReferenceConvolution.run(descriptor: d, input: x3, weights: w, bias: b)
        XCTAssertLessThanOrEqual(try XCTUnwrap(try cold2(x3).maxAbsoluteDifference(ref3)), 1e-4 * max(1, ref3.maxAbsolute))
        XCTAssertEqual(tuning.count, 3)
    }

    func testMemoryBudgetRejectsLargePreparedWeights() throws {
        let d = try ConvolutionDescriptor(inputChannels: 8, outputChannels: 8, kernel: 3, padding: 1)
        let c = ConvolutionCase(descriptor: d, batch: 1, input: Size2D(10, 10))
        let (_, w, b) = try c.data(seed: 4)
        // Direct holds 8·8·9 floats re-laid out; Winograd F(6x6) holds 64/9 times more: a budget between them.
        let (conv, decision) = try ConvolutionPlanner(mode: .measure, memoryBudget: 8 * 8 * 9 * 4 * 3).prepare(
            descriptor: d, input: c.input, weights: w, bias: b)
        XCTAssertLessThanOrEqual(conv.preparedBytes, 8 * 8 * 9 * 4 * 3)
        let rejected = decision.timings.filter { $0.rejection == .overMemoryBudget && $0.rejected?.contains("budget") == true }
        XCTAssert(rejected.contains { $0.candidate == ConvolutionCandidate(.winograd, winogradTile: 6) }, "\(decision.timings)")
    }

    /// The rules give a 128→128 layer on 28² Winograd F(6x6) (64 values per 3x3 kernel; F(4x4) on Intel cores); under
    /// a budget it steps down to F(4x4) (36), F(2x2) (16), then the direct kernel (9, re-laid out) — and below even that
    /// stays direct — each still computing the convolution, with the candidates set aside named in the decision.
    func testEstimateStepsDownToTheBudget() throws {
        let d = try ConvolutionDescriptor(inputChannels: 128, outputChannels: 128, kernel: 3, padding: 1)
        let c = ConvolutionCase(descriptor: d, batch: 1, input: Size2D(28, 28))
        let (x, w, b) = try c.data(seed: 12)
        let ref = try ReferenceConvolution.run(descriptor: d, input: x, weights: w, bias: b)
        let raw = 128 * 128 * 9 * 4
        let top = ConvolutionCandidate(.winograd, winogradTile: BuildInfo.cpuIsIntel ? 4 : 6)
        XCTAssertEqual(ConvolutionPlanner(mode: .estimate).estimate(d, input: c.input), top)
        // The rules' choice, then each smaller footprint in turn.
        let chain = [6, 4, 2].filter { $0 <= top.winogradTile ?? 0 }.map { ConvolutionCandidate(.winograd, winogradTile: $0) }
            + [ConvolutionCandidate(.direct)]
        for (budget, expected) in [(nil, top), (raw * 5, ConvolutionCandidate(.winograd, winogradTile: 4)),
                                   (raw * 2, ConvolutionCandidate(.winograd, winogradTile: 2)), (raw * 3 / 2, ConvolutionCandidate(.direct)),
                                   (1000, ConvolutionCandidate(.direct))] as [(Int?, ConvolutionCandidate)] {
            let setAside = budget == 1000 ? chain.count : try XCTUnwrap(chain.firstIndex(of: expected))
            let (conv, decision) = try ConvolutionPlanner(mode: .estimate, memoryBudget: budget).prepare(
                descriptor: d, input: c.input, weights: w, bias: b)
            XCTAssertEqual(decision.chosen, expected, "budget \(budget ?? -1)")
            XCTAssertEqual(conv.algorithm, expected.algorithm)
            if let budget, budget > raw { XCTAssertLessThanOrEqual(conv.preparedBytes, budget) }
            XCTAssertEqual(decision.timings.count, setAside, "\(decision.timings)")
            XCTAssert(decision.timings.allSatisfy {
                $0.rejection == .overMemoryBudget && $0.rejected?.contains("over the budget") == true && $0.preparedBytes > budget ?? 0
            })
            XCTAssertLessThanOrEqual(try XCTUnwrap(try conv(x).maxAbsoluteDifference(ref)), 1e-4 * max(1, ref.maxAbsolute), "budget \(budget ?? -1)")
        }
    }

    func testBadTuningFilesAreTypedErrors() throws {
        let dir = FileManager.default.temporaryDirectory
        let garbage = dir.appendingPathComponent("fftconv-garbage-\(UUID()).json").path
        let wrongFormat = dir.appendingPathComponent("fftconv-format-\(UUID()).json").path
        let badAlgorithm = dir.appendingPathComponent("fftconv-alg-\(UUID()).json").path
        defer { for f in [garbage, wrongFormat, badAlgorithm] { try? FileManager.default.removeItem(atPath: f) } }
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: garbage))
        try Data(#"{"format": "other/9", "entries": []}"#.utf8).write(to: URL(fileURLWithPath: wrongFormat))
        try Data(#"{"format": "fftconv-tuning/1", "entries": [{"key": "k", "chosen": {"algorithm": "magic"}, "timings": []}]}"#.utf8)
            .write(to: URL(fileURLWithPath: badAlgorithm))
        for f in [garbage, wrongFormat, badAlgorithm, dir.appendingPathComponent("missing-\(UUID()).json").path] {
            XCTAssertThrowsError(try TuningFile(contentsOf: f)) { error in
                guard case .invalidOption? = error as? ConvolutionError else { return XCTFail("\(error)") }
            }
        }
    }
}
