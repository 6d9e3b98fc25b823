import Foundation

/// Initializer payloads without a copy: swift-protobuf copies every `bytes` field it decodes, which for a
/// model's weights (`TensorProto.raw_data` of `ModelProto.graph.initializer`, 550 MB for VGG16) would be a
/// second copy of the weights next to the one each tensor makes. So the wire format is walked first —
/// `ModelProto` field 7 (graph) → `GraphProto` field 5 (initializer) → `TensorProto` field 9 (raw_data) — and
/// the model is decoded from a copy of its bytes without those payloads, while each initializer's payload is
/// read later straight from the original (mapped) buffer by its byte range.
///
/// Anything the walker does not understand (a group, a truncated length) makes it give up: the caller then
/// decodes the untouched bytes and swift-protobuf reports what is wrong.
enum ONNXRawData {
    /// The model bytes without initializer payloads, and each initializer's payload range in `data` (in the
    /// order swift-protobuf lists `graph.initializer`; nil where it has none), or nil when the bytes are not
    /// the wire format the walker expects.
    static func strip(_ data: Data) -> (model: Data, payloads: [Range<Int>?])? {
        data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) -> (Data, [Range<Int>?])? in
            var payloads: [Range<Int>?] = []
            guard let model = rewrite(buffer, 0..<buffer.count, drop: { field, range, bytes in
                guard field == 7 else { return nil }
                return rewrite(bytes, range, drop: { field, range, bytes in
                    guard field == 5 else { return nil }
                    var payload: Range<Int>?
                    let tensor = rewrite(bytes, range, drop: { field, range, _ in
                        guard field == 9 else { return nil }
                        payload = range  // a repeated singular field: the last one wins, as in protobuf
                        return [UInt8]()
                    }, omitEmpty: true)
                    payloads.append(payload)
                    return tensor
                }, omitEmpty: false)
            }, omitEmpty: false) else { return nil }
            return (Data(model), payloads)
        }
    }

    /// The message in `range` with each length-delimited field for which `replace(field, payloadRange,
    /// buffer)` returns bytes re-encoded with those bytes as its payload (omitted when `omitEmpty` and they
    /// are empty); every other field is copied as it is. Nil when the message is not well formed.
    private static func rewrite(_ b: UnsafeRawBufferPointer, _ range: Range<Int>,
                                drop replace: (Int, Range<Int>, UnsafeRawBufferPointer) -> [UInt8]??,
                                omitEmpty: Bool) -> [UInt8]? {
        var out: [UInt8] = []
        var i = range.lowerBound
        while i < range.upperBound {
            let start = i
            guard let key = varint(b, &i, range.upperBound) else { return nil }
            let keyEnd = i
            let field = Int(key >> 3), wire = key & 7
            switch wire {
            case 0: guard varint(b, &i, range.upperBound) != nil else { return nil }
            case 1: i += 8
            case 5: i += 4
            case 2:
                guard let length = varint(b, &i, range.upperBound), length <= UInt64(range.upperBound - i) else { return nil }
                let payload = i..<(i + Int(length))
                i = payload.upperBound
                if let replaced = replace(field, payload, b) {
                    guard let bytes = replaced else { return nil }  // the nested message was not well formed
                    if omitEmpty && bytes.isEmpty { continue }
                    out += b[start..<keyEnd]  // the key as it was
                    appendVarint(UInt64(bytes.count), to: &out)
                    out += bytes
                    continue
                }
            default: return nil  // groups (3, 4) and unknown wire types
            }
            guard i <= range.upperBound else { return nil }
            out += b[start..<i]
        }
        return out
    }

    private static func varint(_ b: UnsafeRawBufferPointer, _ i: inout Int, _ end: Int) -> UInt64? {
        var value: UInt64 = 0, shift: UInt64 = 0
        while i < end && shift < 64 {
            let byte = b[i]
            i += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        return nil
    }

    private static func appendVarint(_ n: UInt64, to out: inout [UInt8]) {
        var v = n
        while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        out.append(UInt8(v))
    }
}
