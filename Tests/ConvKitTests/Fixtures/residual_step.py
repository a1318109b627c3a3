#!/usr/bin/env python3
"""Reference numbers from PyTorch for a small ResNet with an identity and a projection block:
one training-mode forward and backward, one step of SGD with momentum on the softmax
cross-entropy, and an evaluation-mode forward.

  input 2x8x8: conv 4 3 pad 1, batchnorm, relu,
               residual(conv 4 3 pad 1, batchnorm, relu, conv 4 3 pad 1, batchnorm), relu,
               residual(conv 6 3 pad 1 stride 2, batchnorm, relu, conv 6 3 pad 1, batchnorm), relu,
               globalavgpool, flatten, dense 3

The network is what scripts/torch_load_check.py builds from the spec, so the parameter names are
the ones ConvKit's model files use. Parameters, inputs and the output gradient come from a closed
formula and are stored beside the results (float32 values, so the Swift test reads exactly what
PyTorch used). The backward pass starts from dE/dout = G, i.e. E = sum(G * out). Run with the
torch venv:

  python3 residual_step.py > residual_step.json
"""
import json, os, sys
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "scripts"))
from torch_load_check import build  # noqa: E402

torch.use_deterministic_algorithms(True)

SPEC = ("conv 4 3 pad 1, batchnorm, relu, "
        "residual(conv 4 3 pad 1, batchnorm, relu, conv 4 3 pad 1, batchnorm), relu, "
        "residual(conv 6 3 pad 1 stride 2, batchnorm, relu, conv 6 3 pad 1, batchnorm), relu, "
        "globalavgpool, flatten, dense 3")


def pattern(n, salt):
    i = torch.arange(n, dtype=torch.int64)
    return ((i * 7919 + salt * 104729) % 1000).to(torch.float64) / 500.0 - 1.0


def fresh():
    net = build([2, 8, 8], SPEC)
    with torch.no_grad():
        for salt, (name, p) in enumerate(net.named_parameters(), start=1):
            # Batch norm's gamma near 1, everything else in [-1, 1) scaled down.
            values = pattern(p.numel(), salt).reshape(p.shape)
            p.copy_((1.0 + 0.5 * values) if name.endswith("weight") and p.dim() == 1 else 0.5 * values)
    return net


N = 4
x = (pattern(N * 2 * 8 * 8, 40).reshape(N, 2, 8, 8) * 2.0 + 0.5).to(torch.float32)
G = pattern(N * 3, 41).reshape(N, 3).to(torch.float32)
labels = [0, 2, 1, 2]

net = fresh()
parameters = {name: p.detach().clone() for name, p in net.named_parameters()}
net.train()
xg = x.clone().requires_grad_(True)
out = net(xg)
(out * G).sum().backward()
train_out = out.detach()
gradients = {name: p.grad.clone() for name, p in net.named_parameters()}
state = {name: b.clone() for name, b in net.named_buffers()}
net.eval()
with torch.no_grad():
    eval_out = net(x)

# A whole training step from the same start: softmax cross-entropy, SGD with momentum 0.9.
net = fresh()
net.train()
optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
loss = nn.functional.cross_entropy(net(x), torch.tensor(labels))
loss.backward()
optimizer.step()


def flat(t):
    return [float(v) for v in t.detach().reshape(-1)]


print(json.dumps({
    "spec": SPEC,
    "batch": N,
    "input": flat(x),
    "output_gradient": flat(G),
    "labels": labels,
    "parameters": {name: flat(p) for name, p in parameters.items()},
    "train_output": flat(train_out),
    "gradients": {name: flat(g) for name, g in gradients.items()},
    "state": {name: flat(b) for name, b in state.items()},
    "eval_output": flat(eval_out),
    "step_loss": float(loss.detach()),
    "step_parameters": {name: flat(p) for name, p in net.named_parameters()},
    "step_state": {name: flat(b) for name, b in net.named_buffers()},
}, indent=1))
