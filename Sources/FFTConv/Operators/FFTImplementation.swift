import FFTConvKernels

/// Convolution through FFTW single-precision 2-D real transforms: overlap-save tiles, polyphase stride, and
/// the frequency-domain products as one complex GEMM per frequency bin.
///
/// **Polyphase stride.** A stride-`s` convolution is the sum, over the `s_h·s_w` phases (a, b), of stride-1
/// correlations of the phase-split padded input `x_ab[i][j] = x[i·s_h + a][j·s_w + b]` with the phase-split
/// (dilated) kernel `w_ab[i][j] = w[i·s_h + a][j·s_w + b]`. So the operator runs a stride-1 convolution with
/// `Cin·s_h·s_w` input channels (the phase is folded into the channel) and a kernel `ceil(K'/s)` wide, on the
/// planes of a `PhaseLayout` — nothing is computed and then thrown away. Stride 1 reads the input directly.
///
/// **Prepare (once):** choose the tiling (cost model, within the memory budget), fetch the forward and inverse
/// plans from the process-wide cache, transform every (output channel, inner input channel) kernel into
/// `conj(FFT(w)) / N` and store it per bin as packed split-complex GEMM operands.
///
/// **Run (every call),** per image and chunk of tiles:
/// 1. forward: each (inner channel, tile) is copied out with its zero padding; channels (2m, 2m + 1) are
///    transformed together as the real and imaginary parts of one complex FFTW transform and separated by
///    Hermitian symmetry (`SpectrumPairs`; an odd last channel by the real-to-complex plan — FFTW's complex
///    transforms are its SIMD ones, so a pair costs about what one real transform did); the bins are scattered
///    into the per-bin GEMM layout, a block of 16 channels at a time;
/// 2. products: for each (bin, group, block of `nr` output channels), a `ComplexGEMM` kernel over the group's
///    inner channels for every block of 4 tiles;
/// 3. inverse: each (output channel, tile) gathers its bins (a block of 16 channels at a time); channels
///    (2m, 2m + 1) go back through one complex transform of `A + i·B` (real part the first, imaginary part the
///    second), and the valid results are written with bias, residual and activation.
/// Each output element is computed by one worker in a fixed order: results do not depend on threads.
final class FFTImplementation: ConvolutionImplementation, @unchecked Sendable {
    let problem: ConvolutionProblem
    let tiling: FFTTiling
    /// Batched plans over a chunk of tiles (forward, inverse) and a single forward plan for kernels.
    let forwardPlan: FFTPlan
    let inversePlan: FFTPlan
    let kernelPlan: FFTPlan
    /// Batched complex plans over a chunk of tiles that transform two channels at once (`SpectrumPairs`).
    let pairForwardPlan: FFTPlan
    let pairInversePlan: FFTPlan
    /// Floats between consecutive tiles in the real, half-spectrum and full-spectrum (pair) buffers.
    let realStride: Int
    let complexStride: Int
    let pairStride: Int
    let bias: [Float]?
    let epilogue: Epilogue
    /// Stride phases (1 for stride 1) and the layout holding them (polyphase only).
    let phases: Int
    let layout: PhaseLayout?
    /// Inner (stride-1) problem: channels per group, kernel extent, output channels per group padded to 8.
    let innerChannelsPerGroup: Int
    let innerKernel: Size2D
    let outputsPerGroupPadded: Int
    /// The complex GEMM of the products stage (its `nr` sets the spectra's output-channel blocks).
    let cgemm: ComplexGEMMKernel
    /// Tiles per chunk (a multiple of 4) and its workspace layout, in floats.
    let chunkTiles: Int
    let spectraFloats: Int
    /// Kernel spectra held since prepare, or nil when they are recomputed every call (memory budget).
    /// Set once, at the end of `init`.
    private(set) var spectra: AlignedBuffer? = nil
    /// The phase-split, dilated, 1/N-scaled kernels as real tiles' taps (kept when spectra are per call).
    let innerWeights: [Float]
    let threads: Int
    let workspace: WorkspacePool
    let xFloats: Int, yFloats: Int, layoutFloats: Int, workerFloats: Int

