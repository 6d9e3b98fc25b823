import FFTConv
import XCTest

final class BuildTests: XCTestCase {
    /// The package must target the CPU it is built on (vector FMA), or the kernels run far below speed.
    func testBuildUsesTheCPUsFusedMultiplyAdd() {
        XCTAssertNil(BuildInfo.warning, "compiled for \(BuildInfo.compiledFor), CPU has \(BuildInfo.cpuSupports)")
        if BuildInfo.cpuSupports.contains(.fma) { XCTAssert(BuildInfo.compiledFor.contains(.fma)) }
    }
}
