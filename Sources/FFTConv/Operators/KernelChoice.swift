import FFTConvKernels

/// Which micro-kernel variant an operator uses: a policy, kept out of the kernels.
enum KernelChoice {
    /// The family of GEMM variants that suits the SIMD width the package was built for: 32-column tiles use
    /// all 32 zmm registers on AVX-512; 16-column tiles fit AVX2's 16 ymm and NEON's 32 q registers.
    static var gemmFamily: [GEMMMicroKernel] {
        let names = BuildInfo.compiledFor.contains(.avx512f)
            ? ["gemm_12x32", "gemm_8x32", "gemm_4x32"] : ["gemm_6x16", "gemm_4x16", "gemm_1x16"]
        return names.compactMap(MicroKernelRegistry.named)
    }

    /// The variant for a GEMM with `rows` rows of A (output channels per group), or the one named `forced`.
    ///
    /// Cost per k, in cycles at two vector FMAs and two loads per cycle: `max(mr·u, mr + u) / 2` per panel,
    /// `u` vectors of 8 per tile row, plus about one cycle of loop overhead per panel and k (which favours
    /// the larger tile on a tie); so a 2-row group prefers 1-row panels over half-empty 6-row ones.
    static func gemm(rows: Int, forced: String?) throws -> GEMMMicroKernel {
        if let forced {
            guard let k = MicroKernelRegistry.named(forced) else {
                throw ConvolutionError.invalidOption("unknown micro-kernel '\(forced)'; known: \(MicroKernelRegistry.gemm.map(\.name).joined(separator: ", "))")
            }
            return k
        }
        var best: (cost: Int, kernel: GEMMMicroKernel)?
        for k in gemmFamily {
            let u = k.nr / 8
            let cost = (rows + k.mr - 1) / k.mr * (Swift.max(k.mr * u, k.mr + u) + 2)
            if let b = best, b.cost <= cost { continue }
            best = (cost, k)
        }
        return best?.kernel ?? MicroKernelRegistry.gemm[0]
    }

    /// The 7-row micro-kernel for the transposed path (`TransposedImplementation`), or nil for the direct operator's
    /// own path. Forced by a name with a `t` suffix (`gemm_7x32t`): then a layer the path cannot compute (grouped) is
    /// an `unsupported` error. Unforced, only with 16-float registers, where the direct path computes more positions
    /// than 7-position tiles do (49 positions: 64 against 49, 31% more; 196: 208 against 196, 6%; 784 on 28²: none) —
    /// by `pointwiseTransposedMargin` percent for 1x1 stride-1 layers with their input read in place, by
    /// `transposedMargin` percent for other layers with one group (positions as `TransposedImplementation
    /// .computedPositions` counts them) where an im2col would take at most `transposedGatherBytes`; on Intel cores by
    /// `prefersPhaseLayout`, and 1x1 layers read in place by `prefersTransposedSqueeze`. Measured on Zen 4 (1 / 2 threads, ms,
    /// `fftconv-bench layer … --algorithm direct [--micro-kernel gemm_7x32t]`, nineteenth session): 576→96 on 14²
    /// 0.203 / 0.107 → 0.192 / 0.098, 384→64 0.092 / 0.049 → 0.086 / 0.046, 1024→256 0.950 / 0.506 → 0.906 / 0.455,
    /// 256→1024 0.980 / 0.519 → 0.929 / 0.508; on 28² it loses (192→32 0.087 / 0.047 → 0.094 / 0.049). With the input
    /// packed instead of read in place 14² lost (576→96 0.093 → 0.101 ms, sixth session).
    static func transposed(forced: String?, problem p: ConvolutionProblem) throws -> GEMMMicroKernel? {
        if let forced {
            guard forced.hasSuffix("t"), let k = MicroKernelRegistry.named(String(forced.dropLast())) else { return nil }
            guard TransposedImplementation.supports(kernel: k, problem: p) else {
                throw ConvolutionError.unsupported(algorithm: "direct",
                                                   reason: "\(forced) needs a 7-row micro-kernel with a strided form (and a gathered one "
                                                       + "for a layer not read in place) and a convolution with one group")
            }
            return k
        }
        // Only with 16-float registers: on the AVX2 build a 7x16 tile is 14 of 16 ymm accumulators plus two
        // for each B vector — it spills, and ran 1.46× the direct path's time on 960→320 at 7² (0.454 vs 0.310 ms).
        guard KernelTarget.wideRegisters, TransposedImplementation.applies(to: p.descriptor),
              let family = gemmFamily.first else { return nil }
        let positions = p.outputPlane, transposed = TransposedImplementation.computedPositions(p)
        if TransposedImplementation.readsInPlace(p.descriptor) {
            if prefersTransposedSqueeze(p) { return MicroKernelRegistry.named("gemm_7x32") }
            // Whole tiles of `nr` positions, the last one on the 16-wide twin when at most 16 remain.
            let direct = WinogradImplementation.computedColumns(positions, nr: family.nr, narrow: MicroKernelRegistry.narrowTwin(of: family)?.nr)
            guard direct * 100 >= transposed * (100 + pointwiseTransposedMargin) else { return nil }
        } else {
            let d = p.descriptor, depth = d.inputChannels * d.kernel.height * d.kernel.width
            if let seven = MicroKernelRegistry.named("gemm_7x32"), prefersPhaseLayout(p, kernel: seven) { return seven }
            let direct = DirectImplementation.computedPositions(p, kernel: try gemm(rows: d.outputChannels, forced: nil))
            guard direct * 100 >= transposed * (100 + transposedMargin), depth * transposed * 4 <= transposedGatherBytes else { return nil }
        }
        return MicroKernelRegistry.named("gemm_7x32")
    }

