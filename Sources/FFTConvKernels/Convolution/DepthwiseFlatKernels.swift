/// Depthwise kernels over a `FlatPhaseLayout` channel: 32 consecutive output positions per step (two
/// vectors of 16), taps grouped by kernel column so that the lanes whose column tap falls outside the
/// input are cleared once per column (one AND with a precomputed mask), not once per tap; bias, residual
/// and activation applied on the store, straight into the NCHW output plane (no tile buffer, no discarded
/// columns).
///
/// 3x3 — nearly every depthwise layer in use — has its own loops with the nine weights held in registers;
/// at stride 1 on rows of 24 or more it computes two output rows per pass, which share two of their three
/// input rows: 8 loads per 12 FMAs instead of 6 per 6 (vector loads, not FMAs, bound a depthwise kernel).
/// Other sizes run a loop whose tap table is read as it goes (5x5 with its bounds known).
///
/// `out` must not overlap `buffer` or `residual`: a position may be written twice (the same value), which
/// lets the two-row pass run whole vectors past the end of a row.
public enum DepthwiseFlatKernels {
    /// Depthwise convolution of the planes `items` of an NCHW tensor (item `i` is channel `c = i % channels`):
    /// each plane is first written into `buffer` by `layout.fill`, then
    /// `out[i] = act(bias[c] + residual[i] + Σ_{kh,kw} w[kh·KW + kw] · (buffer[i + tapOffsets[kh·KW + kw]] & masks[kw·P + i]))`
    /// for the plane's `P = layout.computedPositions` positions (stored: `layout.positions`), `w` the channel's
    /// taps, `KW` the kernel width; the AND is on the bits, so a cleared lane is +0 whatever it held. The
    /// per-layer setup (activation dispatch, the two-row test) is done once per call, not per plane: on 7×7
    /// planes a plane's whole compute is about a hundred instructions.
    ///
    /// - Parameters:
    ///   - buffer: `layout.bufferSize` floats whose margins are zero (only phase interiors are written).
    ///   - tapOffsets: `kernelHeight × kernelWidth` offsets from `FlatPhaseLayout.tapOffset`, row-major.
    ///   - weights: every channel's taps, `kernelHeight × kernelWidth` per channel.
    ///   - masks, maskedColumns: `FlatPhaseLayout.columnMasks()`: the lane masks per kernel column, and whether
    ///     column `kw` needs its mask at all.
    ///   - bias: one per channel, or nil for zero.
    ///   - residual: a tensor of the output's shape, or nil.
    public static func runPlanes(layout f: FlatPhaseLayout, items: Range<Int>, channels: Int, input: UnsafePointer<Float>,
                                 buffer: UnsafeMutablePointer<Float>, tapOffsets: UnsafePointer<Int>, weights: UnsafePointer<Float>,
                                 masks: UnsafePointer<UInt32>, maskedColumns: UnsafePointer<Bool>, output: UnsafeMutablePointer<Float>,
                                 bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, activation: Epilogue) {
        switch activation.kind {
        case .identity: planes(IdentityFunction(), f, items, channels, input, buffer, tapOffsets, weights, masks, maskedColumns, output, bias, residual)
        case .relu: planes(ClipFunction(lo: 0, hi: .infinity), f, items, channels, input, buffer, tapOffsets, weights, masks, maskedColumns, output, bias, residual)
        case .clip: planes(ClipFunction(lo: activation.a, hi: activation.b), f, items, channels, input, buffer, tapOffsets, weights, masks, maskedColumns, output, bias, residual)
        case .leakyReLU: planes(LeakyFunction(alpha: activation.a), f, items, channels, input, buffer, tapOffsets, weights, masks, maskedColumns, output, bias, residual)
        case .hardSigmoid: planes(HardSigmoidFunction(alpha: activation.a, beta: activation.b), f, items, channels, input, buffer, tapOffsets, weights, masks, maskedColumns, output, bias, residual)
        case .hardSwish: planes(HardSwishFunction(alpha: activation.a, beta: activation.b), f, items, channels, input, buffer, tapOffsets, weights, masks, maskedColumns, output, bias, residual)
        case .sigmoid: planes(SigmoidFunction(), f, items, channels, input, buffer, tapOffsets, weights, masks, maskedColumns, output, bias, residual)
        case .silu: planes(SiLUFunction(), f, items, channels, input, buffer, tapOffsets, weights, masks, maskedColumns, output, bias, residual)
        case .tanh: planes(TanhFunction(), f, items, channels, input, buffer, tapOffsets, weights, masks, maskedColumns, output, bias, residual)
        }
    }

