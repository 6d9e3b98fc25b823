import CFFTConvShim

/// Max pooling and plane sums over raw NCHW planes, vectorised for the shapes CNNs use (3x3 and 2x2 windows
/// at stride 1 and 2). Max pooling is separable: the window's rows are reduced into one padded row, then each
/// output takes the maximum of its columns in that row — every step whole vectors, borders included, because
/// the row's padding holds −∞ (ONNX pads and ceil-mode columns never win a maximum). With `prefetch` the rows
/// a few kilobytes ahead are asked for (inputs that have left the caches: `prefetchRows`).
public enum PoolingKernels {
    /// `out[x] = max_r rows[r · rowStride + x]` for `x` in `0..<width`, `r` in `0..<count` (`count ≥ 1`). A NaN
    /// in a later row does not replace an earlier value (the comparison keeps the current maximum).
    public static func verticalMax(rows: UnsafePointer<Float>, rowStride: Int, count: Int, width: Int,
                                   into out: UnsafeMutablePointer<Float>) {
        typealias V = SIMD16<Float>
        if count == 3 && width >= 16 {
            // 3-row windows (3x3 pooling): the three loads of a step are independent, no row loop.
            let r1 = rows + rowStride, r2 = rows + 2 &* rowStride
            @inline(__always) func step(_ x: Int) {
                var m = UnsafeRawPointer(rows + x).loadUnaligned(as: V.self)
                let b = UnsafeRawPointer(r1 + x).loadUnaligned(as: V.self), c = UnsafeRawPointer(r2 + x).loadUnaligned(as: V.self)
                m.replace(with: b, where: b .> m)
                m.replace(with: c, where: c .> m)
                UnsafeMutableRawPointer(out + x).storeBytes(of: m, as: V.self)
            }
            var x = 0
            while x &+ 16 <= width { step(x); x &+= 16 }
            if x < width { step(width &- 16) }  // the last sixteen again, overlapping
            return
        }
        @inline(__always) func step(_ x: Int) {
            var m = UnsafeRawPointer(rows + x).loadUnaligned(as: V.self)
            var r = 1
            while r < count {
                let v = UnsafeRawPointer(rows + r * rowStride + x).loadUnaligned(as: V.self)
                m.replace(with: v, where: v .> m)
                r += 1
            }
            UnsafeMutableRawPointer(out + x).storeBytes(of: m, as: V.self)
        }
        var x = 0
        while x + 16 <= width { step(x); x += 16 }
        if x < width && width >= 16 {  // the last sixteen again, overlapping: no scalar tail
            step(width - 16)
            return
        }
        while x < width {
            var m = rows[x]
            for r in 1..<Swift.max(count, 1) { let v = rows[r * rowStride + x]; if v > m { m = v } }
            out[x] = m
            x += 1
        }
    }

