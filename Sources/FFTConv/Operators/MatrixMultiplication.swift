import Foundation
import FFTConvKernels

/// A prepared matrix product `C = act(alpha · A · B + beta · C + bias[row])` with A fixed: A is packed once
/// for the register-blocked micro-kernel, B is given per call.
///
/// Threads split C's columns into ranges (whole micro-panels), or its rows when there are too few columns;
/// each element is summed in the same order either way, so results are identical for any thread count.
public final class MatrixMultiplication: @unchecked Sendable {
    /// Rows of A and C.
    public let m: Int
    /// Columns of A, rows of B.
    public let k: Int
    /// The micro-kernel variant used.
    public let kernelName: String
    /// Worker threads per call.
    public let threads: Int
    let kernel: GEMMMicroKernel
    let blocking: GEMM.Blocking
    let packedA: AlignedBuffer
    let workspace: WorkspacePool

    /// Packs `a` (`[m, k]`, or `[k, m]` when `transposed`).
    ///
    /// - Throws: `TensorError.rankMismatch` for a non-matrix, `ConvolutionError.invalidOption` for a bad
    ///   thread count or an unknown `microKernel`.
    public init(a: Tensor, transposed: Bool = false, threads: Int = 1, microKernel: String? = nil) throws {
        guard a.rank == 2 else { throw TensorError.rankMismatch(expected: 2, shape: a.shape) }
        guard threads >= 1 && threads <= 1024 else { throw ConvolutionError.invalidOption("threads must be in 1...1024, got \(threads)") }
        m = transposed ? a.shape[1] : a.shape[0]
        k = transposed ? a.shape[0] : a.shape[1]
        kernel = try KernelChoice.gemm(rows: m, forced: microKernel)
        kernelName = kernel.name
        blocking = GEMM.Blocking(for: kernel)
        self.threads = threads
        let (m, k, mr) = (m, k, kernel.mr)
        let packed = AlignedBuffer(count: GEMM.packedASize(m: m, k: k, mr: mr))
        a.withUnsafeBufferPointer { p in
            if let base = p.baseAddress {
                GEMM.packA(m: m, k: k, a: base, rowStride: transposed ? 1 : k, colStride: transposed ? m : 1, mr: mr, into: packed.pointer)
            }
        }
        packedA = packed
        workspace = WorkspacePool(count: threads * GEMM.packedBSize(kernel: kernel, blocking: blocking))
    }

    /// Bytes of the packed A.
    public var preparedBytes: Int { packedA.count * 4 }

    /// `C = A · B` for `b` of shape `[k, n]`.
    public func callAsFunction(_ b: Tensor) throws -> Tensor {
        guard b.rank == 2, b.shape[0] == k else { throw TensorError.rankMismatch(expected: 2, shape: b.shape) }
        var c = try Tensor(zeros: [m, b.shape[1]])
        try run(b, into: &c)
        return c
    }

    /// `C = act(alpha · A · B + beta · C + bias)`, `b` `[k, n]` (`[n, k]`, read as its transpose, when
    /// `transposedB`: no copy, the packing reads it strided), `c` `[m, n]`, `bias` `[m]`.
    public func run(_ b: Tensor, transposedB: Bool = false, into c: inout Tensor, alpha: Float = 1, beta: Float = 0,
                    bias: Tensor? = nil, activation: Activation = .none) throws {
        guard b.rank == 2, b.shape[transposedB ? 1 : 0] == k else {
            throw ConvolutionError.inputShapeMismatch(expected: transposedB ? [-1, k] : [k, -1], actual: b.shape)
        }
        let n = b.shape[transposedB ? 0 : 1]
        guard c.shape == [m, n] else { throw ConvolutionError.outputShapeMismatch(expected: [m, n], actual: c.shape) }
        if let bias, bias.shape != [m] { throw ConvolutionError.biasShapeMismatch(expected: [m], actual: bias.shape) }
        try activation.validate()
        let biasValues = bias?.scalars
        b.withUnsafeBufferPointer { bp in
            c.withUnsafeMutableBufferPointer { cp in
                biasValues.withUnsafeOptionalBufferPointer { biasp in
                    guard let bb = bp.baseAddress, let cb = cp.baseAddress else { return }
                    let e = GEMMEpilogue(alpha: alpha, beta: beta, bias: biasp?.baseAddress, activation: activation.epilogue)
                    run(b: bb, n: n, transposedB: transposedB, into: cb, epilogue: e)
                }
            }
        }
    }

