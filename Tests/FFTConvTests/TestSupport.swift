import FFTConv
import XCTest

/// One convolution case: descriptor, input shape, and the seeded data for it.
struct ConvolutionCase: CustomStringConvertible {
    var descriptor: ConvolutionDescriptor
    var batch: Int
    var input: Size2D

    var description: String { "\(descriptor) on \(batch)x\(descriptor.inputChannels)x\(input.height)x\(input.width)" }

    /// Random input, weights and bias drawn from `seed`.
    func data(seed: UInt64) throws -> (x: Tensor, w: Tensor, b: Tensor?) {
        var rng = SeededGenerator(seed: seed)
        let x = try Tensor.random(shape: [batch, descriptor.inputChannels, input.height, input.width], using: &rng)
        let w = try Tensor.random(shape: descriptor.weightShape, using: &rng)
        let b = descriptor.hasBias ? try Tensor.random(shape: [descriptor.outputChannels], using: &rng) : nil
        return (x, w, b)
    }
}

/// The acceptance bound of the regression grid: max|y - ref| <= 1e-4 * max(1, max|ref|).
/// Returns whether the reference output was non-zero (a grid asserts that almost all its cases are).
@discardableResult
func assertMatchesReference(_ c: ConvolutionCase, algorithm: ConvolutionAlgorithm, seed: UInt64,
                            options: ConvolutionOptions = .init(), tolerance: Float = 1e-4, withResidual: Bool = false,
                            file: StaticString = #filePath, line: UInt = #line) throws -> Bool {
    let (x, w, b) = try c.data(seed: seed)
    var residual: Tensor?
    if withResidual {
        var rng = SeededGenerator(seed: seed &+ 77)
        let out = try c.descriptor.outputSize(input: c.input)
        residual = try Tensor.random(shape: [c.batch, c.descriptor.outputChannels, out.height, out.width], using: &rng)
    }
    let reference = try ReferenceConvolution.run(descriptor: c.descriptor, input: x, weights: w, bias: b, residual: residual)
    let conv = try Convolution2D(descriptor: c.descriptor, input: c.input, weights: w, bias: b,
                                 algorithm: algorithm, options: options)
    let y = try conv(x, residual: residual)
    XCTAssertEqual(y.shape, reference.shape, "\(algorithm) \(c)", file: file, line: line)
    // Every element is written: run into a NaN-filled output, the same bits must come back (outputs some
    // implementations leave unzeroed hold whatever their memory held before).
    var overwritten = try Tensor(shape: y.shape, repeating: .nan)
    try conv.run(x, residual: residual, into: &overwritten)
    XCTAssertEqual(overwritten, y, "\(algorithm) \(c) [\(conv.summary)]: run(into:) left or changed elements", file: file, line: line)
    let diff = try XCTUnwrap(y.maxAbsoluteDifference(reference), file: file, line: line)
    let bound = tolerance * max(1, reference.maxAbsolute)
    XCTAssert(diff <= bound, "\(algorithm) \(c) [\(conv.summary)]: max|y-ref| = \(diff) > \(bound)", file: file, line: line)
    return reference.maxAbsolute > 0
}

/// `c` (data from `seed`) by `algorithm` with `microKernel` at 1 thread and at each of `threads`, each run into a
/// NaN-filled output: every prepared layer's summary contains `summary`, every output is written, and each thread
/// count gives 1 thread's bits (an element's arithmetic never depends on the worker that computes it).
func assertSameBitsAcrossThreads(_ c: ConvolutionCase, algorithm: ConvolutionAlgorithm, seed: UInt64, microKernel: String?,
                                 summary expected: String, threads: [Int] = [2, 3],
                                 file: StaticString = #filePath, line: UInt = #line) throws {
    let (x, w, b) = try c.data(seed: seed)
    var first: Tensor?
    for t in [1] + threads {
        let conv = try Convolution2D(descriptor: c.descriptor, input: c.input, weights: w, bias: b, algorithm: algorithm,
                                     options: ConvolutionOptions(threads: t, microKernel: microKernel))
        XCTAssertTrue(conv.summary.contains(expected), "\(c): \(conv.summary)", file: file, line: line)
        var y = try Tensor(shape: conv.outputShape(batch: c.batch), repeating: .nan)
        try conv.run(x, into: &y)
        XCTAssertFalse(y.scalars.contains { $0.isNaN }, "\(c), \(t) threads: elements left unwritten", file: file, line: line)
        if let first {
            XCTAssertEqual(y, first, "\(c): \(t) threads differ from 1", file: file, line: line)
        } else {
            first = y
        }
    }
}

/// `op` as the one node of a network: `inputs` fed at call time, `constants` after them in name order (so they
/// read as the op's later inputs), the output `y`.
func runNode(_ op: GraphOperation, _ inputs: [(String, Tensor)], constants: [String: Tensor] = [:], threads: Int = 1) throws -> Tensor {
    let node = Graph.Node(name: "op", operation: op, inputs: inputs.map(\.0) + constants.keys.sorted(), outputs: ["y"])
    let graph = Graph(inputs: inputs.map { Graph.Value(name: $0.0, shape: $0.1.shape) }, outputs: ["y"],
                      constants: constants, nodes: [node])
    let y = try Network(graph: graph, options: NetworkOptions(threads: threads)).predict(Dictionary(uniqueKeysWithValues: inputs))["y"]
    return try XCTUnwrap(y)
}

/// Every index of a tensor of `shape`, in row-major order.
func indices(_ shape: [Int]) -> [[Int]] {
    var all: [[Int]] = [[]]
    for n in shape { all = all.flatMap { p in (0..<n).map { p + [$0] } } }
    return all
}
