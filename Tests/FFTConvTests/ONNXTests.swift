import Dispatch
import FFTConv
import FFTConvKernels
import FFTConvONNX
import Foundation
import XCTest

/// Models exported from PyTorch (`Bench/scripts/make_onnx_fixtures.py`, committed), run through the loader and the
/// network runtime and compared with PyTorch's outputs.
final class ONNXTests: XCTestCase {
    /// Outputs left unzeroed are NaN-filled, so an element a kernel misses fails the comparison.
    override func setUp() { BufferCache.fillsUnzeroedTensorsWithNaN = true }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

    static func path(_ name: String) -> String { fixtures + "/" + name }

    func check(_ model: String, input: String? = nil, output: String? = nil, options: NetworkOptions = .init(),
               file: StaticString = #filePath, line: UInt = #line) throws -> Network {
        let x = try Tensor(contentsOfNPY: Self.path(input ?? "\(model).input.npy"))
        let expected = try Tensor(contentsOfNPY: Self.path(output ?? "\(model).output.npy"))
        let graph = try ONNXModel.graph(contentsOf: Self.path("\(model).onnx"))
        let network = try Network(graph: graph, inputShapes: [graph.inputs[0].name: x.shape], options: options)
        let y = try network(x)
        XCTAssertEqual(y.shape, expected.shape, model, file: file, line: line)
        let err = try XCTUnwrap(y.maxAbsoluteDifference(expected), file: file, line: line)
        XCTAssertLessThanOrEqual(err, 1e-4 * expected.maxAbsolute, "\(model) \(options.algorithm): max|y - torch| = \(err)", file: file, line: line)
        XCTAssertGreaterThan(expected.maxAbsolute, 0, file: file, line: line)
        return network
    }

    func testPyTorchExportsMatchPyTorch() throws {
        // (`_dynamo`: the same model through the torch.export-based exporter, PyTorch's default since 2.9 — opset 18 and
        // later, weights in a .data file next to the model.)
        let sameAs = ["tiny_alexnet_external": "tiny_alexnet", "mobilenet_v3_block_op14": "mobilenet_v3_block",
                      "convnext_block_op17": "convnext_block", "mobilenet_v3_block_dynamo": "mobilenet_v3_block",
                      "inverted_residual_dynamo": "inverted_residual", "efficientnet_block_dynamo": "efficientnet_block",
                      "image_to_image_op12": "image_to_image", "shuffle_unit_dynamo": "shuffle_unit"]
        for model in ["tiny_alexnet", "caffe_alexnet", "resnet_block", "inverted_residual", "unet", "mixed", "tiny_alexnet_external",
                      "mobilenet_v3_block", "mobilenet_v3_block_op14", "shuffle_unit", "efficientnet_block", "prelu_block",
                      "convnext_block", "convnext_block_op17", "segmentation_head", "mobilenet_v3_block_dynamo",
                      "inverted_residual_dynamo", "efficientnet_block_dynamo", "image_to_image", "image_to_image_op12",
                      "shuffle_unit_dynamo", "shape_slices"] {
            let expectedOutput = sameAs[model].map { "\($0).output.npy" }
            let input = sameAs[model].map { "\($0).input.npy" }
            for policy in [AlgorithmPolicy.auto, .fixed(.fft), .fixed(.gemm), .fixed(.winograd)] {
                _ = try check(model, input: input, output: expectedOutput, options: NetworkOptions(threads: 2, algorithm: policy))
            }
        }
    }

