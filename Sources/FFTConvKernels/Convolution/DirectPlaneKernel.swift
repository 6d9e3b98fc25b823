/// The plain direct convolution: one input plane's contribution to one output plane, tap by tap.
///
/// Straightforward loops (the SIMD-blocked kernels live in their own family): for every tap the range of
/// output columns that reads inside the input is computed once, so the inner loop has no bounds checks
/// and, at stride 1, runs eight lanes at a time.
public enum DirectPlaneKernel {
    /// `output[oh][ow] += sum over taps of weights[kh][kw] * input[oh*sh + kh*dh - padTop][ow*sw + kw*dw - padLeft]`,
    /// skipping taps that fall in the zero padding.
    ///
    /// - Parameters:
    ///   - input: `inputHeight × inputWidth` floats, row-major.
    ///   - weights: `kernelHeight × kernelWidth` floats, row-major.
    ///   - output: `outputHeight × outputWidth` floats, row-major, accumulated into.
    public static func accumulate(input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                                  output: UnsafeMutablePointer<Float>, geometry g: ConvolutionGeometry) {
        for kh in 0..<g.kernelHeight {
            let rowOffset = kh * g.dilationHeight - g.padTop
            let rows = ConvolutionGeometry.validOutputRange(offset: rowOffset, stride: g.strideHeight,
                                                            inputCount: g.inputHeight, outputCount: g.outputHeight)
            if rows.isEmpty { continue }
            for kw in 0..<g.kernelWidth {
                let w = weights[kh * g.kernelWidth + kw]
                let colOffset = kw * g.dilationWidth - g.padLeft
                let cols = ConvolutionGeometry.validOutputRange(offset: colOffset, stride: g.strideWidth,
                                                                inputCount: g.inputWidth, outputCount: g.outputWidth)
                if cols.isEmpty { continue }
                for oh in rows {
                    let inRow = input + (oh * g.strideHeight + rowOffset) * g.inputWidth
                    let outRow = output + oh * g.outputWidth
                    if g.strideWidth == 1 {
                        axpy(w, x: inRow + (cols.lowerBound + colOffset), y: outRow + cols.lowerBound, count: cols.count)
                    } else {
                        for ow in cols {
                            outRow[ow] += w * inRow[ow * g.strideWidth + colOffset]
                        }
                    }
                }
            }
        }
    }

    /// `y[i] += a * x[i]` for `i` in `0..<count`, eight lanes at a time.
    @inline(__always)
    static func axpy(_ a: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int) {
        let va = SIMD8<Float>(repeating: a)
        let rx = UnsafeRawPointer(x)
        let ry = UnsafeMutableRawPointer(y)
        var i = 0
        while i + 8 <= count {
            let vx = rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            let vy = ry.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            ry.storeBytes(of: vy.addingProduct(va, vx), toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            y[i] = y[i].addingProduct(a, x[i])
            i += 1
        }
    }
}
