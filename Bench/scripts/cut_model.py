"""Cuts an ONNX model down to the part between named tensors, to time a step alone or after a few layers.

    python Bench/scripts/cut_model.py MODEL.onnx OUT.onnx INPUT_TENSOR[,INPUT_TENSOR...] OUTPUT_TENSOR[,...]

e.g. MobileNetV2's 16→96 expansion and stride-2 depthwise layer (features.2's pair) alone:

    python Bench/scripts/cut_model.py /work/peers-data/models/mobilenet_v2/model.onnx /tmp/mv2_f2pair.onnx \\
        /features/features.1/conv/conv.1/Conv_output_0 /features/features.2/conv/conv.1/conv.1.2/Clip_output_0
    .build/release/fftconv-bench net /tmp/mv2_f2pair.onnx --loops 2000 [--threads 2]

Tensor names: `python -c "import onnx; [print(n.name, n.op_type, list(n.output)) for n in onnx.load('M.onnx').graph.node]"`.
Needs the `onnx` package (the peers' venv has it: /work/peers-venv/bin/python).
"""
import sys

import onnx.utils

if len(sys.argv) != 5:
    sys.exit(__doc__)
model, out, inputs, outputs = sys.argv[1:]
onnx.utils.extract_model(model, out, inputs.split(","), outputs.split(","))
print(f"wrote {out}")
