import FFTConvKernels
import Dispatch
import Foundation

/// How hard the planner looks for the fastest algorithm of a convolution.
public enum PlannerMode: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Rules from a cost model; nothing is timed. Instant.
    case estimate
    /// Times every applicable algorithm (each Winograd tile, the FFT with its cost-model tile) on the layer's
    /// real shape and keeps the fastest accurate one within the memory budget.
    case measure
    /// `measure` over more variants: every FFT tile size and every GEMM micro-kernel of the build's family.
    case exhaustive

    public var description: String { rawValue }
}

/// The planner's choice for one convolution.
public struct PlanDecision: Sendable {
    /// The winner.
    public var chosen: ConvolutionCandidate
    /// What each candidate measured, fastest first; for `estimate`, the candidates set aside for the memory budget
    /// (untimed), or none.
    public var timings: [CandidateTiming]
    /// True when the decision came from a tuning file instead of being measured now.
    public var fromTuningFile: Bool
}

/// Chooses and prepares the algorithm for each convolution: FFTW's "measure once, remember as wisdom"
/// applied to whole layers.
///
/// `estimate` applies rules; `measure` and `exhaustive` prepare every candidate, time it on a seeded random
/// input of the layer's real shape, reject candidates that hold more prepared memory than `memoryBudget` or
/// whose output differs from the direct kernel's by more than 1e-4 · max|output| (Winograd's large tiles
/// lose digits), time the (up to three) candidates within 20% of the fastest again in alternation, and keep the
/// fastest of those — unless `direct` is within `margin` of it. Decisions go into `tuning`, which a later process
/// loads to skip the timing.
public final class ConvolutionPlanner: @unchecked Sendable {
    /// The mode.
    public let mode: PlannerMode
    /// Options every candidate is prepared with (threads, FFT planning effort and spectra budget).
    public let options: ConvolutionOptions
    /// Largest prepared-weight size (bytes) a measured choice may hold per layer; `nil`: no limit.
    public let memoryBudget: Int?
    /// Where decisions are looked up and recorded, or `nil`.
    public let tuning: TuningFile?
    /// Tolerance of a candidate's output against the direct kernel's, relative to max|output|.
    public static let tolerance: Float = 1e-4
    /// How much faster than `direct` another candidate must measure to be chosen (0.03: 3%).
    public static let margin = 0.03
    /// Candidates within this factor of the fastest first timing are timed again, in alternation (at most
    /// `finalists` of them, `finalRounds` rounds); their medians over those rounds decide. `direct`, the baseline, is
    /// always among them where another candidate timed faster at first: a slow spell of the host during its first timing
    /// (10× its time, seen on a 2-vCPU host) must not hand the layer to whatever was timed after it.
    public static let finalBand = 1.2
    /// How many candidates the final, alternating rounds time at most.
    public static let finalists = 3
    /// How many final rounds (each times every finalist once, a different one first).
    public static let finalRounds = 3

    /// Creates a planner; see each property.
    /// Whether each timed call starts with the layer's prepared weights evicted from the caches, as they are
    /// inside a network whose weights exceed the caches (AlexNet's 234 MB of fully-connected weights evict every
    /// convolution's between calls), while its input, its output and the shared scratch are in them, as they are
    /// in a network (the step before wrote the input; consecutive layers reuse the same scratch and freed tensors).
    /// `Network` sets it when the model's weights exceed 32 MB.
    public let coldCaches: Bool

    /// Creates a planner; see each property.
    public init(mode: PlannerMode = .estimate, options: ConvolutionOptions = .init(), memoryBudget: Int? = nil,
                tuning: TuningFile? = nil, coldCaches: Bool = false) {
        self.mode = mode
        self.options = options
        self.memoryBudget = memoryBudget
        self.tuning = tuning
        self.coldCaches = coldCaches
    }

    // MARK: Candidates

