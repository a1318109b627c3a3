#!/usr/bin/env python3
"""Reference numbers from PyTorch for a small network with batch norm and average pooling:
one training-mode forward and backward, then an evaluation-mode forward.

  input 2x6x6: conv 3 3, batchnorm, relu, avgpool 2, flatten, dense 4, batchnorm, dense 2

Parameters, inputs and the output gradient come from a closed formula and are stored beside the
results (float32 values, so the Swift test reads exactly what PyTorch used). The backward pass
starts from dE/dout = G, i.e. E = sum(G * out). Run with the torch venv:

  python3 batchnorm_step.py > batchnorm_step.json
"""
import json
import torch
from torch import nn

torch.use_deterministic_algorithms(True)


def pattern(n, salt):
    i = torch.arange(n, dtype=torch.int64)
    return ((i * 7919 + salt * 104729) % 1000).to(torch.float64) / 500.0 - 1.0


N = 4
net = nn.Sequential(
    nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
    nn.Linear(12, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
with torch.no_grad():
    for salt, (name, p) in enumerate(net.named_parameters(), start=1):
        # Batch norm's gamma near 1, everything else in [-1, 1) scaled down.
        values = pattern(p.numel(), salt).reshape(p.shape)
        p.copy_((1.0 + 0.5 * values) if name.endswith("weight") and p.dim() == 1 else 0.5 * values)

x = (pattern(N * 2 * 6 * 6, 20).reshape(N, 2, 6, 6) * 2.0 + 0.5).to(torch.float32).requires_grad_(True)
G = pattern(N * 2, 21).reshape(N, 2).to(torch.float32)

net.train()
out = net(x)
(out * G).sum().backward()
train_out = out.detach()

net.eval()
with torch.no_grad():
    eval_out = net(x)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1)]


print(json.dumps({
    "batch": N,
    "input": flat(x),
    "output_gradient": flat(G),
    "parameters": {name: flat(p) for name, p in net.named_parameters()},
    "train_output": flat(train_out),
    "input_gradient": flat(x.grad),
    "gradients": {name: flat(p.grad) for name, p in net.named_parameters()},
    "state": {name: flat(b) for name, b in net.named_buffers()},
    "eval_output": flat(eval_out),
}, indent=1))
