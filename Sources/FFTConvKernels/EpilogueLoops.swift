/// Element-wise write-out loops specialised per activation: the `switch` on the activation happens once per
/// call, not once per vector, so each loop compiles to straight vector code.
@usableFromInline
protocol ActivationFunction {
    func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float>
    func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float>
    func callAsFunction(_ x: Float) -> Float
}

@usableFromInline struct IdentityFunction: ActivationFunction {
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> { x }
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> { x }
    @inline(__always) @usableFromInline func callAsFunction(_ x: Float) -> Float { x }
}

@usableFromInline struct ClipFunction: ActivationFunction {
    let lo: Float, hi: Float
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> {
        // Compare-and-select, not pointwiseMin/Max: their NaN-propagating `minimum` semantics make LLVM
        // scalarise them lane by lane (measured 4× slower for a whole 1x1 layer).
        let l = SIMD8<Float>(repeating: lo), h = SIMD8<Float>(repeating: hi)
        let y = x.replacing(with: l, where: x .< l)
        return y.replacing(with: h, where: y .> h)
    }
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let l = SIMD16<Float>(repeating: lo), h = SIMD16<Float>(repeating: hi)
        let y = x.replacing(with: l, where: x .< l)
        return y.replacing(with: h, where: y .> h)
    }
    @inline(__always) @usableFromInline func callAsFunction(_ x: Float) -> Float { Swift.min(Swift.max(x, lo), hi) }
}

@usableFromInline struct LeakyFunction: ActivationFunction {
    let alpha: Float
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> {
        x.replacing(with: x * alpha, where: x .< 0)
    }
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> {
        x.replacing(with: x * alpha, where: x .< 0)
    }
    @inline(__always) @usableFromInline func callAsFunction(_ x: Float) -> Float { x >= 0 ? x : alpha * x }
}

/// `min(max(alpha·x + beta, 0), 1)`, the product not fused (the same bits as `Epilogue.activate`).
@usableFromInline struct HardSigmoidFunction: ActivationFunction {
    let alpha: Float, beta: Float
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let t = x * alpha + beta
        return t.replacing(with: 0, where: t .< 0).replacing(with: 1, where: t .> 1)
    }
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let t = x * alpha + beta
        return t.replacing(with: 0, where: t .< 0).replacing(with: 1, where: t .> 1)
    }
    @inline(__always) @usableFromInline func callAsFunction(_ x: Float) -> Float { Swift.min(Swift.max(x * alpha + beta, 0), 1) }
}

/// `x · min(max(alpha·x + beta, 0), 1)` (HardSwish: alpha = 1/6, beta = 0.5).
@usableFromInline struct HardSwishFunction: ActivationFunction {
    let gate: HardSigmoidFunction
    init(alpha: Float, beta: Float) { gate = HardSigmoidFunction(alpha: alpha, beta: beta) }
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> { x * gate(x) }
    @inline(__always) @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> { x * gate(x) }
    @inline(__always) @usableFromInline func callAsFunction(_ x: Float) -> Float { x * gate(x) }
}

/// `1 / (1 + exp(−x))`, `exp` by `VectorMath` (the scalar by its eight-lane form: the same bits).
@usableFromInline struct SigmoidFunction: ActivationFunction {
    @_transparent @usableFromInline func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> { 1 / (1 + VectorMath.exp(-x)) }
    @_transparent @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> { 1 / (1 + VectorMath.exp(-x)) }
    @inline(__always) @usableFromInline func callAsFunction(_ x: Float) -> Float { self(SIMD8<Float>(repeating: x))[0] }
}

/// `x / (1 + exp(−x))`: SiLU (swish), one division (was `x · (1 / …)`, a division and a product). Transparent, as the sigmoid: with `@inline(__always)` the sixteen-lane form
/// was left out of line in the large depthwise kernels and `finishRows` — 33 calls, each a latency-bound chain with
/// its vector passed in four pieces (EfficientNet-B0 at 1 thread 14.5–15.0 ms, inlined 13.3–13.6).
@usableFromInline struct SiLUFunction: ActivationFunction {
    @_transparent @usableFromInline func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> { x / (1 + VectorMath.exp(-x)) }
    @_transparent @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> { x / (1 + VectorMath.exp(-x)) }
    @inline(__always) @usableFromInline func callAsFunction(_ x: Float) -> Float { self(SIMD8<Float>(repeating: x))[0] }
}

