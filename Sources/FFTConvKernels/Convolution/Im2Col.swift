/// im2col: lays out every receptive field as a column, so a convolution becomes one GEMM.
public enum Im2Col {
    /// Writes rows `[channels · kH · kW]` × columns `columns` (flat output positions `oh * outW + ow`) of the
    /// im2col matrix of one image (`channels` planes at `input`), row-major with row length `columns.count`;
    /// zero where a tap falls in the padding.
    public static func run(input: UnsafePointer<Float>, channels: Int, geometry g: ConvolutionGeometry,
                           columns: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let n = columns.count
        var row = 0
        for c in 0..<channels {
            let plane = input + c * g.inputHeight * g.inputWidth
            for kh in 0..<g.kernelHeight {
                for kw in 0..<g.kernelWidth {
                    let dst = out + row * n - columns.lowerBound
                    let yo = kh * g.dilationHeight - g.padTop, xo = kw * g.dilationWidth - g.padLeft
                    let valid = ConvolutionGeometry.validOutputRange(offset: xo, stride: g.strideWidth,
                                                                     inputCount: g.inputWidth, outputCount: g.outputWidth)
                    var f = columns.lowerBound
                    while f < columns.upperBound {
                        let oh = f / g.outputWidth, rowStart = oh * g.outputWidth
                        let end = Swift.min(columns.upperBound, rowStart + g.outputWidth)
                        let iy = oh * g.strideHeight + yo
                        let src = plane + iy * g.inputWidth + xo
                        for fo in f..<end {
                            let ow = fo - rowStart
                            dst[fo] = iy >= 0 && iy < g.inputHeight && valid.contains(ow) ? src[ow * g.strideWidth] : 0
                        }
                        f = end
                    }
                    row += 1
                }
            }
        }
    }

    /// Writes the im2col rows of channels `channelRange` — rows `(c · kH + kh) · kW + kw`, the weights' order — from
    /// `layout` filled at `buffer` (all `channels` of one image): row `k`'s output position `oh · outW + ow` at
    /// `out + k · rowStride + oh · outW + ow`, padding taps zero (the layout's). Each output row of a tap is one
    /// contiguous run of the layout's phase row, copied in 8-float vectors front to back: a run's last vector
    /// overwrites up to 7 floats after it — the next run's, rewritten next — so the last run leaves copies of layout
    /// floats in up to 7 floats past the row's positions (`rowStride ≥ outH · outW + 7`).
    /// The layout's planes must allow 16-float loads at every computed position (`lanes: 16`).
    public static func rows(layout: PhaseLayout, buffer: UnsafePointer<Float>, channels: Int, channelRange: Range<Int>,
                            rowStride: Int, into out: UnsafeMutablePointer<Float>) {
        let g = layout.geometry, ow = g.outputWidth, oh = g.outputHeight, pw = layout.phaseWidth
        let kh = g.kernelHeight, kw = g.kernelWidth
        for c in channelRange {
            for i in 0..<kh {
                for j in 0..<kw {
                    let src = buffer + layout.tapOffset(channel: c, channels: channels, kh: i, kw: j)
                    let dst = out + ((c * kh + i) * kw + j) * rowStride
                    for y in 0..<oh {
                        let from = UnsafeRawPointer(src + y * pw), to = UnsafeMutableRawPointer(dst + y * ow)
                        var x = 0
                        repeat {
                            to.storeBytes(of: from.loadUnaligned(fromByteOffset: x * 4, as: SIMD8<Float>.self), toByteOffset: x * 4,
                                          as: SIMD8<Float>.self)
                            x += 8
                        } while x < ow
                    }
                }
            }
        }
    }
}
