import CFFTConvShim

/// Matrix transposes over raw pointers, 16×16 blocks at a time (`fftconv_transpose16x16`: 64 two-vector
/// shuffles per block), for kernels that compute in one layout and store in another.
public enum Transpose {
    /// Floats of staging memory `floats(…)` needs for its edge blocks.
    public static let stagingFloats = 512

    /// `dst[j·dstStride + i] = src[i·srcStride + j]` for `i` in `0..<rows`, `j` in `0..<columns`. Whole 16×16
    /// blocks go straight from `src` to `dst`; where 16 or more rows (columns) remain the last block of a row
    /// (column) of blocks is shifted back to end at the edge — it rewrites floats the block before it wrote, with the
    /// same values — and only a side under 16 goes through `staging` (`stagingFloats` floats), so no read or write
    /// leaves the two matrices. `src` and `dst` must not overlap. (SqueezeNet's stem + pool transposes 55 pooled
    /// positions a row: through the staging for the last 7, 15.6% of the fused step's time alone.)
    public static func floats(_ src: UnsafePointer<Float>, sourceStride: Int, _ dst: UnsafeMutablePointer<Float>,
                              destinationStride: Int, rows: Int, columns: Int, staging: UnsafeMutablePointer<Float>) {
        let b = 16
        var i = 0
        while i < rows {
            if rows - i < b && rows >= b { i = rows - b }
            let r = Swift.min(b, rows - i)
            var j = 0
            while j < columns {
                if columns - j < b && columns >= b { j = columns - b }
                let c = Swift.min(b, columns - j)
                let s = src + i * sourceStride + j, d = dst + j * destinationStride + i
                if r == b && c == b {
                    fftconv_transpose16x16(s, sourceStride, d, destinationStride)
                } else {
                    let into = staging + b * b
                    for x in 0..<r { Copy.floats(staging + x * b, s + x * sourceStride, c) }
                    fftconv_transpose16x16(staging, b, into, b)
                    for y in 0..<c { Copy.floats(d + y * destinationStride, into + y * b, r) }
                }
                j += b
            }
            i += b
        }
    }
}
