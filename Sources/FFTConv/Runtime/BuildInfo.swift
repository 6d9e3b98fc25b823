import Foundation
import CFFTConvShim

/// How this copy of FFTConv was compiled, and whether that suits the CPU it runs on.
///
/// Swift's SIMD code becomes vector fused multiply-adds only when the compiler targets the CPU
/// (`-march=native` on x86-64, set by the package manifest unless `FFTCONV_PORTABLE=1`). A build for
/// baseline x86-64 still computes correct results, a few hundred times slower in the kernels; `warning`
/// says so.
public enum BuildInfo {
    /// Instruction-set extensions, as names.
    public struct ISA: OptionSet, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        /// SSE2 (x86-64 baseline).
        public static let sse2 = ISA(rawValue: Int32(FFTCONV_ISA_SSE2))
        /// AVX.
        public static let avx = ISA(rawValue: Int32(FFTCONV_ISA_AVX))
        /// AVX2.
        public static let avx2 = ISA(rawValue: Int32(FFTCONV_ISA_AVX2))
        /// Fused multiply-add.
        public static let fma = ISA(rawValue: Int32(FFTCONV_ISA_FMA))
        /// AVX-512 Foundation.
        public static let avx512f = ISA(rawValue: Int32(FFTCONV_ISA_AVX512F))
        /// ARM NEON (Advanced SIMD).
        public static let neon = ISA(rawValue: Int32(FFTCONV_ISA_NEON))

        public var description: String {
            let names: [(ISA, String)] = [(.sse2, "sse2"), (.avx, "avx"), (.avx2, "avx2"), (.fma, "fma"),
                                          (.avx512f, "avx512f"), (.neon, "neon")]
            let s = names.filter { contains($0.0) }.map(\.1)
            return s.isEmpty ? "none" : s.joined(separator: "+")
        }
    }

    /// The architecture the package was compiled for.
    public static var architecture: String { String(cString: fftconv_build_arch()) }

    /// The extensions the package was compiled to use.
    public static var compiledFor: ISA { ISA(rawValue: fftconv_build_isa()) }

    /// The CPU's model name (Linux: `model name` in /proc/cpuinfo), or the architecture when unknown.
    public static let cpuModel: String = {
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("model name") || line.hasPrefix("Model") {
                if let colon = line.firstIndex(of: ":") {
                    let name = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                    if !name.isEmpty { return name }
                }
            }
        }
        return architecture
    }()

    /// The extensions the running CPU offers.
    public static var cpuSupports: ISA { ISA(rawValue: fftconv_cpu_isa()) }

    /// A warning when the build leaves the CPU's vector FMA unused, `nil` when the build fits the CPU.
    public static var warning: String? {
        let built = compiledFor, cpu = cpuSupports
        if cpu.contains(.fma) && !built.contains(.fma) {
            return "FFTConv was built without FMA (\(built)) but this CPU has \(cpu): kernels run far below speed. "
                + "Build with -march=native (the default unless FFTCONV_PORTABLE=1), or pass -Xcc -march=native."
        }
        return nil
    }
}
