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

    /// The running x86 CPU as cpuid names it: vendor, display family and model.
    public struct CPUIdentity: Sendable, Hashable, CustomStringConvertible {
        /// "AMD", "Intel" or "other".
        public let vendor: String
        /// The display family (base family plus extended family), e.g. 25 (0x19) for AMD Zen 3 and Zen 4, 26 for Zen 5.
        public let family: Int
        /// The display model (base model plus extended model).
        public let model: Int
        public var description: String { "\(vendor) family \(family) model \(model)" }
    }

    /// The running CPU's cpuid identity on x86, nil on other architectures.
    public static let cpuIdentity: CPUIdentity? = {
        var vendor: Int32 = 0, family: Int32 = 0, model: Int32 = 0
        guard fftconv_cpu_x86_identity(&vendor, &family, &model) != 0 else { return nil }
        let name = vendor == Int32(FFTCONV_VENDOR_AMD) ? "AMD" : vendor == Int32(FFTCONV_VENDOR_INTEL) ? "Intel" : "other"
        return CPUIdentity(vendor: name, family: Int(family), model: Int(model))
    }()

    /// The model name with the cpuid identity (a virtual machine may name two generations alike, "AMD EPYC"):
    /// part of every tuning file key, so choices measured on one core are not replayed on another.
    public static let cpuName: String = cpuIdentity.map { "\(cpuModel) (\($0))" } ?? cpuModel

    /// Whether the running CPU and this build execute 512-bit vector FMAs as two 256-bit halves: an AVX-512 build
    /// on AMD family 25 (Zen 4; Zen 3, the same family, has no AVX-512). There one FMA of 16 floats retires per cycle
    /// and the kernels are bound by it; on full-width cores (Zen 5, Intel server cores) two do, and the loads
    /// that feed them count as much — rules measured on one kind of core that trade one for the other ask this.
    public static let cpuSplitsWideVectors: Bool = {
        guard compiledFor.contains(.avx512f), cpuSupports.contains(.avx512f), let id = cpuIdentity else { return false }
        return id.vendor == "AMD" && id.family == 0x19
    }()

    /// Whether the running CPU is an Intel x86 core (cpuid's vendor). The one Intel core measured here (Xeon, family 6
    /// model 207, thirty-eighth session) streams memory at half the per-core rate of the Zen 5 cores the rules were
    /// measured on (`fftconv-bench fc 9216 4096`: 16–17 GB/s at 1 thread against 30–34), so rules that trade
    /// arithmetic for more prepared weights read per call ask this.
    public static let cpuIsIntel: Bool = cpuIdentity?.vendor == "Intel"

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
