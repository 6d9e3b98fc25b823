import FFTConvKernels

/// A dilated convolution whose kernel reaches past the input for many outputs, computed region by region with only the
/// taps that read the input there.
///
/// Output rows fall into bands by which kernel rows read inside the input (at dilation 12 on a 14-row map: rows 0–1
/// read kernel rows 1 and 2, rows 2–11 only row 1, rows 12–13 rows 0 and 1); columns likewise. Each band × band region
/// is a convolution of its own — the kernel window those taps form, no padding (every tap it keeps reads inside the
/// input for every output of the region), on the crop of the input those taps read — prepared once with `inner`'s
/// algorithm and run on the crop copied out; its outputs are copied into the region. The taps a region leaves out
/// would only have multiplied padding: DeepLabV3-MobileNetV3's ASPP branch at dilation 12 on 14² (960→256) computes
/// 18% of its 3x3 products this way (ONNX Runtime's NCHWc kernel skips them too).
final class TapRegionsImplementation: ConvolutionImplementation, @unchecked Sendable {
    /// One region: output rows and columns, the input crop's first row and column and size, and its prepared layer.
    struct Region {
        let rows: Range<Int>, columns: Range<Int>
        let cropOrigin: (row: Int, column: Int)
        let crop: Size2D
        let implementation: ConvolutionImplementation
    }

    let problem: ConvolutionProblem
    let regions: [Region]
    /// Regions no tap reaches into (outputs that read only padding: the bias, residual and activation alone).
    let empty: [(rows: Range<Int>, columns: Range<Int>)]
    let bias: [Float]?
    let epilogue: Epilogue
    /// Floats of the largest crop and of the largest region output (per image).
    let cropFloats: Int, outputFloats: Int

    /// Output bands of one axis: consecutive outputs whose taps inside the input are the same kernel range.
    static func bands(kernel k: Int, stride s: Int, dilation d: Int, pad: Int, input n: Int, output o: Int) -> [(outputs: Range<Int>, taps: Range<Int>)] {
        var result: [(outputs: Range<Int>, taps: Range<Int>)] = []
        for i in 0..<o {
            let live = (0..<k).filter { r in let at = i * s + r * d - pad; return at >= 0 && at < n }
            let taps = (live.first ?? 0)..<((live.last ?? -1) + 1)
            if let last = result.last, last.taps == taps, last.outputs.upperBound == i {
                result[result.count - 1].outputs = last.outputs.lowerBound..<(i + 1)
            } else {
                result.append((i..<(i + 1), taps))
            }
        }
        return result
    }

    /// The share of the layer's products the regions keep: products of live taps over all of them.
    static func liveShare(_ p: ConvolutionProblem) -> Double {
        let d = p.descriptor
        let rows = bands(kernel: d.kernel.height, stride: d.stride.height, dilation: d.dilation.height, pad: d.padding.top,
                         input: p.input.height, output: p.output.height)
        let columns = bands(kernel: d.kernel.width, stride: d.stride.width, dilation: d.dilation.width, pad: d.padding.left,
                            input: p.input.width, output: p.output.width)
        let liveRows = rows.reduce(0) { $0 + $1.outputs.count * $1.taps.count }
        let liveColumns = columns.reduce(0) { $0 + $1.outputs.count * $1.taps.count }
        return Double(liveRows * liveColumns) / Double(p.output.height * d.kernel.height * p.output.width * d.kernel.width)
    }

    /// Whether `p` is run by regions: a dilated layer where they keep at most `share` of the products (and more than
    /// one region).
    static func applies(to p: ConvolutionProblem, share: Double = 0.75) -> Bool {
        p.descriptor.dilation != Size2D(1, 1) && liveShare(p) <= share
    }