    /// Max pooling of one plane with undilated rows at column stride 1 or 2: for each output row `i`, the input
    /// rows `windows[2i] ..< windows[2i] + windows[2i + 1]` (stride `rowStride`; none: count 0, the row is −∞)
    /// are reduced into `row + padLeft` (`rowLength(…)` floats, −∞ outside the input), then `horizontalMax` writes
    /// output row `i` at `out + i · outputs`. One call per plane instead of two per row (measured no faster on
    /// 13×13 outputs; the row loop simply belongs with the row kernels). 3- and 2-wide windows at stride 2, and 3x3
    /// at stride 1 with "same" padding, are computed in registers instead (`maxPlaneStride2`, `maxPlane3x3s1`), their loads allowed up
    /// to `limit` (the end of the tensor the plane is in: a plane's last rows may read into the next plane; nil: the
    /// plane's own end).
    public static func maxPlane(_ src: UnsafePointer<Float>, width: Int, rowStride: Int, windows: UnsafePointer<Int>,
                                outputRows: Int, row: UnsafeMutablePointer<Float>, padLeft: Int, stride: Int, kernel: Int,
                                outputs: Int, into out: UnsafeMutablePointer<Float>, prefetch: Bool = false,
                                limit: UnsafePointer<Float>? = nil) {
        let ahead = prefetch ? prefetchRows(width: width) : 0
        // Stride 2: the last window's last column at most one past the row (ceil mode; −∞ there).
        let registers = stride == 2 && (kernel == 3 && (padLeft == 0 || padLeft == 1) || kernel == 2 && padLeft == 0)
                && 2 * (outputs - 1) + kernel - 1 - padLeft <= width
            || stride == 1 && kernel == 3 && padLeft == 1 && outputs == width
        // (Windows of at most three rows: the register paths read three.)
        if registers && outputRows > 0 && (0..<outputRows).allSatisfy({ windows[2 * $0 + 1] > 0 && windows[2 * $0 + 1] <= 3 }) {
            // A window ends no earlier than the ones before it: the last one ends the plane's reads.
            let last = 2 * (outputRows - 1)
            let end = limit ?? src + windows[last] * width + (windows[last + 1] - 1) * rowStride + width
            if stride == 2 {
                maxPlaneStride2(src, width: width, rowStride: rowStride, windows: windows, outputRows: outputRows, scratch: row,
                                kernel: kernel, padLeft: padLeft, outputs: outputs, into: out, ahead: ahead, end: end)
            } else {
                maxPlane3x3s1(src, width: width, rowStride: rowStride, windows: windows, outputRows: outputRows, scratch: row,
                              into: out, ahead: ahead, end: end)
            }
            return
        }
        for i in 0..<outputRows {
            let start = windows[2 * i], count = windows[2 * i + 1]
            if ahead > 0 { Prefetch.toL2(src + (start + ahead) * width, bytes: count * rowStride * 4) }
            if count == 0 {
                (row + padLeft).update(repeating: -.infinity, count: width)
            } else {
                verticalMax(rows: src + start * width, rowStride: rowStride, count: count, width: width, into: row + padLeft)
            }
            horizontalMax(row: row, stride: stride, kernel: kernel, outputs: outputs, into: out + i * outputs)
        }
    }

    /// `maxPlane` for stride-2 windows of 3 columns (no left padding, or one column of it — ResNet's pool) or 2 (no
    /// padding), whose last column is at most one past the row (ceil mode), on every build: each 16 outputs from two
    /// 16-float vectors per input row (two registers each on AVX2, four on NEON), the rows' maximum kept in registers,
    /// then the window's columns by permutes (even, odd and next even; with the padding, previous odd, even and odd;
    /// 2 wide, even and odd) — no reduced row written and read back. (Reading it back 8 bytes off the stores that wrote
    /// it stalled store forwarding: 27% of a 256×27² pool's time on that one load in `perf`.) The column after a
    /// step's 32 (no padding) is lane 0 of the next step's rows' maximum, computed one step ahead; the column before
    /// them (padding) is the last odd lane of the step before — no scalar loads; columns past the row are −∞. A window
    /// of fewer rows than 3 (padding, ceil mode, or 2 rows) reads its last row again, which leaves each maximum as it
    /// is. Same order of comparisons as `verticalMax` and `horizontalMax`, so the same bits. Rows whose reads could
    /// pass `end` load through `scratch` (32 floats); the others load unchecked. Each window's rows are asked for
    /// `ahead` rows early (0: not at all; `prefetchRows`). (Before the thirty-first session only AVX-512 builds took it;
    /// on an AVX2 build (`-march=x86-64-v3`, Zen 5) it is 2.0–2.3× faster than `verticalMax` + `horizontalMax`:
    /// `pool_times.sh`, minima in µs, 22.0 → 11.1 for 32 × 55², 86.8 → 40.7 for 128 × 55², 52.7 → 22.7 for 192 × 27²,
    /// 112 → 62 for ResNet's 64 × 112². Not measured on NEON.)
    static func maxPlaneStride2(_ src: UnsafePointer<Float>, width: Int, rowStride: Int, windows: UnsafePointer<Int>,
                                outputRows: Int, scratch: UnsafeMutablePointer<Float>, kernel: Int, padLeft: Int, outputs: Int,
                                into out: UnsafeMutablePointer<Float>, ahead: Int, end: UnsafePointer<Float>) {
        guard outputRows > 0, outputs > 0 else { return }
        let steps = (outputs &+ 15) / 16, planeOutputs = outputRows &* outputs
        // 3 wide without padding, the last output's third column lies past the last step's 32 when the row's outputs
        // fill that step: the step after it is read then only.
        let pastLast = kernel == 3 && padLeft == 0 && outputs % 16 == 0
        // Floats read from a window's row start.
        let reach = 32 &* (pastLast ? steps &+ 1 : steps)
        for i in 0..<outputRows {
            let (p0, p1, p2, wholeStores) = windowRows(i, src, width: width, rowStride: rowStride, windows: windows,
                                                       ahead: ahead, outputs: outputs, planeOutputs: planeOutputs)
            let dst = out + i &* outputs
            if p2 + reach <= end {
                maxRowStride2(p0, p1, p2, steps: steps, width: width, kernel: kernel, padLeft: padLeft, pastLast: pastLast,
                              outputs: outputs, into: dst, wholeStores: wholeStores, checked: false, end: end, scratch: scratch)
            } else {
                maxRowStride2Checked(p0, p1, p2, steps: steps, width: width, kernel: kernel, padLeft: padLeft,
                                     pastLast: pastLast, outputs: outputs, into: dst, wholeStores: wholeStores, end: end,
                                     scratch: scratch)
            }
        }
    }

