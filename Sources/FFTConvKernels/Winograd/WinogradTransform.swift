/// The matrices of one Winograd minimal-filtering algorithm F(m×m, r×r): `Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A`
/// turns an `α×α` input tile `d` (α = m + r − 1) and an `r×r` filter `g` into the `m×m` outputs of their
/// correlation, with α² multiplications instead of m²·r².
///
/// The matrices come from Toom–Cook interpolation at `α − 1` finite points plus the point at infinity,
/// computed in `Double` (as in Lavin & Gray 2015 and the `wincnn` generator):
///
/// - `Aᵀ[i][j] = pⱼⁱ`, and column ∞ is `e_{m−1}`;
/// - `G[j][k] = pⱼᵏ / fⱼ` with `fⱼ = Π_{l≠j}(pⱼ − p_l)`, and row ∞ is `e_{r−1}`;
/// - `Bᵀ` row j holds the coefficients of `Π_{l≠j}(x − p_l)`, row ∞ those of `Π_l(x − p_l)`.
///
/// `G` (applied once, to the weights, at prepare time) carries the fractions, so `Bᵀ` (applied to every input
/// tile at run time) has small exact coefficients for the usual points. Larger tiles use larger points, whose
/// powers cost precision: F(6×6) is measurably less accurate than F(2×2) (see Docs/Algorithms.md).
public struct WinogradTransform: Sendable, Hashable, CustomStringConvertible {
    /// Outputs per tile side.
    public let m: Int
    /// Filter side.
    public let r: Int
    /// Tile side, `m + r − 1`.
    public var alpha: Int { m + r - 1 }
    /// The interpolation points (finite ones).
    public let points: [Double]
    /// `Aᵀ`, `m × α`, row-major.
    public let outputMatrix: [Double]
    /// `G`, `α × r`, row-major.
    public let filterMatrix: [Double]
    /// `Bᵀ`, `α × α`, row-major.
    public let inputMatrix: [Double]

    /// Name with the tile, e.g. `wino4x4_3x3`.
    public var name: String { "wino\(m)x\(m)_\(r)x\(r)" }
    public var description: String { name }

    /// Builds F(m, r) from `m + r − 2` distinct finite points.
    public init(m: Int, r: Int, points: [Double]) {
        let alpha = m + r - 1
        self.m = m
        self.r = r
        self.points = points
        let n = alpha - 1  // finite points
        var at = [Double](repeating: 0, count: m * alpha)
        for i in 0..<m {
            for j in 0..<n { at[i * alpha + j] = Self.pow(points[j], i) }
            at[i * alpha + n] = i == m - 1 ? 1 : 0
        }
        var g = [Double](repeating: 0, count: alpha * r)
        for j in 0..<n {
            var f = 1.0
            for l in 0..<n where l != j { f *= points[j] - points[l] }
            for k in 0..<r { g[j * r + k] = Self.pow(points[j], k) / f }
        }
        g[n * r + r - 1] = 1
        var bt = [Double](repeating: 0, count: alpha * alpha)
        for j in 0...n {
            // Coefficients (lowest power first) of Π (x − p_l) over l ≠ j (all l for the row at infinity).
            var poly: [Double] = [1]
            for l in 0..<n where l != j {
                var next = [Double](repeating: 0, count: poly.count + 1)
                for (e, c) in poly.enumerated() {
                    next[e + 1] += c
                    next[e] -= points[l] * c
                }
                poly = next
            }
            for (e, c) in poly.enumerated() { bt[j * alpha + e] = c }
        }
        outputMatrix = at
        filterMatrix = g
        inputMatrix = bt
    }

    private static func pow(_ x: Double, _ e: Int) -> Double {
        var v = 1.0
        for _ in 0..<e { v *= x }
        return v
    }

    /// Transforms one `r × r` filter (row-major) into its `α × α` tile `G g Gᵀ`, in `Double`.
    public func transformFilter(_ filter: UnsafePointer<Float>) -> [Double] {
        let a = alpha
        var tmp = [Double](repeating: 0, count: a * r)  // G g
        for i in 0..<a {
            for k in 0..<r {
                var s = 0.0
                for l in 0..<r { s += filterMatrix[i * r + l] * Double(filter[l * r + k]) }
                tmp[i * r + k] = s
            }
        }
        var u = [Double](repeating: 0, count: a * a)
        for i in 0..<a {
            for j in 0..<a {
                var s = 0.0
                for k in 0..<r { s += tmp[i * r + k] * filterMatrix[j * r + k] }
                u[i * a + j] = s
            }
        }
        return u
    }
}

/// Every Winograd variant, in one list; the Winograd tester runs each of them.
///
/// A variant is named by its outputs per tile side `m` and its filter side `r`. Variants with the same tile side
/// α = m + r − 1 share their interpolation points and so their input transform `Bᵀ`: F(4×4, 3×3) and F(2×2, 5×5)
/// (α = 6), F(6×6, 3×3) and F(4×4, 5×5) (α = 8).
public enum WinogradRegistry {
    /// F(2×2, 3×3): 16 products for 4 outputs (2.25× fewer than direct), exact small coefficients.
    public static let f2x2_3x3 = WinogradTransform(m: 2, r: 3, points: [0, 1, -1])
    /// F(4×4, 3×3): 36 products for 16 outputs (4×), Lavin's points 0, ±1, ±2.
    public static let f4x4_3x3 = WinogradTransform(m: 4, r: 3, points: [0, 1, -1, 2, -2])
    /// F(6×6, 3×3): 64 products for 36 outputs (5.06×), points 0, ±1, ±2, ±½.
    public static let f6x6_3x3 = WinogradTransform(m: 6, r: 3, points: [0, 1, -1, 2, -2, 0.5, -0.5])
    /// F(2×2, 5×5): 36 products for 4 outputs (2.78× fewer than direct's 100), F(4×4, 3×3)'s points.
    public static let f2x2_5x5 = WinogradTransform(m: 2, r: 5, points: [0, 1, -1, 2, -2])
    /// F(4×4, 5×5): 64 products for 16 outputs (6.25× fewer than direct's 400), F(6×6, 3×3)'s points.
    public static let f4x4_5x5 = WinogradTransform(m: 4, r: 5, points: [0, 1, -1, 2, -2, 0.5, -0.5])

    /// All variants: 3×3 filters, then 5×5, each smallest tile first.
    public static let all: [WinogradTransform] = [f2x2_3x3, f4x4_3x3, f6x6_3x3, f2x2_5x5, f4x4_5x5]

    /// Filter sides some variant computes.
    public static var filterSides: Set<Int> { Set(all.map(\.r)) }

    /// Outputs per tile side of every variant for `r × r` filters.
    public static func tiles(filter r: Int) -> [Int] { all.filter { $0.r == r }.map(\.m) }

    /// The variant with `m` outputs per tile side for `r × r` filters, if listed.
    public static func variant(m: Int, filter r: Int) -> WinogradTransform? { all.first { $0.m == m && $0.r == r } }
}