    /// Channels per forward/inverse work item: the per-bin scatter into X (and gather from Y) then writes
    /// (reads) one run of consecutive channels per bin instead of one cache line per channel and bin.
    static let channelBlock = 16

    /// The channel block for `channels` over `threads`: `channelBlock`, smaller when that would leave fewer
    /// than two blocks per thread, and even, so that every block starts at an even channel and the pairs
    /// transformed together are always channels (2m, 2m + 1) — results do not depend on it: it only groups
    /// data movement.
    static func block(channels: Int, threads: Int) -> Int {
        let b = Swift.min(channelBlock, channels / Swift.max(1, 2 * threads)) & ~1
        return channels == 1 ? 1 : Swift.max(2, b)
    }

    /// Most bytes of kernel spectra one layer may take (held, or computed per call): 1 GB (a 512→512 3x3 layer at
    /// dilation 4 on 28² takes 0.4 GB, `fftconv-bench layer … --algorithm fft`); beyond it the FFT path refuses the
    /// layer (`ConvolutionError.unsupported`) instead of exhausting memory, and the planner takes another algorithm.
    static let largestSpectraBytes = 1 << 30

    init(problem p: ConvolutionProblem, weights: Tensor, bias: Tensor?, options: ConvolutionOptions) throws {
        problem = p
        let d = p.descriptor
        let g = d.groups
        phases = d.stride.height * d.stride.width
        let k = p.effectiveKernel
        innerKernel = Size2D((k.height + d.stride.height - 1) / d.stride.height, (k.width + d.stride.width - 1) / d.stride.width)
        innerChannelsPerGroup = d.inputChannelsPerGroup * phases
        cgemm = try KernelChoice.complexGEMM(forced: options.microKernel)
        outputsPerGroupPadded = roundUp(d.outputChannelsPerGroup, cgemm.nr)
        layout = phases == 1 ? nil : PhaseLayout(geometry: p.geometry, padBottom: d.padding.bottom, padRight: d.padding.right, lanes: 1)
        let shape = FFTTiling.Shape(inputChannels: innerChannelsPerGroup * g, outputChannels: d.outputChannels, groups: g,
                                    kernel: innerKernel, output: p.output, outputBlock: cgemm.nr)
        let (tiling, perCall) = try FFTTiling.choose(for: shape, override: options.fftTile, budget: options.fftMemoryBudget)
        // Spectra held or computed per call take this much memory either way: a kernel dilated far past the map
        // (DeepLabV3's 2048→256 3x3 at dilation 24 on 28², a 49×49 extent) would need tens of GB.
        let spectraBytes = FFTTiling.spectraBytes(tiling, shape)
        guard spectraBytes <= Self.largestSpectraBytes else {
            throw ConvolutionError.unsupported(algorithm: "fft", reason: "the kernel spectra of \(d) on \(p.input) would take "
                + "\(spectraBytes >> 20) MB (tile \(tiling.tile)), over the \(Self.largestSpectraBytes >> 20) MB the FFT path allows")
        }
        self.tiling = tiling
        let t = tiling.tile
        realStride = roundUp(t.height * t.width, 16)
        complexStride = roundUp(2 * tiling.bins, 16)
        pairStride = roundUp(2 * t.height * t.width, 16)
        self.bias = bias?.scalars
        epilogue = d.activation.epilogue
        self.threads = options.threads

        // Inner kernels: [o][inner channel][kh'][kw'], phase-split and dilated, scaled by 1/N.
        let cgI = innerChannelsPerGroup, cg = d.inputChannelsPerGroup
        let kh = innerKernel.height, kw = innerKernel.width
        var inner = [Float](repeating: 0, count: d.outputChannels * cgI * kh * kw)
        let scale = 1 / Float(t.height * t.width)
        weights.withUnsafeBufferPointer { w in
            for o in 0..<d.outputChannels {
                for c in 0..<cg {
                    for i in 0..<d.kernel.height {
                        for j in 0..<d.kernel.width {
                            let y = i * d.dilation.height, x = j * d.dilation.width
                            let phase = (y % d.stride.height) * d.stride.width + x % d.stride.width
                            let ci = phase * cg + c
                            inner[((o * cgI + ci) * kh + y / d.stride.height) * kw + x / d.stride.width] =
                                w[((o * cg + c) * d.kernel.height + i) * d.kernel.width + j] * scale
                        }
                    }
                }
            }
        }
        innerWeights = inner
        spectraFloats = tiling.bins * g * cgI * outputsPerGroupPadded * 2
        guard !(spectraFloats.multipliedReportingOverflow(by: 4).overflow) else {
            throw ConvolutionError.sizeOverflow(what: "the kernel spectra size")
        }

        // Workspace per chunk: X (per bin, packed GEMM rows) and Y (per bin, tile × output channel).
        let perTile = tiling.bins * 2 * (g * cgI + g * outputsPerGroupPadded)
        let byMemory = Swift.max(ComplexGEMM.mr, (16 << 20) / 4 / Swift.max(perTile, 1) / ComplexGEMM.mr * ComplexGEMM.mr)
        chunkTiles = Swift.min(roundUp(tiling.tilesPerImage, ComplexGEMM.mr), byMemory)
        xFloats = tiling.bins * g * cgI * chunkTiles * 2
        yFloats = tiling.bins * chunkTiles * g * outputsPerGroupPadded * 2
        layoutFloats = layout?.imageSize(channels: d.inputChannels) ?? 0
        // Per worker: a chunk's tiles, real and complex, for a block of channels (each channel's tiles are
        // transformed in one batched call; blocks keep the per-bin scatter and gather on few cache lines).
        // Then the two full complex spectra (input and output of a pair's transform).
        workerFloats = Parallel.workerStride(Self.channelBlock * chunkTiles * (realStride + complexStride) + 2 * chunkTiles * pairStride,
                                             threads: options.threads)
        let (rs, cs, ps) = (realStride, complexStride, pairStride)
        let batch = { (inverse: Bool, count: Int) in
            FFTPlan.Key(rows: t.height, cols: t.width, inverse: inverse, effort: options.fftPlanning,
                        count: count, realDistance: rs, complexDistance: cs)
        }
        forwardPlan = try FFTPlanCache.shared.plan(batch(false, chunkTiles))
        inversePlan = try FFTPlanCache.shared.plan(batch(true, chunkTiles))
        kernelPlan = try FFTPlanCache.shared.plan(batch(false, 1))
        let tilesPerChunk = chunkTiles
        let pairs = { (inverse: Bool) in
            FFTPlan.Key(rows: t.height, cols: t.width, inverse: inverse, effort: options.fftPlanning,
                        count: tilesPerChunk, complexDistance: ps, complex: true)
        }
        pairForwardPlan = try FFTPlanCache.shared.plan(pairs(false))
        pairInversePlan = try FFTPlanCache.shared.plan(pairs(true))
        workspace = WorkspacePool(count: xFloats + yFloats + layoutFloats + threads * workerFloats + (perCall ? spectraFloats : 0))
        if !perCall {
            let s = AlignedBuffer(count: spectraFloats)
            let scratch = AlignedBuffer(count: threads * workerFloats)
            computeSpectra(into: s.pointer, scratch: scratch.pointer, threads: threads)
            spectra = s
        }
    }

