import FFTConvKernels

/// A dilated convolution whose kernel reaches past the input for many outputs, computed tap by tap over only the
/// outputs where each tap reads the input.
///
/// Tap `(kh, kw)` reads inside the input for one rectangle of outputs (at dilation 12 on a 14-row map, kernel row 0 for
/// output rows 12–13, row 1 for all, row 2 for rows 0–1). Each tap is a 1x1 layer of its own — its `Cout × Cin`
/// weights, prepared once with `inner`'s algorithm — run on the crop of the input its rectangle reads (copied out, with
/// the stride), and its outputs are added into the rectangle; the tap whose rectangle is the whole output (the centre
/// tap, when there is one) writes it first, the bias, residual and activation follow over the whole output. Each tap's
/// weights are read once a call (a split into band × band regions, each with the kernel window of its taps, read the
/// corner taps' weights four times: DeepLabV3-MobileNetV3's ASPP branch at dilation 12 on 14², 960→256, 24.6 MB of
/// weights a call against 8.8). The products left out would only have multiplied padding: that branch computes 18%
/// of its 3x3 products (ONNX Runtime's NCHWc kernel skips them too).
final class LiveTapSumImplementation: ConvolutionImplementation, @unchecked Sendable {
    /// One tap: the output rows and columns where it reads the input, the input pixel the first of them reads, and
    /// its 1x1 layer on a crop of that size.
    struct Tap {
        let rows: Range<Int>, columns: Range<Int>
        let origin: (row: Int, column: Int)
        let implementation: ConvolutionImplementation
    }

    let problem: ConvolutionProblem
    let taps: [Tap]
    /// Whether `taps[0]` covers the whole output (it then writes it; else the output is zeroed first).
    let firstCoversOutput: Bool
    let bias: [Float]?
    let epilogue: Epilogue
    /// Floats of the largest crop and of the largest tap output (per image).
    let cropFloats: Int, outputFloats: Int

    /// For each kernel row and each kernel column, the output rows (columns) where it reads inside the input.
    static func windows(_ p: ConvolutionProblem) -> (rows: [Range<Int>], columns: [Range<Int>]) {
        let d = p.descriptor
        return ((0..<d.kernel.height).map {
                    ConvolutionDescriptor.readingOutputs($0, stride: d.stride.height, dilation: d.dilation.height, pad: d.padding.top,
                                                         input: p.input.height, output: p.output.height)
                },
                (0..<d.kernel.width).map {
                    ConvolutionDescriptor.readingOutputs($0, stride: d.stride.width, dilation: d.dilation.width, pad: d.padding.left,
                                                         input: p.input.width, output: p.output.width)
                })
    }

    /// The share of the layer's products whose tap reads the input: Σ over taps of the outputs where it does, over
    /// outputs × taps.
    static func liveShare(_ p: ConvolutionProblem) -> Double {
        let d = p.descriptor, (rows, columns) = windows(p)
        let live = rows.reduce(0) { $0 + $1.count } * columns.reduce(0) { $0 + $1.count }
        return Double(live) / Double(p.output.height * d.kernel.height * p.output.width * d.kernel.width)
    }

    /// Whether `p` is run as a sum of its live taps: a dilated layer where they make at most `share` of the products.
    static func applies(to p: ConvolutionProblem, share: Double = 0.75) -> Bool {
        p.descriptor.dilation != Size2D(1, 1) && liveShare(p) <= share
    }

