import CFFTConvShim

/// Facts about the instruction set this module was compiled for that choose between two forms of a kernel.
public enum KernelTarget {
    /// Whether this build has 16-float registers (AVX-512). A 32-float even/odd split (`SIMD32.evenHalf`) is two
    /// permutes there; on an 8-lane AVX2 build it is a longer shuffle sequence, and the kernels that use it
    /// measured slower there than their 8-lane forms (3x3 stride-2 max pool 0.140 → 0.161 ms; stride-2 column
    /// split 0.055 → 0.057 ms on a 144×56² depthwise layer), so they keep the 8-lane forms on other builds.
    /// A constant the compiler folds (no lazy-global check where a kernel asks it per row).
    @inlinable
    public static var wideRegisters: Bool { fftconv_build_has_wide_registers() != 0 }
}
