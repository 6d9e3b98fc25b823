import CFFTW
import Foundation

/// How hard FFTW searches for a fast transform when it plans one (its planner flags).
public enum FFTPlanningEffort: String, Sendable, Hashable, CaseIterable {
    /// `FFTW_ESTIMATE`: microseconds to plan, a heuristic choice.
    case estimate
    /// `FFTW_MEASURE`: milliseconds to plan, times candidate algorithms.
    case measure
    /// `FFTW_PATIENT`: much longer, more candidates.
    case patient
    /// `FFTW_EXHAUSTIVE`: all candidates.
    case exhaustive

    var flags: UInt32 {
        switch self {
        case .estimate: return UInt32(FFTW_ESTIMATE)
        case .measure: return UInt32(FFTW_MEASURE)
        case .patient: return UInt32(FFTW_PATIENT)
        case .exhaustive: return UInt32(FFTW_EXHAUSTIVE)
        }
    }
}

/// The one lock around FFTW's planner, which is not thread-safe (plan creation, destruction and wisdom
/// all go through it). Executing a plan with the new-array functions needs no lock.
let fftwPlannerLock = NSLock()

/// A batch of `count` 2-D single-precision transforms of one size, owned and destroyed with the object.
///
/// Real plans (`Key.complex` false): forward plans map `count` arrays of `rows × cols` real values
/// (`realDistance` floats apart) to `rows × (cols/2 + 1)` interleaved complex values (`complexDistance` floats
/// apart); inverse plans map back (unnormalised, and they overwrite their complex input). Complex plans map
/// `count` arrays of `rows × cols` interleaved complex values (`complexDistance` floats apart) to as many, forward
/// or backward (unnormalised; they may overwrite their input). Arrays passed to `forward`/`inverse`/`transform`
/// must be 64-byte aligned (every `AlignedBuffer` is, and distances are multiples of 16 floats) and must not overlap.
final class FFTPlan: @unchecked Sendable {
    let plan: fftwf_plan
    let key: Key

    struct Key: Hashable, Sendable {
        var rows: Int
        var cols: Int
        var inverse: Bool
        var effort: FFTPlanningEffort
        /// Transforms per execution, and the distance between consecutive ones (floats).
        var count: Int = 1
        var realDistance: Int = 0
        var complexDistance: Int = 0
        /// Complex-to-complex (`inverse`: FFTW's backward sign) instead of real/complex.
        var complex: Bool = false
    }

    fileprivate init(plan: fftwf_plan, key: Key) {
        self.plan = plan
        self.key = key
    }

    /// Real-to-complex transform of `input` into `output`.
    @inline(__always)
    func forward(_ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        output.withMemoryRebound(to: fftwf_complex.self, capacity: 1) { fftwf_execute_dft_r2c(plan, input, $0) }
    }

    /// Complex-to-real transform of `input` (overwritten) into `output`.
    @inline(__always)
    func inverse(_ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        input.withMemoryRebound(to: fftwf_complex.self, capacity: 1) { fftwf_execute_dft_c2r(plan, $0, output) }
    }

    /// Complex-to-complex transform of `input` (may be overwritten) into `output`.
    @inline(__always)
    func transform(_ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        input.withMemoryRebound(to: fftwf_complex.self, capacity: 1) { i in
            output.withMemoryRebound(to: fftwf_complex.self, capacity: 1) { o in fftwf_execute_dft(plan, i, o) }
        }
    }

    deinit {
        fftwPlannerLock.withLock { fftwf_destroy_plan(plan) }
    }
}

/// The process-wide cache of FFTW plans: one plan per transform size, direction and planning effort,
/// created once (serialised) and shared by every layer, executed concurrently from any thread.
final class FFTPlanCache: @unchecked Sendable {
    static let shared = FFTPlanCache()
    private var plans: [FFTPlan.Key: FFTPlan] = [:]

