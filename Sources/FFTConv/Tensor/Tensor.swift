import Foundation

/// A dense float32 tensor in row-major (C) order; four-dimensional tensors are NCHW.
///
/// `Tensor` is a value type: copies share storage until one of them is written to. The storage is aligned
/// to 64 bytes, so kernels and FFTW can use it directly.
public struct Tensor: @unchecked Sendable {
    /// The dimensions, outermost first (`[N, C, H, W]` for images).
    public let shape: [Int]
    var storage: AlignedBuffer

    /// The number of elements a tensor of `shape` holds, or a typed error when a dimension is negative or
    /// the count (in bytes) overflows `Int`.
    public static func elementCount(of shape: [Int]) throws -> Int {
        if shape.contains(where: { $0 < 0 }) { throw TensorError.negativeDimension(shape: shape) }
        var count = 1
        for d in shape {
            let (p, o) = count.multipliedReportingOverflow(by: d)
            if o { throw TensorError.elementCountOverflow(shape: shape) }
            count = p
        }
        // The byte size must fit too.
        if count.multipliedReportingOverflow(by: 64).overflow { throw TensorError.elementCountOverflow(shape: shape) }
        return count
    }

    /// `elementCount(of:)` for a tensor about to be allocated: also a typed error when its bytes are more than the
    /// machine's physical memory, where the allocator would trap (an absurd padding given to a layer, a corrupt
    /// `.npy` header's shape).
    static func allocatableCount(of shape: [Int]) throws -> Int {
        let count = try elementCount(of: shape)
        if count * 4 > physicalMemoryBytes { throw TensorError.exceedsMemory(shape: shape, bytes: count * 4, memoryBytes: physicalMemoryBytes) }
        return count
    }

    /// This machine's physical memory in bytes (Foundation's figure, read once).
    static let physicalMemoryBytes = Int(clamping: ProcessInfo.processInfo.physicalMemory)

    /// A tensor of `shape` filled with zeros.
    public init(zeros shape: [Int]) throws {
        let count = try Self.allocatableCount(of: shape)
        self.shape = shape
        self.storage = AlignedBuffer(count: count)
    }

    /// A zeroed tensor of `shape`, zeroed by `threads` workers in 64 KB pieces when it is 256 KB or more: a
    /// 2-thread layer whose output the calling thread zeroed alone kept its helper waiting (MobileNetV2 at 2
    /// threads, 6 alternated rounds: 2.36–2.45 → 2.18–2.35 ms).
    init(zeros shape: [Int], threads: Int) throws {
        let count = try Self.allocatableCount(of: shape)
        self.shape = shape
        self.storage = AlignedBuffer(uninitializedCount: count)
        let y = storage.pointer, piece = 16384
        Parallel.forEachRange(count: (count + piece - 1) / piece, threads: count >= 1 << 16 ? threads : 1) { _, pieces in
            let lo = pieces.lowerBound * piece, hi = Swift.min(count, pieces.upperBound * piece)
            (y + lo).update(repeating: 0, count: hi - lo)
        }
    }

    /// A tensor of `shape` whose elements are unspecified, for an output its producer overwrites entirely.
    init(uninitialized shape: [Int]) throws {
        let count = try Self.allocatableCount(of: shape)
        self.shape = shape
        self.storage = AlignedBuffer(uninitializedCount: count)
        if BufferCache.fillsUnzeroedTensorsWithNaN { storage.pointer.initialize(repeating: .nan, count: count) }
    }

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Float) throws {
        try self.init(zeros: shape)
        storage.pointer.update(repeating: value, count: count)
    }

    /// A tensor of `shape` holding `values` in row-major order; `values.count` must equal the element count.
    public init(shape: [Int], values: [Float]) throws {
        let count = try Self.allocatableCount(of: shape)
        guard values.count == count else {
            throw TensorError.valueCountMismatch(shape: shape, expected: count, actual: values.count)
        }
        self.shape = shape
        self.storage = AlignedBuffer(count: count)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { storage.pointer.update(from: base, count: count) }
        }
    }

    /// A tensor of `shape` whose elements are the little-endian IEEE float32 values in `bytes` (row-major), as
    /// ONNX `raw_data` and `.npy` files hold them; `bytes.count` must be 4 × the element count. One copy.
    public init(shape: [Int], littleEndianBytes bytes: UnsafeRawBufferPointer) throws {
        let count = try Self.allocatableCount(of: shape)
        guard bytes.count == count * 4 else {
            throw TensorError.valueCountMismatch(shape: shape, expected: count, actual: bytes.count / 4)
        }
        self.shape = shape
        #if _endian(little)
        self.storage = AlignedBuffer(count: count, copying: bytes)
        #else
        self.storage = AlignedBuffer(count: count)
        for i in 0..<count { storage.pointer[i] = Float(bitPattern: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian) }
        #endif
    }

    /// A tensor of `shape` whose element at flat index `i` is `body(i)`.
    public init(shape: [Int], generator body: (Int) throws -> Float) throws {
        try self.init(zeros: shape)
        for i in 0..<count { storage.pointer[i] = try body(i) }
    }

    /// The number of elements.
    public var count: Int { storage.count }

    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// The elements in row-major order.
    public var scalars: [Float] {
        withUnsafeBufferPointer { Array($0) }
    }

    /// Calls `body` with the elements, read-only.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// Calls `body` with the elements, writable; copies the storage first if another tensor shares it.
    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// The element at a multi-dimensional index (one index per dimension); `nil` when the index is out of range.
    public subscript(checked index: Int...) -> Float? {
        guard let flat = flatIndex(index) else { return nil }
        return storage.pointer[flat]
    }

    func flatIndex(_ index: [Int]) -> Int? {
        guard index.count == shape.count else { return nil }
        var flat = 0
        for (i, d) in zip(index, shape) {
            guard i >= 0 && i < d else { return nil }
            flat = flat * d + i
        }
        return flat
    }

    /// The largest absolute value of the elements (0 for an empty tensor).
    public var maxAbsolute: Float {
        withUnsafeBufferPointer { $0.reduce(0) { Swift.max($0, Swift.abs($1)) } }
    }

    /// `max |self - other|` over all elements, or `nil` when the shapes differ.
    public func maxAbsoluteDifference(_ other: Tensor) -> Float? {
        guard shape == other.shape else { return nil }
        return withUnsafeBufferPointer { a in
            other.withUnsafeBufferPointer { b in
                var m: Float = 0
                for i in 0..<a.count {
                    let d = Swift.abs(a[i] - b[i])
                    if d > m || d.isNaN { m = d.isNaN ? .infinity : d }
                }
                return m
            }
        }
    }
}

extension Tensor: Equatable {
    /// Same shape and the same bits in every element.
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        guard lhs.shape == rhs.shape else { return false }
        let a = lhs.storage.pointer, b = rhs.storage.pointer
        for i in 0..<lhs.count where a[i].bitPattern != b[i].bitPattern { return false }
        return true
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "Tensor(shape: \(shape))" }
}

extension Tensor {
    /// A 1-D tensor over existing storage (no copy).
    init(unsafeStorage storage: AlignedBuffer) {
        self.shape = [storage.count]
        self.storage = storage
    }

    /// The same elements under another shape with the same element count, sharing storage (no copy).
    init(reshaping t: Tensor, to shape: [Int]) {
        self.shape = shape
        self.storage = t.storage
    }
}
