import Foundation
import FFTConvKernels

/// The operations image-to-image networks add to a classifier's: padding by reflection or by the edge (style
/// transfer's and CycleGAN's `ReflectionPad2d` before every convolution), instance normalisation, the pixel shuffles
/// of super-resolution networks, and element-wise functions (Softplus, ELU, Mish, …).
extension TensorOperations {
    // MARK: Padding

    /// The shape `pads` (ONNX order: every dimension's leading pad, then every trailing one; negative values crop)
    /// give `s`, checked for `mode`: a reflection may reach at most `size − 1` values past an edge (PyTorch's and
    /// ONNX Runtime's rule), and neither a reflection nor an edge can extend an empty dimension.
    static func padShape(_ s: [Int], _ pads: [Int], mode: PadMode) throws -> [Int] {
        let out = try padShape(s, pads)
        guard mode != .constant else { return out }
        for d in s.indices where pads[d] > 0 || pads[d + s.count] > 0 {
            let most = Swift.max(pads[d], pads[d + s.count])
            guard s[d] > 0 else { throw fail("Pad mode '\(mode.rawValue)' cannot extend dimension \(d) of shape \(s): it is empty") }
            if mode == .reflect, most >= s[d] {
                throw fail("Pad mode 'reflect' needs pads below the dimension's size: \(most) on dimension \(d) of shape \(s)")
            }
        }
        return out
    }

    /// The input index output index `o` of a dimension of `n` values padded by `before` reads: `nil` for a constant
    /// pad's fill; a reflection mirrors about the edge value, an edge repeats it.
    @inline(__always)
    static func padSource(_ o: Int, before: Int, n: Int, mode: PadMode) -> Int? {
        let i = o - before
        if i >= 0 && i < n { return i }
        switch mode {
        case .constant: return nil
        case .edge: return i < 0 ? 0 : n - 1
        case .reflect: return i < 0 ? -i : 2 * (n - 1) - i
        }
    }

    /// `x` padded by `pads` with `mode`: each output row (last dimension) is the source row's values, its middle
    /// copied as one run and the few values past its ends by `padSource`; rows outside a constant pad are filled.
    /// Rows are split over `threads` from 64 K floats.
    static func pad(_ x: Tensor, _ pads: [Int], value: Float, mode: PadMode, threads: Int = 1) throws -> Tensor {
        let shape = try padShape(x.shape, pads, mode: mode), r = x.rank
        let y = try Tensor(uninitialized: shape)
        guard y.count > 0 else { return y }
        guard r > 0 else { y.storage.pointer[0] = x.storage.pointer[0]; return y }
        let width = shape[r - 1], n = x.shape[r - 1], before = pads[r - 1]
        let columns = (0..<width).map { padSource($0, before: before, n: n, mode: mode) ?? -1 }
        // Output columns lo..<hi are copied as one run (none when a pad and a crop leave only filled columns).
        let lo = Swift.min(Swift.max(0, before), width), hi = Swift.min(width, before + n)
        let rows = y.count / width, inStrides = strides(of: x.shape)
        let src = x.storage.pointer, dst = y.storage.pointer
        Parallel.forEachRange(count: rows, threads: y.count >= 1 << 16 ? threads : 1) { _, items in
            for row in items {
                var rest = row, from = 0, inside = true
                for d in stride(from: r - 2, through: 0, by: -1) {
                    let o = rest % shape[d]
                    rest /= shape[d]
                    guard let i = padSource(o, before: pads[d], n: x.shape[d], mode: mode) else { inside = false; break }
                    from += i * inStrides[d]
                }
                let out = dst + row * width
                guard inside else { out.update(repeating: value, count: width); continue }
                let line = src + from
                for j in 0..<lo { out[j] = columns[j] < 0 ? value : line[columns[j]] }
                if hi > lo { (out + lo).update(from: line + (lo - before), count: hi - lo) }
                for j in Swift.max(hi, lo)..<width { out[j] = columns[j] < 0 ? value : line[columns[j]] }
            }
        }
        return y
    }

