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
    /// The sums of one channel: `out[i] = act(bias + residual[i] + Σ_{kh,kw} weights[kh·KW + kw] ·
    /// (buffer[i + tapOffsets[kh·KW + kw]] & masks[kw·maskStride + i]))` for `i` in `0..<positions`, `KW` the
    /// kernel width (the AND is on the bits: a cleared lane is +0 whatever it held).
    ///
    /// - Parameters:
    ///   - buffer: the channel in a `FlatPhaseLayout` (margins zero).
    ///   - positions, outputWidth: output plane size (`outputHeight × outputWidth`) and row length.
    ///   - tapOffsets: `kernelHeight × kernelWidth` offsets from `FlatPhaseLayout.tapOffset`, row-major.
    ///   - masks, maskStride: `FlatPhaseLayout.columnMasks().masks` and `computedPositions`.
    ///   - maskedColumns: `FlatPhaseLayout.columnMasks().masked`: whether kernel column `kw` needs its mask.
    public static func run(buffer: UnsafePointer<Float>, positions: Int, outputWidth: Int, kernelHeight: Int, kernelWidth: Int,
                           tapOffsets: UnsafePointer<Int>, weights: UnsafePointer<Float>, masks: UnsafePointer<UInt32>,
                           maskStride: Int, maskedColumns: UnsafePointer<Bool>, out: UnsafeMutablePointer<Float>,
                           bias: Float, residual: UnsafePointer<Float>?, activation: Epilogue) {
        switch activation.kind {
        case .identity: shape(IdentityFunction(), buffer, positions, outputWidth, kernelHeight, kernelWidth, tapOffsets, weights, masks, maskStride, maskedColumns, out, bias, residual)
        case .relu: shape(ClipFunction(lo: 0, hi: .infinity), buffer, positions, outputWidth, kernelHeight, kernelWidth, tapOffsets, weights, masks, maskStride, maskedColumns, out, bias, residual)
        case .clip: shape(ClipFunction(lo: activation.a, hi: activation.b), buffer, positions, outputWidth, kernelHeight, kernelWidth, tapOffsets, weights, masks, maskStride, maskedColumns, out, bias, residual)
        case .leakyReLU: shape(LeakyFunction(alpha: activation.a), buffer, positions, outputWidth, kernelHeight, kernelWidth, tapOffsets, weights, masks, maskStride, maskedColumns, out, bias, residual)
        }
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
                                             _ out: UnsafeMutablePointer<Float>, _ bias: Float, _ residual: UnsafePointer<Float>?) {
        if kh == 3 && kw == 3 {
            var start = 0
            let rows = positions / width
            // Two-row passes need the taps of each column on consecutive rows (stride 1, no row dilation).
            if width >= 24 && rows >= 2 && (0..<3).allSatisfy({ offsets[3 + $0] - offsets[$0] == width && offsets[6 + $0] - offsets[3 + $0] == width }) {
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
