import Foundation
import FFTConvKernels

/// The activation fused into a convolution's output write.
public enum Activation: Sendable, Hashable, CustomStringConvertible {
    /// No activation.
    case none
    /// `max(x, 0)`.
    case relu
    /// `min(max(x, min), max)`.
    case clip(min: Float, max: Float)
    /// `x` for `x >= 0`, `alpha * x` otherwise.
    case leakyReLU(alpha: Float)
    /// `min(max(alpha * x + beta, 0), 1)` (ONNX HardSigmoid; PyTorch's `Hardsigmoid` is alpha = 1/6, beta = 0.5).
    case hardSigmoid(alpha: Float, beta: Float)
    /// `x * min(max(x / 6 + 0.5, 0), 1)` (ONNX HardSwish, PyTorch's `Hardswish`, MobileNetV3).
    case hardSwish
    /// `1 / (1 + exp(-x))` (squeeze-and-excitation gates: EfficientNet, RegNetY).
    case sigmoid
    /// `x / (1 + exp(-x))` (SiLU or swish: EfficientNet; ONNX writes it as `Mul(x, Sigmoid(x))`).
    case silu
    /// `tanh(x)` (ESPCN's hidden layers, CycleGAN's output).
    case tanh

    /// ReLU6, as in MobileNet: `clip(min: 0, max: 6)`.
    public static let relu6 = Activation.clip(min: 0, max: 6)

    /// Throws `ConvolutionError.invalidActivation` when a parameter is not finite or `min > max`.
    public func validate() throws {
        switch self {
        case .none, .relu, .hardSwish, .sigmoid, .silu, .tanh: return
        case .clip(let lo, let hi):
            guard lo.isFinite || lo == -.infinity, hi.isFinite || hi == .infinity, !lo.isNaN, !hi.isNaN else {
                throw ConvolutionError.invalidActivation("clip bounds must not be NaN or +inf/-inf on the wrong side, got [\(lo), \(hi)]")
            }
            guard lo <= hi else { throw ConvolutionError.invalidActivation("clip lower bound \(lo) exceeds upper bound \(hi)") }
        case .leakyReLU(let a):
            guard a.isFinite else { throw ConvolutionError.invalidActivation("leaky ReLU alpha must be finite, got \(a)") }
        case .hardSigmoid(let a, let b):
            guard a.isFinite, b.isFinite else {
                throw ConvolutionError.invalidActivation("hard sigmoid alpha and beta must be finite, got \(a) and \(b)")
            }
        }
    }

    /// Applies the activation to one value, in double precision (the reference's arithmetic).
    public func apply(_ x: Double) -> Double {
        switch self {
        case .none: return x
        case .relu: return Swift.max(x, 0)
        case .clip(let lo, let hi): return Swift.min(Swift.max(x, Double(lo)), Double(hi))
        case .leakyReLU(let a): return x >= 0 ? x : Double(a) * x
        case .hardSigmoid(let a, let b): return Swift.min(Swift.max(Double(a) * x + Double(b), 0), 1)
        case .hardSwish: return x * Swift.min(Swift.max(x / 6 + 0.5, 0), 1)
        case .sigmoid: return 1 / (1 + Foundation.exp(-x))
        case .silu: return x / (1 + Foundation.exp(-x))
        case .tanh: return Foundation.tanh(x)
        }
    }

    /// The kernels' form of this activation.
    var epilogue: Epilogue {
        switch self {
        case .none: return .identity
        case .relu: return Epilogue(kind: .relu)
        case .clip(let lo, let hi): return Epilogue(kind: .clip, a: lo, b: hi)
        case .leakyReLU(let a): return Epilogue(kind: .leakyReLU, a: a)
        case .hardSigmoid(let a, let b): return Epilogue(kind: .hardSigmoid, a: a, b: b)
        case .hardSwish: return Epilogue(kind: .hardSwish, a: 1 / 6, b: 0.5)
        case .sigmoid: return Epilogue(kind: .sigmoid)
        case .silu: return Epilogue(kind: .silu)
        case .tanh: return Epilogue(kind: .tanh)
        }
    }

    public var description: String {
        switch self {
        case .none: return "none"
        case .relu: return "relu"
        case .clip(let lo, let hi): return lo == 0 && hi == 6 ? "relu6" : "clip(\(lo),\(hi))"
        case .leakyReLU(let a): return "leakyrelu(\(a))"
        case .hardSigmoid(let a, let b): return "hardsigmoid(\(a),\(b))"
        case .hardSwish: return "hardswish"
        case .sigmoid: return "sigmoid"
        case .silu: return "silu"
        case .tanh: return "tanh"
        }
    }
}