    // MARK: Instance normalisation

    /// `activation((x − mean) / √(var + ε) · scale[c] + bias[c])` with each image's channel's own mean and (biased)
    /// variance over its spatial positions (`moments`: exact for a constant plane), then one scaled write-out
    /// (`finishScaled`). Planes are split over `threads` from 64 K floats.
    static func instanceNormalization(_ x: Tensor, scale: Tensor, bias: Tensor, epsilon: Float, activation: Epilogue,
                                      padding: SpatialPadding? = nil, threads: Int) throws -> Tensor {
        guard x.rank >= 3 else { throw fail("InstanceNormalization needs N, C and spatial dimensions, got \(x.shape)") }
        let c = x.shape[1]
        guard scale.count == c, bias.count == c else {
            throw fail("InstanceNormalization over \(c) channels needs \(c) scales and biases, got \(scale.count) and \(bias.count)")
        }
        if padding != nil, x.rank != 4 { throw fail("InstanceNormalization can pad NCHW tensors only, got \(x.shape)") }
        let pads = padding.map { [0, 0, $0.top, $0.left, 0, 0, $0.bottom, $0.right] } ?? []
        let outShape = try padding.map { try padShape(x.shape, pads, mode: $0.mode) } ?? x.shape
        let y = try Tensor(uninitialized: outShape)
        let plane = count(Array(x.shape[2...])), planes = x.shape[0] * c, outPlane = count(Array(outShape[2...]))
        guard plane > 0 else { return y }
        let rows = padding == nil ? 1 : x.shape[2], width = plane / rows, outWidth = outShape[outShape.count - 1]
        let src = x.storage.pointer, dst = y.storage.pointer, w = scale.storage.pointer, b = bias.storage.pointer
        Parallel.forEachRange(count: planes, threads: x.count >= 1 << 16 ? threads : 1) { _, items in
            for p in items {
                let values = UnsafePointer(src + p * plane), ch = p % c
                let (mean, variance) = moments(values, count: plane)
                let k = w[ch] / (variance + epsilon).squareRoot()
                guard let padding else {
                    activation.finishScaled(src: values, dst: dst + p * plane, count: plane, scale: k, shift: b[ch] - mean * k)
                    continue
                }
                // Row by row into the padded plane's interior, then its border.
                let out = dst + p * outPlane
                for r in 0..<rows {
                    activation.finishScaled(src: values + r * width, dst: out + (r + padding.top) * outWidth + padding.left, count: width,
                                            scale: k, shift: b[ch] - mean * k)
                }
                fillBorder(out, height: rows, width: width, padding)
            }
        }
        return y
    }

    /// The border of a padded plane (`height × width` values written at `(top, left)` of a plane of
    /// `(top + height + bottom) × (left + width + right)`): each interior row's left and right ends by `padSource`,
    /// then the rows above and below as copies of the rows they reflect or repeat (or the constant).
    static func fillBorder(_ out: UnsafeMutablePointer<Float>, height: Int, width: Int, _ p: SpatialPadding) {
        let outWidth = p.left + width + p.right
        for r in p.top..<(p.top + height) {
            let row = out + r * outWidth
            for j in 0..<p.left { row[j] = padSource(j, before: p.left, n: width, mode: p.mode).map { row[p.left + $0] } ?? p.value }
            for j in (p.left + width)..<outWidth {
                row[j] = padSource(j, before: p.left, n: width, mode: p.mode).map { row[p.left + $0] } ?? p.value
            }
        }
        for r in Array(0..<p.top) + Array((p.top + height)..<(p.top + height + p.bottom)) {
            let row = out + r * outWidth
            if let from = padSource(r, before: p.top, n: height, mode: p.mode) {
                row.update(from: out + (p.top + from) * outWidth, count: outWidth)
            } else {
                row.update(repeating: p.value, count: outWidth)
            }
        }
    }

