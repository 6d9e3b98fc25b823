/// Inline copies and fills for the short rows of image planes, where a libc call per row costs more than
/// the copy itself.
public enum Copy {
    /// `dst[i] = src[i]` for `i` in `0..<count` (non-overlapping).
    @inlinable @inline(__always)
    public static func floats(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ count: Int) {
        var i = 0
        while i + 8 <= count {
            UnsafeMutableRawPointer(dst + i).storeBytes(of: UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { dst[i] = src[i]; i += 1 }
    }

    /// `dst[i] = 0` for `i` in `0..<count`.
    @inlinable @inline(__always)
    public static func zero(_ dst: UnsafeMutablePointer<Float>, _ count: Int) {
        var i = 0
        while i + 8 <= count {
            UnsafeMutableRawPointer(dst + i).storeBytes(of: SIMD8<Float>(), as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { dst[i] = 0; i += 1 }
    }
}
