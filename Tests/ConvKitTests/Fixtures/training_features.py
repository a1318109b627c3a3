#!/usr/bin/env python3
"""PyTorch's own numbers for label smoothing and the one-cycle schedule, in float64:

  label smoothing: torch.nn.CrossEntropyLoss(label_smoothing=eps) (mean over the batch) on
                   logits from a closed formula, its value and d loss / d logits;
  one cycle:       torch.optim.lr_scheduler.OneCycleLR(max_lr, total_steps) with its defaults
                   (pct_start 0.3, div_factor 25, final_div_factor 1e4, cosine), the rate used by
                   each optimizer step 0..total_steps-1, momentum cycling off (ConvKit does not cycle it).

The logits come from the same formula as NetworkTests.pattern, so the fixture only holds results.
Run: /path/to/venv-with-torch/bin/python training_features.py > training_features.json
"""
import json
import torch


def pattern(n, salt):
    i = torch.arange(n, dtype=torch.int64)
    return ((i * 7919 + salt * 104729) % 1000).to(torch.float64) / 500.0 - 1.0


def smoothing(eps):
    logits = (pattern(4 * 5, 11) * 3).reshape(4, 5).requires_grad_()
    labels = torch.tensor([0, 3, 4, 1])
    loss = torch.nn.CrossEntropyLoss(label_smoothing=eps)(logits, labels)
    loss.backward()
    return {"epsilon": eps, "labels": labels.tolist(), "loss": loss.item(), "gradient": logits.grad.flatten().tolist()}


def one_cycle(max_lr, total):
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=max_lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total, cycle_momentum=False)
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return {"base": max_lr, "total_steps": total, "rates": rates}


print(json.dumps({
    "torch": torch.__version__,
    "label_smoothing": [smoothing(0.1), smoothing(0.0), smoothing(0.35)],
    "one_cycle": [one_cycle(0.01, 100), one_cycle(0.003, 7), one_cycle(1.0, 3)],
}, indent=1))
