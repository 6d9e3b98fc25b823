/// One way to run a convolution: an algorithm and the variant settings that matter for its speed.
///
/// A value type that is `Hashable` and `Codable`, so it can be compared, cached and written to a tuning file.
public struct ConvolutionCandidate: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The algorithm.
    public var algorithm: ConvolutionAlgorithm
    /// Outputs per tile side for `winograd` (2, 4 or 6).
    public var winogradTile: Int?
    /// Transform size for `fft` (`nil`: the cost model's choice).
    public var fftTile: Size2D?
    /// Micro-kernel variant for `direct`/`gemm` (`nil`: the default for the layer).
    public var microKernel: String?

    /// Creates a candidate; see each property.
    public init(_ algorithm: ConvolutionAlgorithm, winogradTile: Int? = nil, fftTile: Size2D? = nil, microKernel: String? = nil) {
        self.algorithm = algorithm
        self.winogradTile = winogradTile
        self.fftTile = fftTile
        self.microKernel = microKernel
    }

    /// E.g. `winograd F4`, `fft 16x16`, `direct gemm_8x32`.
    public var description: String {
        var s = algorithm.rawValue
        if let t = winogradTile { s += " F\(t)" }
        if let t = fftTile { s += " \(t.height)x\(t.width)" }
        if let k = microKernel { s += " \(k)" }
        return s
    }

    /// `base` with this candidate's settings.
    public func options(_ base: ConvolutionOptions) -> ConvolutionOptions {
        var o = base
        o.winogradTile = winogradTile
        o.fftTile = fftTile
        o.microKernel = microKernel
        return o
    }

    enum CodingKeys: String, CodingKey { case algorithm, winograd_tile, fft_tile, micro_kernel }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decode(String.self, forKey: .algorithm)
        guard let a = ConvolutionAlgorithm(rawValue: name) else {
            throw DecodingError.dataCorruptedError(forKey: .algorithm, in: c, debugDescription: "unknown algorithm '\(name)'")
        }
        algorithm = a
        winogradTile = try c.decodeIfPresent(Int.self, forKey: .winograd_tile)
        if let t = try c.decodeIfPresent([Int].self, forKey: .fft_tile) {
            guard t.count == 2, t[0] > 0, t[1] > 0 else {
                throw DecodingError.dataCorruptedError(forKey: .fft_tile, in: c, debugDescription: "fft_tile must be [height, width]")
            }
            fftTile = Size2D(t[0], t[1])
        }
        microKernel = try c.decodeIfPresent(String.self, forKey: .micro_kernel)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(algorithm.rawValue, forKey: .algorithm)
        try c.encodeIfPresent(winogradTile, forKey: .winograd_tile)
        try c.encodeIfPresent(fftTile.map { [$0.height, $0.width] }, forKey: .fft_tile)
        try c.encodeIfPresent(microKernel, forKey: .micro_kernel)
    }
}

/// Why the planner set a candidate aside (`CandidateTiming.rejection`).
public enum CandidateRejection: String, Sendable, Hashable, Codable, CaseIterable {
    /// Its prepared weights are over the planner's memory budget (`NetworkOptions.memoryBudget`).
    case overMemoryBudget = "over_memory_budget"
    /// Its result on the layer differs from the direct kernel's by more than the planner's tolerance.
    case inaccurate
    /// It cannot be prepared for the layer (an unsupported shape, or preparing it failed).
    case unavailable
}

/// What measuring one candidate found.
public struct CandidateTiming: Sendable, Hashable, Codable {
    /// The candidate.
    public var candidate: ConvolutionCandidate
    /// Median time of one call, milliseconds (`nil` when it was not timed).
    public var milliseconds: Double?
    /// Bytes of prepared weights it holds.
    public var preparedBytes: Int
    /// Why it was not eligible, in words (over the memory budget, not accurate enough, cannot run the layer), or `nil`.
    public var rejected: String?
    /// Why it was not eligible, as a case to test (`nil` when it was eligible, or when a tuning file written before
    /// the reasons were recorded gave only the words).
    public var rejection: CandidateRejection?
    /// True when `milliseconds` is the median of the final rounds, in which the candidates close to the fastest
    /// were timed again in alternation; the choice is made among those.
    public var retimed: Bool

    enum CodingKeys: String, CodingKey { case candidate, milliseconds, prepared_bytes, rejected, rejection, retimed }

    /// Creates a record; see each property.
    public init(candidate: ConvolutionCandidate, milliseconds: Double?, preparedBytes: Int, rejected: String?,
                rejection: CandidateRejection? = nil, retimed: Bool = false) {
        self.candidate = candidate
        self.milliseconds = milliseconds
        self.preparedBytes = preparedBytes
        self.rejected = rejected
        self.rejection = rejection
        self.retimed = retimed
    }

    /// A candidate set aside because its prepared weights are over the memory budget (the words and the case).
    static func overBudget(_ candidate: ConvolutionCandidate, milliseconds: Double?, preparedBytes: Int, budget: Int) -> CandidateTiming {
        CandidateTiming(candidate: candidate, milliseconds: milliseconds, preparedBytes: preparedBytes,
                        rejected: "prepared weights \(preparedBytes) B over the budget \(budget) B", rejection: .overMemoryBudget)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        candidate = try c.decode(ConvolutionCandidate.self, forKey: .candidate)
        milliseconds = try c.decodeIfPresent(Double.self, forKey: .milliseconds)
        preparedBytes = try c.decodeIfPresent(Int.self, forKey: .prepared_bytes) ?? 0
        rejected = try c.decodeIfPresent(String.self, forKey: .rejected)
        rejection = try c.decodeIfPresent(CandidateRejection.self, forKey: .rejection)
        retimed = try c.decodeIfPresent(Bool.self, forKey: .retimed) ?? false
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(candidate, forKey: .candidate)
        try c.encodeIfPresent(milliseconds, forKey: .milliseconds)
        try c.encode(preparedBytes, forKey: .prepared_bytes)
        try c.encodeIfPresent(rejected, forKey: .rejected)
        try c.encodeIfPresent(rejection, forKey: .rejection)
        if retimed { try c.encode(true, forKey: .retimed) }
    }
}
