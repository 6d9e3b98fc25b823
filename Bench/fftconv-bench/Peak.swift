import Dispatch
import FFTConv
import Foundation

/// The machine's single-precision FMA peak, measured with independent Swift SIMD FMA chains: twelve chains
/// (enough to cover FMA latency × two FMA ports) of one vector register each — SIMD16 where the build has
/// AVX-512, SIMD8 (one ymm, or two NEON q registers) otherwise.
enum Peak {
    @inline(never)
    static func chains8(_ iterations: Int, _ seed: Float) -> Float {
        typealias V = SIMD8<Float>
        let m = V(repeating: 0.999_999), c = V(repeating: 1e-7)
        var a0 = V(repeating: seed), a1 = a0 + 1, a2 = a0 + 2, a3 = a0 + 3, a4 = a0 + 4, a5 = a0 + 5
        var a6 = a0 + 6, a7 = a0 + 7, a8 = a0 + 8, a9 = a0 + 9, a10 = a0 + 10, a11 = a0 + 11
        for _ in 0..<iterations {
            a0 = c.addingProduct(a0, m); a1 = c.addingProduct(a1, m); a2 = c.addingProduct(a2, m)
            a3 = c.addingProduct(a3, m); a4 = c.addingProduct(a4, m); a5 = c.addingProduct(a5, m)
            a6 = c.addingProduct(a6, m); a7 = c.addingProduct(a7, m); a8 = c.addingProduct(a8, m)
            a9 = c.addingProduct(a9, m); a10 = c.addingProduct(a10, m); a11 = c.addingProduct(a11, m)
        }
        return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11).sum()
    }

    @inline(never)
    static func chains16(_ iterations: Int, _ seed: Float) -> Float {
        typealias V = SIMD16<Float>
        let m = V(repeating: 0.999_999), c = V(repeating: 1e-7)
        var a0 = V(repeating: seed), a1 = a0 + 1, a2 = a0 + 2, a3 = a0 + 3, a4 = a0 + 4, a5 = a0 + 5
        var a6 = a0 + 6, a7 = a0 + 7, a8 = a0 + 8, a9 = a0 + 9, a10 = a0 + 10, a11 = a0 + 11
        for _ in 0..<iterations {
            a0 = c.addingProduct(a0, m); a1 = c.addingProduct(a1, m); a2 = c.addingProduct(a2, m)
            a3 = c.addingProduct(a3, m); a4 = c.addingProduct(a4, m); a5 = c.addingProduct(a5, m)
            a6 = c.addingProduct(a6, m); a7 = c.addingProduct(a7, m); a8 = c.addingProduct(a8, m)
            a9 = c.addingProduct(a9, m); a10 = c.addingProduct(a10, m); a11 = c.addingProduct(a11, m)
        }
        return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11).sum()
    }

    /// GFLOP/s of `threads` threads running FMA chains at once; best of `repeats` runs of ~0.1 s.
    static func measure(threads: Int, repeats: Int = 5) -> Double {
        let wide = BuildInfo.compiledFor.contains(.avx512f)
        let lanes = wide ? 16 : 8
        let iterations = 4_000_000
        var best = 0.0
        var sink: Float = 0
        for r in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            let sums = UnsafeMutableBufferPointer<Float>.allocate(capacity: threads)
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                sums[t] = wide ? chains16(iterations, Float(r + t)) : chains8(iterations, Float(r + t))
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            sink += sums.reduce(0, +)
            sums.deallocate()
            best = Swift.max(best, Double(threads * iterations * 12 * lanes * 2) / seconds / 1e9)
        }
        if sink == .infinity { print("") }  // keep the result alive
        return best
    }
}

extension Peak {
    /// DRAM read bandwidth in GB/s: `threads` threads summing disjoint parts of a 512 MiB array with SIMD
    /// loads (the access pattern of streaming weights); best of `repeats`.
    static func readBandwidth(threads: Int, repeats: Int = 3) -> Double {
        let count = 128 << 20
        let data = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { data.deallocate() }
        data.initialize(repeating: 1, count: count)
        var best = 0.0
        var sink: Float = 0
        for _ in 0..<repeats {
            let sums = UnsafeMutableBufferPointer<Float>.allocate(capacity: threads)
            let start = DispatchTime.now().uptimeNanoseconds
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                let lo = count / threads * t, hi = count / threads * (t + 1)
                var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
                var i = lo
                let p = UnsafeRawPointer(data)
                while i + 64 <= hi {
                    a0 += p.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                    a1 += p.loadUnaligned(fromByteOffset: i * 4 + 64, as: SIMD16<Float>.self)
                    a2 += p.loadUnaligned(fromByteOffset: i * 4 + 128, as: SIMD16<Float>.self)
                    a3 += p.loadUnaligned(fromByteOffset: i * 4 + 192, as: SIMD16<Float>.self)
                    i += 64
                }
                sums[t] = (a0 + a1 + a2 + a3).sum()
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            sink += sums.reduce(0, +)
            sums.deallocate()
            best = Swift.max(best, Double(count * 4) / seconds / 1e9)
        }
        if sink == .infinity { print("") }
        return best
    }
}