    /// Whether a layer takes the transposed path on its phase layout whatever the positions' count: on Intel cores
    /// (`BuildInfo.cpuIsIntel`), for kernels larger than 1x1 with at least `phaseLayoutDepth` rows of K and 32 output
    /// channels, whose output rows are whole 7-position tiles (`TransposedImplementation.rowTiles`).
    ///
    /// There the direct path's tiles, which read a vector of 16 positions per k, run further from the peak than the
    /// transposed tiles' broadcasts (thirty-ninth session, Xeon family 6 model 207, `fftconv-bench layer … --padding 1
    /// --activation relu --algorithm direct [--micro-kernel gemm_7x32t]`, the least of 3–5 alternated runs' minima, 1
    /// thread, ms, direct → transposed on the phase layout): ResNet-18's 3x3 stride-2 layers 64→128 from 56² 0.925 →
    /// 0.743, 128→256 from 28² 0.870 → 0.730 (at 2 threads 0.501 → 0.432, 0.505 → 0.417); 3x3 stride 1 32→64 on 56²
    /// 0.869 → 0.694, 64→64 1.545 → 1.354, 128→128 on 28² 1.590 → 1.314, 256→256 on 14² 1.613 → 1.327, 64→128 on 112²
    /// 12.86 → 10.89. With a short K the transposed store's share grows and it loses or draws: 3→64 on 224² (K 27)
    /// 1.35 → 2.97, 8→32 on 56² (72) 0.095 → 0.108, 16→32 (144) 0.190 → 0.194, ResNet's 7x7 stride-2 stem (147) 1.443
    /// → 1.575, 1x1 stride-2 64→128 (64) 0.102 → 0.197; 1x1 stride-2 128→256 and 256→512 draw (0.103 → 0.106, 0.188 →
    /// 0.187). Zen 4 and Zen 5 keep `transposedMargin`'s rule (unmeasured there).
    ///
    /// In flat tiles (output rows not whole tiles; the phase rows' extra columns computed too) it won most layers
    /// measured but not all (same command, least of two runs, ms, own → transposed): 3x3 stride-2 64→128 onto 32²
    /// 1.284 → 1.061, 128→256 onto 16² 1.196 → 1.067, but 256→512 onto 8² 1.186 → 1.235; 3x3 stride 1 256→256 on 13²
    /// 1.527 → 1.362, on 27² 5.961 → 5.294, 128→128 on 32² 2.018 → 1.906, but 64→192 on 27² (the own path on its
    /// unpadded flat layout) 1.119 → 1.395. Those are left to `measure`, which times both forms.
    static func prefersPhaseLayout(_ p: ConvolutionProblem, kernel: GEMMMicroKernel) -> Bool {
        let d = p.descriptor
        return BuildInfo.cpuIsIntel && KernelTarget.wideRegisters && d.kernel.height * d.kernel.width > 1
            && d.inputChannels * d.kernel.height * d.kernel.width >= phaseLayoutDepth && d.outputChannels >= 32
            && TransposedImplementation.rowTiles(p) && TransposedImplementation.supports(kernel: kernel, problem: p)
    }

