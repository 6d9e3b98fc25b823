import CFFTConvShim

/// Depthwise kernels on blocks of 16 channels (`dw_blocked16`), for small planes: a block's 16 NCHW planes are
/// transposed (16×16 at a time, `fftconv_transpose16x16`) into one zero-padded plane of 16-channel pixel
/// vectors, every output pixel is then `Σ tap-weight vector × input pixel vector` — no masks, no discarded
/// lanes, one FMA per tap and pixel whatever the plane's width — and the output pixels are transposed back.
///
/// The flat kernels (`DepthwiseFlatKernels`) vectorize along a row instead: on a 7×7 plane they compute 64
/// lanes for 49 outputs, clear columns with masks and pay a fill and a partial store per plane — two to
/// three times ONNX Runtime's time on MobileNetV2's 7² and 14² layers, which its channel-blocked layout
/// computes this way.
public enum DepthwiseBlockedKernels {
    /// Channels per block (one `SIMD16<Float>` per pixel).
    public static let block = 16

    /// The padded plane of 16-channel pixels a block is transposed into, and the buffer one worker needs.
    public struct Layout: Sendable, Hashable {
        public let geometry: ConvolutionGeometry
        /// Rows and columns of the padded plane: the input at `(padTop, padLeft)`, zeros around it, as far as
        /// any output reads.
        public let paddedHeight: Int
        public let paddedWidth: Int

        public init(geometry g: ConvolutionGeometry) {
            geometry = g
            let rows = (g.outputHeight - 1) * g.strideHeight + (g.kernelHeight - 1) * g.dilationHeight + 1
            let columns = (g.outputWidth - 1) * g.strideWidth + (g.kernelWidth - 1) * g.dilationWidth + 1
            paddedHeight = Swift.max(rows, g.padTop + g.inputHeight)
            paddedWidth = Swift.max(columns, g.padLeft + g.inputWidth)
        }

        var outputPixels: Int { geometry.outputHeight * geometry.outputWidth }
        /// The padded plane and, after it, the three pixel steps a row's last four-pixel step may read past
        /// the plane's last row (never written: zero).
        public var paddedFloats: Int { (paddedHeight * paddedWidth + 3 * geometry.strideWidth) * block }
        /// The output block's floats, whole 16-pixel groups (the last transpose reads a whole group).
        public var outputFloats: Int { (outputPixels + block - 1) / block * block * block }

        /// Zeroes what a producer that writes only the interior leaves: the margins around the input and the
        /// tail past the plane's last row (`paddedFloats` floats from `plane`) — for a plane in scratch memory
        /// that other users write between calls.
        public func zeroMargins(_ plane: UnsafeMutablePointer<Float>) {
            let g = geometry, pw = paddedWidth, top = g.padTop, bottom = g.padTop + g.inputHeight
            let left = g.padLeft, right = pw - g.padLeft - g.inputWidth
            Copy.zero(plane, top * pw * block)
            for r in top..<bottom {
                let row = plane + r * pw * block
                Copy.zero(row, left * block)
                Copy.zero(row + (left + g.inputWidth) * block, right * block)
            }
            Copy.zero(plane + bottom * pw * block, (paddedHeight - bottom) * pw * block + 3 * g.strideWidth * block)
        }

        /// Floats of one worker's buffer: the padded plane, the output block and two 16×16 staging blocks.
        /// Its margins must be zero when first used; `runBlocks` writes only the interior, so they stay zero.
        public var bufferSize: Int { paddedFloats + outputFloats + 2 * block * block }
    }

    /// Blocked weights: `out[(b·taps + t)·16 + i] = weights[(16·b + i)·taps + t]`, zero for the channels past
    /// `channels` in the last block. `out` holds `blocks(channels)·taps·16` floats.
    public static func packWeights(_ weights: UnsafePointer<Float>, channels: Int, taps: Int, into out: UnsafeMutablePointer<Float>) {
        let n = blocks(channels) * taps * block
        out.initialize(repeating: 0, count: n)
        for c in 0..<channels {
            let b = c / block, i = c % block
            for t in 0..<taps { out[(b * taps + t) * block + i] = weights[c * taps + t] }
        }
    }

    /// Blocks of 16 for `channels` channels.
    public static func blocks(_ channels: Int) -> Int { (channels + block - 1) / block }

