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
}
