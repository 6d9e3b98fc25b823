#!/usr/bin/env python3
"""Generates the Winograd shuffles of Sources/CFFTConvShim/include/fftconv_shim.h — the input rows' split into
F(6x6)'s six and F(4x4)'s four phases straight from the plane, F(6x6)'s six-row interleave, F(4x4)'s short-row split —
and rewrites them in place, between the "BEGIN gen_shuffle6" and "END gen_shuffle6" lines:

    python3 Bench/scripts/gen_shuffle6.py
"""
import os, re


def clear_outside(n):
    """The lanes of an n-vector of a row read from column `col` whose column is outside the row's `width` columns,
    cleared (their bits, whatever was read there)."""
    T, I = f"fftconv_f{n}", f"fftconv_i{n}"
    return "\n".join([
        f"static inline {T} fftconv_clear_outside{n}({T} y, long col, long width) {{",
        f"    const {I} iota = {{{', '.join(str(i) for i in range(n))}}};",
        f"    {I} c = iota + (int)col;",
        f"    return ({T})(({I})y & ((c >= 0) & (c < (int)width)));",
        "}"])


def row_loads(m, n):
    """Loads m n-vectors y0.. of a row from column `col`; where the run reaches past either end of the row's
    `width` columns, the lanes outside it cleared (`fftconv_clear_outside…`, one test for the whole run)."""
    T = f"fftconv_f{n}"
    L = [f"    {T} {', '.join(f'y{j}' for j in range(m))};"]
    for j in range(m): L.append(f"    __builtin_memcpy(&y{j}, row + col + {j*n}, {4*n});")
    L.append(f"    if (col < 0 || col + {m*n} > width) {{")
    for j in range(m): L.append(f"        y{j} = fftconv_clear_outside{n}(y{j}, col + {j*n}, width);")
    L.append("    }")
    return L


def gather(name, signature, loads, n, source, stores):
    """A function that loads six n-vectors y0..y5 (from `loads` + j·n, or with the lines `loads` when it is a
    list) and forms output vectors r0..r5, element e of r_k being element source(k, e) of the 6n-float run y0 y1 ...
    y5: the inputs are paired into 2n-vectors c01, c23, c45, each output gathered from the first two pairs, then
    completed from the third."""
    T, C = f"fftconv_f{n}", f"fftconv_f{2*n}"
    L = [f"static inline void {name}({signature}) {{"]
    if isinstance(loads, list):
        L += loads
    else:
        L.append(f"    {T} y0, y1, y2, y3, y4, y5;")
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


def split_row(n):
    """F(6x6)'s input row straight from the plane: phase s lane i = row[col + 6i + s], zero outside the row."""
    return gather(f"fftconv_split6row{n}", "const float *row, long col, long width, float *dst, long stride",
                  row_loads(6, n), n, lambda s, j: s + 6*j, lambda s: f"dst + {s} * stride")


def split4_row(n):
    """F(4x4)'s: phase s lane i = row[col + 4i + s], zero outside the row — even and odd lanes of the two halves,
    then of those (phases 0 and 2 from the even lanes, 1 and 3 from the odd)."""
    T = f"fftconv_f{n}"
    even = ", ".join(str(2*i) for i in range(n))
    odd = ", ".join(str(2*i + 1) for i in range(n))
    L = [f"static inline void fftconv_split4row{n}(const float *row, long col, long width, float *dst, long stride) {{"]
    L += row_loads(4, n)
    L.append(f"    {T} e01 = __builtin_shufflevector(y0, y1, {even});")
    L.append(f"    {T} o01 = __builtin_shufflevector(y0, y1, {odd});")
    L.append(f"    {T} e23 = __builtin_shufflevector(y2, y3, {even});")
    L.append(f"    {T} o23 = __builtin_shufflevector(y2, y3, {odd});")
    for s, (a, b, sel) in enumerate((("e01", "e23", even), ("o01", "o23", even), ("e01", "e23", odd), ("o01", "o23", odd))):
        L.append(f"    {T} p{s} = __builtin_shufflevector({a}, {b}, {sel});")
        L.append(f"    __builtin_memcpy(dst + {s} * stride, &p{s}, {4*n});")
    L.append("}")
    return "\n".join(L)