    /// `C = A · B` through `epilogue`, `b` `[k, n]` row-major at a pointer (`[n, k]` when `transposedB`), `c`
    /// `[m, n]`: what `run(_:into:)` computes, for callers whose operands live inside larger buffers (a transposed
    /// convolution's image of a batch).
    func run(b: UnsafePointer<Float>, n: Int, transposedB: Bool = false, into c: UnsafeMutablePointer<Float>,
             epilogue e: GEMMEpilogue) {
        let (m, k, kernel, blocking, threads) = (m, k, kernel, blocking, threads)
        let packedA = UnsafePointer(self.packedA.pointer)
        let scratchSize = GEMM.packedBSize(kernel: kernel, blocking: blocking)
        workspace.withBuffer { ws in
            let colPanels = (n + kernel.nr - 1) / kernel.nr, rowPanels = (m + kernel.mr - 1) / kernel.mr
            let byColumns = colPanels >= threads || colPanels >= rowPanels
            Parallel.forEachRange(count: byColumns ? colPanels : rowPanels, threads: threads) { worker, items in
                let rows = byColumns ? 0..<m : (items.lowerBound * kernel.mr)..<Swift.min(m, items.upperBound * kernel.mr)
                let cols = byColumns ? (items.lowerBound * kernel.nr)..<Swift.min(n, items.upperBound * kernel.nr) : 0..<n
                GEMM.run(kernel: kernel, blocking: blocking, m: m, n: n, k: k, packedA: packedA, b: b,
                         bRowStride: transposedB ? 1 : n, bColStride: transposedB ? k : 1, c: c, ldc: n, epilogue: e,
                         rows: rows, cols: cols,
                         scratch: ws + worker * scratchSize)
            }
        }
    }
}

/// A fully-connected (linear) layer: `y = act(x · Wᵀ + bias)`, weights `[outputs, inputs]` as in PyTorch.
///
/// At batch 1 it is a matrix-vector product bound by memory bandwidth: the weights are streamed once, in
/// their original row-major order, four rows per pass over `x` (`GEMV`). Larger batches use the packed GEMM.
public final class FullyConnected: @unchecked Sendable {
    /// Input features.
    public let inputs: Int
    /// Output features.
    public let outputs: Int
    /// The fused activation.
    public let activation: Activation
    /// Worker threads per call.
    public let threads: Int
    let weights: AlignedBuffer
    let bias: [Float]?
    /// The packed copy for batches > 1, made on first use (batch-1 inference never pays its memory).
    private var packed: MatrixMultiplication?
    /// For batches > 1 on builds with 16-float registers: the weights as `gemm_7x32` panels of 32 outputs (`Wᵀ`, K
    /// rows of 32 each, zero past the last output) and the bias padded to whole panels, made on first use.
    private var panels: (weights: AlignedBuffer, bias: AlignedBuffer)?
    private let packLock = NSLock()
    /// At batch 1, rows shorter than this many inputs are asked for eight rows ahead while four are summed; longer
    /// ones are left to the hardware prefetchers. A row of 1280 floats is 80 lines: each new group of four rows starts
    /// four streams the prefetchers must first detect (MobileNetV2's classifier, its 5 MB from DRAM in the network,
    /// 0.276–0.307 → 0.218–0.223 ms at 1 thread with the hint, Zen 4, `net --profile`, 3 rounds; 4 rows ahead
    /// 0.220–0.245, 16 rows 0.213–0.228; the network 7.12–7.33 → 7.05–7.17 ms, 4 rounds). A row of 4096 floats or more is a long stream they follow on their own, and the hint's
    /// four further streams cost bandwidth (thirty-third session, Zen 5, ms, without / with the hint): AlexNet's three
    /// layers in the network 7–12% faster without at 1 and 2 threads (`step_ab.sh 4`); VGG16's classifier alone (the
    /// model cut after `Flatten`, 494 MB of weights, 6 rounds alternated) 13.6–20.2 / 16.1–19.8 at 1 thread (4 rounds
    /// of 6 faster) and 10.6–14.6 / 13.9–18.4 at 2 (6 of 6); a C loop of the same pattern over 411 MB 6.1 / 7.4 at 2.
    static let prefetchedRowLength = 4096