    /// Prepares every region with `make` (the wrapped algorithm on a region's layer and its weights window).
    init(problem p: ConvolutionProblem, weights: Tensor, bias: Tensor?,
         make: (ConvolutionProblem, Tensor) throws -> ConvolutionImplementation) throws {
        problem = p
        let d = p.descriptor
        self.bias = bias?.scalars
        epilogue = d.activation.epilogue
        let rowBands = Self.bands(kernel: d.kernel.height, stride: d.stride.height, dilation: d.dilation.height, pad: d.padding.top,
                                  input: p.input.height, output: p.output.height)
        let columnBands = Self.bands(kernel: d.kernel.width, stride: d.stride.width, dilation: d.dilation.width, pad: d.padding.left,
                                     input: p.input.width, output: p.output.width)
        var regions: [Region] = [], empty: [(rows: Range<Int>, columns: Range<Int>)] = [], crop = 0, out = 0
        for r in rowBands {
            for c in columnBands {
                if r.taps.isEmpty || c.taps.isEmpty {
                    empty.append((r.outputs, c.outputs))
                    continue
                }
                let origin = (r.outputs.lowerBound * d.stride.height + r.taps.lowerBound * d.dilation.height - d.padding.top,
                              c.outputs.lowerBound * d.stride.width + c.taps.lowerBound * d.dilation.width - d.padding.left)
                let size = Size2D((r.outputs.count - 1) * d.stride.height + (r.taps.count - 1) * d.dilation.height + 1,
                                  (c.outputs.count - 1) * d.stride.width + (c.taps.count - 1) * d.dilation.width + 1)
                let descriptor = try ConvolutionDescriptor(
                    inputChannels: d.inputChannels, outputChannels: d.outputChannels, kernel: Size2D(r.taps.count, c.taps.count),
                    stride: d.stride, dilation: Size2D(r.taps.count == 1 ? 1 : d.dilation.height, c.taps.count == 1 ? 1 : d.dilation.width),
                    groups: d.groups, hasBias: d.hasBias, activation: d.activation)
                let q = try ConvolutionProblem(descriptor: descriptor, input: size)
                guard q.output == Size2D(r.outputs.count, c.outputs.count) else {
                    throw ConvolutionError.unsupported(algorithm: "regions", reason: "region \(r.outputs)×\(c.outputs) of \(d) does not tile")
                }
                let implementation = try make(q, try weights.kernelWindow(rows: r.taps, columns: c.taps))
                regions.append(Region(rows: r.outputs, columns: c.outputs, cropOrigin: origin, crop: size, implementation: implementation))
                crop = Swift.max(crop, d.inputChannels * q.inputPlane)
                out = Swift.max(out, d.outputChannels * q.outputPlane)
            }
        }
        self.regions = regions
        self.empty = empty
        cropFloats = crop
        outputFloats = out
    }

    var preparedBytes: Int { regions.reduce(0) { $0 + $1.implementation.preparedBytes } }
    var summary: String {
        let share = Int((Self.liveShare(problem) * 100).rounded())
        return "\(regions.count) tap regions (\(share)% of the products), " + (regions.max { $0.rows.count * $0.columns.count < $1.rows.count * $1.columns.count }?.implementation.summary ?? "")
    }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
             batch: Int, threads: Int) {
        let p = problem, d = p.descriptor
        let (cin, cout) = (d.inputChannels, d.outputChannels)
        let inPlane = p.inputPlane, outPlane = p.outputPlane
        if !empty.isEmpty {
            let zeros = [Float](repeating: 0, count: p.output.width)
            zeros.withUnsafeBufferPointer { z in
                guard let z = z.baseAddress else { return }
                for (rows, columns) in empty {
                    for plane in 0..<(batch * cout) {
                        for i in rows {
                            let at = plane * outPlane + i * p.output.width + columns.lowerBound
                            epilogue.finish(src: z, dst: output + at, count: columns.count, bias: bias?[plane % cout] ?? 0,
                                            residual: residual.map { $0 + at })
                        }
                    }
                }
            }
        }
        SharedScratch.withBuffer(count: batch * (cropFloats + outputFloats * (residual == nil ? 1 : 2))) { ws in
            let x = ws, y = ws + batch * cropFloats, r = y + batch * outputFloats
            for region in regions {
                let (h, w) = (region.crop.height, region.crop.width), (rows, columns) = (region.rows, region.columns)
                // The crop of every input plane, and of the residual's planes over the region.
                Parallel.forEachRange(count: batch * cin, threads: batch * cin * h * w >= 1 << 15 ? threads : 1) { _, planes in
                    for plane in planes {
                        let from = input + plane * inPlane + region.cropOrigin.row * p.input.width + region.cropOrigin.column
                        let to = x + plane * h * w
                        for i in 0..<h { Copy.floats(to + i * w, from + i * p.input.width, w) }
                    }
                }
                if let residual {
                    for plane in 0..<(batch * cout) {
                        for i in 0..<rows.count {
                            Copy.floats(r + (plane * rows.count + i) * columns.count,
                                        residual + plane * outPlane + (rows.lowerBound + i) * p.output.width + columns.lowerBound, columns.count)
                        }
                    }
                }
                region.implementation.run(input: x, output: y, residual: residual == nil ? nil : UnsafePointer(r), batch: batch, threads: threads)
                for plane in 0..<(batch * cout) {
                    for i in 0..<rows.count {
                        Copy.floats(output + plane * outPlane + (rows.lowerBound + i) * p.output.width + columns.lowerBound,
                                    y + (plane * rows.count + i) * columns.count, columns.count)
                    }
                }
            }
        }
    }
}
