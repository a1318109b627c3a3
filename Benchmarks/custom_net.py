#!/usr/bin/env python3
"""A user's own network on a user's own data, off the presets: `convkit train --data DIR --layers
NET` with default flags, against PyTorch on the same network, recipe and images in the same run
(issue 17). Two data sets are made from Fashion-MNIST (Debian's dataset-fashion-mnist), since
neither a photo collection nor CIFAR can be downloaded here:

  folder  an image folder train/<class>/*.png, test/<class>/*.png: 600 training and 100 test
          images per class (6,000 and 1,000), grey 28×28 PNGs;
  cifar   CIFAR-10 binary files (data_batch_1..5.bin, test_batch.bin): 10,000 training and 2,000
          test images, each padded to 32×32 and tinted with a random colour (seeded per image).

For each seed it runs ConvKit with its defaults (the init and loss it picks for a custom net),
ConvKit with --weight-init pytorch, ConvKit with the old defaults for a custom net (the
tutorial's N(0, 1) init and binary cross-entropy), and PyTorch with its own default init. PyTorch
trains on the images ConvKit exported (--export-data), checked by digest. Run with the torch venv's
python (it writes the PNGs with pillow):

  swift build -c release
  .venv-torch/bin/python Benchmarks/custom_net.py [--seeds 3] [--threads 2]
"""
import argparse, gzip, os, statistics, sys, tempfile, time
import numpy as np
from PIL import Image
from same_recipe import ROOT, export_option, run_json, torch_command

FASHION = "/usr/share/datasets/fashion-mnist"
NET = ("conv 16 3 pad 1, batchnorm, relu, maxpool 2, conv 32 3 pad 1 stride 2, batchnorm, relu, avgpool 2, "
       "flatten, dropout 0.25, dense 10")
# The recipe, given as flags; everything else is ConvKit's default for a custom net.
RECIPE = ["--optimizer", "adam", "--lr", "2e-3", "--batch", "64", "--epochs", "3"]


def read_idx(name):
    with gzip.open(os.path.join(FASHION, name)) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def per_class(images, labels, n):
    """The first n images of each class, class by class."""
    picked = np.concatenate([np.flatnonzero(labels == c)[:n] for c in range(10)])
    return images[picked], labels[picked]


def write_folder(directory, train, test):
    for split, (images, labels) in (("train", train), ("test", test)):
        for c in range(10):
            os.makedirs(os.path.join(directory, split, f"class{c}"), exist_ok=True)
        for i, (image, label) in enumerate(zip(images, labels)):
            Image.fromarray(image, "L").save(os.path.join(directory, split, f"class{label}", f"{i:05d}.png"))


def write_cifar(directory, train, test, seed=0):
    rng = np.random.default_rng(seed)

    def coloured(images):
        padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))
        tint = rng.uniform(0.3, 1.0, size=(len(images), 3, 1, 1))
        return (padded[:, None].astype(np.float64) * tint).round().astype(np.uint8)

    def batch(path, images, labels):
        rows = np.concatenate([labels[:, None].astype(np.uint8), coloured(images).reshape(len(images), -1)], axis=1)
        rows.tofile(path)

    images, labels = train
    for i, part in enumerate(np.array_split(np.arange(len(labels)), 5), start=1):
        batch(os.path.join(directory, f"data_batch_{i}.bin"), images[part], labels[part])
    batch(os.path.join(directory, "test_batch.bin"), *test)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--convkit", default=os.path.join(ROOT, ".build", "release", "convkit"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sets", default="folder,cifar")
    args = ap.parse_args()
    if not os.path.isdir(FASHION):
        sys.exit(f"custom_net.py: needs Fashion-MNIST in {FASHION} (apt-get install dataset-fashion-mnist)")
    xtr, ytr = read_idx("train-images-idx3-ubyte.gz"), read_idx("train-labels-idx1-ubyte.gz")
    xte, yte = read_idx("t10k-images-idx3-ubyte.gz"), read_idx("t10k-labels-idx1-ubyte.gz")
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, {args.threads} threads, "
          f"seeds 0-{args.seeds - 1}\nnet: {NET}\nrecipe flags: {' '.join(RECIPE)}", flush=True)
    variants = [("convkit defaults", []), ("convkit --weight-init pytorch", ["--weight-init", "pytorch"]),
                ("convkit old defaults (normal, bce)", ["--weight-init", "normal", "--loss", "bce"])]
    with tempfile.TemporaryDirectory() as work:
        for name in args.sets.split(","):
            data = os.path.join(work, name)
            os.makedirs(data)
            if name == "folder":
                write_folder(data, per_class(xtr, ytr, 600), per_class(xte, yte, 100))
            else:
                write_cifar(data, per_class(xtr, ytr, 1000), per_class(xte, yte, 200))
            results = {v: [] for v, _ in variants + [("pytorch, its default init", None)]}
            for seed in range(args.seeds):
                exported = os.path.join(work, f"{name}-export-{seed}")
                for label, flags in variants:
                    cmd = [args.convkit, "train", "--data", data, "--layers", NET, *RECIPE, *flags, "--seed", str(seed),
                           "--threads", str(args.threads), "--json"]
                    report = run_json(cmd + (export_option(exported) if not flags else []))
                    if not flags:
                        reference = report
                    results[label].append((report["test_accuracy"], report["epochs"][0]["loss"], report["train_seconds"]))
                theirs = run_json(torch_command(sys.executable, dict(reference, recipe=dict(reference["recipe"], weight_init="pytorch")),
                                                args.threads, seed))
                results["pytorch, its default init"].append((theirs["test_accuracy"], None, theirs["train_seconds"]))
            print(f"\n{name}: {reference['data']} · {reference['train_images']} training, {reference['test_images']} test images; "
                  f"convkit defaults: {reference['recipe']['loss']}, init {reference['recipe']['weight_init']}, "
                  f"normalization {reference['recipe']['normalization']}", flush=True)
            for label, rows in results.items():
                acc = [100 * r[0] for r in rows]
                loss = [r[1] for r in rows if r[1] is not None]
                print(f"  {label:<38} test {statistics.mean(acc):6.2f} % (seeds: {', '.join(f'{a:.2f}' for a in acc)})"
                      + (f"  first-epoch loss {statistics.mean(loss):.3f}" if loss else "")
                      + f"  train {statistics.median(r[2] for r in rows):.1f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
