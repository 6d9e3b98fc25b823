#!/usr/bin/env python3
"""Exports the small ONNX models the tests run, with seeded inputs and PyTorch's outputs.

Writes Tests/FFTConvTests/Fixtures/NAME.onnx, NAME.input.npy, NAME.output.npy (float32). The tests do not need
Python: these files are committed. Rerun after changing a model (needs torch; the peers' venv has it):

    /work/peers-venv/bin/python Bench/scripts/make_onnx_fixtures.py

TorchScript exporter (dynamo=False), opset 13 unless a model says otherwise. `do_constant_folding=False` for the
models whose BatchNormalization nodes FFTConv must fold itself.
"""
import os
import sys
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "FFTConvTests", "Fixtures")


def randomize_bn(m, g):
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            with torch.no_grad():
                mod.running_mean.copy_(torch.randn(mod.num_features, generator=g) * 0.1)
                mod.running_var.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
                mod.weight.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
                mod.bias.copy_(torch.randn(mod.num_features, generator=g) * 0.1)


class TinyAlexNet(nn.Module):
    """conv 11x11 s4, 5x5, max-pool, fully connected: AlexNet's shape, small."""
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(32, 24, 3, padding=1), nn.ReLU(inplace=True))
        self.pool = nn.MaxPool2d(2, 2)
        self.classifier = nn.Sequential(nn.Dropout(), nn.Linear(24 * 9, 64), nn.ReLU(inplace=True), nn.Linear(64, 10))

    def forward(self, x):
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class LRNFunction(torch.autograd.Function):
    """PyTorch's LocalResponseNorm, exported as ONNX's LRN operator (the TorchScript exporter would otherwise
    decompose it into a subgraph with control flow)."""
    @staticmethod
    def forward(ctx, x):
        return F.local_response_norm(x, 5, 1e-4, 0.75, 1.0)

    @staticmethod
    def symbolic(g, x):
        return g.op("LRN", x, size_i=5, alpha_f=1e-4, beta_f=0.75, bias_f=1.0)


class LRN(nn.Module):
    def forward(self, x):
        return LRNFunction.apply(x)


class CaffeAlexNet(nn.Module):
    """The classic Caffe form: LRN after the first two convolutions, group-2 convolutions."""
    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(
            nn.Conv2d(3, 24, 11, stride=4), nn.ReLU(), LRN(), nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.Conv2d(24, 32, 5, padding=2, groups=2), nn.ReLU(), LRN(), nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1, groups=2), nn.ReLU())
        self.fc = nn.Linear(32 * 5 * 5, 7)

    def forward(self, x):
        x = self.f(x)
        return F.softmax(self.fc(x.view(x.size(0), -1)), dim=1)  # view(size(0), -1): Shape→Gather→…→Reshape


