/// Depthwise convolution kernels over a `PhaseLayout` channel plane: one channel, `4 × 16` consecutive flat
/// output positions per tile, taps in the outer loop with the weight broadcast once per tap.
///
/// Limited by loads (one vector load per FMA), as every depthwise convolution is; the layout makes every
/// load contiguous at any stride and dilation.
public enum DepthwiseKernels {
    /// Positions per `dw_64` tile.
    public static let tile = 64

    /// `out[v] = Σ_t weights[t] * plane[f0 + v + tapOffsets[t]]` for `v` in `0..<64`.
    public static func dw_64(plane: UnsafePointer<Float>, f0: Int, tapOffsets: UnsafePointer<Int>, taps: Int,
                             weights: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        typealias V = SIMD16<Float>
        var a0 = V(), a1 = V(), a2 = V(), a3 = V()
        let base = plane + f0
        for t in 0..<taps {
            let w = V(repeating: weights[t])
            let p = UnsafeRawPointer(base + tapOffsets[t])
            a0 = a0.addingProduct(w, p.loadUnaligned(fromByteOffset: 0, as: V.self))
            a1 = a1.addingProduct(w, p.loadUnaligned(fromByteOffset: 64, as: V.self))
            a2 = a2.addingProduct(w, p.loadUnaligned(fromByteOffset: 128, as: V.self))
            a3 = a3.addingProduct(w, p.loadUnaligned(fromByteOffset: 192, as: V.self))
        }
        let o = UnsafeMutableRawPointer(out)
        o.storeBytes(of: a0, toByteOffset: 0, as: V.self)
        o.storeBytes(of: a1, toByteOffset: 64, as: V.self)
        o.storeBytes(of: a2, toByteOffset: 128, as: V.self)
        o.storeBytes(of: a3, toByteOffset: 192, as: V.self)
    }

    /// The same sums for one vector of 16 positions (tails, and the tester's second variant).
    public static func dw_16(plane: UnsafePointer<Float>, f0: Int, tapOffsets: UnsafePointer<Int>, taps: Int,
                             weights: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        typealias V = SIMD16<Float>
        var a0 = V()
        let base = plane + f0
        for t in 0..<taps {
            a0 = a0.addingProduct(V(repeating: weights[t]), UnsafeRawPointer(base + tapOffsets[t]).loadUnaligned(as: V.self))
        }
        UnsafeMutableRawPointer(out).storeBytes(of: a0, as: V.self)
    }
}

/// A depthwise kernel variant, listed in `DepthwiseKernelRegistry`.
public struct DepthwiseKernel: @unchecked Sendable, CustomStringConvertible {
    public typealias Function = (UnsafePointer<Float>, Int, UnsafePointer<Int>, Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
    /// `dw_64`: 64 positions per tile.
    public let name: String
    /// Positions per tile (a multiple of 16).
    public let lanes: Int
    /// `(plane, f0, tapOffsets, taps, weights, out)`.
    public let function: Function
    public var description: String { name }
}

/// Every depthwise variant, in one list (any kernel size, stride and dilation: the layout absorbs them).
public enum DepthwiseKernelRegistry {
    public static let all: [DepthwiseKernel] = [
        DepthwiseKernel(name: "dw_64", lanes: 64, function: { DepthwiseKernels.dw_64(plane: $0, f0: $1, tapOffsets: $2, taps: $3, weights: $4, out: $5) }),
        DepthwiseKernel(name: "dw_16", lanes: 16, function: { DepthwiseKernels.dw_16(plane: $0, f0: $1, tapOffsets: $2, taps: $3, weights: $4, out: $5) }),
    ]
}