    /// Depthwise convolution of the channel blocks `items` of an NCHW batch (item `j` is block
    /// `j % blocks(channels)` of image `j / blocks(channels)`):
    /// `out[c] = act(bias[c] + residual[c] + Σ_t w[c][t] · in[c] at tap t)` over the output plane.
    ///
    /// - Parameters:
    ///   - buffer: `layout.bufferSize` floats, zero when first handed to this function (only interiors are
    ///     written, so a buffer can be reused for any items of the same layout).
    ///   - weights: from `packWeights`; `bias`: `blocks(channels)·16` floats (zero past `channels`), or nil.
    ///   - residual: a tensor of the output's shape, or nil.
    public static func runBlocks(layout: Layout, items: Range<Int>, channels: Int, input: UnsafePointer<Float>,
                                 buffer: UnsafeMutablePointer<Float>, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                 output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, activation: Epilogue) {
        // With a residual the activation must follow the add, which happens on the NCHW planes after the
        // transpose back: the block is computed without it.
        let kind = residual == nil ? activation.kind : .identity
        switch kind {
        case .identity: blocks(IdentityFunction(), layout, items, channels, input, buffer, weights, bias, output, residual, activation)
        case .relu: blocks(ClipFunction(lo: 0, hi: .infinity), layout, items, channels, input, buffer, weights, bias, output, residual, activation)
        case .clip: blocks(ClipFunction(lo: activation.a, hi: activation.b), layout, items, channels, input, buffer, weights, bias, output, residual, activation)
        case .leakyReLU: blocks(LeakyFunction(alpha: activation.a), layout, items, channels, input, buffer, weights, bias, output, residual, activation)
        case .hardSigmoid: blocks(HardSigmoidFunction(alpha: activation.a, beta: activation.b), layout, items, channels, input, buffer, weights, bias, output, residual, activation)
        case .hardSwish: blocks(HardSwishFunction(alpha: activation.a, beta: activation.b), layout, items, channels, input, buffer, weights, bias, output, residual, activation)
        case .sigmoid: blocks(SigmoidFunction(), layout, items, channels, input, buffer, weights, bias, output, residual, activation)
        case .silu: blocks(SiLUFunction(), layout, items, channels, input, buffer, weights, bias, output, residual, activation)
        case .tanh: blocks(TanhFunction(), layout, items, channels, input, buffer, weights, bias, output, residual, activation)
        }
    }

