#!/usr/bin/env python3
"""One-node MaxPool ONNX models with the 3x3 pools CNNs use (stride 2, and GoogLeNet's stride-1 branch pools), for timing the pooling kernels alone
(`Bench/scripts/pool_times.sh`). Needs the `onnx` package (the peers' venv has it).

    /work/peers-venv/bin/python Bench/scripts/make_pool_models.py OUT_DIR
"""
import os
import sys

import onnx
from onnx import TensorProto, helper

# name: (channels, side, padding, ceil_mode, stride)
MODELS = {
    "c32": (32, 55, 0, 1, 2),      # a small one: 387 KB, held by the L2
    "ax64": (64, 55, 0, 0, 2),     # AlexNet's first pool
    "sq128": (128, 55, 0, 1, 2),   # SqueezeNet 1.1's second pool
    "ax192": (192, 27, 0, 0, 2),   # AlexNet's second pool
    "sq256": (256, 27, 0, 1, 2),   # SqueezeNet 1.1's third pool
    "r64": (64, 112, 1, 0, 2),     # ResNet's stem pool (one column of padding)
    "g192": (192, 28, 1, 1, 1),    # GoogLeNet's inception 3a branch pool ("same", stride 1)
    "g480": (480, 14, 1, 1, 1),    # inception 4a's
    "g832": (832, 7, 1, 1, 1),     # inception 5a's
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    for name, (c, side, pad, ceil, stride) in MODELS.items():
        node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[stride] * 2, pads=[pad] * 4,
                                ceil_mode=ceil)
        graph = helper.make_graph([node], name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, side, side])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        onnx.save(model, os.path.join(out, f"{name}.onnx"))
    print(" ".join(MODELS))


if __name__ == "__main__":
    main()
