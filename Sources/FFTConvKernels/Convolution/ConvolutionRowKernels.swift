/// Convolution output rows with the output channels as vector lanes — the layout in which a max pool that follows
/// is a vertical maximum of whole vectors (`ConvolutionRowKernels.maxPoolRow`), for the network stems (few input
/// channels, a pool after them) that `ConvolutionPoolFusion` serves.
///
/// `convRow` computes `out[j · channels + o] = act(Σ_k x[j][k] · w[k][o] + bias[o])` for the `positions` outputs `j`
/// of one row: the tap `k` of output `j` is the input float at `input + j · positionStride + taps[k]`, broadcast
/// to one vector and multiplied by the `k`-th row of the packed weights (`channels` floats). The sum runs over
/// `k` in order, one fused multiply-add chain per output from zero, then the bias is added and the activation
/// clamps it — the order the implicit-GEMM direct kernels (`igemm_*_fused`) use, so the results are the same
/// bits as theirs. Tiles of 6 positions × 4 vectors (24 accumulators; a 64-channel block on 16-float builds) —
/// 5 positions where that wastes fewer (`tilePositions`) — and a last block of single vectors; the last position
/// tile is shifted left to end at the row's end (it recomputes a few positions; the values are the same).
public enum ConvolutionRowKernels {
    /// Positions per tile (at most; rows need at least this many).
    public static let positionsPerTile = 6

    /// Positions per tile on a row of `positions` outputs with `channels` channels in blocks of `block` floats (4
    /// vectors): 5 where such tiles compute fewer positions than tiles of 6 and every channel block is whole, else 6.
    /// AlexNet's rows of 55: 11 tiles instead of 10 computing 60 — its fused stem 0.651–0.682 → 0.606–0.627 ms
    /// (3 rounds alternated; the five-position form is the six-position one without its sixth row).
    public static func tilePositions(positions: Int, channels: Int, block: Int) -> Int {
        channels % block == 0 && (positions + 4) / 5 * 5 < (positions + 5) / 6 * 6 ? 5 : positionsPerTile
    }

    /// One output row; `channels` a multiple of the vector width (16 floats where `KernelTarget.wideRegisters`, else
    /// 8) and `positions ≥ 6`.
    /// `weights`: `k` rows of `channels` floats; `bias`: `channels` floats; results clamped to `lo ... hi`.
    public static func convRow(input: UnsafePointer<Float>, positions: Int, positionStride: Int, taps: UnsafePointer<Int>,
                               k: Int, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>, channels: Int,
                               lo: Float, hi: Float, into out: UnsafeMutablePointer<Float>) {
        if KernelTarget.wideRegisters {
            row(SIMD16<Float>.self, input, positions, positionStride, taps, k, weights, bias, channels, lo, hi, out)
        } else {
            row(SIMD8<Float>.self, input, positions, positionStride, taps, k, weights, bias, channels, lo, hi, out)
        }
    }

    @inline(__always)
    static func row<V: SIMD>(_: V.Type, _ input: UnsafePointer<Float>, _ positions: Int, _ positionStride: Int,
                             _ taps: UnsafePointer<Int>, _ k: Int, _ weights: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
                             _ channels: Int, _ lo: Float, _ hi: Float, _ out: UnsafeMutablePointer<Float>) where V: RowVector {
        let w = V.scalarCount, block = 4 &* w
        let p = tilePositions(positions: positions, channels: channels, block: block), five = p == 5
        var j0 = 0
        while true {
            let first = Swift.min(j0, positions &- p)
            let x = input + first &* positionStride
            var o = 0
            while o &+ block <= channels {
                if five {
                    tile4(V.self, x, positionStride, taps, k, weights + o, channels, bias + o, lo, hi, out + (first &* channels &+ o), channels,
                          FivePositions.self)
                } else {
                    tile4(V.self, x, positionStride, taps, k, weights + o, channels, bias + o, lo, hi, out + (first &* channels &+ o), channels,
                          SixPositions.self)
                }
                o &+= block
            }
            while o < channels {
                tile1(V.self, x, positionStride, taps, k, weights + o, channels, bias + o, lo, hi, out + (first &* channels &+ o), channels)
                o &+= w
            }
            if first &+ p >= positions { return }
            j0 &+= p
        }
    }

