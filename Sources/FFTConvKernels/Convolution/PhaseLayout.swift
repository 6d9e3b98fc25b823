/// The layout direct convolution kernels read: the zero-padded input split into stride phases, each phase a
/// flat plane, so that every (output position, tap) pair reads at `flat output index + tap offset` — one
/// contiguous vector load for sixteen consecutive outputs, at any stride or dilation, with no bounds tests.
///
/// Padded input pixel (y, x) goes to phase (y mod sh, x mod sw) at (y / sh, x / sw). Output (oh, ow) has flat
/// index `oh * phaseWidth + ow` (columns `ow >= outputWidth` are computed and discarded); tap (kh, kw) reads
/// phase ((kh·dh) mod sh, (kw·dw) mod sw) at flat offset `((kh·dh)/sh) * phaseWidth + (kw·dw)/sw`.
/// Each plane carries a zero tail long enough that a vector load starting at any computed position is in bounds.
public struct PhaseLayout: Sendable, Hashable {
    /// The convolution geometry the layout serves.
    public let geometry: ConvolutionGeometry
    /// Rows of each phase plane (before the tail).
    public let phaseHeight: Int
    /// Columns of each phase plane: the flat row length of both input phases and computed outputs.
    public let phaseWidth: Int
    /// Flat output positions computed (`outputHeight * phaseWidth`).
    public let positions: Int
    /// Floats per (phase, channel) plane, tail included, a multiple of 16.
    public let planeStride: Int
    /// Number of phases (`strideHeight * strideWidth`).
    public var phases: Int { geometry.strideHeight * geometry.strideWidth }
    /// The row phases some tap reads (a 1x1 stride-2 layer reads only phase row 0): `fill` skips the others.
    public let usedRowPhases: [Bool]
    /// The column phases some tap reads (a 1x1 stride-2 layer reads only phase column 0): `fill` skips the others.
    public let usedColumnPhases: [Bool]

    /// A layout whose planes allow vector loads of `lanes` floats at every computed position rounded up to `lanes`.
    public init(geometry g: ConvolutionGeometry, padBottom: Int, padRight: Int, lanes: Int) {
        geometry = g
        let ph = g.inputHeight + g.padTop + padBottom, pw = g.inputWidth + g.padLeft + padRight
        phaseHeight = (ph + g.strideHeight - 1) / g.strideHeight
        phaseWidth = (pw + g.strideWidth - 1) / g.strideWidth
        positions = g.outputHeight * phaseWidth
        let maxOffset = ((g.kernelHeight - 1) * g.dilationHeight / g.strideHeight) * phaseWidth
            + (g.kernelWidth - 1) * g.dilationWidth / g.strideWidth
        let needed = Swift.max(phaseHeight * phaseWidth, (positions + lanes - 1) / lanes * lanes + maxOffset)
        planeStride = (needed + 15) / 16 * 16
        usedRowPhases = (0..<g.strideHeight).map { a in (0..<g.kernelHeight).contains { $0 * g.dilationHeight % g.strideHeight == a } }
        usedColumnPhases = (0..<g.strideWidth).map { b in (0..<g.kernelWidth).contains { $0 * g.dilationWidth % g.strideWidth == b } }
    }

    /// Floats of one image in this layout (`phases × channels × planeStride`).
    public func imageSize(channels: Int) -> Int { phases * channels * planeStride }

    /// Offset of tap (kh, kw) of channel `c` from the start of the image buffer.
    @inlinable
    public func tapOffset(channel c: Int, channels: Int, kh: Int, kw: Int) -> Int {
        let g = geometry
        let y = kh * g.dilationHeight, x = kw * g.dilationWidth
        let phase = (y % g.strideHeight) * g.strideWidth + x % g.strideWidth
        return (phase * channels + c) * planeStride + (y / g.strideHeight) * phaseWidth + x / g.strideWidth
    }

    /// Writes channels `channelRange` of one image (`[C, H, W]` at `input`) into `buffer` (this layout, all
    /// `channels`), padding and tails included.
    public func fill(input: UnsafePointer<Float>, channels: Int, channelRange: Range<Int>, buffer: UnsafeMutablePointer<Float>) {
        for c in channelRange {
            fill(channel: c, input: input, channels: channels, phaseRows: 0..<phaseHeight, buffer: buffer)
        }
    }