    /// Output row `i`'s window rows for the max pools in registers — a window of fewer than three rows reads its last
    /// row again, which leaves each maximum as it is — asked for `ahead` rows early (0: not at all), and whether the
    /// row's 16-float stores may run past its `outputs`: lanes past them land on the next output rows' first ones,
    /// computed after; only a plane's last rows must not store past its outputs.
    @inline(__always)
    static func windowRows(_ i: Int, _ src: UnsafePointer<Float>, width: Int, rowStride: Int, windows: UnsafePointer<Int>,
                           ahead: Int, outputs: Int, planeOutputs: Int)
    -> (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, wholeStores: Bool) {
        let start = windows[2 &* i], count = windows[2 &* i &+ 1]
        let p0 = src + start &* width
        if ahead > 0 { Prefetch.toL2(p0 + ahead &* width, bytes: count &* rowStride &* 4) }
        return (p0, p0 + Swift.min(1, count &- 1) &* rowStride, p0 + Swift.min(2, count &- 1) &* rowStride,
                (i &+ 1) &* outputs &+ 15 <= planeOutputs)
    }

    /// One output row of `maxPlaneStride2` from its window's rows `p0`, `p1`, `p2`, its loads going through `scratch`
    /// where they could pass `end` (the plane's last rows; out of line: the common rows keep their registers).
    @inline(never)
    static func maxRowStride2Checked(_ p0: UnsafePointer<Float>, _ p1: UnsafePointer<Float>, _ p2: UnsafePointer<Float>,
                                     steps: Int, width: Int, kernel: Int, padLeft: Int, pastLast: Bool, outputs: Int,
                                     into dst: UnsafeMutablePointer<Float>, wholeStores: Bool, end: UnsafePointer<Float>,
                                     scratch: UnsafeMutablePointer<Float>) {
        maxRowStride2(p0, p1, p2, steps: steps, width: width, kernel: kernel, padLeft: padLeft, pastLast: pastLast,
                      outputs: outputs, into: dst, wholeStores: wholeStores, checked: true, end: end, scratch: scratch)
    }

