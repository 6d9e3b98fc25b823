import CFFTConvShim

/// A 3x3 stride-1, padding-1 depthwise convolution of a band of rows of one channel plane — the form the fused
/// depthwise + 1x1 step (`DepthwisePointwiseFusion`) computes in, one channel at a time, straight from the input.
public enum DepthwiseRowKernels {
    /// `out[r · width + j] = clamp(Σ_{i, k < 3} w[3i + k] · x[r0 + r + i − 1][j + k − 1] + bias, lo, hi)` for `r` in
    /// `0..<rows`, `j` in `0..<width` (`width ≥ 16`), over the plane `plane` (`height × width`) with zeros outside it.
    /// The nine products run in one fused multiply-add chain from zero, in tap order; the bias is added last. Two
    /// output rows per pass (they share two of their input rows: 12 loads for 18 products), sixteen columns per
    /// step, a last step of fewer shifted left to end at the row's end; the columns left of 0 and right of the end are
    /// shifted in as zeros, so no load leaves the plane.
    public static func rows3x3(plane: UnsafePointer<Float>, height: Int, width: Int, firstRow r0: Int, rows: Int,
                               weights w: UnsafePointer<Float>, bias: Float, lo: Float, hi: Float,
                               into out: UnsafeMutablePointer<Float>) {
        typealias V = SIMD16<Float>
        let w0 = V(repeating: w[0]), w1 = V(repeating: w[1]), w2 = V(repeating: w[2])
        let w3 = V(repeating: w[3]), w4 = V(repeating: w[4]), w5 = V(repeating: w[5])
        let w6 = V(repeating: w[6]), w7 = V(repeating: w[7]), w8 = V(repeating: w[8])
        let b = V(repeating: bias), l = V(repeating: lo), h = V(repeating: hi), zero = V()
        /// Columns x − 1, x, x + 1 of input row `r` (zeros outside the plane).
        @inline(__always) func columns(_ r: Int, _ x: Int) -> (V, V, V) {
            guard r >= 0 && r < height else { return (zero, zero, zero) }
            let row = plane + r &* width
            let c = UnsafeRawPointer(row + x).loadUnaligned(as: V.self)
            let left = x == 0 ? fftconv_shift_in16(zero, c) : UnsafeRawPointer(row + (x &- 1)).loadUnaligned(as: V.self)
            let right = x &+ 16 == width ? fftconv_shift_down16(c, 0) : UnsafeRawPointer(row + (x &+ 1)).loadUnaligned(as: V.self)
            return (left, c, right)
        }
        @inline(__always) func store(_ acc: V, _ p: UnsafeMutablePointer<Float>) {
            var y = acc + b
            y.replace(with: l, where: y .< l)
            y.replace(with: h, where: y .> h)
            UnsafeMutableRawPointer(p).storeBytes(of: y, as: V.self)
        }
        var r = 0
        while r < rows {
            let pair = r &+ 1 < rows
            let top = r0 &+ r
            var j = 0
            while true {
                let x = Swift.min(j, width &- 16)
                let (a0, a1, a2) = columns(top &- 1, x), (b0, b1, b2) = columns(top, x), (c0, c1, c2) = columns(top &+ 1, x)
                var acc = V()
                acc = acc.addingProduct(w0, a0); acc = acc.addingProduct(w1, a1); acc = acc.addingProduct(w2, a2)
                acc = acc.addingProduct(w3, b0); acc = acc.addingProduct(w4, b1); acc = acc.addingProduct(w5, b2)
                acc = acc.addingProduct(w6, c0); acc = acc.addingProduct(w7, c1); acc = acc.addingProduct(w8, c2)
                store(acc, out + (r &* width &+ x))
                if pair {
                    let (d0, d1, d2) = columns(top &+ 2, x)
                    var next = V()
                    next = next.addingProduct(w0, b0); next = next.addingProduct(w1, b1); next = next.addingProduct(w2, b2)
                    next = next.addingProduct(w3, c0); next = next.addingProduct(w4, c1); next = next.addingProduct(w5, c2)
                    next = next.addingProduct(w6, d0); next = next.addingProduct(w7, d1); next = next.addingProduct(w8, d2)
                    store(next, out + ((r &+ 1) &* width &+ x))
                }
                if x &+ 16 >= width { break }
                j &+= 16
            }
            r &+= pair ? 2 : 1
        }
    }
}