    /// Prepares every tap with `make` (the wrapped algorithm on a tap's 1x1 layer, no bias, no activation, and its
    /// `[Cout, Cin / groups, 1, 1]` weights).
    init(problem p: ConvolutionProblem, weights: Tensor, bias: Tensor?,
         make: (ConvolutionProblem, Tensor) throws -> ConvolutionImplementation) throws {
        problem = p
        let d = p.descriptor
        self.bias = bias?.scalars
        epilogue = d.activation.epilogue
        var taps: [Tap] = [], crop = 0, out = 0
        let windows = Self.windows(p)
        for (kh, rows) in windows.rows.enumerated() where !rows.isEmpty {
            for (kw, columns) in windows.columns.enumerated() where !columns.isEmpty {
                let size = Size2D(rows.count, columns.count)
                let descriptor = try ConvolutionDescriptor(inputChannels: d.inputChannels, outputChannels: d.outputChannels, kernel: 1,
                                                           groups: d.groups, hasBias: false)
                let q = try ConvolutionProblem(descriptor: descriptor, input: size)
                let implementation = try make(q, try weights.kernelWindow(rows: kh..<(kh + 1), columns: kw..<(kw + 1)))
                let origin = (rows.lowerBound * d.stride.height + kh * d.dilation.height - d.padding.top,
                              columns.lowerBound * d.stride.width + kw * d.dilation.width - d.padding.left)
                taps.append(Tap(rows: rows, columns: columns, origin: origin, implementation: implementation))
                crop = Swift.max(crop, d.inputChannels * q.inputPlane)
                out = Swift.max(out, d.outputChannels * q.outputPlane)
            }
        }
        // The first tap covering the whole output goes first: it writes the output, the others add to it.
        let covering = taps.firstIndex { $0.rows.count * $0.columns.count == p.outputPlane }
        if let i = covering { taps.insert(taps.remove(at: i), at: 0) }
        self.taps = taps
        firstCoversOutput = covering != nil
        cropFloats = crop
        outputFloats = out
    }

    var preparedBytes: Int { taps.reduce(0) { $0 + $1.implementation.preparedBytes } }
    var summary: String {
        let share = Int((Self.liveShare(problem) * 100).rounded())
        return "\(taps.count) live taps summed (\(share)% of the products), " + (taps.first?.implementation.summary ?? "")
    }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
             batch: Int, threads: Int) {
        let p = problem, d = p.descriptor
        let (cin, cout) = (d.inputChannels, d.outputChannels)
        let (s, inPlane, outPlane, ow) = (d.stride, p.inputPlane, p.outputPlane, p.output.width)
        let planes = batch * cout
        let split = planes * outPlane >= 1 << 15 ? threads : 1
        if !firstCoversOutput {
            Parallel.forEachRange(count: planes, threads: split) { _, range in
                for plane in range { Copy.zero(output + plane * outPlane, outPlane) }
            }
        }
        SharedScratch.withBuffer(count: batch * (cropFloats + outputFloats)) { ws in
            let x = ws, y = ws + batch * cropFloats
            for (t, tap) in taps.enumerated() {
                let (h, w) = (tap.rows.count, tap.columns.count)
                // The crop: input pixel (origin + i·stride, origin + j·stride) for the tap's outputs (i, j).
                Parallel.forEachRange(count: batch * cin, threads: batch * cin * h * w >= 1 << 15 ? threads : 1) { _, range in
                    for plane in range {
                        let from = input + plane * inPlane + tap.origin.row * p.input.width + tap.origin.column
                        let to = x + plane * h * w
                        for i in 0..<h {
                            let line = from + i * s.height * p.input.width, row = to + i * w
                            if s.width == 1 { Copy.floats(row, line, w) } else { for j in 0..<w { row[j] = line[j * s.width] } }
                        }
                    }
                }
                if t == 0 && firstCoversOutput {
                    tap.implementation.run(input: x, output: output, residual: nil, batch: batch, threads: threads)
                    continue
                }
                tap.implementation.run(input: x, output: y, residual: nil, batch: batch, threads: threads)
                Parallel.forEachRange(count: planes, threads: split) { _, range in
                    for plane in range {
                        for i in 0..<h {
                            let dst = output + plane * outPlane + (tap.rows.lowerBound + i) * ow + tap.columns.lowerBound
                            GEMM.addPartials(dst, y + (plane * h + i) * w, into: dst, count: w)
                        }
                    }
                }
            }
        }
        // Bias, residual and activation over the summed output, in place.
        Parallel.forEachRange(count: planes, threads: split) { _, range in
            for plane in range {
                let at = plane * outPlane
                epilogue.finish(src: output + at, dst: output + at, count: outPlane, bias: bias?[plane % cout] ?? 0,
                                residual: residual.map { $0 + at })
            }
        }
    }
}
