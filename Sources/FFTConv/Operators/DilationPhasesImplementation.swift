import FFTConvKernels

/// A stride-1 dilated convolution computed as one undilated one over the input's dilation phases laid side by side.
///
/// At dilation `(dh, dw)` and stride 1, output row `dh·i + a` reads only input rows `dh·j + a` (when the top padding
/// is a multiple of `dh`): the input split into its `dh × dw` phases — phase `(a, b)` holding pixels `(dh·j + a,
/// dw·i + b)`, `⌈H/dh⌉ × ⌈W/dw⌉` of them — carries the layer as `dh·dw` small images on which its kernel runs
/// *undilated*, with padding `p/d` on each side. Here the phase images are laid out as a `dh × dw` grid in one plane,
/// `gap` zero rows and columns between neighbours (the larger of the undilated padding's two sides: each image's
/// padding is the zeros around it), so that one undilated layer computes every phase in one pass over its weights —
/// Winograd, which needs dense kernels. A batch of `dh·dw` separate images cost a pass over the weights each:
/// DeepLabV3's 512→512 3x3 at dilation 4 on 28² as 16 7² images took 25.6 ms on F(2x2) and 29.0 on F(4x4), as one
/// 31² grid 27.0 and 16.4 (twenty-eighth session, `fftconv-bench layer --input 1x512x28x28 --filters 512x512x3x3
/// --dilation 4 --padding 4 --algorithm direct,winograd`, 1 thread; direct 54.7). The gaps' outputs are computed and
/// dropped (31² for 28² there).
///
/// Phases shorter than the others (a side not a multiple of the dilation) are zero past their end, which is where
/// the layer's padding is. A residual is laid out as the input is; the bias and the activation are the inner layer's.
final class DilationPhasesImplementation: ConvolutionImplementation, @unchecked Sendable {
    let problem: ConvolutionProblem
    /// The undilated layer on the grid of phase images.
    let gridProblem: ConvolutionProblem
    let inner: ConvolutionImplementation
    let factor: Size2D
    /// One phase image's rows and columns (input and output alike), and the zero rows and columns between two.
    let cell: Size2D, gap: Size2D

    /// The undilated layer on the grid of `p`'s phase images, the phase image size and the gap between images; `nil`
    /// when `p` is not dilated, has a stride, has a padding that is not a multiple of its dilation on every side, or
    /// is not "same"-sized per phase (padding `(k − 1)·d` in all on each axis).
    static func gridProblem(_ p: ConvolutionProblem) -> (problem: ConvolutionProblem, cell: Size2D, gap: Size2D)? {
        let d = p.descriptor, (dh, dw) = (d.dilation.height, d.dilation.width), pad = d.padding, k = d.kernel
        guard d.dilation != Size2D(1, 1), d.stride == Size2D(1, 1),
              pad.top % dh == 0, pad.bottom % dh == 0, pad.left % dw == 0, pad.right % dw == 0,
              pad.top / dh + pad.bottom / dh == k.height - 1, pad.left / dw + pad.right / dw == k.width - 1 else { return nil }
        let inner = Padding(top: pad.top / dh, left: pad.left / dw, bottom: pad.bottom / dh, right: pad.right / dw)
        let cell = Size2D((p.input.height + dh - 1) / dh, (p.input.width + dw - 1) / dw)
        let gap = Size2D(Swift.max(inner.top, inner.bottom), Swift.max(inner.left, inner.right))
        let grid = Size2D(dh * cell.height + (dh - 1) * gap.height, dw * cell.width + (dw - 1) * gap.width)
        guard let descriptor = try? ConvolutionDescriptor(
            inputChannels: d.inputChannels, outputChannels: d.outputChannels, kernel: k, stride: 1, dilation: 1, padding: inner,
            groups: d.groups, hasBias: d.hasBias, activation: d.activation),
              let q = try? ConvolutionProblem(descriptor: descriptor, input: grid), q.output == grid,
              p.output == p.input else { return nil }
        return (q, cell, gap)
    }

    /// Wraps `inner`, prepared for `gridProblem(p)`.
    init(problem p: ConvolutionProblem, grid: (problem: ConvolutionProblem, cell: Size2D, gap: Size2D), inner: ConvolutionImplementation) {
        problem = p
        gridProblem = grid.problem
        cell = grid.cell
        gap = grid.gap
        self.inner = inner
        factor = p.descriptor.dilation
    }

    var preparedBytes: Int { inner.preparedBytes }
    var summary: String {
        "\(factor.height)x\(factor.width) dilation phases as a \(gridProblem.input) grid, " + inner.summary
    }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
             batch: Int, threads: Int) {
        let p = problem, q = gridProblem, d = p.descriptor
        let inFloats = batch * d.inputChannels * q.inputPlane, outFloats = batch * d.outputChannels * q.outputPlane
        SharedScratch.withBuffer(count: inFloats + outFloats * (residual == nil ? 1 : 2)) { ws in
            let x = ws, y = ws + inFloats, r = residual == nil ? nil : y + outFloats
            split(input, planes: batch * d.inputChannels, into: x, threads: threads)
            if let residual, let r { split(residual, planes: batch * d.outputChannels, into: r, threads: threads) }
            inner.run(input: x, output: y, residual: r.map { UnsafePointer($0) }, batch: batch, threads: threads)
            merge(y, planes: batch * d.outputChannels, into: output, threads: threads)
        }
    }

    /// `planes` planes of the layer's size (input and output sizes are equal) into grid planes: pixel `(dh·j + a, dw·i +
    /// b)` to `(a·(cell + gap) + j, b·(cell + gap) + i)`, zero everywhere else.
    private func split(_ src: UnsafePointer<Float>, planes: Int, into dst: UnsafeMutablePointer<Float>, threads: Int) {
        let gridPlane = gridProblem.inputPlane
        Parallel.forEachRange(count: planes, threads: threads) { _, range in
            for item in range {
                Copy.zero(dst + item * gridPlane, gridPlane)
                forEachCellRun(plane: item, grid: dst) { pixel, cell in cell.pointee = src[pixel] }
            }
        }
    }

    /// Grid planes back into `planes` planes of the layer's size (`split`'s inverse; the gaps dropped).
    private func merge(_ src: UnsafePointer<Float>, planes: Int, into dst: UnsafeMutablePointer<Float>, threads: Int) {
        let grid = UnsafeMutablePointer(mutating: src)
        Parallel.forEachRange(count: planes, threads: threads) { _, range in
            for item in range { forEachCellRun(plane: item, grid: grid) { pixel, cell in dst[pixel] = cell.pointee } }
        }
    }

    /// Calls `body(pixel, cell)` for every pixel of plane `plane` of the layer's size (its index from the first plane)
    /// and its place in grid plane `plane` at `grid`.
    @inline(__always)
    private func forEachCellRun(plane: Int, grid: UnsafeMutablePointer<Float>, _ body: (Int, UnsafeMutablePointer<Float>) -> Void) {
        let (dh, dw) = (factor.height, factor.width), size = problem.input, width = gridProblem.input.width
        let (pitchH, pitchW) = (cell.height + gap.height, cell.width + gap.width)
        let base = plane * size.height * size.width, to = grid + plane * gridProblem.inputPlane
        for y in 0..<size.height {
            let row = to + (y % dh * pitchH + y / dh) * width
            for b in 0..<Swift.min(dw, size.width) {
                var x = b, i = row + b * pitchW
                while x < size.width { body(base + y * size.width + x, i); x += dw; i += 1 }
            }
        }
    }
}
