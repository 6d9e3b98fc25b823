/// A register-blocked micro-kernel: an `mr × nr` tile of `C = A·B`, A packed `mr` floats per k.
///
/// The forms with an `accumulate` flag overwrite the tile when it is false; when it is true the accumulators start
/// from the tile's floats and the products are added onto them in k order, so a product over K computed in passes
/// (the first not accumulating) has the bits of one call over all of K, however K is cut
/// (`KernelFamilyTests.testPassesOverKGiveOneChainsBits`).
public struct GEMMMicroKernel: @unchecked Sendable, CustomStringConvertible {  // holds only global functions
    /// Packed-B form: `(kc, a, b, c, ldc, accumulate)`, B packed `nr` floats per k.
    public typealias Packed = (Int, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Bool) -> Void
    /// Indirect-B form: `(kc, a, base, offsets, c, ldc, accumulate)`, B row k at `base + offsets[k]`.
    public typealias Indirect = (Int, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Int>,
                                           UnsafeMutablePointer<Float>, Int, Bool) -> Void

    /// Fused indirect form: `(kc, a, base, offsets, c, ldc, bias, residual, lo, hi)`, writing
    /// `clip(acc + bias[r] + residual, lo, hi)` into `c` (bias 0 when nil, no residual term when nil; `residual`
    /// with row stride `ldc`) — the same bits as the indirect form followed by `Epilogue.finish` with a clip.
    public typealias IndirectFused = (Int, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Int>,
                                      UnsafeMutablePointer<Float>, Int, UnsafePointer<Float>?, UnsafePointer<Float>?,
                                      Float, Float) -> Void

    /// Split packed form: `(kc, a, b, c0, c1, ldc, bias, lo, hi)` for a 32-column tile with positions as rows and
    /// channels as columns, writing `clip(acc + bias[col], lo, hi)` with each row's columns 0–15 at `c0 + r·ldc` and
    /// 16–31 at `c1 + r·ldc` (pixel vectors into two 16-channel blocked planes) — the same bits as the packed form
    /// followed by `Epilogue.biasRows` with a clip.
    public typealias PackedSplit = (Int, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>,
                                    UnsafeMutablePointer<Float>, Int, UnsafePointer<Float>, Float, Float) -> Void

    /// Strided-A packed form: `(kc, a, lda, b, c, ldc, accumulate)`, A read in place — row `r`'s element `k` at
    /// `a + k·lda + r` (`mr` consecutive positions of an NCHW channel row, channels `lda` floats apart) — B packed
    /// `nr` floats per k: the same bits as the packed form on A packed from those floats.
    public typealias PackedStrided = (Int, UnsafePointer<Float>, Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Bool) -> Void

    /// Split form with strided A: `(kc, a, lda, b, c0, c1, ldc, bias, lo, hi)`, A read as the strided form reads it,
    /// the tile written as the split form writes it — the same bits as the split form on A packed from those floats.
    public typealias PackedSplitStrided = (Int, UnsafePointer<Float>, Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>,
                                           UnsafeMutablePointer<Float>, Int, UnsafePointer<Float>, Float, Float) -> Void

    /// Gathered-A packed form: `(kc, a, offsets, b, c, ldc, accumulate)`, A read in place — row `r`'s element `k` at
    /// `a + offsets[k] + r` (`mr` consecutive output positions of a zero-padded phase layout, tap `k`'s plane and shift
    /// at `offsets[k]`) — B packed `nr` floats per k: the same bits as the packed form on A packed from those floats.
    public typealias PackedGathered = (Int, UnsafePointer<Float>, UnsafePointer<Int>, UnsafePointer<Float>, UnsafeMutablePointer<Float>,
                                       Int, Bool) -> Void

    /// The name says the tile: `gemm_6x16` computes 6 rows × 16 columns.
    public let name: String
    /// Rows of the tile (rows of A per panel).
    public let mr: Int
    /// Columns of the tile, a multiple of 16.
    public let nr: Int
    /// The packed-B kernel.
    public let packed: Packed
    /// The indirect-B kernel (direct convolution's implicit im2col).
    public let indirect: Indirect
    /// The indirect-B kernel with bias, residual and a clip applied on the store.
    public let fused: IndirectFused
    /// Where this variant is the right choice.
    public let note: String
    /// The split packed kernel, on the variants that have one (the fused 1x1 + depthwise step's `gemm_7x32`).
    public private(set) var split: PackedSplit? = nil
    /// The strided-A kernel, on the variants that have one (the transposed 1x1 path's 7-row tiles, the transposed
    /// Winograd GEMM's 7- and 13-row tiles).
    public private(set) var strided: PackedStrided? = nil
    /// The gathered-A kernel, on the variants that have one (the transposed path's 7-row tiles on a phase layout read
    /// in place: padded or strided layers without an im2col).
    public private(set) var gathered: PackedGathered? = nil
    /// The split kernel with strided A, on the variants that have both forms.
    public private(set) var splitStrided: PackedSplitStrided? = nil