    /// Whether a 1x1 layer read in place takes the transposed path whatever the positions' count: on Intel cores, with
    /// at least `phaseLayoutDepth` input channels onto one or two whole 32-channel panels (32 or 64 output channels),
    /// from an input of at most 1.5 MB (one that stays in L2). The direct path's tiles then read every input row once
    /// per 8-channel panel for little arithmetic, the transposed tile's broadcasts each row once for all 32 channels.
    ///
    /// Forty-first session (Xeon, family 6 model 207; `fftconv-bench layer … --activation relu --algorithm direct
    /// [--micro-kernel gemm_7x32t]`, 1 thread, least of 3 runs' minima, ms, direct → transposed): 256→32 on 27² 0.153 →
    /// 0.082, 512→32 on 27² 0.349 → 0.235, 256→64 on 27² 0.300 → 0.207, 256→32 on 28² 0.134 → 0.095, 256→32 on 13²
    /// 0.034 → 0.020, 1024→64 and 480→64 on 14² 0.196 → 0.145, 0.091 → 0.071; past L2 level or lost (512→64 on 28²,
    /// 1.6 MB: 0.340 → 0.336; 256→64 on 56², 3.2 MB: 0.745 → 0.922); below K 256 lost (192→32 on 28²: 0.058 →
    /// 0.065). SqueezeNet in the network (`Bench/scripts/step_ab.sh 5`, both orders): at 1 thread its 13² squeezes
    /// 384→64 and 512→64 0.077 / 0.102 → 0.068 / 0.089 ms and 256→32 on 27² 0.122 → 0.119; at 2 threads level with
    /// the tiles shared by position (`TransposedImplementation.sharesTiles`; panel by panel the 13² ones lost 12–24%).
    static func prefersTransposedSqueeze(_ p: ConvolutionProblem) -> Bool {
        let d = p.descriptor
        return BuildInfo.cpuIsIntel && d.inputChannels >= phaseLayoutDepth && d.outputChannels % 32 == 0
            && d.outputChannels <= 64 && d.inputChannels * p.inputPlane * 4 <= 3 << 19
    }

    /// The least K (input channels × taps) for `prefersPhaseLayout`.
    static let phaseLayoutDepth = 256

    /// How many percent more positions the direct path must compute than the transposed path's 7-position tiles before
    /// a layer takes the transposed path: 5 on cores that split 512-bit FMAs in halves (`BuildInfo.cpuSplitsWideVectors`,
    /// Zen 4), 20 on full-width ones.
    ///
    /// A transposed tile reads a cache line of input per k for 7 positions where the direct one reads one per 16. With
    /// one FMA of 16 floats a cycle the FMAs bound both and the fewer positions win: on Zen 4 (twenty-first session,
    /// 1 / 2 threads, ms) ResNet-18's 3x3 stride-2 layers 128→256 from 28² (208 columns on the direct path's im2col for
    /// 196) 1.185 / 0.637 → 1.146 / 0.638 and 256→512 from 14² (64 for 49) 1.421 / 0.733 → 1.177 / 0.652; 512→512 3x3
    /// on 7² 2.898 → 2.296; where the direct path wastes nothing it loses: 64→128 from 56² (784 for 784), 64→256 on
    /// 13² (176 for 175) 0.456 → 0.482, 128→128 on 28² 2.127 → 2.295.
    ///
    /// With two FMAs a cycle (Zen 5, thirtieth session) the lines count, and only 7² layers' 31% pays for them:
    /// MobileNetV2's projections in the network (`net … --profile`, the minimum over 5 alternated runs of each step's
    /// median over 100 calls, 1 thread, ms, direct → transposed): on 14² 576→96 0.110 → 0.131, 0.109 → 0.126, 384→96
    /// 0.074 → 0.076, 384→64 0.056–0.057 → 0.055–0.056; on 7² 576→160 0.065 → 0.057, 960→160 0.102 → 0.092, 960→320
    /// 0.193 → 0.176, 320→1280 0.254 → 0.238. Alone (`fftconv-bench layer`, 3 alternations of 300 calls): 576→96
    /// 0.114–0.117 → 0.156–0.158, 256→1024 on 14² 0.53–0.55 → 0.73–0.75, 3x3 stride 2 128→256 from 28² 0.65–0.78 →
    /// 0.98–1.00.
    static var transposedMargin: Int { BuildInfo.cpuSplitsWideVectors ? 5 : 20 }

