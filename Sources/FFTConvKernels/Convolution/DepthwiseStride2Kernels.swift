import CFFTConvShim

/// 3x3 stride-2 depthwise convolution read straight from the NCHW input plane (`dw_s2direct16`): no phase
/// layout is filled. For 16 outputs of a row, each of the three input rows is loaded as 32 floats and split
/// into its even columns (`2x`) and odd ones (`2x + 1`) with two permutes; the columns `2x − 1` are the odd
/// ones moved one lane up, the lane that enters broadcast from the input (zero at the row start: the left
/// padding). Each kernel row is its own three-FMA sum; bias, residual and activation on the store, whole
/// vectors only (a row's last step overlaps the one before it, so `out` must not overlap `residual`).
///
/// On MobileNetV2's 96×112² layer the flat kernel spends half its time filling the four stride phases from an
/// input that comes from the last-level cache; this form reads that input once, in the loop that computes.
public enum DepthwiseStride2Kernels {
    /// Whether `g` is a geometry this form computes: 3x3, stride 2, no dilation, one column of left padding,
    /// no more than one row of top padding, rows of 32 or more, and every output column's taps inside the
    /// row or the left padding (`2·outputWidth ≤ inputWidth`).
    public static func supports(_ g: ConvolutionGeometry) -> Bool {
        g.kernelHeight == 3 && g.kernelWidth == 3 && g.strideHeight == 2 && g.strideWidth == 2
            && g.dilationHeight == 1 && g.dilationWidth == 1 && g.padLeft == 1 && g.padTop <= 1
            && g.inputWidth >= 32 && 2 * g.outputWidth <= g.inputWidth
    }

    /// Floats of scratch a call needs (a row end copied where the 32-float loads would leave the plane).
    public static let scratchFloats = 64

    /// Depthwise convolution of the planes `items` of an NCHW batch (item `i` is channel `i % channels`):
    /// `out[y][x] = act(bias[c] + residual[y][x] + Σ_{kh,kw} w[c][kh·3 + kw] · in[2y − padTop + kh][2x − 1 + kw])`,
    /// input outside the plane zero. `g` must satisfy `supports`.
    public static func runPlanes(geometry g: ConvolutionGeometry, items: Range<Int>, channels: Int, input: UnsafePointer<Float>,
                                 weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                                 residual: UnsafePointer<Float>?, activation: Epilogue, scratch: UnsafeMutablePointer<Float>) {
        runPlanes(geometry: g, items: items, channels: channels, input: input, inputStride: g.inputHeight * g.inputWidth,
                  weights: weights, bias: bias, output: output, outputStride: g.outputHeight * g.outputWidth,
                  residual: residual, activation: activation, scratch: scratch)
    }

    /// `runPlanes` over planes `inputStride` and `outputStride` floats apart (item `i`'s input at
    /// `input + i · inputStride`, its output and residual at `i · outputStride`): `g` may describe a band of rows
    /// inside taller planes — a fused step's band buffer in, some rows of each output plane out.
    public static func runPlanes(geometry g: ConvolutionGeometry, items: Range<Int>, channels: Int, input: UnsafePointer<Float>,
                                 inputStride: Int, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                 output: UnsafeMutablePointer<Float>, outputStride: Int, residual: UnsafePointer<Float>?,
                                 activation: Epilogue, scratch: UnsafeMutablePointer<Float>) {
        let strides = (inputStride, outputStride)
        switch activation.kind {
        case .identity: planes(IdentityFunction(), g, strides, items, channels, input, weights, bias, output, residual, scratch)
        case .relu: planes(ClipFunction(lo: 0, hi: .infinity), g, strides, items, channels, input, weights, bias, output, residual, scratch)
        case .clip: planes(ClipFunction(lo: activation.a, hi: activation.b), g, strides, items, channels, input, weights, bias, output, residual, scratch)
        case .leakyReLU: planes(LeakyFunction(alpha: activation.a), g, strides, items, channels, input, weights, bias, output, residual, scratch)
        case .hardSigmoid: planes(HardSigmoidFunction(alpha: activation.a, beta: activation.b), g, strides, items, channels, input, weights, bias, output, residual, scratch)
        case .hardSwish: planes(HardSwishFunction(alpha: activation.a, beta: activation.b), g, strides, items, channels, input, weights, bias, output, residual, scratch)
        case .sigmoid: planes(SigmoidFunction(), g, strides, items, channels, input, weights, bias, output, residual, scratch)
        case .silu: planes(SiLUFunction(), g, strides, items, channels, input, weights, bias, output, residual, scratch)
        case .tanh: planes(TanhFunction(), g, strides, items, channels, input, weights, bias, output, residual, scratch)
        }
    }