    /// Prepares a layer from `weights` (`[outputs, inputs]`) and an optional `bias` (`[outputs]`).
    public init(weights: Tensor, bias: Tensor?, activation: Activation = .none, threads: Int = 1) throws {
        guard weights.rank == 2, weights.shape[0] > 0, weights.shape[1] > 0 else {
            throw ConvolutionError.weightShapeMismatch(expected: [-1, -1], actual: weights.shape)
        }
        outputs = weights.shape[0]
        inputs = weights.shape[1]
        if let bias, bias.shape != [outputs] { throw ConvolutionError.biasShapeMismatch(expected: [outputs], actual: bias.shape) }
        try activation.validate()
        self.activation = activation
        self.threads = threads
        self.weights = weights.storage
        self.bias = bias?.scalars
    }

    /// Bytes held: the weights, plus their packed copy once a batch > 1 has been run.
    public var preparedBytes: Int {
        weights.count * 4 + packLock.withLock { (packed?.preparedBytes ?? 0) + (panels.map { ($0.weights.count + $0.bias.count) * 4 } ?? 0) }
    }

    func weightPanels() -> (weights: AlignedBuffer, bias: AlignedBuffer) {
        packLock.withLock {
            if let p = panels { return p }
            let p = BufferCache.outsideActivationArena {
                TransposedImplementation.packPanels(weights: Tensor(reshaping: Tensor(unsafeStorage: weights), to: [outputs, inputs]),
                                                    bias: bias.flatMap { try? Tensor(shape: [outputs], values: $0) },
                                                    outputs: outputs, k: inputs, nr: Self.panelWidth)
            }
            panels = p
            return p
        }
    }

    /// Rows per tile and outputs per panel of the row-major product (`gemm_7x32`).
    static let tileRows = 7, panelWidth = 32

    /// `Y[batch, outputs] = act(X · Wᵀ + bias)` with X's rows as the micro-kernel's rows (`gemm_7x32`): X's rows in
    /// blocks of 112, each transposed (whole 16×16 block transposes) into a K × 112 buffer whose 16 tiles of 7 rows the
    /// strided form reads in place; the rows left (and all of them below a block per thread), a 7-row tile at a time,
    /// transposed into the packed form's layout (a 7-row transpose goes through the edge blocks' staging). One 7 × 32
    /// product per weight panel, stored straight into Y's rows (through a tile buffer for bias, activation, a partial
    /// tile or panel). Y is row-major as X is: nothing transposed out. (ConvNeXt-Tiny's channels-last linear layers,
    /// `[3136, 96] × [96, 384]`, ran 4.2–4.7 ms at 1 thread through `Yᵀ = W · Xᵀ` and the transposes.)
    private func rowProduct(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, kernel: GEMMMicroKernel) {
        let (w, bias) = weightPanels()
        let k = inputs, n = outputs, mr = Self.tileRows, nr = Self.panelWidth, block = Self.blockRows
        let panelCount = (n + nr - 1) / nr
        let epilogue = activation.epilogue, direct = self.bias == nil && activation == .none
        // Whole blocks of `blockRows` rows where the strided form exists and there is a block per thread; the rest in
        // single tiles.
        let blocks = kernel.strided == nil || batch < block * threads ? 0 : batch / block
        let tiles = (batch - blocks * block + mr - 1) / mr
        let perWorker = Parallel.workerStride((blocks > 0 ? block : mr) * k + mr * nr + Transpose.stagingFloats, threads: threads)
        // ~2·7·K·N flops a tile: threads from ~100 µs of work.
        let workers = batch * k * n >= 1 << 22 ? threads : 1
        /// Rows `r0 ..< r0 + rows` (at most 7) of Y from A at `a` (row `r` of the tile at `a + r`, rows `lda` apart).
        func tile(_ a: UnsafePointer<Float>, lda: Int, rows r0: Int, _ rows: Int, buffer: UnsafeMutablePointer<Float>) {
            for j in 0..<panelCount {
                let c0 = j * nr, columns = Swift.min(nr, n - c0), out = y + r0 * n + c0, b = w.pointer + j * k * nr
                let whole = direct && rows == mr && columns == nr
                if let strided = kernel.strided, lda != mr {
                    strided(k, a, lda, b, whole ? out : buffer, whole ? n : nr, false)
                } else {
                    kernel.packed(k, a, b, whole ? out : buffer, whole ? n : nr, false)
                }
                if whole { continue }
                epilogue.biasRows(buffer, rows: rows, width: nr, bias: bias.pointer + c0, activate: true)
                for r in 0..<rows { (out + r * n).update(from: buffer + r * nr, count: columns) }
            }
        }
        SharedScratch.withBuffer(count: workers * perWorker) { scratch in
            // Blocks: X's 112 × K block transposed in whole 16×16 blocks, then its 16 tiles read in place (strided A).
            if blocks > 0 {
                Parallel.forEachRange(count: blocks, threads: workers) { worker, items in
                    let a = scratch + worker * perWorker, buffer = a + block * k, staging = buffer + mr * nr
                    for i in items {
                        Transpose.floats(x + i * block * k, sourceStride: k, a, destinationStride: block, rows: block, columns: k,
                                         staging: staging)
                        for t in 0..<(block / mr) { tile(a + t * mr, lda: block, rows: i * block + t * mr, mr, buffer: buffer) }
                    }
                }
            }
            // The rest, a tile of 7 rows at a time (the last one zero-padded).
            Parallel.forEachRange(count: tiles, threads: workers) { worker, items in
                let a = scratch + worker * perWorker, buffer = a + mr * k, staging = buffer + mr * nr
                for t in items {
                    let r0 = blocks * block + t * mr, rows = Swift.min(mr, batch - r0)
                    if rows < mr { a.update(repeating: 0, count: mr * k) }
                    Transpose.floats(x + r0 * k, sourceStride: k, a, destinationStride: mr, rows: rows, columns: k, staging: staging)
                    tile(a, lda: mr, rows: r0, rows, buffer: buffer)
                }
            }
        }
    }

