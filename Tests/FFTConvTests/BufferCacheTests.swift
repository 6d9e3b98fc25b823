import FFTConv
import XCTest

/// The cache of freed tensor buffers (`BufferCache`): what it hands out again is zeroed like fresh memory, and
/// it never holds more than its capacity.
final class BufferCacheTests: XCTestCase {
    func testRecycledBufferIsZeroedLikeAFreshOne() throws {
        BufferCache.purge()
        let shape = [1, 16, 64, 64]  // 256 KB: above the cache's minimum size
        let bytes = 16 * 64 * 64 * 4
        XCTAssertGreaterThanOrEqual(bytes, BufferCache.minimumBytes)
        do {
            let filled = try Tensor(shape: shape, repeating: .nan)
            XCTAssertTrue(filled.scalars.allSatisfy(\.isNaN))
        }
        XCTAssertEqual(BufferCache.cachedBytes, bytes, "the freed buffer is kept")
        // The most recently freed block of this size is the one handed out: it held NaN.
        let zeros = try Tensor(zeros: shape)
        XCTAssertEqual(BufferCache.cachedBytes, 0, "the kept buffer was taken")
        XCTAssertTrue(zeros.scalars.allSatisfy { $0 == 0 && $0.sign == .plus })
        BufferCache.purge()
    }

    func testSmallerTensorReusesAFreedBlockAtMostTwiceItsSize() throws {
        BufferCache.purge()
        do { _ = try Tensor(shape: [1, 16, 64, 64], repeating: .nan) }  // 256 KB freed
        XCTAssertEqual(BufferCache.cachedBytes, 256 * 1024)
        do {
            // 100 KB: the 256 KB block would waste more than half; a fresh block is allocated.
            let small = try Tensor(zeros: [1, 1, 160, 160])
            XCTAssertEqual(BufferCache.cachedBytes, 256 * 1024)
            XCTAssertTrue(small.scalars.allSatisfy { $0 == 0 })
        }
        BufferCache.purge()
        do { _ = try Tensor(shape: [1, 16, 64, 64], repeating: .nan) }
        // 192 KB takes the 256 KB block, zeroed over its own 192 KB.
        let reused = try Tensor(zeros: [1, 12, 64, 64])
        XCTAssertEqual(BufferCache.cachedBytes, 0)
        XCTAssertTrue(reused.scalars.allSatisfy { $0 == 0 && $0.sign == .plus })
        BufferCache.purge()
    }

    func testCacheStaysWithinItsCapacityAndPurgeEmptiesIt() throws {
        BufferCache.purge()
        let megabyte = [1, 1, 512, 512]
        var held: [Tensor] = []
        let count = BufferCache.capacityBytes / (1 << 20) + 8
        for _ in 0..<count { held.append(try Tensor(zeros: megabyte)) }
        held.removeAll()
        XCTAssertGreaterThan(BufferCache.cachedBytes, 0)
        XCTAssertLessThanOrEqual(BufferCache.cachedBytes, BufferCache.capacityBytes)
        // Small tensors are never kept.
        do { _ = try Tensor(zeros: [1, 1, 8, 8]) }
        XCTAssertLessThanOrEqual(BufferCache.cachedBytes, BufferCache.capacityBytes)
        // A lower capacity releases blocks at once; 0 turns the cache off.
        for _ in 0..<4 { held.append(try Tensor(zeros: megabyte)) }
        held.removeAll()
        XCTAssertGreaterThanOrEqual(BufferCache.cachedBytes, 4 << 20)
        BufferCache.capacityBytes = 2 << 20
        XCTAssertLessThanOrEqual(BufferCache.cachedBytes, 2 << 20)
        BufferCache.capacityBytes = 0
        XCTAssertEqual(BufferCache.cachedBytes, 0)
        do { _ = try Tensor(zeros: megabyte) }
        XCTAssertEqual(BufferCache.cachedBytes, 0)
        BufferCache.capacityBytes = BufferCache.defaultCapacityBytes
        BufferCache.purge()
        XCTAssertEqual(BufferCache.cachedBytes, 0)
    }
}