    typealias V = SIMD16<Float>
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }

    @inline(__always)
    static func blocks<F: ActivationFunction>(_ f: F, _ l: Layout, _ items: Range<Int>, _ channels: Int, _ input: UnsafePointer<Float>,
                                              _ buffer: UnsafeMutablePointer<Float>, _ weights: UnsafePointer<Float>,
                                              _ bias: UnsafePointer<Float>?, _ output: UnsafeMutablePointer<Float>,
                                              _ residual: UnsafePointer<Float>?, _ activation: Epilogue) {
        let g = l.geometry
        let perImage = blocks(channels), taps = g.kernelHeight * g.kernelWidth
        let inPlane = g.inputHeight * g.inputWidth, outPlane = l.outputPixels
        let padded = buffer, out = buffer + l.paddedFloats, stage = out + l.outputFloats, staged = stage + block * block
        for item in items {
            let image = item / perImage, b = item % perImage, c0 = b * block
            let valid = Swift.min(block, channels - c0)
            let src = input + (image * channels + c0) * inPlane, dst = output + (image * channels + c0) * outPlane
            transposeIn(l, src, inPlane, valid, padded, stage, staged)
            let vb = bias.map { load($0 + b * block) } ?? V()
            computeBlock(f, l, UnsafePointer(padded), weights + b * taps * block, vb, out)
            transposeOut(UnsafePointer(out), outPlane, valid, dst, staged, stride: outPlane)
            if let residual {
                let res = residual + (image * channels + c0) * outPlane
                for i in 0..<valid { activation.finish(src: dst + i * outPlane, dst: dst + i * outPlane, count: outPlane, bias: 0, residual: res + i * outPlane) }
            }
        }
    }

    /// One block's output pixels from its filled padded plane (`w`: the block's packed weights).
    @inline(__always)
    static func computeBlock<F: ActivationFunction>(_ f: F, _ l: Layout, _ padded: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                                    _ vb: V, _ out: UnsafeMutablePointer<Float>) {
        let g = l.geometry
        if g.kernelHeight == 3 && g.kernelWidth == 3 && g.dilationHeight == 1 && g.dilationWidth == 1 {
            if g.strideWidth == 1 {
                compute3x3(f, l, padded, w, vb, out, strideWidth: 1)
            } else {
                compute3x3(f, l, padded, w, vb, out, strideWidth: g.strideWidth)
            }
        } else {
            compute(f, l, padded, w, vb, out)
        }
    }

    /// `runBlocks` for one block whose padded plane the caller filled (interior written in pixel-vector order,
    /// margins zero) — a producer that computes 16-channel pixel vectors writes them there and no transpose in
    /// is needed: `out[c] = act(bias[c] + Σ_t w[c][t] · in[c] at tap t)` for the block's first `valid` channels,
    /// written as NCHW planes from `output` on.
    ///
    /// - Parameters:
    ///   - weights: the block's packed weights (`packWeights`, offset to the block); `bias`: its 16 floats, or nil.
    ///   - scratch: `layout.outputFloats + 256` floats (the output block and a staging block).
    ///   - outputStride: floats between the output planes (nil: the layout's output pixels — whole planes; a band
    ///     of rows of taller planes gives their size).
    public static func computeFilledBlock(layout: Layout, padded: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                                          bias: UnsafePointer<Float>?, valid: Int, output: UnsafeMutablePointer<Float>,
                                          outputStride: Int? = nil, scratch: UnsafeMutablePointer<Float>, activation: Epilogue) {
        let vb = bias.map { load($0) } ?? V()
        let out = scratch, staged = scratch + layout.outputFloats
        switch activation.kind {
        case .identity: computeBlock(IdentityFunction(), layout, padded, weights, vb, out)
        case .relu: computeBlock(ClipFunction(lo: 0, hi: .infinity), layout, padded, weights, vb, out)
        case .clip: computeBlock(ClipFunction(lo: activation.a, hi: activation.b), layout, padded, weights, vb, out)
        case .leakyReLU: computeBlock(LeakyFunction(alpha: activation.a), layout, padded, weights, vb, out)
        case .hardSigmoid: computeBlock(HardSigmoidFunction(alpha: activation.a, beta: activation.b), layout, padded, weights, vb, out)
        case .hardSwish: computeBlock(HardSwishFunction(alpha: activation.a, beta: activation.b), layout, padded, weights, vb, out)
        case .sigmoid: computeBlock(SigmoidFunction(), layout, padded, weights, vb, out)
        case .silu: computeBlock(SiLUFunction(), layout, padded, weights, vb, out)
        case .tanh: computeBlock(TanhFunction(), layout, padded, weights, vb, out)
        }
        transposeOut(UnsafePointer(out), layout.outputPixels, valid, output, staged, stride: outputStride ?? layout.outputPixels)
    }

    /// The block's `valid` planes (`plane` floats apart from `src`) into the padded plane's interior, 16 pixels
    /// at a time; a last partial group or a partial block goes through `stage` (zero-padded rows).
    @inline(__always)
    static func transposeIn(_ l: Layout, _ src: UnsafePointer<Float>, _ plane: Int, _ valid: Int,
                            _ padded: UnsafeMutablePointer<Float>, _ stage: UnsafeMutablePointer<Float>,
                            _ staged: UnsafeMutablePointer<Float>) {
        let g = l.geometry, width = g.inputWidth, pw = l.paddedWidth
        var y = 0, x = 0, p = 0
        while p < plane {
            let n = Swift.min(block, plane - p)
            if n == block && valid == block {
                fftconv_transpose16x16(src + p, plane, staged, block)
            } else {
                Copy.zero(stage, block * block)
                for i in 0..<valid { Copy.floats(stage + i * block, src + i * plane + p, n) }
                fftconv_transpose16x16(stage, block, staged, block)
            }
            // The 16 pixels are at most a few row segments of the padded plane: one tight copy loop each.
            var j = 0
            while j < n {
                let count = Swift.min(n - j, width - x)
                let to = padded + ((y + g.padTop) * pw + x + g.padLeft) * block, from = staged + j * block
                for k in 0..<count { store(load(from + k &* block), to + k &* block) }
                j += count
                x += count
                if x == width { x = 0; y += 1 }
            }
            p += block
        }
    }

    /// The output pixels (16 channels each, `pixels` of them) back into the block's `valid` NCHW planes, `stride`
    /// floats apart. (`Transpose.floats` computes the same, but copies a partial last group's rows into staging first, since
    /// it may not read past its source; here the output block has whole groups' room, and on 7² planes — three
    /// groups and one pixel — that copy cost 6%: 960×7² 0.016 → 0.017 ms.)
    @inline(__always)
    static func transposeOut(_ out: UnsafePointer<Float>, _ pixels: Int, _ valid: Int, _ dst: UnsafeMutablePointer<Float>,
                             _ staged: UnsafeMutablePointer<Float>, stride: Int) {
        var q = 0
        while q < pixels {
            let n = Swift.min(block, pixels - q)
            if n == block && valid == block {
                fftconv_transpose16x16(out + q * block, block, dst + q, stride)
            } else {
                fftconv_transpose16x16(out + q * block, block, staged, block)
                for i in 0..<valid { Copy.floats(dst + i * stride + q, staged + i * block, n) }
            }
            q += block
        }
    }

    /// 3x3, no dilation: the nine weight vectors in registers, four output pixels of a row per step (six or
    /// nine input pixels per kernel row, each loaded once). Each kernel row is its own sum of three FMAs and
    /// the three are added at the end: twelve independent chains per step (one chain of nine per pixel was
    /// bound by FMA latency: 14² layer 0.032 ms).
    @inline(__always)
    static func compute3x3<F: ActivationFunction>(_ f: F, _ l: Layout, _ padded: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                                  _ vb: V, _ out: UnsafeMutablePointer<Float>, strideWidth sw: Int) {
        let g = l.geometry, pw = l.paddedWidth, ow = g.outputWidth
        let w0 = load(w), w1 = load(w + 16), w2 = load(w + 32), w3 = load(w + 48), w4 = load(w + 64)
        let w5 = load(w + 80), w6 = load(w + 96), w7 = load(w + 112), w8 = load(w + 128)
        let down = pw * block, s = sw * block
        // One pixel: its three kernel rows from `p` (the top-left tap).
        @inline(__always) func pixel(_ p: UnsafePointer<Float>) -> V {
            let r0 = (load(p) * w0).addingProduct(load(p + block), w1).addingProduct(load(p + 2 * block), w2)
            let r1 = (load(p + down) * w3).addingProduct(load(p + down + block), w4).addingProduct(load(p + down + 2 * block), w5)
            let r2 = (load(p + 2 * down) * w6).addingProduct(load(p + 2 * down + block), w7).addingProduct(load(p + 2 * down + 2 * block), w8)
            return vb + r0 + r1 + r2
        }
        for oy in 0..<g.outputHeight {
            let top = padded + oy * g.strideHeight * down
            let o = out + oy * ow * block
            var ox = 0
            while ox < ow {
                // A row's last step computes four pixels too (independent chains; the ones past the row read
                // the next row or the zeros after the plane, `Layout.paddedFloats`, and are not stored).
                let p = top + ox * s
                let a0 = pixel(p), a1 = pixel(p + s), a2 = pixel(p + 2 * s), a3 = pixel(p + 3 * s)
                store(f(a0), o + ox * block)
                if ox + 1 < ow { store(f(a1), o + (ox + 1) * block) }
                if ox + 2 < ow { store(f(a2), o + (ox + 2) * block) }
                if ox + 3 < ow { store(f(a3), o + (ox + 3) * block) }
                ox += 4
            }
        }
    }

    /// Any kernel size, stride and dilation: four output pixels of a row per step, each tap's weight vector
    /// loaded once for the four; even and odd kernel rows summed apart (eight independent chains — one chain
    /// per pixel was bound by FMA latency: 5x5 on 240×14² 0.081 ms).
    @inline(__always)
    static func compute<F: ActivationFunction>(_ f: F, _ l: Layout, _ padded: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                               _ vb: V, _ out: UnsafeMutablePointer<Float>) {
        let g = l.geometry, pw = l.paddedWidth, ow = g.outputWidth, kw = g.kernelWidth
        let s = g.strideWidth * block, dw = g.dilationWidth * block
        for oy in 0..<g.outputHeight {
            let o = out + oy * ow * block
            var ox = 0
            while ox < ow {
                var e0 = vb, e1 = vb, e2 = vb, e3 = vb
                var d0 = V(), d1 = V(), d2 = V(), d3 = V()
                for kh in 0..<g.kernelHeight {
                    let p = padded + ((oy * g.strideHeight + kh * g.dilationHeight) * pw) * block + ox * s
                    let wr = w + kh * kw * block
                    var t0 = V(), t1 = V(), t2 = V(), t3 = V()
                    for x in 0..<kw {
                        let wv = load(wr + x * block), q = p + x * dw
                        t0 = t0.addingProduct(load(q), wv); t1 = t1.addingProduct(load(q + s), wv)
                        t2 = t2.addingProduct(load(q + 2 * s), wv); t3 = t3.addingProduct(load(q + 3 * s), wv)
                    }
                    if kh & 1 == 0 { e0 += t0; e1 += t1; e2 += t2; e3 += t3 } else { d0 += t0; d1 += t1; d2 += t2; d3 += t3 }
                }
                store(f(e0 + d0), o + ox * block)  // (as in `compute3x3`: pixels past the row are not stored)
                if ox + 1 < ow { store(f(e1 + d1), o + (ox + 1) * block) }
                if ox + 2 < ow { store(f(e2 + d2), o + (ox + 2) * block) }
                if ox + 3 < ow { store(f(e3 + d3), o + (ox + 3) * block) }
                ox += 4
            }
        }
    }
}
