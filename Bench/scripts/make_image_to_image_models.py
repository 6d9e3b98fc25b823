#!/usr/bin/env python3
"""Exports image-to-image networks — the operators a classifier does not have: reflection padding, instance
normalisation, pixel shuffle, upsampling — in the peers' data layout, so that `check_peers.sh` checks them against
PyTorch and `interleaved_ort.sh` times them against ONNX Runtime (both take PEERS_DATA):

    /work/peers-venv/bin/python Bench/scripts/make_image_to_image_models.py [--out OUT] [--opset N] [NAMES...]
    PEERS_DATA=OUT bash Bench/scripts/check_peers.sh "" NAMES...
    PEERS_DATA=OUT bash Bench/scripts/interleaved_ort.sh 2 NAMES...

OUT defaults to /work/i2i-data, NAMES to all three:
- fast_style: pytorch/examples' fast neural style TransformerNet (9x9 convolutions at both ends, ReflectionPad2d before
  every convolution, InstanceNorm2d, five residual blocks at 64², nearest upsampling), 1x3x256x256;
- cyclegan: the ResNet generator of junyanz/pytorch-CycleGAN-and-pix2pix (9 blocks, ngf 64, instance norm without
  affine parameters, 7x7 convolutions at both ends, transposed convolutions up), 1x3x256x256;
- espcn: ESPCN super-resolution ×3 (5x5, 3x3, 3x3 convolutions with tanh, PixelShuffle), 1x1x224x224.
Each gets OUT/models/NAME/{model.onnx, input.npy, ref.npy, ref64.npy, meta.json}; weights are seeded random,
affine instance-norm parameters drawn away from the identity. TorchScript exporter, opset 17 by default.
"""
import argparse
import os
import sys
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_torchvision_models import save_entry, update_index  # noqa: E402


class ConvLayer(nn.Module):
    def __init__(self, i, o, k, stride=1, upsample=None):
        super().__init__()
        self.upsample = upsample
        self.pad = nn.ReflectionPad2d(k // 2)
        self.conv = nn.Conv2d(i, o, k, stride)

    def forward(self, x):
        if self.upsample:
            x = F.interpolate(x, mode="nearest", scale_factor=self.upsample)
        return self.conv(self.pad(x))


class StyleResidual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1, self.n1 = ConvLayer(c, c, 3), nn.InstanceNorm2d(c, affine=True)
        self.c2, self.n2 = ConvLayer(c, c, 3), nn.InstanceNorm2d(c, affine=True)

    def forward(self, x):
        return x + self.n2(self.c2(F.relu(self.n1(self.c1(x)))))


class TransformerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.ModuleList([ConvLayer(3, 32, 9), ConvLayer(32, 64, 3, 2), ConvLayer(64, 128, 3, 2)])
        self.down_norms = nn.ModuleList([nn.InstanceNorm2d(c, affine=True) for c in (32, 64, 128)])
        self.res = nn.Sequential(*[StyleResidual(128) for _ in range(5)])
        self.up = nn.ModuleList([ConvLayer(128, 64, 3, upsample=2), ConvLayer(64, 32, 3, upsample=2)])
        self.up_norms = nn.ModuleList([nn.InstanceNorm2d(c, affine=True) for c in (64, 32)])
        self.last = ConvLayer(32, 3, 9)

    def forward(self, x):
        for conv, norm in zip(self.down, self.down_norms):
            x = F.relu(norm(conv(x)))
        x = self.res(x)
        for conv, norm in zip(self.up, self.up_norms):
            x = F.relu(norm(conv(x)))
        return self.last(x)


class ResnetBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.block = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c), nn.ReLU(True),
                                   nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c))

    def forward(self, x):
        return x + self.block(x)


def cyclegan(ngf=64, blocks=9):
    m = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
    for i in range(2):
        c = ngf * 2 ** i
        m += [nn.Conv2d(c, 2 * c, 3, 2, 1), nn.InstanceNorm2d(2 * c), nn.ReLU(True)]
    m += [ResnetBlock(ngf * 4) for _ in range(blocks)]
    for i in range(2):
        c = ngf * 2 ** (2 - i)
        m += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(c // 2), nn.ReLU(True)]
    m += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
    return nn.Sequential(*m)


class ESPCN(nn.Module):
    def __init__(self, r=3):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 64, 5, padding=2), nn.Conv2d(64, 32, 3, padding=1)
        self.c3, self.shuffle = nn.Conv2d(32, r * r, 3, padding=1), nn.PixelShuffle(r)

    def forward(self, x):
        return self.shuffle(self.c3(torch.tanh(self.c2(torch.tanh(self.c1(x))))))


MODELS = {"fast_style": (TransformerNet, [1, 3, 256, 256]), "cyclegan": (cyclegan, [1, 3, 256, 256]),
          "espcn": (ESPCN, [1, 1, 224, 224])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/work/i2i-data")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("names", nargs="*", default=list(MODELS))
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    models_dir = os.path.join(a.out, "models")
    os.makedirs(models_dir, exist_ok=True)
    for name in a.names:
        k = list(MODELS).index(name)  # seeds by the model, not by its place in NAMES
        make, shape = MODELS[name]
        torch.manual_seed(3000 + k)
        m = make().eval()
        g = torch.Generator().manual_seed(3100 + k)
        for mod in m.modules():
            if isinstance(mod, nn.InstanceNorm2d) and mod.affine:
                with torch.no_grad():
                    mod.weight.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
                    mod.bias.copy_(torch.rand(mod.num_features, generator=g) * 0.2 - 0.1)
        x = torch.randn(shape, generator=torch.Generator().manual_seed(3200 + k))
        save_entry(os.path.join(models_dir, name), name, 3000 + k, a.opset, m, x)
    update_index(models_dir, a.names)


if __name__ == "__main__":
    main()