class BasicBlock(nn.Module):
    """A ResNet basic block with BatchNorm (kept as nodes) and a projection shortcut."""
    def __init__(self, cin=16, cout=32, stride=2):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(cout)
        self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.down(x))


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expand, depthwise 3x3, ReLU6, 1x1 project, residual."""
    def __init__(self, c=24, t=6):
        super().__init__()
        h = c * t
        self.block = nn.Sequential(
            nn.Conv2d(c, h, 1, bias=False), nn.BatchNorm2d(h), nn.ReLU6(inplace=True),
            nn.Conv2d(h, h, 3, 1, 1, groups=h, bias=False), nn.BatchNorm2d(h), nn.ReLU6(inplace=True),
            nn.Conv2d(h, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return x + self.block(x)


class SmallUNet(nn.Module):
    """Two levels: down with max-pool, up with ConvTranspose and nearest Upsample, skip Concat; any input size
    divisible by 4."""
    def __init__(self):
        super().__init__()
        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(inplace=True))
        self.e1, self.e2, self.mid = block(3, 8), block(8, 16), block(16, 32)
        self.up2 = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.d2 = block(32, 16)
        self.up1 = nn.Upsample(scale_factor=2, mode="nearest")
        self.d1 = block(16 + 8, 8)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        a = self.e1(x)
        b = self.e2(F.max_pool2d(a, 2))
        m = self.mid(F.max_pool2d(b, 2))
        y = self.d2(torch.cat([self.up2(m), b], 1))
        y = self.d1(torch.cat([self.up1(y), a], 1))
        return torch.sigmoid(self.head(y))


class Mixed(nn.Module):
    """Odds and ends: LeakyReLU, Tanh, Clip, AveragePool with ceil_mode/count_include_pad, Pad, broadcasting
    Sub/Mul/Div, Transpose, MatMul, dilated and asymmetric-stride convolutions, 7x7 FFT-sized kernel."""
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(4, 16, 7, padding=3)
        self.c2 = nn.Conv2d(16, 16, 3, padding=2, dilation=2)
        self.c3 = nn.Conv2d(16, 8, (3, 5), stride=(2, 1), padding=(1, 2))
        self.scale = nn.Parameter(torch.rand(1, 8, 1, 1) + 0.5)
        self.w = nn.Parameter(torch.randn(7, 5) * 0.3)

    def forward(self, x):
        y = F.leaky_relu(self.c1(x), 0.1)
        y = torch.tanh(self.c2(y))
        y = F.avg_pool2d(F.pad(y, (1, 0, 2, 1)), 3, stride=2, ceil_mode=True, count_include_pad=False)
        y = torch.clamp(self.c3(y), -0.5, 0.8)
        y = (y - 0.25) * self.scale / 2.0
        y = y.transpose(2, 3)
        return torch.matmul(y, self.w)


class MobileNetV3Block(nn.Module):
    """MobileNetV3's pieces: a hard-swish stem, an inverted residual with a 5x5 depthwise layer, squeeze-and-excitation
    (global pool, 1x1, ReLU, 1x1, hard sigmoid, channel scale) and hard swish, a residual, a hard swish after an Add,
    and a classifier with hard swish. Opset 13 writes hard swish as HardSigmoid + Mul, opset 14 as HardSwish."""
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish())
        self.expand = nn.Sequential(nn.Conv2d(16, 48, 1, bias=False), nn.BatchNorm2d(48), nn.Hardswish())
        self.dw = nn.Sequential(nn.Conv2d(48, 48, 5, 1, 2, groups=48, bias=False), nn.BatchNorm2d(48), nn.Hardswish())
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(48, 16, 1), nn.ReLU(), nn.Conv2d(16, 48, 1), nn.Hardsigmoid())
        self.project = nn.Sequential(nn.Conv2d(48, 16, 1, bias=False), nn.BatchNorm2d(16))
        self.head = nn.Sequential(nn.Linear(16, 32), nn.Hardswish(), nn.Linear(32, 10))

    def forward(self, x):
        x = self.stem(x)
        y = self.dw(self.expand(x))
        y = self.project(y * self.se(y))
        y = F.hardswish(x + y)
        return self.head(y.mean([2, 3]))


class EfficientNetBlock(nn.Module):
    """EfficientNet's MBConv: SiLU stem, a 1x1 expansion with SiLU, a 5x5 stride-2 depthwise layer with SiLU,
    squeeze-and-excitation with a sigmoid gate, a 1x1 projection; exported as Sigmoid + Mul for every SiLU."""
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.SiLU())
        self.expand = nn.Sequential(nn.Conv2d(16, 64, 1, bias=False), nn.BatchNorm2d(64), nn.SiLU())
        self.dw = nn.Sequential(nn.Conv2d(64, 64, 5, 2, 2, groups=64, bias=False), nn.BatchNorm2d(64), nn.SiLU())
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(64, 8, 1), nn.SiLU(), nn.Conv2d(8, 64, 1), nn.Sigmoid())
        self.project = nn.Sequential(nn.Conv2d(64, 24, 1, bias=False), nn.BatchNorm2d(24))

    def forward(self, x):
        y = self.dw(self.expand(self.stem(x)))
        return torch.sigmoid(self.project(y * self.se(y)))


class PReluBlock(nn.Module):
    """PReLU with one slope after a convolution (a leaky ReLU in its write-out) and with one slope per channel after
    another (its own step), as face-recognition and segmentation models use them."""
    def __init__(self):
        super().__init__()
        self.c1, self.a1 = nn.Conv2d(3, 16, 3, 1, 1), nn.PReLU()
        self.c2, self.a2 = nn.Conv2d(16, 8, 3, 2, 1), nn.PReLU(8)

    def forward(self, x):
        return self.a2(self.c2(self.a1(self.c1(x))))


class ShuffleUnit(nn.Module):
    """ShuffleNetV2's unit (channel split, a branch, concat, channel shuffle), then means over channels (ReduceMean on
    a middle axis, keepdims) and over H and W (keepdims 0), as PyTorch's `mean` exports them."""
    def __init__(self, c=24):
        super().__init__()
        h = c // 2
        self.branch = nn.Sequential(nn.Conv2d(h, h, 1, bias=False), nn.BatchNorm2d(h), nn.ReLU(),
                                    nn.Conv2d(h, h, 3, 1, 1, groups=h, bias=False), nn.BatchNorm2d(h),
                                    nn.Conv2d(h, h, 1, bias=False), nn.BatchNorm2d(h), nn.ReLU())

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        y = torch.cat((a, self.branch(b)), 1)
        n, c, hh, ww = y.shape
        y = y.view(n, 2, c // 2, hh, ww).transpose(1, 2).contiguous().view(n, c, hh, ww)
        return torch.cat((y * y.mean(1, keepdim=True), y), 1).mean([2, 3])


class Unsupported(nn.Module):
    """Two operators FFTConv does not translate (CumSum, TopK), to check they are reported together."""
    def forward(self, x):
        y = torch.cumsum(x, dim=3)
        return torch.topk(y.flatten(1), 3).values


class ConvNeXtBlock(nn.Module):
    """torchvision's ConvNeXt block: 7x7 depthwise, channels-last LayerNorm (exported decomposed: ReduceMean, Sub,
    Pow, Sqrt, Div), Linear C→4C, exact GELU (Div, Erf, Add, Mul, Mul), Linear 4C→C, layer scale, residual; then a
    tanh-approximated GELU (Pow by 3, Tanh) on the NCHW output."""
    def __init__(self, c=24):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.up = nn.Linear(c, 4 * c)
        self.down = nn.Linear(4 * c, c)
        self.scale = nn.Parameter(torch.full((c,), 0.5))

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.down(F.gelu(self.up(self.norm(y)))) * self.scale
        return F.gelu(x + y.permute(0, 3, 1, 2), approximate="tanh")


class SegmentationHead(nn.Module):
    """DeepLabV3-style: a stride-2 stem, a 3x3 at dilation 2 (Winograd runs it on its dilation phases), an ASPP of a 1x1,
    a dilation-3 3x3 and a dilation-24 3x3 (on the 18×20 map only its centre tap reads the input) and an image-pooling
    branch upsampled back, concatenated and projected; then bilinear upsampling ×4 (half-pixel coordinates) and to a
    fixed size with aligned corners."""
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(8, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU())
        self.dilated = nn.Sequential(nn.Conv2d(32, 32, 3, padding=2, dilation=2), nn.BatchNorm2d(32), nn.ReLU())
        self.b0 = nn.Sequential(nn.Conv2d(32, 16, 1), nn.ReLU())
        self.b1 = nn.Sequential(nn.Conv2d(32, 32, 3, padding=3, dilation=3), nn.ReLU())
        self.b2 = nn.Sequential(nn.Conv2d(32, 16, 3, padding=24, dilation=24), nn.ReLU())
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(32, 16, 1), nn.ReLU())
        self.project = nn.Sequential(nn.Conv2d(80, 16, 1), nn.ReLU())
        self.head = nn.Conv2d(16, 3, 1)

    def forward(self, x):
        x = self.dilated(self.stem(x))
        p = F.interpolate(self.pool(x), size=x.shape[-2:], mode="bilinear", align_corners=False)
        y = self.head(self.project(torch.cat([self.b0(x), self.b1(x), self.b2(x), p], 1)))
        y = F.interpolate(y, scale_factor=4, mode="bilinear", align_corners=False)
        return F.interpolate(y, size=(50, 37), mode="bilinear", align_corners=True)


