"""Copies an ONNX model with its input's and outputs' first dimension left open ("N"), so that it runs on batches.

    python Bench/scripts/open_batch.py MODEL.onnx OUT.onnx

The models of ../shared/peers are exported for batch 1; ONNX Runtime and FFTConv then refuse other batch sizes.
A model whose nodes fix the batch (a Reshape to a constant shape with 1 in front) still runs only at batch 1.
"""
import sys

import onnx

model = onnx.load(sys.argv[1])
for value in list(model.graph.input) + list(model.graph.output):
    value.type.tensor_type.shape.dim[0].dim_param = "N"
onnx.save(model, sys.argv[2])
