/// The layout the `dw_flat` depthwise kernels read: one channel's input split into its `sh × sw` stride
/// phases, each phase an *unpadded* plane (`phaseHeight × phaseWidth`, no discarded columns) between zero
/// margins. It serves geometries whose output rows are exactly the phase rows (`outputWidth == phaseWidth`,
/// the "same"-padded layers of MobileNet and EfficientNet at stride 1 and 2), so output position `i` (flat,
/// `oh · outputWidth + ow`) reads tap `(kh, kw)` at `i + tapOffset(kh, kw)` — one contiguous vector load for
/// sixteen outputs, and the outputs are stored to the NCHW plane as they are.
///
/// Padding costs no copy: rows above and below the input read the zero margins; a tap that steps past the
/// left or right edge reads the neighbouring row instead, and the kernel clears those lanes with a bit mask
/// (not a multiply by zero: the neighbour may be infinite) for output columns outside `validColumns(kw:)`.
/// Filling one channel is one `memcpy`-like copy at stride 1 and one even/odd split at stride 2 — versus a
/// row-by-row padded copy and a second pass to drop padded columns in `PhaseLayout`.
public struct FlatPhaseLayout: Sendable, Hashable {
    /// The convolution geometry the layout serves.
    public let geometry: ConvolutionGeometry
    /// Rows and columns of each phase plane (`inputHeight / sh`, `inputWidth / sw`).
    public let phaseHeight: Int, phaseWidth: Int
    /// Zero floats before each phase plane (a multiple of 16, so planes start aligned).
    public let marginBefore: Int
    /// Floats from one phase's margin start to the next (margins included, a multiple of 16).
    public let phaseStride: Int
    /// Output positions (`outputHeight × outputWidth`); kernels compute them rounded up to `Self.block`.
    public let positions: Int
    /// Positions per kernel step: every load of a step is in bounds when positions are rounded up to it.
    public static let block = 32

    /// The layout for `g`, or nil when `g` is not of the form it serves: input sides divisible by the
    /// strides and output width equal to the phase width.
    public init?(geometry g: ConvolutionGeometry) {
        let sh = g.strideHeight, sw = g.strideWidth
        guard g.inputHeight % sh == 0, g.inputWidth % sw == 0, g.outputWidth == g.inputWidth / sw else { return nil }
        geometry = g
        phaseHeight = g.inputHeight / sh
        phaseWidth = g.inputWidth / sw
        positions = g.outputHeight * g.outputWidth
        // Reads span flat indices [rowMin·Wp + colMin, rounded positions − 1 + rowMax·Wp + colMax], plus one
        // block past the end for the 3x3 two-row pass (its last step may run past the last row's end).
        let rows = (0..<g.kernelHeight).map { Self.floorDiv($0 * g.dilationHeight - g.padTop, sh) }
        let cols = (0..<g.kernelWidth).map { Self.floorDiv($0 * g.dilationWidth - g.padLeft, sw) }
        let lowest = (rows.min() ?? 0) * phaseWidth + (cols.min() ?? 0)
        let highest = Self.roundUp(positions, Self.block) + Self.block - 1 + (rows.max() ?? 0) * phaseWidth + (cols.max() ?? 0)
        marginBefore = Self.roundUp(Swift.max(0, -lowest), 16)
        let after = Swift.max(0, highest + 1 - phaseHeight * phaseWidth)
        phaseStride = Self.roundUp(marginBefore + phaseHeight * phaseWidth + after, 16)
    }

    /// Number of phases (`strideHeight × strideWidth`).
    public var phases: Int { geometry.strideHeight * geometry.strideWidth }
    /// Floats of one channel in this layout (every phase with its margins).
    public var bufferSize: Int { phases * phaseStride }

    /// Offset of tap `(kh, kw)` from the buffer start: output position `i` reads `buffer[i + tapOffset]`.
    public func tapOffset(kh: Int, kw: Int) -> Int {
        let g = geometry
        let y = kh * g.dilationHeight - g.padTop, x = kw * g.dilationWidth - g.padLeft
        let sh = g.strideHeight, sw = g.strideWidth
        let phase = (y - Self.floorDiv(y, sh) * sh) * sw + (x - Self.floorDiv(x, sw) * sw)
        return phase * phaseStride + marginBefore + Self.floorDiv(y, sh) * phaseWidth + Self.floorDiv(x, sw)
    }

    /// How many phase columns right of the output column kernel column `kw`'s taps read (negative: left).
    func columnOffset(kw: Int) -> Int {
        Self.floorDiv(kw * geometry.dilationWidth - geometry.padLeft, geometry.strideWidth)
    }

    /// The output columns whose tap in kernel column `kw` lies inside the input (the others read zero).
    public func validColumns(kw: Int) -> Range<Int> {
        let c = columnOffset(kw: kw)
        let lo = Swift.min(phaseWidth, Swift.max(0, -c)), hi = Swift.max(lo, Swift.min(phaseWidth, phaseWidth - c))
        return lo..<hi
    }

    /// Positions the kernels compute: `positions` rounded up to `block`.
    public var computedPositions: Int { Self.roundUp(positions, Self.block) }

