import ArgumentParser
import FFTConv
import Foundation

/// `fftconv-bench sweep`: every algorithm over kernel sizes, the crossover table and plot.
struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Time every algorithm for kernel sizes 1, 3, ..., 13 ('same' padding) and plot time against kernel size.")

    @Option(help: "Input and output channels.") var channels: Int = 64
    @Option(help: "Input height and width.") var size: Int = 56
    @Option(help: "Kernel sizes, comma separated.") var kernels: String = "1,3,5,7,9,11,13"
    @Option(help: "Write an SVG plot (time per algorithm against kernel size) to this file.") var svg: String?
    @OptionGroup var options: RunOptions

    func run() throws {
        guard channels >= 1, channels <= 4096, size >= 1, size <= 4096 else { throw ValidationError("--channels and --size must be in 1...4096") }
        let ks = try kernels.split(separator: ",").map { s -> Int in
            guard let k = Int(s), k >= 1, k <= 64 else { throw ValidationError("--kernels: expected sizes in 1...64") }
            return k
        }
        let layers = try ks.map { k in
            BenchLayer(name: "k\(k)", descriptor: try ConvolutionDescriptor(inputChannels: channels, outputChannels: channels,
                                                                            kernel: Size2D(k, k), padding: Padding(top: k / 2, left: k / 2,
                                                                                                                bottom: (k - 1) / 2, right: (k - 1) / 2)),
                       batch: 1, input: Size2D(size, size))
        }
        let rows = try Runner(options: options).report(layers, kernelColumn: true)
        if let svg {
            let title = "\(channels)→\(channels) channels, \(size)×\(size), batch 1, \(options.threads) thread(s)"
            try Plot.svg(rows: rows, title: title).write(toFile: svg, atomically: true, encoding: .utf8)
            FileHandle.standardError.write(Data("wrote \(svg)\n".utf8))
        }
    }
}

/// A small hand-written SVG line plot: median milliseconds (log scale) against kernel size, one line per algorithm.
enum Plot {
    static func svg(rows: [BenchRow], title: String) -> String {
        let width = 720.0, height = 440.0, left = 70.0, right = 150.0, top = 40.0, bottom = 50.0
        let points = rows.compactMap { r in r.kernel.map { (alg: r.algorithm, k: Double($0), ms: r.median_ms) } }
        guard !points.isEmpty else { return "<svg xmlns=\"http://www.w3.org/2000/svg\"/>" }
        let kMin = points.map(\.k).min() ?? 1, kMax = Swift.max(points.map(\.k).max() ?? 1, kMin + 1)
        let lo = log10(Swift.max(points.map(\.ms).min() ?? 0.01, 1e-3)).rounded(.down)
        let hi = Swift.max(log10(points.map(\.ms).max() ?? 1).rounded(.up), lo + 1)
        func x(_ k: Double) -> Double { left + (k - kMin) / (kMax - kMin) * (width - left - right) }
        func y(_ ms: Double) -> Double { top + (hi - log10(ms)) / (hi - lo) * (height - top - bottom) }
        let colors = ["fft": "#d62728", "direct": "#1f77b4", "gemm": "#2ca02c", "depthwise": "#9467bd", "plain": "#7f7f7f",
                      "reference": "#bcbd22", "winograd": "#ff7f0e"]
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(left)\" y=\"22\" font-size=\"14\">Median time per algorithm — \(title)</text>\n"
        var e = lo
        while e <= hi {
            let yy = y(pow(10, e))
            s += "<line x1=\"\(left)\" y1=\"\(yy)\" x2=\"\(width - right)\" y2=\"\(yy)\" stroke=\"#ddd\"/>"
            s += "<text x=\"\(left - 8)\" y=\"\(yy + 4)\" text-anchor=\"end\">\(pow(10, e) < 1 ? String(format: "%g", pow(10, e)) : String(Int(pow(10, e)))) ms</text>\n"
            e += 1
        }
        for k in Set(points.map(\.k)).sorted() {
            s += "<text x=\"\(x(k))\" y=\"\(height - bottom + 18)\" text-anchor=\"middle\">\(Int(k))</text>\n"
        }
        s += "<text x=\"\((left + width - right) / 2)\" y=\"\(height - 12)\" text-anchor=\"middle\">kernel size (k×k)</text>\n"
        s += "<line x1=\"\(left)\" y1=\"\(height - bottom)\" x2=\"\(width - right)\" y2=\"\(height - bottom)\" stroke=\"black\"/>\n"
        s += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(height - bottom)\" stroke=\"black\"/>\n"
        var algorithms: [String] = []
        for p in points where !algorithms.contains(p.alg) { algorithms.append(p.alg) }
        for (i, alg) in algorithms.enumerated() {
            let color = colors[alg] ?? "#000"
            let line = points.filter { $0.alg == alg }.sorted { $0.k < $1.k }
            s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"" + line.map { "\(x($0.k)),\(y($0.ms))" }.joined(separator: " ") + "\"/>\n"
            for p in line { s += "<circle cx=\"\(x(p.k))\" cy=\"\(y(p.ms))\" r=\"3\" fill=\"\(color)\"/>\n" }
            let ly = top + 10 + Double(i) * 20
            s += "<line x1=\"\(width - right + 15)\" y1=\"\(ly)\" x2=\"\(width - right + 40)\" y2=\"\(ly)\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            s += "<text x=\"\(width - right + 46)\" y=\"\(ly + 4)\">\(alg)</text>\n"
        }
        return s + "</svg>\n"
    }
}
