#!/usr/bin/env python3
"""Generates the six-phase split and interleave shuffles of Sources/CFFTConvShim/include/fftconv_shim.h (F(6x6,
3x3)'s Winograd stages) and rewrites them in place, between the "BEGIN gen_shuffle6" and "END gen_shuffle6" lines:

    python3 Bench/scripts/gen_shuffle6.py
"""
import os, re


def split(n):
    """Six n-vectors in, phase s (elements s, s + 6, ...) out; the inputs are paired into 2n-vectors c01, c23, c45,
    each phase gathered from the first two pairs, then completed from the third."""
    T, C = f"fftconv_f{n}", f"fftconv_f{2*n}"
    L = []
    L.append(f"static inline void fftconv_split6x{n}(const float *src, float *dst, long stride) {{")
    L.append(f"    {T} y0, y1, y2, y3, y4, y5;")
    for j in range(6): L.append(f"    __builtin_memcpy(&y{j}, src + {j*n}, {4*n});")
    cat = ", ".join(str(i) for i in range(2*n))
    L.append(f"    {C} c01 = __builtin_shufflevector(y0, y1, {cat});")
    L.append(f"    {C} c23 = __builtin_shufflevector(y2, y3, {cat});")
    L.append(f"    {C} c45 = __builtin_shufflevector(y4, y5, {cat});")
    for s in range(6):
        ti = []; ri = []
        for j in range(n):
            g = s + 6*j; b, w = divmod(g, 2*n)
            ti.append(str(w if b == 0 else 2*n + w if b == 1 else -1))
            ri.append(str(j if b < 2 else 2*n + w))
        ti += ["-1"] * n
        L.append(f"    {C} t{s} = __builtin_shufflevector(c01, c23, {', '.join(ti)});")
        L.append(f"    {T} r{s} = __builtin_shufflevector(t{s}, c45, {', '.join(ri)});")
        L.append(f"    __builtin_memcpy(dst + {s} * stride, &r{s}, {4*n});")
    L.append("}")
    return "\n".join(L)



def inter(n):
    """Six n-vectors in, output vector k (elements 6t + j of the interleaved run) out, gathered as in split()."""
    T, C = f"fftconv_f{n}", f"fftconv_f{2*n}"
    L = []
    L.append(f"static inline void fftconv_interleave6x{n}(const float *rows, float *out) {{")
    L.append(f"    {T} y0, y1, y2, y3, y4, y5;")
    for j in range(6): L.append(f"    __builtin_memcpy(&y{j}, rows + {j*n}, {4*n});")
    cat = ", ".join(str(i) for i in range(2*n))
    L.append(f"    {C} c01 = __builtin_shufflevector(y0, y1, {cat});")
    L.append(f"    {C} c23 = __builtin_shufflevector(y2, y3, {cat});")
    L.append(f"    {C} c45 = __builtin_shufflevector(y4, y5, {cat});")
    for k in range(6):
        ti = []; ri = []
        for e in range(n):
            g = k*n + e; j, t = g % 6, g // 6
            f = j*n + t; b, w = divmod(f, 2*n)
            ti.append(str(w if b == 0 else 2*n + w if b == 1 else -1))
            ri.append(str(e if b < 2 else 2*n + w))
        ti += ["-1"] * n
        L.append(f"    {C} t{k} = __builtin_shufflevector(c01, c23, {', '.join(ti)});")
        L.append(f"    {T} r{k} = __builtin_shufflevector(t{k}, c45, {', '.join(ri)});")
        L.append(f"    __builtin_memcpy(out + {k*n}, &r{k}, {4*n});")
    L.append("}")
    return "\n".join(L)


def generated():
    text = ["typedef float fftconv_f32 __attribute__((ext_vector_type(32)));", "",
            """/// Splits `6·n` floats into their six phases (`dst[s·stride + i] = src[6·i + s]`, i < n): F(6×6)'s tiles are six
/// floats apart, and the phases make every tile-strided read of its input stage a contiguous one. Two-level
/// shuffles of clang's vector extensions (x86 permutes, NEON table lookups). `src` and `dst` must not overlap.""",
            split(16), "", split(8), "",
            """/// The inverse, for F(6×6)'s outputs: interleaves six rows of `n` floats (row `j` at `rows + j·n`) into
/// `out[6·t + j] = rows[j·n + t]`. `rows` and `out` must not overlap.""",
            inter(16), "", inter(8)]
    return "\n".join(text)

header = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../Sources/CFFTConvShim/include/fftconv_shim.h")
source = open(header).read()
begin, end = "// BEGIN gen_shuffle6 (Bench/scripts/gen_shuffle6.py; do not edit by hand)\n", "// END gen_shuffle6\n"
block = begin + generated() + "\n" + end
if begin in source:
    source = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, source, flags=re.S)
else:
    at = source.rindex("#endif")
    source = source[:at] + block + "\n" + source[at:]
open(header, "w").write(source)
