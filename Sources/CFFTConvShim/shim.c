#include "fftconv_shim.h"

int fftconv_build_isa(void) {
    int isa = 0;
#if defined(__SSE2__)
    isa |= FFTCONV_ISA_SSE2;
#endif
#if defined(__AVX__)
    isa |= FFTCONV_ISA_AVX;
#endif
#if defined(__AVX2__)
    isa |= FFTCONV_ISA_AVX2;
#endif
#if defined(__FMA__)
    isa |= FFTCONV_ISA_FMA;
#endif
#if defined(__AVX512F__)
    isa |= FFTCONV_ISA_AVX512F;
#endif
#if defined(__ARM_NEON) || defined(__aarch64__)
    isa |= FFTCONV_ISA_NEON | FFTCONV_ISA_FMA;
#endif
    return isa;
}

int fftconv_cpu_isa(void) {
    int isa = 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse2")) isa |= FFTCONV_ISA_SSE2;
    if (__builtin_cpu_supports("avx")) isa |= FFTCONV_ISA_AVX;
    if (__builtin_cpu_supports("avx2")) isa |= FFTCONV_ISA_AVX2;
    if (__builtin_cpu_supports("fma")) isa |= FFTCONV_ISA_FMA;
    if (__builtin_cpu_supports("avx512f")) isa |= FFTCONV_ISA_AVX512F;
#elif defined(__aarch64__)
    isa |= FFTCONV_ISA_NEON | FFTCONV_ISA_FMA;
#endif
    return isa;
}

const char *fftconv_build_arch(void) {
#if defined(__x86_64__)
    return "x86_64";
#elif defined(__aarch64__)
    return "aarch64";
#elif defined(__arm__)
    return "arm";
#else
    return "unknown";
#endif
}