    // MARK: Pixel shuffles

    /// DepthToSpace's output shape: `[N, C/b², H·b, W·b]`.
    static func depthToSpaceShape(_ s: [Int], blockSize b: Int) throws -> [Int] {
        guard s.count == 4, b > 0, b <= s[1], s[1] % (b * b) == 0 else {  // (b ≤ C first: b² cannot overflow)
            throw fail("DepthToSpace with block size \(b) needs an NCHW tensor whose channels the square of \(b) divides, got \(s)")
        }
        return [s[0], s[1] / (b * b), s[2] * b, s[3] * b]
    }

    /// SpaceToDepth's output shape: `[N, C·b², H/b, W/b]`.
    static func spaceToDepthShape(_ s: [Int], blockSize b: Int) throws -> [Int] {
        guard s.count == 4, b > 0, s[2] % b == 0, s[3] % b == 0 else {
            throw fail("SpaceToDepth with block size \(b) needs an NCHW tensor whose height and width \(b) divides, got \(s)")
        }
        return [s[0], s[1] * b * b, s[2] / b, s[3] / b]
    }

    /// DepthToSpace as ONNX defines it — in DCR order output `[n, c, h·b + i, w·b + j]` is input channel `(i·b + j)·C' + c`,
    /// in CRD (PyTorch's `PixelShuffle`) channel `c·b² + i·b + j`, at `[h, w]` — row by row: each output row interleaves
    /// `b` input rows, each read once, contiguous. Rows are split over `threads` from 64 K floats. (As a six-dimensional
    /// transpose it copied one float at a time: ESPCN's 9 × 224² → 384²… 0.77 ms of its 12.)
    static func depthToSpace(_ x: Tensor, blockSize b: Int, columnRowDepth crd: Bool, threads: Int = 1) throws -> Tensor {
        let out = try depthToSpaceShape(x.shape, blockSize: b), s = x.shape, c = out[1], h = s[2], w = s[3]
        let y = try Tensor(uninitialized: out)
        let src = x.storage.pointer, dst = y.storage.pointer, rows = out[0] * c * out[2], width = out[3]
        Parallel.forEachRange(count: rows, threads: y.count >= 1 << 16 ? threads : 1) { _, items in
            for row in items {
                let (image, rest) = row.quotientAndRemainder(dividingBy: c * out[2])
                let (channel, outRow) = rest.quotientAndRemainder(dividingBy: out[2])
                let (inRow, i) = outRow.quotientAndRemainder(dividingBy: b)
                let line = dst + row * width
                for j in 0..<b {
                    let from = crd ? channel * b * b + i * b + j : (i * b + j) * c + channel
                    let source = src + ((image * s[1] + from) * h + inRow) * w
                    for k in 0..<w { line[k * b + j] = source[k] }
                }
            }
        }
        return y
    }

    /// SpaceToDepth as ONNX defines it: `[N, C, H', b, W', b]` → `[N, b, b, C, H', W']`.
    static func spaceToDepth(_ x: Tensor, blockSize b: Int) throws -> Tensor {
        let out = try spaceToDepthShape(x.shape, blockSize: b), s = x.shape
        let moved = try transpose(Tensor(reshaping: x, to: [s[0], s[1], out[2], b, out[3], b]), [0, 3, 5, 1, 2, 4])
        return Tensor(reshaping: moved, to: out)
    }

    // MARK: Split

