#!/usr/bin/env python3
"""Exports torchvision classifiers beyond the peers' five — MobileNetV3, ShuffleNetV2, EfficientNet, MnasNet,
RegNet, GoogLeNet, DenseNet — in the peers' data layout, so that `check_peers.sh` checks them against PyTorch
and `interleaved_ort.sh` times them against ONNX Runtime (both take PEERS_DATA):

    /work/peers-venv/bin/python Bench/scripts/make_torchvision_models.py [--out OUT] [--opset N] [NAMES...]
    PEERS_DATA=OUT bash Bench/scripts/check_peers.sh "" NAMES...
    PEERS_DATA=OUT bash Bench/scripts/interleaved_ort.sh 2 NAMES...

OUT defaults to /work/torchvision-data, NAMES to all eight; any other torchvision classifier name works too (the
twenty-seventh session's `--out /work/tv2-data convnext_tiny efficientnet_v2_s resnet50 regnet_x_400mf
resnext50_32x4d wide_resnet50_2`). Each model gets OUT/models/NAME/{model.onnx, input.npy, ref.npy,
ref64.npy, meta.json}. Weights are seeded random (no download), batch-norm statistics drawn away from the identity
so the folding is exercised; ref.npy is PyTorch's float32 output, ref64.npy its float64 one. TorchScript exporter,
opset 13 by default (MobileNetV3's hard swish is then HardSigmoid + Mul; opset 14 and later write HardSwish).
Names from torchvision.models.segmentation (fcn_resnet50, deeplabv3_mobilenet_v3_large, lraspp_mobilenet_v3_large,
...) export their `out` map (no auxiliary head), at the same 224×224 input.
"""
import argparse
import json
import os
import sys
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "peers"))
from common import import_torchvision  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

DEFAULT = ["mobilenet_v3_small", "mobilenet_v3_large", "shufflenet_v2_x1_0", "efficientnet_b0", "mnasnet1_0",
           "regnet_y_400mf", "googlenet", "densenet121"]


class MainOutput(torch.nn.Module):
    """A segmentation model's `out` entry alone (torchvision's return a dict)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


def build(tv, name, seed):
    torch.manual_seed(seed)
    if name in tv.models.segmentation.__dict__ and not name.startswith("_"):
        # Segmentation models (fcn_resnet50, deeplabv3_mobilenet_v3_large, lraspp_mobilenet_v3_large, ...): no
        # auxiliary head, no backbone download; the `out` map alone.
        m = MainOutput(getattr(tv.models.segmentation, name)(weights=None, weights_backbone=None, aux_loss=None)).eval()
    else:
        kwargs = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
        m = getattr(tv.models, name)(weights=None, **kwargs).eval()
    g = torch.Generator().manual_seed(seed + 1)
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            with torch.no_grad():
                n = mod.num_features
                mod.running_mean.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)
                mod.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                mod.weight.copy_(torch.rand(n, generator=g) + 0.5)
                mod.bias.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)
    return m


def save_entry(d, name, seed, opset, m, x):
    """`d`/{model.onnx, input.npy, ref.npy, ref64.npy, meta.json}: `m` exported (TorchScript exporter) at `opset`,
    PyTorch's float32 and float64 outputs on `x`, and for the peers' scripts the model's operators and parameters."""
    import onnx
    with torch.no_grad():
        y = m(x)
        y64 = m.double()(x.double())
    m.float()
    os.makedirs(d, exist_ok=True)
    torch.onnx.export(m, (x,), os.path.join(d, "model.onnx"), dynamo=False, opset_version=opset,
                      input_names=["input"], output_names=["output"])
    np.save(os.path.join(d, "input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(d, "ref.npy"), y.numpy().astype(np.float32))
    np.save(os.path.join(d, "ref64.npy"), y64.numpy())
    ops = {}
    for node in onnx.load(os.path.join(d, "model.onnx")).graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    meta = {"name": name, "kind": "network", "seed": seed, "input_shape": list(x.shape), "input_scale": 1.0,
            "output_shape": list(y.shape), "onnx_opset": opset, "ops": ops,
            "macs": 0, "conv_macs": 0, "params": int(sum(p.numel() for p in m.parameters())),
            "torch_fp32_vs_fp64_max_abs": float((y.double() - y64).abs().max()),
            "ref_max_abs": float(y.abs().max())}
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"{name}: opset {opset}, {meta['params']} parameters, ops {sorted(ops)}")


def update_index(models_dir, names):
    """Adds `names` to models_dir/index.json (the peers' list of models), keeping the ones there."""
    index = os.path.join(models_dir, "index.json")
    known = json.load(open(index))["models"] if os.path.exists(index) else []
    with open(index, "w") as f:
        json.dump({"models": known + [n for n in names if n not in known]}, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/work/torchvision-data")
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("names", nargs="*", default=DEFAULT)
    a = ap.parse_args()
    out, opset, names = a.out, a.opset, a.names
    warnings.simplefilter("ignore")
    tv = import_torchvision()
    models_dir = os.path.join(out, "models")
    os.makedirs(models_dir, exist_ok=True)
    for k, name in enumerate(names):
        m = build(tv, name, 1000 + k)
        x = torch.randn((1, 3, 224, 224), generator=torch.Generator().manual_seed(2000 + k))
        save_entry(os.path.join(models_dir, name), name, 1000 + k, opset, m, x)
    update_index(models_dir, names)


if __name__ == "__main__":
    main()