    /// The candidates `mode` considers for `d` (direct first: it is the accuracy baseline).
    public func candidates(for d: ConvolutionDescriptor, input: Size2D) -> [ConvolutionCandidate] {
        // The layer the algorithms compute: without kernel rows and columns that read only padding.
        let d = d.withoutDeadTaps(input: input)?.descriptor ?? d
        var result = [ConvolutionCandidate(.direct)]
        // Where the direct path takes its transposed form by rule (7-position tiles, `KernelChoice.transposed`), its own
        // form too, forced by its micro-kernel's name: which of the two wins depends on the core more than any rule
        // measured so far — on Zen 4 the transposed form gained 5% on 14² 1x1 layers, on Zen 5 it lost 10–40% with
        // 32 KB weight passes and gains up to 20% with 16 KB ones (twenty-ninth and thirty-second sessions,
        // Docs/Planner.md, `KernelChoice.pointwiseTransposedMargin`).
        let problem = try? ConvolutionProblem(descriptor: d, input: input)
        if let problem, (try? KernelChoice.transposed(forced: nil, problem: problem)) != nil,
           let own = try? KernelChoice.gemm(rows: d.outputChannels, forced: nil) {
            result.append(.init(.direct, microKernel: own.name))
        } else if KernelTarget.wideRegisters, let problem, let seven = MicroKernelRegistry.named("gemm_7x32"),
                  TransposedImplementation.supports(kernel: seven, problem: problem) {
            // And the other way round, a 1x1 layer read in place that the rule keeps on the own form: its transposed form
            // too. On the first Intel host (thirty-eighth session, `layer … --algorithm direct --micro-kernel gemm_7x32t`,
            // least of 1000 calls, ms, own → transposed) it won where K is long — 256→32 on 27² 0.092–0.133 → 0.075,
            // 512→64 on 13² 0.080 → 0.066, 384→64 0.060 → 0.050–0.054 — and lost on 56² (144→24 0.16–0.19 → 0.24).
            // Likewise every other layer the transposed form computes (on its phase layout) that the rules keep on the
            // own form: short K, flat tiles, other cores (`KernelChoice.prefersPhaseLayout`).
            result.append(.init(.direct, microKernel: "gemm_7x32t"))
        }
        if d.isDepthwise { result.append(.init(.depthwise)) }
        result.append(.init(.gemm))
        if ConvolutionAlgorithm.winograd.supports(d) {
            result += WinogradRegistry.tiles(filter: d.kernel.height).map { ConvolutionCandidate(.winograd, winogradTile: $0) }
        }
        // Not for a 1x1 kernel: its spectrum multiplies every frequency bin by the same channel matrix — the direct
        // GEMM's work on at least as many bins (complex), plus the transforms. (Timed at 2 threads during a slow spell
        // of the host, direct's 0.45 ms against FFT's 0.25 once chose it for MobileNetV2's 384→64 on 14², whose
        // direct time is 0.035 ms, with 55× the weight memory.)
        let pointwise = d.kernel == Size2D(1, 1)
        if !pointwise { result.append(.init(.fft)) }
        guard mode == .exhaustive else { return result }
        if !pointwise, let k = try? d.effectiveKernel(), let out = try? d.outputSize(input: input) {
            // Transform sizes from just past the (strided, per-phase) kernel to the whole padded image.
            let kh = (k.height + d.stride.height - 1) / d.stride.height, kw = (k.width + d.stride.width - 1) / d.stride.width
            var sizes = Set<Int>()
            for t in [8, 12, 16, 24, 32, 48, 64] where t >= Swift.max(kh, kw) && t < Swift.max(out.height, out.width) + Swift.max(kh, kw) {
                sizes.insert(t)
            }
            for t in sizes.sorted() { result.append(.init(.fft, fftTile: Size2D(Swift.max(t, kh), Swift.max(t, kw)))) }
        }
        for k in KernelChoice.gemmFamily.map(\.name) {
            for c in [ConvolutionCandidate(.direct, microKernel: k), ConvolutionCandidate(.gemm, microKernel: k)] where !result.contains(c) {
                result.append(c)
            }
        }
        return result
    }

