import FFTConv
import XCTest

/// The five convolutions of torchvision's AlexNet at their real sizes, every algorithm against the reference.
final class AlexNetLayerTests: XCTestCase {
    static func layers() throws -> [ConvolutionCase] {
        [
            ConvolutionCase(descriptor: try .init(inputChannels: 3, outputChannels: 64, kernel: 11, stride: 4, padding: 2),
                            batch: 1, input: Size2D(224, 224)),
            ConvolutionCase(descriptor: try .init(inputChannels: 64, outputChannels: 192, kernel: 5, padding: 2),
                            batch: 1, input: Size2D(27, 27)),
            ConvolutionCase(descriptor: try .init(inputChannels: 192, outputChannels: 384, kernel: 3, padding: 1),
                            batch: 1, input: Size2D(13, 13)),
            ConvolutionCase(descriptor: try .init(inputChannels: 384, outputChannels: 256, kernel: 3, padding: 1),
                            batch: 1, input: Size2D(13, 13)),
            ConvolutionCase(descriptor: try .init(inputChannels: 256, outputChannels: 256, kernel: 3, padding: 1),
                            batch: 1, input: Size2D(13, 13)),
        ]
    }

    func testAlexNetLayersMatchReference() throws {
        for (i, layer) in try Self.layers().enumerated() {
            for a in [ConvolutionAlgorithm.plain, .direct, .gemm, .fft] {
                try assertMatchesReference(layer, algorithm: a, seed: UInt64(100 + i))
            }
        }
    }
}