    /// Writes phase rows `phaseRows` of every channel of one image into `buffer` (the planes' tails with the
    /// range that ends at `phaseHeight`). Workers that split a layer's output rows fill about the rows they read
    /// themselves, so the layout does not move between cores (a stem's three channels, split by channel, did).
    public func fill(input: UnsafePointer<Float>, channels: Int, phaseRows: Range<Int>, buffer: UnsafeMutablePointer<Float>) {
        for c in 0..<channels { fill(channel: c, input: input, channels: channels, phaseRows: phaseRows, buffer: buffer) }
    }

    /// Phase rows `rows` of channel `c`, and its planes' tails when `rows` ends at `phaseHeight`.
    func fill(channel c: Int, input: UnsafePointer<Float>, channels: Int, phaseRows rows: Range<Int>, buffer: UnsafeMutablePointer<Float>) {
        let g = geometry
        let sh = g.strideHeight, sw = g.strideWidth
        let src = input + c * g.inputHeight * g.inputWidth
        if sw == 2 {
            fillStrideTwoColumns(src: src, channels: channels, channel: c, phaseRows: rows, buffer: buffer)
        } else {
            // Rows in input order, prefetched two steps ahead, as in `fillStrideTwoColumns`.
            let planeFloats = g.inputHeight * g.inputWidth
            for i in rows {
                let ahead = (i + 2) * sh - g.padTop
                if sh > 1, ahead >= 0, ahead < g.inputHeight {
                    Prefetch.toL2(src + ahead * g.inputWidth, bytes: Swift.min(sh * g.inputWidth, planeFloats - ahead * g.inputWidth) * 4)
                }
                for a in 0..<sh where usedRowPhases[a] {
                    for b in 0..<sw where usedColumnPhases[b] {
                        let row = buffer + ((a * sw + b) * channels + c) * planeStride + i * phaseWidth
                        let iy = i * sh + a - g.padTop
                        if iy < 0 || iy >= g.inputHeight {
                            Copy.zero(row, phaseWidth)
                            continue
                        }
                        let srow = src + iy * g.inputWidth
                        if sw == 1 {
                            // Columns j map to input x = j - padLeft.
                            let lo = Swift.min(phaseWidth, g.padLeft), hi = Swift.min(phaseWidth, g.padLeft + g.inputWidth)
                            if lo > 0 { Copy.zero(row, lo) }
                            if hi > lo { Copy.floats(row + lo, srow, hi - lo) }
                            if phaseWidth > hi { Copy.zero(row + hi, phaseWidth - hi) }
                        } else {
                            // Columns j with 0 <= j·sw + b − padLeft < inputWidth, copied with a stride, no tests.
                            let lo = Swift.min(phaseWidth, Swift.max(0, (g.padLeft - b + sw - 1) / sw))
                            let hi = Swift.max(lo, Swift.min(phaseWidth, (g.inputWidth + g.padLeft - b + sw - 1) / sw))
                            if lo > 0 { Copy.zero(row, lo) }
                            var from = srow + (lo * sw + b - g.padLeft)
                            for j in lo..<hi { row[j] = from.pointee; from += sw }
                            if phaseWidth > hi { Copy.zero(row + hi, phaseWidth - hi) }
                        }
                    }
                }
            }
        }
        guard rows.upperBound == phaseHeight else { return }
        let used = phaseHeight * phaseWidth
        for a in 0..<sh where usedRowPhases[a] {
            for b in 0..<sw where usedColumnPhases[b] { Copy.zero(buffer + ((a * sw + b) * channels + c) * planeStride + used, planeStride - used) }
        }
    }