    @inline(__always)
    static func planes<F: ActivationFunction>(_ fn: F, _ f: FlatPhaseLayout, _ items: Range<Int>, _ channels: Int,
                                              _ input: UnsafePointer<Float>, _ buffer: UnsafeMutablePointer<Float>,
                                              _ offsets: UnsafePointer<Int>, _ weights: UnsafePointer<Float>,
                                              _ masks: UnsafePointer<UInt32>, _ masked: UnsafePointer<Bool>,
                                              _ output: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>?,
                                              _ residual: UnsafePointer<Float>?) {
        let g = f.geometry
        let kh = g.kernelHeight, kw = g.kernelWidth, taps = kh * kw
        let inPlane = g.inputHeight * g.inputWidth, outPlane = f.positions, width = g.outputWidth
        let pairs = kh == 3 && kw == 3 && pairsApply(offsets, outPlane, width)
        if let middle = f.inPlaceRows {
            // Stride 1 on a tall plane: the middle rows read the input plane in place; only the rows above and
            // below are copied into the buffer (between its zero margins) and computed from there.
            let w = f.phaseWidth, h = f.phaseHeight, m = f.marginBefore
            let (t0, t1) = (middle.lowerBound, middle.upperBound)
            let topRows = Swift.min(h, t0 + kh * g.dilationHeight + 1)  // every row the top outputs read
            let bottomStart = Swift.max(0, t1 - kh * g.dilationHeight - 1)
            for item in items {
                let c = item % channels, wc = weights + c * taps
                let src = input + item * inPlane, out = output + item * outPlane, res = residual.map { $0 + item * outPlane }
                let b = bias?[c] ?? 0
                // Output rows `rows`, reading the layout whose row 0 starts at `base + marginBefore`.
                @inline(__always) func compute(_ rows: Range<Int>, from base: UnsafePointer<Float>) {
                    shape(fn, base + rows.lowerBound * w, rows.count * w, width, kh, kw, offsets, wc, masks, f.computedPositions,
                          masked, out + rows.lowerBound * w, b, res.map { $0 + rows.lowerBound * w }, pairs: pairs)
                }
                Copy.floats(buffer + m, src, topRows * w)
                compute(0..<t0, from: UnsafePointer(buffer))
                compute(t0..<t1, from: src - m)
                Copy.floats(buffer + m + bottomStart * w, src + bottomStart * w, (h - bottomStart) * w)
                compute(t1..<h, from: UnsafePointer(buffer))
            }
            return
        }
        for item in items {
            let c = item % channels
            f.fill(input: input + item * inPlane, buffer: buffer)
            shape(fn, UnsafePointer(buffer), outPlane, width, kh, kw, offsets, weights + c * taps, masks, f.computedPositions, masked,
                  output + item * outPlane, bias?[c] ?? 0, residual.map { $0 + item * outPlane }, pairs: pairs)
        }
    }

    /// Whether the 3x3 two-row pass applies: rows of 24 or more, and each column's taps on consecutive rows
    /// (stride 1, no row dilation).
    static func pairsApply(_ offsets: UnsafePointer<Int>, _ positions: Int, _ width: Int) -> Bool {
        width >= 24 && positions / width >= 2
            && (0..<3).allSatisfy({ offsets[3 + $0] - offsets[$0] == width && offsets[6 + $0] - offsets[3 + $0] == width })
    }

    typealias V = SIMD16<Float>
    typealias M = SIMD16<UInt32>

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
    @inline(__always) static func masked(_ v: V, _ m: UnsafePointer<UInt32>) -> V {
        unsafeBitCast(unsafeBitCast(v, to: M.self) & UnsafeRawPointer(m).loadUnaligned(as: M.self), to: V.self)
    }

    /// The nine weights of a 3x3 channel, each in every lane (kept in registers by the 3x3 loops).
    @inline(__always)
    static func broadcast3x3(_ w: UnsafePointer<Float>) -> (V, V, V, V, V, V, V, V, V) {
        (V(repeating: w[0]), V(repeating: w[1]), V(repeating: w[2]), V(repeating: w[3]), V(repeating: w[4]),
         V(repeating: w[5]), V(repeating: w[6]), V(repeating: w[7]), V(repeating: w[8]))
    }

