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

extension DepthwiseKernels {
    /// Whole output rows at once, straight into the NCHW output plane with the epilogue: `out[oh][x] =
    /// act(Σ_t weights[t] · plane[oh·phaseWidth + x + tapOffsets[t]] + bias + residual[oh][x])`. No tile
    /// buffer, no discarded columns computed, one pass; 32, 16, then 8 outputs per step, the last < 8 scalar (so
    /// no load goes past the last computed position's taps).
    public static func rows(plane: UnsafePointer<Float>, phaseWidth: Int, outputHeight: Int, outputWidth: Int,
                            tapOffsets: UnsafePointer<Int>, taps: Int, weights: UnsafePointer<Float>,
                            out: UnsafeMutablePointer<Float>, bias: Float, residual: UnsafePointer<Float>?, activation: Epilogue) {
        switch activation.kind {
        case .identity: rowsLoop(IdentityFunction(), plane, phaseWidth, outputHeight, outputWidth, tapOffsets, taps, weights, out, bias, residual)
        case .relu: rowsLoop(ClipFunction(lo: 0, hi: .infinity), plane, phaseWidth, outputHeight, outputWidth, tapOffsets, taps, weights, out, bias, residual)
        case .clip: rowsLoop(ClipFunction(lo: activation.a, hi: activation.b), plane, phaseWidth, outputHeight, outputWidth, tapOffsets, taps, weights, out, bias, residual)
        case .leakyReLU: rowsLoop(LeakyFunction(alpha: activation.a), plane, phaseWidth, outputHeight, outputWidth, tapOffsets, taps, weights, out, bias, residual)
        case .hardSigmoid: rowsLoop(HardSigmoidFunction(alpha: activation.a, beta: activation.b), plane, phaseWidth, outputHeight, outputWidth, tapOffsets, taps, weights, out, bias, residual)
        case .hardSwish: rowsLoop(HardSwishFunction(alpha: activation.a, beta: activation.b), plane, phaseWidth, outputHeight, outputWidth, tapOffsets, taps, weights, out, bias, residual)
        case .sigmoid: rowsLoop(SigmoidFunction(), plane, phaseWidth, outputHeight, outputWidth, tapOffsets, taps, weights, out, bias, residual)
        case .silu: rowsLoop(SiLUFunction(), plane, phaseWidth, outputHeight, outputWidth, tapOffsets, taps, weights, out, bias, residual)
        case .tanh: rowsLoop(TanhFunction(), plane, phaseWidth, outputHeight, outputWidth, tapOffsets, taps, weights, out, bias, residual)
        }
    }

