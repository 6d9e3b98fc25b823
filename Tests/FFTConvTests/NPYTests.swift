import FFTConv
import Foundation
import XCTest

final class NPYTests: XCTestCase {
    /// Builds a .npy image by hand, so the reader is tested on bytes it did not write itself.
    static func npy(version: (UInt8, UInt8) = (1, 0), header: String, payload: [UInt8], padTo64: Bool = true) -> Data {
        var h = Array(header.utf8)
        let prefix = version.0 == 1 ? 10 : 12
        if padTo64 {
            while (prefix + h.count + 1) % 64 != 0 { h.append(0x20) }
            h.append(0x0A)
        }
        var out: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version.0, version.1]
        let n = h.count
        out += version.0 == 1 ? [UInt8(n & 0xFF), UInt8(n >> 8)] : [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 24)]
        return Data(out + h + payload)
    }

    static func floats(_ v: [Float]) -> [UInt8] {
        v.flatMap { f -> [UInt8] in let b = f.bitPattern; return [UInt8(b & 0xFF), UInt8(b >> 8 & 0xFF), UInt8(b >> 16 & 0xFF), UInt8(b >> 24)] }
    }

    func testRoundTripsKeepShapeAndBits() throws {
        var rng = SeededGenerator(seed: 5)
        for shape in [[], [1], [7], [2, 3], [1, 3, 5, 4], [2, 1, 1, 1, 3]] as [[Int]] {
            var t = try Tensor.random(shape: shape, using: &rng)
            if t.count > 0 { t.withUnsafeMutableBufferPointer { $0[0] = -.infinity } }
            let back = try Tensor(npy: t.npyData())
            XCTAssertEqual(back.shape, shape)
            XCTAssertEqual(back, t)
        }
        // Through a file too.
        let t = try Tensor(shape: [2, 2], values: [1, -2, 3.5, 0])
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fftconv-\(UUID()).npy").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try t.writeNPY(to: path)
        XCTAssertEqual(try Tensor(contentsOfNPY: path), t)
    }

    func testWrittenHeaderIsWhatNumPyWrites() throws {
        let data = try Tensor(shape: [1, 3], values: [1, 2, 3]).npyData()
        let header = String(decoding: data[10..<(10 + Int(data[8]) + Int(data[9]) << 8)], as: UTF8.self)
        XCTAssert(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }"), header)
        XCTAssertEqual((10 + header.utf8.count) % 64, 0)
        XCTAssertEqual(data.count, 128 + 12)  // 10 + 60-byte dict + newline, padded to 128
    }

    func testReadsVersions1_2_3AndOneDimensionalAndScalarShapes() throws {
        for version: (UInt8, UInt8) in [(1, 0), (2, 0), (3, 0)] {
            let t = try Tensor(npy: Self.npy(version: version, header: "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
                                             payload: Self.floats([1, 2, 3])))
            XCTAssertEqual(t.shape, [3])
            XCTAssertEqual(t.scalars, [1, 2, 3])
        }
        let scalar = try Tensor(npy: Self.npy(header: "{\"shape\": (), \"fortran_order\": False, \"descr\": \"<f4\"}",
                                              payload: Self.floats([42]), padTo64: false))
        XCTAssertEqual(scalar.shape, [])
        XCTAssertEqual(scalar.scalars, [42])
    }

    func testErrors() {
        let good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
        let payload = Self.floats([1, 2])
        func expect(_ data: Data, _ expected: NPYError, line: UInt = #line) {
            XCTAssertThrowsError(try Tensor(npy: data), line: line) { XCTAssertEqual($0 as? NPYError, expected, line: line) }
        }
        expect(Data("PK\u{3}\u{4}not an npy".utf8), .notNPY)
        expect(Data(), .notNPY)
        expect(Data([0x93, 0x4E, 0x55]), .truncatedHeader(expectedBytes: 10, actualBytes: 3))
        expect(Self.npy(version: (4, 0), header: good, payload: payload), .unsupportedVersion(major: 4, minor: 0))
        expect(Self.npy(header: good.replacingOccurrences(of: "<f4", with: "<f8"), payload: payload), .unsupportedDType("<f8"))
        expect(Self.npy(header: good.replacingOccurrences(of: "<f4", with: ">f4"), payload: payload), .unsupportedDType(">f4"))
        expect(Self.npy(header: good.replacingOccurrences(of: "False", with: "True"), payload: payload), .fortranOrder)
        expect(Self.npy(header: good, payload: Array(payload.prefix(5))), .truncatedData(expectedBytes: 8, actualBytes: 5))
        expect(Self.npy(header: good, payload: payload + [0]), .trailingData(expectedBytes: 8, actualBytes: 9))
        expect(Self.npy(header: good.replacingOccurrences(of: "(2,)", with: "(-2,)"), payload: payload),
               .invalidShape(.negativeDimension(shape: [-2])))
        expect(Self.npy(header: good.replacingOccurrences(of: "(2,)", with: "(4294967296, 4294967296)"), payload: payload),
               .invalidShape(.elementCountOverflow(shape: [4294967296, 4294967296])))
        // A header length field promising more bytes than the file has.
        var lying = [UInt8](Self.npy(header: good, payload: payload))
        lying[8] = 0xFF; lying[9] = 0x7F
        expect(Data(lying), .truncatedHeader(expectedBytes: 10 + 0x7FFF, actualBytes: lying.count))
        for bad in ["{'descr': '<f4', 'shape': (2,), }", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,a), }",
                    "['descr']", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } trailing"] {
            XCTAssertThrowsError(try Tensor(npy: Self.npy(header: bad, payload: payload))) { error in
                guard case .malformedHeader? = error as? NPYError else { return XCTFail("\(bad): \(error)") }
            }
        }
        XCTAssertThrowsError(try Tensor(contentsOfNPY: "/nonexistent/x.npy")) { error in
            guard case .io? = error as? NPYError else { return XCTFail("\(error)") }
        }
    }

    func testTensorFromLittleEndianBytes() throws {
        let values: [Float] = [1.5, -2, .infinity, 0x1p-140, 3]
        let bytes = values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
        let t = try bytes.withUnsafeBytes { try Tensor(shape: [5], littleEndianBytes: $0) }
        XCTAssertEqual(t.scalars.map(\.bitPattern), values.map(\.bitPattern))
        XCTAssertThrowsError(try bytes.dropLast().withUnsafeBytes { try Tensor(shape: [5], littleEndianBytes: $0) }) { error in
            guard case .valueCountMismatch? = error as? TensorError else { return XCTFail("\(error)") }
        }
        let empty = try [UInt8]().withUnsafeBytes { try Tensor(shape: [2, 0], littleEndianBytes: $0) }
        XCTAssertEqual(empty.shape, [2, 0])
    }
}
