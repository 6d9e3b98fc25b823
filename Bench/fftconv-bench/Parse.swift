import ArgumentParser
import FFTConv

/// Parsing of the bench's compact command-line forms (`1x64x27x27`, `2`, `1x2`, `1,2,1,2`, `relu6`).
enum Parse {
    static func shape(_ text: String, rank: Int, what: String) throws -> [Int] {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count == rank, parts.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw ValidationError("\(what) \(text): expected \(rank) positive integers separated by 'x'")
        }
        return parts.compactMap { $0 }
    }

    static func size(_ text: String, what: String) throws -> Size2D {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        switch parts.count {
        case 1: if let v = parts[0] { return Size2D(v, v) }
        case 2: if let h = parts[0], let w = parts[1] { return Size2D(h, w) }
        default: break
        }
        throw ValidationError("\(what) \(text): expected N or HxW")
    }

    static func padding(_ text: String) throws -> Padding {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
        switch parts.count {
        case 1: if let v = parts[0] { return Padding(integerLiteral: v) }
        case 2: if let h = parts[0], let w = parts[1] { return Padding(top: h, left: w, bottom: h, right: w) }
        case 4: if let t = parts[0], let l = parts[1], let b = parts[2], let r = parts[3] {
            return Padding(top: t, left: l, bottom: b, right: r)
        }
        default: break
        }
        throw ValidationError("--padding \(text): expected P, PH,PW or T,L,B,R")
    }

    /// The forms `activation(_:)` reads, for help texts and errors.
    static let activationForms = "none, relu, relu6, leakyrelu:ALPHA, clip:MIN:MAX, hardsigmoid:ALPHA:BETA, hardswish, sigmoid, silu or tanh"

    static func activation(_ text: String) throws -> Activation {
        let parts = text.lowercased().split(separator: ":").map(String.init)
        switch (parts.first ?? "", parts.count) {
        case ("none", 1): return .none
        case ("relu", 1): return .relu
        case ("relu6", 1): return .relu6
        case ("leakyrelu", 2): if let a = Float(parts[1]) { return .leakyReLU(alpha: a) }
        case ("clip", 3): if let lo = Float(parts[1]), let hi = Float(parts[2]) { return .clip(min: lo, max: hi) }
        case ("hardsigmoid", 3): if let a = Float(parts[1]), let b = Float(parts[2]) { return .hardSigmoid(alpha: a, beta: b) }
        case ("hardswish", 1): return .hardSwish
        case ("sigmoid", 1): return .sigmoid
        case ("silu", 1): return .silu
        case ("tanh", 1): return .tanh
        default: break
        }
        throw ValidationError("--activation \(text): expected \(activationForms)")
    }
}