    /// `transposedMargin` for 1x1 stride-1 layers read in place: 5 on every core — 14² layers take the transposed path.
    ///
    /// The thirtieth session's losses on Zen 5 (above) came from the transposed path's 32 KB weight passes, which with
    /// a tile's input lines overflowed L1 (`TransposedImplementation.kc`). With 16 KB passes (thirty-second session,
    /// `Bench/scripts/step_ab.sh 3`, 1 thread, each step's minimum, ms, direct → transposed): MobileNetV2's 14²
    /// projections 0.067 → 0.057 (384→64, three layers), 0.037 → 0.032 (192→64), 0.081 → 0.081 (384→96), 0.118 →
    /// 0.122 (576→96, two), at 2 threads 0.040 → 0.031–0.032, 0.023 → 0.018, 0.048 → 0.044, 0.070 → 0.064–0.065;
    /// DenseNet-121's 24 bottleneck 1x1 layers on 14² 5.41 → 4.56 all together; ResNet-50's 1024→256 on 14²
    /// 0.63–0.66 → 0.55–0.57, its 256→1024 level. On an im2col the rule stays: ResNet-50's 1x1 stride-2 512→1024 and
    /// 3x3 stride-2 256→256 from 28² (208 columns for 196) lost 21–41% with it (1.27 → 1.79, 1.52 → 1.84 ms).
    static let pointwiseTransposedMargin = 5

    /// The largest im2col (K × computed positions × 4 bytes) for which `transposedMargin`'s rule gives a layer the
    /// transposed path: 2 MB. Measured when the path read an im2col, which each 32-channel panel read all of: 256→256
    /// 3x3 on 14² (1.8 MB) gained (2.446 → 2.185 ms), on 28² (7.2 MB, 10% more columns on the padded layout) it lost
    /// (9.28–9.40 → 9.61–13.58 ms, `ab.sh 4`). Since the thirty-ninth session the path reads the phase layout (one copy
    /// of the input) and no im2col; the bound is kept as measured (the Zen hosts it was set on were not at hand).
    static let transposedGatherBytes = 2 << 20

