import FFTConv
import XCTest

/// One test per typed error that user input can cause.
final class ErrorTests: XCTestCase {
    func expect<T>(_ expected: ConvolutionError, line: UInt = #line, _ body: () throws -> T) {
        XCTAssertThrowsError(try body(), line: line) { XCTAssertEqual($0 as? ConvolutionError, expected, line: line) }
    }

    func testNonPositiveSizes() {
        expect(.nonPositive(parameter: "inputChannels", value: 0)) { try ConvolutionDescriptor(inputChannels: 0, outputChannels: 1, kernel: 3) }
        expect(.nonPositive(parameter: "outputChannels", value: -1)) { try ConvolutionDescriptor(inputChannels: 1, outputChannels: -1, kernel: 3) }
        expect(.nonPositive(parameter: "kernel width", value: 0)) { try ConvolutionDescriptor(inputChannels: 1, outputChannels: 1, kernel: Size2D(3, 0)) }
        expect(.nonPositive(parameter: "stride height", value: 0)) { try ConvolutionDescriptor(inputChannels: 1, outputChannels: 1, kernel: 3, stride: Size2D(0, 1)) }
        expect(.nonPositive(parameter: "dilation width", value: -2)) { try ConvolutionDescriptor(inputChannels: 1, outputChannels: 1, kernel: 3, dilation: Size2D(1, -2)) }
        expect(.nonPositive(parameter: "groups", value: 0)) { try ConvolutionDescriptor(inputChannels: 1, outputChannels: 1, kernel: 3, groups: 0) }
        expect(.nonPositive(parameter: "input height", value: 0)) {
            try ConvolutionDescriptor(inputChannels: 1, outputChannels: 1, kernel: 1).outputSize(input: Size2D(0, 4))
        }
    }

    func testNegativePadding() {
        expect(.negativePadding(parameter: "padding right", value: -1)) {
            try ConvolutionDescriptor(inputChannels: 1, outputChannels: 1, kernel: 3, padding: Padding(top: 0, left: 0, bottom: 0, right: -1))
        }
    }

    func testChannelsNotDivisibleByGroups() {
        expect(.channelsNotDivisibleByGroups(parameter: "inputChannels", channels: 5, groups: 2)) {
            try ConvolutionDescriptor(inputChannels: 5, outputChannels: 4, kernel: 3, groups: 2)
        }
        expect(.channelsNotDivisibleByGroups(parameter: "outputChannels", channels: 3, groups: 2)) {
            try ConvolutionDescriptor(inputChannels: 4, outputChannels: 3, kernel: 3, groups: 2)
        }
    }

    func testEmptyOutput() throws {
        let d = try ConvolutionDescriptor(inputChannels: 1, outputChannels: 1, kernel: 3, dilation: 2, padding: 1)
        expect(.emptyOutput(inputHeight: 4, inputWidth: 6, effectiveKernelHeight: 5, effectiveKernelWidth: 5)) {
            try d.outputSize(input: Size2D(2, 4))
        }
        let w = try Tensor(zeros: d.weightShape), b = try Tensor(zeros: [1])
        expect(.emptyOutput(inputHeight: 4, inputWidth: 6, effectiveKernelHeight: 5, effectiveKernelWidth: 5)) {
            try Convolution2D(descriptor: d, input: Size2D(2, 4), weights: w, bias: b)
        }
    }

    func testOverflow() {
        expect(.sizeOverflow(what: "the dilated kernel height")) {
            try ConvolutionDescriptor(inputChannels: 1, outputChannels: 1, kernel: Size2D(Int.max / 2, 1), dilation: Size2D(4, 1))
        }
        expect(.sizeOverflow(what: "the weight element count [4611686018427387904, 1, 4, 1]")) {
            try ConvolutionDescriptor(inputChannels: 1, outputChannels: 1 << 62, kernel: Size2D(4, 1))
        }
        expect(.sizeOverflow(what: "the padded input size")) {
            try ConvolutionDescriptor(inputChannels: 1, outputChannels: 1, kernel: 1, padding: Padding(top: Int.max, left: 0, bottom: 0, right: 0))
                .outputSize(input: Size2D(2, 2))
        }
        XCTAssertThrowsError(try Tensor(zeros: [1 << 40, 1 << 40])) {
            XCTAssertEqual($0 as? TensorError, .elementCountOverflow(shape: [1 << 40, 1 << 40]))
        }
        // 4 TB: counted in Int, more than any test machine's memory — refused before the allocator traps.
        XCTAssertThrowsError(try Tensor(zeros: [1 << 20, 1 << 20])) { error in
            guard case .exceedsMemory([1 << 20, 1 << 20], 1 << 42, _)? = error as? TensorError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try Tensor(zeros: [2, -1])) { XCTAssertEqual($0 as? TensorError, .negativeDimension(shape: [2, -1])) }
        XCTAssertThrowsError(try Tensor(shape: [2, 2], values: [1, 2, 3])) {
            XCTAssertEqual($0 as? TensorError, .valueCountMismatch(shape: [2, 2], expected: 4, actual: 3))
        }
    }

