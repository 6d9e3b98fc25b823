/// What happens to a finished tile of `C` on its way out: `C = act(alpha·A·B + beta·C₀ + bias[row] + residual)`.
public struct GEMMEpilogue {
    /// Scale of the product.
    public var alpha: Float
    /// Scale of C's previous contents (0: C is write-only).
    public var beta: Float
    /// One value per row of C, or nil.
    public var bias: UnsafePointer<Float>?
    /// A tensor added element-wise (same layout as C, row stride `residualStride`), or nil.
    public var residual: UnsafePointer<Float>?
    /// Row stride of `residual`.
    public var residualStride: Int
    /// The activation.
    public var activation: Epilogue

    /// Creates an epilogue; the defaults are a plain product.
    public init(alpha: Float = 1, beta: Float = 0, bias: UnsafePointer<Float>? = nil,
                residual: UnsafePointer<Float>? = nil, residualStride: Int = 0, activation: Epilogue = .identity) {
        self.alpha = alpha
        self.beta = beta
        self.bias = bias
        self.residual = residual
        self.residualStride = residualStride
        self.activation = activation
    }

    /// True when finishing a tile changes nothing (no scale, bias, residual or activation).
    @inlinable public var isIdentity: Bool {
        alpha == 1 && bias == nil && residual == nil && activation.kind == .identity
    }

    /// Applies the epilogue to `rows × cols` values of C at `c` (row stride `ldc`) whose first element is
    /// element (`row0`, `col0`) of the whole C.
    public func finish(_ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int, row0: Int, col0: Int) {
        if isIdentity { return }
        let va = SIMD8<Float>(repeating: alpha)
        for r in 0..<rows {
            let p = c + r * ldc
            let b = bias.map { $0[row0 + r] } ?? 0
            let vb = SIMD8<Float>(repeating: b)
            let res = residual.map { $0 + (row0 + r) * residualStride + col0 }
            var j = 0
            while j + 8 <= cols {
                var v = UnsafeRawPointer(p + j).loadUnaligned(as: SIMD8<Float>.self) * va + vb
                if let res { v += UnsafeRawPointer(res + j).loadUnaligned(as: SIMD8<Float>.self) }
                UnsafeMutableRawPointer(p + j).storeBytes(of: activation.activate(v), as: SIMD8<Float>.self)
                j += 8
            }
            while j < cols {
                var v = p[j] * alpha + b
                if let res { v += res[j] }
                p[j] = activation.activate(v)
                j += 1
            }
        }
    }
}
