#!/usr/bin/env python3
"""Reference numbers for one SGD step of the tutorial network, in float64 numpy/scipy,
written from the tutorial's equations (not ConvKit's code):

  conv:    Y_i = B_i + sum_j X_j (valid-correlate) K_ij
  grads:   dK_ij = X_j (valid-correlate) dY_i,  dB_i = dY_i,  dX_j = sum_i dY_i (full-convolve) K_ij
  dense:   y = W x + b,  dW = dy x^T,  db = dy,  dx = W^T dy
  sigmoid, binary cross-entropy (mean over outputs), SGD lr 0.1, input gradients taken with
  the weights of the forward pass.

Parameters and input come from a closed formula both languages evaluate exactly, so the
fixture only holds results. Run: python3 tutorial_step.py > tutorial_step.json
"""
import json
import numpy as np
from scipy import signal


def pattern(n, salt):
    i = np.arange(n, dtype=np.int64)
    return ((i * 7919 + salt * 104729) % 1000).astype(np.float64) / 500.0 - 1.0


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


K = pattern(5 * 3 * 3, 1).reshape(5, 1, 3, 3)
B = pattern(5 * 26 * 26, 2).reshape(5, 26, 26) * 0.1
W1 = pattern(100 * 3380, 3).reshape(100, 3380) * 0.05
b1 = pattern(100, 4)
W2 = pattern(2 * 100, 5).reshape(2, 100) * 0.3
b2 = pattern(2, 6)
X = (pattern(28 * 28, 7).reshape(1, 28, 28) + 1.0) / 2.0
target = np.array([1.0, 0.0])
lr = 0.1

# forward
Y = B.copy()
for i in range(5):
    Y[i] += signal.correlate2d(X[0], K[i, 0], "valid")
A = sigmoid(Y)
a = A.reshape(3380)
z1 = W1 @ a + b1
h = sigmoid(z1)
z2 = W2 @ h + b2
out = sigmoid(z2)
loss = np.mean(-target * np.log(out) - (1 - target) * np.log(1 - out))

# backward
dout = ((1 - target) / (1 - out) - target / out) / target.size
dz2 = dout * out * (1 - out)
dW2, db2, dh = np.outer(dz2, h), dz2, W2.T @ dz2
dz1 = dh * h * (1 - h)
dW1, db1, da = np.outer(dz1, a), dz1, W1.T @ dz1
dY = da.reshape(5, 26, 26) * A * (1 - A)
dK = np.zeros_like(K)
dX = np.zeros_like(X)
for i in range(5):
    dK[i, 0] = signal.correlate2d(X[0], dY[i], "valid")
    dX[0] += signal.convolve2d(dY[i], K[i, 0], "full")

new = {"0.weight": K - lr * dK, "0.bias": B - lr * dY, "3.weight": W1 - lr * dW1,
       "3.bias": b1 - lr * db1, "5.weight": W2 - lr * dW2, "5.bias": b2 - lr * db2}


def digest(t):
    flat = t.reshape(-1)
    return {"sum": float(flat.sum()), "abs_sum": float(np.abs(flat).sum()),
            "head": [float(v) for v in flat[:16]], "tail": [float(v) for v in flat[-16:]]}


print(json.dumps({
    "loss": float(loss),
    "output": [float(v) for v in out],
    "input_gradient": digest(dX),
    "updated": {name: digest(t) for name, t in new.items()},
}, indent=1))