    /// `fill` for column stride 2 (MobileNet's and ResNet's stride-2 layers): both column phases of a row come
    /// from one pass over it, sixteen floats split into their even and odd halves at a time; a layer whose taps read
    /// only the even phase (1x1 stride 2: ResNet's downsamples) gets that one alone.
    func fillStrideTwoColumns(src: UnsafePointer<Float>, channels: Int, channel c: Int, phaseRows: Range<Int>,
                              buffer: UnsafeMutablePointer<Float>) {
        let g = geometry
        let sh = g.strideHeight, w = g.inputWidth, pad = g.padLeft
        // Rows in input order (row phase innermost): one sequential pass over the plane, which the hardware
        // prefetchers follow, instead of one pass per row phase that skips every other row.
        let plane = g.inputHeight * w
        for i in phaseRows {
            // The rows two steps ahead, asked for now: the input is cold inside a network (a stem's input was last
            // touched a whole call ago).
            let ahead = (i + 2) * sh - g.padTop
            if ahead >= 0 && ahead < g.inputHeight {
                Prefetch.toL2(src + ahead * w, bytes: Swift.min(sh * w, plane - ahead * w) * 4)
            }
            for a in 0..<sh where usedRowPhases[a] {
                let e = buffer + ((a * 2) * channels + c) * planeStride + i * phaseWidth
                let o = buffer + ((a * 2 + 1) * channels + c) * planeStride + i * phaseWidth
                let iy = i * sh + a - g.padTop
                if iy < 0 || iy >= g.inputHeight {
                    Copy.zero(e, phaseWidth)
                    if usedColumnPhases[1] { Copy.zero(o, phaseWidth) }
                    continue
                }
                let srow = src + iy * w
                // Padded column q = 2j + b holds input x = q − pad (zero outside the row).
                @inline(__always) func value(_ q: Int) -> Float { let x = q - pad; return x >= 0 && x < w ? srow[x] : 0 }
                // The first column inside the row: j0 with 0 <= 2·j0 − pad.
                let j0 = Swift.min(phaseWidth, (pad + 1) / 2)
                if !usedColumnPhases[1] {
                    // Even columns only: those with 0 <= 2j − pad < w copied, the padding around them zero.
                    let hi = Swift.max(j0, Swift.min(phaseWidth, (w + pad + 1) / 2))
                    Copy.zero(e, j0)
                    Copy.even(srow + 2 * j0 - pad, into: e + j0, count: hi - j0)
                    Copy.zero(e + hi, phaseWidth - hi)
                    continue
                }
                // Inside the row: j in [j0, j1) with 2j − pad + 16 <= w (vector loads stay in it).
                let j1 = Swift.max(j0, Swift.min(phaseWidth, (w + pad - 16) / 2 + 1))
                for j in 0..<j0 { e[j] = value(2 * j); o[j] = value(2 * j + 1) }
                Copy.splitEvenOdd(srow + 2 * j0 - pad, even: e + j0, odd: o + j0, count: j1 - j0)
                for j in j1..<phaseWidth { e[j] = value(2 * j); o[j] = value(2 * j + 1) }
            }
        }
    }

    /// Writes a tile of computed outputs to NCHW planes with the epilogue: `tile[r][v]` (row stride `tileStride`)
    /// is output channel `row0 + r` at flat position `f0 + v`, for `v` in `0..<lanes`; positions past the
    /// output or in discarded columns are skipped. `output` is the image's first output plane; planes are
    /// `outputHeight × outputWidth` floats apart, and `residual` (when given) has the same layout.
    public func store(tile: UnsafePointer<Float>, tileStride: Int, rows: Int, lanes: Int, f0: Int, row0: Int,
                      output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
                      bias: UnsafePointer<Float>?, activation: Epilogue) {
        let g = geometry
        let plane = g.outputHeight * g.outputWidth
        let fEnd = Swift.min(f0 + lanes, positions)
        var f = f0
        while f < fEnd {
            let oh = f / phaseWidth, ow = f - oh * phaseWidth
            let runEnd = Swift.min(fEnd, oh * phaseWidth + g.outputWidth)  // valid columns of this row
            if ow < g.outputWidth && runEnd > f {
                let count = runEnd - f
                let v0 = f - f0, o0 = oh * g.outputWidth + ow
                for r in 0..<rows {
                    let c = row0 + r
                    activation.finish(src: tile + r * tileStride + v0, dst: output + c * plane + o0, count: count,
                                      bias: bias?[c] ?? 0, residual: residual.map { $0 + c * plane + o0 })
                }
            }
            f = (oh + 1) * phaseWidth  // next output row
        }
    }
}