    /// The rule-based choice (`estimate`).
    ///
    /// Measured on x86-64 with AVX2 and AVX-512 (Docs/Planner.md): depthwise layers → `depthwise`;
    /// 3x3 stride-1 layers with ≥ 16 input and ≥ 32 output channels per group and at least 24×24 outputs →
    /// Winograd F(4x4) (4× fewer multiplications outweigh its transforms there; SqueezeNet's 16→64 on 55² and
    /// 32→128 on 27² since its scratch is shared: the network 3.62 → 3.38 ms); on 13×13 to 23×23 outputs F(4x4)
    /// from ≥ 32 input channels and ≥ 4096 channel pairs; on 12×12 F(4x4) from ≥ 48 input and ≥ 192 output
    /// channels, F(2x2) from ≥ 64 / ≥ 128 below that; and with ≥ 96 / ≥ 128
    /// channels (or ≥ 96 input channels and 4096 channel pairs: DenseNet's 128→32) on 6×6 to 11×11 outputs F(2x2) as
    /// well (ResNet's last stage: 4×4 tiles waste too much of a 7² map); grouped ones (not depthwise) of 16 or 32
    /// output channels per group that the direct path computes with the channels as lanes → direct, other grouped
    /// ones with ≥ 16 input and output channels per group F(4x4) from 13×13 outputs, and with ≥ 32 F(2x2) from 6×6;
    /// 5x5 stride-1 layers → Winograd F(4x4, 5x5) from 12×12 outputs and 8 input channels (and on 10×10 and 11×11
    /// from 64 input and output channels), else direct;
    /// 1x1 stride-2 layers on outputs up to 14×14 (7×7 on full-width AVX-512 cores) with ≤ 512 KB of weights →
    /// `gemm`; other kernels of
    /// 5×5 and more at stride 1 with ≥ 16 channels per group → FFT; everything else → direct.
    public func estimate(_ d: ConvolutionDescriptor, input: Size2D) -> ConvolutionCandidate {
        // The rules apply to the layer the algorithms compute (`Convolution2D` drops taps that read only padding).
        if let pruned = d.withoutDeadTaps(input: input) { return estimate(pruned.descriptor, input: input) }
        if d.isDepthwise { return .init(.depthwise) }
        let out = (try? d.outputSize(input: input)) ?? Size2D(1, 1)
        if d.dilation != Size2D(1, 1) {
            // Dilated (DeepLabV3's ResNet-50 at output stride 8, its ASPP). The smaller of two multiplication counts per
            // output: the live taps summed (`LiveTapSumImplementation`, on the direct and GEMM paths alike, where at most
            // 3/4 of the products read the input) — their share × kH·kW — and Winograd on the grid of dilation phases
            // (`DilationPhasesImplementation`, where the rules give it for the grid) — the grid's area over the
            // output's × α²/m² of its tile. Else the im2col GEMM where the direct path's padded rows would be ≥ 1.25×
            // the output's, else direct — never the FFT, whose transforms and spectra grow with the dilated extent.
            // Twenty-eighth session (`fftconv-bench layer --input 1xCxSxS … --dilation D --padding D --algorithm
            // direct,gemm,fft,winograd`, 1 thread, ms; direct / gemm on the whole kernel / fft / the best Winograd on
            // the grid / the taps summed): on 28², 256→256 at dilation 2 10.1 / 12.8 / 8.2 / 3.9 (F(6x6), a 29² grid)
            // / —; 512→512 at dilation 4 54.7 / 46.8 / 59.8 / 16.4 (F(4x4), 31²) / —; 2048→256 at dilation 12 193.6 /
            // 106.5 / — / 57.0 (F(6x6), 47²) / 39.3 (51% of the products), at dilation 24 298.2 / 108.6 / — / 152.9
            // (71²) / 14.3 (18%); on 65², 2048→256 at dilation 12 817 / — / — / 189 (83²) / — (77%), at 24 — / — / — /
            // 215 (95²) / 329 (57%), at 36 — / — / — / 304 (107²) / 227 (40%); on 14², 960→256 at dilation 12 — / 12.0
            // / — / — / 2.0 (18%).
            let problem = try? ConvolutionProblem(descriptor: d, input: input)
            var tapCost = Double.infinity
            if let problem, LiveTapSumImplementation.applies(to: problem) {
                tapCost = LiveTapSumImplementation.liveShare(problem) * Double(d.kernel.height * d.kernel.width)
            }
            if let problem, let grid = DilationPhasesImplementation.gridProblem(problem) {
                let c = estimate(grid.problem.descriptor, input: grid.problem.input)
                if c.algorithm == .winograd, let m = c.winogradTile {
                    let alpha = Double(m + d.kernel.height - 1)
                    let gridCost = Double(grid.problem.outputPlane) / Double(problem.outputPlane) * alpha * alpha / Double(m * m)
                    if gridCost < tapCost { return c }
                }
            }
            if tapCost.isFinite { return .init(.direct) }
            let paddedWidth = (input.width + d.padding.left + d.padding.right + d.stride.width - 1) / d.stride.width
            return .init(paddedWidth * 4 >= out.width * 5 ? .gemm : .direct)
        }
        if ConvolutionAlgorithm.winograd.supports(d), d.kernel == Size2D(5, 5) {
            // 5x5 stride-1 layers (thirteenth session, `fftconv-bench layer … --algorithm fft,direct,winograd
            // --winograd-tiles 2,4`, 1 thread, ms, fft / direct / F(2x2, 5x5) / F(4x4, 5x5)): F(4x4) wins from 12×12
            // outputs and 8 input channels — AlexNet's 64→192 on 27² 1.016 / 1.856 / 1.536 / 0.543, 128→128 on 56²
            // 3.969 / 11.247 / 7.829 / 2.562, 256→256 on 14² 1.856 / 2.905 / 2.036 / 0.888, 24→64 on 14² 0.091 / 0.069
            // / 0.119 / 0.035, 8→8 on 56² 0.119 / 0.057 / 0.250 / 0.047 (4→8 on 28²: direct 0.007 against 0.011); on
            // 10×10 with enough channels (64→128 0.231 / 0.200 / 0.221 / 0.139; 16→32 direct 0.014 against 0.020);
            // on 7×7 direct (48→128 0.131 / 0.082 / 0.125 / 0.100). F(2x2, 5x5) never wins, nor the FFT where F(4x4)
            // loses.
            let (cin, cout, side) = (d.inputChannelsPerGroup, d.outputChannelsPerGroup, Swift.min(out.height, out.width))
            if side >= 12 && cin >= 8 || side >= 10 && cin >= 64 && cout >= 64 { return .init(.winograd, winogradTile: 4) }
            return .init(.direct)
        }
        // From 32 output channels (twenty-sixth session, DenseNet's 128→32 bottlenecks; `fftconv-bench layer …
        // --algorithm direct,winograd --winograd-tiles 2,4 --threads 1`, ms, direct / F(2x2) / F(4x4), Zen 4): 128→32 on
        // 56² 2.314 / 1.426 / 0.812, 28² 0.627 / 0.382 / 0.228, 14² 0.187 / 0.106 / 0.070, 10² 0.138 / 0.082 / 0.077,
        // 7² 0.086 / 0.062 / 0.068; 64→32 on 56² 1.164 / 0.751 / 0.464, 32→32 on 28² 0.138 / 0.106 / 0.065, 16→32 on
        // 56² 0.313 / 0.234 / 0.149, 256→32 on 14² 0.376 / 0.208 / 0.141 — the rules below with 32 output channels.
        // Grouped 3x3 layers (RegNetX's 16-channel groups, ResNeXt-50's 16 and 32; twenty-seventh session,
        // `fftconv-bench layer … --groups G --algorithm direct,winograd --winograd-tiles 2,4`, 1 thread, ms, direct /
        // F(2x2) / F(4x4), Zen 4, two rounds): with 16 channels a group F(4x4) from 13×13 outputs — 32 on 56² in 2
        // groups 0.330 / 0.415 / 0.254–0.263, 64 on 28² in 4 0.154 / 0.227 / 0.140, 160 on 14² in 10 0.149–0.197 /
        // 0.163 / 0.088–0.133, 512 on 14² in 32 0.480 / 0.528 / 0.308 — and F(2x2) on 7² from 32 a group (1024 in 32
        // groups 0.556 / 0.416 / 0.543; with 16, 400 in 25 groups, 0.154 / 0.145 / 0.375 alone, but in RegNetX-400MF
        // its twelve layers, weights from memory, 2.16–2.47 ms on F(2x2) against 1.98–2.13 direct, `net --profile`).
        // With 8 channels a group (RegNetY) the direct path held 28² (104 in 13 groups 0.154 / 0.243 / 0.178), with 4
        // (ResNeXt's first stage) everywhere.
        // Since the direct path computes groups of 16 and 32 output channels with the channels as vector lanes
        // (`GroupedLanesImplementation`, twenty-ninth session, Zen 5, same command, ms, direct / F(2x2) / F(4x4) /
        // F(6x6)): 64 on 28² in 4 groups 0.120 / 0.207 / 0.136 / 0.148, 160 on 14² in 10 0.073 / 0.141 / 0.095 /
        // 0.241, 400 on 7² in 25 0.042 / 0.112 / 0.198 / 0.328, 512 on 14² in 32 0.191 / 0.365 / 0.215 / 0.536, 1024 on
        // 7² in 32 (32 a group) 0.194 / 0.323 / 0.416 / 0.655 — direct for those wherever that form takes them.
        if let problem = try? ConvolutionProblem(descriptor: d, input: input), GroupedLanesImplementation.preferred(for: problem) {
            return .init(.direct)
        }
        if ConvolutionAlgorithm.winograd.supports(d), d.kernel == Size2D(3, 3), d.groups > 1,
           d.inputChannelsPerGroup >= 16, d.outputChannelsPerGroup >= 16 {
            if Swift.min(out.height, out.width) >= 13 { return .init(.winograd, winogradTile: 4) }
            if out.height * out.width >= 6 * 6 && d.inputChannelsPerGroup >= 32 && d.outputChannelsPerGroup >= 32 {
                return .init(.winograd, winogradTile: 2)
            }
        }
        if ConvolutionAlgorithm.winograd.supports(d), d.kernel == Size2D(3, 3), d.inputChannelsPerGroup >= 16,
           d.outputChannelsPerGroup >= 32 {
            let area = out.height * out.width
            let (cin, cout) = (d.inputChannelsPerGroup, d.outputChannelsPerGroup)
            if area >= 24 * 24 {
                // F(6x6) where its GEMMs compute ≥ 10% fewer columns × tile elements than F(4x4)'s, from 64 input and
                // 128 output channels (sixteenth session, `fftconv-bench layer … --winograd-tiles 4,6`, 1 thread, ms,
                // F(4x4) / F(6x6), Zen 4): 128→128 on 28² 0.940 / 0.822, 512→512 12.67 / 12.36, 256→512 6.64 / 6.13,
                // 64→192 on 27² 0.680 / 0.641, 64→128 on 112² 5.97 / 5.49, 128→128 11.43 / 10.39; F(4x4) where the
                // work is within 10% — on 56² (128→128 2.79 / 2.93, 256→256 11.80 / 11.90, 64→64 0.82 / 0.87), 16→64
                // on 55² — or the channels fewer (64→64 on 224² 12.84 / 12.90, 32→128 on 27² 0.267 / 0.266).
                // VGG16 with `measure`, which took F(6x6) on 112² and 28²: 116.7 ms at 1 thread.
                // On Intel cores (`BuildInfo.cpuIsIntel`) only from 56² outputs: there F(6x6)'s larger transformed weights,
                // read once per call, cost more than its GEMMs save on smaller planes (thirty-eighth session, Xeon family 6
                // model 207, 1 thread, `net … --profile` against `--planner measure`, which chose F(4x4), three rounds, ms):
                // VGG16's 512→512 on 28² 10.42 / 9.59 / 9.94 → 8.98 / 9.48 / 9.15 (weights 67 → 38 MB), the one before its
                // pool 10.09 / 9.36 / 9.34 → 8.50 / 9.08 / 8.91; ResNet-18's 128→128 on 28² 0.768–0.791 → 0.710–0.755,
                // 0.925 → 0.841–0.884. On 112² and 224² `measure` kept F(6x6) within 1–2%.
                if cin >= 64 && cout >= 128 && (!BuildInfo.cpuIsIntel || Swift.min(out.height, out.width) >= 56)
                    && 10 * WinogradImplementation.gemmWork(m: 6, output: out, inputChannels: cin, outputChannels: cout)
                    <= 9 * WinogradImplementation.gemmWork(m: 4, output: out, inputChannels: cin, outputChannels: cout) {
                    return .init(.winograd, winogradTile: 6)
                }
                return .init(.winograd, winogradTile: 4)
            }
            // `fftconv-bench layer … --algorithm direct,winograd --winograd-tiles 2,4`, 1 thread, ms (direct / F(2x2) /
            // F(4x4)). 12×12 to 23×23 outputs, measured again in the eighth session after Winograd's matrices were
            // skewed across cache sets: F(4x4) from 48 input and 192 output channels (256→256 on 14² 1.071 / 0.689 /
            // 0.557, 384→256 on 13² 1.616 / 1.005 / 0.823, 96→208 0.327 / 0.220 / 0.202, 64→192 0.208 / 0.152 / 0.135,
            // SqueezeNet's 64→256 and 48→192 on 13² 0.210 / 0.193 / 0.178 and 0.116 / 0.120 / 0.107); F(2x2) from 64
            // and 128 below that (64→128 on 14² 0.141 / 0.106 / 0.104, on 12² 0.088 / 0.088 / 0.098, 96→128 on 12²
            // 0.130 / 0.119 / 0.129, 128→128 on 14² 0.274 / 0.185 / 0.179); 64→64 and 32→128 stay direct (0.077 /
            // 0.060 / 0.067 and 0.072 / 0.066 / 0.068: close, and the smallest layers vary most).
            // Eleventh session, after F(4x4)'s output stage ran over all a chunk's tiles (a 13²–16² plane's 16 tiles
            // one vector): on 13×13 and larger, F(4x4) from 32 input channels and 4096 channel pairs — 64→128 on 14²
            // 0.143–0.152 / 0.097–0.098 / 0.088–0.089, 128→128 0.278–0.299 / 0.177–0.181 / 0.162–0.165, 32→192
            // 0.106–0.115 / 0.080 / 0.064, 32→128 0.073 / 0.056 / 0.050, 48→128 0.107 / 0.077 / 0.068, 64→64 0.077 /
            // 0.057 / 0.058, on 16² and 20² 64→128 0.152 / 0.095 / 0.092 and 0.297 / 0.212 / 0.136; 32→64 on 20²
            // 0.073 / 0.075 / 0.069 and 16→64 on 14² 0.022 / 0.028 / 0.026 stay direct. On 12² (9 tiles) F(2x2) still
            // wins where it did (64→128 0.089 / 0.080 / 0.087, 128→128 0.205 / 0.147 / 0.165).
            if Swift.min(out.height, out.width) >= 13 && cin >= 32 && cin * cout >= 32 * 128 {
                return .init(.winograd, winogradTile: 4)
            }
            if area >= 12 * 12 && cin >= 48 && cout >= 192 { return .init(.winograd, winogradTile: 4) }
            if area >= 12 * 12 && cin >= 64 && cout >= 128 { return .init(.winograd, winogradTile: 2) }
            // 6×6 to 11×11 outputs: F(2x2) from 96 input and 128 output channels (512→512 on 7² 1.206 → 0.769, on the
            // AVX2 build 2.327 → 1.180; 192→384 0.363 → 0.266, 128→128 0.091 → 0.082, 96→192 0.099 → 0.089; 64→128
            // 0.047 / 0.047 and 64→192 0.078 / 0.088 stay direct; 512 on 5² 0.596 / 0.751 — below 6×6 the direct
            // kernel's single position tile wins).
            if area >= 6 * 6 && cin >= 96 && (cout >= 128 || cin * cout >= 128 * 32) {
                return .init(.winograd, winogradTile: 2)
            }
        }
        // 1x1 stride-2 layers (ResNet's downsampling) on outputs up to 14×14 where 512-bit FMAs are split (Zen 4), up
        // to 7×7 elsewhere: im2col is a strided gather there and the direct path's phase layout costs more (256→512
        // from 14² to 7² 0.111 → 0.085 ms at 1 thread, 0.089 → 0.055 at 2; 128→256 from 28² to 14² 0.095 → 0.089,
        // 0.092 → 0.069; 64→128 from 56² to 28²: direct 0.096 against 0.100). On Zen 5 (thirtieth session, `layer
        // … --stride 2 --algorithm direct,gemm`, 3 rounds of 300 calls, ms, 1 / 2 threads, direct → gemm) 128→256 onto
        // 14² lost, 0.102 / 0.061–0.086 → 0.134–0.137 / 0.091–0.128 (`measure` chose direct in ResNet-18 too), and
        // 256→512 onto 7² still gained at 1 thread, 0.135–0.146 → 0.102–0.125 (level at 2). Not with weights over
        // 512 KB, which come from memory inside a network and which the direct path prefetches (ResNet-50's 512→1024
        // and 1024→2048: gemm 1.062 and 1.136 ms alone against direct 1.123 and 1.214, but 2.53 against 2.36 together
        // in the network).
        let gatherArea = BuildInfo.cpuSplitsWideVectors || !KernelTarget.wideRegisters ? 14 * 14 : 7 * 7
        if d.kernel == Size2D(1, 1), d.stride.height > 1 || d.stride.width > 1, d.groups == 1,
           out.height * out.width <= gatherArea, d.inputChannels * d.outputChannels <= 256 * 512 {
            return .init(.gemm)
        }
        if (try? d.effectiveKernel()).map({ $0.height >= 5 && $0.width >= 5 }) == true, d.stride == Size2D(1, 1),
           d.inputChannelsPerGroup >= 16, d.outputChannelsPerGroup >= 16 {
            return .init(.fft)
        }
        return .init(.direct)
    }

