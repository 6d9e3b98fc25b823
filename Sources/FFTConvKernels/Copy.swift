import CFFTConvShim

/// Inline copies and fills for the short rows of image planes, where a libc call per row costs more than
/// the copy itself.
public enum Copy {
    /// `dst[i] = src[i]` for `i` in `0..<count` (non-overlapping; a tail is copied as the last eight again).
    @inlinable @inline(__always)
    public static func floats(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ count: Int) {
        var i = 0
        while i + 8 <= count {
            UnsafeMutableRawPointer(dst + i).storeBytes(of: UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
            i += 8
        }
        if i < count && count >= 8 {  // the last eight again, overlapping: no scalar tail
            let j = count - 8
            UnsafeMutableRawPointer(dst + j).storeBytes(of: UnsafeRawPointer(src + j).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
            return
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

    /// `even[j] = src[2j]` for `j` in `0..<count`, reading no float past `src[2·count − 2]`: sixteen (or, without
    /// 16-float registers, eight) at a time from whole vectors of pairs, the last step's loads shifted back one float
    /// so that they end at `src[2·count − 2]` (its even floats are then the loads' odd lanes). Short rows go one by one.
    public static func even(_ src: UnsafePointer<Float>, into even: UnsafeMutablePointer<Float>, count: Int) {
        typealias W = SIMD16<Float>
        @inline(__always) func load(_ i: Int) -> W { UnsafeRawPointer(src + i).loadUnaligned(as: W.self) }
        if KernelTarget.wideRegisters && count >= 17 {
            var j = 0
            while j + 17 <= count {  // reads 2j ..< 2j + 32, inside the row
                UnsafeMutableRawPointer(even + j).storeBytes(of: fftconv_even32(load(2 * j), load(2 * j + 16)), as: W.self)
                j += 16
            }
            let t = count - 16  // reads 2t − 1 ..< 2t + 31 = 2·count − 1
            UnsafeMutableRawPointer(even + t).storeBytes(of: fftconv_odd32(load(2 * t - 1), load(2 * t + 15)), as: W.self)
            return
        }
        if count >= 9 {
            var j = 0
            while j + 9 <= count {  // reads 2j ..< 2j + 16
                UnsafeMutableRawPointer(even + j).storeBytes(of: fftconv_even16(load(2 * j)), as: SIMD8<Float>.self)
                j += 8
            }
            let t = count - 8  // reads 2t − 1 ..< 2t + 15 = 2·count − 1
            UnsafeMutableRawPointer(even + t).storeBytes(of: fftconv_odd16(load(2 * t - 1)), as: SIMD8<Float>.self)
            return
        }
        for j in 0..<count { even[j] = src[2 * j] }
    }

    /// `even[j] = src[2j]`, `odd[j] = src[2j + 1]` for `j` in `0..<count` (the column split of a stride-2
    /// phase layout): eight pairs per step from one sixteen-float load, the last eight again (overlapping)
    /// when `count` is not a multiple of eight, one at a time only when `count < 8`.
    @inlinable @inline(__always)
    public static func splitEvenOdd(_ src: UnsafePointer<Float>, even: UnsafeMutablePointer<Float>,
                                    odd: UnsafeMutablePointer<Float>, count: Int) {
        var j = 0
        while j + 8 <= count {
            split8(src + 2 * j, even + j, odd + j)
            j += 8
        }
        if j < count && count >= 8 {  // the last eight pairs again, overlapping: no scalar tail
            j = count - 8
            split8(src + 2 * j, even + j, odd + j)
            return
        }
        while j < count { even[j] = src[2 * j]; odd[j] = src[2 * j + 1]; j += 1 }
    }

    /// The column split of `rows` rows into two planes of `count`-float rows with no gap between rows:
    /// `even[r·count + j] = src[r·sourceRowStride + 2j]`, `odd[…] = src[… + 2j + 1]`. Sixteen pairs per step
    /// (eight on builds without 16-float registers); every row but the last runs whole steps past its end —
    /// reading on into the source rows that follow and writing into the next destination row, which its own
    /// step then rewrites — so no row has a scalar tail; the last row stays inside its `2·count` floats and its
    /// `count`-float destination rows.
    /// Requires `sourceRowStride ≥ 2·count`.
    public static func splitEvenOddRows(_ src: UnsafePointer<Float>, sourceRowStride: Int, even: UnsafeMutablePointer<Float>,
                                        odd: UnsafeMutablePointer<Float>, rows: Int, count: Int) {
        guard rows > 0, count > 0 else { return }
        // A run past the end must stay within the next row (rewritten after it): at most `count` floats.
        // Sixteen pairs per step where that is two permutes (`KernelTarget.wideRegisters`), else eight.
        let step = count >= 16 && KernelTarget.wideRegisters ? 16 : 8
        let runs = count >= 4
        for r in 0..<rows {
            let s = src + r * sourceRowStride, e = even + r * count, o = odd + r * count
            if runs && r + 1 < rows {
                var j = 0
                while j < count {
                    if step == 16 { split16(s + 2 * j, e + j, o + j) } else { split8(s + 2 * j, e + j, o + j) }
                    j += step
                }
            } else {
                splitEvenOdd(s, even: e, odd: o, count: count)
            }
        }
    }

    @inline(__always)
    static func split16(_ src: UnsafePointer<Float>, _ even: UnsafeMutablePointer<Float>, _ odd: UnsafeMutablePointer<Float>) {
        let lo = UnsafeRawPointer(src).loadUnaligned(as: SIMD16<Float>.self)
        let hi = UnsafeRawPointer(src + 16).loadUnaligned(as: SIMD16<Float>.self)
        UnsafeMutableRawPointer(even).storeBytes(of: fftconv_even32(lo, hi), as: SIMD16<Float>.self)
        UnsafeMutableRawPointer(odd).storeBytes(of: fftconv_odd32(lo, hi), as: SIMD16<Float>.self)
    }

    @usableFromInline @inline(__always)
    static func split8(_ src: UnsafePointer<Float>, _ even: UnsafeMutablePointer<Float>, _ odd: UnsafeMutablePointer<Float>) {
        let v = UnsafeRawPointer(src).loadUnaligned(as: SIMD16<Float>.self)
        UnsafeMutableRawPointer(even).storeBytes(of: fftconv_even16(v), as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(odd).storeBytes(of: fftconv_odd16(v), as: SIMD8<Float>.self)
    }
}

/// Cache hints for operators that know what they will read next.
public enum Prefetch {
    /// Asks for the cache lines of `bytes` bytes from `p` in the second-level cache (a hint: never faults).
    @inlinable @inline(__always)
    public static func toL2(_ p: UnsafeRawPointer, bytes: Int) {
        var offset = 0
        while offset < bytes {
            fftconv_prefetch_l2(p + offset)
            offset += 64
        }
    }
}

extension Copy {
    /// The 32 floats from `p` as two vectors, for kernels whose whole-vector loads run past a row's end: where
    /// they would also pass `end` (the last float the caller may read, exclusive) the floats before `end` are
    /// copied into `scratch` (32 floats), zero after them, and loaded from there — no read leaves the buffer.
    @inlinable @inline(__always)
    public static func load32(_ p: UnsafePointer<Float>, end: UnsafePointer<Float>,
                              scratch: UnsafeMutablePointer<Float>) -> (SIMD16<Float>, SIMD16<Float>) {
        var q = p
        if p + 32 > end {
            let n = Swift.max(0, end - p)
            for i in 0..<32 { scratch[i] = i < n ? p[i] : 0 }
            q = UnsafePointer(scratch)
        }
        return (UnsafeRawPointer(q).loadUnaligned(as: SIMD16<Float>.self), UnsafeRawPointer(q + 16).loadUnaligned(as: SIMD16<Float>.self))
    }
}
