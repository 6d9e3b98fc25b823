import Foundation

// NumPy's `.npy` format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
// magic "\x93NUMPY", version (major, minor), header length (uint16 LE for 1.0, uint32 LE for 2.0/3.0),
// an ASCII (3.0: UTF-8) Python dict literal with 'descr', 'fortran_order' and 'shape', then the raw data.

extension Tensor {
    static let npyMagic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]

    /// Reads a `.npy` image: float32, C order, little endian, format version 1.0, 2.0 or 3.0.
    /// Anything else is an `NPYError` naming what is wrong.
    public init(npy bytes: Data) throws {
        let b = [UInt8](bytes)
        let magicLength = Swift.min(b.count, 6)
        guard !b.isEmpty, Array(b[0..<magicLength]) == Array(Self.npyMagic[0..<magicLength]) else { throw NPYError.notNPY }
        guard b.count >= 8 else { throw NPYError.truncatedHeader(expectedBytes: 10, actualBytes: b.count) }
        let major = b[6], minor = b[7]
        let lengthBytes: Int
        switch (major, minor) {
        case (1, 0): lengthBytes = 2
        case (2, 0), (3, 0): lengthBytes = 4
        default: throw NPYError.unsupportedVersion(major: major, minor: minor)
        }
        let headerStart = 8 + lengthBytes
        guard b.count >= headerStart else { throw NPYError.truncatedHeader(expectedBytes: headerStart, actualBytes: b.count) }
        var headerLength = 0
        for i in (0..<lengthBytes).reversed() { headerLength = headerLength << 8 | Int(b[8 + i]) }
        let dataStart = headerStart + headerLength
        guard b.count >= dataStart else { throw NPYError.truncatedHeader(expectedBytes: dataStart, actualBytes: b.count) }
        guard let text = String(bytes: b[headerStart..<dataStart], encoding: major == 3 ? .utf8 : .ascii) else {
            throw NPYError.malformedHeader("header is not \(major == 3 ? "UTF-8" : "ASCII") text")
        }
        let header = try NPYHeader(parsing: text)
        guard header.descr == "<f4" || header.descr == "=f4" else { throw NPYError.unsupportedDType(header.descr) }
        guard !header.fortranOrder else { throw NPYError.fortranOrder }
        let count: Int
        do { count = try Tensor.allocatableCount(of: header.shape) } catch let e as TensorError { throw NPYError.invalidShape(e) }
        let expected = count * 4, actual = b.count - dataStart
        if actual < expected { throw NPYError.truncatedData(expectedBytes: expected, actualBytes: actual) }
        if actual > expected { throw NPYError.trailingData(expectedBytes: expected, actualBytes: actual) }
        self = try b.withUnsafeBytes { raw in
            try Tensor(shape: header.shape, littleEndianBytes: UnsafeRawBufferPointer(rebasing: raw[dataStart..<(dataStart + expected)]))
        }
    }

    /// Reads a `.npy` file (see `init(npy:)`).
    public init(contentsOfNPY path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw NPYError.io(path: path, reason: error.localizedDescription)
        }
        try self.init(npy: data)
    }

    /// The tensor as a `.npy` image: float32 little endian, C order, version 1.0 (2.0 when the header
    /// would not fit in 65535 bytes), header padded so the data starts at a multiple of 64 bytes.
    public func npyData() -> Data {
        let dims = shape.map(String.init).joined(separator: ", ")
        let tuple = shape.count == 1 ? "(\(dims),)" : "(\(dims))"
        var dict = Array("{'descr': '<f4', 'fortran_order': False, 'shape': \(tuple), }".utf8)
        let v2 = dict.count + 1 + 10 > 65535
        let prefix = v2 ? 12 : 10
        let total = roundUp(prefix + dict.count + 1, 64)
        dict += [UInt8](repeating: 0x20, count: total - prefix - dict.count - 1) + [0x0A]
        var out = Self.npyMagic + [v2 ? 2 : 1, 0]
        let n = dict.count
        out += v2 ? [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 24 & 0xFF)]
            : [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF)]
        out += dict
        out.reserveCapacity(out.count + count * 4)
        withUnsafeBufferPointer { values in
            for v in values {
                let bits = v.bitPattern
                out += [UInt8(bits & 0xFF), UInt8(bits >> 8 & 0xFF), UInt8(bits >> 16 & 0xFF), UInt8(bits >> 24)]
            }
        }
        return Data(out)
    }

    /// Writes the tensor as a `.npy` file (see `npyData()`).
    public func writeNPY(to path: String) throws {
        do { try npyData().write(to: URL(fileURLWithPath: path)) } catch {
            throw NPYError.io(path: path, reason: error.localizedDescription)
        }
    }
}

