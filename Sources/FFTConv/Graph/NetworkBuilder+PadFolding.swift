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
                  let added = SpatialPadding(pads: pads, mode: .constant, value: 0), let source = pending[j].inputs.first else { continue }
            let p = d.padding
            let padding = Padding(top: p.top + added.top, left: p.left + added.left, bottom: p.bottom + added.bottom, right: p.right + added.right)
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

/// Padding of the last two dimensions of an NCHW tensor: what a Pad over height and width adds, by its mode.
struct SpatialPadding {
    var top: Int, left: Int, bottom: Int, right: Int
    var mode: PadMode
    var value: Float

    /// The padding a Pad of `pads` (ONNX order, rank 4) adds, when it pads height and width only, none negative.
    init?(pads: [Int], mode: PadMode, value: Float) {
        guard pads.count == 8, pads[0] == 0, pads[1] == 0, pads[4] == 0, pads[5] == 0, pads.allSatisfy({ $0 >= 0 }) else { return nil }
        (top, left, bottom, right, self.mode, self.value) = (pads[2], pads[3], pads[6], pads[7], mode, value)
    }
}

extension NetworkBuilder {
    /// An instance normalisation whose output only a Pad over H and W reads — style transfer's and CycleGAN's
    /// `ReflectionPad2d` before every convolution after the first — writes its planes straight into the padded
    /// tensor and fills the border itself: the Pad's copy of the whole tensor is gone.
    mutating func padNormalizationOutputs(outputs: Set<Int>) {
        for i in pending.indices where !pending[i].removed && pending[i].padding == nil && pending[i].shape.count == 4 {
            let readers = consumers(of: pending[i].output)
            guard case .instanceNormalization = pending[i].op, readers.count == 1, !outputs.contains(pending[i].output), let j = readers.first,
                  case .pad(let pads?, let value, let mode) = pending[j].op, pending[j].inputs.first == pending[i].output,
                  let padding = SpatialPadding(pads: pads, mode: mode, value: value),
                  (try? TensorOperations.padShape(pending[i].shape, pads, mode: mode)) == pending[j].shape else { continue }
            pending[i].padding = padding
            pending[i].output = pending[j].output
            pending[i].shape = pending[j].shape
            pending[i].operations.append("Pad")
            pending[j].removed = true
        }
    }
}