    func testSegmentationHeadRunsDilatedLayersOnPhasesAndLiveTaps() throws {
        // Bilinear Resize at half-pixel and aligned-corner coordinates, 1 and 2 threads, against PyTorch (`check`); the
        // dilation-24 branch on an 18×20 map as the 1x1 layer its live taps leave, under every policy; forced to
        // Winograd, the dilation-2 and dilation-3 layers on their phase grids.
        for threads in [1, 2] {
            let auto = try check("segmentation_head", options: NetworkOptions(threads: threads))
            XCTAssertEqual(auto.layers.filter { $0.operation == "Resize" }.count, 3)
            XCTAssert(auto.layers.contains { $0.algorithm.contains("1x1 live taps of 3x3") }, "\(auto.layers.map(\.algorithm))")
            let winograd = try check("segmentation_head", options: NetworkOptions(threads: threads, algorithm: .fixed(.winograd)))
            XCTAssertEqual(winograd.layers.filter { $0.algorithm.contains("dilation phases") }.count, 2, "\(winograd.layers.map(\.algorithm))")
        }
    }

    func testMeasuringPlannerMatchesPyTorchAndItsTuningFileReplaysIt() throws {
        for model in ["resnet_block", "unet"] {
            let tuning = TuningFile()
            let measured = try check(model, options: NetworkOptions(threads: 2, planner: .measure, tuning: tuning))
            let convolutions = measured.layers.filter { !$0.algorithm.isEmpty && $0.operation.hasPrefix("Conv") }
            XCTAssertFalse(convolutions.isEmpty)
            XCTAssert(convolutions.allSatisfy { !$0.candidates.isEmpty }, model)
            XCTAssertGreaterThan(tuning.count, 0)
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("fftconv-\(model)-\(UUID()).json").path
            defer { try? FileManager.default.removeItem(atPath: file) }
            try tuning.write(to: file)
            let replayed = try check(model, options: NetworkOptions(threads: 2, planner: .measure, tuning: try TuningFile(contentsOf: file)))
            XCTAssertEqual(replayed.layers.map(\.algorithm), measured.layers.map(\.algorithm), model)
        }
    }

    func testFullyConvolutionalModelRunsAtAnotherSize() throws {
        let network = try check("unet", input: "unet.input2.npy", output: "unet.output2.npy")
        XCTAssertEqual(network.inputs[0].shape, [1, 3, 48, 24])
    }

    func testFusionFoldsBatchNormResidualAndActivation() throws {
        let block = try check("resnet_block")
        let ops = block.layers.map(\.operation)
        XCTAssert(ops.contains("Conv+BatchNormalization+Add+Relu"), "\(ops)")
        XCTAssert(ops.contains("Conv+BatchNormalization+Relu"), "\(ops)")
        XCTAssertFalse(ops.contains("BatchNormalization"), "\(ops)")
        let mobile = try check("inverted_residual")
        XCTAssert(mobile.layers.contains { $0.operation == "Conv+BatchNormalization+clip(0.0,6.0)" || $0.operation.hasPrefix("Conv+BatchNormalization+relu6") }
                  || mobile.layers.contains { $0.operation.contains("Conv+BatchNormalization+Clip") }, "\(mobile.layers.map(\.operation))")
        // The expansion 1x1 and the depthwise layer run as one step where dw_blocked16 serves the latter (builds
        // with 16-float registers); apart, the depthwise layer is its own step. Both match PyTorch (`check`).
        XCTAssertEqual(mobile.layers.contains { $0.algorithm.hasPrefix("fused 1x1 + depthwise") }, KernelTarget.wideRegisters,
                       "\(mobile.layers.map(\.algorithm))")
        let apart = try check("inverted_residual", options: NetworkOptions(fusesPointwiseDepthwise: false))
        XCTAssert(apart.layers.contains { $0.algorithm.hasPrefix("depthwise") }, "\(apart.layers.map(\.algorithm))")
        XCTAssertGreaterThan(mobile.peakActivationBytes, 0)
    }

