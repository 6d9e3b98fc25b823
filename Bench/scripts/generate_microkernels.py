#!/usr/bin/env python3
"""Generates Sources/FFTConvKernels/GEMM/MicroKernels.generated.swift.

Each micro-kernel computes an MR x NR tile of C = A * B over k = 0..<kc, with its accumulators in registers:
  - A is packed: for each k, MR consecutive floats (one column of the MR-row panel);
  - B is either packed (`gemm_MRxNR`: for each k, NR consecutive floats) or indirect (`igemm_MRxNR`: row k
    starts at base + offsets[k], NR consecutive floats, unaligned) -- the implicit im2col of direct convolution.
NR is a multiple of 16 and each 16 columns are one SIMD16<Float> (one zmm on AVX-512, two ymm on AVX2, four
q registers on NEON). The tile is written to c (row stride ldc): overwritten when `accumulate` is false;
otherwise the accumulators start from c's floats, so that passes over consecutive ranges of k give the bits
of one chain over all of them (whatever the blocking by k, the same result). Epilogues are applied by the caller while the tile is hot -- except in the fused indirect
form (`igemm_MRxNR_fused`), which writes `clip(acc + bias[r] (+ residual), lo, hi)` straight into the output
(identity, ReLU and ReLU6 are clips), in the same order of operations as `Epilogue.finish`, so either path gives
the same bits. The split packed form (`gemm_MRxNR_split`, only for the SPLIT_VARIANTS) has positions as its
rows and channels as its columns: it writes `clip(acc + bias[col], lo, hi)`, each row's first 16 columns to
`c0 + r * ldc` and the next 16 to `c1 + r * ldc` -- pixel vectors into two 16-channel blocked planes -- in the
same order of operations as `Epilogue.biasRows` with a clip. The strided form (`gemm_MRxNR_strided`, only for the
STRIDED_VARIANTS) reads A in place instead of packed: row r's element k at `a + k * lda + r` (MR consecutive
positions of an NCHW channel row, channels lda floats apart), B packed -- the 1x1 transposed path's input tiles
and the transposed Winograd GEMM's V without a packing pass. There B is the layer's weights, streamed from memory:
each k asks for B's two lines 256 k ahead (STRIDED_B_AHEAD bytes, one 256-deep block of 32 columns: Winograd's
depth block, two of the transposed path's 128-row passes) into L2, so each pass brings in what comes after it. Variants in both lists also get the
split form with strided A (`gemm_MRxNR_split_strided`). The gathered form (`gemm_MRxNR_gathered`, the
GATHERED_VARIANTS) reads A in place through a table of row offsets: row r's element k at `a + offsets[k] + r` (MR
consecutive output positions of a zero-padded phase layout, tap k's plane and shift at offsets[k]) -- the transposed
path's tiles of a padded or strided convolution without an im2col; B packed, no prefetches.

Run: python3 Bench/scripts/generate_microkernels.py   (no arguments; rewrites the file)
"""
import pathlib

VARIANTS = [(1, 16), (4, 16), (6, 16), (8, 32), (12, 32), (4, 32), (8, 16), (12, 16), (7, 32), (7, 16), (13, 32)]
# Floats of packed A ahead of the current k that each step asks the cache to fetch: A is the layer's weights,
# usually cold when a network runs (evicted by the other layers), and read once in this stream.
PREFETCH = 1536
# Floats of packed A ahead that each step also asks for into L2 (32 KB): weights streamed from memory at batch 1
# (ResNet-18's layer3 F(4x4) GEMMs on 14², 9.4 MB a layer, 0.85 -> 0.76 ms in the network; 16 and 64 KB alike).
PACKED_A_AHEAD = 8192
# Variants that also get the split packed form (the fused 1x1 + depthwise step's tile).
SPLIT_VARIANTS = [(7, 32)]
# Variants that also get the strided-A form (the transposed 1x1 path's tile, input read in place; the transposed
# Winograd GEMM's 13- and 7-tile rows).
STRIDED_VARIANTS = [(7, 32), (7, 16), (13, 32)]
# Variants that also get the gathered-A form (the transposed path on a phase layout read in place).
GATHERED_VARIANTS = [(7, 32), (7, 16)]
# Bytes of packed B ahead that the strided forms ask for into L2: one 256-deep block of 32 columns (VGG16's 512→512
# F(6x6) on 28², weights streamed from memory: 13.2-13.5 ms with none, 12.9 at 6 KB into L1, 10.7 at this distance).
STRIDED_B_AHEAD = 256 * 32 * 4


