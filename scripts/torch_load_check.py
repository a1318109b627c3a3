#!/usr/bin/env python3
"""Loads a ConvKit model file into the equivalent PyTorch nn.Sequential with load_state_dict
(strict), and checks that PyTorch classifies MNIST test images as `convkit predict` does, in
evaluation mode (batch norm on its running statistics, dropout off), outputs within 1e-5 relative.

Layers: conv (untied/nobias, pad P or pad same, stride S), dense, relu, sigmoid, tanh, maxpool,
avgpool, globalavgpool (AdaptiveAvgPool2d(1)), batchnorm (BatchNorm2d after C×H×W, BatchNorm1d
after a flat input), dropout, flatten, reshape, and residual(LAYER, …) blocks (`Residual` below:
`N.body.K.*` and `N.shortcut.0.weight`, `N.shortcut.1.*`).

  python3 -m venv .venv-torch && .venv-torch/bin/pip install torch==2.13.0+cpu numpy safetensors
  .venv-torch/bin/python scripts/torch_load_check.py MODEL.safetensors [--convkit .build/release/convkit] [--data DIR]
"""
import argparse, gzip, json, os, subprocess, sys
import numpy as np
import torch
from torch import nn
from safetensors import safe_open
from safetensors.torch import load_file


class UntiedConv2d(nn.Module):
    """The tutorial's convolution: a bias per output position, shape (O, OH, OW)."""
    def __init__(self, c, o, kh, kw, oh, ow):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(o, c, kh, kw))
        self.bias = nn.Parameter(torch.zeros(o, oh, ow))

    def forward(self, x):
        return nn.functional.conv2d(x, self.weight) + self.bias


def conv_options(words):
    """The words after `conv F K`: a bias mode, `pad P` or `pad same`, `stride S`, in any order."""
    bias, pad, stride, i = "channel", 0, 1, 0
    while i < len(words):
        if words[i] in ("untied", "nobias"):
            bias = words[i]; i += 1
        elif words[i] == "pad":
            pad = words[i + 1] if words[i + 1] == "same" else int(words[i + 1]); i += 2
        elif words[i] == "stride":
            stride = int(words[i + 1]); i += 2
        else:
            raise ValueError(f"unknown conv option {words[i]!r}")
    return bias, pad, stride


class Residual(nn.Module):
    """ConvKit's residual block: body(x) + shortcut(x). The shortcut is empty (the identity) when
    the body keeps the shape, else a 1x1 convolution with the body's stride and no bias, then
    batch norm (ResNet's option B)."""
    def __init__(self, body, shortcut):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


def split_layers(spec):
    """The spec's layer lines: split at the commas outside parentheses."""
    lines, current, depth = [], "", 0
    for ch in spec:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
        elif ch == "," and depth == 0:
            lines.append(current.strip()); current = ""; continue
        current += ch
    return lines + [current.strip()]


def body_stride(spec):
    """The product of the strides of the convolutions and pools in a residual block's body."""
    stride = 1
    for item in split_layers(spec):
        words = item.split()
        if words[0] == "conv":
            stride *= conv_options(words[3:])[2]
        elif words[0] in ("maxpool", "pool", "avgpool"):
            stride *= int(words[2]) if len(words) > 2 else int(words[1])
    return stride


def build(input_shape, spec):
    """The nn.Sequential a ConvKit layer spec describes."""
    return build_with_shape(input_shape, spec)[0]


