import FFTConvKernels

/// The plain direct convolution (the core engine's non-FFT baseline, algorithm `plain`): for each output plane, every input channel's taps accumulated by
/// `DirectPlaneKernel`, then bias and activation in one pass. Work is split over (image, output channel).
final class PlainDirectImplementation: ConvolutionImplementation, @unchecked Sendable {
    let problem: ConvolutionProblem
    let weights: AlignedBuffer
    let bias: [Float]
    let epilogue: Epilogue

    init(problem: ConvolutionProblem, weights: Tensor, bias: Tensor?) {
        self.problem = problem
        self.weights = weights.storage
        self.bias = bias?.scalars ?? [Float](repeating: 0, count: problem.descriptor.outputChannels)
        self.epilogue = problem.descriptor.activation.epilogue
    }

    var preparedBytes: Int { weights.count * 4 }
    var summary: String { "plain loops" }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
             batch: Int, threads: Int) {
        let p = problem, d = p.descriptor
        let cg = d.inputChannelsPerGroup, og = d.outputChannelsPerGroup
        let taps = d.kernel.height * d.kernel.width
        let geometry = p.geometry
        let w = weights.pointer
        Parallel.forEachRange(count: batch * d.outputChannels, threads: threads) { _, items in
            for item in items {
                let n = item / d.outputChannels, o = item % d.outputChannels
                let g = o / og
                let out = output + item * p.outputPlane
                out.update(repeating: 0, count: p.outputPlane)
                for c in 0..<cg {
                    let x = input + (n * d.inputChannels + g * cg + c) * p.inputPlane
                    DirectPlaneKernel.accumulate(input: x, weights: w + (o * cg + c) * taps, output: out, geometry: geometry)
                }
                epilogue.apply(to: out, count: p.outputPlane, bias: bias[o], residual: residual.map { $0 + item * p.outputPlane })
            }
        }
    }
}
