import FFTConv
import Foundation

/// Conversion of ONNX `TensorProto`s (initializers, Constant values) into float tensors.
enum ONNXTensor {
    /// The largest initializer accepted (refused before allocating).
    static let maxBytes = 8 << 30

    /// `rawData`: the tensor's raw_data when it was read from the model's bytes instead of decoded into `t`.
    static func convert(_ t: Onnx_TensorProto, directory: String?, rawData: Data? = nil) throws -> Tensor {
        let name = t.name
        let shape = t.dims.map { Int($0) }
        let count: Int
        do { count = try Tensor.elementCount(of: shape) } catch { throw ONNXError.invalidTensor(name: name, reason: "\(error)") }
        guard count * 4 <= maxBytes else { throw ONNXError.invalidTensor(name: name, reason: "\(count) elements is over the \(maxBytes >> 30) GB limit") }
        if t.hasSegment { throw ONNXError.invalidTensor(name: name, reason: "segmented tensors are not supported") }
        var raw = rawData ?? t.rawData
        if t.dataLocation == .external {
            raw = try external(t, directory: directory)
        }
        let type = Onnx_TensorProto.DataType(rawValue: Int(t.dataType)) ?? .undefined
        func fromRaw<T>(_ size: Int, _ convert: (UnsafeRawBufferPointer, Int) -> Float, _: T.Type) throws -> [Float] {
            guard raw.count == count * size else {
                throw ONNXError.invalidTensor(name: name, reason: "raw data has \(raw.count) bytes, shape \(shape) of \(type) needs \(count * size)")
            }
            return raw.withUnsafeBytes { p in (0..<count).map { convert(p, $0 * size) } }
        }
        func check(_ n: Int) throws {
            guard n == count else { throw ONNXError.invalidTensor(name: name, reason: "has \(n) values, shape \(shape) needs \(count)") }
        }
        let values: [Float]
        switch type {
        case .float:
            if raw.isEmpty { try check(t.floatData.count); values = t.floatData } else {
                // The common case (every weight of a PyTorch export): copy the little-endian bytes straight in.
                guard raw.count == count * 4 else {
                    throw ONNXError.invalidTensor(name: name, reason: "raw data has \(raw.count) bytes, shape \(shape) of float needs \(count * 4)")
                }
                return try raw.withUnsafeBytes { try Tensor(shape: shape, littleEndianBytes: $0) }
            }
        case .double:
            if raw.isEmpty { try check(t.doubleData.count); values = t.doubleData.map(Float.init) } else {
                values = try fromRaw(8, { p, o in Float(Double(bitPattern: p.loadUnaligned(fromByteOffset: o, as: UInt64.self).littleEndian)) }, Double.self)
            }
        case .int64:
            if raw.isEmpty { try check(t.int64Data.count); values = t.int64Data.map(clampToFloat) } else {
                values = try fromRaw(8, { p, o in clampToFloat(Int64(littleEndian: p.loadUnaligned(fromByteOffset: o, as: Int64.self))) }, Int64.self)
            }
        case .int32, .int16, .int8, .uint8, .uint16, .bool:
            let size: Int = [.int32: 4, .int16: 2, .uint16: 2][type] ?? 1
            if raw.isEmpty { try check(t.int32Data.count); values = t.int32Data.map(Float.init) } else {
                values = try fromRaw(size, { p, o in
                    switch type {
                    case .int32: return Float(Int32(littleEndian: p.loadUnaligned(fromByteOffset: o, as: Int32.self)))
                    case .int16: return Float(Int16(littleEndian: p.loadUnaligned(fromByteOffset: o, as: Int16.self)))
                    case .uint16: return Float(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: o, as: UInt16.self)))
                    case .int8: return Float(p.load(fromByteOffset: o, as: Int8.self))
                    default: return Float(p.load(fromByteOffset: o, as: UInt8.self))
                    }
                }, UInt8.self)
            }
        case .float16:
            if raw.isEmpty { try check(t.int32Data.count); values = t.int32Data.map { halfToFloat(UInt16(truncatingIfNeeded: $0)) } } else {
                values = try fromRaw(2, { p, o in halfToFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: o, as: UInt16.self))) }, UInt16.self)
            }
        default:
            throw ONNXError.invalidTensor(name: name, reason: "element type \(type) is not supported")
        }
        return try Tensor(shape: shape, values: values)
    }

    static func clampToFloat(_ v: Int64) -> Float {
        // Shape tensors use INT64_MAX/MIN as "to the end" in Slice-like ops; keep them huge but finite.
        Float(Swift.max(Swift.min(v, Int64(1) << 40), -(Int64(1) << 40)))
    }

    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h >> 15) << 31, exp = Int((h >> 10) & 0x1F), mant = UInt32(h & 0x3FF)
        if exp == 0 {  // zero and subnormals: mant · 2^-24
            let v = Float(mant) * 0x1p-24
            return sign != 0 ? -v : v
        }
        if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
        return Float(bitPattern: sign | UInt32(exp + 112) << 23 | mant << 13)
    }

    /// Reads the bytes of an externally stored tensor (`location`, `offset`, `length`), relative to the model.
    static func external(_ t: Onnx_TensorProto, directory: String?) throws -> Data {
        var info: [String: String] = [:]
        for e in t.externalData { info[e.key] = e.value }
        guard let location = info["location"], !location.isEmpty else {
            throw ONNXError.invalidTensor(name: t.name, reason: "external data without a location")
        }
        guard let directory else {
            throw ONNXError.invalidTensor(name: t.name, reason: "external data '\(location)' needs the model's directory (load from a file)")
        }
        guard !location.hasPrefix("/"), !location.split(separator: "/").contains("..") else {
            throw ONNXError.invalidTensor(name: t.name, reason: "external data location '\(location)' must stay inside the model's directory")
        }
        let path = (directory as NSString).appendingPathComponent(location)
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ONNXError.invalidTensor(name: t.name, reason: "cannot open external data file \(path)")
        }
        defer { try? handle.close() }
        let offset = UInt64(info["offset"].flatMap { UInt64($0) } ?? 0)
        do {
            try handle.seek(toOffset: offset)
            let data: Data
            if let l = info["length"].flatMap({ Int($0) }) {
                data = try handle.read(upToCount: l) ?? Data()
                guard data.count == l else { throw ONNXError.invalidTensor(name: t.name, reason: "external data file \(path) ends early") }
            } else {
                data = try handle.readToEnd() ?? Data()
            }
            return data
        } catch let e as ONNXError { throw e } catch {
            throw ONNXError.invalidTensor(name: t.name, reason: "reading \(path): \(error.localizedDescription)")
        }
    }
}
