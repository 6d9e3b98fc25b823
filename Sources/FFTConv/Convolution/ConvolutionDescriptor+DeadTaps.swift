import FFTConvKernels

/// Kernel rows and columns that only ever read padding.
///
/// A dilated kernel on a small map can reach past the input on every output: DeepLabV3's ASPP runs 3x3 kernels at
/// dilation 36 on a 28×28 map (a 224-pixel input at output stride 8), where the outer taps sit 36 pixels from the
/// centre and read zero padding for every output position — that layer is a 1x1 convolution with eight zero
/// multiplications per output added. Dropping such rows and columns gives the same outputs from a smaller kernel
/// (the same cross-correlation: a dropped tap's every product was `w · 0`; only the order of the remaining sums is
/// the smaller kernel's).
///
/// Because a row's reads move down as its index grows, the live rows are one contiguous range (rows above it read
/// only top padding, rows below it only bottom padding); the same holds for columns.
extension ConvolutionDescriptor {
    /// The kernel rows and columns whose taps read at least one input pixel for some output, on `input`; `nil` when
    /// the output size cannot be computed (the descriptor's own errors say why).
    public func liveTaps(input: Size2D) -> (rows: Range<Int>, columns: Range<Int>)? {
        guard let out = try? outputSize(input: input) else { return nil }
        func live(_ k: Int, _ s: Int, _ d: Int, _ pad: Int, _ n: Int, _ o: Int) -> Range<Int> {
            let isLive = { (r: Int) in !Self.readingOutputs(r, stride: s, dilation: d, pad: pad, input: n, output: o).isEmpty }
            guard let first = (0..<k).first(where: isLive), let last = (0..<k).last(where: isLive) else { return 0..<0 }
            return first..<(last + 1)
        }
        return (live(kernel.height, stride.height, dilation.height, padding.top, input.height, out.height),
                live(kernel.width, stride.width, dilation.width, padding.left, input.width, out.width))
    }

    /// On one axis, the outputs for which kernel index `r` reads inside an input of `n` (it reads `i·s + r·d − pad`
    /// for output `i` of `o`): a contiguous range, empty when `r` reads only padding.
    static func readingOutputs(_ r: Int, stride s: Int, dilation d: Int, pad: Int, input n: Int, output o: Int) -> Range<Int> {
        ConvolutionGeometry.validOutputRange(offset: r * d - pad, stride: s, inputCount: n, outputCount: o)
    }

    /// The same convolution on `input` without the kernel rows and columns that read only padding (`liveTaps`), and
    /// which rows and columns of the weights it keeps; `nil` when every tap is live, when no tap is (the output is the
    /// bias alone — left to the full kernel), or when the smaller kernel would need negative padding. A dimension left
    /// with one tap gets dilation 1 (so a pruned 3x3 at dilation 36 is a plain 1x1 layer to every algorithm).
    public func withoutDeadTaps(input: Size2D) -> (descriptor: ConvolutionDescriptor, rows: Range<Int>, columns: Range<Int>)? {
        guard let (rows, columns) = liveTaps(input: input), !rows.isEmpty, !columns.isEmpty,
              rows.count < kernel.height || columns.count < kernel.width else { return nil }
        // Same output size: the padding shrinks by the dropped rows' extent on each side.
        let top = padding.top - rows.lowerBound * dilation.height
        let bottom = padding.bottom - (kernel.height - rows.upperBound) * dilation.height
        let left = padding.left - columns.lowerBound * dilation.width
        let right = padding.right - (kernel.width - columns.upperBound) * dilation.width
        guard top >= 0, bottom >= 0, left >= 0, right >= 0 else { return nil }
        let d = try? ConvolutionDescriptor(
            inputChannels: inputChannels, outputChannels: outputChannels, kernel: Size2D(rows.count, columns.count), stride: stride,
            dilation: Size2D(rows.count == 1 ? 1 : dilation.height, columns.count == 1 ? 1 : dilation.width),
            padding: Padding(top: top, left: left, bottom: bottom, right: right), groups: groups, hasBias: hasBias, activation: activation)
        guard let d, (try? d.outputSize(input: input)) == (try? outputSize(input: input)) else { return nil }
        return (d, rows, columns)
    }
}

extension Tensor {
    /// Rows `rows` and columns `columns` of every kernel of a `[O, I, kH, kW]` weight tensor (`withoutDeadTaps`).
    func kernelWindow(rows: Range<Int>, columns: Range<Int>) throws -> Tensor {
        let s = shape
        guard s.count == 4, rows.lowerBound >= 0, rows.upperBound <= s[2], columns.lowerBound >= 0, columns.upperBound <= s[3] else {
            throw ConvolutionError.weightShapeMismatch(expected: [-1, -1, rows.upperBound, columns.upperBound], actual: s)
        }
        let (kh, kw) = (s[2], s[3])
        var result = try Tensor(zeros: [s[0], s[1], rows.count, columns.count])
        withUnsafeBufferPointer { w in
            result.withUnsafeMutableBufferPointer { r in
                var i = 0
                for plane in 0..<(s[0] * s[1]) {
                    for y in rows {
                        for x in columns { r[i] = w[(plane * kh + y) * kw + x]; i += 1 }
                    }
                }
            }
        }
        return result
    }
}
