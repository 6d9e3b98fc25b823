/// Kernels for the frequency-domain stage of FFT convolution, over split-complex spectra.
///
/// Layout: a spectrum of `bins` complex values is stored as `bins` real parts followed, at `imOffset`
/// floats, by `bins` imaginary parts. `bins` and `imOffset` are multiples of 8, so every loop runs whole
/// eight-lane vectors (the padding bins are zero and stay zero).
public enum SpectralKernels {
    /// The number of tiles `dot` handles with its accumulators in registers.
    public static let tileBlock = 4

    /// `out[t] = sum over c in 0..<channels of w[c] * x[c][t]` (complex products), for `t` in `0..<tiles`.
    ///
    /// - Parameters:
    ///   - w: first channel's kernel spectrum; channel `c` at `w + c * wChannelStride`.
    ///   - x: first channel's first tile spectrum; `x[c][t]` at `x + c * xChannelStride + t * xTileStride`.
    ///   - out: tile `t` written at `out + t * outTileStride` (overwritten, not accumulated).
    ///   - bins: number of complex values per spectrum, a multiple of 8.
    ///   - imOffset: distance from real to imaginary parts, in floats, a multiple of 8.
    public static func dot(w: UnsafePointer<Float>, wChannelStride: Int,
                           x: UnsafePointer<Float>, xChannelStride: Int, xTileStride: Int,
                           channels: Int, tiles: Int, bins: Int, imOffset: Int,
                           out: UnsafeMutablePointer<Float>, outTileStride: Int) {
        var t = 0
        while t + 4 <= tiles {
            dot4(w: w, wChannelStride: wChannelStride, x: x + t * xTileStride, xChannelStride: xChannelStride,
                 xTileStride: xTileStride, channels: channels, bins: bins, imOffset: imOffset,
                 out: out + t * outTileStride, outTileStride: outTileStride)
            t += 4
        }
        while t < tiles {
            dot1(w: w, wChannelStride: wChannelStride, x: x + t * xTileStride, xChannelStride: xChannelStride,
                 channels: channels, bins: bins, imOffset: imOffset, out: out + t * outTileStride)
            t += 1
        }
    }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self)
    }

    @inline(__always)
    static func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, toByteOffset: i &* 4, as: SIMD8<Float>.self)
    }

    /// Four tiles at once: the weight vector is loaded once per channel and used four times.
    static func dot4(w: UnsafePointer<Float>, wChannelStride: Int,
                     x: UnsafePointer<Float>, xChannelStride: Int, xTileStride: Int,
                     channels: Int, bins: Int, imOffset: Int,
                     out: UnsafeMutablePointer<Float>, outTileStride: Int) {
        var v = 0
        while v < bins {
            var r0 = SIMD8<Float>(), i0 = SIMD8<Float>(), r1 = SIMD8<Float>(), i1 = SIMD8<Float>()
            var r2 = SIMD8<Float>(), i2 = SIMD8<Float>(), r3 = SIMD8<Float>(), i3 = SIMD8<Float>()
            var wp = w + v
            var xp = x + v
            for _ in 0..<channels {
                let wr = load(wp, 0), wi = load(wp, imOffset)
                let nwi = -wi
                var xr = load(xp, 0), xi = load(xp, imOffset)
                r0 = r0.addingProduct(wr, xr); r0 = r0.addingProduct(nwi, xi)
                i0 = i0.addingProduct(wr, xi); i0 = i0.addingProduct(wi, xr)
                xr = load(xp, xTileStride); xi = load(xp, xTileStride &+ imOffset)
                r1 = r1.addingProduct(wr, xr); r1 = r1.addingProduct(nwi, xi)
                i1 = i1.addingProduct(wr, xi); i1 = i1.addingProduct(wi, xr)
                xr = load(xp, 2 &* xTileStride); xi = load(xp, 2 &* xTileStride &+ imOffset)
                r2 = r2.addingProduct(wr, xr); r2 = r2.addingProduct(nwi, xi)
                i2 = i2.addingProduct(wr, xi); i2 = i2.addingProduct(wi, xr)
                xr = load(xp, 3 &* xTileStride); xi = load(xp, 3 &* xTileStride &+ imOffset)
                r3 = r3.addingProduct(wr, xr); r3 = r3.addingProduct(nwi, xi)
                i3 = i3.addingProduct(wr, xi); i3 = i3.addingProduct(wi, xr)
                wp += wChannelStride
                xp += xChannelStride
            }
            let o = out + v
            store(r0, o, 0); store(i0, o, imOffset)
            store(r1, o, outTileStride); store(i1, o, outTileStride &+ imOffset)
            store(r2, o, 2 &* outTileStride); store(i2, o, 2 &* outTileStride &+ imOffset)
            store(r3, o, 3 &* outTileStride); store(i3, o, 3 &* outTileStride &+ imOffset)
            v &+= 8
        }
    }

    /// One tile; the same arithmetic, in the same order, as each tile of `dot4`.
    static func dot1(w: UnsafePointer<Float>, wChannelStride: Int,
                     x: UnsafePointer<Float>, xChannelStride: Int,
                     channels: Int, bins: Int, imOffset: Int, out: UnsafeMutablePointer<Float>) {
        var v = 0
        while v < bins {
            var r0 = SIMD8<Float>(), i0 = SIMD8<Float>()
            var wp = w + v
            var xp = x + v
            for _ in 0..<channels {
                let wr = load(wp, 0), wi = load(wp, imOffset)
                let xr = load(xp, 0), xi = load(xp, imOffset)
                r0 = r0.addingProduct(wr, xr); r0 = r0.addingProduct(-wi, xi)
                i0 = i0.addingProduct(wr, xi); i0 = i0.addingProduct(wi, xr)
                wp += wChannelStride
                xp += xChannelStride
            }
            store(r0, out + v, 0); store(i0, out + v, imOffset)
            v &+= 8
        }
    }

    /// Splits `count` interleaved complex values `(re, im, re, im, …)` into `re[i]`, `im[i]`.
    public static func deinterleave(_ src: UnsafePointer<Float>, count: Int,
                                    re: UnsafeMutablePointer<Float>, im: UnsafeMutablePointer<Float>) {
        var i = 0
        while i + 8 <= count {
            let a = load(src, 2 &* i), b = load(src, 2 &* i &+ 8)
            store(SIMD8(lowHalf: a.evenHalf, highHalf: b.evenHalf), re, i)
            store(SIMD8(lowHalf: a.oddHalf, highHalf: b.oddHalf), im, i)
            i &+= 8
        }
        while i < count {
            re[i] = src[2 &* i]
            im[i] = src[2 &* i &+ 1]
            i &+= 1
        }
    }

    /// Joins `re[i]`, `im[i]` into `count` interleaved complex values.
    public static func interleave(re: UnsafePointer<Float>, im: UnsafePointer<Float>, count: Int,
                                  into dst: UnsafeMutablePointer<Float>) {
        var i = 0
        while i + 8 <= count {
            let r = load(re, i), m = load(im, i)
            store(SIMD8(r.lowHalf[0], m.lowHalf[0], r.lowHalf[1], m.lowHalf[1],
                        r.lowHalf[2], m.lowHalf[2], r.lowHalf[3], m.lowHalf[3]), dst, 2 &* i)
            store(SIMD8(r.highHalf[0], m.highHalf[0], r.highHalf[1], m.highHalf[1],
                        r.highHalf[2], m.highHalf[2], r.highHalf[3], m.highHalf[3]), dst, 2 &* i &+ 8)
            i &+= 8
        }
        while i < count {
            dst[2 &* i] = re[i]
            dst[2 &* i &+ 1] = im[i]
            i &+= 1
        }
    }
}