    /// Rows per block of the row-major product: 16 tiles of 7, so that X's block transposes in whole 16×16 blocks.
    static let blockRows = 112

    /// Batches up to this many rows run `GEMV.runBatch` (the weights streamed once, each row the bits of the row
    /// alone); larger ones the tiled products. `fftconv-bench fc 9216 4096 --batch B` (AlexNet's fc6; thirty-fourth
    /// session, Zen 5, median ms at 1 / 2 threads, tiled → batched): B = 8 18.8 / 8.6 → 8.7 / 5.2, 16 26.6 / 18.3 →
    /// 12.9 / 6.2, 32 42.6 / 25.6 → 28.1 / 14.2, 64 85.8 / 46.0 → 54.1 / 27.1, 128 117 / 86 → 97 / 49 (then k in
    /// blocks past 512 KB of X, `GEMV.kBlock`: 128 rows 75–97 / 46). (The tiled product streams the weights once per
    /// 7-row tile.) On builds without
    /// 16-float registers (AVX2: a 16-float vector is two registers, the block's sixteen sums spill) 16 against the
    /// packed GEMM (`-march=x86-64-v3` on the same host, 1 thread): B = 2 32.0 → 5.9, 8 30.5 → 16.4, 16 28.7 → 25.4–27.3,
    /// but 32 37.8 → 52.0 and 128 110 → 155. NEON (four registers a vector) is expected to behave like AVX2, unmeasured.
    public static var batchedGEMVLimit: Int { KernelTarget.wideRegisters ? 128 : 16 }

    func packedWeights() throws -> MatrixMultiplication {
        try packLock.withLock {
            if let p = packed { return p }
            // Kept with the layer: not cut from the activation arena of the call that first needs it.
            let p = try BufferCache.outsideActivationArena {
                try MatrixMultiplication(a: Tensor(reshaping: Tensor(unsafeStorage: weights), to: [outputs, inputs]), threads: threads)
            }
            packed = p
            return p
        }
    }