    @inline(__always)
    static func rowsLoop<F: ActivationFunction>(_ f: F, _ plane: UnsafePointer<Float>, _ phaseWidth: Int, _ outputHeight: Int,
                                                _ outputWidth: Int, _ tapOffsets: UnsafePointer<Int>, _ taps: Int,
                                                _ weights: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                                                _ bias: Float, _ residual: UnsafePointer<Float>?) {
        typealias V = SIMD8<Float>
        typealias W = SIMD16<Float>
        @inline(__always) func ld(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        @inline(__always) func ldw(_ p: UnsafePointer<Float>) -> W { UnsafeRawPointer(p).loadUnaligned(as: W.self) }
        @inline(__always) func st(_ v: W, _ p: UnsafeMutablePointer<Float>) {
            UnsafeMutableRawPointer(p).storeBytes(of: f(v.lowHalf), as: V.self)
            UnsafeMutableRawPointer(p + 8).storeBytes(of: f(v.highHalf), as: V.self)
        }
        let vb = V(repeating: bias), wb = W(repeating: bias)
        for oh in 0..<outputHeight {
            let src = plane + oh * phaseWidth, dst = out + oh * outputWidth
            let res = residual.map { $0 + oh * outputWidth }
            var x = 0
            while x + 32 <= outputWidth {
                var a0 = wb, a1 = wb
                for t in 0..<taps {
                    let w = W(repeating: weights[t]), p = src + x + tapOffsets[t]
                    a0.addProduct(w, ldw(p))
                    a1.addProduct(w, ldw(p + 16))
                }
                if let res { a0 += ldw(res + x); a1 += ldw(res + x + 16) }
                st(a0, dst + x)
                st(a1, dst + x + 16)
                x += 32
            }
            while x + 16 <= outputWidth {
                var a0 = wb
                for t in 0..<taps { a0.addProduct(W(repeating: weights[t]), ldw(src + x + tapOffsets[t])) }
                if let res { a0 += ldw(res + x) }
                st(a0, dst + x)
                x += 16
            }
            while x + 8 <= outputWidth {
                var a0 = vb
                for t in 0..<taps { a0.addProduct(V(repeating: weights[t]), ld(src + x + tapOffsets[t])) }
                if let res { a0 += ld(res + x) }
                UnsafeMutableRawPointer(dst + x).storeBytes(of: f(a0), as: V.self)
                x += 8
            }
            while x < outputWidth {
                var a = bias
                for t in 0..<taps { a = a.addingProduct(weights[t], src[x + tapOffsets[t]]) }
                if let res { a += res[x] }
                dst[x] = f(a)
                x += 1
            }
        }
    }
}

/// A depthwise kernel variant, listed in `DepthwiseKernelRegistry`.
public struct DepthwiseKernel: @unchecked Sendable, CustomStringConvertible {
    /// Tile form: `(plane, f0, tapOffsets, taps, weights, out)`, results to a tile buffer.
    public typealias Function = (UnsafePointer<Float>, Int, UnsafePointer<Int>, Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
    /// How a variant is called.
    public enum Form {
        /// Tiles of `lanes` flat positions into a buffer, then `PhaseLayout.store` with the epilogue.
        case tiles(Function)
        /// `DepthwiseKernels.rows`: whole output rows with the epilogue fused.
        case rows
        /// `DepthwiseFlatKernels.runPlanes` over a `FlatPhaseLayout`: whole planes, epilogue fused.
        case flat
        /// `DepthwiseBlockedKernels.runBlocks`: blocks of 16 channels transposed to pixel vectors and back.
        case blocked
        /// `DepthwiseStride2Kernels.runPlanes`: 3x3 stride 2 straight from the NCHW planes.
        case stride2
    }
    /// `dw_flat32`: 32 positions per step over unpadded phase planes; `dw_blocked16`: 16 channels per pixel
    /// vector; `dw_64`: 64 positions per tile; `dw_rows`: row form.
    public let name: String
    /// Positions per tile (a multiple of 16).
    public let lanes: Int
    /// The calling form.
    public let form: Form
    public var description: String { name }

    /// Whether the variant computes convolutions of geometry `g` (the flat form needs a `FlatPhaseLayout`;
    /// the others take any kernel size, stride, dilation and padding).
    public func supports(_ g: ConvolutionGeometry) -> Bool {
        if case .flat = form { return FlatPhaseLayout(geometry: g) != nil }
        if case .stride2 = form { return DepthwiseStride2Kernels.supports(g) }
        return true
    }
}

/// Every depthwise variant, in one list (any kernel size, stride and dilation: the layout absorbs them;
/// `dw_flat32` only where `FlatPhaseLayout` applies, see `DepthwiseKernel.supports`).
public enum DepthwiseKernelRegistry {
    public static let all: [DepthwiseKernel] = [
        DepthwiseKernel(name: "dw_flat32", lanes: FlatPhaseLayout.block, form: .flat),
        DepthwiseKernel(name: "dw_blocked16", lanes: DepthwiseBlockedKernels.block, form: .blocked),
        DepthwiseKernel(name: "dw_s2direct16", lanes: 16, form: .stride2),
        DepthwiseKernel(name: "dw_rows", lanes: 16, form: .rows),
        DepthwiseKernel(name: "dw_64", lanes: 64, form: .tiles({ DepthwiseKernels.dw_64(plane: $0, f0: $1, tapOffsets: $2, taps: $3, weights: $4, out: $5) })),
        DepthwiseKernel(name: "dw_16", lanes: 16, form: .tiles({ DepthwiseKernels.dw_16(plane: $0, f0: $1, tapOffsets: $2, taps: $3, weights: $4, out: $5) })),
    ]
}