/// `tanh(x)` by `VectorMath` (the scalar by its eight-lane form: the same bits).
@usableFromInline struct TanhFunction: ActivationFunction {
    @_transparent @usableFromInline func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> { VectorMath.tanh(x) }
    @_transparent @usableFromInline func callAsFunction(_ x: SIMD16<Float>) -> SIMD16<Float> { VectorMath.tanh(x) }
    @inline(__always) @usableFromInline func callAsFunction(_ x: Float) -> Float { VectorMath.tanh(x) }
}

/// A loop over one activation's function (`Epilogue.visit` picks the function).
@usableFromInline protocol ActivationVisitor {
    func visit<F: ActivationFunction>(_ f: F)
}

extension Epilogue {
    /// `dst[i] = activate(src[i] + bias + residual[i])` for `i` in `0..<count` (`residual` optional);
    /// `src` and `dst` may be the same pointer.
    public func finish(src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>, count: Int, bias: Float,
                       residual: UnsafePointer<Float>?) {
        finishRows(1, src: src, srcStride: 0, dst: dst, dstStride: 0, count: count, bias: bias, residual: residual)
    }

    /// `finish` on `rows` rows: row `r` from `src + r·srcStride` to `dst + r·dstStride`, its residual (optional)
    /// at `residual + r·dstStride` — one call and one `switch` for them all (Winograd's output rows of 13).
    public func finishRows(_ rows: Int, src: UnsafePointer<Float>, srcStride: Int, dst: UnsafeMutablePointer<Float>,
                           dstStride: Int, count: Int, bias: Float, residual: UnsafePointer<Float>?) {
        struct Rows: ActivationVisitor {
            let rows: Int, src: UnsafePointer<Float>, srcStride: Int, dst: UnsafeMutablePointer<Float>, dstStride: Int
            let count: Int, bias: Float, residual: UnsafePointer<Float>?
            @inline(__always) func visit<F: ActivationFunction>(_ f: F) {
                for r in 0..<rows {
                    Epilogue.loop(f, src + r * srcStride, dst + r * dstStride, count, bias, residual.map { $0 + r * dstStride })
                }
            }
        }
        visit(Rows(rows: rows, src: src, srcStride: srcStride, dst: dst, dstStride: dstStride, count: count, bias: bias, residual: residual))
    }

    /// `p[i] = activate(p[i])` for `i` in `0..<count` (no bias: the stored values are final but for the activation —
    /// the split and row-tile stores of a non-clamp activation).
    public func activate(_ p: UnsafeMutablePointer<Float>, count: Int) {
        struct InPlace: ActivationVisitor {
            let p: UnsafeMutablePointer<Float>, count: Int
            @inline(__always) func visit<F: ActivationFunction>(_ f: F) {
                var i = 0
                while i + 16 <= count {
                    let q = UnsafeMutableRawPointer(p + i)
                    q.storeBytes(of: f(q.loadUnaligned(as: SIMD16<Float>.self)), as: SIMD16<Float>.self)
                    i += 16
                }
                while i + 8 <= count {
                    let q = UnsafeMutableRawPointer(p + i)
                    q.storeBytes(of: f(q.loadUnaligned(as: SIMD8<Float>.self)), as: SIMD8<Float>.self)
                    i += 8
                }
                while i < count { p[i] = f(p[i]); i += 1 }
            }
        }
        visit(InPlace(p: p, count: count))
    }

    /// The one `switch` over the activations: `v.visit` with this epilogue's function, so that each loop built on it
    /// is compiled once per activation, with the activation inlined.
    @inline(__always)
    func visit<V: ActivationVisitor>(_ v: V) {
        switch kind {
        case .identity: v.visit(IdentityFunction())
        case .relu: v.visit(ClipFunction(lo: 0, hi: .infinity))
        case .clip: v.visit(ClipFunction(lo: a, hi: b))
        case .leakyReLU: v.visit(LeakyFunction(alpha: a))
        case .hardSigmoid: v.visit(HardSigmoidFunction(alpha: a, beta: b))
        case .hardSwish: v.visit(HardSwishFunction(alpha: a, beta: b))
        case .sigmoid: v.visit(SigmoidFunction())
        case .silu: v.visit(SiLUFunction())
        case .tanh: v.visit(TanhFunction())
        }
    }