    /// Adds the residual, applies `f` and stores 32 outputs — or, on the last partial step, only `n`.
    @inline(__always)
    static func store<F: ActivationFunction>(_ f: F, _ t0: V, _ t1: V, _ out: UnsafeMutablePointer<Float>,
                                             _ residual: UnsafePointer<Float>?, _ i: Int, _ n: Int) {
        if n >= 32 {
            var t0 = t0, t1 = t1
            if let residual { t0 += load(residual + i); t1 += load(residual + i + 16) }
            UnsafeMutableRawPointer(out + i).storeBytes(of: f(t0), as: V.self)
            UnsafeMutableRawPointer(out + i + 16).storeBytes(of: f(t1), as: V.self)
        } else if residual == nil {  // the activation on whole vectors, then `n` floats copied out
            var t = (f(t0), f(t1))
            withUnsafeBytes(of: &t) { Copy.floats(out + i, $0.baseAddress!.assumingMemoryBound(to: Float.self), n) }
        } else {
            for j in 0..<n {
                let v = j < 16 ? t0[j] : t1[j - 16]
                out[i + j] = f(v + (residual?[i + j] ?? 0))
            }
        }
    }

    @inline(__always)
    static func shape<F: ActivationFunction>(_ f: F, _ buffer: UnsafePointer<Float>, _ positions: Int, _ width: Int, _ kh: Int, _ kw: Int,
                                             _ offsets: UnsafePointer<Int>, _ weights: UnsafePointer<Float>,
                                             _ masks: UnsafePointer<UInt32>, _ maskStride: Int, _ maskedColumns: UnsafePointer<Bool>,
                                             _ out: UnsafeMutablePointer<Float>, _ bias: Float, _ residual: UnsafePointer<Float>?,
                                             pairs: Bool) {
        if kh == 3 && kw == 3 {
            var start = 0
            let rows = positions / width
            if pairs {  // `pairsApply`: two-row passes need each column's taps on consecutive rows
                loop3x3Pairs(f, buffer, rows, width, offsets, weights, masks, maskStride, maskedColumns, out, bias, residual)
                start = rows / 2 * 2 * width
            }
            loop3x3(f, buffer, start, positions, offsets, weights, masks, maskStride, maskedColumns, out, bias, residual)
        } else if kh == 5 && kw == 5 {
            loop(f, buffer, positions, 5, 5, offsets, weights, masks, maskStride, maskedColumns, out, bias, residual)
        } else {
            loop(f, buffer, positions, kh, kw, offsets, weights, masks, maskStride, maskedColumns, out, bias, residual)
        }
    }

    @inline(__always)
    static func loop3x3<F: ActivationFunction>(_ f: F, _ buffer: UnsafePointer<Float>, _ start: Int, _ positions: Int,
                                               _ offsets: UnsafePointer<Int>, _ weights: UnsafePointer<Float>,
                                               _ masks: UnsafePointer<UInt32>, _ maskStride: Int, _ maskedColumns: UnsafePointer<Bool>,
                                               _ out: UnsafeMutablePointer<Float>, _ bias: Float, _ residual: UnsafePointer<Float>?) {
        // Column x holds taps x, 3 + x, 6 + x.
        let (w0, w1, w2, w3, w4, w5, w6, w7, w8) = broadcast3x3(weights)
        let p0 = buffer + offsets[0], p3 = buffer + offsets[3], p6 = buffer + offsets[6]
        let p1 = buffer + offsets[1], p4 = buffer + offsets[4], p7 = buffer + offsets[7]
        let p2 = buffer + offsets[2], p5 = buffer + offsets[5], p8 = buffer + offsets[8]
        let m0 = maskedColumns[0], m1 = maskedColumns[1], m2 = maskedColumns[2]
        let k0 = masks, k1 = masks + maskStride, k2 = masks + 2 * maskStride
        let vb = V(repeating: bias)
        var i = start
        while i < positions {
            var a0 = (load(p0 + i) * w0).addingProduct(load(p3 + i), w3).addingProduct(load(p6 + i), w6)
            var a1 = (load(p0 + i + 16) * w0).addingProduct(load(p3 + i + 16), w3).addingProduct(load(p6 + i + 16), w6)
            if m0 { a0 = masked(a0, k0 + i); a1 = masked(a1, k0 + i + 16) }
            var b0 = (load(p1 + i) * w1).addingProduct(load(p4 + i), w4).addingProduct(load(p7 + i), w7)
            var b1 = (load(p1 + i + 16) * w1).addingProduct(load(p4 + i + 16), w4).addingProduct(load(p7 + i + 16), w7)
            if m1 { b0 = masked(b0, k1 + i); b1 = masked(b1, k1 + i + 16) }
            var c0 = (load(p2 + i) * w2).addingProduct(load(p5 + i), w5).addingProduct(load(p8 + i), w8)
            var c1 = (load(p2 + i + 16) * w2).addingProduct(load(p5 + i + 16), w5).addingProduct(load(p8 + i + 16), w8)
            if m2 { c0 = masked(c0, k2 + i); c1 = masked(c1, k2 + i + 16) }
            store(f, vb + a0 + b0 + c0, vb + a1 + b1 + c1, out, residual, i, positions - i)
            i += 32
        }
    }

