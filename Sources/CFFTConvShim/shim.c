#include "fftconv_shim.h"
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <string.h>
#endif

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

int fftconv_cpu_x86_identity(int *vendor, int *family, int *model) {
    *vendor = FFTCONV_VENDOR_OTHER; *family = 0; *model = 0;
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    char name[13];
    memcpy(name, &b, 4); memcpy(name + 4, &d, 4); memcpy(name + 8, &c, 4); name[12] = 0;
    if (strcmp(name, "AuthenticAMD") == 0) *vendor = FFTCONV_VENDOR_AMD;
    else if (strcmp(name, "GenuineIntel") == 0) *vendor = FFTCONV_VENDOR_INTEL;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    unsigned base = (a >> 8) & 0xF, baseModel = (a >> 4) & 0xF;
    *family = (int)(base == 0xF ? base + ((a >> 20) & 0xFF) : base);
    *model = (int)(base == 0xF || base == 0x6 ? baseModel | (((a >> 16) & 0xF) << 4) : baseModel);
    return 1;
#else
    return 0;
#endif
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

static _Thread_local int serial_depth;

int fftconv_serial_depth(void) { return serial_depth; }

void fftconv_set_serial_depth(int depth) { serial_depth = depth; }
