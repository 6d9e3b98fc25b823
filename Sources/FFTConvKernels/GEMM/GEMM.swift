/// Packed single-precision GEMM: `C[M×N] = epilogue(A[M×K] · B[K×N])`, blocked for the caches.
///
/// A is packed once (for a layer: at prepare time) into `mr`-row panels; B is packed per call in
/// `kc × nc` blocks of `nr`-column micro-panels. Loops (BLIS order): columns by `nc`, depth by `kc` (pack B),
/// rows by `mc`, then micro-panels of B and of A around the micro-kernel, so that a B micro-panel stays in
/// L1 while A panels stream from L2. Edge tiles go through a scratch tile: no read or write past any matrix.
/// Every element of C is summed in the same order whatever the split into column/row ranges, so threaded
/// callers get identical bits.
public enum GEMM {
    /// Cache blocking, in elements.
    public struct Blocking: Sendable, Hashable {
        /// Depth of a packed block (A panel slice `mr × kc` in L1, B block `kc × nc` in L2).
        public var kc: Int
        /// Rows of A per block (`mc × kc` in L2), a multiple of `mr`.
        public var mc: Int
        /// Columns of B per block, a multiple of `nr`.
        public var nc: Int

        /// Blocking for a micro-kernel on a core with ~32 KiB L1 and ≥ 512 KiB L2.
        public init(for kernel: GEMMMicroKernel) {
            kc = 256
            mc = kernel.mr * Swift.max(1, 96 / kernel.mr)
            nc = kernel.nr * Swift.max(1, 384 / kernel.nr)
        }
    }

    /// Floats needed by `packA` for an `m × k` matrix.
    public static func packedASize(m: Int, k: Int, mr: Int) -> Int { (m + mr - 1) / mr * mr * k }

    /// `into[i] = lower[i] + upper[i]` for `count` floats: two partial sums of the same results added, `lower` first
    /// (a depth split in two; a dilated layer's taps summed), sixteen at a time, a tail one by one. `into` may be `lower`.
    public static func addPartials(_ lower: UnsafePointer<Float>, _ upper: UnsafePointer<Float>, into: UnsafeMutablePointer<Float>,
                                   count: Int) {
        var i = 0
        while i + 16 <= count {
            let a = UnsafeRawPointer(lower + i).loadUnaligned(as: SIMD16<Float>.self)
            let b = UnsafeRawPointer(upper + i).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(into + i).storeBytes(of: a + b, as: SIMD16<Float>.self)
            i += 16
        }
        while i < count { into[i] = lower[i] + upper[i]; i += 1 }
    }

    /// Floats of B-packing scratch one `run` caller needs.
    public static func packedBSize(kernel: GEMMMicroKernel, blocking: Blocking) -> Int {
        blocking.kc * blocking.nc + kernel.mr * kernel.nr
    }

    /// Packs A (element (i, k) at `a[i * rowStride + k * colStride]`; a transposed A is just other strides)
    /// into `mr`-row panels: `packed[(panel * k + kk) * mr + r]`, rows past `m` zero.
    public static func packA(m: Int, k: Int, a: UnsafePointer<Float>, rowStride: Int, colStride: Int,
                             mr: Int, into packed: UnsafeMutablePointer<Float>) {
        let panels = (m + mr - 1) / mr
        for p in 0..<panels {
            let dst = packed + p * k * mr
            for r in 0..<mr {
                let i = p * mr + r
                if i < m {
                    let src = a + i * rowStride
                    for kk in 0..<k { dst[kk * mr + r] = src[kk * colStride] }
                } else {
                    for kk in 0..<k { dst[kk * mr + r] = 0 }
                }
            }
        }
    }

    /// Packs rows `k0 ..< k0+kc`, columns `n0 ..< n0+nc` of B (element (k, j) at `b[k * rowStride + j * colStride]`)
    /// into `nr`-column micro-panels `[panel][kc][nr]`, columns past the block zero.
    public static func packB(k0: Int, kc: Int, n0: Int, nc: Int, b: UnsafePointer<Float>, rowStride: Int, colStride: Int,
                             nr: Int, into packed: UnsafeMutablePointer<Float>) {
        let panels = (nc + nr - 1) / nr
        for p in 0..<panels {
            let dst = packed + p * kc * nr
            let j0 = n0 + p * nr, width = Swift.min(nr, nc - p * nr)
            for kk in 0..<kc {
                let src = b + (k0 + kk) * rowStride + j0 * colStride
                let d = dst + kk * nr
                if colStride == 1 {
                    d.update(from: src, count: width)
                } else {
                    for j in 0..<width { d[j] = src[j * colStride] }
                }
                if width < nr { (d + width).update(repeating: 0, count: nr - width) }
            }
        }
    }

