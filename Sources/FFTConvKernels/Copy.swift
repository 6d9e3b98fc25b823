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

    /// `even[j] = src[2j]`, `odd[j] = src[2j + 1]` for `j` in `0..<count` (the column split of a stride-2
    /// phase layout): eight pairs per step from one sixteen-float load, the rest one at a time.
    @inlinable @inline(__always)
    public static func splitEvenOdd(_ src: UnsafePointer<Float>, even: UnsafeMutablePointer<Float>,
                                    odd: UnsafeMutablePointer<Float>, count: Int) {
        var j = 0
        while j + 8 <= count {
            let v = UnsafeRawPointer(src + 2 * j).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(even + j).storeBytes(of: v.evenHalf, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(odd + j).storeBytes(of: v.oddHalf, as: SIMD8<Float>.self)
            j += 8
        }
        while j < count { even[j] = src[2 * j]; odd[j] = src[2 * j + 1]; j += 1 }
    }
}
