#!/usr/bin/env python3
"""Time to 99 % on MNIST (issue 12): `convkit train --arch fast --seed S` for S = 0…9, and
PyTorch on the identical recipe (network from the same layer spec, same optimizer, betas,
schedule, batch, epochs, label smoothing and init scheme: Benchmarks/torch_train.py) in the same
run, seed by seed. Prints a per-seed table and the means, and the ratio of training times.

  swift build -c release
  python3 Benchmarks/time_to_99.py [--torch .venv-torch/bin/python] [--seeds 10] [--threads 2]

PyTorch's recipe is read from the `recipe` object of convkit's own JSON report, and its data are
the images convkit exports for that seed (`--export-data`), checked by digest, so neither the
recipe nor the data can drift apart (`--arch fashion` trains both on Fashion-MNIST).
"""
import argparse, os, statistics, sys, tempfile, time
from same_recipe import ROOT, export_option, run_json, torch_command


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--convkit", default=os.path.join(ROOT, ".build", "release", "convkit"))
    ap.add_argument("--torch", help="python with torch: run PyTorch on the same recipe too")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--arch", default="fast")
    ap.add_argument("--data", help="passed to convkit train as --data (PyTorch gets the images ConvKit exports)")
    args = ap.parse_args()
    data = ["--data", args.data] if args.data else []
    exported = tempfile.TemporaryDirectory()

    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, {args.threads} threads, "
          f"`convkit train --arch {args.arch} --seed S`", flush=True)
    print(f"{'seed':>4}  {'convkit %':>9}  {'convkit s':>9}  {'torch %':>8}  {'torch s':>8}", flush=True)
    rows = []
    for seed in range(args.seeds):
        ours = run_json([args.convkit, "train", "--arch", args.arch, "--seed", str(seed), "--json", "--threads", str(args.threads)]
                        + data + (export_option(exported.name) if args.torch else []))
        theirs = None
        if args.torch:
            theirs = run_json(torch_command(args.torch, ours, args.threads, seed))
        rows.append((seed, ours, theirs))
        print(f"{seed:>4}  {100 * ours['test_accuracy']:>9.2f}  {ours['train_seconds']:>9.2f}  "
              + (f"{100 * theirs['test_accuracy']:>8.2f}  {theirs['train_seconds']:>8.2f}" if theirs else ""), flush=True)

    def summary(name, reports):
        acc = [r["test_accuracy"] for r in reports]
        sec = [r["train_seconds"] for r in reports]
        print(f"{name}: mean accuracy {100 * statistics.mean(acc):.2f} % (min {100 * min(acc):.2f}), "
              f"mean training time {statistics.mean(sec):.2f} s (median {statistics.median(sec):.2f})", flush=True)
        return statistics.mean(sec)

    ck = summary("convkit", [r[1] for r in rows])
    if args.torch:
        th = summary("pytorch", [r[2] for r in rows])
        print(f"pytorch / convkit training time: {th / ck:.2f}x", flush=True)


if __name__ == "__main__":
    sys.exit(main())