    @inline(__always)
    static func tile4<V: SIMD, R>(_: V.Type, _ x: UnsafePointer<Float>, _ ps: Int, _ taps: UnsafePointer<Int>, _ k: Int,
                               _ w: UnsafePointer<Float>, _ ldw: Int, _ bias: UnsafePointer<Float>, _ lo: Float, _ hi: Float,
                               _ out: UnsafeMutablePointer<Float>, _ ldo: Int, _: R.Type) where V: RowVector, R: TileRows {
        // (`R.six` is a constant in each specialisation: the five-position form has no sixth row's work or branch.)
        let six = R.six, n = V.scalarCount
        var c00 = V(), c01 = V(), c02 = V(), c03 = V(), c10 = V(), c11 = V(), c12 = V(), c13 = V()
        var c20 = V(), c21 = V(), c22 = V(), c23 = V(), c30 = V(), c31 = V(), c32 = V(), c33 = V()
        var c40 = V(), c41 = V(), c42 = V(), c43 = V(), c50 = V(), c51 = V(), c52 = V(), c53 = V()
        let ps2 = 2 &* ps, ps3 = 3 &* ps, ps4 = 4 &* ps, ps5 = 5 &* ps
        var wp = UnsafeRawPointer(w)
        let wStride = ldw &* 4
        for t in 0..<k {
            let xp = x + taps[t]
            let w0 = wp.loadUnaligned(as: V.self), w1 = wp.loadUnaligned(fromByteOffset: 4 &* n, as: V.self)
            let w2 = wp.loadUnaligned(fromByteOffset: 8 &* n, as: V.self), w3 = wp.loadUnaligned(fromByteOffset: 12 &* n, as: V.self)
            var a = V(repeating: xp[0])
            c00 = c00.addingProduct(a, w0); c01 = c01.addingProduct(a, w1); c02 = c02.addingProduct(a, w2); c03 = c03.addingProduct(a, w3)
            a = V(repeating: xp[ps])
            c10 = c10.addingProduct(a, w0); c11 = c11.addingProduct(a, w1); c12 = c12.addingProduct(a, w2); c13 = c13.addingProduct(a, w3)
            a = V(repeating: xp[ps2])
            c20 = c20.addingProduct(a, w0); c21 = c21.addingProduct(a, w1); c22 = c22.addingProduct(a, w2); c23 = c23.addingProduct(a, w3)
            a = V(repeating: xp[ps3])
            c30 = c30.addingProduct(a, w0); c31 = c31.addingProduct(a, w1); c32 = c32.addingProduct(a, w2); c33 = c33.addingProduct(a, w3)
            a = V(repeating: xp[ps4])
            c40 = c40.addingProduct(a, w0); c41 = c41.addingProduct(a, w1); c42 = c42.addingProduct(a, w2); c43 = c43.addingProduct(a, w3)
            if six {
                a = V(repeating: xp[ps5])
                c50 = c50.addingProduct(a, w0); c51 = c51.addingProduct(a, w1); c52 = c52.addingProduct(a, w2); c53 = c53.addingProduct(a, w3)
            }
            wp += wStride
        }
        let b = UnsafeRawPointer(bias)
        let b0 = b.loadUnaligned(as: V.self), b1 = b.loadUnaligned(fromByteOffset: 4 &* n, as: V.self)
        let b2 = b.loadUnaligned(fromByteOffset: 8 &* n, as: V.self), b3 = b.loadUnaligned(fromByteOffset: 12 &* n, as: V.self)
        let l = V(repeating: lo), h = V(repeating: hi)
        @inline(__always) func put(_ v: V, _ bv: V, _ p: UnsafeMutablePointer<Float>) { store(v + bv, l, h, p) }
        @inline(__always) func row(_ r: Int, _ v0: V, _ v1: V, _ v2: V, _ v3: V) {
            let p = out + r &* ldo
            put(v0, b0, p); put(v1, b1, p + n); put(v2, b2, p + 2 &* n); put(v3, b3, p + 3 &* n)
        }
        row(0, c00, c01, c02, c03); row(1, c10, c11, c12, c13); row(2, c20, c21, c22, c23)
        row(3, c30, c31, c32, c33); row(4, c40, c41, c42, c43)
        if six { row(5, c50, c51, c52, c53) }
    }

