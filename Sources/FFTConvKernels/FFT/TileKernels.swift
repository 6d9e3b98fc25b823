/// Moving tiles between image planes and transform buffers, for tiled (overlap-save) FFT convolution.
public enum TileKernels {
    /// Copies the `tileHeight × tileWidth` window whose top-left corner is at (`row`, `col`) of a
    /// `height × width` plane into `dst` (rows `dstStride` apart); positions outside the plane (the implicit
    /// zero padding, or past the edge) are written as zero. `row` and `col` may be negative.
    public static func load(plane: UnsafePointer<Float>, height: Int, width: Int, row: Int, col: Int,
                            tileHeight: Int, tileWidth: Int,
                            into dst: UnsafeMutablePointer<Float>, dstStride: Int) {
        let c0 = Swift.max(0, -col), c1 = Swift.min(tileWidth, width - col)
        for r in 0..<tileHeight {
            let d = dst + r * dstStride
            let ir = row + r
            if ir < 0 || ir >= height || c0 >= c1 {
                d.update(repeating: 0, count: tileWidth)
                continue
            }
            if c0 > 0 { d.update(repeating: 0, count: c0) }
            (d + c0).update(from: plane + ir * width + col + c0, count: c1 - c0)
            if c1 < tileWidth { (d + c1).update(repeating: 0, count: tileWidth - c1) }
        }
    }

    /// Writes the strided outputs that fall in one tile's valid region to the output plane.
    ///
    /// The tile holds stride-1 correlation results: `tile[r][c]` is the result whose window starts at
    /// padded position (`rowOrigin + r`, `colOrigin + c`), valid for `r < validHeight`, `c < validWidth`.
    /// Output `(oh, ow)` needs the window at (`oh * strideHeight`, `ow * strideWidth`). Each written value is
    /// `epilogue.activate(tile + bias + residual)` (any transform normalisation is already in the tile;
    /// `residual`, when given, has the output plane's layout).
    public static func store(tile: UnsafePointer<Float>, tileStride: Int,
                             rowOrigin: Int, colOrigin: Int, validHeight: Int, validWidth: Int,
                             strideHeight: Int, strideWidth: Int,
                             output: UnsafeMutablePointer<Float>, outputHeight: Int, outputWidth: Int,
                             bias: Float, residual: UnsafePointer<Float>?, epilogue: Epilogue) {
        let oh0 = (rowOrigin + strideHeight - 1) / strideHeight
        let oh1 = Swift.min(outputHeight, (rowOrigin + validHeight + strideHeight - 1) / strideHeight)
        let ow0 = (colOrigin + strideWidth - 1) / strideWidth
        let ow1 = Swift.min(outputWidth, (colOrigin + validWidth + strideWidth - 1) / strideWidth)
        if oh0 >= oh1 || ow0 >= ow1 { return }
        let vbias = SIMD8<Float>(repeating: bias)
        for oh in oh0..<oh1 {
            let src = tile + (oh * strideHeight - rowOrigin) * tileStride
            let dst = output + oh * outputWidth
            let res = residual.map { $0 + oh * outputWidth }
            if strideWidth == 1 {
                let s = src - colOrigin
                var ow = ow0
                while ow + 8 <= ow1 {
                    var v = UnsafeRawPointer(s + ow).loadUnaligned(as: SIMD8<Float>.self) + vbias
                    if let res { v += UnsafeRawPointer(res + ow).loadUnaligned(as: SIMD8<Float>.self) }
                    UnsafeMutableRawPointer(dst + ow).storeBytes(of: epilogue.activate(v), as: SIMD8<Float>.self)
                    ow += 8
                }
                while ow < ow1 {
                    var v = s[ow] + bias
                    if let res { v += res[ow] }
                    dst[ow] = epilogue.activate(v)
                    ow += 1
                }
            } else {
                for ow in ow0..<ow1 {
                    var v = src[ow * strideWidth - colOrigin] + bias
                    if let res { v += res[ow] }
                    dst[ow] = epilogue.activate(v)
                }
            }
        }
    }
}