    /// Computes rows `rows` (multiples of `kernel.mr` except at the end) and columns `cols` of C.
    ///
    /// - Parameters:
    ///   - packedA: A packed by `packA` with `kernel.mr` (all of A, all of K).
    ///   - b: B, element (k, j) at `b[k * bRowStride + j * bColStride]`.
    ///   - c: C, element (i, j) at `c[i * ldc + j]`.
    ///   - scratch: `packedBSize(kernel:blocking:)` floats owned by this caller.
    public static func run(kernel: GEMMMicroKernel, blocking: Blocking, m: Int, n: Int, k: Int,
                           packedA: UnsafePointer<Float>, b: UnsafePointer<Float>, bRowStride: Int, bColStride: Int,
                           c: UnsafeMutablePointer<Float>, ldc: Int, epilogue: GEMMEpilogue,
                           rows: Range<Int>, cols: Range<Int>, scratch: UnsafeMutablePointer<Float>) {
        let mr = kernel.mr, nr = kernel.nr
        if rows.isEmpty || cols.isEmpty { return }
        var epilogue = epilogue
        // beta·C₀ enters as C's starting value: prescale by beta / alpha so the final alpha scaling yields beta·C₀.
        if epilogue.beta != 0 && k > 0 && epilogue.alpha != 0 {
            let s = epilogue.beta / epilogue.alpha
            if s != 1 { for i in rows { for j in cols { c[i * ldc + j] *= s } } }
        } else if epilogue.alpha == 0 || k == 0 {
            // No product: C = act(beta·C₀ + bias + residual).
            for i in rows { for j in cols { c[i * ldc + j] = epilogue.beta == 0 ? 0 : epilogue.beta * c[i * ldc + j] } }
            epilogue.alpha = 1
            epilogue.finish(c + rows.lowerBound * ldc + cols.lowerBound, ldc: ldc, rows: rows.count, cols: cols.count,
                            row0: rows.lowerBound, col0: cols.lowerBound)
            return
        }
        let accumulateFirst = epilogue.beta != 0
        let packedB = scratch, tile = scratch + blocking.kc * blocking.nc
        var jc = cols.lowerBound
        while jc < cols.upperBound {
            let nc = Swift.min(blocking.nc, cols.upperBound - jc)
            var pc = 0
            while pc < k {
                let kc = Swift.min(blocking.kc, k - pc)
                let last = pc + kc == k
                let accumulate = pc > 0 || accumulateFirst
                packB(k0: pc, kc: kc, n0: jc, nc: nc, b: b, rowStride: bRowStride, colStride: bColStride, nr: nr, into: packedB)
                var ic = rows.lowerBound
                while ic < rows.upperBound {
                    let mcEnd = Swift.min(ic + blocking.mc, rows.upperBound)
                    var jr = 0
                    while jr < nc {
                        let width = Swift.min(nr, nc - jr)
                        let bp = packedB + (jr / nr) * kc * nr
                        var ir = ic
                        while ir < mcEnd {
                            let height = Swift.min(mr, mcEnd - ir)
                            let ap = packedA + (ir / mr) * k * mr + pc * mr
                            let cp = c + ir * ldc + jc + jr
                            if height == mr && width == nr {
                                kernel.packed(kc, ap, bp, cp, ldc, accumulate)
                            } else {
                                if accumulate {
                                    for r in 0..<height { (tile + r * nr).update(from: cp + r * ldc, count: width) }
                                }
                                kernel.packed(kc, ap, bp, tile, nr, accumulate)
                                for r in 0..<height { (cp + r * ldc).update(from: tile + r * nr, count: width) }
                            }
                            if last {
                                epilogue.finish(cp, ldc: ldc, rows: height, cols: width, row0: ir, col0: jc + jr)
                            }
                            ir += mr
                        }
                        jr += nr
                    }
                    ic = mcEnd
                }
                pc += kc
            }
            jc += nc
        }
    }
}
