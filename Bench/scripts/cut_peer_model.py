"""Cuts one of ../shared/peers' models into a new model directory the peers' harness can time (and
`interleaved_ort.sh` can pair): model.onnx, input.npy, ref.npy / ref64.npy (ONNX Runtime's output), meta.json.

    /work/peers-venv/bin/python Bench/scripts/cut_peer_model.py SOURCE NEW INPUT_TENSOR OUTPUT_TENSOR

SOURCE and NEW are model names under $PEERS_DATA/models (default /work/peers-data/models). Where INPUT_TENSOR is
the source's graph input, the source's input.npy is copied; otherwise the input is seeded random N(0, 1) of the
tensor's shape (ONNX shape inference). ref64.npy is ref.npy in float64 (no double-precision run of a cut model).
meta.json is the source's with the name and the input and output shapes replaced.

VGG16 in its two halves (Docs/Kernels.md, seventeenth session):

    P=/work/peers-venv/bin/python
    $P Bench/scripts/cut_peer_model.py vgg16 vgg16_features input /features/features.30/MaxPool_output_0
    $P Bench/scripts/cut_peer_model.py vgg16 vgg16_classifier /features/features.30/MaxPool_output_0 output
    PEER=ncnn bash Bench/scripts/interleaved_ort.sh 2 vgg16_features vgg16_classifier
"""
import json
import os
import sys

import numpy as np
import onnx
import onnx.utils
import onnxruntime as ort

if len(sys.argv) != 5:
    sys.exit(__doc__)
source, new, tensor_in, tensor_out = sys.argv[1:]
models = os.path.join(os.environ.get("PEERS_DATA", "/work/peers-data"), "models")
src, dst = os.path.join(models, source), os.path.join(models, new)
os.makedirs(dst, exist_ok=True)
path = os.path.join(dst, "model.onnx")
onnx.utils.extract_model(os.path.join(src, "model.onnx"), path, [tensor_in], [tensor_out])

session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
graph_input = onnx.load(os.path.join(src, "model.onnx")).graph.input[0].name
if tensor_in == graph_input:
    x = np.load(os.path.join(src, "input.npy"))
else:
    shape = [d if isinstance(d, int) else 1 for d in session.get_inputs()[0].shape]
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
y = session.run(None, {session.get_inputs()[0].name: x})[0]
np.save(os.path.join(dst, "input.npy"), x)
np.save(os.path.join(dst, "ref.npy"), y)
np.save(os.path.join(dst, "ref64.npy"), y.astype(np.float64))

meta = json.load(open(os.path.join(src, "meta.json")))
meta.update(name=new, input_shape=list(x.shape), output_shape=list(y.shape), cut_from=source,
            cut_between=[tensor_in, tensor_out])
json.dump(meta, open(os.path.join(dst, "meta.json"), "w"), indent=1)
print(f"wrote {dst}: input {list(x.shape)}, output {list(y.shape)}")