    /// The lengths of Split's `parts` pieces of a dimension of `n`: `given` (checked: one per piece, none negative,
    /// summing to `n`), or equal pieces of ⌈n / parts⌉, the last one what remains (opset 18's rule; the same as an
    /// even split where `parts` divides `n`).
    static func splitSizes(_ n: Int, parts: Int, _ given: [Int]?) throws -> [Int] {
        if let given {
            guard given.count == parts, given.allSatisfy({ $0 >= 0 && $0 <= n }), given.reduce(0, +) == n else {
                throw fail("Split sizes \(given) do not cut a dimension of \(n) into \(parts) pieces")
            }
            return given
        }
        guard parts > 0 else { throw fail("Split needs at least one output") }
        let piece = (n + parts - 1) / parts
        let sizes = (0..<parts).map { Swift.max(0, Swift.min(piece, n - $0 * piece)) }
        guard sizes.allSatisfy({ $0 > 0 }) else { throw fail("a dimension of \(n) cannot be split into \(parts) pieces") }
        return sizes
    }

    // MARK: Element-wise functions

    /// `f` over every value of `x`: the exponential forms by `VectorMath.exp` eight floats at a time, logarithms by
    /// Foundation's one at a time. Split over `threads` from 64 K floats.
    static func unary(_ x: Tensor, _ f: UnaryFunction, threads: Int = 1) throws -> Tensor {
        let y = try Tensor(uninitialized: x.shape), n = x.count, run = 8192
        let src = x.storage.pointer, dst = y.storage.pointer
        Parallel.forEachRange(count: (n + run - 1) / run, threads: n >= 1 << 16 ? threads : 1) { _, runs in
            let lo = runs.lowerBound * run, hi = Swift.min(n, runs.upperBound * run)
            if f.needsLogarithm {
                for i in lo..<hi { dst[i] = scalar(f, src[i]) }
                return
            }
            var i = lo
            while i + 8 <= hi {
                let v = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(dst + i).storeBytes(of: vector(f, v), as: SIMD8<Float>.self)
                i += 8
            }
            while i < hi { dst[i] = vector(f, SIMD8(repeating: src[i]))[0]; i += 1 }
        }
        return y
    }

    /// `f` of eight values: by `VectorMath.exp` for the exponential forms, lane by lane (`scalar`) for the logarithms.
    @inline(__always)
    static func vector(_ f: UnaryFunction, _ v: SIMD8<Float>) -> SIMD8<Float> {
        let zero = SIMD8<Float>()
        /// `alpha · (e^(x/divisor) − 1)` where `x ≤ 0`, `x` elsewhere.
        func exponentialBelowZero(_ alpha: Float, over divisor: Float = 1) -> SIMD8<Float> {
            let negative = alpha * (VectorMath.exp(pointwiseMin(v, zero) / divisor) - 1)
            return v.replacing(with: negative, where: v .<= zero)
        }
        switch f {
        case .exp: return VectorMath.exp(v)
        case .tanh: return VectorMath.tanh(v)
        case .abs: return v.replacing(with: -v, where: v .< zero)
        case .neg: return -v
        case .reciprocal: return 1 / v
        case .softsign: return v / (1 + v.replacing(with: -v, where: v .< zero))
        case .elu(let alpha): return exponentialBelowZero(alpha)
        case .celu(let alpha): return exponentialBelowZero(alpha, over: alpha)
        case .selu(let alpha, let gamma): return gamma * exponentialBelowZero(alpha)
        case .log, .softplus, .mish:
            var out = v
            for k in 0..<8 { out[k] = scalar(f, v[k]) }
            return out
        }
    }

    /// `f` of one value, by Foundation's functions (Softplus as `max(x, 0) + ln(1 + e^(−|x|))`: no overflow).
    static func scalar(_ f: UnaryFunction, _ x: Float) -> Float {
        func softplus(_ x: Float) -> Float { Swift.max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x))) }
        switch f {
        case .log: return Foundation.log(x)
        case .softplus: return softplus(x)
        case .mish: return x * Foundation.tanh(softplus(x))
        default: return vector(f, SIMD8(repeating: x))[0]
        }
    }
}

extension UnaryFunction {
    /// Whether the function takes a logarithm (computed one value at a time, by Foundation's).
    var needsLogarithm: Bool {
        switch self {
        case .log, .softplus, .mish: return true
        default: return false
        }
    }
}