    @inline(__always)
    static func tile1<V: SIMD>(_: V.Type, _ x: UnsafePointer<Float>, _ ps: Int, _ taps: UnsafePointer<Int>, _ k: Int,
                               _ w: UnsafePointer<Float>, _ ldw: Int, _ bias: UnsafePointer<Float>, _ lo: Float, _ hi: Float,
                               _ out: UnsafeMutablePointer<Float>, _ ldo: Int) where V: RowVector {
        var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V()
        var wp = UnsafeRawPointer(w)
        let wStride = ldw &* 4
        for t in 0..<k {
            let xp = x + taps[t]
            let w0 = wp.loadUnaligned(as: V.self)
            c0 = c0.addingProduct(V(repeating: xp[0]), w0)
            c1 = c1.addingProduct(V(repeating: xp[ps]), w0)
            c2 = c2.addingProduct(V(repeating: xp[2 &* ps]), w0)
            c3 = c3.addingProduct(V(repeating: xp[3 &* ps]), w0)
            c4 = c4.addingProduct(V(repeating: xp[4 &* ps]), w0)
            c5 = c5.addingProduct(V(repeating: xp[5 &* ps]), w0)
            wp += wStride
        }
        let bv = UnsafeRawPointer(bias).loadUnaligned(as: V.self)
        let l = V(repeating: lo), h = V(repeating: hi)
        store(c0 + bv, l, h, out); store(c1 + bv, l, h, out + ldo); store(c2 + bv, l, h, out + 2 &* ldo)
        store(c3 + bv, l, h, out + 3 &* ldo); store(c4 + bv, l, h, out + 4 &* ldo); store(c5 + bv, l, h, out + 5 &* ldo)
    }

    /// Stores `v` clamped to `lo ... hi` as the GEMM micro-kernels' fused epilogue does (the same bits).
    @inline(__always)
    static func store<V: SIMD>(_ v: V, _ lo: V, _ hi: V, _ p: UnsafeMutablePointer<Float>) where V: RowVector {
        UnsafeMutableRawPointer(p).storeBytes(of: V.clamp(v, lo, hi), as: V.self)
    }

    /// One max-pool output row over conv rows stored position-major (`positions × channels` floats each, as
    /// `convRow` writes them): `out[j · channels + o] = max` over the `rowCount` rows at `rows[0..<rowCount]` and the
    /// positions `j · stride − padLeft ..< + kernel` inside `0..<positions` (padding never wins a maximum). Every
    /// window holds at least one position (ONNX output sizes guarantee it). Separable: each window column's maximum
    /// over the rows, then along the window — the maxima in the order rows then columns. (Against the rows' maximum
    /// written to a scratch row first and read back: SqueezeNet's stem + pool 0.566–0.580 → 0.554–0.559 ms in the
    /// network at 1 thread, ResNet-18's level.)
    public static func maxPoolRow(rows: UnsafePointer<UnsafePointer<Float>>, rowCount: Int, positions: Int, channels: Int,
                                  kernel: Int, stride: Int, padLeft: Int, outputs: Int,
                                  into out: UnsafeMutablePointer<Float>) {
        if KernelTarget.wideRegisters {
            pool(SIMD16<Float>.self, rows, rowCount, positions, channels, kernel, stride, padLeft, outputs, out)
        } else {
            pool(SIMD8<Float>.self, rows, rowCount, positions, channels, kernel, stride, padLeft, outputs, out)
        }
    }