class ImageToImage(nn.Module):
    """Style-transfer and super-resolution pieces: reflection and replication padding before convolutions, instance
    normalisation with and without affine parameters (then ReLU, then a residual), pixel unshuffle and shuffle, ELU,
    SELU, CELU, Softplus, Mish, Softsign, Exp, Log, Reciprocal, Neg, and a 9x9 convolution after a reflection pad."""
    def __init__(self):
        super().__init__()
        self.c1 = nn.Sequential(nn.ReflectionPad2d(2), nn.Conv2d(3, 8, 5), nn.InstanceNorm2d(8, affine=True), nn.ReLU())
        self.c2 = nn.Sequential(nn.ReplicationPad2d((1, 2, 0, 1)), nn.Conv2d(8, 8, (2, 4)), nn.ELU(0.7))
        self.n2 = nn.InstanceNorm2d(8)
        self.c3 = nn.Conv2d(32, 16, 1)
        self.c4 = nn.Sequential(nn.ReflectionPad2d(4), nn.Conv2d(4, 3, 9))

    def forward(self, x):
        y = self.c1(x)
        y = y + self.n2(self.c2(y))
        z = self.c3(F.pixel_unshuffle(F.selu(y), 2))
        z = F.softplus(z) - F.mish(z) + F.softsign(z) + F.celu(z, 1.3)
        z = F.pixel_shuffle(z, 2)
        z = torch.log(1 + torch.exp(-z.abs())) - torch.reciprocal(2 + z * z)
        return self.c4(-z)


