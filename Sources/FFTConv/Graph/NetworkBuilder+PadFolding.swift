import FFTConvKernels

extension NetworkBuilder {
    /// A Pad of zeros over height and width only, none negative, whose output one convolution alone reads as its
    /// input — TensorFlow-style "same" padding written as `nn.ZeroPad2d` or `F.pad` before a convolution (the timm
    /// `tf_` EfficientNets, ports of Keras models) — becomes part of the convolution's own padding: the kernels pad
    /// while they read, and the padded copy is never written. Pads by reflection or the edge, or of another value,
    /// stay steps of their own.
    mutating func foldZeroPads(outputs: Set<Int>) throws {
        for i in pending.indices where !pending[i].removed {
            guard case .convolution(let d, let autoPad) = pending[i].op, pending[i].residual == nil, let x = pending[i].inputs.first,
                  let j = producer(of: x, readBy: [i], outputs: outputs), case .pad(let pads?, 0, .constant) = pending[j].op,
                  pads.count == 8, pads[0] == 0, pads[1] == 0, pads[4] == 0, pads[5] == 0, pads.allSatisfy({ $0 >= 0 }),
                  let source = pending[j].inputs.first else { continue }
            let p = d.padding
            let padding = Padding(top: p.top + pads[2], left: p.left + pads[3], bottom: p.bottom + pads[6], right: p.right + pads[7])
            pending[i].op = .convolution(try d.with(padding: padding), autoPad: autoPad)
            pending[i].inputs[0] = source
            pending[i].operations.insert("Pad", at: 0)
            pending[j].removed = true
        }
    }
}

extension ConvolutionDescriptor {
    /// The same descriptor with other padding.
    func with(padding: Padding) throws -> ConvolutionDescriptor {
        try ConvolutionDescriptor(inputChannels: inputChannels, outputChannels: outputChannels, kernel: kernel, stride: stride,
                                  dilation: dilation, padding: padding, groups: groups, hasBias: hasBias, activation: activation)
    }
}
