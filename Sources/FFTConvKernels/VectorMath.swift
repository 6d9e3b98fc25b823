/// `exp` on vectors of floats, for the sigmoid and SiLU write-outs: Cephes' `expf` (a degree-5 polynomial on
/// `r = x − n·ln 2`, `|r| ≤ ln 2 / 2`, then `2ⁿ` built in the exponent bits), within 3 ulp of `exp` over the clamped
/// range [−87.3, 88.3]. The same operations, in the same order, in the scalar and both vector widths: every path
/// of a kernel gives the same bits. Portable Swift SIMD (the integer steps are lane-wise adds and shifts).
///
/// The reduction and the polynomial are written with `addingProduct` — fused multiply-adds (`a + b * c` is never
/// fused): the 16-lane sigmoid ran 28 vector operations before its division, now 19 (`objdump -d` of
/// `EpilogueLoops.swift.o`); EfficientNet-B0 at 1 thread, 5 rounds alternated with the build before
/// (`Bench/scripts/ab.sh`): 13.44 → 12.77 ms, median of medians.
public enum VectorMath {
    // Constants as literals in the functions below (stored globals are read through an accessor). The clamps are
    // in the concrete functions: a comparison inside a generic function (even once specialised) takes the generic
    // `SIMD` implementation, a loop over the lanes, where the concrete types' compare whole vectors.

    /// The polynomial part: `exp(r)` for the reduced argument.
    @inlinable @inline(__always)
    static func expReduced<V: SIMD>(_ r: V) -> V where V.Scalar == Float {
        var p = V(repeating: 1.3981999507e-3).addingProduct(V(repeating: 1.9875691500e-4), r)
        p = V(repeating: 8.3334519073e-3).addingProduct(p, r)
        p = V(repeating: 4.1665795894e-2).addingProduct(p, r)
        p = V(repeating: 1.6666665459e-1).addingProduct(p, r)
        p = V(repeating: 5.0000001201e-1).addingProduct(p, r)
        return (r + 1).addingProduct(p, r * r)
    }

    /// `(t, r)` for a clamped `c`: `c = n·ln 2 + r` and `t`, the float whose bits carry `n` (1.5 · 2²³ added, which
    /// rounds a float below 2²² to an integer held in its low mantissa bits).
    @inlinable @inline(__always)
    static func reduce<V: SIMD>(_ c: V) -> (t: V, r: V) where V.Scalar == Float {
        let magic = V(repeating: 12582912)
        let t = magic.addingProduct(c, V(repeating: 1.44269504088896341))
        let n = t - magic
        return (t, c.addingProduct(n, V(repeating: -0.693359375)).addingProduct(n, V(repeating: 2.12194440e-4)))
    }