    /// The cached plan for `key`, planning it now if needed.
    ///
    /// - Throws: `ConvolutionError.unsupported` if FFTW cannot plan the size.
    func plan(_ key: FFTPlan.Key) throws -> FFTPlan {
        try fftwPlannerLock.withLock {
            if let p = plans[key] { return p }
            if key.complex { return try complexPlan(key) }
            let realDistance = Swift.max(key.realDistance, key.rows * key.cols)
            let complexDistance = Swift.max(key.complexDistance, key.rows * (key.cols / 2 + 1) * 2)
            guard complexDistance % 2 == 0, key.count >= 1 else {
                throw ConvolutionError.unsupported(algorithm: "fft", reason: "invalid transform batch layout")
            }
            let real = AlignedBuffer(count: realDistance * key.count)
            let complex = AlignedBuffer(count: complexDistance * key.count)
            let flags = key.effort.flags
            var n: [Int32] = [Int32(key.rows), Int32(key.cols)]
            let made: fftwf_plan? = complex.pointer.withMemoryRebound(to: fftwf_complex.self, capacity: 1) { c in
                key.inverse
                    ? fftwf_plan_many_dft_c2r(2, &n, Int32(key.count), c, nil, 1, Int32(complexDistance / 2),
                                              real.pointer, nil, 1, Int32(realDistance), flags)
                    : fftwf_plan_many_dft_r2c(2, &n, Int32(key.count), real.pointer, nil, 1, Int32(realDistance),
                                              c, nil, 1, Int32(complexDistance / 2), flags)
            }
            guard let made else {
                throw ConvolutionError.unsupported(algorithm: "fft", reason: "FFTW could not plan a \(key.rows)x\(key.cols) transform")
            }
            let p = FFTPlan(plan: made, key: key)
            plans[key] = p
            return p
        }
    }

    /// A batch of complex transforms (called with the lock held).
    private func complexPlan(_ key: FFTPlan.Key) throws -> FFTPlan {
        let distance = Swift.max(key.complexDistance, key.rows * key.cols * 2)
        guard distance % 2 == 0, key.count >= 1 else {
            throw ConvolutionError.unsupported(algorithm: "fft", reason: "invalid transform batch layout")
        }
        let input = AlignedBuffer(count: distance * key.count), output = AlignedBuffer(count: distance * key.count)
        var n: [Int32] = [Int32(key.rows), Int32(key.cols)]
        let flags = key.effort.flags | UInt32(FFTW_DESTROY_INPUT)
        let made: fftwf_plan? = input.pointer.withMemoryRebound(to: fftwf_complex.self, capacity: 1) { i in
            output.pointer.withMemoryRebound(to: fftwf_complex.self, capacity: 1) { o in
                fftwf_plan_many_dft(2, &n, Int32(key.count), i, nil, 1, Int32(distance / 2), o, nil, 1, Int32(distance / 2),
                                    key.inverse ? FFTW_BACKWARD : FFTW_FORWARD, flags)
            }
        }
        guard let made else {
            throw ConvolutionError.unsupported(algorithm: "fft", reason: "FFTW could not plan a \(key.rows)x\(key.cols) complex transform")
        }
        let p = FFTPlan(plan: made, key: key)
        plans[key] = p
        return p
    }

    /// The number of cached plans.
    var count: Int { fftwPlannerLock.withLock { plans.count } }
}

/// FFTW wisdom: what the planner learned, saved to a file and loaded in a later process so that planning
/// with `measure` or `patient` is instant there.
public enum FFTWisdom {
    /// Adds the wisdom in the file at `path` to this process's.
    ///
    /// - Throws: `ConvolutionError.invalidOption` when the file is missing or is not FFTW wisdom.
    public static func importFile(_ path: String) throws {
        let ok = fftwPlannerLock.withLock { fftwf_import_wisdom_from_filename(path) }
        if ok == 0 { throw ConvolutionError.invalidOption("cannot read FFTW wisdom from \(path)") }
    }

    /// This process's wisdom as FFTW's text form.
    public static func exportString() -> String {
        fftwPlannerLock.withLock {
            guard let p = fftwf_export_wisdom_to_string() else { return "" }
            defer { free(p) }
            return String(cString: p)
        }
    }

    /// Adds wisdom in FFTW's text form (as from `exportString`) to this process's.
    ///
    /// - Throws: `ConvolutionError.invalidOption` when the text is not FFTW wisdom.
    public static func importString(_ wisdom: String) throws {
        if wisdom.isEmpty { return }
        let ok = fftwPlannerLock.withLock { fftwf_import_wisdom_from_string(wisdom) }
        if ok == 0 { throw ConvolutionError.invalidOption("the tuning file's FFTW wisdom is not valid wisdom") }
    }

    /// Writes this process's wisdom to the file at `path`.
    public static func exportFile(_ path: String) throws {
        let ok = fftwPlannerLock.withLock { fftwf_export_wisdom_to_filename(path) }
        if ok == 0 { throw ConvolutionError.invalidOption("cannot write FFTW wisdom to \(path)") }
    }
}
