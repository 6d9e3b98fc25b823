import FFTConvKernels
import Foundation

/// The graph's non-convolution operations over whole tensors: each has a shape rule (used to infer shapes and
/// refuse invalid or absurd graphs before anything is allocated) and an implementation. These are
/// straightforward loops: the time of a CNN is in its convolutions and matrix products.
enum TensorOperations {
    struct Failure: Error { let reason: String }

    static func fail(_ reason: String) -> Failure { Failure(reason: reason) }

    /// Normalises a possibly negative axis for a tensor of `rank` dimensions.
    static func axis(_ a: Int, rank: Int) throws -> Int {
        let r = a < 0 ? a + rank : a
        guard r >= 0 && r < rank else { throw fail("axis \(a) is out of range for rank \(rank)") }
        return r
    }

    static func count(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    // MARK: Broadcasting element-wise arithmetic

    static func broadcastShape(_ a: [Int], _ b: [Int]) throws -> [Int] {
        let rank = Swift.max(a.count, b.count)
        let pa = [Int](repeating: 1, count: rank - a.count) + a, pb = [Int](repeating: 1, count: rank - b.count) + b
        return try zip(pa, pb).map { x, y in
            if x == y || y == 1 { return x }
            if x == 1 { return y }
            throw fail("shapes \(a) and \(b) do not broadcast")
        }
    }

    /// The four arithmetic operators, with vector forms for the common layouts of `binary`.
    enum Arithmetic {
        case add, sub, mul, div

        @inline(__always) func callAsFunction(_ x: Float, _ y: Float) -> Float {
            switch self {
            case .add: return x + y
            case .sub: return x - y
            case .mul: return x * y
            case .div: return x / y
            }
        }

        /// `out[i] = a[i] ∘ b[i]` for `i < count`, or `a[i] ∘ b[0]` when `bScalar` (`a[0] ∘ b[i]` when `aScalar`).
        func run(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int,
                 aScalar: Bool = false, bScalar: Bool = false) {
            switch self {
            case .add: Self.loop(a, b, out, count, aScalar, bScalar) { $0 + $1 } _: { $0 + $1 }
            case .sub: Self.loop(a, b, out, count, aScalar, bScalar) { $0 - $1 } _: { $0 - $1 }
            case .mul: Self.loop(a, b, out, count, aScalar, bScalar) { $0 * $1 } _: { $0 * $1 }
            case .div: Self.loop(a, b, out, count, aScalar, bScalar) { $0 / $1 } _: { $0 / $1 }
            }
        }

        @inline(__always)
        private static func loop(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                                 _ count: Int, _ aScalar: Bool, _ bScalar: Bool,
                                 _ v: (SIMD8<Float>, SIMD8<Float>) -> SIMD8<Float>, _ f: (Float, Float) -> Float) {
            typealias V = SIMD8<Float>
            let va = V(repeating: a[0]), vb = V(repeating: b[0])
            var i = 0
            while i + 8 <= count {
                let x = aScalar ? va : UnsafeRawPointer(a + i).loadUnaligned(as: V.self)
                let y = bScalar ? vb : UnsafeRawPointer(b + i).loadUnaligned(as: V.self)
                UnsafeMutableRawPointer(out + i).storeBytes(of: v(x, y), as: V.self)
                i += 8
            }
            while i < count {
                out[i] = f(aScalar ? a[0] : a[i], bScalar ? b[0] : b[i])
                i += 1
            }
        }
    }

    /// How a tensor of shape `small` broadcasts over one of shape `large` when each of its values covers a contiguous
    /// run: its dimensions other than 1 are a run `j..<k` of `large`'s own, so value `v` covers `run` floats at
    /// `(o · values + v) · run` for each of `outer` repetitions (`[C, 1, 1]` against `[N, C, H, W]`: per channel, `N`
    /// times; one value: one run of everything). Nil for any other broadcast.
    static func runsPerValue(_ small: [Int], over large: [Int]) -> (outer: Int, values: Int, run: Int)? {
        guard small.count <= large.count else { return nil }
        let padded = [Int](repeating: 1, count: large.count - small.count) + small
        var k = padded.count, j = 0
        while k > 0 && padded[k - 1] == 1 { k -= 1 }
        while j < k && padded[j] == 1 { j += 1 }
        guard Array(padded[j..<k]) == Array(large[j..<k]) else { return nil }
        return (count(Array(large[..<j])), count(Array(padded[j..<k])), count(Array(large[k...])))
    }

    /// `a ∘ b` with numpy broadcasting. Operands of the output's shape, and an operand holding one value per run of
    /// the other (`runsPerValue`: `[N, C, 1, 1]` against `[N, C, H, W]`, a squeeze-and-excitation scale) run as
    /// vector loops over contiguous rows; any other broadcast walks the output once.
    /// Same-shape operands of 256 K floats or more are split over `threads` (~100 µs of streaming each side).
    static func binary(_ a: Tensor, _ b: Tensor, _ op: Arithmetic, threads: Int = 1) throws -> Tensor {
        let shape = try broadcastShape(a.shape, b.shape)
        let out = try Tensor(uninitialized: shape)  // every element written below
        let pa = a.storage.pointer, pb = b.storage.pointer, po = out.storage.pointer
        if a.shape == b.shape {
            let n = out.count, run = 1 << 14
            Parallel.forEachRange(count: (n + run - 1) / run, threads: n >= 1 << 18 ? threads : 1) { _, runs in
                let lo = runs.lowerBound * run
                op.run(pa + lo, pb + lo, po + lo, count: Swift.min(n, runs.upperBound * run) - lo)
            }
            return out
        }
        // One operand of the output's shape, the other one value per run of it (`aScalar`: the value is `a`'s).
        for aScalar in [false, true] where (aScalar ? b : a).shape == shape {
            guard let r = runsPerValue((aScalar ? a : b).shape, over: shape) else { continue }
            if r.run == 1 {
                // The small operand runs along the last dimensions (a bias `[C]` against `[N, H, W, C]`: ConvNeXt's
                // channels-last linear layers): each outer row against all its values, a vector loop of `values`.
                for o in 0..<r.outer {
                    let at = o * r.values
                    op.run(aScalar ? pa : pa + at, aScalar ? pb + at : pb, po + at, count: r.values)
                }
                return out
            }
            for o in 0..<r.outer {
                for v in 0..<r.values {
                    let at = (o * r.values + v) * r.run
                    op.run(aScalar ? pa + v : pa + at, aScalar ? pb + at : pb + v, po + at, count: r.run,
                           aScalar: aScalar, bScalar: !aScalar)
                }
            }
            return out
        }
        return try binary(a, b, into: out) { op($0, $1) }
    }

    /// `op(a, b)` with numpy broadcasting.
    static func binary(_ a: Tensor, _ b: Tensor, _ op: (Float, Float) -> Float) throws -> Tensor {
        try binary(a, b, into: try Tensor(zeros: try broadcastShape(a.shape, b.shape)), op)
    }

    private static func binary(_ a: Tensor, _ b: Tensor, into out: Tensor, _ op: (Float, Float) -> Float) throws -> Tensor {
        let shape = out.shape
        if a.shape == b.shape {
            for i in 0..<out.count { out.storage.pointer[i] = op(a.storage.pointer[i], b.storage.pointer[i]) }
            return out
        }
        let rank = shape.count
        func strides(_ s: [Int]) -> [Int] {
            let p = [Int](repeating: 1, count: rank - s.count) + s
            var st = [Int](repeating: 0, count: rank), acc = 1
            for d in (0..<rank).reversed() { st[d] = p[d] == 1 ? 0 : acc; acc *= p[d] }
            return st
        }
        let sa = strides(a.shape), sb = strides(b.shape)
        let pa = a.storage.pointer, pb = b.storage.pointer, po = out.storage.pointer
        var index = [Int](repeating: 0, count: rank)
        var ia = 0, ib = 0
        for i in 0..<out.count {
            po[i] = op(pa[ia], pb[ib])
            var d = rank - 1
            while d >= 0 {
                index[d] += 1; ia += sa[d]; ib += sb[d]
                if index[d] < shape[d] { break }
                ia -= sa[d] * shape[d]; ib -= sb[d] * shape[d]; index[d] = 0
                d -= 1
            }
        }
        return out
    }

    /// PRelu: `x` where `x ≥ 0`, `slope · x` elsewhere. A slope whose values each cover a run of `x` (`runsPerValue`:
    /// one slope, or one per channel) runs as leaky-ReLU write-out loops; any other broadcast walks the output once.
    static func prelu(_ x: Tensor, slope: Tensor) throws -> Tensor {
        guard x.count > 0, let r = runsPerValue(slope.shape, over: x.shape) else {
            return try binary(x, slope) { $0 >= 0 ? $0 : $0 * $1 }
        }
        let y = try Tensor(uninitialized: x.shape)
        for o in 0..<r.outer {
            for v in 0..<r.values {
                let at = (o * r.values + v) * r.run
                Epilogue(kind: .leakyReLU, a: slope.storage.pointer[v]).finish(src: x.storage.pointer + at, dst: y.storage.pointer + at,
                                                                              count: r.run, bias: 0, residual: nil)
            }
        }
        return y
    }

    /// An activation on its own (not after a convolution), by the kernels' vector write-out loop.
    static func activate(_ x: Tensor, _ e: Epilogue) throws -> Tensor {
        let y = try Tensor(uninitialized: x.shape)
        if x.count > 0 { e.finish(src: x.storage.pointer, dst: y.storage.pointer, count: x.count, bias: 0, residual: nil) }
        return y
    }

    /// The mean and the biased variance of `count` (> 0) floats: two passes of eight partial sums each, the first of
    /// the values less the first one, so that a constant run — a black frame through a style network, a row of equal
    /// features — has a mean of exactly that value and a variance of exactly 0, not rounding noise that a division by
    /// √(var + ε) would amplify (summed as they were, an 80×81 plane of 0.3 normalised to its bias ± 9e-4 — its test —
    /// and a diff_fuzz.py model's output came out 3e3 times its magnitude off).
    @inline(__always)
    static func moments(_ values: UnsafePointer<Float>, count n: Int) -> (mean: Float, variance: Float) {
        typealias V = SIMD8<Float>
        @inline(__always) func load(_ i: Int) -> V { UnsafeRawPointer(values + i).loadUnaligned(as: V.self) }
        let whole = n / 8 * 8, first = values[0], shift = V(repeating: first)
        var sums = V(), tail: Float = 0
        for i in stride(from: 0, to: whole, by: 8) { sums += load(i) - shift }
        for i in whole..<n { tail += values[i] - first }
        let mean = first + (sums.sum() + tail) / Float(n)
        var squares = V(), tailSquares: Float = 0
        for i in stride(from: 0, to: whole, by: 8) { let d = load(i) - mean; squares = squares.addingProduct(d, d) }
        for i in whole..<n { let d = values[i] - mean; tailSquares += d * d }
        return (mean, (squares.sum() + tailSquares) / Float(n))
    }

    /// Layer normalisation of `x` over its dimensions from `axis` on: per row of `n` elements, the mean and the
    /// variance (`moments`), then `(x − mean) / √(var + ε) · scale + bias` (`scale` and `bias`: `n` values each),
    /// eight floats at a time. Rows are split over threads from 64 K floats.
    static func layerNormalization(_ x: Tensor, scale: Tensor, bias: Tensor?, axis: Int, epsilon: Float, threads: Int) throws -> Tensor {
        let a = try self.axis(axis, rank: x.rank), n = count(Array(x.shape[a...])), rows = n == 0 ? 0 : x.count / n
        guard scale.count == n, bias.map({ $0.count == n }) ?? true else {
            throw fail("LayerNormalization's scale and bias need \(n) values, got \(scale.count) and \(bias?.count ?? n)")
        }
        let y = try Tensor(uninitialized: x.shape)
        let src = x.storage.pointer, dst = y.storage.pointer, w = scale.storage.pointer, b = bias?.storage.pointer
        Parallel.forEachRange(count: rows, threads: x.count >= 1 << 16 ? threads : 1) { _, items in
            typealias V = SIMD8<Float>
            @inline(__always) func load(_ p: UnsafePointer<Float>, _ i: Int) -> V { UnsafeRawPointer(p + i).loadUnaligned(as: V.self) }
            let whole = n / 8 * 8
            for r in items {
                let row = UnsafePointer(src + r * n), out = dst + r * n
                let (m, variance) = moments(row, count: n)
                let deviation = (variance + epsilon).squareRoot()
                for i in stride(from: 0, to: whole, by: 8) {
                    let v = (load(row, i) - m) / deviation * load(w, i) + (b.map { load($0, i) } ?? V())
                    UnsafeMutableRawPointer(out + i).storeBytes(of: v, as: V.self)
                }
                for i in whole..<n { out[i] = (row[i] - m) / deviation * w[i] + (b?[i] ?? 0) }
            }
        }
        return y
    }

    static func map(_ x: Tensor, _ f: (Float) -> Float) throws -> Tensor {
        try Tensor(shape: x.shape) { i in f(x.storage.pointer[i]) }
    }

    /// `f` over `x` eight floats at a time (`g` on a tail of fewer than eight).
    static func map(_ x: Tensor, vector f: (SIMD8<Float>) -> SIMD8<Float>, scalar g: (Float) -> Float) throws -> Tensor {
        let y = try Tensor(uninitialized: x.shape)
        let src = x.storage.pointer, dst = y.storage.pointer, n = x.count
        var i = 0
        while i + 8 <= n {
            UnsafeMutableRawPointer(dst + i).storeBytes(of: f(UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Float>.self)),
                                                        as: SIMD8<Float>.self)
            i += 8
        }
        while i < n { dst[i] = g(src[i]); i += 1 }
        return y
    }

