import ArgumentParser
import FFTConv

/// Options shared by every timing subcommand.
struct RunOptions: ParsableArguments {
    static let defaultAlgorithms = "fft,direct,gemm,depthwise,winograd"

    @Option(help: "Algorithms, comma separated: reference, plain, direct, gemm, depthwise, fft, winograd, or all (every one that applies).")
    var algorithm: String = RunOptions.defaultAlgorithms

    @Option(help: "Threads per call.")
    var threads: Int = 1

    @Option(help: "Untimed calls before timing.")
    var warmup: Int = 2

    @Option(help: "Timed calls.")
    var loops: Int = 10

    @Option(help: "FFT tile (transform size) T or THxTW; default: chosen by the cost model.")
    var tile: String?

    @Option(help: "FFTW planning effort: estimate, measure, patient, exhaustive.")
    var planning: String = "patient"

    @Option(help: "FFTW wisdom file: read before planning when it exists, written after the run.")
    var wisdom: String?

    @Option(help: "Largest FFT kernel-spectra size per layer, in MB (smaller tiles, or spectra per call, above it).")
    var memoryBudget: Double?

    @Option(help: "Winograd tiles to time (outputs per tile side), comma separated: 2, 4, 6.")
    var winogradTiles: String = "2,4,6"

    func winogradTileList() throws -> [Int] {
        let tiles = winogradTiles.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !tiles.isEmpty, tiles.allSatisfy({ $0.map { [2, 4, 6].contains($0) } ?? false }) else {
            throw ValidationError("--winograd-tiles must list tiles among 2, 4, 6")
        }
        return tiles.compactMap { $0 }
    }

    @Option(help: "Micro-kernel variant instead of the default (a GEMM, depthwise or complex-GEMM registry name, e.g. gemm_8x48).")
    var microKernel: String?

    @Option(help: "Seed for the random input and weights.")
    var seed: UInt64 = 42

    @Flag(help: "Print the rows as a JSON array on stdout.")
    var json = false

    func validate() throws {
        guard threads >= 1 && threads <= 1024 else { throw ValidationError("--threads must be in 1...1024") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        guard loops >= 1 else { throw ValidationError("--loops must be at least 1") }
        if let m = memoryBudget, !(m >= 0 && m < 1e9) { throw ValidationError("--memory-budget must be a size in MB") }
        _ = try algorithms()
        _ = try convolutionOptions()
        _ = try winogradTileList()
    }

    func algorithms() throws -> [ConvolutionAlgorithm] {
        var result: [ConvolutionAlgorithm] = []
        for name in algorithm.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) {
            if name == "all" {
                result += ConvolutionAlgorithm.allCases.filter { !result.contains($0) }
            } else if let a = ConvolutionAlgorithm(rawValue: name) {
                if !result.contains(a) { result.append(a) }
            } else {
                throw ValidationError("unknown algorithm '\(name)'; known: \(ConvolutionAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")), all")
            }
        }
        if result.isEmpty { throw ValidationError("--algorithm names no algorithm") }
        return result
    }

    func convolutionOptions() throws -> ConvolutionOptions {
        guard let effort = FFTPlanningEffort(rawValue: planning) else {
            throw ValidationError("unknown --planning '\(planning)'; known: \(FFTPlanningEffort.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return ConvolutionOptions(threads: threads, fftTile: try tile.map { try Parse.size($0, what: "--tile") },
                                  fftPlanning: effort, fftMemoryBudget: memoryBudget.map { Int($0 * 1e6) }, microKernel: microKernel)
    }
}

import Foundation
