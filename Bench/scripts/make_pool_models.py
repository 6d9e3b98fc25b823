#!/usr/bin/env python3
"""One-node ONNX models of the steps around the convolutions: the 3x3 max pools CNNs use (stride 2, and GoogLeNet's
stride-1 branch pools), DenseNet's and Inception's average pools, and AlexNet's LRN, for timing the pooling kernels alone
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
# AveragePool: (channels, side, kernel, stride, padding, count_include_pad)
AVERAGE = {
    "d256": (256, 56, 2, 2, 0, 0),  # DenseNet's transition (2x2 stride 2)
    "d512": (512, 28, 2, 2, 0, 0),
    "i3": (192, 35, 3, 1, 1, 0),    # an Inception branch pool (3x3 stride 1, "same")
}
# LRN (size 5, alpha 1e-4, beta 0.75, bias 1): (channels, side)
LRN = {"lrn96": (96, 55), "lrn256": (256, 27)}  # BVLC AlexNet's two


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    nodes = {name: helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[stride] * 2, pads=[pad] * 4,
                                    ceil_mode=ceil) for name, (c, side, pad, ceil, stride) in MODELS.items()}
    shapes = {name: (m[0], m[1]) for name, m in MODELS.items()}
    for name, (c, side, k, stride, pad, include) in AVERAGE.items():
        nodes[name] = helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[k, k], strides=[stride] * 2,
                                       pads=[pad] * 4, count_include_pad=include)
        shapes[name] = (c, side)
    for name, (c, side) in LRN.items():
        nodes[name] = helper.make_node("LRN", ["x"], ["y"], size=5, alpha=1e-4, beta=0.75, bias=1.0)
        shapes[name] = (c, side)
    for name, node in nodes.items():
        c, side = shapes[name]
        graph = helper.make_graph([node], name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, side, side])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        onnx.save(model, os.path.join(out, f"{name}.onnx"))
    print(" ".join(nodes))


if __name__ == "__main__":
    main()
