import FFTConv

/// A node the loader cannot translate, with enough context to find it in the model.
public struct UnsupportedNode: Hashable, Sendable, CustomStringConvertible {
    /// The node's name (or `OpType_index` when the model leaves it empty).
    public var name: String
    /// Its operator type, e.g. `NonMaxSuppression`.
    public var opType: String
    /// The operator set the model imports for the node's domain.
    public var opset: Int
    /// Why: an unknown operator, or an attribute value the translation does not handle.
    public var reason: String

    public var description: String { "\(name) (\(opType), opset \(opset)): \(reason)" }
}

/// An ONNX model that cannot be loaded.
public enum ONNXError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The bytes are not an ONNX model (protobuf decoding failed, or no graph).
    case malformed(String)
    /// Every node that is not supported, reported together.
    case unsupported([UnsupportedNode])
    /// An initializer or constant cannot be read (type, size, missing data, external file).
    case invalidTensor(name: String, reason: String)
    /// The file cannot be read.
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .malformed(let why): return "malformed ONNX model: \(why)"
        case .unsupported(let nodes):
            return "unsupported ONNX content (\(nodes.count) node\(nodes.count == 1 ? "" : "s")):\n" + nodes.map { "  - \($0)" }.joined(separator: "\n")
        case .invalidTensor(let n, let why): return "invalid tensor '\(n)': \(why)"
        case .io(let p, let why): return "cannot read \(p): \(why)"
        }
    }
}