    /// One output row of `maxPlaneStride2`: `steps` steps of 16 outputs, each from the rows' maximum over 32
    /// columns (and, `pastLast`, the first column after the last step's), loaded through `scratch` past `end` when
    /// `checked`.
    @inline(__always)
    static func maxRowStride2(_ p0: UnsafePointer<Float>, _ p1: UnsafePointer<Float>, _ p2: UnsafePointer<Float>,
                              steps: Int, width: Int, kernel: Int, padLeft: Int, pastLast: Bool, outputs: Int,
                              into dst: UnsafeMutablePointer<Float>, wholeStores: Bool, checked: Bool,
                              end: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        typealias V = SIMD16<Float>
        @inline(__always) func store(_ m: V, _ j0: Int) { storeStep(m, into: dst, at: j0, outputs: outputs, whole: wholeStores) }
        @inline(__always) func rows(_ c: Int) -> (V, V) {
            rowsMax32(p0, p1, p2, c, width: width, checked: checked, end: end, scratch: scratch)
        }
        var (lo, hi) = rows(0)
        if kernel == 2 {
            // Columns 2j, 2j + 1, from −∞ as `horizontalMax` compares them.
            let none = V(repeating: -.infinity)
            for k in 0..<steps {
                store(fftconv_later_max16(fftconv_later_max16(none, fftconv_even32(lo, hi)), fftconv_odd32(lo, hi)), 16 &* k)
                if k &+ 1 < steps { (lo, hi) = rows(32 &* k &+ 32) }
            }
        } else if padLeft == 0 {
            // Columns 2j, 2j + 1, 2j + 2: even, odd, and the even ones one column on — lane 0 of the next step's
            // maximum. After the last step that lane's output lies in the row only when `pastLast`; otherwise it is
            // dropped or overwritten, and takes any value.
            var even = fftconv_even32(lo, hi), odd = fftconv_odd32(lo, hi)
            for k in 0..<steps {
                let (nextLo, nextHi) = k &+ 1 < steps || pastLast ? rows(32 &* k &+ 32) : (lo, hi)
                let nextEven = fftconv_even32(nextLo, nextHi)
                store(max3(even, odd, fftconv_shift_out16(even, nextEven)), 16 &* k)
                even = nextEven
                odd = fftconv_odd32(nextLo, nextHi)
            }
        } else {
            // Columns 2j − 1, 2j, 2j + 1: the odd ones one column back (−∞ before the row), even, odd.
            var before = V(repeating: -.infinity)
            for k in 0..<steps {
                let odd = fftconv_odd32(lo, hi)
                store(max3(fftconv_shift_in16(before, odd), fftconv_even32(lo, hi), odd), 16 &* k)
                before = odd
                if k &+ 1 < steps { (lo, hi) = rows(32 &* k &+ 32) }
            }
        }
    }

    /// `maxPlane` for 3x3 stride-1 windows with "same" padding (one column each side, `width` outputs a row:
    /// GoogLeNet's and Inception's branch pools) in registers, as `maxPlaneStride2`: each 16 outputs from one 16-float
    /// vector per input row, the rows' maximum `v`, then its left and right neighbours by permutes — the last lane of
    /// the step before and lane 0 of the step after (computed one step ahead), −∞ past either end of the row.
    /// The comparisons run from −∞ over the columns in order, as `horizontalMax` does, so the same bits. Rows whose
    /// loads could pass `end` load through `scratch`.
    static func maxPlane3x3s1(_ src: UnsafePointer<Float>, width: Int, rowStride: Int, windows: UnsafePointer<Int>,
                              outputRows: Int, scratch: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>,
                              ahead: Int, end: UnsafePointer<Float>) {
        guard outputRows > 0, width > 0 else { return }
        let steps = (width &+ 15) / 16, planeOutputs = outputRows &* width
        for i in 0..<outputRows {
            let (p0, p1, p2, wholeStores) = windowRows(i, src, width: width, rowStride: rowStride, windows: windows,
                                                       ahead: ahead, outputs: width, planeOutputs: planeOutputs)
            if p2 + 16 &* steps <= end {
                maxRow3x3s1(p0, p1, p2, steps: steps, width: width, into: out + i &* width, wholeStores: wholeStores,
                            checked: false, end: end, scratch: scratch)
            } else {
                maxRow3x3s1Checked(p0, p1, p2, steps: steps, width: width, into: out + i &* width, wholeStores: wholeStores,
                                   end: end, scratch: scratch)
            }
        }
    }

