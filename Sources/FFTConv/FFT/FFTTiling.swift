/// How a tiled (overlap-save) FFT convolution covers its output.
///
/// The stride-1 correlation of the padded input is computed tile by tile: a `tile` of input (transform
/// size) yields `valid = tile - effectiveKernel + 1` correct results per direction; tiles step by `valid`.
/// Stride > 1 reads every `stride`-th of those results. One tile over the whole padded input is the
/// whole-image transform.
public struct FFTTiling: Sendable, Hashable, CustomStringConvertible {
    /// The transform size (height × width) of each tile.
    public let tile: Size2D
    /// Correct stride-1 results per tile.
    public let valid: Size2D
    /// Tiles per image, vertically and horizontally.
    public let tiles: Size2D
    /// Complex values in one tile's spectrum (`tile.height × (tile.width / 2 + 1)`).
    public let bins: Int

    /// Tiles per image.
    public var tilesPerImage: Int { tiles.height * tiles.width }

    init(tile: Size2D, effectiveKernel k: Size2D, stride1Output o1: Size2D) {
        self.tile = tile
        valid = Size2D(tile.height - k.height + 1, tile.width - k.width + 1)
        tiles = Size2D((o1.height + valid.height - 1) / valid.height, (o1.width + valid.width - 1) / valid.width)
        bins = tile.height * (tile.width / 2 + 1)
    }

    public var description: String { "\(tile.height)x\(tile.width) tiles x\(tilesPerImage)" }

    /// Sizes whose only prime factors are 2, 3, 5 and 7: the sizes FFTW transforms fastest.
    static func isFFTFriendly(_ n: Int) -> Bool {
        var m = n
        for p in [2, 3, 5, 7] { while m % p == 0 { m /= p } }
        return m == 1
    }

    /// The smallest FFT-friendly size `>= n`.
    static func nextFriendly(_ n: Int) -> Int {
        var m = Swift.max(n, 1)
        while !isFFTFriendly(m) { m += 1 }
        return m
    }

    /// The tiling a simple cost model likes best for this layer, or the one with transform size `override`.
    ///
    /// Cost (seconds, rough, per image batch) = transforms (Cin + Cout per tile, ≈ 2.5·n·log2 n flops at
    /// ~9 GFLOP/s, FFTW's single-transform rate measured in ../shared/DESIGN.md) + the split-complex
    /// products (8 flops per complex MAC at ~20 GFLOP/s) or, when the kernel spectra do not fit in cache,
    /// the time to stream them from memory once per block of tiles (~15 GB/s), whichever is larger.
    static func choose(for p: ConvolutionProblem, batch: Int, override: Size2D?) throws -> FFTTiling {
        let k = p.effectiveKernel
        let o1 = Size2D((p.output.height - 1) * p.descriptor.stride.height + 1,
                        (p.output.width - 1) * p.descriptor.stride.width + 1)
        if let t = override {
            guard t.height >= k.height, t.width >= k.width, t.height <= 4096, t.width <= 4096 else {
                throw ConvolutionError.invalidOption("FFT tile \(t.height)x\(t.width) must cover the \(k.height)x\(k.width) dilated kernel and be at most 4096")
            }
            return FFTTiling(tile: t, effectiveKernel: k, stride1Output: o1)
        }
        func candidates(_ kernel: Int, _ out1: Int) -> [Int] {
            let whole = nextFriendly(out1 + kernel - 1)
            let cap = Swift.max(nextFriendly(kernel), Swift.min(whole, 256))
            return (kernel...Swift.max(cap, kernel)).filter(isFFTFriendly)
        }
        var best: (cost: Double, tiling: FFTTiling)?
        for th in candidates(k.height, o1.height) {
            for tw in candidates(k.width, o1.width) {
                let t = FFTTiling(tile: Size2D(th, tw), effectiveKernel: k, stride1Output: o1)
                let c = cost(t, p, batch: batch)
                if let b = best, b.cost <= c { continue }
                best = (c, t)
            }
        }
        guard let chosen = best?.tiling else {
            throw ConvolutionError.unsupported(algorithm: "fft", reason: "no transform size fits the \(k.height)x\(k.width) kernel")
        }
        return chosen
    }

    static func cost(_ t: FFTTiling, _ p: ConvolutionProblem, batch: Int) -> Double {
        let d = p.descriptor
        let tiles = Double(t.tilesPerImage * batch)
        let n = Double(t.tile.height * t.tile.width)
        let transform = 2.5 * n * Swift.max(1, log2(n)) / 9e9 + 0.15e-6 + n * 1e-9
        let transforms = Double(d.inputChannels + d.outputChannels) * tiles * transform
        let paddedBins = Double(roundUp(t.bins, 16))
        let macs = Double(d.outputChannels * d.inputChannelsPerGroup) * tiles * paddedBins
        let compute = macs * 8 / 20e9
        let spectraBytes = Double(d.outputChannels * d.inputChannelsPerGroup) * paddedBins * 8
        let passes = (tiles / Double(SpectralKernelBlocking.tilesPerItem)).rounded(.up)
        let memory = spectraBytes > 1e6 ? spectraBytes * passes / 15e9 : 0
        return transforms + Swift.max(compute, memory)
    }
}

/// How the FFT operator groups tiles for the spectral products.
enum SpectralKernelBlocking {
    /// Tiles handled per work item (two register blocks of the `SpectralKernels.dot` kernel).
    static let tilesPerItem = 8
}

import func Foundation.log2
