/// SplitMix64: a small, fast, seedable generator, so benchmarks and tests draw the same numbers on every
/// machine and every run.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Tensor {
    /// A tensor of `shape` with values drawn uniformly from `range` by `generator`.
    public static func random(shape: [Int], in range: ClosedRange<Float> = -1...1,
                              using generator: inout SeededGenerator) throws -> Tensor {
        var t = try Tensor(zeros: shape)
        t.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] = Float.random(in: range, using: &generator) }
        }
        return t
    }
}
