/// A prepared transposed convolution (U-Net up-sampling): per image and group,
/// `cols[(Cout_g·kH·kW) × (H·W)] = W_gᵀ · X_g` on the packed SGEMM (weights packed once), then col2im adds
/// every column into the output window it came from, then bias.
final class ConvolutionTranspose: @unchecked Sendable {
    let stride: Size2D, padding: Padding, dilation: Size2D, outputPadding: Size2D, groups: Int
    let kernel: Size2D
    let inputChannels: Int, outputChannels: Int
    let products: [MatrixMultiplication]
    let bias: [Float]?

    /// `weights`: `[Cin, Cout/groups, kH, kW]` (ONNX and PyTorch layout); `bias`: `[Cout]`.
    init(weights: Tensor, bias: Tensor?, stride: Size2D, padding: Padding, dilation: Size2D, outputPadding: Size2D,
         groups: Int, threads: Int) throws {
        guard weights.rank == 4, groups >= 1, weights.shape[0] % groups == 0 else {
            throw ConvolutionError.weightShapeMismatch(expected: [-1, -1, -1, -1], actual: weights.shape)
        }
        self.stride = stride; self.padding = padding; self.dilation = dilation; self.outputPadding = outputPadding; self.groups = groups
        kernel = Size2D(weights.shape[2], weights.shape[3])
        inputChannels = weights.shape[0]
        outputChannels = weights.shape[1] * groups
        let cinG = inputChannels / groups, rows = weights.shape[1] * kernel.height * kernel.width
        if let bias, bias.shape != [outputChannels] { throw ConvolutionError.biasShapeMismatch(expected: [outputChannels], actual: bias.shape) }
        self.bias = bias?.scalars
        products = try (0..<groups).map { g in
            let w = try Tensor(shape: [cinG, rows]) { i in weights.storage.pointer[g * cinG * rows + i] }
            return try MatrixMultiplication(a: w, transposed: true, threads: threads)
        }
    }

    var preparedBytes: Int { products.reduce(0) { $0 + $1.preparedBytes } }

    func callAsFunction(_ x: Tensor, outputShape: [Int]) throws -> Tensor {
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let (oh, ow) = (outputShape[2], outputShape[3])
        let cinG = inputChannels / groups, coutG = outputChannels / groups
        let (kh, kw) = (kernel.height, kernel.width)
        let y = try Tensor(zeros: outputShape)
        var cols = try Tensor(zeros: [coutG * kh * kw, h * w])
        let py = y.storage.pointer
        for b in 0..<n {
            for g in 0..<groups {
                let xg = Tensor(reshaping: try Tensor(shape: [cinG * h * w]) { x.storage.pointer[(b * inputChannels + g * cinG) * h * w + $0] },
                                to: [cinG, h * w])
                try products[g].run(xg, into: &cols)
                let pc = cols.storage.pointer
                for ol in 0..<coutG {
                    let dst = py + (b * outputChannels + g * coutG + ol) * oh * ow
                    for a in 0..<kh {
                        for e in 0..<kw {
                            let src = pc + ((ol * kh + a) * kw + e) * h * w
                            for i in 0..<h {
                                let yy = i * stride.height - padding.top + a * dilation.height
                                if yy < 0 || yy >= oh { continue }
                                let row = dst + yy * ow, srow = src + i * w
                                let x0 = -padding.left + e * dilation.width
                                for j in 0..<w {
                                    let xx = j * stride.width + x0
                                    if xx >= 0 && xx < ow { row[xx] += srow[j] }
                                }
                            }
                        }
                    }
                }
            }
        }
        if let bias {
            for b in 0..<n { for o in 0..<outputChannels { let p = py + (b * outputChannels + o) * oh * ow; for i in 0..<(oh * ow) { p[i] += bias[o] } } }
        }
        return y
    }
}