    /// Lane masks for the kernels: for kernel column `kw`, `masks[kw · computedPositions + i]` is all ones
    /// when output position `i`'s column is in `validColumns(kw:)` and zero otherwise; `masked[kw]` is false
    /// when every column is valid (the kernel then skips the mask).
    public func columnMasks() -> (masks: [UInt32], masked: [Bool]) {
        var masks: [UInt32] = [], masked: [Bool] = []
        for kw in 0..<geometry.kernelWidth {
            let valid = validColumns(kw: kw)
            masked.append(valid != 0..<phaseWidth)
            masks += (0..<computedPositions).map { valid.contains($0 % phaseWidth) ? UInt32.max : 0 }
        }
        return (masks, masked)
    }

    /// Writes one channel plane (`inputHeight × inputWidth` at `input`) into the phase planes of `buffer`;
    /// the margins are not touched (they stay zero from the buffer's allocation).
    public func fill(input: UnsafePointer<Float>, buffer: UnsafeMutablePointer<Float>) {
        let g = geometry
        let sh = g.strideHeight, sw = g.strideWidth, w = g.inputWidth
        if sh == 1 && sw == 1 {
            Copy.floats(buffer + marginBefore, input, phaseHeight * phaseWidth)
            return
        }
        for a in 0..<sh {
            if sw == 2 {  // a whole phase-row pass at once: its rows may run past their ends
                let e = buffer + (a * 2) * phaseStride + marginBefore
                Copy.splitEvenOddRows(input + a * w, sourceRowStride: sh * w, even: e, odd: e + phaseStride,
                                      rows: phaseHeight, count: phaseWidth)
                continue
            }
            for r in 0..<phaseHeight {
                let src = input + (r * sh + a) * w
                if sw == 1 {
                    Copy.floats(buffer + a * phaseStride + marginBefore + r * phaseWidth, src, w)
                } else {
                    for b in 0..<sw {
                        let dst = buffer + (a * sw + b) * phaseStride + marginBefore + r * phaseWidth
                        for j in 0..<phaseWidth { dst[j] = src[j * sw + b] }
                    }
                }
            }
        }
    }

    /// At stride 1, the output rows whose every read — taps, and the whole vectors a kernel step loads past a
    /// row's end — falls inside the channel's own input plane, so a kernel can read the NCHW input in place
    /// (buffer base `input + rows.lowerBound · W − marginBefore`) instead of a filled copy; `nil` at other
    /// strides, on planes under 32 KB, or when that leaves fewer than 8 rows. Only the rows above and below go
    /// through the buffer. Measured on one 3x3 layer: 32×112² (50 KB planes) 0.108 → 0.088 ms; 144×56² (12.5 KB
    /// planes, which the copy leaves in L1 for the kernel) 0.119 → 0.122, hence the size limit.
    public var inPlaceRows: Range<Int>? {
        let g = geometry
        guard phases == 1, phaseWidth >= 16, phaseHeight * phaseWidth >= 8192 else { return nil }
        let rows = (0..<g.kernelHeight).map { $0 * g.dilationHeight - g.padTop }
        let cols = (0..<g.kernelWidth).map { $0 * g.dilationWidth - g.padLeft }
        guard let rowMin = rows.min(), let rowMax = rows.max(), let colMin = cols.min(), let colMax = cols.max(),
              -colMin < phaseWidth, colMax < phaseWidth else { return nil }
        // First row: its first tap row inside the input, one more when a tap reads left of column 0 (the row
        // above's last element). Last row: a step's loads reach `Self.block` floats past the last position, plus
        // the second row of a two-row pass, plus the lowest tap row — kept one `block` inside the plane.
        let t0 = Swift.max(0, -rowMin) + (colMin < 0 ? 1 : 0)
        let t1 = phaseHeight - 1 - Swift.max(0, rowMax) - (2 * Self.block + Swift.max(0, colMax) + phaseWidth - 1) / phaseWidth
        return t1 - t0 >= 8 ? t0..<t1 : nil
    }

    /// Floats of one channel as `fillColumnCopies` writes it: one buffer per kernel column.
    public var columnCopiesSize: Int { geometry.kernelWidth * bufferSize }

    /// Writes one channel plane `kernelWidth` times, copy `kw` (at `buffer + kw · bufferSize`) with the phase
    /// columns zeroed that a tap of kernel column `kw` only reaches by running off the other side of a row.
    /// Reading tap `(kh, kw)` at `kw · bufferSize + tapOffset(kh, kw)` then needs no mask: the direct
    /// convolution's micro-kernels run unchanged on it, and no output column is computed and thrown away.
    public func fillColumnCopies(input: UnsafePointer<Float>, buffer: UnsafeMutablePointer<Float>) {
        let g = geometry
        for kw in 0..<g.kernelWidth {
            let copy = buffer + kw * bufferSize
            fill(input: input, buffer: copy)
            let c = columnOffset(kw: kw)
            let cleared = c < 0 ? Swift.max(0, phaseWidth + c)..<phaseWidth : 0..<Swift.min(phaseWidth, c)
            if cleared.isEmpty { continue }
            for phase in 0..<phases {
                let plane = copy + phase * phaseStride + marginBefore
                for r in 0..<phaseHeight { (plane + r * phaseWidth + cleared.lowerBound).update(repeating: 0, count: cleared.count) }
            }
        }
    }

    @inline(__always) static func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
    @inline(__always) static func roundUp(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b * b }
}
