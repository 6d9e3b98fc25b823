/// How a `Network` chooses convolution algorithms.
public enum AlgorithmPolicy: Sendable, Hashable, CustomStringConvertible {
    /// The planner chooses per layer (`NetworkOptions.planner`: rules, or measured).
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

/// How a `Network` prepared for a batch of several images runs it.
public enum BatchSchedule: String, Sendable, Hashable, CaseIterable {
    /// Image by image where the graph computes each image on its own (`BatchSplit`): the steps up to the first
    /// fully-connected layer run on one image at a time — a batch-1 network's working set, which stays in the
    /// caches — with the images spread over the threads (one per worker, no data between the cores), then the rest
    /// of the network once on the whole batch (its weights read once for all images). Elsewhere, as `wholeBatch`.
    case imageByImage = "images"
    /// Every step on the whole batch, its threads splitting each step.
    case wholeBatch = "whole"
}

/// Settings for preparing a `Network`.
public struct NetworkOptions: Sendable {
    /// Worker threads per call (results are identical for any value).
    public var threads: Int
    /// Algorithm choice for convolutions.
    public var algorithm: AlgorithmPolicy
    /// FFTW planning effort for FFT layers. The default, `patient`, costs 0.1–0.6 s per distinct FFT layer
    /// shape when the network is prepared (nothing with FFTW wisdom from a tuning file) and runs AlexNet
    /// conv2 about 25% faster than `estimate` plans (`fftconv-bench layer … --algorithm fft --planning`).
    public var fftPlanning: FFTPlanningEffort
    /// Largest prepared-weight size per convolution, bytes (`nil`: no limit) — for boards whose memory the
    /// transformed weights would outgrow (Winograd F(6x6) holds 64 values per 3x3 kernel, 7.1× the raw weights):
    /// FFT layers choose smaller tiles (or spectra per call) above it, the rule-based planner steps a layer whose
    /// choice exceeds it down to a smaller Winograd tile or the direct kernel, and a measuring planner rejects the
    /// candidates that exceed it. A layer whose raw weights alone exceed it runs on the direct kernel.
    public var memoryBudget: Int?
    /// How `auto` chooses: rules (`estimate`) or timing the candidates at prepare (`measure`, `exhaustive`).
    public var planner: PlannerMode
    /// Where measured choices are looked up and recorded (`nil`: measured afresh, not kept).
    public var tuning: TuningFile?
    /// Largest tensor the graph may create; larger ones are refused before allocating.
    public var maxTensorBytes: Int
    /// Whether a 1x1 layer read only by a depthwise layer runs fused with it, without writing the intermediate
    /// tensor (under the `auto` policy, with any planner, where the depthwise layer gets `dw_blocked16` or its planes
    /// are too large to stay in L2 — then on `dw_blocked16` in bands of rows — or band by band where it is a 3x3
    /// stride-2 layer on `dw_s2direct16`; the same bits as the two layers on those kernels).
    /// Off: each layer is its own step (for comparisons).
    public var fusesPointwiseDepthwise: Bool
    /// Whether a convolution read only by a max pool runs fused with it, without writing the convolution's output
    /// (under the `auto` policy, with any planner): a stem convolution (few input channels) on the direct kernels'
    /// sums (`ConvolutionPoolFusion`), and a layer the planner put on an even Winograd tile followed by a 2×2 stride-2
    /// pool without padding, pooled in Winograd's output stage (VGG16's five pools); the same bits as the two layers
    /// apart. Off: each layer is its own step.
    public var fusesConvolutionPool: Bool
    /// Whether a 3x3 depthwise layer read only by a 1x1 layer runs fused with it, band by band
    /// (`DepthwisePointwiseFusion`: under the `auto` policy, on planes of 112 and more; results equal to the layers
    /// apart to rounding). Off: each layer is its own step.
    public var fusesDepthwisePointwise: Bool
    /// How a batch of several images runs (no effect at batch 1).
    public var batchSchedule: BatchSchedule

    /// Creates options; see each property.
    public init(threads: Int = 1, algorithm: AlgorithmPolicy = .auto, fftPlanning: FFTPlanningEffort = .patient,
                memoryBudget: Int? = nil, maxTensorBytes: Int = 4 << 30, planner: PlannerMode = .estimate,
                tuning: TuningFile? = nil, fusesPointwiseDepthwise: Bool = true, fusesConvolutionPool: Bool = true,
                fusesDepthwisePointwise: Bool = true, batchSchedule: BatchSchedule = .imageByImage) {
        self.batchSchedule = batchSchedule
        self.fusesPointwiseDepthwise = fusesPointwiseDepthwise
        self.fusesConvolutionPool = fusesConvolutionPool
        self.fusesDepthwisePointwise = fusesDepthwisePointwise
        self.planner = planner
        self.tuning = tuning
        self.threads = threads
        self.algorithm = algorithm
        self.fftPlanning = fftPlanning
        self.memoryBudget = memoryBudget
        self.maxTensorBytes = maxTensorBytes
    }

    /// The planner for this network's convolutions; `weightBytes`: the model's constants, which decide whether
    /// layers are timed with cold caches (over 32 MB: the rest of the network evicts each layer's weights).
    func convolutionPlanner(weightBytes: Int) -> ConvolutionPlanner {
        ConvolutionPlanner(mode: planner, options: ConvolutionOptions(threads: threads, fftPlanning: fftPlanning,
                                                                      fftMemoryBudget: memoryBudget),
                           memoryBudget: memoryBudget, tuning: tuning, coldCaches: weightBytes > 32 << 20)
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
    /// For a measured convolution: every candidate's time, fastest first (the chosen one need not be first
    /// when it came from a tuning file made on a noisier run). Empty otherwise.
    public var candidates: [CandidateTiming] = []
}

/// The time one step took in a profiled run.
public struct LayerTiming: Sendable {
    /// The step.
    public var layer: LayerSummary
    /// Its wall time in that run.
    public var milliseconds: Double
    /// A step's summary with its time.
    public init(layer: LayerSummary, milliseconds: Double) {
        self.layer = layer
        self.milliseconds = milliseconds
    }
}
