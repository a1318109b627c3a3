#!/usr/bin/env python3
"""Loads a ConvKit model file into the equivalent PyTorch nn.Sequential with load_state_dict
(strict), and checks that PyTorch classifies MNIST test images as `convkit predict` does.

  python3 -m venv .venv-torch && .venv-torch/bin/pip install torch==2.13.0+cpu numpy safetensors
  .venv-torch/bin/python scripts/torch_load_check.py MODEL.safetensors [--convkit .build/release/convkit]
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


def build(input_shape, spec):
    c, h, w = input_shape
    shape, layers = [c, h, w], []
    for item in [s.strip() for s in spec.split(",")]:
        words = item.split()
        if words[0] == "conv":
            o = int(words[1]); kh, kw = (int(v) for v in (words[2].split("x") * 2)[:2])
            oh, ow = shape[1] - kh + 1, shape[2] - kw + 1
            bias = words[3] if len(words) > 3 else "channel"
            layers.append(UntiedConv2d(shape[0], o, kh, kw, oh, ow) if bias == "untied"
                          else nn.Conv2d(shape[0], o, (kh, kw), bias=(bias != "nobias")))
            shape = [o, oh, ow]
        elif words[0] == "maxpool":
            p = int(words[1]); s = int(words[2]) if len(words) > 2 else p
            layers.append(nn.MaxPool2d(p, s)); shape = [shape[0], (shape[1] - p) // s + 1, (shape[2] - p) // s + 1]
        elif words[0] in ("flatten", "reshape"):
            layers.append(nn.Flatten()); shape = [int(np.prod(shape))]
        elif words[0] == "dense":
            layers.append(nn.Linear(shape[0], int(words[1]))); shape = [int(words[1])]
        else:
            layers.append({"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[words[0]]())
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--convkit", default=".build/release/convkit")
    ap.add_argument("--images", type=int, default=20)
    args = ap.parse_args()

    with safe_open(args.model, "pt") as f:
        meta = f.metadata()
    net = build([int(v) for v in meta["input"].split("x")], meta["layers"])
    net.load_state_dict(load_file(args.model))  # strict: every name and shape must match
    net.eval()
    print("loaded", args.model, "into", net)

    with gzip.open(os.path.join(os.path.dirname(__file__), "..", "Data", "mnist", "t10k-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    digits = [int(d) for d in meta["digits"].split(",")]
    mean, std = float(meta["input_mean"]), float(meta["input_std"])
    worst = 0.0
    for i in range(args.images):
        x = torch.tensor((images[i:i + 1].astype(np.float32) / 255 - mean) / std)
        with torch.no_grad():
            torch_out = net(x)[0].numpy()
        got = json.loads(subprocess.check_output([args.convkit, "predict", "--model", args.model, "--index", str(i), "--json"]))
        worst = max(worst, float(np.abs(torch_out - np.array(got["outputs"])).max()))
        assert digits[int(torch_out.argmax())] == got["class"], f"image {i}: torch {torch_out} convkit {got}"
    print(f"{args.images} test images: same class in PyTorch and ConvKit, largest output difference {worst:.2e}")
    assert worst < 1e-4


if __name__ == "__main__":
    sys.exit(main())