    /// The depthwise variant, or the one named `forced`: the channel-blocked kernel on small planes of 16
    /// channels or more without dilation (input planes up to 56² at stride 1, 28² at larger strides), else the
    /// 3x3 stride-2 kernel that reads the input planes directly where it applies (rows of 32 or more; 1 thread,
    /// AVX-512, against flat: 96×112² 0.157 → 0.105 ms, 144×56² 0.051 → 0.045, 32×224² 0.192 → 0.117), else the
    /// flat kernel wherever its layout applies ("same" padding at stride 1 or 2 on even sides: every MobileNet
    /// layer), else the row kernel where output rows are whole vectors (its sub-8 remainder is scalar), else
    /// the 64-position tile kernel.
    ///
    /// The blocked bounds are measured (sixth session, `fftconv-bench layer … --micro-kernel dw_flat32` and
    /// `dw_blocked16`, 1 thread, AVX-512): blocked/flat 0.49 on 960×7², 0.65 on 576×14², 0.58 on 576×14² s2,
    /// 0.80 on 192×28², 0.86 on 192×28² s2, 0.86 on 144×56²; 1.17 on 144×56² s2, 1.30 on 96×112² s2, 1.30 on
    /// 32×112²; 3x3 with dilation 2 on 64×28² 1.19. The transposes into and out of the blocks cost the same per
    /// float whatever the plane; the flat kernel's masked lanes and per-plane fill are what grow on small ones.
    /// Only on builds with 16-float registers: on an AVX2 build (`FFTCONV_MARCH=x86-64-v3`) a 16-float vector
    /// is two registers, the nine weights spill and the 16×16 transpose becomes cross-lane shuffles — blocked
    /// was 1.3–2× slower than flat on every one of those layers (960×7² 0.038 vs 0.030 ms, 144×56² 0.29 vs
    /// 0.16). NEON (four 4-float registers per vector) is expected to behave like AVX2, unmeasured.
    ///
    /// A forced variant that cannot serve `geometry` is an `unsupported` error, not a silent substitute.
    static func depthwise(forced: String?, geometry: ConvolutionGeometry, channels: Int) throws -> DepthwiseKernel {
        let all = DepthwiseKernelRegistry.all
        guard let forced else {
            let g = geometry, w = g.outputWidth, plane = g.inputHeight * g.inputWidth
            let blocked = KernelTarget.wideRegisters && channels >= DepthwiseBlockedKernels.block
                && g.dilationHeight == 1 && g.dilationWidth == 1
                && plane <= (g.strideHeight == 1 && g.strideWidth == 1 ? 56 * 56 : 28 * 28)
            let stride2 = KernelTarget.wideRegisters && DepthwiseStride2Kernels.supports(g)
            let name = blocked ? "dw_blocked16" : stride2 ? "dw_s2direct16" : FlatPhaseLayout(geometry: geometry) != nil ? "dw_flat32"
                : w >= 32 || (w >= 16 && w % 8 == 0) ? "dw_rows" : "dw_64"
            return all.first { $0.name == name } ?? all[0]
        }
        guard let k = all.first(where: { $0.name == forced }) else {
            throw ConvolutionError.invalidOption("unknown depthwise kernel '\(forced)'; known: \(all.map(\.name).joined(separator: ", "))")
        }
        guard k.supports(geometry) else {
            throw ConvolutionError.unsupported(algorithm: "depthwise", reason: "kernel \(forced) needs input sides divisible by the stride and output width = input width / stride")
        }
        return k
    }
}

extension KernelChoice {
    /// The complex GEMM for FFT products, or the one named `forced`: 16 columns where a vector of 16 floats
    /// is one register (AVX-512), else 8 (AVX2's ymm; NEON holds either in 2 or 4 q registers).
    static func complexGEMM(forced: String?) throws -> ComplexGEMMKernel {
        let all = ComplexGEMM.variants
        guard let forced else {
            let name = BuildInfo.compiledFor.contains(.avx512f) ? "cgemm_4x16" : "cgemm_4x8"
            return all.first { $0.name == name } ?? all[0]
        }
        guard let k = all.first(where: { $0.name == forced }) else {
            throw ConvolutionError.invalidOption("unknown complex GEMM kernel '\(forced)'; known: \(all.map(\.name).joined(separator: ", "))")
        }
        return k
    }
}

/// Weights of every group packed into micro-kernel panels (done once, at prepare time).
struct PackedGroupWeights: @unchecked Sendable {
    let buffer: AlignedBuffer
    let groupStride: Int

    /// Packs `[outputChannels, K]` row-major weights, `rows` rows per group, for `kernel`.
    init(weights: UnsafePointer<Float>, groups: Int, rows: Int, k: Int, kernel: GEMMMicroKernel) {
        groupStride = GEMM.packedASize(m: rows, k: k, mr: kernel.mr)
        buffer = AlignedBuffer(count: groups * groupStride)
        for g in 0..<groups {
            GEMM.packA(m: rows, k: k, a: weights + g * rows * k, rowStride: k, colStride: 1, mr: kernel.mr,
                       into: buffer.pointer + g * groupStride)
        }
    }

    func group(_ g: Int) -> UnsafePointer<Float> { UnsafePointer(buffer.pointer + g * groupStride) }
}