    /// MobileNetV3's hard swish, written as HardSigmoid + Mul below opset 14 and as HardSwish from 14: one activation
    /// in the convolutions' write-outs either way (the same steps), hard sigmoid in the squeeze-and-excitation's
    /// second 1x1; the channel scale is the one Mul left. Both match PyTorch (`check`).
    func testHardSwishRunsInTheConvolutionsInBothExportForms() throws {
        let forms = try ["mobilenet_v3_block", "mobilenet_v3_block_op14"].map {
            try check($0, input: "mobilenet_v3_block.input.npy", output: "mobilenet_v3_block.output.npy").layers.map(\.operation)
        }
        XCTAssertEqual(forms[0], forms[1])
        let ops = forms[0]
        XCTAssert(ops.contains("Conv+BatchNormalization+hardswish"), "\(ops)")  // the stem
        XCTAssert(ops.contains("Conv+BatchNormalization+Add+hardswish"), "\(ops)")  // the projection, its residual, hard swish
        XCTAssert(ops.contains { $0.hasPrefix("Conv+hardsigmoid(0.16666") }, "\(ops)")
        XCTAssertEqual(ops.filter { $0 == "Mul" }.count, 1, "\(ops)")
        XCTAssertFalse(ops.contains { $0.hasPrefix("hardsigmoid") || $0 == "HardSigmoid" }, "\(ops)")
        // The squeeze-and-excitation's two 1x1 layers on a 1×1 plane run as matrix-vector products; forced to an
        // algorithm, as convolutions (both match PyTorch).
        let network = try check("mobilenet_v3_block")
        XCTAssertEqual(network.layers.filter { $0.algorithm.contains("a 1x1 layer on a 1×1 plane") }.count, 2, "\(network.layers.map(\.algorithm))")
        let forced = try check("mobilenet_v3_block", options: NetworkOptions(algorithm: .fixed(.direct)))
        XCTAssertFalse(forced.layers.contains { $0.algorithm.contains("1×1 plane") }, "\(forced.layers.map(\.algorithm))")
    }

    /// EfficientNet's SiLU, exported as `Mul(x, Sigmoid(x))`: one activation in the convolutions' write-outs (the
    /// stride-2 5x5 depthwise layer's too), the squeeze-and-excitation's gate a sigmoid in its second 1x1, a sigmoid on
    /// the projection; the channel scale the one Mul left. Matches PyTorch (`check`).
    func testSiLURunsInTheConvolutions() throws {
        let ops = try check("efficientnet_block").layers.map(\.operation)
        XCTAssert(ops.contains("Conv+BatchNormalization+silu"), "\(ops)")
        XCTAssert(ops.contains("Conv+silu"), "\(ops)")  // the squeeze 1x1
        XCTAssert(ops.contains("Conv+sigmoid"), "\(ops)")  // the gate
        XCTAssert(ops.contains("Conv+BatchNormalization+sigmoid"), "\(ops)")  // the projection and the final sigmoid
        XCTAssertEqual(ops.filter { $0 == "Mul" }.count, 1, "\(ops)")
        XCTAssertFalse(ops.contains { $0 == "sigmoid" || $0 == "Sigmoid" }, "\(ops)")
    }

    /// PRelu with one slope runs as a leaky ReLU in the convolution before it; with a slope per channel, as its own
    /// step (batch 2). Matches PyTorch (`check`).
    func testPReluWithOneSlopeRunsInTheConvolution() throws {
        let ops = try check("prelu_block").layers.map(\.operation)
        XCTAssertEqual(ops, ["Conv+PRelu", "Conv", "PRelu"])
    }

    /// ConvNeXt's block as PyTorch exports it at opset 13: the exact GELU's five nodes one Gelu step, the LayerNorm's
    /// nine one LayerNormalization step, its linear layers (MatMul on channels-last rows, bias Add), the NCHW↔NHWC
    /// transposes; the tanh-approximated GELU after it runs as exported. At opset 17 the LayerNorm is the ONNX
    /// operator itself. Both match PyTorch (`check`, 1 and 2 threads).
    func testConvNeXtBlockMatchesPyTorch() throws {
        for threads in [1, 2] {
            for model in ["convnext_block", "convnext_block_op17"] {
                let ops = try check(model, input: "convnext_block.input.npy", output: "convnext_block.output.npy",
                                    options: NetworkOptions(threads: threads)).layers.map(\.operation)
                XCTAssertEqual(ops.filter { $0 == "Gelu" }.count, 1, "\(model): \(ops)")
                XCTAssertEqual(ops.filter { $0 == "LayerNormalization" }.count, 1, "\(model): \(ops)")
                XCTAssertFalse(ops.contains("Erf") || ops.contains("Sqrt") || ops.contains("ReduceMean"), "\(model): \(ops)")
                XCTAssertEqual(ops.filter { $0 == "MatMul" }.count, 2, "\(model): \(ops)")
            }
        }
    }