def seeded(model, seed):
    """`model`'s weights and batch-norm statistics drawn from `seed`, in eval mode; returns the generator, whose next
    draws are the input's."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    for p in model.parameters():
        with torch.no_grad():
            p.copy_(torch.randn(p.shape, generator=g) * (1.0 / max(1, p[0].numel()) ** 0.5))
    randomize_bn(model, g)
    model.eval()
    return g


def export(name, model, shape, seed, folding=True, dynamic=None, check=True, opset=13):
    g = seeded(model, seed)
    x = torch.randn(shape, generator=g)
    with torch.no_grad():
        y = model(x)
    path = os.path.join(OUT, name + ".onnx")
    kwargs = dict(dynamo=False, opset_version=opset, do_constant_folding=folding, input_names=["input"], output_names=["output"])
    if dynamic:
        kwargs["dynamic_axes"] = dynamic
    torch.onnx.export(model, (x,), path, **kwargs)
    np.save(os.path.join(OUT, name + ".input.npy"), x.numpy().astype(np.float32))
    if check:
        np.save(os.path.join(OUT, name + ".output.npy"), y.numpy().astype(np.float32))
    print(f"{name}: {os.path.getsize(path)} bytes, output {tuple(y.shape)}")
    return model, g


def dynamo_fixtures():
    """Four of the fixtures again — the same weights and input, rebuilt from their seeds — through the torch.export-based
    exporter (PyTorch's default since 2.9; needs onnxscript): opset 18 and later, its own node patterns (ReduceMean with
    its axes as an input, Reshape for Flatten, BatchNormalization folded, `chunk` as a Split of two outputs). `--dynamo` writes only these."""
    for name, model, seed in [("mobilenet_v3_block", MobileNetV3Block(), 8), ("inverted_residual", InvertedResidual(), 4),
                              ("efficientnet_block", EfficientNetBlock(), 10), ("shuffle_unit", ShuffleUnit(), 9)]:
        seeded(model, seed)
        x = torch.from_numpy(np.load(os.path.join(OUT, name + ".input.npy")))
        with torch.no_grad():
            y = model(x).numpy()
        expected = np.load(os.path.join(OUT, name + ".output.npy"))
        # (Not bit for bit: another PyTorch build may round its own kernels otherwise.)
        err = float(np.abs(y - expected).max()) / float(np.abs(expected).max())
        assert err < 1e-5, f"{name}: rebuilt from its seed, the model gives other outputs than its fixture ({err:.1e})"
        path = os.path.join(OUT, name + "_dynamo.onnx")
        torch.onnx.export(model, (x,), path, dynamo=True, input_names=["input"], output_names=["output"])
        print(f"{name}_dynamo: {os.path.getsize(path)} bytes")


def shape_slices():
    """Shape with start/end (opset 15; the torch.export-based exporter writes it for sizes taken from a dynamic
    input): Shape(start=2), Shape(start=-3, end=-1) and Shape(end=100) concatenated, cast to floats and added to the
    input's mean — built with onnx.helper (no exporter writes all three forms), the expected output by numpy."""
    import onnx
    from onnx import TensorProto, helper
    nodes = [helper.make_node("Shape", ["x"], ["s1"], start=2), helper.make_node("Shape", ["x"], ["s2"], start=-3, end=-1),
             helper.make_node("Shape", ["x"], ["s3"], end=100), helper.make_node("Concat", ["s1", "s2", "s3"], ["c"], axis=0),
             helper.make_node("Cast", ["c"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("ReduceMean", ["x"], ["m"], axes=[1, 2, 3], keepdims=0),
             helper.make_node("Add", ["f", "m"], ["output"])]
    graph = helper.make_graph(nodes, "shape_slices", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 4, 5])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [8])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, "shape_slices.onnx"))
    x = np.random.default_rng(15).standard_normal((1, 3, 4, 5)).astype(np.float32)
    s = np.array(x.shape)
    y = np.concatenate([s[2:], s[-3:-1], s[:100]]).astype(np.float32) + x.mean(axis=(1, 2, 3))
    np.save(os.path.join(OUT, "shape_slices.input.npy"), x)
    np.save(os.path.join(OUT, "shape_slices.output.npy"), y.astype(np.float32))
    print(f"shape_slices: output {y}")


