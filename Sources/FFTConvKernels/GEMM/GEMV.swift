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

    /// `run` for `count` vectors at once: `y_v = epilogue(W · x_v)` for `v` in `0..<count`, vector `v` of x at
    /// `x + v * ldx` and of y (and of the epilogue's residual) at `y + v * ldy`, rows `rows` of each.
    ///
    /// For batches of a few images: W streams from memory once per call — a block of four rows is read for the first
    /// four vectors and from L2 for the next ones — where a product tiled over the vectors read it once per tile. Each
    /// row block computes four rows × four vectors at a time (sixteen sums in registers, eight loads per sixteen FMAs).
    /// Every sum is formed in `run`'s order (lane-wise over k, the lanes added, then the tail), so each vector's result
    /// is the bits `run` gives for it alone.
    public static func runBatch(m: Int, k: Int, w: UnsafePointer<Float>, ldw: Int, x: UnsafePointer<Float>, ldx: Int, count: Int,
                                y: UnsafeMutablePointer<Float>, ldy: Int, epilogue: GEMMEpilogue, rows: Range<Int>) {
        typealias V = SIMD16<Float>
        @inline(__always) func ld(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        @inline(__always) func finish(_ v: Int, _ i: Int, _ sum: Float) {
            let at = v * ldy + i
            var s = sum * epilogue.alpha
            if epilogue.beta != 0 { s += epilogue.beta * y[at] }
            if let b = epilogue.bias { s += b[i] }
            if let r = epilogue.residual { s += r[v * ldy + i * epilogue.residualStride] }
            y[at] = epilogue.activation.activate(s)
        }
        /// Row `i`'s sum with vector `v`, from its lane-wise partial sums over the first `kv` columns.
        @inline(__always) func total(_ a: V, _ i: Int, _ v: Int, from kv: Int) -> Float {
            var s = a.sum()
            let wi = w + i * ldw, xv = x + v * ldx
            var j = kv
            while j < k { s = s.addingProduct(wi[j], xv[j]); j += 1 }
            return s
        }
        let kv = k / 16 * 16
        /// Row `i`'s sums with vectors `v ..< v + 4`.
        @inline(__always) func finishRow(_ i: Int, _ v: Int, _ s0: V, _ s1: V, _ s2: V, _ s3: V) {
            finish(v, i, total(s0, i, v, from: kv)); finish(v + 1, i, total(s1, i, v + 1, from: kv))
            finish(v + 2, i, total(s2, i, v + 2, from: kv)); finish(v + 3, i, total(s3, i, v + 3, from: kv))
        }
        var i = rows.lowerBound
        while i + 4 <= rows.upperBound {
            let w0 = w + i * ldw, w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw
            var v = 0
            while v + 4 <= count {
                let x0 = x + v * ldx, x1 = x0 + ldx, x2 = x1 + ldx, x3 = x2 + ldx
                var a00 = V(), a01 = V(), a02 = V(), a03 = V(), a10 = V(), a11 = V(), a12 = V(), a13 = V()
                var a20 = V(), a21 = V(), a22 = V(), a23 = V(), a30 = V(), a31 = V(), a32 = V(), a33 = V()
                var j = 0
                while j < kv {
                    let b0 = ld(x0 + j), b1 = ld(x1 + j), b2 = ld(x2 + j), b3 = ld(x3 + j)
                    let r0 = ld(w0 + j)
                    a00 = a00.addingProduct(r0, b0); a01 = a01.addingProduct(r0, b1)
                    a02 = a02.addingProduct(r0, b2); a03 = a03.addingProduct(r0, b3)
                    let r1 = ld(w1 + j)
                    a10 = a10.addingProduct(r1, b0); a11 = a11.addingProduct(r1, b1)
                    a12 = a12.addingProduct(r1, b2); a13 = a13.addingProduct(r1, b3)
                    let r2 = ld(w2 + j)
                    a20 = a20.addingProduct(r2, b0); a21 = a21.addingProduct(r2, b1)
                    a22 = a22.addingProduct(r2, b2); a23 = a23.addingProduct(r2, b3)
                    let r3 = ld(w3 + j)
                    a30 = a30.addingProduct(r3, b0); a31 = a31.addingProduct(r3, b1)
                    a32 = a32.addingProduct(r3, b2); a33 = a33.addingProduct(r3, b3)
                    j += 16
                }
                // (Row by row, not through an array of the sums: a literal would be allocated per block.)
                finishRow(i, v, a00, a01, a02, a03); finishRow(i + 1, v, a10, a11, a12, a13)
                finishRow(i + 2, v, a20, a21, a22, a23); finishRow(i + 3, v, a30, a31, a32, a33)
                v += 4
            }
            while v < count {
                let xv = x + v * ldx
                var a0 = V(), a1 = V(), a2 = V(), a3 = V()
                var j = 0
                while j < kv {
                    let b = ld(xv + j)
                    a0 = a0.addingProduct(ld(w0 + j), b); a1 = a1.addingProduct(ld(w1 + j), b)
                    a2 = a2.addingProduct(ld(w2 + j), b); a3 = a3.addingProduct(ld(w3 + j), b)
                    j += 16
                }
                finish(v, i, total(a0, i, v, from: kv)); finish(v, i + 1, total(a1, i + 1, v, from: kv))
                finish(v, i + 2, total(a2, i + 2, v, from: kv)); finish(v, i + 3, total(a3, i + 3, v, from: kv))
                v += 1
            }
            i += 4
        }
        while i < rows.upperBound {
            let w0 = w + i * ldw
            for v in 0..<count {
                let xv = x + v * ldx
                var a0 = V()
                var j = 0
                while j < kv { a0 = a0.addingProduct(ld(w0 + j), ld(xv + j)); j += 16 }
                finish(v, i, total(a0, i, v, from: kv))
            }
            i += 1
        }
    }
}