    /// `eˣ` for eight floats.
    @inlinable @inline(__always)
    public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let hi = SIMD8<Float>(repeating: 88.3762626647949), lo = SIMD8<Float>(repeating: -87.3365447504019)
        let c = x.replacing(with: hi, where: x .> hi)
        let (t, r) = reduce(c.replacing(with: lo, where: c .< lo))
        // Bits of t are 0x4B400000 + n; 2ⁿ has the bits (n + 127) << 23.
        let bits = unsafeBitCast(t, to: SIMD8<Int32>.self) &- SIMD8<Int32>(repeating: 0x4B3F_FF81)
        let scale = unsafeBitCast(bits &<< SIMD8<Int32>(repeating: 23), to: SIMD8<Float>.self)
        return expReduced(r) * scale
    }

    /// `eˣ` for sixteen floats.
    @inlinable @inline(__always)
    public static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let hi = SIMD16<Float>(repeating: 88.3762626647949), lo = SIMD16<Float>(repeating: -87.3365447504019)
        let c = x.replacing(with: hi, where: x .> hi)
        let (t, r) = reduce(c.replacing(with: lo, where: c .< lo))
        let bits = unsafeBitCast(t, to: SIMD16<Int32>.self) &- SIMD16<Int32>(repeating: 0x4B3F_FF81)
        let scale = unsafeBitCast(bits &<< SIMD16<Int32>(repeating: 23), to: SIMD16<Float>.self)
        return expReduced(r) * scale
    }

    /// The error function for eight floats (an exact GELU's `erf(x/√2)`, ConvNeXt's), within 2.5e-7 of `erf`
    /// (relative error under 1e-6; its test): below |x| = 0.5 the odd Taylor series to x¹¹ (truncation < 3e-8),
    /// above it `1 − erfc(|x|)` with Numerical Recipes' `erfc` (`t·exp(−z² + P(t))`, `t = 1/(1 + z/2)`, a degree-9
    /// polynomial, fractional error < 1.2e-7), signed.
    @inlinable @inline(__always)
    public static func erf(_ x: SIMD8<Float>) -> SIMD8<Float> {
        typealias V = SIMD8<Float>
        let z = x.replacing(with: -x, where: x .< 0), x2 = x * x
        var s = V(repeating: 1.0 / 216).addingProduct(V(repeating: -1.0 / 1320), x2)
        s = V(repeating: -1.0 / 42).addingProduct(s, x2)
        s = V(repeating: 0.1).addingProduct(s, x2)
        s = V(repeating: -1.0 / 3).addingProduct(s, x2)
        s = V(repeating: 1).addingProduct(s, x2)
        let small = x * s * 1.1283791670955126
        let t = 1 / V(repeating: 1).addingProduct(z, V(repeating: 0.5))
        var p = V(repeating: -0.82215223).addingProduct(V(repeating: 0.17087277), t)
        p = V(repeating: 1.48851587).addingProduct(p, t)
        p = V(repeating: -1.13520398).addingProduct(p, t)
        p = V(repeating: 0.27886807).addingProduct(p, t)
        p = V(repeating: -0.18628806).addingProduct(p, t)
        p = V(repeating: 0.09678418).addingProduct(p, t)
        p = V(repeating: 0.37409196).addingProduct(p, t)
        p = V(repeating: 1.00002368).addingProduct(p, t)
        p = V(repeating: -1.26551223).addingProduct(p, t)
        let large = 1 - t * exp(p - z * z)
        let signed = large.replacing(with: -large, where: x .< 0)
        return signed.replacing(with: small, where: z .< 0.5)
    }

    /// GELU for eight floats: `0.5·x·(1 + erf(x/√2))`, or with `tanh` `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`
    /// (`tanh(u) = 1 − 2 / (exp(2u) + 1)`).
    ///
    /// The exact form takes `erf` by Abramowitz and Stegun's 7.1.26 (`1 − P(t)·exp(−z²)`, `t = 1/(1 + 0.3275911·z)`,
    /// a degree-5 `P`; absolute error under 1.5e-7), not `erf(_:)`'s two branches: GELU's error is then that times
    /// `|x|/2` — under 1.5e-7 of `|GELU(x)|` for any x — at about half the operations (ConvNeXt-Tiny's 18 GELUs,
    /// 1 thread, `net --profile`: 12.8 → 8.0 ms).
    @inlinable @inline(__always)
    public static func gelu(_ x: SIMD8<Float>, tanh: Bool) -> SIMD8<Float> {
        typealias V = SIMD8<Float>
        let half = x * 0.5
        guard tanh else {
            let u = x * 0.70710678118654752, z = u.replacing(with: -u, where: u .< 0)
            let t = 1 / V(repeating: 1).addingProduct(z, V(repeating: 0.3275911))
            var p = V(repeating: -1.453152027).addingProduct(V(repeating: 1.061405429), t)
            p = V(repeating: 1.421413741).addingProduct(p, t)
            p = V(repeating: -0.284496736).addingProduct(p, t)
            p = V(repeating: 0.254829592).addingProduct(p, t)
            let e = 1 - p * t * exp(-(z * z))
            return half.addingProduct(half, e.replacing(with: -e, where: u .< 0))
        }
        let u = x * 0.7978845608028654 * SIMD8<Float>(repeating: 1).addingProduct(x * x, 0.044715)
        return half.addingProduct(half, 1 - 2 / (exp(u + u) + 1))
    }

    /// `tanh(x)` below |x| = 0.625 — Cephes' `tanhf` odd polynomial `x + x³·P(x²)` — and `1 − 2 / (e^(2|x|) + 1)`
    /// (`expTwice`: `e^(2|x|)`) above it, unsigned; the concrete functions select between them (comparisons stay
    /// out of generic code, as for `exp`).
    @inlinable @inline(__always)
    static func tanhParts<V: SIMD>(_ x: V, expTwice e: V) -> (small: V, large: V) where V.Scalar == Float {
        let x2 = x * x
        var p = V(repeating: 2.06390887954e-2).addingProduct(V(repeating: -5.70498872745e-3), x2)
        p = V(repeating: -5.37397155531e-2).addingProduct(p, x2)
        p = V(repeating: 1.33314422036e-1).addingProduct(p, x2)
        p = V(repeating: -3.33332819422e-1).addingProduct(p, x2)
        return (x.addingProduct(p * x2, x), 1 - 2 / (e + 1))
    }

    /// `tanh(x)` for eight floats: near 0 the polynomial, where the exponential form would cancel to a few correct
    /// digits; from |x| = 0.625 the exponential form, signed.
    @inlinable @inline(__always)
    public static func tanh(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let z = x.replacing(with: -x, where: x .< 0)
        let (small, large) = tanhParts(x, expTwice: exp(z + z))
        return small.replacing(with: large.replacing(with: -large, where: x .< 0), where: z .>= 0.625)
    }

    /// `tanh(x)` for sixteen floats, by the same operations.
    @inlinable @inline(__always)
    public static func tanh(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let z = x.replacing(with: -x, where: x .< 0)
        let (small, large) = tanhParts(x, expTwice: exp(z + z))
        return small.replacing(with: large.replacing(with: -large, where: x .< 0), where: z .>= 0.625)
    }

    /// `tanh(x)` for one float, by the eight-lane formula.
    @inlinable @inline(__always)
    public static func tanh(_ x: Float) -> Float {
        tanh(SIMD8<Float>(repeating: x))[0]
    }

    /// `dst[i] = gelu(src[i])` for `i < count`, eight floats at a time (one loop per form, the branch out of it).
    public static func gelu(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, tanh: Bool) {
        @inline(__always) func loop(_ tanh: Bool) {
            var i = 0
            while i + 8 <= count {
                let v = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(dst + i).storeBytes(of: gelu(v, tanh: tanh), as: SIMD8<Float>.self)
                i += 8
            }
            while i < count { dst[i] = gelu(src[i], tanh: tanh); i += 1 }
        }
        if tanh { loop(true) } else { loop(false) }
    }

    /// `dst[i] = a[i] + t · (b[i] − a[i])` for `i < count` (a linear blend of two rows, Resize's), eight floats at a
    /// time with a fused multiply-add; the tail one by one by the same formula.
    public static func blend(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ t: Float, into dst: UnsafeMutablePointer<Float>,
                             count: Int) {
        var i = 0
        while i + 8 <= count {
            let x = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
            let y = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(dst + i).storeBytes(of: x.addingProduct(y - x, t), as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { dst[i] = a[i].addingProduct(b[i] - a[i], t); i += 1 }
    }

    /// GELU for one float, by the eight-lane formula.
    @inlinable @inline(__always)
    public static func gelu(_ x: Float, tanh: Bool) -> Float {
        gelu(SIMD8<Float>(repeating: x), tanh: tanh)[0]
    }

    /// `erf(x)` for one float, by the eight-lane formula.
    @inlinable @inline(__always)
    public static func erf(_ x: Float) -> Float {
        erf(SIMD8<Float>(repeating: x))[0]
    }

    /// `eˣ` for one float, by the vector formula (so a kernel's scalar tail matches its vector body bit for bit).
    @inlinable @inline(__always)
    public static func exp(_ x: Float) -> Float {
        exp(SIMD8<Float>(repeating: x))[0]
    }
}