    public var description: String { name }
}

/// Every micro-kernel variant, in one list. A new variant is added here (and in the generator script) and is
/// then exercised by the GEMM family tester automatically.
public enum MicroKernelRegistry {
    public static let gemm: [GEMMMicroKernel] = [
        GEMMMicroKernel(name: "gemm_6x16", mr: 6, nr: 16, packed: MicroKernels.gemm_6x16, indirect: MicroKernels.igemm_6x16,
                        fused: MicroKernels.igemm_6x16_fused,
                        note: "AVX2 (12 of 16 ymm as accumulators) and NEON (24 of 32 q registers)"),
        GEMMMicroKernel(name: "gemm_4x16", mr: 4, nr: 16, packed: MicroKernels.gemm_4x16, indirect: MicroKernels.igemm_4x16,
                        fused: MicroKernels.igemm_4x16_fused,
                        note: "few output rows per group (grouped convolutions)"),
        GEMMMicroKernel(name: "gemm_1x16", mr: 1, nr: 16, packed: MicroKernels.gemm_1x16, indirect: MicroKernels.igemm_1x16,
                        fused: MicroKernels.igemm_1x16_fused,
                        note: "one output row per group; reference shape for the tester"),
        GEMMMicroKernel(name: "gemm_12x32", mr: 12, nr: 32, packed: MicroKernels.gemm_12x32, indirect: MicroKernels.igemm_12x32,
                        fused: MicroKernels.igemm_12x32_fused,
                        note: "AVX-512 (24 of 32 zmm as accumulators); spills on AVX2"),
        GEMMMicroKernel(name: "gemm_8x32", mr: 8, nr: 32, packed: MicroKernels.gemm_8x32, indirect: MicroKernels.igemm_8x32,
                        fused: MicroKernels.igemm_8x32_fused,
                        note: "AVX-512 with fewer rows (16 zmm accumulators)"),
        GEMMMicroKernel(name: "gemm_4x32", mr: 4, nr: 32, packed: MicroKernels.gemm_4x32, indirect: MicroKernels.igemm_4x32,
                        fused: MicroKernels.igemm_4x32_fused,
                        note: "AVX2 alternative: 4 rows × 32 columns = 16 ymm (no spare registers)"),
        GEMMMicroKernel(name: "gemm_12x16", mr: 12, nr: 16, packed: MicroKernels.gemm_12x16, indirect: MicroKernels.igemm_12x16,
                        fused: MicroKernels.igemm_12x16_fused,
                        note: "gemm_12x32's narrow twin: a last tile of at most 16 columns"),
        GEMMMicroKernel(name: "gemm_8x16", mr: 8, nr: 16, packed: MicroKernels.gemm_8x16, indirect: MicroKernels.igemm_8x16,
                        fused: MicroKernels.igemm_8x16_fused,
                        note: "gemm_8x32's narrow twin: a last tile of at most 16 columns"),
        GEMMMicroKernel(name: "gemm_7x32", mr: 7, nr: 32, packed: MicroKernels.gemm_7x32, indirect: MicroKernels.igemm_7x32,
                        fused: MicroKernels.igemm_7x32_fused,
                        note: "7 positions × 32 output channels: the transposed 1x1 path on 7², 14², 28² … planes (AVX-512)",
                        split: MicroKernels.gemm_7x32_split, strided: MicroKernels.gemm_7x32_strided,
                        gathered: MicroKernels.gemm_7x32_gathered, splitStrided: MicroKernels.gemm_7x32_split_strided),
        GEMMMicroKernel(name: "gemm_7x16", mr: 7, nr: 16, packed: MicroKernels.gemm_7x16, indirect: MicroKernels.igemm_7x16,
                        fused: MicroKernels.igemm_7x16_fused,
                        note: "gemm_7x32's narrow twin (on AVX2 its 14 accumulator ymm leave too few for B: it spills)",
                        strided: MicroKernels.gemm_7x16_strided, gathered: MicroKernels.gemm_7x16_gathered),
        GEMMMicroKernel(name: "gemm_13x32", mr: 13, nr: 32, packed: MicroKernels.gemm_13x32, indirect: MicroKernels.igemm_13x32,
                        fused: MicroKernels.igemm_13x32_fused,
                        note: "13 Winograd tiles × 32 output channels: the transposed Winograd GEMM on 25-tile chunks (AVX-512, 26 of 32 zmm)",
                        strided: MicroKernels.gemm_13x32_strided),
    ]

    /// The variant with `k`'s rows (so it reads the same packed A) and 16 columns, for a last tile of at most
    /// 16 columns (`nil` when `k` is 16 columns wide already or has no such twin).
    public static func narrowTwin(of k: GEMMMicroKernel) -> GEMMMicroKernel? {
        k.nr > 16 ? gemm.first { $0.mr == k.mr && $0.nr == 16 } : nil
    }

    /// The variant named `name`, if listed.
    public static func named(_ name: String) -> GEMMMicroKernel? { gemm.first { $0.name == name } }
}
