/// The reference convolution as an algorithm, so the bench can time it beside the others.
final class ReferenceImplementation: ConvolutionImplementation, @unchecked Sendable {
    let problem: ConvolutionProblem
    let weights: [Float]
    let bias: [Float]?

    init(problem: ConvolutionProblem, weights: Tensor, bias: Tensor?) {
        self.problem = problem
        self.weights = weights.scalars
        self.bias = bias?.scalars
    }

    var preparedBytes: Int { weights.count * 4 }
    var summary: String { "naive, double accumulation" }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
             batch: Int, threads: Int) {
        let p = problem
        weights.withUnsafeBufferPointer { w in
            ReferenceConvolution.compute(p.descriptor, batch: batch, input: p.input, output: p.output,
                                         x: UnsafeBufferPointer(start: input, count: batch * p.descriptor.inputChannels * p.inputPlane),
                                         w: w, bias: bias,
                                         residual: residual.map { UnsafeBufferPointer(start: $0, count: batch * p.descriptor.outputChannels * p.outputPlane) },
                                         y: UnsafeMutableBufferPointer(start: output, count: batch * p.descriptor.outputChannels * p.outputPlane))
        }
    }
}