def build_with_shape(input_shape, spec):
    """The nn.Sequential a ConvKit layer spec describes, and the shape after its last layer."""
    shape, layers = list(input_shape), []
    for item in split_layers(spec):
        words = item.split()
        kind = words[0]
        if item.startswith("residual"):
            inner = item[len("residual"):].strip()[1:-1]
            body, out = build_with_shape(shape, inner)
            if out == shape:
                shortcut = nn.Sequential()
            else:
                shortcut = nn.Sequential(nn.Conv2d(shape[0], out[0], 1, stride=body_stride(inner), bias=False),
                                         nn.BatchNorm2d(out[0]))
            layers.append(Residual(body, shortcut))
            shape = out
        elif kind == "conv":
            o = int(words[1]); kh, kw = (int(v) for v in (words[2].split("x") * 2)[:2])
            bias, pad, stride = conv_options(words[3:])
            if pad == "same":
                # stride 1 only: the output keeps the input's size (PyTorch's padding="same").
                ph, pw = (kh - 1) // 2, (kw - 1) // 2
                oh, ow = shape[1], shape[2]
                padding = "same"
            else:
                ph = pw = pad
                oh, ow = (shape[1] + 2 * pad - kh) // stride + 1, (shape[2] + 2 * pad - kw) // stride + 1
                padding = pad
            if bias == "untied":
                layers.append(UntiedConv2d(shape[0], o, kh, kw, oh, ow))
            else:
                layers.append(nn.Conv2d(shape[0], o, (kh, kw), stride=stride, padding=padding, bias=(bias != "nobias")))
            shape = [o, oh, ow]
        elif kind in ("maxpool", "pool", "avgpool"):
            p = int(words[1]); s = int(words[2]) if len(words) > 2 else p
            layers.append(nn.AvgPool2d(p, s) if kind == "avgpool" else nn.MaxPool2d(p, s))
            shape = [shape[0], (shape[1] - p) // s + 1, (shape[2] - p) // s + 1]
        elif kind == "globalavgpool":
            layers.append(nn.AdaptiveAvgPool2d(1)); shape = [shape[0], 1, 1]
        elif kind == "batchnorm":
            # ConvKit normalises per channel of C×H×W and per feature of a flat input.
            layers.append(nn.BatchNorm2d(shape[0]) if len(shape) == 3 else nn.BatchNorm1d(shape[0]))
        elif kind == "dropout":
            layers.append(nn.Dropout(float(words[1])))
        elif kind in ("flatten", "reshape"):
            if kind == "reshape" and len(words) > 1 and len(words[1].split("x")) > 1:
                dims = [int(v) for v in words[1].split("x")]
                layers.append(nn.Unflatten(1, dims) if len(shape) == 1 else nn.Sequential(nn.Flatten(), nn.Unflatten(1, dims)))
                shape = dims
            else:
                layers.append(nn.Flatten()); shape = [int(np.prod(shape))]
        elif kind in ("dense", "linear"):
            layers.append(nn.Linear(shape[0], int(words[1]))); shape = [int(words[1])]
        else:
            layers.append({"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[kind]())
    return nn.Sequential(*layers), shape


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--convkit", default=".build/release/convkit")
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--data", help="the test images' directory (IDX or CIFAR binary) when not the bundled MNIST")
    args = ap.parse_args()

    with safe_open(args.model, "pt") as f:
        meta = f.metadata()
    net = build([int(v) for v in meta["input"].split("x")], meta["layers"])
    net.load_state_dict(load_file(args.model))  # strict: every name and shape must match
    net.eval()
    print("loaded", args.model, "into", net)

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Benchmarks"))
    from torch_train import load  # the IDX and CIFAR readers; imported here, as it imports build from this file
    data = args.data or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Data", "mnist")
    images = load(data)[2]
    # Class names: a JSON array under "classes"; older files have only comma-separated "digits".
    names = [str(c) for c in json.loads(meta["classes"])] if "classes" in meta else meta["digits"].split(",")
    # One mean and deviation per channel (older files: one for all).
    channels = images.shape[1]
    mean = np.resize(np.array([float(v) for v in meta["input_mean"].split(",")], np.float32), channels)[None, :, None, None]
    std = np.resize(np.array([float(v) for v in meta["input_std"].split(",")], np.float32), channels)[None, :, None, None]
    predict = [args.convkit, "predict", "--model", args.model, "--json"] + (["--data", args.data] if args.data else [])
    worst = 0.0  # largest |torch − convkit| relative to the largest |torch| output of the image
    for i in range(args.images):
        x = torch.tensor((images[i:i + 1].astype(np.float32) / 255 - mean) / std)
        with torch.no_grad():
            torch_out = net(x)[0].numpy()
        got = json.loads(subprocess.check_output(predict + ["--index", str(i)]))
        scale = max(float(np.abs(torch_out).max()), 1e-6)
        worst = max(worst, float(np.abs(torch_out - np.array(got["outputs"])).max()) / scale)
        assert names[int(torch_out.argmax())] == str(got["class"]), f"image {i}: torch {torch_out} convkit {got}"
    print(f"{args.images} test images: same class in PyTorch and ConvKit, largest relative output difference {worst:.2e}")
    assert worst <= 1e-5


if __name__ == "__main__":
    sys.exit(main())