    // MARK: Preparing

    /// Chooses an algorithm for the layer and prepares it.
    ///
    /// - Parameters:
    ///   - batch: the batch size the layer will run at (timing uses it).
    ///   - splitsInputChannels: `ConvolutionOptions.splitsInputChannels` for the prepared layer (a 1x1 layer reading
    ///     a depthwise layer's output; the network sets it).
    /// - Throws: `ConvolutionError` when the layer is invalid or no candidate can run it.
    public func prepare(descriptor d: ConvolutionDescriptor, input: Size2D, batch: Int = 1, weights: Tensor,
                        bias: Tensor?, splitsInputChannels: Bool = false) throws -> (Convolution2D, PlanDecision) {
        var options = options
        options.splitsInputChannels = splitsInputChannels
        if mode == .estimate {
            return try prepareWithinBudget(estimate(d, input: input), descriptor: d, input: input, weights: weights, bias: bias,
                                           options: options)
        }
        let key = TuningFile.key(for: d, input: input, batch: batch, threads: options.threads) + (coldCaches ? " | cold weights" : "")
        // (A recorded choice over this planner's budget — the file made without one — is measured again.)
        if let e = tuning?.entry(key),
           let conv = try? Convolution2D(descriptor: d, input: input, weights: weights, bias: bias, algorithm: e.chosen.algorithm,
                                         options: e.chosen.options(options)),
           memoryBudget.map({ conv.preparedBytes <= $0 }) ?? true {
            return (conv, PlanDecision(chosen: e.chosen, timings: e.timings, fromTuningFile: true))
        }
        let decision = try measure(d, input: input, batch: batch, weights: weights, bias: bias, options: options)
        tuning?.record(TuningFile.Entry(key: key, chosen: decision.1.chosen, timings: decision.1.timings))
        return decision
    }