    /// `x` of shape `[N, inputs]` → `[N, outputs]`.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.rank == 2, x.shape[0] >= 1, x.shape[1] == inputs else {
            throw ConvolutionError.inputShapeMismatch(expected: [-1, inputs], actual: x.shape)
        }
        let batch = x.shape[0], batchedLimit = Self.batchedGEMVLimit, rowMajor = batch > batchedLimit && KernelTarget.wideRegisters
        // (The row-major product writes every element; the other paths add into zeros.)
        var y = rowMajor ? try Tensor(uninitialized: [batch, outputs]) : try Tensor(zeros: [batch, outputs])
        let e = GEMMEpilogue(activation: activation.epilogue)
        let (inputs, outputs, threads, w) = (inputs, outputs, threads, UnsafePointer(weights.pointer))
        try bias.withUnsafeOptionalBufferPointer { biasp in
            var e = e
            e.bias = biasp?.baseAddress
            if batch > 1 && batch <= batchedLimit {
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer { yp in
                        guard let xb = xp.baseAddress, let yb = yp.baseAddress else { return }
                        let blocks = (outputs + 63) / 64
                        Parallel.forEachChunk(count: blocks, chunk: 1, threads: outputs * inputs >= 1 << 18 ? threads : 1) { _, items in
                            GEMV.runBatch(m: outputs, k: inputs, w: w, ldw: inputs, x: xb, ldx: inputs, count: batch, y: yb, ldy: outputs,
                                          epilogue: e, rows: (items.lowerBound * 64)..<Swift.min(outputs, items.upperBound * 64))
                        }
                    }
                }
            } else if batch == 1 {
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer { yp in
                        guard let xb = xp.baseAddress, let yb = yp.baseAddress else { return }
                        // Row blocks of 64: a few hundred microseconds of streaming each at DRAM speed; short rows
                        // with the rows eight ahead asked for (`prefetchedRowLength`).
                        // Split over threads from 1 MB of weights (~50 µs of streaming, more from memory): the
                        // squeeze-and-excitation layers' 40–400 KB take a few µs, less than handing half to a worker.
                        // Blocks go to whichever worker is free (`forEachChunk`): on a host whose second core
                        // slows now and then, `fc 25088 4096 --threads 2` 10.7–12.4 → 10.0–12.5 ms (4 of 5 rounds
                        // lower), `fc 9216 4096` 3.7–4.3 → 3.6–4.1, AlexNet's fc6 and fc7 in the network −4–5%
                        // (`step_ab.sh 5`).
                        let blocks = (outputs + 63) / 64, ahead = inputs < FullyConnected.prefetchedRowLength ? 8 : 0
                        Parallel.forEachChunk(count: blocks, chunk: 1, threads: outputs * inputs >= 1 << 18 ? threads : 1) { _, items in
                            GEMV.run(m: outputs, k: inputs, w: w, ldw: inputs, x: xb, y: yb, epilogue: e,
                                     rows: (items.lowerBound * 64)..<Swift.min(outputs, items.upperBound * 64), prefetchRows: ahead)
                        }
                    }
                }
            } else if rowMajor, let kernel = MicroKernelRegistry.named("gemm_7x32") {
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer { yp in
                        guard let xb = xp.baseAddress, let yb = yp.baseAddress else { return }
                        rowProduct(xb, yb, batch: batch, kernel: kernel)
                    }
                }
            } else {
                // Yᵀ = W · Xᵀ through the packed GEMM (Xᵀ read strided from X by the packing), then transposed into Y
                // in 16×16 blocks. (Transposed element by element into and out of the GEMM before: ConvNeXt-Tiny's
                // channels-last linear layers, 3136 rows, took 4.2–4.7 ms each at 1 thread.)
                var yt = try Tensor(zeros: [outputs, batch])
                try packedWeights().run(x, transposedB: true, into: &yt, bias: self.bias.map { try Tensor(shape: [outputs], values: $0) },
                                        activation: activation)
                var staging = [Float](repeating: 0, count: Transpose.stagingFloats)
                yt.withUnsafeBufferPointer { tp in
                    y.withUnsafeMutableBufferPointer { yp in
                        staging.withUnsafeMutableBufferPointer { sp in
                            guard let t = tp.baseAddress, let o = yp.baseAddress, let st = sp.baseAddress else { return }
                            Transpose.floats(t, sourceStride: batch, o, destinationStride: outputs, rows: outputs, columns: batch, staging: st)
                        }
                    }
                }
            }
        }
        return y
    }
}