    /// `maxRow3x3s1` with its loads through `scratch` (out of line: the plane's last rows).
    @inline(never)
    static func maxRow3x3s1Checked(_ p0: UnsafePointer<Float>, _ p1: UnsafePointer<Float>, _ p2: UnsafePointer<Float>,
                                   steps: Int, width: Int, into dst: UnsafeMutablePointer<Float>, wholeStores: Bool,
                                   end: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        maxRow3x3s1(p0, p1, p2, steps: steps, width: width, into: dst, wholeStores: wholeStores, checked: true, end: end,
                    scratch: scratch)
    }

    /// One output row of `maxPlane3x3s1`.
    @inline(__always)
    static func maxRow3x3s1(_ p0: UnsafePointer<Float>, _ p1: UnsafePointer<Float>, _ p2: UnsafePointer<Float>,
                            steps: Int, width: Int, into dst: UnsafeMutablePointer<Float>, wholeStores: Bool, checked: Bool,
                            end: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        typealias V = SIMD16<Float>
        let none = V(repeating: -.infinity)
        // The rows' maximum over columns 16k ..< 16k + 16, −∞ past the row's end.
        @inline(__always) func column(_ k: Int) -> V {
            rowsMax32(p0, p1, p2, 16 &* k, width: width, checked: checked, end: end, scratch: scratch, halves: 1).0
        }
        var before = none, v = column(0)
        for k in 0..<steps {
            let next = k &+ 1 < steps ? column(k &+ 1) : none
            let m = fftconv_later_max16(max3(none, fftconv_shift_in16(before, v), v), fftconv_shift_out16(v, next))
            let j0 = 16 &* k
            storeStep(m, into: dst, at: j0, outputs: width, whole: wholeStores)
            before = v
            v = next
        }
    }

    /// Whether `averagePlane` computes these windows: 2x2 at stride 2 without padding (DenseNet's transitions; ceil
    /// mode's column past the row allowed) or 3x3 at stride 1 with one column of padding each side (Inception's branch
    /// pools), every output row's window 1 to `kernel` rows.
    public static func averagesInRegisters(width: Int, windows: UnsafePointer<Int>, outputRows: Int, kernel: Int, stride: Int,
                                           padLeft: Int, outputs: Int) -> Bool {
        let pairs = stride == 2 && kernel == 2 && padLeft == 0 && 2 * outputs - 1 <= width
        let same = stride == 1 && kernel == 3 && padLeft == 1 && outputs == width
        return (pairs || same) && outputRows > 0 && outputs > 0
            && (0..<outputRows).allSatisfy { windows[2 * $0 + 1] > 0 && windows[2 * $0 + 1] <= kernel }
    }