    /// The candidates that hold fewer prepared weights than `c` on the same layer, most first: a Winograd tile's
    /// smaller tiles (F(6x6)'s 64 transformed values per 3x3 kernel, F(4x4)'s 36, F(2x2)'s 16 — against 9 raw), then
    /// the direct kernel (its packed weights are the raw ones). An FFT layer fits its spectra to the budget itself
    /// (smaller tiles, or spectra per call) and steps down to direct only where even that does not fit.
    func smallerFootprints(than c: ConvolutionCandidate, _ d: ConvolutionDescriptor) -> [ConvolutionCandidate] {
        var result: [ConvolutionCandidate] = []
        if c.algorithm == .winograd, let m = c.winogradTile {
            result += WinogradRegistry.tiles(filter: d.kernel.height).filter { $0 < m }.sorted(by: >)
                .map { ConvolutionCandidate(.winograd, winogradTile: $0) }
        }
        if c.algorithm != .direct { result.append(.init(.direct)) }
        return result
    }

    /// `c` prepared, or — where its prepared weights exceed `memoryBudget` — the first of `smallerFootprints` that
    /// fits (else the smallest of them all: a budget below the raw weights leaves the direct kernel). The decision
    /// lists the candidates set aside, with their sizes.
    func prepareWithinBudget(_ c: ConvolutionCandidate, descriptor d: ConvolutionDescriptor, input: Size2D, weights: Tensor,
                             bias: Tensor?, options: ConvolutionOptions) throws -> (Convolution2D, PlanDecision) {
        func prepared(_ candidate: ConvolutionCandidate) throws -> Convolution2D {
            try Convolution2D(descriptor: d, input: input, weights: weights, bias: bias, algorithm: candidate.algorithm,
                              options: candidate.options(options))
        }
        var smallest = (conv: try prepared(c), candidate: c), setAside: [CandidateTiming] = []
        guard let budget = memoryBudget, smallest.conv.preparedBytes > budget else {
            return (smallest.conv, PlanDecision(chosen: c, timings: [], fromTuningFile: false))
        }
        func setAsideOne(_ conv: Convolution2D, _ candidate: ConvolutionCandidate) {
            setAside.append(.overBudget(candidate, milliseconds: nil, preparedBytes: conv.preparedBytes, budget: budget))
        }
        setAsideOne(smallest.conv, c)
        for candidate in smallerFootprints(than: c, d) {
            let conv = try prepared(candidate)
            if conv.preparedBytes <= budget { return (conv, PlanDecision(chosen: candidate, timings: setAside, fromTuningFile: false)) }
            setAsideOne(conv, candidate)
            if conv.preparedBytes < smallest.conv.preparedBytes { smallest = (conv, candidate) }
        }
        return (smallest.conv, PlanDecision(chosen: smallest.candidate, timings: setAside, fromTuningFile: false))
    }

