/// The element-wise tail that every kernel applies while writing its output: bias, then an activation.
///
/// A plain value with no policy: operators translate the public `Activation` into this once, at prepare
/// time, and kernels apply it in their write-out so that the output is touched once.
public struct Epilogue: Sendable, Hashable {
    /// The activation function applied after the bias.
    public enum Kind: UInt8, Sendable, Hashable {
        /// `y = x`.
        case identity
        /// `y = max(x, 0)`.
        case relu
        /// `y = min(max(x, lower), upper)`; ReLU6 is `clip(0, 6)`.
        case clip
        /// `y = x` for `x >= 0`, `alpha * x` otherwise.
        case leakyReLU
        /// `y = min(max(alpha * x + beta, 0), 1)` (ONNX HardSigmoid; PyTorch's `hardsigmoid` is alpha = 1/6, beta = 0.5).
        case hardSigmoid
        /// `y = x * min(max(alpha * x + beta, 0), 1)` with alpha = 1/6, beta = 0.5 (ONNX HardSwish, MobileNetV3).
        case hardSwish
        /// `y = 1 / (1 + exp(-x))`, `exp` by `VectorMath`.
        case sigmoid
        /// `y = x / (1 + exp(-x))` (SiLU, swish: EfficientNet), `exp` by `VectorMath`.
        case silu
        /// `y = tanh(x)` by `VectorMath` (ESPCN's hidden layers, CycleGAN's output).
        case tanh
    }

    /// Which activation.
    public var kind: Kind
    /// `lower` for `.clip`, `alpha` for `.leakyReLU`, `.hardSigmoid` and `.hardSwish`, unused otherwise.
    public var a: Float
    /// `upper` for `.clip`, `beta` for `.hardSigmoid` and `.hardSwish`, unused otherwise.
    public var b: Float

    /// Creates an epilogue; the meaning of `a` and `b` depends on `kind`.
    @inlinable
    public init(kind: Kind, a: Float = 0, b: Float = 0) {
        self.kind = kind
        self.a = a
        self.b = b
    }

    /// No activation.
    public static let identity = Epilogue(kind: .identity)

    /// Applies the activation to one value (bias already added).
    @inlinable @inline(__always)
    public func activate(_ x: Float) -> Float {
        switch kind {
        case .identity: return x
        case .relu: return x < 0 ? 0 : x  // a NaN passes, as in the vector form
        case .clip: return Swift.min(Swift.max(x, a), b)
        case .leakyReLU: return x >= 0 ? x : a * x
        case .hardSigmoid: return Swift.min(Swift.max(x * a + b, 0), 1)
        case .hardSwish: return x * Swift.min(Swift.max(x * a + b, 0), 1)
        case .sigmoid: return activate(SIMD8<Float>(repeating: x))[0]
        case .silu: return activate(SIMD8<Float>(repeating: x))[0]
        case .tanh: return VectorMath.tanh(x)
        }
    }

    /// Applies the activation to eight values at once.
    @inlinable @inline(__always)
    public func activate(_ x: SIMD8<Float>) -> SIMD8<Float> {
        switch kind {
        case .identity: return x
        case .relu: return x.replacing(with: 0, where: x .< 0)
        case .clip:
            let y = x.replacing(with: a, where: x .< a)
            return y.replacing(with: b, where: y .> b)
        case .leakyReLU: return x.replacing(with: x * a, where: x .< 0)
        case .hardSigmoid, .hardSwish:
            // Not fused (`x * a + b`), as in the scalar form and `EpilogueLoops`' functions: the same bits in every path.
            let t = x * a + b
            let g = t.replacing(with: 0, where: t .< 0).replacing(with: 1, where: t .> 1)
            return kind == .hardSwish ? x * g : g
        case .sigmoid: return 1 / (1 + VectorMath.exp(-x))
        case .silu: return x / (1 + VectorMath.exp(-x))
        case .tanh: return VectorMath.tanh(x)
        }
    }

    /// The activation as `clip(x, lo, hi)` — identity, ReLU and clip are — or `nil` (the others): what the fused
    /// micro-kernels (`GEMMMicroKernel.fused`) apply on their store.
    public var clipBounds: (lo: Float, hi: Float)? {
        switch kind {
        case .identity: return (-.infinity, .infinity)
        case .relu: return (0, .infinity)
        case .clip: return (a, b)
        case .leakyReLU, .hardSigmoid, .hardSwish, .sigmoid, .silu, .tanh: return nil
        }
    }

    /// `p[i] = activate(p[i] + bias + residual[i])` for `i` in `0..<count` (no residual term when nil).
    public func apply(to p: UnsafeMutablePointer<Float>, count: Int, bias: Float, residual: UnsafePointer<Float>? = nil) {
        finish(src: p, dst: p, count: count, bias: bias, residual: residual)
    }
}
