import CFFTConvShim

/// Matrix-vector product for fully-connected layers at batch 1: `y = epilogue(W · x)`, W row-major `m × k`.
///
/// Limited by memory bandwidth, not arithmetic: W is streamed exactly once, four rows at a time so each load
/// of `x` serves four rows, sixteen lanes per load. Each row's sum is formed in a fixed order (lane-wise
/// partial sums over k, then the lanes added pairwise), whatever rows a caller is given.
public enum GEMV {
    /// Computes `y[i]` for `i` in `rows`; with `prefetchRows > 0`, each group of four rows first asks (into L2) for
    /// the lines of the rows that many ahead, column by column as it reads its own — for weights that come from
    /// memory (a hint only: the sums are the same).
    public static func run(m: Int, k: Int, w: UnsafePointer<Float>, ldw: Int, x: UnsafePointer<Float>,
                           y: UnsafeMutablePointer<Float>, epilogue: GEMMEpilogue, rows: Range<Int>, prefetchRows: Int = 0) {
        typealias V = SIMD16<Float>
        @inline(__always) func ld(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        @inline(__always) func finish(_ i: Int, _ v: Float) {
            var s = v * epilogue.alpha
            if epilogue.beta != 0 { s += epilogue.beta * y[i] }
            if let b = epilogue.bias { s += b[i] }
            if let r = epilogue.residual { s += r[i * epilogue.residualStride] }
            y[i] = epilogue.activation.activate(s)
        }
        let kv = k / 16 * 16
        var i = rows.lowerBound
        while i + 4 <= rows.upperBound {
            let w0 = w + i * ldw, w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw
            var a0 = V(), a1 = V(), a2 = V(), a3 = V()
            var j = 0
            let ahead = i + 4 + prefetchRows <= rows.upperBound ? prefetchRows * ldw : 0
            while j < kv {
                if ahead > 0 {
                    fftconv_prefetch_l2(w0 + j + ahead); fftconv_prefetch_l2(w1 + j + ahead)
                    fftconv_prefetch_l2(w2 + j + ahead); fftconv_prefetch_l2(w3 + j + ahead)
                }
                let xv = ld(x + j)
                a0 = a0.addingProduct(ld(w0 + j), xv)
                a1 = a1.addingProduct(ld(w1 + j), xv)
                a2 = a2.addingProduct(ld(w2 + j), xv)
                a3 = a3.addingProduct(ld(w3 + j), xv)
                j += 16
            }
            var s0 = a0.sum(), s1 = a1.sum(), s2 = a2.sum(), s3 = a3.sum()
            while j < k {
                s0 = s0.addingProduct(w0[j], x[j]); s1 = s1.addingProduct(w1[j], x[j])
                s2 = s2.addingProduct(w2[j], x[j]); s3 = s3.addingProduct(w3[j], x[j])
                j += 1
            }
            finish(i, s0); finish(i + 1, s1); finish(i + 2, s2); finish(i + 3, s3)
            i += 4
        }
        while i < rows.upperBound {
            let w0 = w + i * ldw
            var a0 = V()
            var j = 0
            while j < kv { a0 = a0.addingProduct(ld(w0 + j), ld(x + j)); j += 16 }
            var s0 = a0.sum()
            while j < k { s0 = s0.addingProduct(w0[j], x[j]); j += 1 }
            finish(i, s0)
            i += 1
        }
    }
}
