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

#endif
