import func Foundation.log2

/// How a tiled (overlap-save) FFT convolution covers its output.
///
/// The stride-1 correlation (after the polyphase rewrite, the inner problem is always stride 1) is computed
/// tile by tile: a `tile` of input (transform size) yields `valid = tile - kernel + 1` correct results per
/// direction; tiles step by `valid`. One tile over the whole padded input is the whole-image transform.
public struct FFTTiling: Sendable, Hashable, CustomStringConvertible {
    /// The transform size (height × width) of each tile.
    public let tile: Size2D
    /// Correct results per tile.
    public let valid: Size2D
    /// Tiles per image, vertically and horizontally.
    public let tiles: Size2D
    /// Complex values in one tile's spectrum (`tile.height × (tile.width / 2 + 1)`).
    public let bins: Int

    /// Tiles per image.
    public var tilesPerImage: Int { tiles.height * tiles.width }

    /// The inner problem a tiling is chosen for: a stride-1, unpadded correlation.
    struct Shape {
        var inputChannels: Int
        var outputChannels: Int
        var groups: Int
        var kernel: Size2D
        var output: Size2D
        /// Output channels per complex GEMM call: each group's outputs are padded to a multiple of it.
        var outputBlock: Int = 8
        /// Output channels per group, padded to `outputBlock`.
        var paddedOutputsPerGroup: Int { (outputChannels / groups + outputBlock - 1) / outputBlock * outputBlock }
    }

    init(tile: Size2D, kernel k: Size2D, output o: Size2D) {
        self.tile = tile
        valid = Size2D(tile.height - k.height + 1, tile.width - k.width + 1)
        tiles = Size2D((o.height + valid.height - 1) / valid.height, (o.width + valid.width - 1) / valid.width)
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

    /// Bytes of kernel spectra a tiling needs (output channels padded to the complex GEMM's block).
    static func spectraBytes(_ t: FFTTiling, _ s: Shape) -> Int {
        t.bins * s.inputChannels * s.paddedOutputsPerGroup * 8
    }

    /// The tiling the cost model likes best, or the one with transform size `override`; and whether the
    /// spectra must be computed per call because even the smallest exceed `budget` bytes.
    ///
    /// Cost (seconds, rough) = transforms (`Cin + Cout` per tile, `2.5·n·log2 n` flops at ~9 GFLOP/s — FFTW's
    /// single-transform rate measured in ../shared/DESIGN.md — plus the bin scatter/gather) + the larger of
    /// the complex GEMM time (8 flops per complex multiply-add at ~60 GFLOP/s, tiles padded to 4) and the time
    /// to stream the spectra from memory once per call (~15 GB/s) when they exceed ~1 MB.
    static func choose(for s: Shape, override: Size2D?, budget: Int?) throws -> (FFTTiling, perCall: Bool) {
        let k = s.kernel
        if let t = override {
            guard t.height >= k.height, t.width >= k.width, t.height <= 4096, t.width <= 4096 else {
                throw ConvolutionError.invalidOption("FFT tile \(t.height)x\(t.width) must cover the \(k.height)x\(k.width) (dilated, per phase) kernel and be at most 4096")
            }
            let tiling = FFTTiling(tile: t, kernel: k, output: s.output)
            return (tiling, budget.map { spectraBytes(tiling, s) > $0 } ?? false)
        }
        func candidates(_ kernel: Int, _ out: Int) -> [Int] {
            let whole = nextFriendly(out + kernel - 1)
            let cap = Swift.max(nextFriendly(kernel), Swift.min(whole, 256))
            return (kernel...Swift.max(cap, kernel)).filter(isFFTFriendly)
        }
        var best: (cost: Double, tiling: FFTTiling)?
        var smallest: (bytes: Int, tiling: FFTTiling)?
        for th in candidates(k.height, s.output.height) {
            for tw in candidates(k.width, s.output.width) {
                let t = FFTTiling(tile: Size2D(th, tw), kernel: k, output: s.output)
                let bytes = spectraBytes(t, s)
                if smallest.map({ bytes < $0.bytes }) ?? true { smallest = (bytes, t) }
                if let budget, bytes > budget { continue }
                let c = cost(t, s)
                if let b = best, b.cost <= c { continue }
                best = (c, t)
            }
        }
        if let chosen = best?.tiling { return (chosen, false) }
        guard let fallback = smallest?.tiling else {
            throw ConvolutionError.unsupported(algorithm: "fft", reason: "no transform size fits the \(k.height)x\(k.width) kernel")
        }
        return (fallback, true)
    }

    static func cost(_ t: FFTTiling, _ s: Shape) -> Double {
        let tiles = Double(t.tilesPerImage)
        let n = Double(t.tile.height * t.tile.width)
        let transform = 2.5 * n * Swift.max(1, log2(n)) / 9e9 + 0.15e-6 + Double(t.bins) * 2e-9
        let transforms = Double(s.inputChannels + s.outputChannels) * tiles * transform
        let paddedTiles = (tiles / 4).rounded(.up) * 4
        let ogP = Double(s.paddedOutputsPerGroup)
        let macs = Double(t.bins) * paddedTiles * Double(s.inputChannels) * ogP
        let compute = macs * 8 / 60e9
        let bytes = Double(spectraBytes(t, s))
        let memory = bytes > 1e6 ? bytes / 15e9 : 0
        return transforms + Swift.max(compute, memory)
    }
}