    func testUnsupportedOperatorsAreReportedTogether() {
        XCTAssertThrowsError(try ONNXModel.graph(contentsOf: Self.path("unsupported.onnx"))) { error in
            guard case .unsupported(let nodes)? = error as? ONNXError else { return XCTFail("\(error)") }
            XCTAssertEqual(Set(nodes.map(\.opType)), ["CumSum", "TopK"])
            XCTAssert(nodes.allSatisfy { $0.opset == 13 && !$0.name.isEmpty })
        }
    }

    func testModelInADataSliceLoadsTheSameWeights() throws {
        // Initializer payloads are read from the model's bytes by offset: a slice not starting at index 0 must
        // give the same network (and so the same output) as the file itself.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Self.path("resnet_block.onnx")))
        let padded = Data([0x55, 0xAA, 0x55]) + bytes
        let slice = padded[3...]
        XCTAssertEqual(slice.startIndex, 3)
        let x = try Tensor(contentsOfNPY: Self.path("resnet_block.input.npy"))
        let fromFile = try Network(graph: try ONNXModel.graph(contentsOf: Self.path("resnet_block.onnx")))(x)
        let fromSlice = try Network(graph: try ONNXModel.graph(data: slice))(x)
        XCTAssertEqual(fromSlice.scalars.map(\.bitPattern), fromFile.scalars.map(\.bitPattern))
        let expected = try Tensor(contentsOfNPY: Self.path("resnet_block.output.npy"))
        XCTAssertLessThanOrEqual(try XCTUnwrap(fromSlice.maxAbsoluteDifference(expected)), 1e-4 * max(1, expected.maxAbsolute))
    }

    func testMalformedFilesAreTypedErrors() throws {
        XCTAssertThrowsError(try ONNXModel.graph(data: Data([0xFF, 0xFF, 0xFF, 0x07, 0x01]))) { error in
            guard case .malformed? = error as? ONNXError else { return XCTFail("\(error)") }
        }
        let model = try Data(contentsOf: URL(fileURLWithPath: Self.path("tiny_alexnet.onnx")))
        XCTAssertThrowsError(try ONNXModel.graph(data: model.prefix(model.count / 2))) { error in
            XCTAssert(error is ONNXError, "\(error)")
        }
        XCTAssertThrowsError(try ONNXModel.graph(data: Data())) { error in
            guard case .malformed? = error as? ONNXError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try ONNXModel.graph(contentsOf: "/nonexistent/model.onnx")) { error in
            guard case .io? = error as? ONNXError else { return XCTFail("\(error)") }
        }
        // External data that is not next to the model (loaded from memory, no directory).
        let external = try Data(contentsOf: URL(fileURLWithPath: Self.path("tiny_alexnet_external.onnx")))
        XCTAssertThrowsError(try ONNXModel.graph(data: external)) { error in
            guard case .invalidTensor? = error as? ONNXError else { return XCTFail("\(error)") }
        }
    }

    func testWrongInputShapesAndAbsurdSizesAreRefused() throws {
        let graph = try ONNXModel.graph(contentsOf: Self.path("tiny_alexnet.onnx"))
        XCTAssertThrowsError(try Network(graph: graph, inputShapes: [graph.inputs[0].name: [1, 4, 127, 127]])) { error in
            guard case .inputMismatch? = error as? GraphError else { return XCTFail("\(error)") }
        }
        let unet = try ONNXModel.graph(contentsOf: Self.path("unet.onnx"))
        XCTAssertThrowsError(try Network(graph: unet, inputShapes: [unet.inputs[0].name: [1, 3, 200_000, 200_000]])) { error in
            guard case .tooLarge? = error as? GraphError else { return XCTFail("\(error)") }
        }
        let network = try Network(graph: graph)
        XCTAssertThrowsError(try network(try Tensor(zeros: [1, 3, 64, 64]))) { error in
            guard case .inputMismatch? = error as? GraphError else { return XCTFail("\(error)") }
        }
    }

