/// Grouped convolution with a group's output channels as the vector lanes — the layout in which a group of 8 or 16
/// channels (RegNet's 3x3 layers, ResNeXt's later stages) fills a vector exactly, where the implicit-GEMM direct
/// kernels compute it as 8-row panels over 32-position tiles (a 7×7 map's 49 positions as 64, a write-out per row
/// segment).
///
/// `row` computes `out[j · channels + o] = Σ_t x[j · positionStride + taps[t]] · w[t · channels + o]` for the
/// `positions` outputs `j` of one row and the `channels` output channels `o` of one group: the tap `t` of output
/// `j` is the input float at `input + j · positionStride + taps[t]` (a zero-padded plane: every read is inside),
/// broadcast to one vector and multiplied by the `t`-th row of the group's packed weights. The sum runs over `t` in
/// order from zero, one fused multiply-add chain per output; bias, residual and activation are the caller's (they
/// go on after the transpose to planes). Tiles of 7 positions × one vector (7 accumulators: whole rows of 7, 14,
/// 28 and 56 outputs), the last tile shifted left to end at the row's end (it recomputes a few positions, the same
/// values); rows shorter than 7 one position at a time.
public enum GroupedLanesKernels {
    /// The widest vector the kernels compute in: 16 floats where `KernelTarget.wideRegisters` (AVX-512), else 8
    /// (AVX2, NEON as two registers). Groups whose output channels are a multiple of 16 run in 16-float vectors on
    /// wide builds, other multiples of 8 in 8-float ones.
    @inlinable
    public static var lanes: Int { KernelTarget.wideRegisters ? 16 : 8 }

    /// The output channels a group must be a multiple of: 8.
    public static let channelMultiple = 8

    /// Positions per tile (rows of at least this many outputs use whole tiles).
    public static let tilePositions = 7

    /// Output rows of one group, position-major (`rowCount × positions × channels` floats at `out`, row after row):
    /// row `r` reads from `input + r · rowStride`. `channels` a multiple of `channelMultiple`. `weights`: `k` rows of `channels`
    /// floats. (Two rows at a time in 7 × 2 tiles — 14 accumulators, one weight load for 14 products — measured
    /// no faster on Zen 5: `ab.sh 6` on RegNetX's 400 channels on 7², 32 on 112² → 56², 64 on 28²: 0.058 → 0.056,
    /// 0.241 → 0.255, 0.113 → 0.106 ms.)
    public static func rows(input: UnsafePointer<Float>, rowCount: Int, rowStride: Int, positions: Int, positionStride: Int,
                            taps: UnsafePointer<Int>, k: Int, weights: UnsafePointer<Float>, channels: Int,
                            into out: UnsafeMutablePointer<Float>) {
        let size = positions &* channels
        for r in 0..<rowCount {
            if KernelTarget.wideRegisters && channels % 16 == 0 {
                row(SIMD16<Float>.self, input + r &* rowStride, positions, positionStride, taps, k, weights, channels, out + r &* size)
            } else {
                row(SIMD8<Float>.self, input + r &* rowStride, positions, positionStride, taps, k, weights, channels, out + r &* size)
            }
        }
    }

    @inline(__always)
    static func row<V: SIMD>(_: V.Type, _ input: UnsafePointer<Float>, _ positions: Int, _ ps: Int, _ taps: UnsafePointer<Int>,
                             _ k: Int, _ weights: UnsafePointer<Float>, _ channels: Int, _ out: UnsafeMutablePointer<Float>)
    where V.Scalar == Float {
        let n = V.scalarCount, p = tilePositions
        var o = 0
        while o < channels {
            if positions >= p {
                var j = 0
                while true {
                    let first = Swift.min(j, positions &- p)
                    tile7(V.self, input + first &* ps, ps, taps, k, weights + o, channels, out + (first &* channels &+ o), channels)
                    if first &+ p >= positions { break }
                    j &+= p
                }
            } else {
                for j in 0..<positions {
                    tile1(V.self, input + j &* ps, taps, k, weights + o, channels, out + (j &* channels &+ o))
                }
            }
            o &+= n
        }
    }

    @inline(__always)
    static func store7<V: SIMD>(_ c0: V, _ c1: V, _ c2: V, _ c3: V, _ c4: V, _ c5: V, _ c6: V, _ out: UnsafeMutablePointer<Float>,
                                _ ldo: Int) where V.Scalar == Float {
        let o = UnsafeMutableRawPointer(out)
        let ld = ldo &* 4
        o.storeBytes(of: c0, as: V.self)
        o.storeBytes(of: c1, toByteOffset: ld, as: V.self)
        o.storeBytes(of: c2, toByteOffset: 2 &* ld, as: V.self)
        o.storeBytes(of: c3, toByteOffset: 3 &* ld, as: V.self)
        o.storeBytes(of: c4, toByteOffset: 4 &* ld, as: V.self)
        o.storeBytes(of: c5, toByteOffset: 5 &* ld, as: V.self)
        o.storeBytes(of: c6, toByteOffset: 6 &* ld, as: V.self)
    }

    @inline(__always)
    static func tile7<V: SIMD>(_: V.Type, _ x: UnsafePointer<Float>, _ ps: Int, _ taps: UnsafePointer<Int>, _ k: Int,
                               _ w: UnsafePointer<Float>, _ ldw: Int, _ out: UnsafeMutablePointer<Float>, _ ldo: Int)
    where V.Scalar == Float {
        var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V(), c6 = V()
        let ps2 = 2 &* ps, ps3 = 3 &* ps, ps4 = 4 &* ps, ps5 = 5 &* ps, ps6 = 6 &* ps
        var wp = UnsafeRawPointer(w)
        let wStride = ldw &* 4
        for t in 0..<k {
            let xp = x + taps[t]
            let wv = wp.loadUnaligned(as: V.self)
            c0 = c0.addingProduct(V(repeating: xp[0]), wv)
            c1 = c1.addingProduct(V(repeating: xp[ps]), wv)
            c2 = c2.addingProduct(V(repeating: xp[ps2]), wv)
            c3 = c3.addingProduct(V(repeating: xp[ps3]), wv)
            c4 = c4.addingProduct(V(repeating: xp[ps4]), wv)
            c5 = c5.addingProduct(V(repeating: xp[ps5]), wv)
            c6 = c6.addingProduct(V(repeating: xp[ps6]), wv)
            wp += wStride
        }
        store7(c0, c1, c2, c3, c4, c5, c6, out, ldo)
    }

    @inline(__always)
    static func tile1<V: SIMD>(_: V.Type, _ x: UnsafePointer<Float>, _ taps: UnsafePointer<Int>, _ k: Int,
                               _ w: UnsafePointer<Float>, _ ldw: Int, _ out: UnsafeMutablePointer<Float>)
    where V.Scalar == Float {
        var c = V()
        var wp = UnsafeRawPointer(w)
        let wStride = ldw &* 4
        for t in 0..<k {
            c = c.addingProduct(V(repeating: x[taps[t]]), wp.loadUnaligned(as: V.self))
            wp += wStride
        }
        UnsafeMutableRawPointer(out).storeBytes(of: c, as: V.self)
    }
}
