#ifndef FFTCONV_SHIM_H
#define FFTCONV_SHIM_H

/// Bit flags describing the instruction sets this C target was compiled for (compile-time facts).
enum {
    FFTCONV_ISA_SSE2 = 1 << 0,
    FFTCONV_ISA_AVX = 1 << 1,
    FFTCONV_ISA_AVX2 = 1 << 2,
    FFTCONV_ISA_FMA = 1 << 3,
    FFTCONV_ISA_AVX512F = 1 << 4,
    FFTCONV_ISA_NEON = 1 << 5,
};

/// Instruction sets the package was built for (compile-time macros such as __FMA__ and __AVX2__).
int fftconv_build_isa(void);

/// 1 when the code including this header is compiled with 16-float vector registers (AVX-512F), else 0: a
/// compile-time constant that inlines (Swift's `static let` of the same fact costs a `swift_once` per use).
static inline int fftconv_build_has_wide_registers(void) {
#if defined(__AVX512F__)
    return 1;
#else
    return 0;
#endif
}

/// Instruction sets the running CPU supports (cpuid on x86; on aarch64 NEON and FMA are baseline).
int fftconv_cpu_isa(void);

/// CPU vendors `fftconv_cpu_x86_identity` tells apart.
enum { FFTCONV_VENDOR_OTHER = 0, FFTCONV_VENDOR_INTEL = 1, FFTCONV_VENDOR_AMD = 2 };

/// The running x86 CPU's vendor, display family and display model (cpuid leaves 0 and 1, extended fields
/// folded in); returns 0 and sets all three to 0 on other architectures or without cpuid.
int fftconv_cpu_x86_identity(int *vendor, int *family, int *model);

/// Architecture name the package was compiled for, e.g. "x86_64" or "aarch64".
const char *fftconv_build_arch(void);

/// This thread's serial depth: while above 0, `Parallel`'s loops run on the calling thread alone (a batch's
/// images run side by side, one per worker, each through steps prepared for several threads).
int fftconv_serial_depth(void);
/// Sets this thread's serial depth.
void fftconv_set_serial_depth(int depth);

/// A word that several threads read and update atomically (sequentially consistent), for the worker pool.
typedef struct { long value; } fftconv_atomic_word;

static inline long fftconv_atomic_load(fftconv_atomic_word *w) { return __atomic_load_n(&w->value, __ATOMIC_SEQ_CST); }
static inline void fftconv_atomic_store(fftconv_atomic_word *w, long v) { __atomic_store_n(&w->value, v, __ATOMIC_SEQ_CST); }
static inline long fftconv_atomic_add(fftconv_atomic_word *w, long v) { return __atomic_fetch_add(&w->value, v, __ATOMIC_SEQ_CST); }

/// A hint to the CPU that the thread is spin-waiting.
static inline void fftconv_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

#if defined(__has_builtin)
#if __has_builtin(__builtin_prefetch)
#define FFTCONV_HAS_PREFETCH 1
#endif
#endif

/// A hint to fetch the cache line at `p` into every cache level for reading (never faults, whatever the
/// address; does nothing where the compiler lacks the builtin).
static inline void fftconv_prefetch(const void *p) {
#ifdef FFTCONV_HAS_PREFETCH
    __builtin_prefetch(p, 0, 3);
#endif
}

/// A hint to fetch the cache line at `p` into the second-level cache (not the first): for data a loop will
/// read after the one running now, without evicting what that one reads from L1.
static inline void fftconv_prefetch_l2(const void *p) {
#ifdef FFTCONV_HAS_PREFETCH
    __builtin_prefetch(p, 0, 2);
#endif
}

/// Interleaves `k` rows of `n` floats (row `j` at `rows + j·n`): `out[k·l + j] = rows[j·n + l]` — the
/// transpose that turns Winograd's per-column output vectors (one lane per tile) into output rows. Swift's SIMD
/// types cannot express a two-vector shuffle; clang's vector extensions can, portably (x86 unpack/permute
/// instructions, NEON zip), and these inline into the Swift kernels. `rows` and `out` must not overlap.
typedef float fftconv_f8 __attribute__((ext_vector_type(8)));
typedef float fftconv_f16 __attribute__((ext_vector_type(16)));

