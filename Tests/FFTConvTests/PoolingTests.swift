import FFTConv
import XCTest

/// Max and average pooling through a one-node graph against naive loops, on rows long enough for the
/// vectorised column pass (stride 1 and 2) and with every padding/ceil edge.
final class PoolingTests: XCTestCase {
    /// Outputs left unzeroed are NaN-filled, so an element a kernel misses fails the comparison.
    override func setUp() { BufferCache.fillsUnzeroedTensorsWithNaN = true }

    static func naive(_ x: Tensor, _ a: PoolingAttributes, max isMax: Bool, outputShape s: [Int]) -> [Float] {
        let (h, w) = (x.shape[2], x.shape[3])
        let xs = x.scalars
        var y = [Float](repeating: 0, count: s.reduce(1, *))
        for plane in 0..<(s[0] * s[1]) {
            for i in 0..<s[2] {
                for j in 0..<s[3] {
                    var m = -Float.infinity, sum: Float = 0, n = 0, window = 0
                    for ki in 0..<a.kernel.height {
                        for kj in 0..<a.kernel.width {
                            let yy = i * a.stride.height - a.padding.top + ki * a.dilation.height
                            let xx = j * a.stride.width - a.padding.left + kj * a.dilation.width
                            if yy < h + a.padding.bottom && xx < w + a.padding.right { window += 1 }
                            guard yy >= 0, yy < h, xx >= 0, xx < w else { continue }
                            let v = xs[(plane * h + yy) * w + xx]
                            m = Swift.max(m, v); sum += v; n += 1
                        }
                    }
                    y[(plane * s[2] + i) * s[3] + j] = isMax ? m : (n == 0 ? 0 : sum / Float(a.countIncludePad ? window : n))
                }
            }
        }
        return y
    }

    func testPoolingMatchesNaiveLoops() throws {
        var rng = SeededGenerator(seed: 77)
        // Rows of 61 (3x3 stride-2 rows of 30 outputs: 16-wide steps, the last overlapping), 20 (8-wide steps)
        // and 7 (shorter than a vector); rows of 64 and 34 for the 3x3 stride-2 register path with one column of
        // padding (32 and 17 outputs: whole steps whose lanes run into the next output row, and a partial last);
        // rows of 65 and 33 without padding (32 and 16 outputs: the last output's third column is the next step's
        // first, read past the last whole step).
        for shape in [[1, 3, 13, 61], [1, 2, 9, 20], [2, 2, 7, 7], [1, 2, 10, 64], [2, 3, 6, 34], [1, 2, 7, 65], [2, 2, 5, 33]] {
            try checkPooling(try Tensor.random(shape: shape, using: &rng))
        }
    }

    /// Images large enough that threads split the planes in most cases (those of 100 K window operations or more;
    /// the cases above all run on one thread whatever the setting): every case on 2 and 3 threads gives the 1-thread
    /// bits, and matches the loops.
    func testPoolingSplitsPlanesBetweenThreads() throws {
        var rng = SeededGenerator(seed: 78)
        for shape in [[1, 16, 57, 61], [2, 9, 41, 64]] {
            let x = try Tensor.random(shape: shape, using: &rng)
            try checkPooling(x, threads: [1, 2, 3])
        }
    }

    /// In ceil mode a window wider than the (padded) input still gives one output, as in PyTorch and ONNX Runtime
    /// (`diff_fuzz.py` found it refused: a 2x2 stride-2 ceil-mode max pool on a 1x1 map); without ceil mode, and where
    /// even ceil mode gives no output, the graph is a typed error.
    func testCeilModeWindowWiderThanTheInput() throws {
        var rng = SeededGenerator(seed: 79)
        // (input rows × columns, kernel, stride, PyTorch's output rows × columns)
        let cases: [(Size2D, Int, Int, Size2D)] = [(Size2D(1, 1), 2, 2, Size2D(1, 1)), (Size2D(2, 2), 3, 2, Size2D(1, 1)),
                                                   (Size2D(1, 2), 3, 3, Size2D(1, 1)), (Size2D(2, 5), 3, 3, Size2D(1, 2))]
        for (size, k, s, expected) in cases {
            let x = try Tensor.random(shape: [1, 3, size.height, size.width], using: &rng)
            for isMax in [true, false] {
                for includePad in [false, true] {
                    let a = PoolingAttributes(kernel: Size2D(k, k), stride: Size2D(s, s), ceilMode: true, countIncludePad: includePad)
                    let y = try Network(graph: poolGraph(a, max: isMax, input: x.shape))(x)
                    XCTAssertEqual(y.shape, [1, 3, expected.height, expected.width], "\(size) k \(k) s \(s)")
                    let want = Self.naive(x, a, max: isMax, outputShape: y.shape)
                    XCTAssertLessThanOrEqual(zip(y.scalars, want).map { abs($0 - $1) }.max() ?? .infinity, 1e-6, "\(size) k \(k) s \(s) max \(isMax)")
                }
            }
            let floor = PoolingAttributes(kernel: Size2D(k, k), stride: Size2D(s, s))
            if k > size.height {
                XCTAssertThrowsError(try Network(graph: poolGraph(floor, max: true, input: x.shape)), "\(size) k \(k) without ceil mode") {
                    XCTAssertTrue($0 is GraphError, "\($0)")
                }
            }
        }
        // A 3x3 stride-2 window on one row: no window starts inside it even in ceil mode (PyTorch refuses it too).
        let a = PoolingAttributes(kernel: Size2D(3, 3), stride: Size2D(2, 2), ceilMode: true)
        XCTAssertThrowsError(try Network(graph: poolGraph(a, max: true, input: [1, 2, 1, 1]))) { XCTAssertTrue($0 is GraphError, "\($0)") }
    }