/// The three keys of a `.npy` header, parsed from its Python dict literal.
struct NPYHeader {
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]

    private enum Value { case string(String), bool(Bool), tuple([Int]) }

    init(parsing text: String) throws {
        var s = Substring(text)
        func skipSpace() { while let c = s.first, c == " " || c == "\n" || c == "\t" || c == "\r" { s.removeFirst() } }
        func expect(_ c: Character) throws {
            skipSpace()
            guard s.first == c else { throw NPYError.malformedHeader("expected '\(c)' at \"\(s.prefix(20))\"") }
            s.removeFirst()
        }
        func string() throws -> String {
            skipSpace()
            guard let q = s.first, q == "'" || q == "\"" else { throw NPYError.malformedHeader("expected a quoted string at \"\(s.prefix(20))\"") }
            s.removeFirst()
            guard let end = s.firstIndex(of: q) else { throw NPYError.malformedHeader("unterminated string") }
            let v = String(s[..<end])
            s = s[s.index(after: end)...]
            return v
        }
        func value() throws -> Value {
            skipSpace()
            if s.hasPrefix("True") { s.removeFirst(4); return .bool(true) }
            if s.hasPrefix("False") { s.removeFirst(5); return .bool(false) }
            if s.first == "(" {
                s.removeFirst()
                var dims: [Int] = []
                while true {
                    skipSpace()
                    if s.first == ")" { s.removeFirst(); break }
                    let digits = s.prefix { $0.isNumber || $0 == "-" || $0 == "L" }
                    guard !digits.isEmpty, let d = Int(digits.filter { $0 != "L" }) else {
                        throw NPYError.malformedHeader("expected an integer in shape at \"\(s.prefix(20))\"")
                    }
                    dims.append(d)
                    s.removeFirst(digits.count)
                    skipSpace()
                    if s.first == "," { s.removeFirst() } else if s.first != ")" {
                        throw NPYError.malformedHeader("expected ',' or ')' in shape at \"\(s.prefix(20))\"")
                    }
                }
                return .tuple(dims)
            }
            return .string(try string())
        }
        try expect("{")
        var entries: [String: Value] = [:]
        while true {
            skipSpace()
            if s.first == "}" { s.removeFirst(); break }
            let key = try string()
            try expect(":")
            entries[key] = try value()
            skipSpace()
            if s.first == "," { s.removeFirst() } else if s.first != "}" {
                throw NPYError.malformedHeader("expected ',' or '}' at \"\(s.prefix(20))\"")
            }
        }
        skipSpace()
        guard s.isEmpty else { throw NPYError.malformedHeader("unexpected text after the dictionary") }
        guard case .string(let d)? = entries["descr"] else { throw NPYError.malformedHeader("missing or non-string 'descr'") }
        guard case .bool(let f)? = entries["fortran_order"] else { throw NPYError.malformedHeader("missing or non-boolean 'fortran_order'") }
        guard case .tuple(let sh)? = entries["shape"] else { throw NPYError.malformedHeader("missing or non-tuple 'shape'") }
        descr = d
        fortranOrder = f
        shape = sh
    }
}