    func measure(_ d: ConvolutionDescriptor, input: Size2D, batch: Int, weights: Tensor,
                 bias: Tensor?, options: ConvolutionOptions) throws -> (Convolution2D, PlanDecision) {
        var rng = SeededGenerator(seed: 0x7e57)
        let x = try Tensor.random(shape: [batch, d.inputChannels, input.height, input.width], using: &rng)
        var baseline: (output: Tensor, scale: Float)?
        var timings: [CandidateTiming] = []
        var best: (ms: Double, conv: Convolution2D, candidate: ConvolutionCandidate)?
        var baselineRun: (ms: Double, conv: Convolution2D, candidate: ConvolutionCandidate)?
        var contenders: [(ms: Double, conv: Convolution2D, candidate: ConvolutionCandidate)] = []
        var smallest: (bytes: Int, conv: Convolution2D, candidate: ConvolutionCandidate)?
        for c in candidates(for: d, input: input) {
            let conv: Convolution2D
            do {
                conv = try Convolution2D(descriptor: d, input: input, weights: weights, bias: bias, algorithm: c.algorithm,
                                         options: c.options(options))
            } catch let e as ConvolutionError {
                timings.append(CandidateTiming(candidate: c, milliseconds: nil, preparedBytes: 0, rejected: e.description,
                                               rejection: .unavailable))
                continue
            }
            var y = try Tensor(zeros: conv.outputShape(batch: batch))
            try conv.run(x, into: &y)  // warm-up, and the output checked below
            if let baseline {
                let err = (y.maxAbsoluteDifference(baseline.output) ?? .infinity) / baseline.scale
                if !(err <= Self.tolerance) {
                    timings.append(CandidateTiming(candidate: c, milliseconds: nil, preparedBytes: conv.preparedBytes,
                                                   rejected: String(format: "error %.1e vs direct exceeds %.0e", err, Self.tolerance),
                                                   rejection: .inaccurate))
                    continue
                }
            } else {
                baseline = (y, Swift.max(y.maxAbsolute, .leastNormalMagnitude))
            }
            let ms = try Self.time(conv, input: x, output: &y, cold: coldCaches)
            if let budget = memoryBudget, conv.preparedBytes > budget {
                timings.append(.overBudget(c, milliseconds: ms, preparedBytes: conv.preparedBytes, budget: budget))
                if smallest.map({ conv.preparedBytes < $0.bytes }) ?? true { smallest = (conv.preparedBytes, conv, c) }
                continue
            }
            timings.append(CandidateTiming(candidate: c, milliseconds: ms, preparedBytes: conv.preparedBytes, rejected: nil))
            if c == ConvolutionCandidate(.direct) { baselineRun = (ms, conv, c) }
            if best.map({ ms < $0.ms }) ?? true { best = (ms, conv, c) }
            contenders.append((ms, conv, c))
            // Release the slow ones now (the baseline stays: it goes to the final rounds whatever its first time).
            if let b = best { contenders.removeAll { $0.ms > b.ms * Self.finalBand && $0.candidate != ConvolutionCandidate(.direct) } }
        }
        // Candidates timed one after another can be misled by a drift of the host (another process, a frequency
        // change, a slow spell) during one of them; the close ones and the baseline are timed again in alternation,
        // and those times decide.
        // The fastest others, and the baseline (`baselineRun`: among the contenders whenever it ran).
        let others = contenders.filter { $0.candidate != ConvolutionCandidate(.direct) }.sorted { $0.ms < $1.ms }
        contenders = Array(others.prefix(Self.finalists - (baselineRun == nil ? 0 : 1))) + (baselineRun.map { [$0] } ?? [])
        if contenders.count > 1 {
            var y = try Tensor(zeros: contenders[0].conv.outputShape(batch: batch))
            var rounds = [[Double]](repeating: [], count: contenders.count)
            baselineRun = nil  // direct is compared only on the final rounds' times, when it is among them
            for r in 0..<Self.finalRounds {
                for k in 0..<contenders.count {
                    let i = (k + r) % contenders.count  // a different one goes first each round
                    rounds[i].append(try Self.time(contenders[i].conv, input: x, output: &y, cold: coldCaches,
                                                   minimumCalls: 2, targetMilliseconds: 8))
                }
            }
            for i in contenders.indices {
                let ms = rounds[i].sorted()[rounds[i].count / 2]
                contenders[i].ms = ms
                if let t = timings.firstIndex(where: { $0.candidate == contenders[i].candidate && $0.rejected == nil }) {
                    timings[t].milliseconds = ms
                    timings[t].retimed = true
                }
                if contenders[i].candidate == ConvolutionCandidate(.direct) { baselineRun = contenders[i] }
            }
            best = contenders.min { $0.ms < $1.ms }
        }
        // Leave the direct baseline only for a clear win: within `margin` of the fastest, timing noise decides
        // (±5% between runs on the hosts measured), and direct holds the least memory and is the most accurate.
        if let b = best, let base = baselineRun, base.ms <= b.ms * (1 + Self.margin) { best = base }
        timings.sort { ($0.rejected == nil ? 0 : 1, $0.milliseconds ?? .infinity) < ($1.rejected == nil ? 0 : 1, $1.milliseconds ?? .infinity) }
        if let b = best, let i = timings.firstIndex(where: { $0.candidate == b.candidate && $0.rejected == nil }) {
            timings.insert(timings.remove(at: i), at: 0)  // the chosen one first
        }
        guard let chosen = best.map({ ($0.conv, $0.candidate) }) ?? smallest.map({ ($0.conv, $0.candidate) }) else {
            throw ConvolutionError.unsupported(algorithm: "planner", reason: "no candidate can run \(d)")
        }
        return (chosen.0, PlanDecision(chosen: chosen.1, timings: timings, fromTuningFile: false))
    }