    func poolGraph(_ a: PoolingAttributes, max isMax: Bool, input shape: [Int]) -> Graph {
        let node = Graph.Node(name: "pool", operation: isMax ? .maxPool(a) : .averagePool(a), inputs: ["x"], outputs: ["y"])
        return Graph(inputs: [Graph.Value(name: "x", shape: shape)], outputs: ["y"], constants: [:], nodes: [node])
    }

    /// GlobalAveragePool against a double-precision mean, on planes shorter than a vector, of whole vectors (one,
    /// two, three pairs' worth) and with a scalar tail after them: a lane or float counted twice or not at all fails.
    func testGlobalAveragePoolMatchesDoubleMean() throws {
        var rng = SeededGenerator(seed: 79)
        for (h, w) in [(1, 1), (1, 7), (3, 5), (4, 4), (1, 17), (5, 6), (4, 8), (3, 11), (7, 7), (13, 13), (9, 9)] {
            let x = try Tensor.random(shape: [2, 3, h, w], using: &rng)
            let node = Graph.Node(name: "gap", operation: .globalAveragePool, inputs: ["x"], outputs: ["y"])
            let graph = Graph(inputs: [Graph.Value(name: "x", shape: x.shape)], outputs: ["y"], constants: [:], nodes: [node])
            let y = try Network(graph: graph)(x)
            XCTAssertEqual(y.shape, [2, 3, 1, 1])
            let xs = x.scalars, size = h * w
            for p in 0..<6 {
                let mean = xs[(p * size)..<((p + 1) * size)].reduce(0.0) { $0 + Double($1) } / Double(size)
                XCTAssertEqual(Double(y.scalars[p]), mean, accuracy: 1e-6, "plane \(p) of \(h)x\(w)")
            }
        }
    }

    func checkPooling(_ x: Tensor, threads counts: [Int] = [1, 2]) throws {
        let cases: [PoolingAttributes] = [
            PoolingAttributes(kernel: 3, stride: 2),                                  // AlexNet / SqueezeNet
            PoolingAttributes(kernel: 3, stride: 2, padding: 1),                      // ResNet stem
            PoolingAttributes(kernel: 3, stride: 2, ceilMode: true),                  // Caffe ceil_mode
            PoolingAttributes(kernel: 2, stride: 2),                                  // VGG / U-Net
            PoolingAttributes(kernel: 2, stride: 2, ceilMode: true),                  // GoogLeNet's fourth pool
            PoolingAttributes(kernel: 1, stride: 1),                                  // AlexNet's avgpool on 6×6: the input
            PoolingAttributes(kernel: Size2D(5, 3), stride: 2),                       // windows taller than three rows
            PoolingAttributes(kernel: Size2D(4, 2), stride: 2, padding: Padding(top: 1, left: 0, bottom: 1, right: 0)),
            PoolingAttributes(kernel: 3, stride: 1, padding: 1),                      // GoogLeNet branch
            PoolingAttributes(kernel: 3, stride: 1, padding: 1, countIncludePad: true),  // Inception-v3's average pools
            PoolingAttributes(kernel: Size2D(2, 5), stride: Size2D(1, 2), padding: Padding(top: 1, left: 2, bottom: 0, right: 1)),
            PoolingAttributes(kernel: 3, stride: 3, dilation: 2),
            PoolingAttributes(kernel: 3, stride: Size2D(1, 2), dilation: Size2D(2, 1)),       // dilated rows, vector columns
        ]
        for (k, a) in cases.enumerated() {
            for isMax in [true, false] {
                let node = Graph.Node(name: "pool", operation: isMax ? .maxPool(a) : .averagePool(a), inputs: ["x"], outputs: ["y"])
                let graph = Graph(inputs: [Graph.Value(name: "x", shape: x.shape)], outputs: ["y"], constants: [:], nodes: [node])
                var first: Tensor?
                for threads in counts {
                    let y = try Network(graph: graph, options: NetworkOptions(threads: threads))(x)
                    if let first { XCTAssertEqual(y, first, "case \(k) max \(isMax) threads \(threads): other bits than 1 thread") }
                    first = first ?? y
                    XCTAssertFalse(y.scalars.contains(where: \.isNaN), "case \(k) max \(isMax) threads \(threads): an output not written")
                    let expected = Self.naive(x, a, max: isMax, outputShape: y.shape)
                    let err = zip(y.scalars, expected).map { abs($0 - $1) }.max() ?? .infinity
                    XCTAssertLessThanOrEqual(err, 1e-6, "case \(k) max \(isMax) threads \(threads) input \(x.shape)")
                }
            }
        }
    }
}