static inline void fftconv_interleave4x16(const float *rows, float *out) {
    fftconv_f16 y0, y1, y2, y3;
    __builtin_memcpy(&y0, rows, 64); __builtin_memcpy(&y1, rows + 16, 64);
    __builtin_memcpy(&y2, rows + 32, 64); __builtin_memcpy(&y3, rows + 48, 64);
    fftconv_f16 a = __builtin_shufflevector(y0, y2, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    fftconv_f16 b = __builtin_shufflevector(y0, y2, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    fftconv_f16 c = __builtin_shufflevector(y1, y3, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    fftconv_f16 d = __builtin_shufflevector(y1, y3, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    fftconv_f16 r0 = __builtin_shufflevector(a, c, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    fftconv_f16 r1 = __builtin_shufflevector(a, c, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    fftconv_f16 r2 = __builtin_shufflevector(b, d, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    fftconv_f16 r3 = __builtin_shufflevector(b, d, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    __builtin_memcpy(out, &r0, 64); __builtin_memcpy(out + 16, &r1, 64);
    __builtin_memcpy(out + 32, &r2, 64); __builtin_memcpy(out + 48, &r3, 64);
}

static inline void fftconv_interleave4x8(const float *rows, float *out) {
    fftconv_f8 y0, y1, y2, y3;
    __builtin_memcpy(&y0, rows, 32); __builtin_memcpy(&y1, rows + 8, 32);
    __builtin_memcpy(&y2, rows + 16, 32); __builtin_memcpy(&y3, rows + 24, 32);
    fftconv_f8 a = __builtin_shufflevector(y0, y2, 0, 8, 1, 9, 2, 10, 3, 11);
    fftconv_f8 b = __builtin_shufflevector(y0, y2, 4, 12, 5, 13, 6, 14, 7, 15);
    fftconv_f8 c = __builtin_shufflevector(y1, y3, 0, 8, 1, 9, 2, 10, 3, 11);
    fftconv_f8 d = __builtin_shufflevector(y1, y3, 4, 12, 5, 13, 6, 14, 7, 15);
    fftconv_f8 r0 = __builtin_shufflevector(a, c, 0, 8, 1, 9, 2, 10, 3, 11);
    fftconv_f8 r1 = __builtin_shufflevector(a, c, 4, 12, 5, 13, 6, 14, 7, 15);
    fftconv_f8 r2 = __builtin_shufflevector(b, d, 0, 8, 1, 9, 2, 10, 3, 11);
    fftconv_f8 r3 = __builtin_shufflevector(b, d, 4, 12, 5, 13, 6, 14, 7, 15);
    __builtin_memcpy(out, &r0, 32); __builtin_memcpy(out + 8, &r1, 32);
    __builtin_memcpy(out + 16, &r2, 32); __builtin_memcpy(out + 24, &r3, 32);
}

static inline void fftconv_interleave2x16(const float *rows, float *out) {
    fftconv_f16 y0, y1;
    __builtin_memcpy(&y0, rows, 64); __builtin_memcpy(&y1, rows + 16, 64);
    fftconv_f16 r0 = __builtin_shufflevector(y0, y1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    fftconv_f16 r1 = __builtin_shufflevector(y0, y1, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    __builtin_memcpy(out, &r0, 64); __builtin_memcpy(out + 16, &r1, 64);
}

static inline void fftconv_interleave2x8(const float *rows, float *out) {
    fftconv_f8 y0, y1;
    __builtin_memcpy(&y0, rows, 32); __builtin_memcpy(&y1, rows + 8, 32);
    fftconv_f8 r0 = __builtin_shufflevector(y0, y1, 0, 8, 1, 9, 2, 10, 3, 11);
    fftconv_f8 r1 = __builtin_shufflevector(y0, y1, 4, 12, 5, 13, 6, 14, 7, 15);
    __builtin_memcpy(out, &r0, 32); __builtin_memcpy(out + 8, &r1, 32);
}

/// Even and odd lanes of the 32 floats `lo ++ hi` (lanes 0, 2, …, 30 and 1, 3, …, 31), and of the 16 floats
/// `v` — the split stride-2 kernels use. Swift's `SIMD32.evenHalf` is a lane loop the compiler leaves as an
/// out-of-line call (a third of a max pool's time in a profile); these are one or two permutes (x86
/// `vpermt2ps`, NEON `uzp1`/`uzp2`).
static inline fftconv_f16 fftconv_even32(fftconv_f16 lo, fftconv_f16 hi) {
    return __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}
static inline fftconv_f16 fftconv_odd32(fftconv_f16 lo, fftconv_f16 hi) {
    return __builtin_shufflevector(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}
/// Lane 15 of `previous` followed by lanes 0…14 of `v` (x86 `valignd`, NEON `ext`): a row's values one
/// column to the left, across a vector boundary.
static inline fftconv_f16 fftconv_shift_in16(fftconv_f16 previous, fftconv_f16 v) {
    return __builtin_shufflevector(previous, v, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30);
}
/// Lanes 1…15 of `v` followed by `next`: a row's values one column to the right, across a vector boundary.
static inline fftconv_f16 fftconv_shift_down16(fftconv_f16 v, float next) {
    fftconv_f16 n = (fftconv_f16)next;
    return __builtin_shufflevector(v, n, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
}
/// Lanes 1…15 of `v` followed by lane 0 of `next` (x86 `valignd`, NEON `ext`): `shift_down16` when the next
/// column is already in a vector.
static inline fftconv_f16 fftconv_shift_out16(fftconv_f16 v, fftconv_f16 next) {
    return __builtin_shufflevector(v, next, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
}
static inline fftconv_f8 fftconv_even16(fftconv_f16 v) {
    return __builtin_shufflevector(v, v, 0, 2, 4, 6, 8, 10, 12, 14);
}
static inline fftconv_f8 fftconv_odd16(fftconv_f16 v) {
    return __builtin_shufflevector(v, v, 1, 3, 5, 7, 9, 11, 13, 15);
}

/// The transpose of a 16×16 block: `dst[j·dst_stride + i] = src[i·src_stride + j]` for `i, j` in 0..<16 —
/// what the channel-blocked depthwise kernels use to turn 16 channel planes into 16-channel pixel vectors and
/// back. Four rounds of zipping row `i` with row `i + 8` (64 two-vector shuffles: x86 `vpermt2ps`/unpacks,
/// NEON `zip1`/`zip2`); rows are read and written unaligned. `src` and `dst` must not overlap.
static inline void fftconv_transpose16x16(const float *src, long src_stride, float *dst, long dst_stride) {
    // (Loops fully unrolled on request: clang for aarch64 left them rolled, with `memcpy` calls.)
    fftconv_f16 r[16], n[16];
#pragma clang loop unroll(full)
    for (int i = 0; i < 16; i++) __builtin_memcpy(&r[i], src + i * src_stride, 64);
#pragma clang loop unroll(full)
    for (int round = 0; round < 4; round++) {
#pragma clang loop unroll(full)
        for (int i = 0; i < 8; i++) {
            n[2 * i] = __builtin_shufflevector(r[i], r[i + 8], 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
            n[2 * i + 1] = __builtin_shufflevector(r[i], r[i + 8], 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        }
#pragma clang loop unroll(full)
        for (int i = 0; i < 16; i++) r[i] = n[i];
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < 16; i++) __builtin_memcpy(dst + i * dst_stride, &r[i], 64);
}

// BEGIN gen_shuffle6 (Bench/scripts/gen_shuffle6.py; do not edit by hand)
typedef float fftconv_f32 __attribute__((ext_vector_type(32)));

typedef int fftconv_i16 __attribute__((ext_vector_type(16)));
typedef int fftconv_i8 __attribute__((ext_vector_type(8)));

/// `y`, read from a plane's row at column `col`, with the lanes whose column is outside `0..<width` cleared.
static inline fftconv_f16 fftconv_clear_outside16(fftconv_f16 y, long col, long width) {
    const fftconv_i16 iota = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    fftconv_i16 c = iota + (int)col;
    return (fftconv_f16)((fftconv_i16)y & ((c >= 0) & (c < (int)width)));
}

static inline fftconv_f8 fftconv_clear_outside8(fftconv_f8 y, long col, long width) {
    const fftconv_i8 iota = {0, 1, 2, 3, 4, 5, 6, 7};
    fftconv_i8 c = iota + (int)col;
    return (fftconv_f8)((fftconv_i8)y & ((c >= 0) & (c < (int)width)));
}

/// Splits the run of a plane's row from column `col` into its six (`fftconv_split6row…`) or four
/// (`fftconv_split4row…`) phases of `n` floats — `dst[s·stride + i] = row[col + m·i + s]` — straight from the
/// plane, without a padded copy: lanes whose column is outside `0..<width` (the left padding, past the row's end)
/// are cleared. Reads the `m·n` floats at `row + col` (the caller guarantees they can be read: inside the plane).
/// F(4×4)'s and F(6×6)'s tiles are four and six floats apart; the phases make every tile-strided read of their
/// input stages a contiguous one. Two-level shuffles of clang's vector extensions (x86 permutes, NEON table
/// lookups). `row` and `dst` must not overlap.
static inline void fftconv_split6row16(const float *row, long col, long width, float *dst, long stride) {
    fftconv_f16 y0, y1, y2, y3, y4, y5;
    __builtin_memcpy(&y0, row + col + 0, 64);
    __builtin_memcpy(&y1, row + col + 16, 64);
    __builtin_memcpy(&y2, row + col + 32, 64);
    __builtin_memcpy(&y3, row + col + 48, 64);
    __builtin_memcpy(&y4, row + col + 64, 64);
    __builtin_memcpy(&y5, row + col + 80, 64);
    if (col < 0 || col + 96 > width) {
        y0 = fftconv_clear_outside16(y0, col + 0, width);
        y1 = fftconv_clear_outside16(y1, col + 16, width);
        y2 = fftconv_clear_outside16(y2, col + 32, width);
        y3 = fftconv_clear_outside16(y3, col + 48, width);
        y4 = fftconv_clear_outside16(y4, col + 64, width);
        y5 = fftconv_clear_outside16(y5, col + 80, width);
    }
    fftconv_f32 c01 = __builtin_shufflevector(y0, y1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
    fftconv_f32 c23 = __builtin_shufflevector(y2, y3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
    fftconv_f32 c45 = __builtin_shufflevector(y4, y5, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
    fftconv_f32 t0 = __builtin_shufflevector(c01, c23, 0, 6, 12, 18, 24, 30, 36, 42, 48, 54, 60, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f16 r0 = __builtin_shufflevector(t0, c45, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 34, 40, 46, 52, 58);
    __builtin_memcpy(dst + 0 * stride, &r0, 64);
    fftconv_f32 t1 = __builtin_shufflevector(c01, c23, 1, 7, 13, 19, 25, 31, 37, 43, 49, 55, 61, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f16 r1 = __builtin_shufflevector(t1, c45, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 35, 41, 47, 53, 59);
    __builtin_memcpy(dst + 1 * stride, &r1, 64);
    fftconv_f32 t2 = __builtin_shufflevector(c01, c23, 2, 8, 14, 20, 26, 32, 38, 44, 50, 56, 62, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f16 r2 = __builtin_shufflevector(t2, c45, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 36, 42, 48, 54, 60);
    __builtin_memcpy(dst + 2 * stride, &r2, 64);
    fftconv_f32 t3 = __builtin_shufflevector(c01, c23, 3, 9, 15, 21, 27, 33, 39, 45, 51, 57, 63, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f16 r3 = __builtin_shufflevector(t3, c45, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 37, 43, 49, 55, 61);
    __builtin_memcpy(dst + 3 * stride, &r3, 64);
    fftconv_f32 t4 = __builtin_shufflevector(c01, c23, 4, 10, 16, 22, 28, 34, 40, 46, 52, 58, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f16 r4 = __builtin_shufflevector(t4, c45, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 32, 38, 44, 50, 56, 62);
    __builtin_memcpy(dst + 4 * stride, &r4, 64);
    fftconv_f32 t5 = __builtin_shufflevector(c01, c23, 5, 11, 17, 23, 29, 35, 41, 47, 53, 59, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f16 r5 = __builtin_shufflevector(t5, c45, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 33, 39, 45, 51, 57, 63);
    __builtin_memcpy(dst + 5 * stride, &r5, 64);
}

static inline void fftconv_split6row8(const float *row, long col, long width, float *dst, long stride) {
    fftconv_f8 y0, y1, y2, y3, y4, y5;
    __builtin_memcpy(&y0, row + col + 0, 32);
    __builtin_memcpy(&y1, row + col + 8, 32);
    __builtin_memcpy(&y2, row + col + 16, 32);
    __builtin_memcpy(&y3, row + col + 24, 32);
    __builtin_memcpy(&y4, row + col + 32, 32);
    __builtin_memcpy(&y5, row + col + 40, 32);
    if (col < 0 || col + 48 > width) {
        y0 = fftconv_clear_outside8(y0, col + 0, width);
        y1 = fftconv_clear_outside8(y1, col + 8, width);
        y2 = fftconv_clear_outside8(y2, col + 16, width);
        y3 = fftconv_clear_outside8(y3, col + 24, width);
        y4 = fftconv_clear_outside8(y4, col + 32, width);
        y5 = fftconv_clear_outside8(y5, col + 40, width);
    }
    fftconv_f16 c01 = __builtin_shufflevector(y0, y1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    fftconv_f16 c23 = __builtin_shufflevector(y2, y3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    fftconv_f16 c45 = __builtin_shufflevector(y4, y5, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    fftconv_f16 t0 = __builtin_shufflevector(c01, c23, 0, 6, 12, 18, 24, 30, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f8 r0 = __builtin_shufflevector(t0, c45, 0, 1, 2, 3, 4, 5, 20, 26);
    __builtin_memcpy(dst + 0 * stride, &r0, 32);
    fftconv_f16 t1 = __builtin_shufflevector(c01, c23, 1, 7, 13, 19, 25, 31, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f8 r1 = __builtin_shufflevector(t1, c45, 0, 1, 2, 3, 4, 5, 21, 27);
    __builtin_memcpy(dst + 1 * stride, &r1, 32);
    fftconv_f16 t2 = __builtin_shufflevector(c01, c23, 2, 8, 14, 20, 26, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f8 r2 = __builtin_shufflevector(t2, c45, 0, 1, 2, 3, 4, 16, 22, 28);
    __builtin_memcpy(dst + 2 * stride, &r2, 32);
    fftconv_f16 t3 = __builtin_shufflevector(c01, c23, 3, 9, 15, 21, 27, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f8 r3 = __builtin_shufflevector(t3, c45, 0, 1, 2, 3, 4, 17, 23, 29);
    __builtin_memcpy(dst + 3 * stride, &r3, 32);
    fftconv_f16 t4 = __builtin_shufflevector(c01, c23, 4, 10, 16, 22, 28, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f8 r4 = __builtin_shufflevector(t4, c45, 0, 1, 2, 3, 4, 18, 24, 30);
    __builtin_memcpy(dst + 4 * stride, &r4, 32);
    fftconv_f16 t5 = __builtin_shufflevector(c01, c23, 5, 11, 17, 23, 29, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f8 r5 = __builtin_shufflevector(t5, c45, 0, 1, 2, 3, 4, 19, 25, 31);
    __builtin_memcpy(dst + 5 * stride, &r5, 32);
}

static inline void fftconv_split4row16(const float *row, long col, long width, float *dst, long stride) {
    fftconv_f16 y0, y1, y2, y3;
    __builtin_memcpy(&y0, row + col + 0, 64);
    __builtin_memcpy(&y1, row + col + 16, 64);
    __builtin_memcpy(&y2, row + col + 32, 64);
    __builtin_memcpy(&y3, row + col + 48, 64);
    if (col < 0 || col + 64 > width) {
        y0 = fftconv_clear_outside16(y0, col + 0, width);
        y1 = fftconv_clear_outside16(y1, col + 16, width);
        y2 = fftconv_clear_outside16(y2, col + 32, width);
        y3 = fftconv_clear_outside16(y3, col + 48, width);
    }
    fftconv_f16 e01 = __builtin_shufflevector(y0, y1, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    fftconv_f16 o01 = __builtin_shufflevector(y0, y1, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    fftconv_f16 e23 = __builtin_shufflevector(y2, y3, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    fftconv_f16 o23 = __builtin_shufflevector(y2, y3, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    fftconv_f16 p0 = __builtin_shufflevector(e01, e23, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    __builtin_memcpy(dst + 0 * stride, &p0, 64);
    fftconv_f16 p1 = __builtin_shufflevector(o01, o23, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    __builtin_memcpy(dst + 1 * stride, &p1, 64);
    fftconv_f16 p2 = __builtin_shufflevector(e01, e23, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    __builtin_memcpy(dst + 2 * stride, &p2, 64);
    fftconv_f16 p3 = __builtin_shufflevector(o01, o23, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    __builtin_memcpy(dst + 3 * stride, &p3, 64);
}

static inline void fftconv_split4row8(const float *row, long col, long width, float *dst, long stride) {
    fftconv_f8 y0, y1, y2, y3;
    __builtin_memcpy(&y0, row + col + 0, 32);
    __builtin_memcpy(&y1, row + col + 8, 32);
    __builtin_memcpy(&y2, row + col + 16, 32);
    __builtin_memcpy(&y3, row + col + 24, 32);
    if (col < 0 || col + 32 > width) {
        y0 = fftconv_clear_outside8(y0, col + 0, width);
        y1 = fftconv_clear_outside8(y1, col + 8, width);
        y2 = fftconv_clear_outside8(y2, col + 16, width);
        y3 = fftconv_clear_outside8(y3, col + 24, width);
    }
    fftconv_f8 e01 = __builtin_shufflevector(y0, y1, 0, 2, 4, 6, 8, 10, 12, 14);
    fftconv_f8 o01 = __builtin_shufflevector(y0, y1, 1, 3, 5, 7, 9, 11, 13, 15);
    fftconv_f8 e23 = __builtin_shufflevector(y2, y3, 0, 2, 4, 6, 8, 10, 12, 14);
    fftconv_f8 o23 = __builtin_shufflevector(y2, y3, 1, 3, 5, 7, 9, 11, 13, 15);
    fftconv_f8 p0 = __builtin_shufflevector(e01, e23, 0, 2, 4, 6, 8, 10, 12, 14);
    __builtin_memcpy(dst + 0 * stride, &p0, 32);
    fftconv_f8 p1 = __builtin_shufflevector(o01, o23, 0, 2, 4, 6, 8, 10, 12, 14);
    __builtin_memcpy(dst + 1 * stride, &p1, 32);
    fftconv_f8 p2 = __builtin_shufflevector(e01, e23, 1, 3, 5, 7, 9, 11, 13, 15);
    __builtin_memcpy(dst + 2 * stride, &p2, 32);
    fftconv_f8 p3 = __builtin_shufflevector(o01, o23, 1, 3, 5, 7, 9, 11, 13, 15);
    __builtin_memcpy(dst + 3 * stride, &p3, 32);
}

/// The inverse, for F(6×6)'s outputs: interleaves six rows of `n` floats (row `j` at `rows + j·n`) into
/// `out[6·t + j] = rows[j·n + t]`. `rows` and `out` must not overlap.
static inline void fftconv_interleave6x16(const float *rows, float *out) {
    fftconv_f16 y0, y1, y2, y3, y4, y5;
    __builtin_memcpy(&y0, rows + 0, 64);
    __builtin_memcpy(&y1, rows + 16, 64);
    __builtin_memcpy(&y2, rows + 32, 64);
    __builtin_memcpy(&y3, rows + 48, 64);
    __builtin_memcpy(&y4, rows + 64, 64);
    __builtin_memcpy(&y5, rows + 80, 64);
    fftconv_f32 c01 = __builtin_shufflevector(y0, y1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
    fftconv_f32 c23 = __builtin_shufflevector(y2, y3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
    fftconv_f32 c45 = __builtin_shufflevector(y4, y5, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
    fftconv_f32 t0 = __builtin_shufflevector(c01, c23, 0, 16, 32, 48, -1, -1, 1, 17, 33, 49, -1, -1, 2, 18, 34, 50, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f16 r0 = __builtin_shufflevector(t0, c45, 0, 1, 2, 3, 32, 48, 6, 7, 8, 9, 33, 49, 12, 13, 14, 15);
    __builtin_memcpy(out + 0, &r0, 64);
    fftconv_f32 t1 = __builtin_shufflevector(c01, c23, -1, -1, 3, 19, 35, 51, -1, -1, 4, 20, 36, 52, -1, -1, 5, 21, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f16 r1 = __builtin_shufflevector(t1, c45, 34, 50, 2, 3, 4, 5, 35, 51, 8, 9, 10, 11, 36, 52, 14, 15);
    __builtin_memcpy(out + 16, &r1, 64);
    fftconv_f32 t2 = __builtin_shufflevector(c01, c23, 37, 53, -1, -1, 6, 22, 38, 54, -1, -1, 7, 23, 39, 55, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f16 r2 = __builtin_shufflevector(t2, c45, 0, 1, 37, 53, 4, 5, 6, 7, 38, 54, 10, 11, 12, 13, 39, 55);
    __builtin_memcpy(out + 32, &r2, 64);
    fftconv_f32 t3 = __builtin_shufflevector(c01, c23, 8, 24, 40, 56, -1, -1, 9, 25, 41, 57, -1, -1, 10, 26, 42, 58, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f16 r3 = __builtin_shufflevector(t3, c45, 0, 1, 2, 3, 40, 56, 6, 7, 8, 9, 41, 57, 12, 13, 14, 15);
    __builtin_memcpy(out + 48, &r3, 64);
    fftconv_f32 t4 = __builtin_shufflevector(c01, c23, -1, -1, 11, 27, 43, 59, -1, -1, 12, 28, 44, 60, -1, -1, 13, 29, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f16 r4 = __builtin_shufflevector(t4, c45, 42, 58, 2, 3, 4, 5, 43, 59, 8, 9, 10, 11, 44, 60, 14, 15);
    __builtin_memcpy(out + 64, &r4, 64);
    fftconv_f32 t5 = __builtin_shufflevector(c01, c23, 45, 61, -1, -1, 14, 30, 46, 62, -1, -1, 15, 31, 47, 63, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f16 r5 = __builtin_shufflevector(t5, c45, 0, 1, 45, 61, 4, 5, 6, 7, 46, 62, 10, 11, 12, 13, 47, 63);
    __builtin_memcpy(out + 80, &r5, 64);
}

static inline void fftconv_interleave6x8(const float *rows, float *out) {
    fftconv_f8 y0, y1, y2, y3, y4, y5;
    __builtin_memcpy(&y0, rows + 0, 32);
    __builtin_memcpy(&y1, rows + 8, 32);
    __builtin_memcpy(&y2, rows + 16, 32);
    __builtin_memcpy(&y3, rows + 24, 32);
    __builtin_memcpy(&y4, rows + 32, 32);
    __builtin_memcpy(&y5, rows + 40, 32);
    fftconv_f16 c01 = __builtin_shufflevector(y0, y1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    fftconv_f16 c23 = __builtin_shufflevector(y2, y3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    fftconv_f16 c45 = __builtin_shufflevector(y4, y5, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    fftconv_f16 t0 = __builtin_shufflevector(c01, c23, 0, 8, 16, 24, -1, -1, 1, 9, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f8 r0 = __builtin_shufflevector(t0, c45, 0, 1, 2, 3, 16, 24, 6, 7);
    __builtin_memcpy(out + 0, &r0, 32);
    fftconv_f16 t1 = __builtin_shufflevector(c01, c23, 17, 25, -1, -1, 2, 10, 18, 26, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f8 r1 = __builtin_shufflevector(t1, c45, 0, 1, 17, 25, 4, 5, 6, 7);
    __builtin_memcpy(out + 8, &r1, 32);
    fftconv_f16 t2 = __builtin_shufflevector(c01, c23, -1, -1, 3, 11, 19, 27, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f8 r2 = __builtin_shufflevector(t2, c45, 18, 26, 2, 3, 4, 5, 19, 27);
    __builtin_memcpy(out + 16, &r2, 32);
    fftconv_f16 t3 = __builtin_shufflevector(c01, c23, 4, 12, 20, 28, -1, -1, 5, 13, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f8 r3 = __builtin_shufflevector(t3, c45, 0, 1, 2, 3, 20, 28, 6, 7);
    __builtin_memcpy(out + 24, &r3, 32);
    fftconv_f16 t4 = __builtin_shufflevector(c01, c23, 21, 29, -1, -1, 6, 14, 22, 30, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f8 r4 = __builtin_shufflevector(t4, c45, 0, 1, 21, 29, 4, 5, 6, 7);
    __builtin_memcpy(out + 32, &r4, 32);
    fftconv_f16 t5 = __builtin_shufflevector(c01, c23, -1, -1, 7, 15, 23, 31, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    fftconv_f8 r5 = __builtin_shufflevector(t5, c45, 22, 30, 2, 3, 4, 5, 23, 31);
    __builtin_memcpy(out + 40, &r5, 32);
}

/// F(4×4)'s input rows of at most 16 floats (13×13 to 16×16 maps, `WinogradKernels.transformInputF4Pairs`): reads
/// 16 floats at `src` (the caller guarantees they exist) and writes the four phases of the row after `padLeft`
/// (0–3) zeros, eight floats each: `dst[s·stride + q] = src[4q + s − padLeft]` where `masks[8·s + q]` is all ones
/// (the caller sets it where `0 ≤ 4q + s − padLeft < width`), else 0 — the bits cleared, whatever `src` held there.
/// Each phase is one 8-float store, so the transform's 4-float loads of it are served from the store buffer.
static inline void fftconv_split4pad16(const float *src, long padLeft, const int *masks, float *dst, long stride) {
    fftconv_f16 row, zero = 0.0f;
    __builtin_memcpy(&row, src, 64);
    fftconv_f8 p0, p1, p2, p3;
    switch (padLeft) {
    case 0:
        p0 = __builtin_shufflevector(row, zero, 0, 4, 8, 12, 16, 16, 16, 16);
        p1 = __builtin_shufflevector(row, zero, 1, 5, 9, 13, 16, 16, 16, 16);
        p2 = __builtin_shufflevector(row, zero, 2, 6, 10, 14, 16, 16, 16, 16);
        p3 = __builtin_shufflevector(row, zero, 3, 7, 11, 15, 16, 16, 16, 16);
        break;
    case 1:
        p0 = __builtin_shufflevector(row, zero, 16, 3, 7, 11, 15, 16, 16, 16);
        p1 = __builtin_shufflevector(row, zero, 0, 4, 8, 12, 16, 16, 16, 16);
        p2 = __builtin_shufflevector(row, zero, 1, 5, 9, 13, 16, 16, 16, 16);
        p3 = __builtin_shufflevector(row, zero, 2, 6, 10, 14, 16, 16, 16, 16);
        break;
    case 2:
        p0 = __builtin_shufflevector(row, zero, 16, 2, 6, 10, 14, 16, 16, 16);
        p1 = __builtin_shufflevector(row, zero, 16, 3, 7, 11, 15, 16, 16, 16);
        p2 = __builtin_shufflevector(row, zero, 0, 4, 8, 12, 16, 16, 16, 16);
        p3 = __builtin_shufflevector(row, zero, 1, 5, 9, 13, 16, 16, 16, 16);
        break;
    default:
        p0 = __builtin_shufflevector(row, zero, 16, 1, 5, 9, 13, 16, 16, 16);
        p1 = __builtin_shufflevector(row, zero, 16, 2, 6, 10, 14, 16, 16, 16);
        p2 = __builtin_shufflevector(row, zero, 16, 3, 7, 11, 15, 16, 16, 16);
        p3 = __builtin_shufflevector(row, zero, 0, 4, 8, 12, 16, 16, 16, 16);
        break;
    }
    fftconv_i8 m0;
    __builtin_memcpy(&m0, masks + 0, 32);
    p0 = (fftconv_f8)((fftconv_i8)p0 & m0);
    fftconv_i8 m1;
    __builtin_memcpy(&m1, masks + 8, 32);
    p1 = (fftconv_f8)((fftconv_i8)p1 & m1);
    fftconv_i8 m2;
    __builtin_memcpy(&m2, masks + 16, 32);
    p2 = (fftconv_f8)((fftconv_i8)p2 & m2);
    fftconv_i8 m3;
    __builtin_memcpy(&m3, masks + 24, 32);
    p3 = (fftconv_f8)((fftconv_i8)p3 & m3);
    __builtin_memcpy(dst + 0 * stride, &p0, 32);
    __builtin_memcpy(dst + 1 * stride, &p1, 32);
    __builtin_memcpy(dst + 2 * stride, &p2, 32);
    __builtin_memcpy(dst + 3 * stride, &p3, 32);
}
// END gen_shuffle6

/// `b` in the lanes where `b > m`, else `m` (a NaN in `b` never replaces `m`): x86 `vmaxps b, m`, NEON `fcmgt` +
/// `bsl`. Swift's `SIMD16.replace(with:where:)` is a lane loop left to the vectoriser, which next to permutes
/// rebuilt it as per-lane mask shuffles (`vpmovm2d`, extracts) in a max pool.
static inline fftconv_f16 fftconv_later_max16(fftconv_f16 m, fftconv_f16 b) {
    fftconv_i16 greater = b > m;
    return (fftconv_f16)((greater & (fftconv_i16)b) | (~greater & (fftconv_i16)m));
}

/// Lanes 0…7 of `a` and `b` interleaved (a0 b0 a1 b1 …), and lanes 8…15 (x86 `vpermt2ps`, NEON `zip1`/`zip2`): two
/// columns of a stride-2 write-out side by side.
static inline fftconv_f16 fftconv_zip_lo16(fftconv_f16 a, fftconv_f16 b) {
    return __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}
static inline fftconv_f16 fftconv_zip_hi16(fftconv_f16 a, fftconv_f16 b) {
    return __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}

/// `v` with lanes `n` … 15 set to `fill` (a row's last vector, the lanes past the row's end).
static inline fftconv_f16 fftconv_fill_from16(fftconv_f16 v, long n, float fill) {
    const fftconv_i16 iota = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    fftconv_i16 inside = iota < (int)n;
    fftconv_f16 f = (fftconv_f16)fill;
    return (fftconv_f16)((inside & (fftconv_i16)v) | (~inside & (fftconv_i16)f));
}

/// Splits row `y` of a `height × width` plane into `M` phases of `pl` floats (`pl` a multiple of 16):
/// `phases[s·pl + q] = row[M·q + s − padLeft]`, zero outside the plane — by blocks of `M` vectors, each read
/// straight from the plane (`fftconv_split4row…`/`fftconv_split6row…`, the lanes outside the row cleared), a block
/// with no column of the row stored as zeros, and one that would read outside the plane (the left padding of its
/// first row, the end of its last) copied through `work` (`M · 16` floats), zero-padded. In C because the same loop
/// in Swift measured 1–2% slower on F(6×6) on 28² (its caller: `WinogradKernels.splitRow`).
#define FFTCONV_SPLIT_ROW(M)                                                                                        \
static inline void fftconv_split_row##M(const float *plane, long y, long height, long width, long padLeft,         \
                                        float *phases, long pl, float *work) {                                    \
    const long lanes = fftconv_build_has_wide_registers() ? 16 : 8, block = M * lanes;                           \
    if (y < 0 || y >= height) {                                                                                   \
        __builtin_memset(phases, 0, sizeof(float) * M * pl);                                                      \
        return;                                                                                                   \
    }                                                                                                             \
    const float *row = plane + y * width;                                                                         \
    const long rowOffset = y * width, planeSize = height * width;                                                 \
    for (long q = 0; q < pl; q += lanes) {                                                                        \
        const long col = M * q - padLeft;                                                                         \
        float *dst = phases + q;                                                                                  \
        const float *from = row;                                                                                  \
        long at = col, limit = width;                                                                             \
        if (col >= width || col + block <= 0) {                                                                   \
            for (int s = 0; s < M; s++) __builtin_memset(dst + s * pl, 0, sizeof(float) * lanes);                 \
            continue;                                                                                             \
        }                                                                                                         \
        if (rowOffset + col < 0 || rowOffset + col + block > planeSize) {                                         \
            const long lo = col > 0 ? col : 0, hi = col + block < width ? col + block : width;                    \
            __builtin_memset(work, 0, sizeof(float) * block);                                                     \
            __builtin_memcpy(work + (lo - col), row + lo, sizeof(float) * (hi - lo));                             \
            from = work; at = 0; limit = block;                                                                   \
        }                                                                                                         \
        if (lanes == 16) fftconv_split##M##row16(from, at, limit, dst, pl);                                       \
        else fftconv_split##M##row8(from, at, limit, dst, pl);                                                    \
    }                                                                                                             \
}
FFTCONV_SPLIT_ROW(4)
FFTCONV_SPLIT_ROW(6)
#undef FFTCONV_SPLIT_ROW

#endif
