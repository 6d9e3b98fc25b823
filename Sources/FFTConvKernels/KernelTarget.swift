import CFFTConvShim

/// Facts about the instruction set this module was compiled for that choose between two forms of a kernel.
public enum KernelTarget {
    /// Whether this build has 16-float registers (AVX-512). A 32-float even/odd split (`fftconv_even32`) is two
    /// permutes there; on an 8-lane AVX2 build it is a longer shuffle sequence, and the kernels that use it
    /// measured no faster there than their 8-lane forms (fifth session, AVX2 build with this forced on: 3x3
    /// stride-2 max pool on 64×111² 0.076 → 0.080 ms, 128×55² and a 144×56² stride-2 depthwise layer equal),
    /// so they keep the 8-lane forms on other builds. A constant the compiler folds (no lazy-global check where
    /// a kernel asks it per row).
    @inlinable
    public static var wideRegisters: Bool { fftconv_build_has_wide_registers() != 0 }
}