    /// Output rows `2j, 2j + 1` for `j` in `0..<rows / 2`, 32 columns of each per step; column `kw`'s taps
    /// are rows −1…1 of the top row and 0…2 of the bottom one (from `offsets[kw]` on, `width` apart). A step
    /// past the row end computes the next row's first positions (overwritten later with the same values).
    @inline(__always)
    static func loop3x3Pairs<F: ActivationFunction>(_ f: F, _ buffer: UnsafePointer<Float>, _ rows: Int, _ width: Int,
                                                    _ offsets: UnsafePointer<Int>, _ weights: UnsafePointer<Float>,
                                                    _ masks: UnsafePointer<UInt32>, _ maskStride: Int, _ maskedColumns: UnsafePointer<Bool>,
                                                    _ out: UnsafeMutablePointer<Float>, _ bias: Float, _ residual: UnsafePointer<Float>?) {
        let (w0, w1, w2, w3, w4, w5, w6, w7, w8) = broadcast3x3(weights)
        let q0 = buffer + offsets[0], q1 = buffer + offsets[1], q2 = buffer + offsets[2]
        let m0 = maskedColumns[0], m1 = maskedColumns[1], m2 = maskedColumns[2]
        let positions = rows * width, w = width
        let vb = V(repeating: bias)
        var r = 0
        while r + 2 <= rows {
            var x = 0
            while x < width {
                let i = r * width + x
                // One kernel column: 8 loads (4 rows × 2 vectors), its sums for the 4 output vectors.
                @inline(__always) func column(_ q: UnsafePointer<Float>, _ wa: V, _ wb: V, _ wc: V, _ m: Bool, _ k: UnsafePointer<UInt32>) -> (V, V, V, V) {
                    let p = q + i
                    let r0a = load(p), r0b = load(p + 16), r1a = load(p + w), r1b = load(p + w + 16)
                    let r2a = load(p + 2 * w), r2b = load(p + 2 * w + 16), r3a = load(p + 3 * w), r3b = load(p + 3 * w + 16)
                    var t0 = (r0a * wa).addingProduct(r1a, wb).addingProduct(r2a, wc)
                    var t1 = (r0b * wa).addingProduct(r1b, wb).addingProduct(r2b, wc)
                    var b0 = (r1a * wa).addingProduct(r2a, wb).addingProduct(r3a, wc)
                    var b1 = (r1b * wa).addingProduct(r2b, wb).addingProduct(r3b, wc)
                    if m {  // a row's columns are the next row's: one mask for top and bottom
                        t0 = masked(t0, k + i); t1 = masked(t1, k + i + 16)
                        b0 = masked(b0, k + i); b1 = masked(b1, k + i + 16)
                    }
                    return (t0, t1, b0, b1)
                }
                let a = column(q0, w0, w3, w6, m0, masks)
                let b = column(q1, w1, w4, w7, m1, masks + maskStride)
                let c = column(q2, w2, w5, w8, m2, masks + 2 * maskStride)
                store(f, vb + a.0 + b.0 + c.0, vb + a.1 + b.1 + c.1, out, residual, i, positions - i)
                store(f, vb + a.2 + b.2 + c.2, vb + a.3 + b.3 + c.3, out, residual, i + w, positions - i - w)
                x += 32
            }
            r += 2
        }
    }

    @inline(__always)
    static func loop<F: ActivationFunction>(_ f: F, _ buffer: UnsafePointer<Float>, _ positions: Int, _ kh: Int, _ kw: Int,
                                            _ offsets: UnsafePointer<Int>, _ weights: UnsafePointer<Float>,
                                            _ masks: UnsafePointer<UInt32>, _ maskStride: Int, _ maskedColumns: UnsafePointer<Bool>,
                                            _ out: UnsafeMutablePointer<Float>, _ bias: Float, _ residual: UnsafePointer<Float>?) {
        var i = 0
        while i < positions {
            var t0 = V(repeating: bias), t1 = t0
            for x in 0..<kw {
                var a0 = V(), a1 = V()
                for y in 0..<kh {
                    let t = y * kw + x
                    let w = V(repeating: weights[t]), p = buffer + offsets[t] + i
                    a0.addProduct(w, load(p))
                    a1.addProduct(w, load(p + 16))
                }
                if maskedColumns[x] {
                    let k = masks + x * maskStride + i
                    a0 = masked(a0, k)
                    a1 = masked(a1, k + 16)
                }
                t0 += a0
                t1 += a1
            }
            store(f, t0, t1, out, residual, i, positions - i)
            i += 32
        }
    }
}
