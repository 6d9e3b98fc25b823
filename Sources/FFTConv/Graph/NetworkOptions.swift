/// How a `Network` chooses convolution algorithms.
public enum AlgorithmPolicy: Sendable, Hashable, CustomStringConvertible {
    /// Rules: depthwise kernels for depthwise layers, FFT for stride-1 kernels of 5×5 and up with at least
    /// 16 channels per group on both sides, the SIMD direct kernel otherwise (1x1 included).
    case auto
    /// One algorithm for every convolution it applies to (others fall back to `auto`).
    case fixed(ConvolutionAlgorithm)

    public var description: String {
        switch self {
        case .auto: return "auto"
        case .fixed(let a): return a.rawValue
        }
    }
}

/// Settings for preparing a `Network`.
public struct NetworkOptions: Sendable {
    /// Worker threads per call (results are identical for any value).
    public var threads: Int
    /// Algorithm choice for convolutions.
    public var algorithm: AlgorithmPolicy
    /// FFT planning effort.
    public var fftPlanning: FFTPlanningEffort
    /// Largest kernel-spectra size per FFT layer, bytes (`nil`: no limit).
    public var fftMemoryBudget: Int?
    /// Largest tensor the graph may create; larger ones are refused before allocating.
    public var maxTensorBytes: Int

    public init(threads: Int = 1, algorithm: AlgorithmPolicy = .auto, fftPlanning: FFTPlanningEffort = .estimate,
                fftMemoryBudget: Int? = nil, maxTensorBytes: Int = 4 << 30) {
        self.threads = threads
        self.algorithm = algorithm
        self.fftPlanning = fftPlanning
        self.fftMemoryBudget = fftMemoryBudget
        self.maxTensorBytes = maxTensorBytes
    }

    /// The algorithm for one convolution.
    func algorithm(for d: ConvolutionDescriptor) -> ConvolutionAlgorithm {
        let rule: ConvolutionAlgorithm
        if d.isDepthwise {
            rule = .depthwise
        } else if (try? d.effectiveKernel()).map({ $0.height >= 5 && $0.width >= 5 }) == true, d.stride == Size2D(1, 1),
                  d.inputChannelsPerGroup >= 16, d.outputChannelsPerGroup >= 16 {
            rule = .fft
        } else {
            rule = .direct
        }
        guard case .fixed(let a) = algorithm else { return rule }
        if a == .depthwise && !d.isDepthwise { return rule }
        return a
    }
}

/// One prepared step of a network, for `inspect` and profiles.
public struct LayerSummary: Sendable {
    /// The node's name (fused nodes: the first one's).
    public var name: String
    /// What it computes, fusions included (e.g. "Conv+Add+Relu").
    public var operation: String
    /// Output shape for the prepared input shape.
    public var outputShape: [Int]
    /// Direct-convolution (or matrix-product) multiply-accumulates, 0 for other operations.
    public var multiplyAccumulates: Int
    /// The convolution algorithm and its prepare-time choices, or "".
    public var algorithm: String
    /// Bytes of prepared weights held by the step.
    public var weightBytes: Int
}

/// The time one step took in a profiled run.
public struct LayerTiming: Sendable {
    public var layer: LayerSummary
    public var milliseconds: Double
}
