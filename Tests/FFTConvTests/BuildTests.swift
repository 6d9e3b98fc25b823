import FFTConv
import XCTest

final class BuildTests: XCTestCase {
    /// The package must target the CPU it is built on (vector FMA), or the kernels run far below speed.
    func testBuildUsesTheCPUsFusedMultiplyAdd() {
        XCTAssertNil(BuildInfo.warning, "compiled for \(BuildInfo.compiledFor), CPU has \(BuildInfo.cpuSupports)")
        if BuildInfo.cpuSupports.contains(.fma) { XCTAssert(BuildInfo.compiledFor.contains(.fma)) }
    }
}

extension BuildTests {
    /// On x86 Linux the cpuid identity agrees with what the kernel reports in /proc/cpuinfo (`vendor_id`, `cpu family`,
    /// `model`), and the tuning key's CPU name carries it; elsewhere there is none.
    func testCPUIdentityMatchesProcCPUInfo() throws {
        #if arch(x86_64) && os(Linux)
        let id = try XCTUnwrap(BuildInfo.cpuIdentity)
        let text = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        func field(_ name: String) -> String? {
            text.split(separator: "\n").map { $0.split(separator: ":", maxSplits: 1) }
                .first { $0.count == 2 && $0[0].trimmingCharacters(in: .whitespaces) == name }
                .map { $0[1].trimmingCharacters(in: .whitespaces) }
        }
        XCTAssertEqual(id.family, Int(try XCTUnwrap(field("cpu family"))))
        XCTAssertEqual(id.model, Int(try XCTUnwrap(field("model"))))
        let vendor = try XCTUnwrap(field("vendor_id"))
        XCTAssertEqual(id.vendor, vendor == "AuthenticAMD" ? "AMD" : vendor == "GenuineIntel" ? "Intel" : "other")
        XCTAssert(BuildInfo.cpuName.contains(id.description), BuildInfo.cpuName)
        XCTAssertEqual(BuildInfo.cpuSplitsWideVectors, id.vendor == "AMD" && id.family == 25 && BuildInfo.compiledFor.contains(.avx512f))
        XCTAssertEqual(BuildInfo.cpuIsIntel, vendor == "GenuineIntel")
        #else
        XCTAssertNil(BuildInfo.cpuIdentity)
        XCTAssertFalse(BuildInfo.cpuSplitsWideVectors)
        XCTAssertFalse(BuildInfo.cpuIsIntel)
        #endif
    }
}