def inter(n):
    """Output vector k holds run positions 6t + j = kn + e, taken from element t of input row j."""
    return gather(f"fftconv_interleave6x{n}", "const float *rows, float *out", "rows", n,
                  lambda k, e: (k*n + e) % 6 * n + (k*n + e) // 6, lambda k: f"out + {k*n}")


def split4pad():
    """F(4x4)'s rows of at most 16 floats (13x13 to 16x16 maps): the four phases of the row after `padLeft` zeros,
    phase s lane q = row[4q + s - padLeft] (lane 16 of the pair, a zero, where that is outside the 16 loaded)."""
    L = ["static inline void fftconv_split4pad16(const float *src, long padLeft, const int *masks, float *dst, long stride) {",
         "    fftconv_f16 row, zero = 0.0f;",
         "    __builtin_memcpy(&row, src, 64);",
         "    fftconv_f8 p0, p1, p2, p3;",
         "    switch (padLeft) {"]
    for p in range(4):
        L.append(f"    {'default' if p == 3 else f'case {p}'}:")
        for ph in range(4):
            idx = [4*q + ph - p for q in range(8)]
            idx = [str(k) if 0 <= k < 16 else "16" for k in idx]
            L.append(f"        p{ph} = __builtin_shufflevector(row, zero, {', '.join(idx)});")
        L.append("        break;")
    L.append("    }")
    for ph in range(4):
        L.append(f"    fftconv_i8 m{ph};")
        L.append(f"    __builtin_memcpy(&m{ph}, masks + {8*ph}, 32);")
        L.append(f"    p{ph} = (fftconv_f8)((fftconv_i8)p{ph} & m{ph});")
    for ph in range(4):
        L.append(f"    __builtin_memcpy(dst + {ph} * stride, &p{ph}, 32);")
    L.append("}")
    return "\n".join(L)


def generated():
    text = ["typedef float fftconv_f32 __attribute__((ext_vector_type(32)));", "",
            "typedef int fftconv_i16 __attribute__((ext_vector_type(16)));",
            "typedef int fftconv_i8 __attribute__((ext_vector_type(8)));", "",
            """/// `y`, read from a plane's row at column `col`, with the lanes whose column is outside `0..<width` cleared.""",
            clear_outside(16), "", clear_outside(8), "",
            """/// Splits the run of a plane's row from column `col` into its six (`fftconv_split6row…`) or four
/// (`fftconv_split4row…`) phases of `n` floats — `dst[s·stride + i] = row[col + m·i + s]` — straight from the
/// plane, without a padded copy: lanes whose column is outside `0..<width` (the left padding, past the row's end)
/// are cleared. Reads the `m·n` floats at `row + col` (the caller guarantees they can be read: inside the plane).
/// F(4×4)'s and F(6×6)'s tiles are four and six floats apart; the phases make every tile-strided read of their
/// input stages a contiguous one. Two-level shuffles of clang's vector extensions (x86 permutes, NEON table
/// lookups). `row` and `dst` must not overlap.""",
            split_row(16), "", split_row(8), "", split4_row(16), "", split4_row(8), "",
            """/// The inverse, for F(6×6)'s outputs: interleaves six rows of `n` floats (row `j` at `rows + j·n`) into
/// `out[6·t + j] = rows[j·n + t]`. `rows` and `out` must not overlap.""",
            inter(16), "", inter(8), "",
            """/// F(4×4)'s input rows of at most 16 floats (13×13 to 16×16 maps, `WinogradKernels.transformInputF4Pairs`): reads
/// 16 floats at `src` (the caller guarantees they exist) and writes the four phases of the row after `padLeft`
/// (0–3) zeros, eight floats each: `dst[s·stride + q] = src[4q + s − padLeft]` where `masks[8·s + q]` is all ones
/// (the caller sets it where `0 ≤ 4q + s − padLeft < width`), else 0 — the bits cleared, whatever `src` held there.
/// Each phase is one 8-float store, so the transform's 4-float loads of it are served from the store buffer.""",
            split4pad()]
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