    /// Average pooling of one plane in registers, for the windows `averagesInRegisters` accepts. Output row `i` sums
    /// the input rows `windows[2i] ..< windows[2i] + windows[2i + 1]` (`rowStride` apart), each column's sum
    /// `(r0 + r1) + r2`, then the window's columns in order (from zero) and divides by `rowCounts[i] · columnCounts[j]`
    /// — the generic pass's order and divisors, so the same bits. `columnCounts` holds ⌈outputs / 16⌉ · 16 floats (any
    /// nonzero value past the outputs). Loads run up to `limit`; rows whose loads could pass it go through `scratch`
    /// (32 floats).
    public static func averagePlane(_ src: UnsafePointer<Float>, width: Int, rowStride: Int, windows: UnsafePointer<Int>,
                                    outputRows: Int, kernel: Int, outputs: Int, rowCounts: UnsafePointer<Float>,
                                    columnCounts: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                                    into out: UnsafeMutablePointer<Float>, limit: UnsafePointer<Float>) {
        typealias V = SIMD16<Float>
        let pairs = kernel == 2
        // Floats each step reads from a row: 32 (pairs) or 16.
        let steps = (outputs &+ 15) / 16, reach = (pairs ? 32 : 16) &* steps, planeOutputs = outputRows &* outputs
        let zero = V()
        for i in 0..<outputRows {
            let count = windows[2 &* i &+ 1], p0 = src + windows[2 &* i] &* width
            let p1 = p0 + rowStride, p2 = p1 + rowStride
            let checked = p0 + (count &- 1) &* rowStride + reach > limit
            // The rows' sums over columns c ..< c + 16, zero past the row's end.
            @inline(__always) func rows16(_ c: Int) -> V {
                @inline(__always) func ld(_ p: UnsafePointer<Float>) -> V {
                    checked ? Copy.load32(p + c, end: limit, scratch: scratch).0 : UnsafeRawPointer(p + c).loadUnaligned(as: V.self)
                }
                var v = ld(p0)
                if count > 1 { v += ld(p1) }
                if count > 2 { v += ld(p2) }
                return c &+ 16 > width ? fftconv_fill_from16(v, width &- c, 0) : v
            }
            let dst = out + i &* outputs, rowCount = V(repeating: rowCounts[i])
            let whole = (i &+ 1) &* outputs &+ 15 <= planeOutputs
            var before = zero, v = pairs ? zero : rows16(0)
            for k in 0..<steps {
                let j0 = 16 &* k
                let sum: V
                if pairs {
                    let lo = rows16(32 &* k), hi = rows16(32 &* k &+ 16)
                    sum = fftconv_even32(lo, hi) + fftconv_odd32(lo, hi)
                } else {
                    let next = k &+ 1 < steps ? rows16(16 &* (k &+ 1)) : zero
                    sum = (fftconv_shift_in16(before, v) + v) + fftconv_shift_out16(v, next)
                    before = v
                    v = next
                }
                let m = sum / (rowCount * UnsafeRawPointer(columnCounts + j0).loadUnaligned(as: V.self))
                storeStep(m, into: dst, at: j0, outputs: outputs, whole: whole)
            }
        }
    }

    /// A step's 16 outputs `m` to `row + j0`, whole where `whole` (lanes past the row's `outputs` land on the next
    /// output rows, computed after) or where they fit in the row, else only those in it.
    @inline(__always)
    static func storeStep(_ m: SIMD16<Float>, into row: UnsafeMutablePointer<Float>, at j0: Int, outputs: Int, whole: Bool) {
        if whole || j0 &+ 16 <= outputs {
            UnsafeMutableRawPointer(row + j0).storeBytes(of: m, as: SIMD16<Float>.self)
        } else {
            storeFirst(outputs &- j0, of: m, to: row + j0)
        }
    }

    /// Lanes `0 ..< n` of `v` to `p` (out of line: only a plane's last row needs it, and the row loop stays small).
    @inline(never)
    static func storeFirst(_ n: Int, of v: SIMD16<Float>, to p: UnsafeMutablePointer<Float>) {
        for l in 0..<n { p[l] = v[l] }
    }

