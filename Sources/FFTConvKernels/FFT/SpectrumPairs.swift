/// Two real 2-D transforms as one complex one: the FFT of `z = a + i·b` holds the spectra of both real planes
/// `a` and `b` (Hermitian symmetry separates them), and the inverse FFT of `A + i·B` (two Hermitian spectra)
/// returns `a` in its real and `b` in its imaginary part.
///
/// FFTW's complex transforms run on its SIMD codelets while its real-to-complex ones mostly do not: on the
/// hosts measured, one complex `n × n` transform costs about as much as one real one (16×16 and 20×20: less),
/// so pairing the planes halves the transform time (`Docs/Algorithms.md`). These are the passes around it:
/// interleave two planes into one complex array, split a full complex spectrum into the two half spectra
/// (the layout of FFTW's real-to-complex output, `rows × (cols/2 + 1)` bins), combine two half spectra into one
/// full spectrum, and de-interleave the result. Spectra are interleaved complex (re, im) floats.
public enum SpectrumPairs {
    /// `z[2i] = a[i]`, `z[2i + 1] = b[i]` for `i` in `0..<count`.
    public static func interleave(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int,
                                  into z: UnsafeMutablePointer<Float>) {
        typealias V = SIMD8<Float>
        var i = 0
        while i &+ 8 <= count {
            let x = UnsafeRawPointer(a + i).loadUnaligned(as: V.self), y = UnsafeRawPointer(b + i).loadUnaligned(as: V.self)
            let lo = SIMD8<Float>(x[0], y[0], x[1], y[1], x[2], y[2], x[3], y[3])
            let hi = SIMD8<Float>(x[4], y[4], x[5], y[5], x[6], y[6], x[7], y[7])
            UnsafeMutableRawPointer(z + 2 &* i).storeBytes(of: lo, as: V.self)
            UnsafeMutableRawPointer(z + (2 &* i &+ 8)).storeBytes(of: hi, as: V.self)
            i &+= 8
        }
        while i < count {
            z[2 &* i] = a[i]
            z[2 &* i &+ 1] = b[i]
            i &+= 1
        }
    }

    /// `a[i] = z[2i]`, `b[i] = z[2i + 1]` for `i` in `0..<count`.
    public static func deinterleave(_ z: UnsafePointer<Float>, count: Int, into a: UnsafeMutablePointer<Float>,
                                    _ b: UnsafeMutablePointer<Float>) {
        typealias V = SIMD8<Float>
        var i = 0
        while i &+ 8 <= count {
            let lo = UnsafeRawPointer(z + 2 &* i).loadUnaligned(as: V.self)
            let hi = UnsafeRawPointer(z + (2 &* i &+ 8)).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(a + i).storeBytes(of: V(lo[0], lo[2], lo[4], lo[6], hi[0], hi[2], hi[4], hi[6]), as: V.self)
            UnsafeMutableRawPointer(b + i).storeBytes(of: V(lo[1], lo[3], lo[5], lo[7], hi[1], hi[3], hi[5], hi[7]), as: V.self)
            i &+= 8
        }
        while i < count {
            a[i] = z[2 &* i]
            b[i] = z[2 &* i &+ 1]
            i &+= 1
        }
    }