    /// Median of timed calls: at least `minimumCalls`, and more (up to 25) until `targetMilliseconds` have been
    /// spent; with `cold`, before each call and outside the timing, the caches are flushed (64 MB read) and then the
    /// input, the output and the shared scratch read back in (`CacheFlush.readBack`), so only the weights come from
    /// memory — as in a network. (A flush of everything had ResNet-18's 64→64 layers on 56² at 1.39 ms in F(2×2) and 1.71 in
    /// F(4×4), which run 1.2 and 0.86–1.1 ms in the network.)
    static func time(_ conv: Convolution2D, input x: Tensor, output y: inout Tensor, cold: Bool = false,
                     minimumCalls: Int = 3, targetMilliseconds: Double = 20) throws -> Double {
        var times: [Double] = []
        var total = 0.0
        while times.count < minimumCalls || (total < targetMilliseconds && times.count < 25) {
            if cold {
                CacheFlush.run()
                CacheFlush.readBack(x, y, threads: conv.options.threads)
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            try conv.run(x, into: &y)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            times.append(ms)
            total += ms
        }
        times.sort()
        return times[times.count / 2]
    }
}

/// Evicts the caches by reading a buffer larger than any last-level cache of the machines measured.
enum CacheFlush {
    static let buffer = AlignedBuffer(count: 16 << 20)  // 64 MB
    nonisolated(unsafe) static var sink: Float = 0