def main():
    if "--dynamo" in sys.argv:
        return dynamo_fixtures()
    if "--shape-slices" in sys.argv:
        return shape_slices()
    os.makedirs(OUT, exist_ok=True)
    export("tiny_alexnet", TinyAlexNet(), (1, 3, 127, 127), 1)
    export("caffe_alexnet", CaffeAlexNet(), (2, 3, 99, 99), 2)
    export("resnet_block", BasicBlock(), (1, 16, 20, 20), 3, folding=False)
    export("inverted_residual", InvertedResidual(), (1, 24, 14, 14), 4, folding=False)
    unet, g = export("unet", SmallUNet(), (1, 3, 32, 40), 5, folding=False,
                     dynamic={"input": {2: "h", 3: "w"}, "output": {2: "h", 3: "w"}})
    # The same file run at a size it was not exported with.
    x2 = torch.randn((1, 3, 48, 24), generator=g)
    with torch.no_grad():
        y2 = unet(x2)
    np.save(os.path.join(OUT, "unet.input2.npy"), x2.numpy().astype(np.float32))
    np.save(os.path.join(OUT, "unet.output2.npy"), y2.numpy().astype(np.float32))
    export("mixed", Mixed(), (1, 4, 23, 19), 6)
    export("unsupported", Unsupported(), (1, 2, 4, 4), 7, check=False)
    block, _ = export("mobilenet_v3_block", MobileNetV3Block(), (1, 3, 24, 20), 8, folding=False)
    # The same model, weights and input at opset 14, where hard swish is one HardSwish node.
    x = torch.from_numpy(np.load(os.path.join(OUT, "mobilenet_v3_block.input.npy")))
    torch.onnx.export(block, (x,), os.path.join(OUT, "mobilenet_v3_block_op14.onnx"), dynamo=False, opset_version=14,
                      do_constant_folding=False, input_names=["input"], output_names=["output"])
    export("shuffle_unit", ShuffleUnit(), (1, 24, 9, 11), 9, folding=False)
    export("efficientnet_block", EfficientNetBlock(), (1, 3, 30, 26), 10, folding=False)
    prelu, _ = export("prelu_block", PReluBlock(), (2, 3, 17, 15), 11)
    convnext, _ = export("convnext_block", ConvNeXtBlock(), (1, 24, 12, 13), 12, folding=False)
    # The same model, weights and input at opset 17, where the LayerNorm is one LayerNormalization node.
    x = torch.from_numpy(np.load(os.path.join(OUT, "convnext_block.input.npy")))
    torch.onnx.export(convnext, (x,), os.path.join(OUT, "convnext_block_op17.onnx"), dynamo=False, opset_version=17,
                      do_constant_folding=False, input_names=["input"], output_names=["output"])
    export("segmentation_head", SegmentationHead(), (1, 8, 36, 40), 13)
    i2i, _ = export("image_to_image", ImageToImage(), (1, 3, 20, 22), 14, opset=17)
    # The same model, weights and input at opset 12 (the first with Celu; Pad's pads a computed input there too).
    x = torch.from_numpy(np.load(os.path.join(OUT, "image_to_image.input.npy")))
    torch.onnx.export(i2i, (x,), os.path.join(OUT, "image_to_image_op12.onnx"), dynamo=False, opset_version=12,
                      input_names=["input"], output_names=["output"])
    # tiny_alexnet again, with its weights in an external data file next to the model.
    import onnx
    m = onnx.load(os.path.join(OUT, "tiny_alexnet.onnx"))
    onnx.save_model(m, os.path.join(OUT, "tiny_alexnet_external.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="tiny_alexnet_external.data", size_threshold=0)
    print("tiny_alexnet_external: weights in tiny_alexnet_external.data")
    shape_slices()
    dynamo_fixtures()


if __name__ == "__main__":
    main()
