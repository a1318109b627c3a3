#!/usr/bin/env python3
"""PyTorch on a ConvKit recipe: the network is built from ConvKit's own layer spec (the builder
of scripts/torch_load_check.py), and the options mean what `convkit train`'s options of the same
name mean, so the two run the same recipe. Prints one JSON object, as `convkit train --json` does
(per-epoch test accuracy and training seconds, evaluation excluded).

  .venv-torch/bin/python Benchmarks/torch_train.py --layers "conv 8 5, relu, maxpool 2, flatten, dense 10" \
      --optimizer adam --lr 3e-3 --batch 64 --epochs 2 --schedule cosine --threads 2

Data: what `convkit train --export-data DIR` wrote (the exact images and labels ConvKit trained
and tested on, in its class order); or IDX (gzip) MNIST files, the bundled MNIST by default; or
CIFAR-10 binary (`data_batch_*.bin`), read into memory once. With --expect-digest (the
`data_digest` object of ConvKit's --json report) the run refuses to start unless the data it
loaded has the same counts and the same SHA-256 of labels and samples: Benchmarks/same_recipe.py
always passes it, so no comparison runs on other data than ConvKit's. Differences from ConvKit
that remain: the generator (same seed, different numbers), and PyTorch's own summation orders.
"""
import argparse, glob, gzip, hashlib, json, math, os, sys, time
import numpy as np
import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from torch_load_check import Residual, build  # noqa: E402