    static func run() {
        read(UnsafeBufferPointer(start: buffer.pointer, count: buffer.count))
    }

    /// Reads `x` and `y` back into the caches, split between `threads` workers as a layer's steps split them,
    /// and the shared scratch on the calling thread. Run right before a timed call, it also has the worker pool's
    /// helpers awake, as they are between the steps of a network (after the flush they would be asleep, and every
    /// timed call at 2 threads paid their wake-up).
    static func readBack(_ x: Tensor, _ y: Tensor, threads: Int) {
        x.withUnsafeBufferPointer { xs in
            y.withUnsafeBufferPointer { ys in
                Parallel.forEachRange(count: threads, threads: threads) { _, workers in
                    for w in workers {
                        for b in [xs, ys] {
                            let lo = b.count * w / threads, hi = b.count * (w + 1) / threads
                            read(UnsafeBufferPointer(rebasing: b[lo..<hi]))
                        }
                    }
                }
            }
        }
        SharedScratch.readBack()
    }

    /// Reads one float of every cache line of `b` (their sum kept from the optimizer by `sink`).
    static func read(_ b: UnsafeBufferPointer<Float>) {
        guard let p = b.baseAddress else { return }
        var s: Float = 0
        var i = 0
        while i < b.count { s += p[i]; i += 16 }
        if s == .infinity { sink = s }  // keeps the reads; no shared write from several threads
    }
}
