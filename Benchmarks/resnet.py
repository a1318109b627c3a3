#!/usr/bin/env python3
"""`convkit train --arch resnet` against PyTorch on the same network, recipe and images (issue 20).
The data is made from Fashion-MNIST (Debian's dataset-fashion-mnist), since CIFAR cannot be
downloaded here: each image padded to 32×32 and tinted with a random colour (seeded per image),
written as CIFAR-10 binary files (data_batch_1..5.bin, test_batch.bin), as Benchmarks/custom_net.py
does. ConvKit trains with the recipe's defaults and exports the exact images it trained and tested
on (--export-data); PyTorch (Benchmarks/torch_train.py) builds the same ResNet from ConvKit's
layer spec (scripts/torch_load_check.py: `Residual` with `body` and `shortcut`), checks the data
digest and runs the same recipe. Prints test accuracy and training time for both, per seed.

  swift build -c release
  .venv-torch/bin/python Benchmarks/resnet.py [--train-per-class 1000] [--test-per-class 200] [--seeds 1] [--threads 2]

A smoke run (seconds; checks that the pipeline runs, not the numbers):

  .venv-torch/bin/python Benchmarks/resnet.py --train-per-class 20 --test-per-class 10 --epochs 1
"""
import argparse, os, statistics, sys, tempfile, time
from custom_net import FASHION, per_class, read_idx, write_cifar
from same_recipe import ROOT, export_option, run_json, torch_command


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--convkit", default=os.path.join(ROOT, ".build", "release", "convkit"))
    ap.add_argument("--train-per-class", type=int, default=1000, help="training images per class (10 classes)")
    ap.add_argument("--test-per-class", type=int, default=200)
    ap.add_argument("--epochs", type=int, help="the recipe's own unless given")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if not os.path.isdir(FASHION):
        sys.exit(f"resnet.py: needs Fashion-MNIST in {FASHION} (apt-get install dataset-fashion-mnist)")
    xtr, ytr = read_idx("train-images-idx3-ubyte.gz"), read_idx("train-labels-idx1-ubyte.gz")
    xte, yte = read_idx("t10k-images-idx3-ubyte.gz"), read_idx("t10k-labels-idx1-ubyte.gz")
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, {args.threads} threads, "
          f"{10 * args.train_per_class} training and {10 * args.test_per_class} test images, seeds 0-{args.seeds - 1}", flush=True)
    rows = {"convkit": [], "pytorch": []}
    with tempfile.TemporaryDirectory() as work:
        data = os.path.join(work, "cifar")
        os.makedirs(data)
        write_cifar(data, per_class(xtr, ytr, args.train_per_class), per_class(xte, yte, args.test_per_class))
        for seed in range(args.seeds):
            exported = os.path.join(work, f"export-{seed}")
            cmd = [args.convkit, "train", "--arch", "resnet", "--data", data, "--per-class", "all", "--test-per-class", "all",
                   "--seed", str(seed), "--threads", str(args.threads), "--json", *export_option(exported)]
            if args.epochs:
                cmd += ["--epochs", str(args.epochs)]
            ours = run_json(cmd)
            theirs = run_json(torch_command(sys.executable, ours, args.threads, seed))
            if seed == 0:
                r = ours["recipe"]
                print(f"net: {ours['layers']}\nrecipe: {r['optimizer']} lr {r['lr']} ({r['schedule']}), batch {r['batch']}, "
                      f"{r['epochs']} epochs, smoothing {r['label_smoothing']}, augment {r.get('augment') or 'none'}, "
                      f"init {r['weight_init']}, normalization {r['normalization']}", flush=True)
            for name, report in (("convkit", ours), ("pytorch", theirs)):
                rows[name].append((100 * report["test_accuracy"], report["train_seconds"]))
                print(f"  seed {seed} {name:<8} test {100 * report['test_accuracy']:6.2f} %  train {report['train_seconds']:7.1f} s",
                      flush=True)
    for name, results in rows.items():
        print(f"{name:<8} mean test {statistics.mean(a for a, _ in results):6.2f} %, "
              f"median train {statistics.median(s for _, s in results):.1f} s")


if __name__ == "__main__":
    main()