    func testInvalidActivation() {
        for a in [Activation.clip(min: 2, max: 1), .clip(min: .nan, max: 1), .leakyReLU(alpha: .infinity)] {
            XCTAssertThrowsError(try ConvolutionDescriptor(inputChannels: 1, outputChannels: 1, kernel: 1, activation: a)) { error in
                guard case .invalidActivation? = error as? ConvolutionError else { return XCTFail("\(a): \(error)") }
            }
        }
        XCTAssertNoThrow(try ConvolutionDescriptor(inputChannels: 1, outputChannels: 1, kernel: 1, activation: .clip(min: -.infinity, max: 6)))
    }

    func testLayerShapeMismatches() throws {
        let d = try ConvolutionDescriptor(inputChannels: 4, outputChannels: 6, kernel: 3, groups: 2)
        let w = try Tensor(zeros: [6, 2, 3, 3]), b = try Tensor(zeros: [6])
        expect(.weightShapeMismatch(expected: [6, 2, 3, 3], actual: [6, 4, 3, 3])) {
            try Convolution2D(descriptor: d, input: Size2D(5, 5), weights: try Tensor(zeros: [6, 4, 3, 3]), bias: b)
        }
        expect(.biasShapeMismatch(expected: [6], actual: nil)) { try Convolution2D(descriptor: d, input: Size2D(5, 5), weights: w) }
        expect(.biasShapeMismatch(expected: [6], actual: [5])) {
            try Convolution2D(descriptor: d, input: Size2D(5, 5), weights: w, bias: try Tensor(zeros: [5]))
        }
        for algorithm in ConvolutionAlgorithm.allCases where algorithm.supports(d) {
            let conv = try Convolution2D(descriptor: d, input: Size2D(5, 5), weights: w, bias: b, algorithm: algorithm)
            expect(.inputShapeMismatch(expected: [-1, 4, 5, 5], actual: [1, 4, 5, 6])) { try conv(try Tensor(zeros: [1, 4, 5, 6])) }
            expect(.inputShapeMismatch(expected: [-1, 4, 5, 5], actual: [0, 4, 5, 5])) { try conv(try Tensor(zeros: [0, 4, 5, 5])) }
            expect(.inputShapeMismatch(expected: [-1, 4, 5, 5], actual: [4, 5, 5])) { try conv(try Tensor(zeros: [4, 5, 5])) }
            var wrong = try Tensor(zeros: [2, 6, 3, 3])
            expect(.outputShapeMismatch(expected: [1, 6, 3, 3], actual: [2, 6, 3, 3])) { try conv.run(try Tensor(zeros: [1, 4, 5, 5]), into: &wrong) }
        }
        let nobias = try ConvolutionDescriptor(inputChannels: 4, outputChannels: 6, kernel: 3, groups: 2, hasBias: false)
        expect(.biasShapeMismatch(expected: nil, actual: [6])) { try Convolution2D(descriptor: nobias, input: Size2D(5, 5), weights: w, bias: b) }
    }

    func testInvalidOptions() throws {
        let d = try ConvolutionDescriptor(inputChannels: 1, outputChannels: 1, kernel: 5, hasBias: false)
        let w = try Tensor(zeros: d.weightShape)
        expect(.invalidOption("threads must be in 1...1024, got 0")) {
            try Convolution2D(descriptor: d, input: Size2D(8, 8), weights: w, options: ConvolutionOptions(threads: 0))
        }
        XCTAssertThrowsError(try Convolution2D(descriptor: d, input: Size2D(8, 8), weights: w, algorithm: .fft,
                                               options: ConvolutionOptions(fftTile: Size2D(4, 8)))) { error in
            guard case .invalidOption? = error as? ConvolutionError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try FFTWisdom.importFile("/nonexistent/wisdom")) { error in
            guard case .invalidOption? = error as? ConvolutionError else { return XCTFail("\(error)") }
        }
    }

    func testErrorsDescribeThemselves() {
        XCTAssert(ConvolutionError.channelsNotDivisibleByGroups(parameter: "inputChannels", channels: 5, groups: 2)
            .description.contains("not divisible by groups"))
        XCTAssert(NPYError.fortranOrder.description.contains("fortran_order"))
    }
}