    func testInvalidGraphsAreTypedErrors() throws {
        let w = try Tensor(zeros: [2, 1, 3, 3])
        let conv = GraphOperation.convolution(try ConvolutionDescriptor(inputChannels: 1, outputChannels: 2, kernel: 3, hasBias: false), autoPad: .explicit)
        let input = [Graph.Value(name: "x", shape: [1, 1, 8, 8])]
        func build(_ nodes: [Graph.Node], outputs: [String] = ["y"]) throws -> Network {
            try Network(graph: Graph(inputs: input, outputs: outputs, constants: ["w": w], nodes: nodes))
        }
        XCTAssertThrowsError(try build([Graph.Node(name: "c", operation: conv, inputs: ["x", "missing"], outputs: ["y"])])) {
            XCTAssertEqual($0 as? GraphError, .danglingInput(node: "c", value: "missing"))
        }
        XCTAssertThrowsError(try build([Graph.Node(name: "a", operation: .activation(.relu), inputs: ["b_out"], outputs: ["a_out"]),
                                        Graph.Node(name: "b", operation: .activation(.relu), inputs: ["a_out"], outputs: ["b_out"])],
                                       outputs: ["a_out"])) { error in
            guard case .cycle(let nodes)? = error as? GraphError else { return XCTFail("\(error)") }
            XCTAssertEqual(Set(nodes), ["a", "b"])
        }
        XCTAssertThrowsError(try build([Graph.Node(name: "c", operation: conv, inputs: ["x", "w"], outputs: ["y"]),
                                        Graph.Node(name: "d", operation: .identity, inputs: ["x"], outputs: ["y"])])) {
            XCTAssertEqual($0 as? GraphError, .duplicateValue("y"))
        }
        XCTAssertThrowsError(try build([Graph.Node(name: "r", operation: .activation(.relu), inputs: ["x"], outputs: ["r"]),
                                        Graph.Node(name: "c", operation: conv, inputs: ["x", "r"], outputs: ["y"])])) {
            XCTAssertEqual($0 as? GraphError, .notConstant(node: "c", value: "r"))
        }
        XCTAssertThrowsError(try build([Graph.Node(name: "c", operation: conv, inputs: ["x", "w"], outputs: ["z"])])) {
            XCTAssertEqual($0 as? GraphError, .unknownOutput("y"))
        }
        XCTAssertThrowsError(try build([Graph.Node(name: "add", operation: .add, inputs: ["x", "w"], outputs: ["y"])])) { error in
            guard case .invalidNode(let node, _, _)? = error as? GraphError else { return XCTFail("\(error)") }
            XCTAssertEqual(node, "add")
        }
    }

