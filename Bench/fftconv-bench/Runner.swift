import ArgumentParser
import FFTConv
import FFTConvKernels
import Foundation

/// One convolution to time: a descriptor at an input size and batch.
struct BenchLayer {
    var name: String
    var descriptor: ConvolutionDescriptor
    var batch: Int
    var input: Size2D

    /// torchvision's AlexNet convolutions at their real sizes (224×224 input).
    static func alexnet(batch: Int) throws -> [BenchLayer] {
        [
            BenchLayer(name: "conv1", descriptor: try .init(inputChannels: 3, outputChannels: 64, kernel: 11, stride: 4, padding: 2),
                       batch: batch, input: Size2D(224, 224)),
            BenchLayer(name: "conv2", descriptor: try .init(inputChannels: 64, outputChannels: 192, kernel: 5, padding: 2),
                       batch: batch, input: Size2D(27, 27)),
            BenchLayer(name: "conv3", descriptor: try .init(inputChannels: 192, outputChannels: 384, kernel: 3, padding: 1),
                       batch: batch, input: Size2D(13, 13)),
            BenchLayer(name: "conv4", descriptor: try .init(inputChannels: 384, outputChannels: 256, kernel: 3, padding: 1),
                       batch: batch, input: Size2D(13, 13)),
            BenchLayer(name: "conv5", descriptor: try .init(inputChannels: 256, outputChannels: 256, kernel: 3, padding: 1),
                       batch: batch, input: Size2D(13, 13)),
        ]
    }
}

/// One result row; the JSON keys are the issue's contract, the rest is extra detail.
struct BenchRow: Encodable {
    var layer: String
    var algorithm: String
    var threads: Int
    var median_ms: Double
    var min_ms: Double
    var gflops: Double
    var max_rel_error: Double
    var detail: String
    var prepare_ms: Double
    var prepared_bytes: Int
    /// Kernel size, in `sweep` rows only.
    var kernel: Int?
}

/// Times layers and prints the table or JSON.
struct Runner {
    let options: RunOptions
    let start = Date()

    /// Progress on stderr, only once the run has lasted a second.
    func progress(_ message: String) {
        guard Date().timeIntervalSince(start) > 1 else { return }
        FileHandle.standardError.write(Data("[\(String(format: "%.1f", Date().timeIntervalSince(start)))s] \(message)\n".utf8))
    }

    /// Measures every layer and prints the rows; returns them (for plots).
    @discardableResult
    func report(_ layers: [BenchLayer], kernelColumn: Bool = false) throws -> [BenchRow] {
        if let warning = BuildInfo.warning { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        if let path = options.wisdom, FileManager.default.fileExists(atPath: path) { try FFTWisdom.importFile(path) }
        var rows: [BenchRow] = []
        for layer in layers {
            // With several layers or algorithms, a pair that cannot run (winograd on a 5x5 layer) is skipped;
            // a single explicit request that cannot run is an error.
            let algorithmCount = try options.algorithms().count, tileCount = try options.winogradTileList().count
            let single = layers.count == 1 && algorithmCount == 1 && tileCount == 1
            var measured = try measure(layer, skipUnsupported: !single)
            if kernelColumn { for i in measured.indices { measured[i].kernel = layer.descriptor.kernel.height } }
            rows += measured
        }
        if let path = options.wisdom { try FFTWisdom.exportFile(path) }
        if options.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
        } else {
            printTable(rows)
        }
        return rows
    }

    func measure(_ layer: BenchLayer, skipUnsupported: Bool = true) throws -> [BenchRow] {
        let d = layer.descriptor
        var rng = SeededGenerator(seed: options.seed)
        let x = try Tensor.random(shape: [layer.batch, d.inputChannels, layer.input.height, layer.input.width], using: &rng)
        let w = try Tensor.random(shape: d.weightShape, in: -0.1...0.1, using: &rng)
        let b = d.hasBias ? try Tensor.random(shape: [d.outputChannels], using: &rng) : nil
        progress("\(layer.name): reference output")
        let reference = try ReferenceConvolution.run(descriptor: d, input: x, weights: w, bias: b)
        let refMax = Double(reference.maxAbsolute)
        let flops = 2 * Double(try d.multiplyAccumulates(batch: layer.batch, input: layer.input))
        var rows: [BenchRow] = []
        var runs: [(ConvolutionAlgorithm, Int?)] = []
        for a in try options.algorithms() {
            guard a == .winograd else { runs.append((a, nil)); continue }
            // Tiles the registry lacks for this filter size (6 for 5x5) are left out unless asked for alone.
            runs += try options.winogradTileList().filter { !skipUnsupported || WinogradRegistry.tiles(filter: d.kernel.height).contains($0) }
                .map { (a, $0) }
        }
        for (algorithm, tile) in runs {
            progress("\(layer.name): \(algorithm)")
            let t0 = Date()
            let conv: Convolution2D
            do {
                var o = try options.convolutionOptions()
                o.winogradTile = tile
                conv = try Convolution2D(descriptor: d, input: layer.input, weights: w, bias: b, algorithm: algorithm, options: o)
            } catch ConvolutionError.unsupported(let alg, let why) where skipUnsupported {
                progress("\(layer.name): skipping \(alg): \(why)")
                continue
            }
            let prepare = Date().timeIntervalSince(t0) * 1e3
            var y = try Tensor(zeros: conv.outputShape(batch: layer.batch))
            for _ in 0..<options.warmup { try conv.run(x, into: &y) }
            var times: [Double] = []
            for _ in 0..<options.loops {
                let t = DispatchTime.now().uptimeNanoseconds
                try conv.run(x, into: &y)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
            }
            times.sort()
            let median = times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
            let err = Double(y.maxAbsoluteDifference(reference) ?? .infinity) / Swift.max(refMax, .leastNormalMagnitude)
            rows.append(BenchRow(layer: layer.name, algorithm: tile.map { "winograd F\($0)" } ?? algorithm.rawValue, threads: options.threads,
                                 median_ms: median, min_ms: times[0], gflops: flops / (median * 1e6),
                                 max_rel_error: err, detail: conv.summary, prepare_ms: prepare,
                                 prepared_bytes: conv.preparedBytes, kernel: nil))
        }
        return rows
    }

    func printTable(_ rows: [BenchRow]) {
        print("FFTConv bench: \(BuildInfo.architecture), compiled for \(BuildInfo.compiledFor), threads \(options.threads), "
              + "\(options.loops) timed calls after \(options.warmup) warm-up")
        let header = ["layer", "algorithm", "median ms", "min ms", "GFLOP/s", "max rel err", "prepare ms", "prepared MB", "detail"]
        let cells = rows.map { r in
            [r.layer, r.algorithm, String(format: "%.3f", r.median_ms), String(format: "%.3f", r.min_ms),
             String(format: "%.1f", r.gflops), String(format: "%.1e", r.max_rel_error),
             String(format: "%.1f", r.prepare_ms), String(format: "%.1f", Double(r.prepared_bytes) / 1e6), r.detail]
        }
        let widths = header.indices.map { i in ([header[i]] + cells.map { $0[i] }).map(\.count).max() ?? 0 }
        func line(_ c: [String]) -> String {
            c.enumerated().map { i, s in i < 2 || i == c.count - 1 ? s.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                : String(repeating: " ", count: widths[i] - s.count) + s }.joined(separator: "  ")
        }
        print(line(header))
        print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
        for c in cells { print(line(c)) }
    }
}
