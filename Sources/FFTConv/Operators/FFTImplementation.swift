import FFTConvKernels

/// Convolution through FFTW single-precision 2-D real transforms, tiled overlap-save.
///
/// Prepare (once): choose the tiling; plan (or fetch from the process-wide cache) the forward and inverse
/// transforms of the tile size; transform every (output channel, input channel) kernel into a conjugated,
/// 1/N-scaled, split-complex spectrum, dilation applied by spacing the taps.
///
/// Run (every call), per chunk of tiles:
/// 1. forward: each (input channel, tile) is copied from the input with its zero padding, transformed,
///    and stored split-complex in the workspace;
/// 2. products and inverse: for each (output channel, block of tiles), the spectra are multiplied by the
///    kernel spectra and summed over the group's input channels (`SpectralKernels.dot`), transformed back,
///    and the stride-selected valid results are written to the output with bias and activation.
/// Each output element is computed by one worker, in a fixed order: results do not depend on threads.
final class FFTImplementation: ConvolutionImplementation, @unchecked Sendable {
    let problem: ConvolutionProblem
    let tiling: FFTTiling
    let forwardPlan: FFTPlan
    let inversePlan: FFTPlan
    /// Split-complex kernel spectra, `[outputChannel][inputChannelInGroup]`, `spectrumStride` floats each.
    let spectra: AlignedBuffer
    let bias: [Float]
    let epilogue: Epilogue
    /// Complex bins per spectrum, rounded up to 16 (the im part starts 64-byte aligned).
    let paddedBins: Int
    var spectrumStride: Int { 2 * paddedBins }
    /// Tiles processed per chunk (bounds the workspace).
    let chunkTiles: Int
    let threads: Int
    let workspace: WorkspacePool
    // Workspace layout, in floats.
    let realStride: Int, complexStride: Int, accumulatorStride: Int, workerStride: Int, spectraFloats: Int

    init(problem p: ConvolutionProblem, weights: Tensor, bias: Tensor?, tile: Size2D?,
         effort: FFTPlanningEffort, threads: Int) throws {
        problem = p
        let d = p.descriptor
        tiling = try FFTTiling.choose(for: p, batch: 1, override: tile)
        let t = tiling.tile
        forwardPlan = try FFTPlanCache.shared.plan(.init(rows: t.height, cols: t.width, inverse: false, effort: effort))
        inversePlan = try FFTPlanCache.shared.plan(.init(rows: t.height, cols: t.width, inverse: true, effort: effort))
        paddedBins = roundUp(tiling.bins, 16)
        self.bias = bias?.scalars ?? [Float](repeating: 0, count: d.outputChannels)
        epilogue = d.activation.epilogue
        self.threads = threads
        realStride = roundUp(t.height * t.width, 16)
        complexStride = roundUp(2 * tiling.bins, 16)
        accumulatorStride = SpectralKernelBlocking.tilesPerItem * 2 * paddedBins
        workerStride = realStride + complexStride + accumulatorStride
        let perTile = d.inputChannels * 2 * paddedBins
        let budgetTiles = Swift.max(1, (8 << 20) / (4 * perTile))
        chunkTiles = Swift.max(1, Swift.min(budgetTiles, tiling.tilesPerImage))
        spectraFloats = chunkTiles * perTile
        workspace = WorkspacePool(count: spectraFloats + threads * workerStride)

        // Kernel spectra: conj(FFT(w)) / N, so that IFFT(X · spectrum) is the correlation, normalised.
        let count = d.outputChannels * d.inputChannelsPerGroup
        guard !(count.multipliedReportingOverflow(by: 2 * paddedBins).overflow) else {
            throw ConvolutionError.sizeOverflow(what: "the kernel spectra size")
        }
        spectra = AlignedBuffer(count: count * 2 * paddedBins)
        let scale = 1 / Float(t.height * t.width)
        let taps = d.kernel.height * d.kernel.width
        let fwd = forwardPlan, stride = 2 * paddedBins, bins = tiling.bins, padded = paddedBins
        let scratch = AlignedBuffer(count: threads * (realStride + complexStride))
        let (rs, cs) = (realStride, complexStride)
        weights.withUnsafeBufferPointer { w in
            let spectra = self.spectra.pointer
            Parallel.forEachRange(count: count, threads: threads) { worker, items in
                let real = scratch.pointer + worker * (rs + cs), complex = real + rs
                for item in items {
                    real.update(repeating: 0, count: t.height * t.width)
                    for i in 0..<d.kernel.height {
                        for j in 0..<d.kernel.width {
                            real[i * d.dilation.height * t.width + j * d.dilation.width] = w[item * taps + i * d.kernel.width + j] * scale
                        }
                    }
                    fwd.forward(real, complex)
                    let re = spectra + item * stride, im = re + padded
                    SpectralKernels.deinterleave(complex, count: bins, re: re, im: im)
                    for k in 0..<bins { im[k] = -im[k] }
                }
            }
        }
    }