    @inline(__always)
    static func pool<V: SIMD>(_: V.Type, _ rows: UnsafePointer<UnsafePointer<Float>>, _ rowCount: Int, _ positions: Int,
                              _ channels: Int, _ kernel: Int, _ stride: Int, _ padLeft: Int, _ outputs: Int,
                              _ out: UnsafeMutablePointer<Float>) where V: RowVector {
        let n = V.scalarCount
        @inline(__always) func load(_ row: UnsafePointer<Float>, _ at: Int) -> V { UnsafeRawPointer(row + at).loadUnaligned(as: V.self) }
        // Window by window, every channel vector of it: each vector's maximum is a short chain of its own, so the
        // vectors' chains overlap (one vector along the whole row, its windows sharing a column, was one chain of
        // dependent maxima: SqueezeNet's stem pool took 22% of the fused step, 0.085 of its 0.39 ms alone). A whole
        // 3x3 window runs straight-line; the maxima keep the order rows then columns either way.
        let three = rowCount == 3
        let row0 = rows[0], row1 = three ? rows[1] : row0, row2 = three ? rows[2] : row0
        @inline(__always) func column(_ at: Int) -> V { V.maximum(V.maximum(load(row0, at), load(row1, at)), load(row2, at)) }
        for j in 0..<outputs {
            let start = j &* stride &- padLeft
            let c0 = Swift.max(0, start), c1 = Swift.min(positions, start &+ kernel)
            let dst = out + j &* channels
            var o = 0
            if three && c1 &- c0 == 3 {
                while o < channels {
                    let at = c0 &* channels &+ o
                    let m = V.maximum(V.maximum(column(at), column(at &+ channels)), column(at &+ 2 &* channels))
                    UnsafeMutableRawPointer(dst + o).storeBytes(of: m, as: V.self)
                    o &+= n
                }
                continue
            }
            while o < channels {
                var m = V(), c = c0
                while c < c1 {
                    let at = c &* channels &+ o
                    var v = load(rows[0], at), r = 1
                    while r < rowCount { v = V.maximum(v, load(rows[r], at)); r &+= 1 }
                    m = c == c0 ? v : V.maximum(m, v)
                    c &+= 1
                }
                UnsafeMutableRawPointer(dst + o).storeBytes(of: m, as: V.self)
                o &+= n
            }
        }
    }
}

/// A row tile's position count as a type, so each tile size is its own specialisation of `tile4` (a `Bool`
/// argument left a test of it inside the tap loop).
protocol TileRows { static var six: Bool { get } }
enum SixPositions: TileRows { static var six: Bool { true } }
enum FivePositions: TileRows { static var six: Bool { false } }

/// The two lane-wise operations the row kernels need, on the concrete vector types: in a generic context the
/// standard library's `.<` and `replace(with:where:)` run lane by lane (the first build of these kernels spent
/// 40× their time there); on `SIMD16<Float>`/`SIMD8<Float>` they are single vector instructions. (So the two
/// conformances below repeat the same text on purpose: a shared default in a protocol extension would be generic
/// code again.)
public protocol RowVector: SIMD where Scalar == Float {
    /// `v` with lanes below `lo` replaced by `lo`, then lanes above `hi` by `hi` (NaN kept).
    static func clamp(_ v: Self, _ lo: Self, _ hi: Self) -> Self
    /// `b` where `b > a`, else `a` (a NaN in `b` does not replace `a`).
    static func maximum(_ a: Self, _ b: Self) -> Self
}

extension SIMD16: RowVector where Scalar == Float {
    @inline(__always) public static func clamp(_ v: Self, _ lo: Self, _ hi: Self) -> Self {
        var x = v
        x.replace(with: lo, where: x .< lo)
        x.replace(with: hi, where: x .> hi)
        return x
    }
    @inline(__always) public static func maximum(_ a: Self, _ b: Self) -> Self {
        var m = a
        m.replace(with: b, where: b .> m)
        return m
    }
}

extension SIMD8: RowVector where Scalar == Float {
    @inline(__always) public static func clamp(_ v: Self, _ lo: Self, _ hi: Self) -> Self {
        var x = v
        x.replace(with: lo, where: x .< lo)
        x.replace(with: hi, where: x .> hi)
        return x
    }
    @inline(__always) public static func maximum(_ a: Self, _ b: Self) -> Self {
        var m = a
        m.replace(with: b, where: b .> m)
        return m
    }
}
