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

/// Architecture name the package was compiled for, e.g. "x86_64" or "aarch64".
const char *fftconv_build_arch(void);

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

#endif
