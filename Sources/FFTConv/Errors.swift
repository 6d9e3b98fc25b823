// Typed errors, one type per concern. Each case names what is wrong with the caller's input; none is
// raised for an internal fault. "Invalid" cases mean the request cannot make sense; `unsupported` means
// it makes sense but this build cannot do it.

/// A tensor shape or a tensor's values do not fit together.
public enum TensorError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A dimension is negative.
    case negativeDimension(shape: [Int])
    /// The product of the dimensions (or its size in bytes) does not fit in `Int`.
    case elementCountOverflow(shape: [Int])
    /// The tensor's `bytes` are more than the machine's physical memory, `memoryBytes`.
    case exceedsMemory(shape: [Int], bytes: Int, memoryBytes: Int)
    /// An array of values was given whose length is not the shape's element count.
    case valueCountMismatch(shape: [Int], expected: Int, actual: Int)
    /// An operation needs a tensor of another rank.
    case rankMismatch(expected: Int, shape: [Int])

    public var description: String {
        switch self {
        case .negativeDimension(let s): return "invalid tensor shape \(s): dimensions must not be negative"
        case .elementCountOverflow(let s): return "invalid tensor shape \(s): element count overflows Int"
        case .exceedsMemory(let s, let b, let m):
            return "tensor of shape \(s) too large: \(b / 1_000_000) MB, more than this machine's \(m / 1_000_000) MB of memory"
        case .valueCountMismatch(let s, let e, let a):
            return "invalid tensor values: shape \(s) holds \(e) elements, \(a) were given"
        case .rankMismatch(let e, let s): return "invalid tensor: expected rank \(e), got shape \(s)"
        }
    }
}

/// A convolution request is invalid (`invalid…` cases) or not supported by the chosen algorithm.
public enum ConvolutionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A size, stride, dilation, channel or group count is zero or negative.
    case nonPositive(parameter: String, value: Int)
    /// A padding is negative.
    case negativePadding(parameter: String, value: Int)
    /// Input or output channels are not a multiple of the number of groups.
    case channelsNotDivisibleByGroups(parameter: String, channels: Int, groups: Int)
    /// The (dilated) kernel is larger than the padded input: there is no output position.
    case emptyOutput(inputHeight: Int, inputWidth: Int, effectiveKernelHeight: Int, effectiveKernelWidth: Int)
    /// A size computed from the request (element count, kernel extent, padded size) overflows `Int`.
    case sizeOverflow(what: String)
    /// The activation's parameters are not finite, or clip's lower bound exceeds its upper bound.
    case invalidActivation(String)
    /// The weight tensor does not have shape `[outputChannels, inputChannels / groups, kH, kW]`.
    case weightShapeMismatch(expected: [Int], actual: [Int])
    /// A bias was given where the descriptor says none, none where it says one, or of the wrong shape.
    case biasShapeMismatch(expected: [Int]?, actual: [Int]?)
    /// The input tensor does not have shape `[N, inputChannels, inputHeight, inputWidth]` with `N >= 1`.
    case inputShapeMismatch(expected: [Int], actual: [Int])
    /// The output tensor handed to `run(_:into:)` has the wrong shape.
    case outputShapeMismatch(expected: [Int], actual: [Int])
    /// The residual tensor does not have the output's shape.
    case residualShapeMismatch(expected: [Int], actual: [Int])
    /// A run option is out of range (for example zero threads or an FFT tile smaller than the kernel).
    case invalidOption(String)
    /// The algorithm cannot run this request in this build.
    case unsupported(algorithm: String, reason: String)

    public var description: String {
        switch self {
        case .nonPositive(let p, let v): return "invalid convolution: \(p) must be positive, got \(v)"
        case .negativePadding(let p, let v): return "invalid convolution: \(p) must not be negative, got \(v)"
        case .channelsNotDivisibleByGroups(let p, let c, let g):
            return "invalid convolution: \(p) (\(c)) is not divisible by groups (\(g))"
        case .emptyOutput(let h, let w, let kh, let kw):
            return "invalid convolution: the \(kh)x\(kw) (dilated) kernel does not fit the padded \(h)x\(w) input, the output would be empty"
        case .sizeOverflow(let what): return "invalid convolution: \(what) overflows Int"
        case .invalidActivation(let why): return "invalid activation: \(why)"
        case .weightShapeMismatch(let e, let a): return "invalid weights: expected shape \(e), got \(a)"
        case .biasShapeMismatch(let e, let a):
            return "invalid bias: expected \(e.map { "shape \($0)" } ?? "no bias"), got \(a.map { "shape \($0)" } ?? "no bias")"
        case .inputShapeMismatch(let e, let a):
            return "invalid input: expected shape \(e) (N >= 1 in place of -1), got \(a)"
        case .outputShapeMismatch(let e, let a): return "invalid output tensor: expected shape \(e), got \(a)"
        case .residualShapeMismatch(let e, let a): return "invalid residual: expected the output's shape \(e), got \(a)"
        case .invalidOption(let why): return "invalid option: \(why)"
        case .unsupported(let alg, let why): return "unsupported by \(alg): \(why)"
        }
    }
}

/// A `.npy` file cannot be read as a float32 C-order little-endian array, or cannot be written.
public enum NPYError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file does not start with `\x93NUMPY`.
    case notNPY
    /// A format version other than 1.0, 2.0 or 3.0.
    case unsupportedVersion(major: UInt8, minor: UInt8)
    /// The file ends inside the header (the header length field promises more bytes than there are).
    case truncatedHeader(expectedBytes: Int, actualBytes: Int)
    /// The header dictionary cannot be parsed or lacks a key.
    case malformedHeader(String)
    /// The array's dtype is not little-endian float32 (`<f4`).
    case unsupportedDType(String)
    /// The array is stored in Fortran (column-major) order.
    case fortranOrder
    /// The data section is shorter than the shape says.
    case truncatedData(expectedBytes: Int, actualBytes: Int)
    /// The data section is longer than the shape says.
    case trailingData(expectedBytes: Int, actualBytes: Int)
    /// The shape in the header is not a valid tensor shape.
    case invalidShape(TensorError)
    /// The file could not be read or written.
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .notNPY: return "not a .npy file (missing \\x93NUMPY magic)"
        case .unsupportedVersion(let a, let b): return "unsupported .npy format version \(a).\(b) (1.0, 2.0 and 3.0 are read)"
        case .truncatedHeader(let e, let a): return "truncated .npy header: needs \(e) bytes, file has \(a)"
        case .malformedHeader(let why): return "malformed .npy header: \(why)"
        case .unsupportedDType(let d): return "unsupported .npy dtype '\(d)': only little-endian float32 ('<f4') is read"
        case .fortranOrder: return "unsupported .npy layout: fortran_order is True, only C order is read"
        case .truncatedData(let e, let a): return "truncated .npy data: shape needs \(e) bytes, file has \(a)"
        case .trailingData(let e, let a): return "malformed .npy data: shape needs \(e) bytes, file has \(a)"
        case .invalidShape(let e): return "malformed .npy shape: \(e)"
        case .io(let p, let why): return "cannot access \(p): \(why)"
        }
    }
}
