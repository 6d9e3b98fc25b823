import ArgumentParser
import FFTConv

@main
struct FFTConvBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fftconv-bench",
        abstract: "Times FFTConv's convolution algorithms side by side, with their error against the reference.",
        subcommands: [LayerCommand.self, AlexNetCommand.self, NetCommand.self, SweepCommand.self, GEMMCommand.self, FullyConnectedCommand.self, PeakCommand.self, InfoCommand.self],
        defaultSubcommand: AlexNetCommand.self
    )
}

/// `fftconv-bench layer`: one convolution given on the command line.
struct LayerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "layer", abstract: "Benchmark one convolution layer.")

    @Option(help: "Input shape NxCxHxW, e.g. 1x64x27x27.")
    var input: String

    @Option(help: "Filter shape OxIxKHxKW (I = input channels / groups), e.g. 192x64x5x5.")
    var filters: String

    @Option(help: "Stride S or SHxSW.")
    var stride: String = "1"

    @Option(help: "Padding P or T,L,B,R.")
    var padding: String = "0"

    @Option(help: "Dilation D or DHxDW.")
    var dilation: String = "1"

    @Option(help: "Groups.")
    var groups: Int = 1

    @Option(help: "Fused activation: none, relu, relu6, leakyrelu:ALPHA, clip:MIN:MAX, hardsigmoid:ALPHA:BETA, hardswish, sigmoid, silu, tanh.")
    var activation: String = "none"

    @Flag(help: "Leave out the bias.")
    var noBias = false

    @OptionGroup var options: RunOptions

    func run() throws {
        let x = try Parse.shape(input, rank: 4, what: "--input")
        let f = try Parse.shape(filters, rank: 4, what: "--filters")
        let d = try ConvolutionDescriptor(
            inputChannels: x[1], outputChannels: f[0], kernel: Size2D(f[2], f[3]),
            stride: try Parse.size(stride, what: "--stride"), dilation: try Parse.size(dilation, what: "--dilation"),
            padding: try Parse.padding(padding), groups: groups, hasBias: !noBias,
            activation: try Parse.activation(activation))
        guard f[1] == d.inputChannelsPerGroup else {
            throw ValidationError("--filters \(filters): the second dimension must be input channels / groups = \(d.inputChannelsPerGroup)")
        }
        let layer = BenchLayer(name: "layer", descriptor: d, batch: x[0], input: Size2D(x[2], x[3]))
        try Runner(options: options).report([layer])
    }
}

/// `fftconv-bench alexnet`: the five convolutions of torchvision's AlexNet.
struct AlexNetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alexnet", abstract: "Benchmark the five convolutions of torchvision's AlexNet (batch 1).")

    @Option(help: "Batch size.")
    var batch: Int = 1

    @OptionGroup var options: RunOptions

    func run() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        try Runner(options: options).report(try BenchLayer.alexnet(batch: batch))
    }
}

/// `fftconv-bench info`: how the binary was built and what the CPU offers.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Print the build's target instruction sets and the CPU's.")

    func run() {
        print("architecture: \(BuildInfo.architecture)")
        print("compiled for: \(BuildInfo.compiledFor)")
        print("cpu supports: \(BuildInfo.cpuSupports)")
        if let w = BuildInfo.warning { print("warning: \(w)") }
    }
}
