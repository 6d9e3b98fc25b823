import CFFTConvShim
import FFTConvKernels

/// A prepared transposed convolution (U-Net up-sampling): per image and group,
/// `cols[(Cout_g·kH·kW) × (H·W)] = W_gᵀ · X_g` on the packed SGEMM (weights packed once, the input read in place),
/// then col2im adds every column into the output window it came from, and the bias — or, where the windows tile the
/// output (kernel = stride, U-Net's 2x2), writes each column straight to its outputs with the bias.
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

    /// Whether the kernel windows tile the output without overlap or gaps (kernel = stride, no padding, dilation or
    /// output padding: U-Net's 2x2 stride-2 up-sampling): then col2im is a plain write of every column, bias added.
    var windowsTile: Bool {
        kernel == stride && padding == 0 && dilation == Size2D(1, 1) && outputPadding == Size2D(0, 0)
    }

    func callAsFunction(_ x: Tensor, outputShape: [Int]) throws -> Tensor {
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let (oh, ow) = (outputShape[2], outputShape[3])
        let cinG = inputChannels / groups, coutG = outputChannels / groups
        let (kh, kw) = (kernel.height, kernel.width)
        let tiles = windowsTile && oh == h * kh && ow == w * kw
        // Where windows tile the output every output is written once below; elsewhere they are summed into zeros.
        let y = tiles ? try Tensor(uninitialized: outputShape) : try Tensor(zeros: outputShape)
        // Every column is written by the product (beta 0).
        let cols = try Tensor(uninitialized: [coutG * kh * kw, h * w])
        let px = x.storage.pointer, py = y.storage.pointer, pc = cols.storage.pointer
        let threads = products.first?.threads ?? 1
        // The write-out touches every output float once (col2im: kh · kw adds each): over threads by output channel
        // from ~1 M floats (~0.2 ms).
        let writeThreads = coutG * oh * ow >= 1 << 20 ? threads : 1
        bias.withUnsafeOptionalBufferPointer { biasp in
            for b in 0..<n {
                for g in 0..<groups {
                    // The group's input channels are rows of H·W floats, in place.
                    products[g].run(b: px + (b * inputChannels + g * cinG) * h * w, n: h * w, into: pc, epilogue: GEMMEpilogue())
                    let out = py + (b * outputChannels + g * coutG) * oh * ow
                    let bias = biasp?.baseAddress.map { $0 + g * coutG }
                    Parallel.forEachRange(count: coutG, threads: writeThreads) { _, channels in
                        for ol in channels {
                            let dst = out + ol * oh * ow, src = pc + ol * kh * kw * h * w, add = bias?[ol] ?? 0
                            if tiles {
                                Self.writeTiles(src, h: h, w: w, kh: kh, kw: kw, bias: add, into: dst)
                            } else {
                                self.addColumns(src, h: h, w: w, oh: oh, ow: ow, into: dst)
                                if add != 0 { for i in 0..<(oh * ow) { dst[i] += add } }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// One output channel where the windows tile the output: output row `i · kh + a`, column `j · kw + e` is column
    /// `(a, e)`'s value at `(i, j)`, plus `bias`. 2 wide (U-Net's): two columns interleaved 16 at a time.
    static func writeTiles(_ src: UnsafePointer<Float>, h: Int, w: Int, kh: Int, kw: Int, bias: Float,
                           into dst: UnsafeMutablePointer<Float>) {
        typealias V = SIMD16<Float>
        let ow = w * kw, plane = h * w, bv = V(repeating: bias)
        for i in 0..<h {
            for a in 0..<kh {
                let row = dst + (i * kh + a) * ow, first = src + (a * kw) * plane + i * w
                var j = 0
                if kw == 2 {
                    let second = first + plane
                    while j + 16 <= w {
                        let u = UnsafeRawPointer(first + j).loadUnaligned(as: V.self) + bv
                        let v = UnsafeRawPointer(second + j).loadUnaligned(as: V.self) + bv
                        UnsafeMutableRawPointer(row + 2 * j).storeBytes(of: fftconv_zip_lo16(u, v), as: V.self)
                        UnsafeMutableRawPointer(row + 2 * j + 16).storeBytes(of: fftconv_zip_hi16(u, v), as: V.self)
                        j += 16
                    }
                }
                for jj in j..<w {
                    for e in 0..<kw { row[jj * kw + e] = first[e * plane + jj] + bias }
                }
            }
        }
    }

    /// col2im for one output channel: every column `(a, e)` of `src` added into the output window it came from.
    func addColumns(_ src: UnsafePointer<Float>, h: Int, w: Int, oh: Int, ow: Int, into dst: UnsafeMutablePointer<Float>) {
        let (kh, kw) = (kernel.height, kernel.width)
        for a in 0..<kh {
            for e in 0..<kw {
                let column = src + (a * kw + e) * h * w
                // The inputs `j` whose output column lies inside: `j · stride + x0` in 0..<ow.
                let x0 = -padding.left + e * dilation.width, sw = stride.width
                let j0 = x0 >= 0 ? 0 : (-x0 + sw - 1) / sw
                let j1 = Swift.min(w, ow - x0 <= 0 ? 0 : (ow - x0 + sw - 1) / sw)
                for i in 0..<h {
                    let yy = i * stride.height - padding.top + a * dilation.height
                    if yy < 0 || yy >= oh || j0 >= j1 { continue }
                    let row = dst + yy * ow, srow = column + i * w
                    for j in j0..<j1 { row[j * sw + x0] += srow[j] }
                }
            }
        }
    }
}
