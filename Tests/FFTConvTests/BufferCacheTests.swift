import Dispatch
import FFTConv
import XCTest

/// The cache of freed tensor buffers (`BufferCache`): what it hands out again is zeroed like fresh memory, it
/// never holds more than its capacity, and tensors allocated in `withActivationArena` share one region first
/// fit by address.
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

    /// Blocks of 128 KB to 2 MB outside the arena are cut from 2 MB slabs of huge pages (Linux): several to a slab,
    /// zeroed like fresh memory, and the slab is given back once every block cut from it is released.
    func testMidSizedBlocksShareSlabsGivenBackWithTheirLastBlock() throws {
        #if os(Linux)
        BufferCache.purge()
        XCTAssertEqual(BufferCache.slabBytes, 0)
        do {
            let a = try Tensor(shape: [1, 1, 300, 256], repeating: .nan)  // 300 KB
            let b = try Tensor(zeros: [1, 1, 300, 256])
            XCTAssertEqual(BufferCache.slabBytes, 2 << 20, "both in one slab")
            XCTAssertEqual(address(a) / (2 << 20), address(b) / (2 << 20))
            XCTAssertEqual(address(b) - address(a), 300 * 256 * 4, "cut end to end")
            XCTAssertTrue(b.scalars.allSatisfy { $0 == 0 && $0.sign == .plus })
            XCTAssertTrue(a.scalars.allSatisfy(\.isNaN))
            // Six such blocks fit in a slab: seven more take a second one.
            let more = try (0..<7).map { _ in try Tensor(zeros: [1, 1, 300, 256]) }
            XCTAssertEqual(BufferCache.slabBytes, 4 << 20)
            XCTAssertEqual(more.count, 7)
        }
        // Freed, the blocks are cached (their slabs kept); purged, the slabs go back.
        XCTAssertEqual(BufferCache.slabBytes, 4 << 20)
        BufferCache.purge()
        XCTAssertEqual(BufferCache.slabBytes, 0)
        #endif
    }

    private func address(_ t: Tensor) -> Int {
        t.withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress) }
    }

    func testArenaTakesTheLowestFreeRangeAndMergesFreedNeighbours() throws {
        BufferCache.purge()
        BufferCache.arenaBytes = 64 << 20  // on, whatever FFTCONV_ARENA_MB says
        defer { BufferCache.arenaBytes = BufferCache.defaultArenaBytes }
        XCTAssertEqual(BufferCache.arenaUsedBytes, 0)
        let quarter = [1, 16, 64, 64]  // 256 KB
        try BufferCache.withActivationArena {
            var a: Tensor? = try Tensor(shape: quarter, repeating: .nan)
            var b: Tensor? = try Tensor(zeros: quarter)
            let pa = address(a!), pb = address(b!)
            XCTAssertEqual(pb, pa + 256 * 1024, "the second tensor follows the first")
            XCTAssertEqual(BufferCache.arenaUsedBytes, 512 * 1024)
            XCTAssertEqual(BufferCache.cachedBytes, 0, "nothing went through the block list")
            a = nil
            // A smaller tensor takes the lowest free range — the first one's, which held NaN — and is zeroed.
            var c: Tensor? = try Tensor(zeros: [1, 8, 64, 64])
            XCTAssertEqual(address(c!), pa)
            XCTAssertTrue(c!.scalars.allSatisfy { $0 == 0 && $0.sign == .plus })
            c = nil
            b = nil
            XCTAssertEqual(BufferCache.arenaUsedBytes, 0)
            // Both ranges merged: a tensor of their combined size starts at the first one.
            let d = try Tensor(zeros: [1, 32, 64, 64])
            XCTAssertEqual(address(d), pa)
        }
        XCTAssertEqual(BufferCache.arenaUsedBytes, 0)
        // Outside the scope, tensors take separate blocks.
        do {
            let e = try Tensor(zeros: quarter)
            XCTAssertEqual(BufferCache.arenaUsedBytes, 0)
            XCTAssertEqual(e.count, 64 * 1024)
        }
        BufferCache.purge()
    }

    func testArenaOffAndFullFallBackToSeparateBlocks() throws {
        BufferCache.purge()
        BufferCache.arenaBytes = 0
        try BufferCache.withActivationArena {
            _ = try Tensor(zeros: [1, 16, 64, 64])
            XCTAssertEqual(BufferCache.arenaUsedBytes, 0)
        }
        BufferCache.arenaBytes = 1 << 20
        try BufferCache.withActivationArena {
            let inside = try Tensor(shape: [1, 1, 384, 512], repeating: 1)  // 768 KB: in the arena
            XCTAssertEqual(BufferCache.arenaUsedBytes, 768 * 1024)
            let outside = try Tensor(shape: [1, 1, 384, 512], repeating: 2)  // no room left: a block of its own
            XCTAssertEqual(BufferCache.arenaUsedBytes, 768 * 1024)
            XCTAssertTrue(inside.scalars.allSatisfy { $0 == 1 } && outside.scalars.allSatisfy { $0 == 2 })
        }
        BufferCache.arenaBytes = BufferCache.defaultArenaBytes
        BufferCache.purge()
    }

    func testNetworkOutputsHeldAcrossCallsKeepTheirValues() throws {
        BufferCache.purge()
        BufferCache.arenaBytes = 64 << 20  // on, whatever FFTCONV_ARENA_MB says
        defer { BufferCache.arenaBytes = BufferCache.defaultArenaBytes }
        var rng = SeededGenerator(seed: 5)
        // 256 KB tensors: the intermediate sum and the output are cut from the arena.
        let a = try Tensor.random(shape: [1, 16, 64, 64], using: &rng), b = try Tensor.random(shape: [1, 16, 64, 64], using: &rng)
        let graph = Graph(inputs: [Graph.Value(name: "a", shape: a.shape), Graph.Value(name: "b", shape: b.shape)],
                          outputs: ["y"], constants: [:],
                          nodes: [Graph.Node(name: "sum", operation: .add, inputs: ["a", "b"], outputs: ["s"]),
                                  Graph.Node(name: "product", operation: .mul, inputs: ["s", "a"], outputs: ["y"])])
        let network = try Network(graph: graph)
        let first = try XCTUnwrap(network.predict(["a": a, "b": b])["y"])
        let expected = first.scalars
        XCTAssertEqual(expected[7], (a.scalars[7] + b.scalars[7]) * a.scalars[7])
        XCTAssertGreaterThanOrEqual(BufferCache.arenaUsedBytes, 256 * 1024, "the held output lives in the arena")
        for _ in 0..<3 {
            let other = try XCTUnwrap(network.predict(["a": b, "b": b])["y"])
            XCTAssertEqual(other.scalars[7], (b.scalars[7] + b.scalars[7]) * b.scalars[7])
        }
        XCTAssertEqual(first.scalars, expected, "later calls did not reuse the range of an output still held")
        BufferCache.purge()
    }

    func testArenaRangesOfConcurrentCallsDoNotOverlap() throws {
        BufferCache.purge()
        BufferCache.arenaBytes = 64 << 20  // on, whatever FFTCONV_ARENA_MB says
        defer { BufferCache.arenaBytes = BufferCache.defaultArenaBytes }
        let failures = ManagedCounter()
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            BufferCache.withActivationArena {
                for round in 0..<50 {
                    let value = Float(worker * 1000 + round)
                    guard let t = try? Tensor(shape: [1, 1, 128 + 8 * worker, 128 + round], repeating: value) else {
                        failures.add()
                        continue
                    }
                    if !t.scalars.allSatisfy({ $0 == value }) { failures.add() }
                }
            }
        }
        XCTAssertEqual(failures.value, 0)
        XCTAssertEqual(BufferCache.arenaUsedBytes, 0)
        BufferCache.purge()
    }
}

/// A counter several threads add to.
private final class ManagedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
