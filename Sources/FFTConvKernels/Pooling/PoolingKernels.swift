/// Max pooling and plane sums over raw NCHW planes, vectorised for the shapes CNNs use (3x3 and 2x2 windows
/// at stride 1 and 2). Max pooling is separable: the window's rows are reduced into one padded row, then each
/// output takes the maximum of its columns in that row — every step whole vectors, borders included, because
/// the row's padding holds −∞ (ONNX pads and ceil-mode columns never win a maximum).
public enum PoolingKernels {
    /// `out[x] = max_r rows[r · rowStride + x]` for `x` in `0..<width`, `r` in `0..<count` (`count ≥ 1`). A NaN
    /// in a later row does not replace an earlier value (the comparison keeps the current maximum).
    public static func verticalMax(rows: UnsafePointer<Float>, rowStride: Int, count: Int, width: Int,
                                   into out: UnsafeMutablePointer<Float>) {
        typealias V = SIMD16<Float>
        var x = 0
        while x + 16 <= width {
            var m = UnsafeRawPointer(rows + x).loadUnaligned(as: V.self)
            var r = 1
            while r < count {
                let v = UnsafeRawPointer(rows + r * rowStride + x).loadUnaligned(as: V.self)
                m.replace(with: v, where: v .> m)
                r += 1
            }
            UnsafeMutableRawPointer(out + x).storeBytes(of: m, as: V.self)
            x += 16
        }
        while x < width {
            var m = rows[x]
            for r in 1..<Swift.max(count, 1) { let v = rows[r * rowStride + x]; if v > m { m = v } }
            out[x] = m
            x += 1
        }
    }

    /// Floats a padded row needs for `horizontalMax` with these parameters (padding, input and the slack the
    /// last vector step reads).
    public static func rowLength(padLeft: Int, width: Int, outputs: Int, stride: Int, kernel: Int) -> Int {
        let steps = (outputs + 7) / 8 * 8
        return Swift.max(padLeft + width, steps * stride + kernel + 16) + 16
    }

    /// `out[j] = max_{k < kernel} row[j · stride + k]` for `j` in `0..<outputs`, `stride` 1 or 2, where `row`
    /// holds `rowLength(…)` floats (the padded input row, −∞ outside the input). Eight outputs per step.
    public static func horizontalMax(row: UnsafePointer<Float>, stride: Int, kernel: Int, outputs: Int,
                                     into out: UnsafeMutablePointer<Float>) {
        typealias V = SIMD8<Float>
        var j = 0
        while j < outputs {
            let base = row + j * stride
            var m = V(repeating: -.infinity)
            for k in 0..<kernel {
                let v = stride == 1 ? UnsafeRawPointer(base + k).loadUnaligned(as: V.self)
                    : UnsafeRawPointer(base + k).loadUnaligned(as: SIMD16<Float>.self).evenHalf
                m.replace(with: v, where: v .> m)
            }
            if j + 8 <= outputs {
                UnsafeMutableRawPointer(out + j).storeBytes(of: m, as: V.self)
            } else {
                for l in 0..<(outputs - j) { out[j + l] = m[l] }
            }
            j += 8
        }
    }

    /// `Σ plane[i]` for `i` in `0..<count`: sixteen float partial sums, added in double at the end.
    public static func sum(_ plane: UnsafePointer<Float>, count: Int) -> Double {
        typealias V = SIMD16<Float>
        var a = V(), b = V()
        var i = 0
        while i + 32 <= count {
            a += UnsafeRawPointer(plane + i).loadUnaligned(as: V.self)
            b += UnsafeRawPointer(plane + i + 16).loadUnaligned(as: V.self)
            i += 32
        }
        var s: Double = 0
        for l in 0..<16 { s += Double(a[l]) + Double(b[l]) }
        while i < count { s += Double(plane[i]); i += 1 }
        return s
    }
}