    var preparedBytes: Int { (spectra?.count ?? innerWeights.count) * 4 }
    var summary: String {
        var s = "\(tiling)"
        if phases > 1 { s += ", polyphase \(phases)" }
        if spectra == nil { s += ", spectra per call" }
        return s
    }

    /// Transforms every inner kernel into the per-bin packed spectra: `[bin][group][nr-output block][inner channel][2·nr]`.
    func computeSpectra(into w: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, threads: Int) {
        let d = problem.descriptor, t = tiling.tile
        let cgI = innerChannelsPerGroup, og = d.outputChannelsPerGroup, ogP = outputsPerGroupPadded
        let nr = cgemm.nr, blocks = ogP / nr, bins = tiling.bins
        let kh = innerKernel.height, kw = innerKernel.width
        let binStride = d.groups * blocks * cgI * 2 * nr
        let (fwd, wf, rs) = (kernelPlan, workerFloats, realStride)
        innerWeights.withUnsafeBufferPointer { inner in
            Parallel.forEachRange(count: d.outputChannels, threads: threads) { worker, items in
                let real = scratch + worker * wf, complex = real + rs
                for o in items {
                    let g = o / og, ol = o % og
                    for ci in 0..<cgI {
                        Copy.zero(real, t.height * t.width)
                        for i in 0..<kh { for j in 0..<kw { real[i * t.width + j] = inner[((o * cgI + ci) * kh + i) * kw + j] } }
                        fwd.forward(real, complex)
                        var dst = w + (g * blocks + ol / nr) * cgI * 2 * nr + ci * 2 * nr + ol % nr
                        for b in 0..<bins {
                            dst[0] = complex[2 * b]
                            dst[nr] = -complex[2 * b + 1]
                            dst += binStride
                        }
                    }
                }
            }
        }
        // Padding outputs (og..<ogP) stay zero: the buffers start zeroed and nothing writes there.
    }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
             batch: Int, threads: Int) {
        let p = problem, d = p.descriptor
        workspace.withBuffer { ws in
            let x = ws, y = x + xFloats, layoutBuffer = y + yFloats, workers = layoutBuffer + layoutFloats
            let w: UnsafePointer<Float>
            if let spectra {
                w = UnsafePointer(spectra.pointer)
            } else {
                let perCall = workers + threads * workerFloats
                Copy.zero(perCall, spectraFloats)
                computeSpectra(into: perCall, scratch: workers, threads: threads)
                w = UnsafePointer(perCall)
            }
            for n in 0..<batch {
                let image = input + n * d.inputChannels * p.inputPlane
                if let layout {
                    Parallel.forEachRange(count: d.inputChannels, threads: threads) { _, channels in
                        layout.fill(input: image, channels: d.inputChannels, channelRange: channels, buffer: layoutBuffer)
                    }
                }
                let out = output + n * d.outputChannels * p.outputPlane
                let res = residual.map { $0 + n * d.outputChannels * p.outputPlane }
                var first = 0
                while first < tiling.tilesPerImage {
                    let count = Swift.min(chunkTiles, tiling.tilesPerImage - first)
                    forward(image: image, layoutBuffer: layoutBuffer, tiles: first..<(first + count), x: x, workers: workers, threads: threads)
                    products(spectra: w, tiles: count, x: x, y: y, threads: threads)
                    inverse(output: out, residual: res, tiles: first..<(first + count), y: y, workers: workers, threads: threads)
                    first += count
                }
            }
        }
    }

    /// Top-left corner of tile `index` in inner (stride-1) output coordinates.
    @inline(__always)
    func origin(_ index: Int) -> (row: Int, col: Int) {
        ((index / tiling.tiles.width) * tiling.valid.height, (index % tiling.tiles.width) * tiling.valid.width)
    }

    func forward(image: UnsafePointer<Float>, layoutBuffer: UnsafeMutablePointer<Float>, tiles: Range<Int>,
                 x: UnsafeMutablePointer<Float>, workers: UnsafeMutablePointer<Float>, threads: Int) {
        let p = problem, d = p.descriptor, t = tiling.tile
        let cgI = innerChannelsPerGroup, cg = d.inputChannelsPerGroup
        let count = tiles.count, panels = chunkTiles / ComplexGEMM.mr
        let binStride = d.groups * panels * cgI * 8
        let channels = d.groups * cgI, block = Self.block(channels: channels, threads: threads)
        let blockStride = chunkTiles * (realStride + complexStride)
        Parallel.forEachRange(count: (channels + block - 1) / block, threads: threads) { worker, items in
            let pair = workers + worker * workerFloats + Self.channelBlock * blockStride, spectrum = pair + chunkTiles * pairStride
            for item in items {
                let c0 = item * block, c1 = Swift.min(channels, c0 + block)
                // Load each channel's tiles of the block; transform them two channels at a time.
                for ci in c0..<c1 {
                    let real = workers + worker * workerFloats + (ci - c0) * blockStride, complex = real + chunkTiles * realStride
                    let g = ci / cgI, cl = ci % cgI
                    for k in 0..<chunkTiles {
                        let dst = real + k * realStride
                        guard k < count else { Copy.zero(dst, t.height * t.width); continue }
                        let (row, col) = origin(tiles.lowerBound + k)
                        if let layout {
                            let c = g * cg + cl % cg, phase = cl / cg
                            TileKernels.load(plane: layoutBuffer + (phase * d.inputChannels + c) * layout.planeStride,
                                             height: layout.phaseHeight, width: layout.phaseWidth, row: row, col: col,
                                             tileHeight: t.height, tileWidth: t.width, into: dst, dstStride: t.width)
                        } else {
                            TileKernels.load(plane: image + (g * cg + cl) * p.inputPlane, height: p.input.height, width: p.input.width,
                                             row: row - d.padding.top, col: col - d.padding.left,
                                             tileHeight: t.height, tileWidth: t.width, into: dst, dstStride: t.width)
                        }
                    }
                    if (ci - c0) % 2 == 1 {
                        // Channels ci − 1 and ci as the real and imaginary parts of one complex transform.
                        let first = real - blockStride
                        for k in 0..<chunkTiles {
                            SpectrumPairs.interleave(first + k * realStride, real + k * realStride, count: t.height * t.width,
                                                     into: pair + k * pairStride)
                        }
                        pairForwardPlan.transform(pair, spectrum)
                        for k in 0..<count {
                            SpectrumPairs.split(spectrum + k * pairStride, rows: t.height, cols: t.width,
                                                into: first + chunkTiles * realStride + k * complexStride, complex + k * complexStride)
                        }
                    } else if ci + 1 == c1 {
                        forwardPlan.forward(real, complex)  // the last, unpaired channel
                    }
                }
                // Scatter bins into X: for each bin, the block's channels are consecutive rows of each panel.
                for b in 0..<tiling.bins {
                    for ci in c0..<c1 {
                        let complex = workers + worker * workerFloats + (ci - c0) * blockStride + chunkTiles * realStride
                        let g = ci / cgI, cl = ci % cgI
                        let dst = x + b * binStride + g * panels * cgI * 8 + cl * 8
                        for k in 0..<count {
                            let src = complex + k * complexStride + 2 * b
                            dst[(k / 4) * cgI * 8 + k % 4] = src[0]
                            dst[(k / 4) * cgI * 8 + k % 4 + 4] = src[1]
                        }
                    }
                }
            }
        }
    }

    func products(spectra w: UnsafePointer<Float>, tiles count: Int, x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, threads: Int) {
        let d = problem.descriptor
        let cgI = innerChannelsPerGroup, ogP = outputsPerGroupPadded
        let nr = cgemm.nr, blocks = ogP / nr, panels = chunkTiles / ComplexGEMM.mr, used = (count + 3) / 4
        let kernel = cgemm.function
        let coutP = d.groups * ogP
        let im = y + tiling.bins * chunkTiles * coutP
        Parallel.forEachRange(count: tiling.bins * d.groups * blocks, threads: threads) { _, items in
            for item in items {
                let b = item / (d.groups * blocks), g = item / blocks % d.groups, ob = item % blocks
                let wp = w + ((b * d.groups + g) * blocks + ob) * cgI * 2 * nr
                for tp in 0..<used {
                    let xp = x + ((b * d.groups + g) * panels + tp) * cgI * 8
                    let yo = (b * chunkTiles + tp * 4) * coutP + g * ogP + ob * nr
                    kernel(cgI, xp, wp, y + yo, im + yo, coutP)
                }
            }
        }
    }

    func inverse(output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, tiles: Range<Int>,
                 y: UnsafeMutablePointer<Float>, workers: UnsafeMutablePointer<Float>, threads: Int) {
        let p = problem, d = p.descriptor, t = tiling.tile
        let count = tiles.count, og = d.outputChannelsPerGroup
        let coutP = d.groups * outputsPerGroupPadded
        let im = y + tiling.bins * chunkTiles * coutP
        let binStride = chunkTiles * coutP
        let block = Self.block(channels: d.outputChannels, threads: threads), blockStride = chunkTiles * (realStride + complexStride)
        Parallel.forEachRange(count: (d.outputChannels + block - 1) / block, threads: threads) { worker, items in
            for item in items {
                let o0 = item * block, o1 = Swift.min(d.outputChannels, o0 + block)
                // Gather bins from Y: for each bin and tile, the block's output channels are (mostly) adjacent.
                // A block of 16 channels of one group: eight bins at a time, their 16 real and imaginary rows (one
                // vector of channels each) transposed into the channels' interleaved buffers — 16×16 floats per
                // transpose instead of 512 single-float moves (this gather was 14% of AlexNet's conv2 in `perf`).
                let whole = o1 - o0 == 16 && o0 / og == (o1 - 1) / og ? tiling.bins / 8 * 8 : 0
                let column0 = (o0 / og) * outputsPerGroupPadded + o0 % og
                if whole > 0 {
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: 256 + Transpose.stagingFloats) { buffer in
                        guard let rows = buffer.baseAddress else { return }
                        for k in 0..<count {
                            let dst = workers + worker * workerFloats + chunkTiles * realStride + k * complexStride
                            var b0 = 0
                            while b0 < whole {
                                for j in 0..<8 {
                                    let at = (b0 + j) * binStride + k * coutP + column0
                                    Copy.floats(rows + 32 * j, y + at, 16)
                                    Copy.floats(rows + 32 * j + 16, im + at, 16)
                                }
                                Transpose.floats(rows, sourceStride: 16, dst + 2 * b0, destinationStride: blockStride, rows: 16,
                                                 columns: 16, staging: rows + 256)
                                b0 += 8
                            }
                        }
                    }
                }
                for k in 0..<chunkTiles {  // (tile outer: the block's complex buffers of one tile stay in L1)
                    for b in (k < count ? whole : 0)..<tiling.bins {
                        let row = b * binStride + k * coutP
                        for o in o0..<o1 {
                            let dst = workers + worker * workerFloats + (o - o0) * blockStride + chunkTiles * realStride + k * complexStride
                            if k < count {
                                let column = (o / og) * outputsPerGroupPadded + o % og
                                dst[2 * b] = y[row + column]
                                dst[2 * b + 1] = im[row + column]
                            } else {
                                dst[2 * b] = 0
                                dst[2 * b + 1] = 0
                            }
                        }
                    }
                }
                let pair = workers + worker * workerFloats + Self.channelBlock * blockStride, spectrum = pair + chunkTiles * pairStride
                for o in o0..<o1 {
                    let real = workers + worker * workerFloats + (o - o0) * blockStride, complex = real + chunkTiles * realStride
                    if (o - o0) % 2 == 0 && o + 1 < o1 {
                        // Channels o and o + 1 back as the real and imaginary parts of one complex transform.
                        for k in 0..<chunkTiles {
                            SpectrumPairs.combine(complex + k * complexStride, complex + blockStride + k * complexStride,
                                                  rows: t.height, cols: t.width, into: spectrum + k * pairStride)
                        }
                        pairInversePlan.transform(spectrum, pair)
                        for k in 0..<count {
                            SpectrumPairs.deinterleave(pair + k * pairStride, count: t.height * t.width,
                                                       into: real + k * realStride, real + blockStride + k * realStride)
                        }
                    } else if (o - o0) % 2 == 0 {
                        inversePlan.inverse(complex, real)  // the last, unpaired channel
                    }
                    for k in 0..<count {
                        let (row, col) = origin(tiles.lowerBound + k)
                        TileKernels.store(tile: real + k * realStride, tileStride: t.width, rowOrigin: row, colOrigin: col,
                                          validHeight: tiling.valid.height, validWidth: tiling.valid.width,
                                          strideHeight: 1, strideWidth: 1,
                                          output: output + o * p.outputPlane, outputHeight: p.output.height, outputWidth: p.output.width,
                                          bias: bias?[o] ?? 0, residual: residual.map { $0 + o * p.outputPlane }, epilogue: epilogue)
                    }
                }
            }
        }
    }
}
