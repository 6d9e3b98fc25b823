import FFTConv
import XCTest

/// Graph operations other than convolution and pooling, where they split work over threads.
final class GraphOperationTests: XCTestCase {
    func testConcatOverThreadsPlacesEveryValue() throws {
        var rng = SeededGenerator(seed: 12)
        // Large enough (≥ 128 K floats) to be split into 16 K-float runs over threads; rows of uneven length.
        let a = try Tensor.random(shape: [2, 3, 61, 137], using: &rng), b = try Tensor.random(shape: [2, 5, 61, 137], using: &rng)
        let plane = 61 * 137
        for axis in [1, -3] {
            for threads in [1, 2, 3] {
                let node = Graph.Node(name: "cat", operation: .concat(axis: axis), inputs: ["a", "b"], outputs: ["y"])
                let graph = Graph(inputs: [Graph.Value(name: "a", shape: a.shape), Graph.Value(name: "b", shape: b.shape)],
                                  outputs: ["y"], constants: [:], nodes: [node])
                let y = try Network(graph: graph, options: NetworkOptions(threads: threads)).predict(["a": a, "b": b])["y"]
                let out = try XCTUnwrap(y)
                XCTAssertEqual(out.shape, [2, 8, 61, 137])
                for n in 0..<2 {
                    for c in 0..<8 {
                        let src = c < 3 ? a.scalars[((n * 3 + c) * plane)..<((n * 3 + c + 1) * plane)]
                                        : b.scalars[((n * 5 + c - 3) * plane)..<((n * 5 + c - 2) * plane)]
                        XCTAssertEqual(Array(out.scalars[((n * 8 + c) * plane)..<((n * 8 + c + 1) * plane)]), Array(src),
                                       "axis \(axis) threads \(threads) n \(n) c \(c)")
                    }
                }
            }
        }
    }
}
