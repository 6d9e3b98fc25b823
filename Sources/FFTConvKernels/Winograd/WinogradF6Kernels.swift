import CFFTConvShim

/// F(6×6, 3×3) stages written out, `V.scalarCount` tiles per vector, like `WinogradF4Kernels.swift`: an 8×8 input
/// tile per 6×6 outputs (64 products for 36 outputs, 21% fewer than F(4×4)'s 36 for 16), tiles 6 apart, so a tile
/// row reads eight input rows of which the next tile row shares two. The points are F(4×4, 5×5)'s (0, ±1, ±2, ±½,
/// ∞), so the input stage is `transformInputAlpha8` with `m` = 6; rows are split into six phases by
/// `fftconv_split6x16`/`x8`, and the output stage is `transformOutputAlpha8` with `m` = 6, which interleaves output
/// rows back by `fftconv_interleave6x16`/`x8`. (With the generic term lists, F(6×6) ran VGG16's 3x3
/// layers 1.2–2× slower than F(4×4).) The formulas are the rows of `WinogradRegistry.f6x6_3x3`'s matrices, whose
/// algebra `testTransformMatricesComputeTheCorrelation` checks; the family tester runs this path like any other.
extension WinogradKernels {
    /// `Aᵀ m` for one 8-vector: rows `pⁱ` (i < 6) over the points 0, 1, −1, 2, −2, ½, −½ and `e₅` at ∞ — pairs of
    /// points ±p share their sums (even rows) and differences (odd rows).
    @inline(__always)
    static func outputF6<V: SIMD>(_ m0: V, _ m1: V, _ m2: V, _ m3: V, _ m4: V, _ m5: V, _ m6: V, _ m7: V)
        -> (V, V, V, V, V, V) where V.Scalar == Float {
        let a1 = m1 + m2, b1 = m1 - m2, a2 = m3 + m4, b2 = m3 - m4, a3 = m5 + m6, b3 = m5 - m6
        return (m0 + a1 + a2 + a3,
                b1.addingProduct(V(repeating: 2), b2).addingProduct(V(repeating: 0.5), b3),
                a1.addingProduct(V(repeating: 4), a2).addingProduct(V(repeating: 0.25), a3),
                b1.addingProduct(V(repeating: 8), b2).addingProduct(V(repeating: 0.125), b3),
                a1.addingProduct(V(repeating: 16), a2).addingProduct(V(repeating: 0.0625), a3),
                (b1 + m7).addingProduct(V(repeating: 32), b2).addingProduct(V(repeating: 0.03125), b3))
    }
}