    // MARK: Pooling

    static func poolOutput(_ n: Int, k: Int, s: Int, d: Int, p0: Int, p1: Int, ceil: Bool) throws -> Int {
        let extent = (k - 1) * d + 1
        // In ceil mode the last window may reach past the padded input, so a window wider than the input still
        // gives one output (ONNX's ceil((n + pads − extent) / s) + 1; PyTorch and ONNX Runtime agree).
        let span = n + p0 + p1 - extent + (ceil ? s - 1 : 0)
        guard span >= 0 else { throw fail("the \(k)-wide pooling window does not fit the padded input \(n + p0 + p1)") }
        var out = span / s + 1
        // A window must start inside the input or its leading padding (PyTorch's rule for ceil_mode).
        if ceil && (out - 1) * s >= n + p0 { out -= 1 }
        guard out > 0 else { throw fail("the \(k)-wide pooling window does not fit the padded input \(n + p0 + p1)") }
        return out
    }

    static func poolShape(_ s: [Int], _ a: PoolingAttributes) throws -> [Int] {
        guard s.count == 4 else { throw fail("pooling needs an NCHW tensor, got shape \(s)") }
        guard a.kernel.height > 0, a.kernel.width > 0, a.stride.height > 0, a.stride.width > 0,
              a.dilation.height > 0, a.dilation.width > 0 else { throw fail("pooling sizes must be positive") }
        guard a.padding.top >= 0, a.padding.left >= 0, a.padding.bottom >= 0, a.padding.right >= 0 else {
            throw fail("pooling pads must not be negative")
        }
        return [s[0], s[1],
                try poolOutput(s[2], k: a.kernel.height, s: a.stride.height, d: a.dilation.height, p0: a.padding.top, p1: a.padding.bottom, ceil: a.ceilMode),
                try poolOutput(s[3], k: a.kernel.width, s: a.stride.width, d: a.dilation.width, p0: a.padding.left, p1: a.padding.right, ceil: a.ceilMode)]
    }

