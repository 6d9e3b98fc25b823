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
    /// Cost (seconds, rough) = transforms (`Cin + Cout` per tile, `transformSeconds` each, plus the bin
    /// scatter/gather) + the larger of the complex GEMM time (8 flops per complex multiply-add at ~60 GFLOP/s,
    /// tiles padded to 4) and the time to stream the spectra from memory once per call (~15 GB/s) when they
    /// exceed ~1 MB. (The three rates were set on the AVX2 host; `transformSeconds` is scaled to match.)
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
        let transform = transformSeconds(t.tile) + 0.15e-6 + Double(t.bins) * 2e-9
        let transforms = Double(s.inputChannels + s.outputChannels) * tiles * transform
        let paddedTiles = (tiles / 4).rounded(.up) * 4
        let ogP = Double(s.paddedOutputsPerGroup)
        let macs = Double(t.bins) * paddedTiles * Double(s.inputChannels) * ogP
        let compute = macs * 8 / 60e9
        let bytes = Double(spectraBytes(t, s))
        let memory = bytes > 1e6 ? bytes / 15e9 : 0
        return transforms + Swift.max(compute, memory)
    }

    /// Nanoseconds per point and log2 of one real plane transformed in a pair (half a complex `n × n` FFTW
    /// transform), `n` → cost, for the FFT-friendly sizes 4…64 — measured on the AVX-512 host with patient
    /// plans (`Bench/scripts/fftw_transform_costs.c`, last column; Docs/Algorithms.md). FFTW's speed is far from smooth in `n`: 16, 20, 32, 64 ~0.035 ns, 18, 21,
    /// 27, 35 three to four times that.
    static let pairTransformCost: [Int: Double] = [
        4: 0.128, 5: 0.129, 6: 0.089, 7: 0.097, 8: 0.051, 9: 0.107, 10: 0.061, 12: 0.043, 14: 0.061, 15: 0.071,
        16: 0.038, 18: 0.121, 20: 0.038, 21: 0.150, 24: 0.069, 25: 0.092, 27: 0.146, 28: 0.071, 30: 0.089,
        32: 0.035, 35: 0.127, 36: 0.057, 40: 0.054, 42: 0.090, 45: 0.111, 48: 0.045, 49: 0.114, 50: 0.076,
        54: 0.102, 56: 0.055, 60: 0.051, 63: 0.123, 64: 0.031,
    ]

    /// Seconds per real plane of a `tile` transform done two planes at a time (one complex FFTW transform):
    /// `h·w·(log2 h·c(h) + log2 w·c(w))` with `c` from `pairTransformCost` (beyond 64: 0.035 ns, ×1.45 per
    /// factor 3, ×1.4 per 5, ×1.65 per 7), scaled by 2.6 — the ratio between the AVX-512 host's speed and the
    /// AVX2 host's, where the GEMM and memory terms were set.
    static func transformSeconds(_ tile: Size2D) -> Double {
        func cost(_ n: Int) -> Double {
            if let c = pairTransformCost[n] { return c }
            var m = n, r = 0.035
            for (p, f) in [(3, 1.45), (5, 1.4), (7, 1.65)] { while m % p == 0 { m /= p; r *= f } }
            return r
        }
        let h = Double(tile.height), w = Double(tile.width)
        return h * w * 2.6e-9 * (Swift.max(1, log2(h)) * cost(tile.height) + Swift.max(1, log2(w)) * cost(tile.width))
    }
}