    /// What a fuzzer (mutated fixtures through `fftconv run`, thirty-third session) found trapping: each is a typed
    /// error now. A Reshape without its shape input, shape and index values that are not integers, a Conv +
    /// BatchNormalization whose statistics have another length than the channels, a stride far past the input.
    func testMutatedGraphsAreTypedErrors() throws {
        let x = [Graph.Value(name: "x", shape: [1, 2, 4, 4])]
        func build(_ nodes: [Graph.Node], _ constants: [String: Tensor]) throws -> Network {
            try Network(graph: Graph(inputs: x, outputs: ["y"], constants: constants, nodes: nodes))
        }
        func expectInvalidNode(_ name: String, _ body: () throws -> Network, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try body(), file: file, line: line) { error in
                guard case .invalidNode(let node, _, _)? = error as? GraphError else { return XCTFail("\(error)", file: file, line: line) }
                XCTAssertEqual(node, name, file: file, line: line)
            }
        }
        expectInvalidNode("r") { try build([Graph.Node(name: "r", operation: .reshape(allowZero: false), inputs: ["x"], outputs: ["y"])], [:]) }
        expectInvalidNode("r") {
            try build([Graph.Node(name: "r", operation: .reshape(allowZero: false), inputs: ["x", "s"], outputs: ["y"])],
                      ["s": try Tensor(shape: [2], values: [1, .nan])])
        }
        expectInvalidNode("c") { try build([Graph.Node(name: "c", operation: .constantOfShape(value: 0), inputs: [], outputs: ["y"])], [:]) }
        expectInvalidNode("c") {
            try build([Graph.Node(name: "c", operation: .constantOfShape(value: 0), inputs: ["s"], outputs: ["y"])],
                      ["s": try Tensor(shape: [2], values: [2, 1e30])])
        }
        // A Gather index is read at run time.
        let gather = try build([Graph.Node(name: "g", operation: .gather(axis: 1), inputs: ["x", "i"], outputs: ["y"])],
                               ["i": try Tensor(shape: [1], values: [.infinity])])
        XCTAssertThrowsError(try gather(try Tensor(zeros: [1, 2, 4, 4]))) { error in
            guard case .invalidNode("g", _, _)? = error as? GraphError else { return XCTFail("\(error)") }
        }
        // Statistics of 1 value for 3 channels: not folded into the convolution, refused by the BatchNormalization.
        let conv = try ConvolutionDescriptor(inputChannels: 2, outputChannels: 3, kernel: 1, hasBias: false)
        let one = try Tensor(shape: [1], values: [1])
        expectInvalidNode("bn") {
            try build([Graph.Node(name: "c", operation: .convolution(conv, autoPad: .explicit), inputs: ["x", "w"], outputs: ["t"]),
                       Graph.Node(name: "bn", operation: .batchNormalization(epsilon: 1e-5), inputs: ["t", "a", "b", "m", "v"], outputs: ["y"])],
                      ["w": try Tensor(zeros: [3, 2, 1, 1]), "a": one, "b": one, "m": one, "v": one])
        }
        // A stride far past the input: its output is 1×1, its padded input in whole strides 2³¹ columns.
        let far = try ConvolutionDescriptor(inputChannels: 2, outputChannels: 3, kernel: 3, stride: Size2D(2, 1 << 31), padding: 1,
                                            hasBias: false)
        XCTAssertThrowsError(try build([Graph.Node(name: "c", operation: .convolution(far, autoPad: .explicit), inputs: ["x", "w"],
                                                   outputs: ["y"])], ["w": try Tensor(zeros: [3, 2, 3, 3])])) { error in
            guard case .invalidNode("c", _, let why)? = error as? GraphError else { return XCTFail("\(error)") }
            XCTAssertTrue(why.contains("unsupported"), why)
        }
        XCTAssertThrowsError(try Convolution2D(descriptor: far, input: Size2D(4, 4), weights: try Tensor(zeros: [3, 2, 3, 3]))) { error in
            guard case .unsupported? = error as? ConvolutionError else { return XCTFail("\(error)") }
        }
    }

    func testOneNetworkFromSeveralThreads() throws {
        let graph = try ONNXModel.graph(contentsOf: Self.path("resnet_block.onnx"))
        let x = try Tensor(contentsOfNPY: Self.path("resnet_block.input.npy"))
        let network = try Network(graph: graph, options: NetworkOptions(threads: 2))
        let expected = try network(x)
        let results = UnsafeMutableBufferPointer<Tensor?>.allocate(capacity: 6)
        results.initialize(repeating: nil)
        defer { _ = results.deinitialize(); results.deallocate() }  // (deallocate alone leaked the tensors)
        DispatchQueue.concurrentPerform(iterations: 6) { i in results[i] = try? network(x) }
        for i in 0..<6 { XCTAssertEqual(results[i], expected) }
    }
}
