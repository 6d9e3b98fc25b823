import Foundation

/// The planner's memory: for every convolution it has measured, the candidate that won and what each
/// candidate took, keyed by CPU model, descriptor, input shape and thread count; plus FFTW's wisdom, so that
/// FFT plans made with `measure` are instant too. Loading a file makes `PlannerMode.measure` instant for
/// every layer it covers (FFTW's wisdom plays the same role for transforms).
///
/// One instance may be shared by several planners and threads.
///
/// File format (JSON): `{"format": "fftconv-tuning/1", "entries": [{"key", "chosen", "timings"}], "fftw_wisdom"}`.
public final class TuningFile: @unchecked Sendable {
    /// One remembered decision.
    public struct Entry: Sendable, Hashable, Codable {
        /// See `TuningFile.key(for:input:batch:threads:)`.
        public var key: String
        /// The winner.
        public var chosen: ConvolutionCandidate
        /// Every candidate's measurement, the winner's included.
        public var timings: [CandidateTiming]

        /// Creates an entry; see each property.
        public init(key: String, chosen: ConvolutionCandidate, timings: [CandidateTiming]) {
            self.key = key
            self.chosen = chosen
            self.timings = timings
        }
    }

    struct Contents: Codable {
        var format: String
        var entries: [Entry]
        var fftw_wisdom: String?
    }

    static let format = "fftconv-tuning/1"
    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    private var order: [String] = []

    /// An empty tuning file.
    public init() {}

    /// Reads a tuning file and imports its FFTW wisdom.
    ///
    /// - Throws: `ConvolutionError.invalidOption` when the file cannot be read or is not a tuning file.
    public convenience init(contentsOf path: String) throws {
        self.init()
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ConvolutionError.invalidOption("cannot read tuning file \(path): \(error.localizedDescription)")
        }
        let contents: Contents
        do { contents = try JSONDecoder().decode(Contents.self, from: data) } catch {
            throw ConvolutionError.invalidOption("\(path) is not an FFTConv tuning file: \(error)")
        }
        guard contents.format == Self.format else {
            throw ConvolutionError.invalidOption("\(path) has format '\(contents.format)', expected '\(Self.format)'")
        }
        for e in contents.entries { record(e) }
        if let w = contents.fftw_wisdom { try FFTWisdom.importString(w) }
    }

    /// Writes every entry and this process's FFTW wisdom to `path`.
    public func write(to path: String) throws {
        let contents = Contents(format: Self.format, entries: lock.withLock { order.compactMap { entries[$0] } },
                                fftw_wisdom: FFTWisdom.exportString())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do { try encoder.encode(contents).write(to: URL(fileURLWithPath: path)) } catch {
            throw ConvolutionError.invalidOption("cannot write tuning file \(path): \(error.localizedDescription)")
        }
    }

    /// The key of a measurement: CPU (`BuildInfo.cpuName`) and build, descriptor, input size, batch and threads.
    public static func key(for d: ConvolutionDescriptor, input: Size2D, batch: Int, threads: Int) -> String {
        "\(BuildInfo.cpuName) | \(BuildInfo.compiledFor) | \(d) | in \(input.height)x\(input.width) | batch \(batch) | threads \(threads)"
    }

    /// The remembered entry for `key`, if any.
    public func entry(_ key: String) -> Entry? { lock.withLock { entries[key] } }

    /// Remembers (or replaces) an entry.
    public func record(_ e: Entry) {
        lock.withLock {
            if entries[e.key] == nil { order.append(e.key) }
            entries[e.key] = e
        }
    }

    /// Number of entries.
    public var count: Int { lock.withLock { entries.count } }

    /// Every entry, in the order first recorded.
    public var allEntries: [Entry] { lock.withLock { order.compactMap { entries[$0] } } }
}