    /// The half spectra of `a` and `b` from the full spectrum `z` (`rows × cols` complex values) of `a + i·b`:
    /// for bin `k = (u, v)`, `v ≤ cols/2`, and its mirror `−k`, `A[k] = (Z[k] + conj(Z[−k])) / 2` and
    /// `B[k] = (Z[k] − conj(Z[−k])) / 2i`, written to `rows × (cols/2 + 1)` complex values at `spectrumA`
    /// and `spectrumB`. Four bins per step (the mirrors read as one vector, reversed).
    public static func split(_ z: UnsafePointer<Float>, rows: Int, cols: Int,
                             into spectrumA: UnsafeMutablePointer<Float>, _ spectrumB: UnsafeMutablePointer<Float>) {
        typealias V = SIMD8<Float>
        let half = cols / 2 &+ 1
        let signs = V(1, -1, 1, -1, 1, -1, 1, -1)
        for u in 0..<rows {
            let mirror = u == 0 ? 0 : rows &- u
            let row = z + 2 &* u &* cols, mirrorRow = z + 2 &* mirror &* cols
            let outA = spectrumA + 2 &* u &* half, outB = spectrumB + 2 &* u &* half
            @inline(__always) func one(_ v: Int) {
                let m = v == 0 ? 0 : cols &- v
                let re = row[2 &* v], im = row[2 &* v &+ 1]
                let mre = mirrorRow[2 &* m], mim = mirrorRow[2 &* m &+ 1]
                outA[2 &* v] = 0.5 * (re + mre)
                outA[2 &* v &+ 1] = 0.5 * (im - mim)
                outB[2 &* v] = 0.5 * (im + mim)
                outB[2 &* v &+ 1] = 0.5 * (mre - re)
            }
            one(0)
            var v = 1
            while v &+ 4 <= half {
                // Bins v ..< v + 4 and their mirrors cols − v − 3 ... cols − v, reversed into the same order.
                let x = UnsafeRawPointer(row + 2 &* v).loadUnaligned(as: V.self)
                let r = UnsafeRawPointer(mirrorRow + 2 &* (cols &- v &- 3)).loadUnaligned(as: V.self)
                let conjugate = V(r[6], r[7], r[4], r[5], r[2], r[3], r[0], r[1]) * signs
                let sum = 0.5 * (x + conjugate), difference = 0.5 * (x - conjugate)
                let b = V(difference[1], difference[0], difference[3], difference[2],
                          difference[5], difference[4], difference[7], difference[6]) * signs
                UnsafeMutableRawPointer(outA + 2 &* v).storeBytes(of: sum, as: V.self)
                UnsafeMutableRawPointer(outB + 2 &* v).storeBytes(of: b, as: V.self)
                v &+= 4
            }
            while v < half { one(v); v &+= 1 }
        }
    }

    /// The full spectrum (`rows × cols` complex values at `z`) of `a + i·b` from the half spectra `A` and `B`
    /// (`rows × (cols/2 + 1)` complex values each) of two real planes: `Z[k] = A[k] + i·B[k]`, the bins past
    /// `cols/2` taken from their mirrors (`A[−k] = conj(A[k])`). Four bins per step.
    public static func combine(_ spectrumA: UnsafePointer<Float>, _ spectrumB: UnsafePointer<Float>, rows: Int, cols: Int,
                               into z: UnsafeMutablePointer<Float>) {
        typealias V = SIMD8<Float>
        let half = cols / 2 &+ 1
        let signs = V(-1, 1, -1, 1, -1, 1, -1, 1)
        for u in 0..<rows {
            let mirror = u == 0 ? 0 : rows &- u
            let a = spectrumA + 2 &* u &* half, b = spectrumB + 2 &* u &* half
            let ma = spectrumA + 2 &* mirror &* half, mb = spectrumB + 2 &* mirror &* half
            let out = z + 2 &* u &* cols
            var v = 0
            while v &+ 4 <= half {
                // A + i·B = (A.re − B.im, A.im + B.re)
                let x = UnsafeRawPointer(a + 2 &* v).loadUnaligned(as: V.self), y = UnsafeRawPointer(b + 2 &* v).loadUnaligned(as: V.self)
                let iy = V(y[1], y[0], y[3], y[2], y[5], y[4], y[7], y[6]) * signs
                UnsafeMutableRawPointer(out + 2 &* v).storeBytes(of: x + iy, as: V.self)
                v &+= 4
            }
            while v < half {
                out[2 &* v] = a[2 &* v] - b[2 &* v &+ 1]
                out[2 &* v &+ 1] = a[2 &* v &+ 1] + b[2 &* v]
                v &+= 1
            }
            while v &+ 4 <= cols {
                // conj(A[−k]) + i·conj(B[−k]) = (mA.re + mB.im, mB.re − mA.im), mirrors cols − v − 3 ... cols − v.
                let m = cols &- v &- 3
                let x = UnsafeRawPointer(ma + 2 &* m).loadUnaligned(as: V.self), y = UnsafeRawPointer(mb + 2 &* m).loadUnaligned(as: V.self)
                let ca = V(x[6], -x[7], x[4], -x[5], x[2], -x[3], x[0], -x[1])
                let iy = V(y[7], y[6], y[5], y[4], y[3], y[2], y[1], y[0])
                UnsafeMutableRawPointer(out + 2 &* v).storeBytes(of: ca + iy, as: V.self)
                v &+= 4
            }
            while v < cols {
                let m = cols &- v
                out[2 &* v] = ma[2 &* m] + mb[2 &* m &+ 1]
                out[2 &* v &+ 1] = mb[2 &* m] - ma[2 &* m &+ 1]
                v &+= 1
            }
        }
    }
}