def kernel(mr, nr, indirect, fused=False, split=False, strided=False, gathered=False):
    units = nr // 16
    name = (f"{'igemm' if indirect else 'gemm'}_{mr}x{nr}{'_fused' if fused else ''}{'_split' if split else ''}"
            f"{'_strided' if strided else ''}{'_gathered' if gathered else ''}")
    acc = [[f"c{r}_{u}" for u in range(units)] for r in range(mr)]
    L = []
    if not indirect:  # B packed; A packed, or read in place (strided); the tile stored, or split and clipped
        a_params = ("a: UnsafePointer<Float>, lda: Int" if strided
                    else "a: UnsafePointer<Float>, offsets: UnsafePointer<Int>" if gathered else "a: UnsafePointer<Float>")
        doc = f"    /// {mr}x{nr} tile, " + ("A read in place (row `r`'s element `k` at `a + k * lda + r`), " if strided
                                           else "A read in place (row `r`'s element `k` at `a + offsets[k] + r`), " if gathered else "")
        if split:
            L.append(doc + f"B packed {nr} floats per k;")
            L.append(f"    /// writes `clip(acc + bias[col], lo, hi)`, row `r`'s columns `16u ..< 16u + 16` at `c[u] + r * ldc`")
            L.append(f"    /// (`c0`, `c1`, …: one 16-channel pixel vector per row and block).")
        else:
            L.append(doc + f"B packed {nr} floats per k.")
        L.append(f"    public static func {name}(kc: Int, {a_params}, b: UnsafePointer<Float>,")
        if split:
            L.append(f"                              " + ", ".join(f"c{u}: UnsafeMutablePointer<Float>" for u in range(units)) + ", ldc: Int,")
            L.append(f"                              bias: UnsafePointer<Float>, lo: Float, hi: Float) {{")
        else:
            L.append(f"                              c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {{")
    elif fused:
        L.append(f"    /// {mr}x{nr} tile, B rows read at `base + offsets[k]`; writes `clip(acc + bias[r] + residual, lo, hi)`")
        L.append(f"    /// (bias 0 when nil; no residual term when nil; `residual` has the row stride `ldc`).")
        L.append(f"    public static func {name}(kc: Int, a: UnsafePointer<Float>, base: UnsafePointer<Float>,")
        L.append(f"                              offsets: UnsafePointer<Int>, c: UnsafeMutablePointer<Float>, ldc: Int,")
        L.append(f"                              bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, lo: Float, hi: Float) {{")
    else:
        L.append(f"    /// {mr}x{nr} tile, B rows read at `base + offsets[k]` (implicit im2col).")
        L.append(f"    public static func {name}(kc: Int, a: UnsafePointer<Float>, base: UnsafePointer<Float>,")
        L.append(f"                              offsets: UnsafePointer<Int>, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {{")
    for r in range(mr):
        L.append("        " + "; ".join(f"var {v} = V()" for v in acc[r]))
    if not (fused or split):
        # Accumulating, the chain goes on from the tile's floats: passes over k give one chain's bits.
        L.append("        if accumulate {")
        for r in range(mr):
            L.append("            " + "; ".join(f"{acc[r][u]} = load(c, {r} &* ldc &+ {16 * u})" for u in range(units)))
        L.append("        }")
    if not gathered:
        L.append("        var ap = a")
    if indirect or gathered:
        L.append("        var op = offsets")
    if not indirect:
        L.append("        var bp = UnsafeRawPointer(b)")
    L.append("        for _ in 0..<kc {")
    if gathered:  # no prefetches: A's lines are the tile's input rows, near from the tile before; B's pass is in L1 after
        # the pass's first tile and the transposed path asks for the passes ahead into L2 (with B's prefetches as in the
        # strided form, thirty-ninth session, Intel, 1 thread: ResNet-18's 3x3 stride-2 layers 0.783 / 0.755 / 0.849 ms,
        # without 0.776 / 0.735 / 0.816, medians of 5 alternated runs)
        L.append("            let ap = a + op.pointee")
    elif strided:  # A's rows eight channels ahead (the hardware's stride prefetcher covers the rest); B's lines a block ahead
        L.append("            fftconv_prefetch(ap + 8 &* lda)")
        L.append("            " + "; ".join(f"fftconv_prefetch_l2(bp + {STRIDED_B_AHEAD + 64 * u})" for u in range(nr // 16)))
    else:
        L.append(f"            fftconv_prefetch(ap + {PREFETCH}); fftconv_prefetch_l2(ap + {PACKED_A_AHEAD})")
    if indirect:
        L.append("            let row = UnsafeRawPointer(base + op.pointee)")
        for u in range(units):
            L.append(f"            let b{u} = row.loadUnaligned(fromByteOffset: {64 * u}, as: V.self)")
    else:
        for u in range(units):
            L.append(f"            let b{u} = bp.loadUnaligned(fromByteOffset: {64 * u}, as: V.self)")
    for r in range(mr):
        L.append(f"            let a{r} = V(repeating: ap[{r}])")
        for u in range(units):
            L.append(f"            {acc[r][u]} = {acc[r][u]}.addingProduct(a{r}, b{u})")
    if not gathered:
        L.append("            ap += lda" if strided else f"            ap += {mr}")
    if indirect or gathered:
        L.append("            op += 1")
    if not indirect:
        L.append(f"            bp += {4 * nr}")
    L.append("        }")

    def add_tile(pointer, indent):  # every accumulator += the same element of a row-stride-ldc tile at `pointer`
        for r in range(mr):
            for u in range(units):
                L.append(f"{indent}{acc[r][u]} += load({pointer}, {r} &* ldc &+ {16 * u})")

    if split:
        L.append("        let vlo = V(repeating: lo), vhi = V(repeating: hi)")
        for u in range(units):
            L.append(f"        let bias{u} = load(bias, {16 * u})")
        for r in range(mr):
            for u in range(units):
                v = acc[r][u]
                L.append(f"        {v} += bias{u}")
                L.append(f"        {v}.replace(with: vlo, where: {v} .< vlo); {v}.replace(with: vhi, where: {v} .> vhi)")
                L.append(f"        store({v}, c{u}, {r} &* ldc)")
        L.append("    }")
        return "\n".join(L)
    if fused:
        L.append("        let vlo = V(repeating: lo), vhi = V(repeating: hi)")
        for r in range(mr):
            L.append(f"        let bias{r} = V(repeating: bias?[{r}] ?? 0)")
            for u in range(units):
                L.append(f"        {acc[r][u]} += bias{r}")
        L.append("        if let residual {")
        add_tile("residual", "            ")
        L.append("        }")
        for r in range(mr):
            for u in range(units):
                v = acc[r][u]
                L.append(f"        {v}.replace(with: vlo, where: {v} .< vlo); {v}.replace(with: vhi, where: {v} .> vhi)")
                L.append(f"        store({v}, c, {r} &* ldc &+ {16 * u})")
        L.append("    }")
        return "\n".join(L)
    for r in range(mr):
        for u in range(units):
            L.append(f"        store({acc[r][u]}, c, {r} &* ldc &+ {16 * u})")
    L.append("    }")
    return "\n".join(L)


def main():
    out = ["// GENERATED by Bench/scripts/generate_microkernels.py -- do not edit; edit the script and rerun it.",
           "",
           "import CFFTConvShim",
           "",
           "/// Register-blocked GEMM micro-kernels (see `MicroKernelRegistry` for the list and what each is for).",
           "public enum MicroKernels {",
           "    public typealias V = SIMD16<Float>",
           "",
           "    @inline(__always) static func load(_ p: UnsafeMutablePointer<Float>, _ i: Int) -> V {",
           "        UnsafeRawPointer(p + i).loadUnaligned(as: V.self)",
           "    }",
           "",
           "    @inline(__always) static func load(_ p: UnsafePointer<Float>, _ i: Int) -> V {",
           "        UnsafeRawPointer(p + i).loadUnaligned(as: V.self)",
           "    }",
           "",
           "    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<Float>, _ i: Int) {",
           "        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: V.self)",
           "    }",
           ""]
    for mr, nr in VARIANTS:
        out.append(kernel(mr, nr, False))
        out.append("")
        out.append(kernel(mr, nr, True))
        out.append("")
        out.append(kernel(mr, nr, True, fused=True))
        out.append("")
        if (mr, nr) in SPLIT_VARIANTS:
            out.append(kernel(mr, nr, False, split=True))
            out.append("")
        if (mr, nr) in STRIDED_VARIANTS:
            out.append(kernel(mr, nr, False, strided=True))
            out.append("")
        if (mr, nr) in GATHERED_VARIANTS:
            out.append(kernel(mr, nr, False, gathered=True))
            out.append("")
        if (mr, nr) in SPLIT_VARIANTS and (mr, nr) in STRIDED_VARIANTS:
            out.append(kernel(mr, nr, False, split=True, strided=True))
            out.append("")
    out.append("}")
    path = pathlib.Path(__file__).resolve().parent.parent.parent / "Sources/FFTConvKernels/GEMM/MicroKernels.generated.swift"
    path.write_text("\n".join(out) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