def read_idx(path):
    with gzip.open(path) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx_any(path):
    """An IDX array of any element type and rank, plain or gzip."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    kind, dims = data[2], data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, IDX_TYPES[kind], offset=4 + 4 * dims).reshape(shape)


def digest(images, labels):
    """What ConvKit's LabeledImages.digest computes: counts, SHA-256 of the labels as little-endian
    int32 and of the samples (bytes, or float32 little-endian) in order."""
    samples = images.astype(np.uint8) if images.dtype == np.uint8 else images.astype("<f4")
    return {"count": int(len(labels)), "labels_sha256": hashlib.sha256(np.asarray(labels).astype("<i4").tobytes()).hexdigest(),
            "samples_sha256": hashlib.sha256(np.ascontiguousarray(samples).tobytes()).hexdigest()}


def load(path):
    """(train images N×C×H×W, train labels, test images, test labels)."""
    if os.path.exists(os.path.join(path, "train-images.idx")):
        def split(name):
            x = read_idx_any(os.path.join(path, f"{name}-images.idx"))
            if x.ndim == 3:
                x = x[:, None]
            return x, read_idx_any(os.path.join(path, f"{name}-labels.idx")).astype(np.int64)
        return (*split("train"), *split("test"))
    if glob.glob(os.path.join(path, "data_batch_*.bin")):
        def cifar(files):
            raw = np.concatenate([np.fromfile(f, np.uint8).reshape(-1, 3073) for f in files])
            return raw[:, 1:].reshape(-1, 3, 32, 32), raw[:, 0].astype(np.int64)
        xtr, ytr = cifar(sorted(glob.glob(os.path.join(path, "data_batch_*.bin"))))
        xte, yte = cifar([os.path.join(path, "test_batch.bin")])
        return xtr, ytr, xte, yte
    xtr = read_idx(os.path.join(path, "train-images-idx3-ubyte.gz"))[:, None]
    xte = read_idx(os.path.join(path, "t10k-images-idx3-ubyte.gz"))[:, None]
    ytr = read_idx(os.path.join(path, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    yte = read_idx(os.path.join(path, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    return xtr, ytr, xte, yte


def initialise(net, scheme, relu_after=False):
    """ConvKit's schemes (Sources/ConvKit/Network/Initialization.swift): `auto` is He normal before
    a ReLU and Glorot uniform elsewhere, biases zero; `pytorch` is PyTorch's own default. As in
    ConvKit, flatten, batch norm and dropout do not hide the ReLU after them, and the layers of a
    residual block see what follows the block (`relu_after`) past their own end."""
    if scheme == "pytorch":
        return
    layers = list(net)
    for i, layer in enumerate(layers):
        following = [l for l in layers[i + 1:] if not isinstance(l, (nn.Flatten, nn.Unflatten, nn.BatchNorm1d, nn.BatchNorm2d, nn.Dropout))]
        relu = isinstance(following[0], nn.ReLU) if following else relu_after
        if isinstance(layer, Residual):
            initialise(layer.body, scheme, relu)
            initialise(layer.shortcut, scheme, relu)
            continue
        if not isinstance(layer, (nn.Conv2d, nn.Linear)):
            continue
        if scheme == "he" or (scheme == "auto" and relu):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        else:
            nn.init.xavier_uniform_(layer.weight)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


def rate(schedule, base, step, total, epoch):
    """ConvKit's LearningRateSchedule.rate, step 0-based of `total`."""
    if schedule == "cosine":
        return base * 0.5 * (1 + math.cos(math.pi * step / max(total, 1)))
    if schedule == "onecycle":
        # Warm-up over the first 30 % from base/25 to base, then down to base/25e4, both cosine:
        # PyTorch's OneCycleLR with its defaults (and no momentum cycling).
        up = max(int(0.3 * total), 1)
        lo, end = base / 25, base / 25e4
        if step < up:
            return lo + (base - lo) * 0.5 * (1 - math.cos(math.pi * step / up))
        t = (step - up) / max(total - up, 1)
        return end + (base - end) * 0.5 * (1 + math.cos(math.pi * t))
    if schedule.startswith("step:"):
        _, every, factor = schedule.split(":")
        return base * float(factor) ** (epoch // int(every))
    return base


def augment(x, shift, flip, generator):
    """Random shifts of up to `shift` pixels (zero fill) and horizontal flips, per sample."""
    if shift:
        n, _, h, w = x.shape
        padded = nn.functional.pad(x, (shift, shift, shift, shift))
        dy = torch.randint(0, 2 * shift + 1, (n,), generator=generator)
        dx = torch.randint(0, 2 * shift + 1, (n,), generator=generator)
        rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None].expand(n, x.shape[1], h, w + 2 * shift)
        padded = padded.gather(2, rows)
        cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :].expand(n, x.shape[1], h, w)
        x = padded.gather(3, cols)
    if flip:
        mask = torch.rand(x.shape[0], generator=generator) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", required=True)
    ap.add_argument("--data", default=os.path.join(ROOT, "Data", "mnist"))
    ap.add_argument("--optimizer", default="adam", choices=["sgd", "momentum", "nesterov", "adam"])
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--betas", default="0.9,0.999")
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--schedule", default="constant")
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--augment", default="", help="shift:K and/or flip, comma-separated")
    ap.add_argument("--weight-init", default="auto")
    ap.add_argument("--normalization", default="mnist", help="mnist, unit, or measured (per channel, training set)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-train", type=int, default=0)
    ap.add_argument("--loss", default="softmax-ce", choices=["softmax-ce", "bce"])
    ap.add_argument("--classes", type=int, default=0, help="the number of classes (default: the largest label + 1)")
    ap.add_argument("--expect-digest", help="JSON {train: {count, labels_sha256, samples_sha256}, test: {…}}: refuse other data")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    xtr, ytr, xte, yte = load(args.data)
    if args.max_train:
        xtr, ytr = xtr[:args.max_train], ytr[:args.max_train]
    if args.expect_digest:
        expected = json.loads(args.expect_digest)
        for name, x, y in (("train", xtr, ytr), ("test", xte, yte)):
            found = digest(x, y)
            if found != expected[name]:
                sys.exit(f"torch_train.py: refusing to run: the {name} data loaded from {args.data} is not ConvKit's "
                         f"({found['count']} samples, labels {found['labels_sha256'][:12]}…, samples {found['samples_sha256'][:12]}…; "
                         f"ConvKit had {expected[name]['count']}, {expected[name]['labels_sha256'][:12]}…, {expected[name]['samples_sha256'][:12]}…)")
    c = xtr.shape[1]
    if args.normalization == "mnist":
        mean, std = np.full(c, 0.1307), np.full(c, 0.3081)
    elif args.normalization == "measured":
        scaled = xtr.astype(np.float64) / 255
        mean, std = scaled.mean(axis=(0, 2, 3)), scaled.std(axis=(0, 2, 3))
    else:
        mean, std = np.zeros(c), np.ones(c)

    def prep(x):
        x = torch.tensor(x, dtype=torch.float32) / 255
        return (x - torch.tensor(mean, dtype=torch.float32)[None, :, None, None]) / torch.tensor(std, dtype=torch.float32)[None, :, None, None]

    xtr_t, xte_t = prep(xtr), prep(xte)
    ytr_t, yte_t = torch.tensor(ytr), torch.tensor(yte)
    classes = args.classes or int(max(ytr.max(), yte.max())) + 1
    net = build(list(xtr.shape[1:]), args.layers)
    initialise(net, args.weight_init)
    b1, b2 = (float(v) for v in args.betas.split(","))
    if args.optimizer == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=args.lr, betas=(b1, b2), eps=1e-8, weight_decay=args.weight_decay)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0 if args.optimizer == "sgd" else args.momentum,
                              nesterov=args.optimizer == "nesterov", weight_decay=args.weight_decay)
    if args.loss == "bce":
        # ConvKit's BinaryCrossEntropy: the network ends in a sigmoid, one-hot targets, the mean
        # over samples and classes.
        bce = nn.BCELoss()
        loss_fn = lambda out, y: bce(out, nn.functional.one_hot(y, classes).float())
    else:
        loss_fn = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    aug = {p.split(":")[0]: p for p in args.augment.split(",") if p}
    shift = int(aug["shift"].split(":")[1]) if "shift" in aug else 0
    flip = "flip" in aug

    n = len(xtr_t)
    steps = (n + args.batch - 1) // args.batch
    total = steps * args.epochs
    epochs = []
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(n, generator=generator)
        started = time.perf_counter()
        for s in range(steps):
            for group in opt.param_groups:
                group["lr"] = rate(args.schedule, args.lr, epoch * steps + s, total, epoch)
            idx = order[s * args.batch:(s + 1) * args.batch]
            x = xtr_t[idx]
            if shift or flip:
                x = augment(x, shift, flip, generator)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(x), ytr_t[idx])
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - started
        net.eval()
        with torch.no_grad():
            correct = sum(int((net(xte_t[i:i + 1000]).argmax(1) == yte_t[i:i + 1000]).sum()) for i in range(0, len(xte_t), 1000))
        epochs.append({"epoch": epoch + 1, "seconds": seconds, "test_accuracy": correct / len(xte_t)})
    print(json.dumps({
        "torch": torch.__version__, "threads": torch.get_num_threads(), "layers": args.layers, "classes": classes,
        "train_images": n, "train_seconds": sum(e["seconds"] for e in epochs),
        "samples_per_second": n * len(epochs) / max(sum(e["seconds"] for e in epochs), 1e-9),
        "test_accuracy": epochs[-1]["test_accuracy"] if epochs else None, "epochs": epochs,
    }))


if __name__ == "__main__":
    main()
