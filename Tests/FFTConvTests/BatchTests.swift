import Dispatch
import FFTConv
import FFTConvONNX
import Foundation
import XCTest

/// A batch of several images run image by image (`BatchSchedule.imageByImage`) against the same images run alone and
/// against every step on the whole batch.
final class BatchTests: XCTestCase {
    override func setUp() { BufferCache.fillsUnzeroedTensorsWithNaN = true }

    /// `images` stacked along a new first dimension (each of shape [1, …]).
    func stack(_ images: [Tensor]) throws -> Tensor {
        let per = images[0].count
        var out = try Tensor(zeros: [images.count] + images[0].shape.dropFirst())
        out.withUnsafeMutableBufferPointer { dst in
            for (i, t) in images.enumerated() {
                t.withUnsafeBufferPointer { src in
                    for j in 0..<per { dst[i * per + j] = src[j] }
                }
            }
        }
        return out
    }

    /// Image `i` of `t` as a batch of one.
    func image(_ t: Tensor, _ i: Int) throws -> Tensor {
        let per = t.count / t.shape[0]
        return try t.withUnsafeBufferPointer { src in
            try Tensor(shape: [1] + t.shape.dropFirst(), values: Array(src[(i * per)..<((i + 1) * per)]))
        }
    }

    /// The fixture's graph with its batch dimension left open.
    func openBatch(_ model: String) throws -> Graph {
        var graph = try ONNXModel.graph(contentsOf: ONNXTests.path("\(model).onnx"))
        graph.inputs[0].shape[0] = -1
        return graph
    }

    func testImagesOfABatchGetTheBitsTheyGetAlone() throws {
        // Three images: two side by side on the two threads, the third alone on both. Models with a classifier
        // whose weights outweigh its maps (cut before it: tiny_alexnet, mobilenet_v3_block), fully convolutional ones and
        // ones with reshapes, transposes, slices and a small matrix product (convnext_block, mixed): every step per image.
        // Either way each image's output is the bits of the image alone (a batch's fully-connected rows are summed as
        // one row's are).
        let models: [(String, cut: Bool)] = [("tiny_alexnet", true), ("mobilenet_v3_block", true), ("resnet_block", false),
                                             ("inverted_residual", false), ("unet", false), ("efficientnet_block", false),
                                             ("convnext_block", false), ("mixed", false),
                                             ("segmentation_head", false)]
        for (model, cut) in models {
            let graph = try openBatch(model)
            let x = try Tensor(contentsOfNPY: ONNXTests.path("\(model).input.npy"))
            var rng = SeededGenerator(seed: 11)
            let images = [x, try Tensor.random(shape: x.shape, using: &rng), try Tensor.random(shape: x.shape, in: -2...0.5, using: &rng)]
            let batch = try stack(images)
            let name = graph.inputs[0].name
            let alone = try Network(graph: graph, inputShapes: [name: x.shape], options: NetworkOptions(threads: 2))
            XCTAssertNil(alone.perImageLayerCount, model)
            let split = try Network(graph: graph, inputShapes: [name: batch.shape], options: NetworkOptions(threads: 2))
            let whole = try Network(graph: graph, inputShapes: [name: batch.shape],
                                    options: NetworkOptions(threads: 2, batchSchedule: .wholeBatch))
            XCTAssertNil(whole.perImageLayerCount, model)
            let perImage = try XCTUnwrap(split.perImageLayerCount, model)
            if cut {
                XCTAssertLessThan(perImage, split.layers.count, model)
                XCTAssert(split.layers[perImage...].contains { $0.operation.hasPrefix("Gemm") || $0.operation.hasPrefix("MatMul") }, "\(model): \(split.layers.map(\.operation))")
            } else {
                XCTAssertEqual(perImage, split.layers.count, model)
            }
            XCTAssertEqual(split.layers.first?.outputShape.first, 3, model)
            let y = try split(batch), reference = try whole(batch)
            XCTAssertEqual(y.shape, reference.shape, model)
            for i in images.indices {
                XCTAssertEqual(try image(y, i), try alone(images[i]), "\(model) image \(i)")
            }
            let err = try XCTUnwrap(y.maxAbsoluteDifference(reference))
            XCTAssertLessThanOrEqual(err, 1e-5 * Swift.max(1, reference.maxAbsolute), model)
            // Image 0 is the fixture's: PyTorch's output.
            let expected = try Tensor(contentsOfNPY: ONNXTests.path("\(model).output.npy"))
            let e0 = try XCTUnwrap(try image(y, 0).maxAbsoluteDifference(expected))
            XCTAssertLessThanOrEqual(e0, 1e-4 * expected.maxAbsolute, model)
            // At one thread, at three (three images side by side) and at four (fewer images than threads: one after
            // another on all four); the profile times every step.
            for threads in [1, 3, 4] {
                let n = try Network(graph: graph, inputShapes: [name: batch.shape], options: NetworkOptions(threads: threads))
                XCTAssertEqual(try n(batch), y, "\(model) at \(threads) threads")
            }
            let profile = try split.profile([name: batch])
            XCTAssertEqual(profile.count, split.layers.count)
            XCTAssert(profile.allSatisfy { $0.milliseconds >= 0 })
            XCTAssertThrowsError(try split(x), model) { error in
                guard case .inputMismatch? = error as? GraphError else { return XCTFail("\(error)") }
            }
        }
        // Every tensor the workers cut from their own arenas went back to it.
        XCTAssertEqual(BufferCache.arenaUsedBytes, 0)
    }