    /// `dst[i] = activate(src[i] · scale + shift)` for `i` in `0..<count` (the product not fused): a batch
    /// normalisation's affine map on one channel's plane, with the activation that follows it.
    public func finishScaled(src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>, count: Int, scale: Float, shift: Float) {
        struct Scaled: ActivationVisitor {
            let src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>, count: Int, scale: Float, shift: Float
            @inline(__always) func visit<F: ActivationFunction>(_ f: F) {
                typealias V = SIMD8<Float>
                let k = V(repeating: scale), b = V(repeating: shift)
                var i = 0
                while i + 8 <= count {
                    let v = UnsafeRawPointer(src + i).loadUnaligned(as: V.self) * k + b
                    UnsafeMutableRawPointer(dst + i).storeBytes(of: f(v), as: V.self)
                    i += 8
                }
                while i < count { dst[i] = f(src[i] * scale + shift); i += 1 }
            }
        }
        visit(Scaled(src: src, dst: dst, count: count, scale: scale, shift: shift))
    }

    @inline(__always)
    static func loop<F: ActivationFunction>(_ f: F, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                            _ count: Int, _ bias: Float, _ residual: UnsafePointer<Float>?) {
        typealias V = SIMD8<Float>
        let vb = V(repeating: bias)
        @inline(__always) func step(_ i: Int) {
            var v = UnsafeRawPointer(src + i).loadUnaligned(as: V.self) + vb
            if let residual { v += UnsafeRawPointer(residual + i).loadUnaligned(as: V.self) }
            UnsafeMutableRawPointer(dst + i).storeBytes(of: f(v), as: V.self)
        }
        let outOfPlace = UnsafeRawPointer(src) != UnsafeRawPointer(dst) && residual.map { UnsafeRawPointer($0) != UnsafeRawPointer(dst) } ?? true
        var i = 0
        if KernelTarget.wideRegisters && count >= 16 {
            // Sixteen lanes where registers hold them: Winograd's output rows of 27 and 55 (SqueezeNet: this loop
            // 2.8% of the network at 1 thread on eight lanes).
            typealias W = SIMD16<Float>
            let wb = W(repeating: bias)
            @inline(__always) func step16(_ i: Int) {
                var v = UnsafeRawPointer(src + i).loadUnaligned(as: W.self) + wb
                if let residual { v += UnsafeRawPointer(residual + i).loadUnaligned(as: W.self) }
                UnsafeMutableRawPointer(dst + i).storeBytes(of: f(v), as: W.self)
            }
            while i + 16 <= count { step16(i); i += 16 }
            if i < count && outOfPlace {
                step16(count - 16)  // the tail as one vector ending at `count`, as below
                return
            }
        }
        while i + 8 <= count { step(i); i += 8 }
        if i < count && count >= 8 && outOfPlace {
            // The tail as one vector ending at `count`: it recomputes a few outputs from the same inputs (the
            // same values), which only works when neither input is the output.
            step(count - 8)
            return
        }
        while i < count { dst[i] = f(src[i] + bias + (residual?[i] ?? 0)); i += 1 }
    }
}

extension Epilogue {
    /// `p[r·width + j] = activate(p[r·width + j] + bias[j])` for `r` in `0..<rows`, `j` in `0..<width` — a bias
    /// per column, as on tiles whose rows are positions and columns channels; without the activation when
    /// `activate` is false (a residual is still to be added). `width` is a multiple of 16.
    public func biasRows(_ p: UnsafeMutablePointer<Float>, rows: Int, width: Int, bias: UnsafePointer<Float>, activate: Bool) {
        struct BiasRows: ActivationVisitor {
            let p: UnsafeMutablePointer<Float>, rows: Int, width: Int, bias: UnsafePointer<Float>
            @inline(__always) func visit<F: ActivationFunction>(_ f: F) { Epilogue.rowsLoop(f, p, rows, width, bias) }
        }
        (activate ? self : .identity).visit(BiasRows(p: p, rows: rows, width: width, bias: bias))
    }

    @inline(__always)
    static func rowsLoop<F: ActivationFunction>(_ f: F, _ p: UnsafeMutablePointer<Float>, _ rows: Int, _ width: Int,
                                                _ bias: UnsafePointer<Float>) {
        typealias V = SIMD16<Float>
        var u = 0
        while u < width {
            let b = UnsafeRawPointer(bias + u).loadUnaligned(as: V.self)
            for r in 0..<rows {
                let q = UnsafeMutableRawPointer(p + r * width + u)
                q.storeBytes(of: f(q.loadUnaligned(as: V.self) + b), as: V.self)
            }
            u += 16
        }
    }
}