    var preparedBytes: Int { spectra.count * 4 }
    var summary: String { tiling.description }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
             batch: Int, threads: Int) {
        workspace.withBuffer { ws in
            let total = batch * tiling.tilesPerImage
            var first = 0
            while first < total {
                let n = Swift.min(chunkTiles, total - first)
                forward(input: input, tiles: first..<(first + n), workspace: ws, threads: threads)
                productsAndInverse(output: output, residual: residual, tiles: first..<(first + n), workspace: ws, threads: threads)
                first += n
            }
        }
    }

    /// Where global tile `index` lies: its image and its top-left corner in stride-1 result coordinates.
    @inline(__always)
    func locate(_ index: Int) -> (image: Int, row: Int, col: Int) {
        let perImage = tiling.tilesPerImage
        let r = index % perImage
        return (index / perImage, (r / tiling.tiles.width) * tiling.valid.height, (r % tiling.tiles.width) * tiling.valid.width)
    }

    func forward(input: UnsafePointer<Float>, tiles: Range<Int>, workspace ws: UnsafeMutablePointer<Float>, threads: Int) {
        let p = problem, d = p.descriptor, t = tiling.tile
        let count = tiles.count
        Parallel.forEachRange(count: d.inputChannels * count, threads: threads) { worker, items in
            let real = ws + spectraFloats + worker * workerStride, complex = real + realStride
            for item in items {
                let c = item / count, k = item % count
                let (image, row, col) = locate(tiles.lowerBound + k)
                TileKernels.load(plane: input + (image * d.inputChannels + c) * p.inputPlane,
                                 height: p.input.height, width: p.input.width,
                                 row: row - d.padding.top, col: col - d.padding.left,
                                 tileHeight: t.height, tileWidth: t.width, into: real, dstStride: t.width)
                forwardPlan.forward(real, complex)
                let re = ws + (c * count + k) * spectrumStride
                SpectralKernels.deinterleave(complex, count: tiling.bins, re: re, im: re + paddedBins)
            }
        }
    }

    func productsAndInverse(output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, tiles: Range<Int>,
                            workspace ws: UnsafeMutablePointer<Float>, threads: Int) {
        let p = problem, d = p.descriptor
        let count = tiles.count
        let block = SpectralKernelBlocking.tilesPerItem
        let blocks = (count + block - 1) / block
        let cg = d.inputChannelsPerGroup, og = d.outputChannelsPerGroup
        Parallel.forEachRange(count: d.outputChannels * blocks, threads: threads) { worker, items in
            let real = ws + spectraFloats + worker * workerStride
            let complex = real + realStride, acc = complex + complexStride
            for item in items {
                let o = item / blocks, b = item % blocks
                let k0 = b * block, kn = Swift.min(block, count - k0)
                let g = o / og
                SpectralKernels.dot(w: spectra.pointer + o * cg * spectrumStride, wChannelStride: spectrumStride,
                                    x: ws + (g * cg * count + k0) * spectrumStride, xChannelStride: count * spectrumStride,
                                    xTileStride: spectrumStride, channels: cg, tiles: kn,
                                    bins: paddedBins, imOffset: paddedBins, out: acc, outTileStride: spectrumStride)
                for k in 0..<kn {
                    let re = acc + k * spectrumStride
                    SpectralKernels.interleave(re: re, im: re + paddedBins, count: tiling.bins, into: complex)
                    inversePlan.inverse(complex, real)
                    let (image, row, col) = locate(tiles.lowerBound + k0 + k)
                    TileKernels.store(tile: real, tileStride: tiling.tile.width, rowOrigin: row, colOrigin: col,
                                      validHeight: tiling.valid.height, validWidth: tiling.valid.width,
                                      strideHeight: d.stride.height, strideWidth: d.stride.width,
                                      output: output + (image * d.outputChannels + o) * p.outputPlane,
                                      outputHeight: p.output.height, outputWidth: p.output.width,
                                      bias: bias[o],
                                      residual: residual.map { $0 + (image * d.outputChannels + o) * p.outputPlane },
                                      epilogue: epilogue)
                }
            }
        }
    }
}
