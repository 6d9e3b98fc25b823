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

    /// Columns of k per block in `runBatch` where its vectors pass 512 KB (4 KB of each row). `fftconv-bench fc 9216 4096
    /// --batch B` (thirty-fourth session, Zen 5, median ms, 2 rounds alternated, without → with): B = 32 29.0–33.5 →
    /// 27.4–30.7 at 1 thread, 16.6–25.5 → 12.6–24.7 at 2; B = 128 116–125 → 75–97, 57.5–58.1 → 45.5–45.9; at B = 8
    /// (295 KB of vectors, no blocks now) blocks were 5% slower.
    static let kBlock = 1024

    /// `run` for `count` vectors at once: `y_v = epilogue(W · x_v)` for `v` in `0..<count`, vector `v` of x at
    /// `x + v * ldx` and of y (and of the epilogue's residual) at `y + v * ldy`, rows `rows` of each.
    ///
    /// For batches of a few images: W streams from memory once per call — a block of four rows is read for the first
    /// four vectors and from the caches for the next ones — where a product tiled over the vectors read it once per tile. Each
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
        let kv = k / 16 * 16, blockK = count * k * 4 > 512 << 10 ? Self.kBlock : Swift.max(kv, 16)
        /// Row `i`'s sums with vectors `v ..< v + 4`.
        @inline(__always) func finishRow(_ i: Int, _ v: Int, _ s0: V, _ s1: V, _ s2: V, _ s3: V) {
            finish(v, i, total(s0, i, v, from: kv)); finish(v + 1, i, total(s1, i, v + 1, from: kv))
            finish(v + 2, i, total(s2, i, v + 2, from: kv)); finish(v + 3, i, total(s3, i, v + 3, from: kv))
        }
        // Vectors four at a time; where X passes 512 KB, k in blocks of `kBlock`: a block's four weight rows (16 KB)
        // stay in L1 while every group of vectors passes, and the vectors' block (128 of them: 512 KB) in L2 — without
        // the blocks the whole of X (32 × 36 KB at AlexNet's fc6) was read back from L3 for each row block. The sums
        // are kept between blocks, each one's terms in the same order, in one buffer for the call.
        let groups = count / 4
        var i = rows.lowerBound
        withUnsafeTemporaryAllocation(of: V.self, capacity: Swift.max(1, 16 * groups)) { buffer in
            guard let sums = buffer.baseAddress else { return }
            sums.initialize(repeating: V(), count: buffer.count)
            while i + 4 <= rows.upperBound {
                let w0 = w + i * ldw, w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw
                sums.update(repeating: V(), count: 16 * groups)
                var kb = 0
                while kb < kv && groups > 0 {
                    let end = Swift.min(kv, kb + blockK)
                    for g in 0..<groups {
                        let acc = sums + 16 * g
                        let x0 = x + 4 * g * ldx, x1 = x0 + ldx, x2 = x1 + ldx, x3 = x2 + ldx
                        var a00 = acc[0], a01 = acc[1], a02 = acc[2], a03 = acc[3], a10 = acc[4], a11 = acc[5], a12 = acc[6]
                        var a13 = acc[7], a20 = acc[8], a21 = acc[9], a22 = acc[10], a23 = acc[11], a30 = acc[12]
                        var a31 = acc[13], a32 = acc[14], a33 = acc[15]
                        var j = kb
                        while j < end {
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
                        acc[0] = a00; acc[1] = a01; acc[2] = a02; acc[3] = a03; acc[4] = a10; acc[5] = a11; acc[6] = a12
                        acc[7] = a13; acc[8] = a20; acc[9] = a21; acc[10] = a22; acc[11] = a23; acc[12] = a30
                        acc[13] = a31; acc[14] = a32; acc[15] = a33
                    }
                    kb = end
                }
                for g in 0..<groups {
                    let acc = sums + 16 * g, v = 4 * g
                    finishRow(i, v, acc[0], acc[1], acc[2], acc[3]); finishRow(i + 1, v, acc[4], acc[5], acc[6], acc[7])
                    finishRow(i + 2, v, acc[8], acc[9], acc[10], acc[11]); finishRow(i + 3, v, acc[12], acc[13], acc[14], acc[15])
                }
                var v = 4 * groups
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
