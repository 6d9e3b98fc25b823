#!/usr/bin/env python3
"""Generates the six-phase split and interleave shuffles of Sources/CFFTConvShim/include/fftconv_shim.h (F(6x6,
3x3)'s Winograd stages) and rewrites them in place, between the "BEGIN gen_shuffle6" and "END gen_shuffle6" lines:

    python3 Bench/scripts/gen_shuffle6.py
"""
import os, re


def gather(name, signature, loads, n, source, stores):
    """A function that loads six n-vectors y0..y5 and forms output vectors r0..r5, element e of r_k being element
    source(k, e) of the 6n-float run y0 y1 ... y5: the inputs are paired into 2n-vectors c01, c23, c45, each output
    gathered from the first two pairs, then completed from the third."""
    T, C = f"fftconv_f{n}", f"fftconv_f{2*n}"
    L = [f"static inline void {name}({signature}) {{", f"    {T} y0, y1, y2, y3, y4, y5;"]
    for j in range(6): L.append(f"    __builtin_memcpy(&y{j}, {loads} + {j*n}, {4*n});")
    cat = ", ".join(str(i) for i in range(2*n))
    for a, b in ((0, 1), (2, 3), (4, 5)):
        L.append(f"    {C} c{a}{b} = __builtin_shufflevector(y{a}, y{b}, {cat});")
    for k in range(6):
        ti, ri = [], []
        for e in range(n):
            b, w = divmod(source(k, e), 2*n)
            ti.append(str(w if b == 0 else 2*n + w if b == 1 else -1))
            ri.append(str(e if b < 2 else 2*n + w))
        ti += ["-1"] * n
        L.append(f"    {C} t{k} = __builtin_shufflevector(c01, c23, {', '.join(ti)});")
        L.append(f"    {T} r{k} = __builtin_shufflevector(t{k}, c45, {', '.join(ri)});")
        L.append(f"    __builtin_memcpy({stores(k)}, &r{k}, {4*n});")
    L.append("}")
    return "\n".join(L)


def split(n):
    """Phase s (output s) is elements s, s + 6, ... of the run."""
    return gather(f"fftconv_split6x{n}", "const float *src, float *dst, long stride", "src", n,
                  lambda s, j: s + 6*j, lambda s: f"dst + {s} * stride")


def inter(n):
    """Output vector k holds run positions 6t + j = kn + e, taken from element t of input row j."""
    return gather(f"fftconv_interleave6x{n}", "const float *rows, float *out", "rows", n,
                  lambda k, e: (k*n + e) % 6 * n + (k*n + e) // 6, lambda k: f"out + {k*n}")


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