    /// `a`, then each later vector where it is greater (`verticalMax`'s and `horizontalMax`'s order: the same bits).
    @inline(__always)
    static func max3(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMD16<Float> {
        fftconv_later_max16(fftconv_later_max16(a, b), c)
    }

    /// The maximum of rows `p0`, `p1`, `p2` over columns `c ..< c + 32` (`halves` 1: over `c ..< c + 16`, in both
    /// results), −∞ from column `width` on, loaded through `scratch` where the loads could pass `end` when `checked`. (Transparent: with `@inline(__always)` the compiler still called it from the
    /// row loops, spilling the row's vectors around each call — 12–16% of a pool's time in a profile.)
    @_transparent
    static func rowsMax32(_ p0: UnsafePointer<Float>, _ p1: UnsafePointer<Float>, _ p2: UnsafePointer<Float>, _ c: Int,
                          width: Int, checked: Bool, end: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                          halves: Int = 2) -> (SIMD16<Float>, SIMD16<Float>) {
        typealias V = SIMD16<Float>
        var lo: V, hi: V
        let d = c &+ 16
        if checked {
            (lo, hi) = rowsMax32Checked(p0, p1, p2, c, end: end, scratch: scratch)
        } else {
            lo = max3(UnsafeRawPointer(p0 + c).loadUnaligned(as: V.self), UnsafeRawPointer(p1 + c).loadUnaligned(as: V.self),
                      UnsafeRawPointer(p2 + c).loadUnaligned(as: V.self))
            hi = halves == 1 ? lo
                : max3(UnsafeRawPointer(p0 + d).loadUnaligned(as: V.self), UnsafeRawPointer(p1 + d).loadUnaligned(as: V.self),
                       UnsafeRawPointer(p2 + d).loadUnaligned(as: V.self))
        }
        // Columns past the row read the next row (or scratch): −∞ there, the padding they stand for.
        if d > width { lo = fftconv_fill_from16(lo, width &- c, -.infinity) }
        if halves == 2 && d &+ 16 > width { hi = fftconv_fill_from16(hi, width &- d, -.infinity) }
        return (lo, halves == 1 ? lo : hi)
    }

    /// `rowsMax32` through `scratch`, out of line (the plane's last rows).
    @inline(never)
    static func rowsMax32Checked(_ p0: UnsafePointer<Float>, _ p1: UnsafePointer<Float>, _ p2: UnsafePointer<Float>, _ c: Int,
                                 end: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>) -> (SIMD16<Float>, SIMD16<Float>) {
        let (a0, b0) = Copy.load32(p0 + c, end: end, scratch: scratch)
        let (a1, b1) = Copy.load32(p1 + c, end: end, scratch: scratch)
        let (a2, b2) = Copy.load32(p2 + c, end: end, scratch: scratch)
        return (max3(a0, a1, a2), max3(b0, b1, b2))
    }

    /// How many input rows ahead of a window `maxPlane(…, prefetch: true)` asks for its rows: about 12 KB (past the
    /// plane's end, the next plane's first rows — planes are read in order — or nothing: a prefetch never faults).
    /// The hardware prefetchers alone left a pool whose input had gone back to memory waiting on it: VGG16's first
    /// 2x2 pool (64 × 224² → 112²) after its 12.8 MB convolution output 1.36–1.37 ms, with 4, 8, 16 and 32 rows
    /// ahead 0.58, 0.48, 0.46–0.48 and 0.49–0.50 (`net` of a conv + pool model, `--profile`); 0.39 on a warm input.
    /// On inputs the caches hold it costs instead (SqueezeNet's 3x3 pools on 1.5 and 0.75 MB 0.046–0.049 →
    /// 0.054–0.056 and 0.029–0.031 → 0.035–0.038 ms; 512 × 28², 1.6 MB, 0.095 → 0.101; 128 × 112², 6.4 MB, 0.219 →
    /// 0.183–0.191): callers ask for it on inputs of more than 4 MB.
    static func prefetchRows(width: Int) -> Int { Swift.max(2, (12 << 10) / Swift.max(1, width * 4)) }

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
        if KernelTarget.wideRegisters && stride == 2 && kernel == 3 && outputs >= 16 {
            // 3x3 stride 2 (AlexNet, SqueezeNet, GoogLeNet): out[j] = max(E[j], O[j], E[j + 1]) with E, O the
            // row's even and odd elements — three permutes per sixteen outputs instead of three per eight.
            var j = 0
            while true {
                let base = row + 2 * j
                let a0 = UnsafeRawPointer(base).loadUnaligned(as: SIMD16<Float>.self)
                let a1 = UnsafeRawPointer(base + 16).loadUnaligned(as: SIMD16<Float>.self)
                let b0 = UnsafeRawPointer(base + 2).loadUnaligned(as: SIMD16<Float>.self)
                let b1 = UnsafeRawPointer(base + 18).loadUnaligned(as: SIMD16<Float>.self)
                var m = fftconv_even32(a0, a1)
                let o = fftconv_odd32(a0, a1), e1 = fftconv_even32(b0, b1)
                m.replace(with: o, where: o .> m)
                m.replace(with: e1, where: e1 .> m)
                UnsafeMutableRawPointer(out + j).storeBytes(of: m, as: SIMD16<Float>.self)
                if j + 16 >= outputs { return }
                j = Swift.min(j + 16, outputs - 16)  // the last step overlaps the one before: no scalar tail
            }
        }
        typealias V = SIMD8<Float>
        if stride == 2 && kernel == 3 {
            // The same with eight outputs per step (AVX2 and NEON builds, and rows of fewer than 16 outputs):
            // two loads, three permutes, no loop over the kernel.
            @inline(__always) func step(_ j: Int) -> V {
                let a = UnsafeRawPointer(row + 2 * j).loadUnaligned(as: SIMD16<Float>.self)
                let b = UnsafeRawPointer(row + 2 * j + 2).loadUnaligned(as: SIMD16<Float>.self)
                var m = fftconv_even16(a)
                let o = fftconv_odd16(a), e1 = fftconv_even16(b)
                m.replace(with: o, where: o .> m)
                m.replace(with: e1, where: e1 .> m)
                return m
            }
            if outputs < 8 {
                let m = step(0)
                for l in 0..<outputs { out[l] = m[l] }
                return
            }
            var j = 0
            while true {
                UnsafeMutableRawPointer(out + j).storeBytes(of: step(j), as: V.self)
                if j + 8 >= outputs { return }
                j = Swift.min(j + 8, outputs - 8)  // the last step overlaps the one before: no scalar tail
            }
        }
        var j = 0
        while j < outputs {
            let base = row + j * stride
            var m = V(repeating: -.infinity)
            for k in 0..<kernel {
                let v = stride == 1 ? UnsafeRawPointer(base + k).loadUnaligned(as: V.self)
                    : fftconv_even16(UnsafeRawPointer(base + k).loadUnaligned(as: SIMD16<Float>.self))
                m.replace(with: v, where: v .> m)
            }
            if j + 8 <= outputs {
                UnsafeMutableRawPointer(out + j).storeBytes(of: m, as: V.self)
            } else if outputs >= 8 {  // the last eight again, overlapping
                j = outputs - 8
                continue
            } else {
                for l in 0..<(outputs - j) { out[j + l] = m[l] }
            }
            j += 8
        }
    }

    /// `Σ plane[i]` for `i` in `0..<count`: sixteen float partial sums, folded in halves to four (vector adds),
    /// those and the last `count mod 16` floats added in double. (Was sixteen scalar lane conversions and adds
    /// per plane: MobileNetV2's 1280 planes of 7² 0.017 ms at 2 threads, now ~0.003.)
    public static func sum(_ plane: UnsafePointer<Float>, count: Int) -> Double {
        typealias V = SIMD16<Float>
        @inline(__always) func ld(_ i: Int) -> V { UnsafeRawPointer(plane + i).loadUnaligned(as: V.self) }
        var a = V(), b = V()
        var i = 0
        while i &+ 32 <= count {
            a += ld(i)
            b += ld(i &+ 16)
            i &+= 32
        }
        if i &+ 16 <= count {
            a += ld(i)
            i &+= 16
        }
        let c = a + b, c8 = c.lowHalf + c.highHalf, c4 = c8.lowHalf + c8.highHalf
        var s = (Double(c4[0]) + Double(c4[1])) + (Double(c4[2]) + Double(c4[3]))
        while i < count { s += Double(plane[i]); i &+= 1 }
        return s
    }
}
