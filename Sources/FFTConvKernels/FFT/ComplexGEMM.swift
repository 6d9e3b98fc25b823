/// Complex GEMM micro-kernels for the frequency-domain stage of FFT convolution: for one frequency bin,
/// `Y[t][o] = Σ_k X[t][k] · W[k][o]` over complex numbers, 4 tiles (rows) × `nr` output channels (columns)
/// per call, the 8 complex accumulators (16 vectors of `nr` lanes) in registers.
///
/// Packed operands, per k: A holds `[Re X[t0..t3][k], Im X[t0..t3][k]]` (8 floats), B holds
/// `[Re W[k][o0..<nr], Im W[k][o0..<nr]]` (`2·nr` floats). Per k: two vector loads of B, eight broadcasts of A
/// and sixteen FMAs (Re += xr·wr − xi·wi, Im += xr·wi + xi·wr), so it runs at the FMA rate, not the load rate.
/// The split-complex weights are stored once (no duplicated real block matrix).
///
/// Two widths, listed in `ComplexGEMM.variants`: `cgemm_4x16` (one zmm per vector on AVX-512, four q registers
/// on NEON) and `cgemm_4x8` (one ymm on AVX2, two q registers on NEON).
public enum ComplexGEMM {
    /// Tiles per call.
    public static let mr = 4

    /// Writes `Re Y[t][o]` at `re + t * ldc + o` and `Im Y[t][o]` at `im + t * ldc + o` (overwrites), 8 columns.
    public static func cgemm_4x8(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                 re: UnsafeMutablePointer<Float>, im: UnsafeMutablePointer<Float>, ldc: Int) {
        tile(SIMD8<Float>.self, kc, a, b, re, im, ldc)
    }

    /// `cgemm_4x8` with 16 columns per call (B packs 32 floats per k).
    public static func cgemm_4x16(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                  re: UnsafeMutablePointer<Float>, im: UnsafeMutablePointer<Float>, ldc: Int) {
        tile(SIMD16<Float>.self, kc, a, b, re, im, ldc)
    }

    @inline(__always)
    static func tile<V: SIMD>(_: V.Type, _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                              _ re: UnsafeMutablePointer<Float>, _ im: UnsafeMutablePointer<Float>, _ ldc: Int)
    where V.Scalar == Float {
        let width = MemoryLayout<V>.size
        var r0 = V(), r1 = V(), r2 = V(), r3 = V()
        var i0 = V(), i1 = V(), i2 = V(), i3 = V()
        var ap = a
        var bp = UnsafeRawPointer(b)
        for _ in 0..<kc {
            let wr = bp.loadUnaligned(as: V.self)
            let wi = bp.loadUnaligned(fromByteOffset: width, as: V.self)
            var xr = V(repeating: ap[0]), xi = V(repeating: ap[4])
            r0 = r0.addingProduct(xr, wr); r0 = r0.addingProduct(-xi, wi)
            i0 = i0.addingProduct(xr, wi); i0 = i0.addingProduct(xi, wr)
            xr = V(repeating: ap[1]); xi = V(repeating: ap[5])
            r1 = r1.addingProduct(xr, wr); r1 = r1.addingProduct(-xi, wi)
            i1 = i1.addingProduct(xr, wi); i1 = i1.addingProduct(xi, wr)
            xr = V(repeating: ap[2]); xi = V(repeating: ap[6])
            r2 = r2.addingProduct(xr, wr); r2 = r2.addingProduct(-xi, wi)
            i2 = i2.addingProduct(xr, wi); i2 = i2.addingProduct(xi, wr)
            xr = V(repeating: ap[3]); xi = V(repeating: ap[7])
            r3 = r3.addingProduct(xr, wr); r3 = r3.addingProduct(-xi, wi)
            i3 = i3.addingProduct(xr, wi); i3 = i3.addingProduct(xi, wr)
            ap += 8
            bp += 2 * width
        }
        @inline(__always) func put(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }
        put(r0, re); put(r1, re + ldc); put(r2, re + 2 * ldc); put(r3, re + 3 * ldc)
        put(i0, im); put(i1, im + ldc); put(i2, im + 2 * ldc); put(i3, im + 3 * ldc)
    }

    /// Every complex GEMM variant, in one list.
    public static let variants: [ComplexGEMMKernel] = [
        ComplexGEMMKernel(name: "cgemm_4x16", nr: 16, function: { cgemm_4x16(kc: $0, a: $1, b: $2, re: $3, im: $4, ldc: $5) }),
        ComplexGEMMKernel(name: "cgemm_4x8", nr: 8, function: { cgemm_4x8(kc: $0, a: $1, b: $2, re: $3, im: $4, ldc: $5) }),
    ]
}

/// A complex GEMM variant: `ComplexGEMM.mr` tiles × `nr` output channels per call.
public struct ComplexGEMMKernel: @unchecked Sendable, CustomStringConvertible {
    /// `(kc, a, b, re, im, ldc)`, as `ComplexGEMM.cgemm_4x8`.
    public typealias Function = (Int, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>,
                                 UnsafeMutablePointer<Float>, Int) -> Void
    /// `cgemm_4x<nr>`.
    public let name: String
    /// Output channels per call (B packs `2·nr` floats per k).
    public let nr: Int
    /// The kernel.
    public let function: Function
    public var description: String { name }
}