    /// Several callers of one network prepared for a batch at once: the images of each call run side by side on the
    /// workers' lanes while other calls do the same, and every call gets the bits of a call alone — arenas, scratch
    /// buffers and lanes are shared between callers, never a buffer two of them write at once.
    func testConcurrentCallersOfABatchGetTheBitsOfOneCaller() throws {
        for model in ["inverted_residual", "tiny_alexnet", "mobilenet_v3_block"] {
            let graph = try openBatch(model)
            let x = try Tensor(contentsOfNPY: ONNXTests.path("\(model).input.npy"))
            var rng = SeededGenerator(seed: 12)
            let batches = try (0..<4).map { _ in try stack((0..<2).map { _ in try Tensor.random(shape: x.shape, using: &rng) }) }
            for threads in [2, 3] {
                let network = try Network(graph: graph, inputShapes: [graph.inputs[0].name: batches[0].shape],
                                          options: NetworkOptions(threads: threads))
                XCTAssertNotNil(network.perImageLayerCount, model)
                let expected = try batches.map { try network($0) }
                let results = UnsafeMutableBufferPointer<Tensor?>.allocate(capacity: 4 * 3)
                results.initialize(repeating: nil)
                defer { _ = results.deinitialize(); results.deallocate() }
                DispatchQueue.concurrentPerform(iterations: 4) { caller in
                    for round in 0..<3 { results[caller * 3 + round] = try? network(batches[caller]) }
                }
                for caller in 0..<4 {
                    for round in 0..<3 {
                        XCTAssertEqual(results[caller * 3 + round], expected[caller], "\(model), \(threads) threads, caller \(caller) round \(round)")
                    }
                }
            }
        }
        XCTAssertEqual(BufferCache.arenaUsedBytes, 0)
    }

    func testGraphsBuiltForTheirBatchRunImageByImage() throws {
        // The model zoo builds a graph for the batch it is asked for (its input declared [2, 3, 96, 96], not open):
        // run image by image all the same, with each image's bits those of the zoo's graph for one image.
        for name in ["squeezenet", "resnet18"] {
            let graph = try ModelZoo.build(name, inputShape: [2, 3, 96, 96])
            let network = try Network(graph: graph, options: NetworkOptions(threads: 2))
            XCTAssertNotNil(network.perImageLayerCount, name)
            let alone = try Network(graph: try ModelZoo.build(name, inputShape: [1, 3, 96, 96]), options: NetworkOptions(threads: 2))
            var rng = SeededGenerator(seed: 9)
            let images = [try Tensor.random(shape: [1, 3, 96, 96], using: &rng), try Tensor.random(shape: [1, 3, 96, 96], using: &rng)]
            let y = try network(try stack(images))
            for i in images.indices { XCTAssertEqual(try image(y, i), try alone(images[i]), "\(name) image \(i)") }
        }
    }

    func testStepsThatMixImagesRunOnTheWholeBatch() throws {
        // conv → softmax over the batch axis: per image it would be all ones; on the batch, each column sums to 1.
        // The convolution may run image by image, the step after it not.
        let d = try ConvolutionDescriptor(inputChannels: 2, outputChannels: 3, kernel: 3, padding: 1, hasBias: false)
        var rng = SeededGenerator(seed: 5)
        let w = try Tensor.random(shape: d.weightShape, using: &rng)
        for (op, mixes) in [(GraphOperation.softmax(axis: 0, legacy: false), true), (.softmax(axis: 1, legacy: false), false),
                            (.transpose(permutation: [1, 0, 2, 3]), true), (.transpose(permutation: [0, 2, 3, 1]), false)] {
            let graph = Graph(inputs: [Graph.Value(name: "x", shape: [-1, 2, 5, 5])], outputs: ["y"], constants: ["w": w],
                              nodes: [Graph.Node(name: "conv", operation: .convolution(d, autoPad: .explicit), inputs: ["x", "w"], outputs: ["c"]),
                                      Graph.Node(name: "mix", operation: op, inputs: ["c"], outputs: ["y"])])
            let x = try Tensor.random(shape: [4, 2, 5, 5], using: &rng)
            let split = try Network(graph: graph, inputShapes: ["x": x.shape], options: NetworkOptions(threads: 2))
            let whole = try Network(graph: graph, inputShapes: ["x": x.shape], options: NetworkOptions(threads: 2, batchSchedule: .wholeBatch))
            XCTAssertEqual(whole.layers.count, 2)
            XCTAssertEqual((split.perImageLayerCount ?? 0) < 2, mixes, "\(op)")
            XCTAssertEqual(try split(x), try whole(x), "\(op)")
        }
    }
}