    typealias V = SIMD16<Float>
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }

    /// Lanes 15 of `previous` and 0…14 of `odd`: columns `2x − 1` for the 16 outputs whose odd columns are `odd`.
    @inline(__always) static func shiftedIn(_ previous: V, _ odd: V) -> V {
        fftconv_shift_in16(previous, odd)  // (the shim's 16-float vector type is imported as SIMD16<Float>)
    }

    @inline(__always)
    static func planes<F: ActivationFunction>(_ f: F, _ g: ConvolutionGeometry, _ strides: (input: Int, output: Int),
                                              _ items: Range<Int>, _ channels: Int,
                                              _ input: UnsafePointer<Float>, _ weights: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                              _ output: UnsafeMutablePointer<Float>, _ residual: UnsafePointer<Float>?,
                                              _ scratch: UnsafeMutablePointer<Float>) {
        let h = g.inputHeight, w = g.inputWidth, oh = g.outputHeight, ow = g.outputWidth
        let inPlane = strides.input, outPlane = strides.output
        for item in items {
            let c = item % channels, src = input + item * inPlane, end = src + h * w
            let wc = weights + c * 9
            let k0 = V(repeating: wc[0]), k1 = V(repeating: wc[1]), k2 = V(repeating: wc[2])
            let k3 = V(repeating: wc[3]), k4 = V(repeating: wc[4]), k5 = V(repeating: wc[5])
            let k6 = V(repeating: wc[6]), k7 = V(repeating: wc[7]), k8 = V(repeating: wc[8])
            let vb = V(repeating: bias?[c] ?? 0)
            let out = output + item * outPlane, res = residual.map { $0 + item * outPlane }
            for y in 0..<oh {
                let top = 2 * y - g.padTop
                // Input rows top, top + 1, top + 2 (nil: padding).
                let r0 = top >= 0 ? src + top * w : nil
                let r1 = top + 1 < h ? src + (top + 1) * w : nil
                let r2 = top + 2 < h ? src + (top + 2) * w : nil
                var x0 = 0
                while x0 < ow {
                    // The row's last step ends at its last output (overlapping the step before: the same values
                    // again) so that every store is a whole vector.
                    if x0 + 16 > ow { x0 = ow - 16 }
                    // One kernel row: its sum for these 16 outputs. Column 2x0 − 1 (lane 15 of `previous`) is the
                    // left padding at the row start.
                    // (`x` passed in: a nested function capturing the loop's `var` pays exclusivity checks.)
                    @inline(__always) func row(_ r: UnsafePointer<Float>?, _ x: Int, _ wa: V, _ wb: V, _ wc: V) -> V {
                        guard let r else { return V() }
                        let previous = x == 0 ? V() : V(repeating: r[2 * x - 1])
                        let (lo, hi) = Copy.load32(r + 2 * x, end: end, scratch: scratch)  // (the plane's last row: through the scratch)
                        let even = fftconv_even32(lo, hi), odd = fftconv_odd32(lo, hi)
                        return (shiftedIn(previous, odd) * wa).addingProduct(even, wb).addingProduct(odd, wc)
                    }
                    var a = vb + row(r0, x0, k0, k1, k2) + row(r1, x0, k3, k4, k5) + row(r2, x0, k6, k7, k8)
                    if let res { a += load(res + y * ow + x0) }
                    UnsafeMutableRawPointer(out + y * ow + x0).storeBytes(of: f(a), as: V.self)
                    x0 += 16
                }
            }
        }
    }
}