    static func pool(_ x: Tensor, _ a: PoolingAttributes, max isMax: Bool, threads: Int = 1) throws -> Tensor {
        let s = try poolShape(x.shape, a)
        // Not zeroed: every output row is written below (a test pools into a NaN-filled block).
        let y = try Tensor(uninitialized: s)
        let (h, w, oh, ow) = (x.shape[2], x.shape[3], s[2], s[3])
        let (kh, kw, dh, dw) = (a.kernel.height, a.kernel.width, a.dilation.height, a.dilation.width)
        // Valid taps per output row/column, computed once: no bounds test inside the window loops.
        func taps(_ o: Int, _ stride: Int, _ pad: Int, _ padEnd: Int, _ n: Int, _ k: Int, _ d: Int) -> (Range<Int>, Int) {
            let start = o * stride - pad
            let valid = ConvolutionGeometry.validOutputRange(offset: start, stride: d, inputCount: n, outputCount: k)
            // Divisor with count_include_pad: taps inside the padded input (not the extra ceil_mode columns).
            let inPadded = ConvolutionGeometry.validOutputRange(offset: start + pad, stride: d, inputCount: n + pad + padEnd, outputCount: k).count
            return (valid, inPadded)
        }
        let rows = (0..<oh).map { taps($0, a.stride.height, a.padding.top, a.padding.bottom, h, kh, dh) }
        let cols = (0..<ow).map { taps($0, a.stride.width, a.padding.left, a.padding.right, w, kw, dw) }
        let px = x.storage.pointer, py = y.storage.pointer
        // Each output row's window for the pooling kernels: its first input row and how many (0: all padding).
        let windows = rows.enumerated().flatMap { i, r in
            r.0.isEmpty ? [0, 0] : [i * a.stride.height - a.padding.top + r.0.lowerBound * dh, r.0.count]
        }
        if isMax && dw == 1 && (a.stride.width == 1 || a.stride.width == 2) {
            // Max pooling, undilated rows, stride 1 or 2 across: `PoolingKernels` over a −∞-padded row.
            let sw = a.stride.width, pad = a.padding.left
            let length = PoolingKernels.rowLength(padLeft: pad, width: w, outputs: ow, stride: sw, kernel: kw)
            // Inputs of more than 4 MB have likely left the caches since their producer wrote them: the kernel asks
            // for its rows ahead (`PoolingKernels.prefetchRows`).
            let prefetch = x.count * 4 > 4 << 20
            windows.withUnsafeBufferPointer { windows in
                guard let wp = windows.baseAddress else { return }
                forEachPlane(s, kh * kw, threads: threads, line: length, filledWith: -.infinity) { row, plane in
                    // Only [pad, pad + w) of `row` is ever written.
                    PoolingKernels.maxPlane(px + plane * h * w, width: w, rowStride: dh * w, windows: wp, outputRows: oh, row: row,
                                            padLeft: pad, stride: sw, kernel: kw, outputs: ow, into: py + plane * oh * ow,
                                            prefetch: prefetch, limit: px + x.count)
                }
            }
            return y
        }
        if !isMax && dw == 1 {
            // Average pooling of 2x2 stride-2 and 3x3 stride-1 "same" windows in registers (`PoolingKernels.averagePlane`),
            // each output's divisor as below.
            let rowCounts = rows.map { Float(a.countIncludePad ? $0.1 : $0.0.count) }
            let columnCounts = cols.map { Float(a.countIncludePad ? $0.1 : $0.0.count) }
                + [Float](repeating: 1, count: (ow + 15) / 16 * 16 - ow)
            let done = windows.withUnsafeBufferPointer { wp in rowCounts.withUnsafeBufferPointer { rc in columnCounts.withUnsafeBufferPointer { cc in
                guard let w0 = wp.baseAddress, let r0 = rc.baseAddress, let c0 = cc.baseAddress,
                      PoolingKernels.averagesInRegisters(width: w, windows: w0, outputRows: oh, kernel: kw, stride: a.stride.width,
                                                         padLeft: a.padding.left, outputs: ow) else { return false }
                forEachPlane(s, kh * kw, threads: threads, line: 32, filledWith: 0) { scratch, plane in
                    PoolingKernels.averagePlane(px + plane * h * w, width: w, rowStride: dh * w, windows: w0, outputRows: oh, kernel: kw,
                                                outputs: ow, rowCounts: r0, columnCounts: c0, scratch: scratch,
                                                into: py + plane * oh * ow, limit: px + x.count)
                }
                return true
            } } }
            if done { return y }
        }
        // Average pooling, and max pooling with dilated or wider-strided columns. Separable: the window's valid
        // rows are first reduced into one row (contiguous, vectorised), then each output takes its columns from
        // that row.
        // Planes split over threads (each computed the same way whatever the split).
        forEachPlane(s, kh * kw, threads: threads, line: Swift.max(w, 1) + 16, filledWith: 0) { acc, plane in
            let src = px + plane * h * w, dst = py + plane * oh * ow
            for i in 0..<oh {
                let (ri, rn) = rows[i]
                let y0 = i * a.stride.height - a.padding.top
                if ri.isEmpty {
                    acc.update(repeating: isMax ? -.infinity : 0, count: w)
                } else {
                    acc.update(from: src + (y0 + ri.lowerBound * dh) * w, count: w)
                    for ki in ri.dropFirst() {
                        let row = src + (y0 + ki * dh) * w
                        var j = 0
                        while j + 8 <= w {
                            let a8 = UnsafeRawPointer(acc + j).loadUnaligned(as: SIMD8<Float>.self)
                            let r8 = UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self)
                            let v = isMax ? a8.replacing(with: r8, where: r8 .> a8) : a8 + r8
                            UnsafeMutableRawPointer(acc + j).storeBytes(of: v, as: SIMD8<Float>.self)
                            j += 8
                        }
                        while j < w { acc[j] = isMax ? Swift.max(acc[j], row[j]) : acc[j] + row[j]; j += 1 }
                    }
                }
                for j in 0..<ow {
                    let (cj, cn) = cols[j]
                    let x0 = j * a.stride.width - a.padding.left
                    var m = -Float.infinity, sum: Float = 0
                    for kj in cj {
                        let v = acc[x0 + kj * dw]
                        m = Swift.max(m, v)
                        sum += v
                    }
                    let n = ri.count * cj.count
                    dst[i * ow + j] = isMax ? m : (n == 0 ? 0 : sum / Float(a.countIncludePad ? rn * cn : n))
                }
            }
        }
        return y
    }

    /// Calls `body(line, plane)` for every plane of an NCHW output `shape` (`N·C` of them), split over threads
    /// when there is enough work (`perElement` operations per output); each worker gets its own scratch `line`
    /// of `length` floats, filled with `value` once. Each plane is computed the same way whatever the split.
    static func forEachPlane(_ shape: [Int], _ perElement: Int, threads: Int, line length: Int, filledWith value: Float,
                             _ body: (UnsafeMutablePointer<Float>, Int) -> Void) {
        Parallel.forEachRange(count: shape[0] * shape[1], threads: planeWork(shape, perElement) ? threads : 1) { _, planes in
            var line = [Float](repeating: value, count: length)
            line.withUnsafeMutableBufferPointer { buffer in
                guard let row = buffer.baseAddress else { return }
                for plane in planes { body(row, plane) }
            }
        }
    }

    /// Whether an element-wise-like operation over `shape` with `perElement` operations is worth splitting
    /// over threads (~50 µs of work or more).
    static func planeWork(_ shape: [Int], _ perElement: Int) -> Bool {
        shape.reduce(1, *) * Swift.max(perElement, 1) >= 100_000
    }

    static func globalAveragePool(_ x: Tensor) throws -> Tensor {
        guard x.rank >= 3 else { throw fail("GlobalAveragePool needs N, C and spatial dimensions, got \(x.shape)") }
        let planes = x.shape[0] * x.shape[1], size = count(Array(x.shape[2...]))
        let y = try Tensor(zeros: [x.shape[0], x.shape[1]] + [Int](repeating: 1, count: x.rank - 2))
        for p in 0..<planes {
            y.storage.pointer[p] = Float(PoolingKernels.sum(x.storage.pointer + p * size, count: size) / Double(size))
        }
        return y
    }

    /// The axes a ReduceMean averages over, normalised and sorted: `axes` (nil or empty: every axis, or none when
    /// `noopWithEmptyAxes`).
    static func reducedAxes(rank: Int, _ axes: [Int]?, noopWithEmptyAxes: Bool) throws -> [Int] {
        guard let axes, !axes.isEmpty else { return noopWithEmptyAxes ? [] : Array(0..<rank) }
        let normalised = try axes.map { try axis($0, rank: rank) }
        guard Set(normalised).count == normalised.count else { throw fail("repeated ReduceMean axes \(axes)") }
        return normalised.sorted()
    }

    static func reduceShape(_ s: [Int], axes: [Int], keepDims: Bool) throws -> [Int] {
        for a in axes where s[a] == 0 { throw fail("cannot average over axis \(a) of size 0 in \(s)") }
        let set = Set(axes)
        return keepDims ? s.enumerated().map { set.contains($0.offset) ? 1 : $0.element }
                        : s.enumerated().filter { !set.contains($0.offset) }.map(\.element)
    }

    /// The mean over `axes` (normalised and sorted, as `reducedAxes` gives them), summed in double precision.
    /// Trailing axes (H and W of an NCHW tensor: `x.mean([2, 3])` in PyTorch) are contiguous planes, averaged as
    /// GlobalAveragePool averages them; any other set is transposed to the end first.
    static func reduceMean(_ x: Tensor, axes: [Int], keepDims: Bool) throws -> Tensor {
        let shape = try reduceShape(x.shape, axes: axes, keepDims: keepDims)
        guard !axes.isEmpty else { return Tensor(reshaping: x, to: shape) }
        let rank = x.rank, size = axes.reduce(1) { $0 * x.shape[$1] }
        let kept = (0..<rank).filter { !axes.contains($0) }
        let planes = kept == Array(0..<kept.count) ? x : try transpose(x, kept + axes)
        let y = try Tensor(zeros: shape)
        for p in 0..<count(shape) {
            y.storage.pointer[p] = Float(PoolingKernels.sum(planes.storage.pointer + p * size, count: size) / Double(size))
        }
        return y
    }

    // MARK: Normalisation

    /// ONNX LRN across channels: `y = x / t^beta` with `t = bias + alpha / size · Σ x²`, the sum over the `size`
    /// channels around each one (clipped at the ends), sixteen positions at a time. The common `beta` = 0.75 (AlexNet's,
    /// GoogLeNet's) as `x / (√t · √√t)`: square roots instead of a `pow` per float, which had taken 2.5 ms for BVLC
    /// AlexNet's 96 × 55² (ORT: 6.1; thirty-first session, a one-node model through `fftconv-bench net`).
    static func localResponseNormalization(_ x: Tensor, size: Int, alpha: Float, beta: Float, bias: Float) throws -> Tensor {
        guard x.rank == 4 else { throw fail("LRN needs an NCHW tensor, got \(x.shape)") }
        guard size >= 1 else { throw fail("LRN size must be positive") }
        typealias V = SIMD16<Float>
        let (n, c, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        let y = try Tensor(uninitialized: x.shape)
        let px = x.storage.pointer, py = y.storage.pointer
        let lo = (size - 1) / 2, hi = size / 2  // ONNX: channels c - floor((size-1)/2) ... c + ceil((size-1)/2)
        let scale = alpha / Float(size), threeQuarters = beta == 0.75
        @inline(__always) func denominator(_ t: Float) -> Float {
            threeQuarters ? t.squareRoot() * t.squareRoot().squareRoot() : Foundation.pow(t, beta)
        }
        for b in 0..<n {
            for ch in 0..<c {
                let window = Swift.max(0, ch - lo)...Swift.min(c - 1, ch + hi)
                let src = px + (b * c + ch) * plane, dst = py + (b * c + ch) * plane
                var i = 0
                while i + 16 <= plane {
                    var s = V()
                    for k in window {
                        let v = UnsafeRawPointer(px + (b * c + k) * plane + i).loadUnaligned(as: V.self)
                        s = s.addingProduct(v, v)
                    }
                    let t = V(repeating: bias).addingProduct(V(repeating: scale), s)
                    var d: V
                    if threeQuarters {
                        let r = t.squareRoot()
                        d = r * r.squareRoot()
                    } else {
                        d = V()
                        for l in 0..<16 { d[l] = Foundation.pow(t[l], beta) }
                    }
                    UnsafeMutableRawPointer(dst + i).storeBytes(of: UnsafeRawPointer(src + i).loadUnaligned(as: V.self) / d, as: V.self)
                    i += 16
                }
                while i < plane {
                    var s: Float = 0
                    for k in window { let v = px[(b * c + k) * plane + i]; s = s.addingProduct(v, v) }
                    dst[i] = src[i] / denominator(bias.addingProduct(scale, s))
                    i += 1
                }
            }
        }
        return y
    }

    /// Inference batch normalisation's per-channel affine map, `(scale / √(variance + ε), bias − mean · that)`.
    static func batchNormalizationAffine(channels c: Int, scale: Tensor, bias: Tensor, mean: Tensor, variance: Tensor,
                                         epsilon: Float) throws -> (k: [Float], shift: [Float]) {
        for t in [scale, bias, mean, variance] where t.count != c {
            throw fail("BatchNormalization parameters must have \(c) values, got shape \(t.shape)")
        }
        let k = (0..<c).map { scale.storage.pointer[$0] / (variance.storage.pointer[$0] + epsilon).squareRoot() }
        return (k, (0..<c).map { bias.storage.pointer[$0] - mean.storage.pointer[$0] * k[$0] })
    }

    static func batchNormalization(_ x: Tensor, scale: Tensor, bias: Tensor, mean: Tensor, variance: Tensor, epsilon: Float) throws -> Tensor {
        guard x.rank >= 2 else { throw fail("BatchNormalization needs at least N and C dimensions, got \(x.shape)") }
        let a = try batchNormalizationAffine(channels: x.shape[1], scale: scale, bias: bias, mean: mean, variance: variance, epsilon: epsilon)
        return try batchNormalization(x, k: a.k, shift: a.shift, activation: .identity)
    }

    /// `activation(x · k[c] + shift[c])` over every channel's plane: a batch normalisation that no convolution before
    /// it could absorb (DenseNet's, before its ReLU and 1x1), with that activation.
    static func batchNormalization(_ x: Tensor, k: [Float], shift: [Float], activation: Epilogue) throws -> Tensor {
        guard x.rank >= 2 else {
            throw fail("BatchNormalization over \(k.count) channels cannot normalise a tensor of shape \(x.shape)")
        }
        return try batchNormalization(concatenating: [x], k: k, shift: shift, activation: activation, threads: 1)
    }

    /// `activation(x · k[c] + shift[c])` over the channel concatenation of `xs` (one tensor: no concatenation),
    /// each piece's planes written straight into their channels of the output, over `threads` from 32 K floats
    /// (each worker a run of whole planes). From 128 K before: DenseNet-121's 62 such steps at 2 threads 0.90 → 0.77 ms
    /// (`step_ab.sh 4`, each step's minimum; its 7² ones, 25–50 K floats and 6–12 µs, 25–33% faster split; 16 K
    /// measured the same, never splitting 0.89 → 1.27).
    static func batchNormalization(concatenating xs: [Tensor], k: [Float], shift: [Float], activation: Epilogue,
                                   threads: Int) throws -> Tensor {
        let shape = try concatShape(xs.map(\.shape), axis: 1)
        guard shape.count >= 2, shape[1] == k.count, shift.count == k.count else {
            throw fail("BatchNormalization over \(k.count) channels cannot normalise a tensor of shape \(shape)")
        }
        let c = shape[1], plane = count(Array(shape[2...]))
        let y = try Tensor(uninitialized: shape)
        // Every output plane's source: (image, channel) in output order.
        var sources: [UnsafePointer<Float>] = []
        sources.reserveCapacity(shape[0] * c)
        for n in 0..<shape[0] {
            for x in xs {
                let ci = x.shape[1]
                for ch in 0..<ci { sources.append(UnsafePointer(x.storage.pointer + (n * ci + ch) * plane)) }
            }
        }
        withExtendedLifetime(xs) {
            Parallel.forEachRange(count: sources.count, threads: count(shape) >= 1 << 15 ? threads : 1) { _, planes in
                for i in planes {
                    let ch = i % c
                    activation.finishScaled(src: sources[i], dst: y.storage.pointer + i * plane, count: plane, scale: k[ch], shift: shift[ch])
                }
            }
        }
        return y
    }

    static func softmax(_ x: Tensor, axis a: Int, legacy: Bool) throws -> Tensor {
        let ax = try axis(a, rank: x.rank)
        // legacy: softmax over the flattened dimensions ax..<rank; else over ax alone.
        let outer = count(Array(x.shape[..<ax]))
        let n = legacy ? count(Array(x.shape[ax...])) : x.shape[ax]
        let inner = legacy ? 1 : count(Array(x.shape[(ax + 1)...]))
        let y = try Tensor(zeros: x.shape)
        let px = x.storage.pointer, py = y.storage.pointer
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * n * inner + i
                var m = -Float.infinity
                for k in 0..<n { m = Swift.max(m, px[base + k * inner]) }
                var s: Float = 0
                for k in 0..<n { let e = Foundation.exp(px[base + k * inner] - m); py[base + k * inner] = e; s += e }
                for k in 0..<n { py[base + k * inner] /= s }
            }
        }
        return y
    }

    // MARK: Data movement

    static func concatShape(_ shapes: [[Int]], axis a: Int) throws -> [Int] {
        guard let first = shapes.first else { throw fail("Concat needs at least one input") }
        let ax = try axis(a, rank: first.count)
        var out = first
        for s in shapes.dropFirst() {
            guard s.count == first.count, s.indices.allSatisfy({ $0 == ax || s[$0] == first[$0] }) else {
                throw fail("Concat inputs \(shapes) differ outside axis \(a)")
            }
            out[ax] += s[ax]
        }
        return out
    }

    static func concat(_ xs: [Tensor], axis a: Int, threads: Int = 1) throws -> Tensor {
        let shape = try concatShape(xs.map(\.shape), axis: a)
        let ax = try axis(a, rank: shape.count)
        let outer = count(Array(shape[..<ax])), inner = count(Array(shape[(ax + 1)...]))
        let y = try Tensor(uninitialized: shape)  // every element copied below
        // The copies as runs of at most 16 K floats, split over threads when there is enough to copy (each run
        // is copied by one thread, so the split does not matter).
        var runs: [(dst: UnsafeMutablePointer<Float>, src: UnsafePointer<Float>, count: Int)] = []
        var offset = 0
        let rowOut = shape[ax] * inner, piece = 16 << 10
        for x in xs {
            let row = x.shape[ax] * inner
            for o in 0..<outer {
                var start = 0
                while start < row {
                    let dst: UnsafeMutablePointer<Float> = y.storage.pointer + (o * rowOut + offset + start)
                    let src: UnsafePointer<Float> = UnsafePointer(x.storage.pointer + (o * row + start))
                    runs.append((dst, src, Swift.min(piece, row - start)))
                    start += piece
                }
            }
            offset += row
        }
        withExtendedLifetime(xs) {
            Parallel.forEachRange(count: runs.count, threads: count(shape) >= 1 << 17 ? threads : 1) { _, items in
                for r in items { runs[r].dst.update(from: runs[r].src, count: runs[r].count) }
            }
        }
        return y
    }

    static func transposeShape(_ s: [Int], _ perm: [Int]?) throws -> (shape: [Int], perm: [Int]) {
        let p = perm ?? Array((0..<s.count).reversed())
        guard p.count == s.count, Set(p) == Set(0..<s.count) else { throw fail("permutation \(p) does not fit shape \(s)") }
        return (p.map { s[$0] }, p)
    }

    /// Copies `runs` runs of `run` floats: run `i` from `src + offsets(i)` to `dst + i·run`, where the offsets walk
    /// `dims` (outermost first) at `strides` — an odometer per run, not per element.
    static func copyRuns(from src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, run: Int, dims: [Int],
                         strides: [Int], base: Int) {
        let runs = dims.reduce(1, *)
        guard runs > 0, run > 0 else { return }
        var index = [Int](repeating: 0, count: dims.count), offset = base
        for i in 0..<runs {
            if run == 1 { dst[i] = src[offset] } else { (dst + i * run).update(from: src + offset, count: run) }
            var d = dims.count - 1
            while d >= 0 {
                index[d] += 1; offset += strides[d]
                if index[d] < dims[d] { break }
                offset -= strides[d] * dims[d]; index[d] = 0
                d -= 1
            }
        }
    }

    /// Row-major strides of `shape`, in elements.
    static func strides(of shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        for d in stride(from: shape.count - 2, through: 0, by: -1) { s[d] = s[d + 1] * shape[d + 1] }
        return s
    }

    /// The permuted tensor. Trailing dimensions the permutation leaves in place move as whole runs (ShuffleNet's
    /// channel shuffle moves whole planes).
    static func transpose(_ x: Tensor, _ perm: [Int]?) throws -> Tensor {
        let (shape, p) = try transposeShape(x.shape, perm)
        let y = try Tensor(uninitialized: shape)
        // Leading dimensions kept, then two groups of dimensions swapped (`[0, 2, 3, 1]`: NCHW to NHWC, and back with
        // `[0, 3, 1, 2]` — ConvNeXt's channels-last blocks): a matrix transpose per leading index, in 16×16 blocks.
        var lead = 0
        while lead < p.count && p[lead] == lead { lead += 1 }
        if lead < p.count, let cut = (lead + 1..<p.count).first(where: { p[$0] == lead }),
           Array(p[lead..<cut]) == Array((p.count - (cut - lead))..<p.count), Array(p[cut...]) == Array(lead..<(lead + p.count - cut)) {
            // Input `[lead…, R, C]` with R the dimensions `lead..<lead + (p.count − cut)` and C the rest.
            let rows = count(Array(x.shape[lead..<(lead + p.count - cut)])), columns = count(Array(x.shape[(lead + p.count - cut)...]))
            let batches = count(Array(x.shape[..<lead]))
            if rows > 1 && columns > 1 {
                var staging = [Float](repeating: 0, count: Transpose.stagingFloats)
                staging.withUnsafeMutableBufferPointer { st in
                    guard let st = st.baseAddress else { return }
                    for b in 0..<batches {
                        Transpose.floats(x.storage.pointer + b * rows * columns, sourceStride: columns,
                                         y.storage.pointer + b * rows * columns, destinationStride: rows, rows: rows, columns: columns,
                                         staging: st)
                    }
                }
                return y
            }
        }
        var kept = shape.count
        while kept > 0 && p[kept - 1] == kept - 1 { kept -= 1 }
        let inStrides = strides(of: x.shape)
        copyRuns(from: x.storage.pointer, to: y.storage.pointer, run: count(Array(shape[kept...])),
                 dims: Array(shape[..<kept]), strides: p[..<kept].map { inStrides[$0] }, base: 0)
        return y
    }

    static func reshapeShape(_ s: [Int], _ target: [Int], allowZero: Bool) throws -> [Int] {
        var out = target.enumerated().map { i, d in d == 0 && !allowZero ? (i < s.count ? s[i] : -2) : d }
        guard !out.contains(-2) else { throw fail("reshape target \(target) copies a dimension the input \(s) lacks") }
        guard out.filter({ $0 == -1 }).count <= 1, out.allSatisfy({ $0 >= -1 }) else { throw fail("invalid reshape target \(target)") }
        let known = out.filter { $0 != -1 }.reduce(1, *)
        if let i = out.firstIndex(of: -1) {
            guard known > 0, count(s) % known == 0 else { throw fail("cannot reshape \(s) to \(target)") }
            out[i] = count(s) / known
        }
        guard count(out) == count(s) else { throw fail("cannot reshape \(s) (\(count(s)) elements) to \(target)") }
        return out
    }

    static func squeezeShape(_ s: [Int], _ axes: [Int]?) throws -> [Int] {
        guard let axes else { return s.filter { $0 != 1 } }
        let ax = Set(try axes.map { try axis($0, rank: s.count) })
        for a in ax where s[a] != 1 { throw fail("cannot squeeze axis \(a) of size \(s[a])") }
        return s.enumerated().filter { !ax.contains($0.offset) }.map(\.element)
    }

    static func unsqueezeShape(_ s: [Int], _ axes: [Int]) throws -> [Int] {
        let rank = s.count + axes.count
        let ax = Set(try axes.map { try axis($0, rank: rank) })
        guard ax.count == axes.count else { throw fail("repeated unsqueeze axes \(axes)") }
        var out: [Int] = [], it = s.makeIterator()
        for d in 0..<rank { out.append(ax.contains(d) ? 1 : (it.next() ?? 1)) }
        return out
    }

    static func flattenShape(_ s: [Int], axis a: Int) throws -> [Int] {
        let ax = a < 0 ? a + s.count : a
        guard ax >= 0 && ax <= s.count else { throw fail("flatten axis \(a) is out of range for shape \(s)") }
        return [count(Array(s[..<ax])), count(Array(s[ax...]))]
    }

    static func padShape(_ s: [Int], _ pads: [Int]) throws -> [Int] {
        guard pads.count == 2 * s.count else { throw fail("Pad needs \(2 * s.count) pads for shape \(s), got \(pads.count)") }
        guard pads.allSatisfy({ $0 > -(1 << 40) && $0 < 1 << 40 }) else { throw fail("pads \(pads) are out of range") }
        let out = s.indices.map { s[$0] + pads[$0] + pads[$0 + s.count] }
        guard out.allSatisfy({ $0 >= 0 }) else { throw fail("pads \(pads) remove more than shape \(s) holds") }
        return out
    }

    static func pad(_ x: Tensor, _ pads: [Int], value: Float) throws -> Tensor {
        let shape = try padShape(x.shape, pads)
        let y = try Tensor(shape: shape, repeating: value)
        let rank = x.rank
        var index = [Int](repeating: 0, count: rank)
        for i in 0..<x.count {
            var dst = 0, inside = true
            for d in 0..<rank {
                let o = index[d] + pads[d]
                if o < 0 || o >= shape[d] { inside = false; break }
                dst = dst * shape[d] + o
            }
            if inside { y.storage.pointer[dst] = x.storage.pointer[i] }
            var d = rank - 1
            while d >= 0 { index[d] += 1; if index[d] < x.shape[d] { break }; index[d] = 0; d -= 1 }
        }
        return y
    }

    static func gather(_ x: Tensor, _ indices: Tensor, axis a: Int) throws -> Tensor {
        let ax = try axis(a, rank: x.rank)
        let outer = count(Array(x.shape[..<ax])), inner = count(Array(x.shape[(ax + 1)...])), n = x.shape[ax]
        let shape = Array(x.shape[..<ax]) + indices.shape + Array(x.shape[(ax + 1)...])
        let y = try Tensor(zeros: shape)
        let m = indices.count
        for o in 0..<outer {
            for j in 0..<m {
                let v = indices.storage.pointer[j]
                guard v.isFinite, Swift.abs(v) <= Float(n) else { throw fail("Gather index \(v) is out of range for size \(n)") }
                var k = Int(v)
                if k < 0 { k += n }
                guard k >= 0 && k < n else { throw fail("Gather index \(Int(v)) is out of range for size \(n)") }
                (y.storage.pointer + (o * m + j) * inner).update(from: x.storage.pointer + (o * n + k) * inner, count: inner)
            }
        }
        return y
    }

    /// numpy-style slicing: for each listed axis, `start..<end` by `step` (negative indices count from the end,
    /// out-of-range bounds are clamped, as ONNX specifies).
    static func sliceRanges(_ s: [Int], starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) throws -> [(start: Int, step: Int, count: Int)] {
        let ax = try (axes ?? Array(0..<starts.count)).map { try axis($0, rank: s.count) }
        let st = steps ?? [Int](repeating: 1, count: starts.count)
        guard starts.count == ends.count, ax.count == starts.count, st.count == starts.count else {
            throw fail("Slice starts, ends, axes and steps must have the same length")
        }
        var ranges = s.map { (start: 0, step: 1, count: $0) }
        for (i, a) in ax.enumerated() {
            let n = s[a], step = st[i]
            guard step != 0 else { throw fail("Slice step 0") }
            func clamp(_ v: Int, _ lo: Int, _ hi: Int) -> Int { Swift.min(Swift.max(v, lo), hi) }
            var b = starts[i] < 0 ? starts[i] + n : starts[i], e = ends[i] < 0 ? ends[i] + n : ends[i]
            if step > 0 { b = clamp(b, 0, n); e = clamp(e, 0, n) } else { b = clamp(b, -1, n - 1); e = clamp(e, -1, n - 1) }
            let count = step > 0 ? Swift.max(0, (e - b + step - 1) / step) : Swift.max(0, (b - e - step - 1) / -step)
            ranges[a] = (b, step, count)
        }
        return ranges
    }

    /// The slice. Trailing dimensions taken whole, and the one before them when its step is 1, are contiguous in
    /// the input and move as one run (ShuffleNet's channel split: one copy per image).
    static func slice(_ x: Tensor, _ ranges: [(start: Int, step: Int, count: Int)]) throws -> Tensor {
        let shape = ranges.map(\.count)
        let y = try Tensor(uninitialized: shape)
        if y.count == 0 { return y }
        let inStrides = strides(of: x.shape)
        var whole = shape.count
        while whole > 0 && ranges[whole - 1].start == 0 && ranges[whole - 1].step == 1 && ranges[whole - 1].count == x.shape[whole - 1] {
            whole -= 1
        }
        let outer = whole > 0 && ranges[whole - 1].step == 1 ? whole - 1 : whole
        let base = ranges.indices.reduce(0) { $0 + ranges[$1].start * inStrides[$1] }
        copyRuns(from: x.storage.pointer, to: y.storage.pointer, run: count(Array(shape[outer...])), dims: Array(shape[..<outer]),
                 strides: (0..<outer).map { ranges[$0].step * inStrides[$0] }, base: base)
        return y
    }

    // MARK: Resize (H and W of NCHW)

    static func resizeShape(_ s: [Int], scales: [Float]?, sizes: [Int]?) throws -> [Int] {
        guard s.count == 4 else { throw fail("Resize supports NCHW tensors, got \(s)") }
        if let sizes {
            guard sizes.count == 4, sizes[0] == s[0], sizes[1] == s[1], sizes[2] > 0, sizes[3] > 0 else {
                throw fail("Resize sizes \(sizes) must keep N and C of \(s)")
            }
            return sizes
        }
        guard let scales, scales.count == 4, scales[0] == 1, scales[1] == 1, scales[2] > 0, scales[3] > 0,
              scales[2].isFinite, scales[3].isFinite else { throw fail("Resize scales \(scales ?? []) must be [1, 1, sh, sw] with positive sh, sw") }
        let h = (Float(s[2]) * scales[2]).rounded(.down), w = (Float(s[3]) * scales[3]).rounded(.down)
        guard h <= 0x1p30, w <= 0x1p30 else { throw fail("Resize scales \(scales) make a \(h) × \(w) plane") }
        return [s[0], s[1], Int(h), Int(w)]
    }

    /// Resize of every plane, source positions computed once per output row and column: nearest takes one input pixel
    /// per output (an output row with the same input row as the one before is a copy of it), linear blends the two
    /// input rows of an output row first (a vector pass over the row) and then the two columns of each output (from
    /// tables) — or, where there are more output rows than input rows, the columns of every input row first and then
    /// each output row as a vector blend of two of those. Planes are split over `threads` when there is enough work. A
    /// segmentation head's ×8 bilinear upsampling (LRASPP-MobileNetV3's 21 × 28² → 224²) took 7.3 ms of a 19 ms call
    /// one output at a time, coordinates recomputed for each (twenty-eighth session, `fftconv-bench net … --profile`),
    /// 0.61 ms rows first, columns first ~0.1 (thirty-first session).
    static func resize(_ x: Tensor, to shape: [Int], mode: ResizeMode, coordinates: ResizeCoordinates, scales: [Float]?,
                       threads: Int = 1) throws -> Tensor {
        let y = try Tensor(uninitialized: shape)
        let (h, w, oh, ow) = (x.shape[2], x.shape[3], shape[2], shape[3])
        if y.count == 0 { return y }
        let sh = scales?[2] ?? Float(oh) / Float(h), sw = scales?[3] ?? Float(ow) / Float(w)
        func source(_ o: Int, _ scale: Float, _ inSize: Int, _ outSize: Int) -> Float {
            switch coordinates {
            case .halfPixel: return (Float(o) + 0.5) / scale - 0.5
            case .pytorchHalfPixel: return outSize > 1 ? (Float(o) + 0.5) / scale - 0.5 : 0
            case .alignCorners: return outSize > 1 ? Float(o) * Float(inSize - 1) / Float(outSize - 1) : 0
            case .asymmetric: return Float(o) / scale
            }
        }
        // Per output row (column): the input rows (columns) it reads and the weight of the second.
        func taps(_ count: Int, _ scale: Float, _ inSize: Int) -> (first: [Int], second: [Int], weight: [Float]) {
            var first = [Int](repeating: 0, count: count), second = first, weight = [Float](repeating: 0, count: count)
            for o in 0..<count {
                let f = source(o, scale, inSize, count)
                if mode == .nearest {
                    // nearest_mode round_prefer_floor for half_pixel, floor for asymmetric (PyTorch's exports).
                    let i = coordinates == .asymmetric ? Int(f.rounded(.down)) : Int((f - 0.5).rounded(.up))
                    first[o] = Swift.min(Swift.max(i, 0), inSize - 1)
                    second[o] = first[o]
                } else {
                    let c = Swift.min(Swift.max(f, 0), Float(inSize - 1))
                    first[o] = Int(c)
                    second[o] = Swift.min(first[o] + 1, inSize - 1)
                    weight[o] = c - Float(first[o])
                }
            }
            return (first, second, weight)
        }
        let rows = taps(oh, sh, h), columns = taps(ow, sw, w)
        let src0 = x.storage.pointer, dst0 = y.storage.pointer
        // Upsampling rows, linear: every input row blended across first (h · ow gathers instead of oh · ow), then each
        // output row a vector blend of two of those.
        let columnsFirst = mode != .nearest && oh > h
        rows.first.withUnsafeBufferPointer { y0 in rows.second.withUnsafeBufferPointer { y1 in rows.weight.withUnsafeBufferPointer { dy in
        columns.first.withUnsafeBufferPointer { x0 in columns.second.withUnsafeBufferPointer { x1 in columns.weight.withUnsafeBufferPointer { dx in
            forEachPlane(shape, mode == .nearest ? 1 : 4, threads: threads, line: columnsFirst ? h * ow : w, filledWith: 0) { line, p in
                let src = src0 + p * h * w, dst = dst0 + p * oh * ow
                if columnsFirst {
                    for k in 0..<h {
                        let r = src + k * w, out = line + k * ow
                        for j in 0..<ow {
                            let a = r[x0[j]], b = r[x1[j]]
                            out[j] = a + dx[j] * (b - a)
                        }
                    }
                    for i in 0..<oh {
                        let r0 = line + y0[i] * ow, t = dy[i]
                        if t == 0 || y0[i] == y1[i] {
                            Copy.floats(dst + i * ow, r0, ow)
                        } else {
                            VectorMath.blend(r0, line + y1[i] * ow, t, into: dst + i * ow, count: ow)
                        }
                    }
                    return
                }
                for i in 0..<oh {
                    let out = dst + i * ow
                    if mode == .nearest {
                        if i > 0 && y0[i] == y0[i - 1] {
                            // The same input row as the output row before: its outputs again.
                            Copy.floats(out, out - ow, ow)
                            continue
                        }
                        let r = src + y0[i] * w
                        for j in 0..<ow { out[j] = r[x0[j]] }
                        continue
                    }
                    // The output row's input row: a blend of two rows (one where both are the same or the weight is 0).
                    let r0 = src + y0[i] * w, r1 = src + y1[i] * w, t = dy[i]
                    let r: UnsafePointer<Float>
                    if t == 0 || y0[i] == y1[i] {
                        r = UnsafePointer(r0)
                    } else {
                        VectorMath.blend(r0, r1, t, into: line, count: w)
                        r = UnsafePointer(line)
                    }
                    for j in 0..<ow {
                        let a = r[x0[j]], b = r[x1[j]]
                        out[j] = a + dx[j] * (b - a)
                    }
                }
            }
        } } } } } }
        return y
    }

    // MARK: Transposed convolution (U-Net up-sampling)

    static func convolutionTransposeShape(_ s: [Int], weights w: [Int], stride: Size2D, padding: Padding, dilation: Size2D,
                                          outputPadding: Size2D, groups: Int) throws -> [Int] {
        guard s.count == 4, w.count == 4, groups >= 1, s[1] == w[0], w[0] % groups == 0 else {
            throw fail("ConvTranspose: input \(s) and weights \(w) (groups \(groups)) do not fit")
        }
        guard stride.height > 0, stride.width > 0, dilation.height > 0, dilation.width > 0 else { throw fail("strides and dilations must be positive") }
        let oh = (s[2] - 1) * stride.height - padding.top - padding.bottom + (w[2] - 1) * dilation.height + 1 + outputPadding.height
        let ow = (s[3] - 1) * stride.width - padding.left - padding.right + (w[3] - 1) * dilation.width + 1 + outputPadding.width
        guard oh > 0, ow > 0 else { throw fail("ConvTranspose output would be empty") }
        return [s[0], w[1] * groups, oh, ow]
    }

    // MARK: Matrix products

    static func matMulShape(_ a: [Int], _ b: [Int]) throws -> [Int] {
        guard a.count >= 1, b.count >= 1 else { throw fail("MatMul of scalars") }
        let a2 = a.count == 1 ? [1] + a : a, b2 = b.count == 1 ? b + [1] : b
        guard a2[a2.count - 1] == b2[b2.count - 2] else { throw fail("MatMul: \(a) × \(b) inner dimensions differ") }
        let batch = try broadcastShape(Array(a2.dropLast(2)), Array(b2.dropLast(2)))
        var out = batch + [a2[a2.count - 2], b2[b2.count - 1]]
        if a.count == 1 { out.remove(at: out.count - 2) }
        if b.count == 1 { out.removeLast() }
        return out
    }

    /// Naive batched product (used when neither operand is a prepared weight matrix).
    static func matMul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        let shape = try matMulShape(a.shape, b.shape)
        let a2 = a.rank == 1 ? [1] + a.shape : a.shape, b2 = b.rank == 1 ? b.shape + [1] : b.shape
        let (m, k, n) = (a2[a2.count - 2], a2[a2.count - 1], b2[b2.count - 1])
        let batch = try broadcastShape(Array(a2.dropLast(2)), Array(b2.dropLast(2)))
        let batches = count(batch)
        let aBatches = count(Array(a2.dropLast(2))), bBatches = count(Array(b2.dropLast(2)))
        let y = try Tensor(zeros: shape)
        for t in 0..<batches {
            let pa = a.storage.pointer + (aBatches == 1 ? 0 : t) * m * k, pb = b.storage.pointer + (bBatches == 1 ? 0 : t) * k * n
            let py = y.storage.pointer + t * m * n
            for i in 0..<m { for j in 0..<n { var s: Float = 0; for l in 0..<k { s += pa[i * k + l] * pb[l * n + j] }; py[i * n + j] = s } }
        }
        return y
    }
}
