#!/usr/bin/env python3
"""PyTorch reference for ConvKit's convolution with zero padding and stride: for each case,
torch.nn.functional.conv2d(X, K, B, padding=P, stride=S) and, by autograd, the gradients of
E = sum(G * Y) with respect to X, K and B (so dY = G). An untied bias (O, OH, OW), which torch
does not have, is added to the unbiased convolution.

Inputs come from a closed formula both languages evaluate exactly (rounded to float32 first,
then computed in float64), so the fixture only holds shapes and results.
Run: .venv-torch/bin/python conv_padding_stride.py > conv_padding_stride.json
"""
import json
import torch
import torch.nn.functional as F


def pattern(n, salt):
    i = torch.arange(n, dtype=torch.int64)
    values = ((i * 7919 + salt * 104729) % 1000).to(torch.float64) / 500.0 - 1.0
    return values.to(torch.float32).to(torch.float64)


# (N, C, H, W, O, KH, KW, padding, stride, bias)
CASES = [
    (2, 3, 7, 9, 4, 3, 3, 1, 1, "channel"),
    (2, 2, 9, 8, 5, 3, 3, 1, 2, "channel"),
    (1, 3, 10, 11, 9, 5, 4, 2, 3, "none"),
    (3, 1, 6, 6, 2, 2, 2, 1, 2, "channel"),
    (2, 2, 8, 7, 3, 3, 3, 0, 2, "untied"),
    (2, 2, 5, 6, 3, 3, 3, 2, 1, "untied"),
    (1, 1, 12, 12, 10, 3, 3, 1, 2, "untied"),
]

results = []
for (N, C, H, W, O, KH, KW, P, S, bias) in CASES:
    X = pattern(N * C * H * W, 1).reshape(N, C, H, W).requires_grad_()
    K = pattern(O * C * KH * KW, 2).reshape(O, C, KH, KW).requires_grad_()
    OH, OW = (H + 2 * P - KH) // S + 1, (W + 2 * P - KW) // S + 1
    B = None
    if bias == "channel":
        B = pattern(O, 3).requires_grad_()
        Y = F.conv2d(X, K, B, padding=P, stride=S)
    else:
        Y = F.conv2d(X, K, None, padding=P, stride=S)
        if bias == "untied":
            B = pattern(O * OH * OW, 3).reshape(O, OH, OW).requires_grad_()
            Y = Y + B
    assert Y.shape == (N, O, OH, OW)
    G = pattern(N * O * OH * OW, 4).reshape(N, O, OH, OW)
    (Y * G).sum().backward()
    results.append({
        "shape": [N, C, H, W, O, KH, KW], "padding": P, "stride": S, "bias": bias,
        "output": Y.detach().reshape(-1).tolist(),
        "input_gradient": X.grad.reshape(-1).tolist(),
        "kernel_gradient": K.grad.reshape(-1).tolist(),
        "bias_gradient": [] if B is None else B.grad.reshape(-1).tolist(),
    })

print(json.dumps({"torch": torch.__version__, "cases": results}))
