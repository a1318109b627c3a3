#!/usr/bin/env python3
"""Images per second of `convkit train --arch cifar` against PyTorch on the same network and
recipe (Benchmarks/torch_train.py, from convkit's own JSON report), in the same run, one and two
threads. CIFAR cannot be downloaded on these machines, so the data are random images written in
the CIFAR-10 binary format (the speed of a step does not depend on the pixels).

  swift build -c release
  python3 Benchmarks/cifar.py --torch .venv-torch/bin/python [--images 10000] [--repeat 3]
"""
import argparse, os, statistics, sys, tempfile, time
import random
from same_recipe import export_option, run_json, torch_command, ROOT


def write_cifar(directory, train, test, seed=0):
    rng = random.Random(seed)
    def batch(path, n):
        with open(path, "wb") as f:
            for _ in range(n):
                f.write(bytes([rng.randrange(10)]) + rng.randbytes(3072))
    per = train // 5
    for i in range(1, 6):
        batch(os.path.join(directory, f"data_batch_{i}.bin"), per)
    batch(os.path.join(directory, "test_batch.bin"), test)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--convkit", default=os.path.join(ROOT, ".build", "release", "convkit"))
    ap.add_argument("--torch")
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as exported:
        write_cifar(data, args.images, 1000)
        print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
              f"{args.images} random CIFAR-format images, one epoch, median of {args.repeat}", flush=True)
        for threads in (int(t) for t in args.threads.split(",")):
            ours, theirs = [], []
            for _ in range(args.repeat):
                report = run_json([args.convkit, "train", "--arch", "cifar", "--data", data, "--epochs", "1", "--json",
                                   "--threads", str(threads), "--per-class", "all", "--test-per-class", "all"]
                                  + export_option(exported))
                ours.append(report["samples_per_second"])
                if args.torch:
                    theirs.append(run_json(torch_command(args.torch, report, threads, 0, epochs=1))["samples_per_second"])
            line = f"  cifar recipe, {threads} thread{'s' if threads > 1 else ''}: convkit {statistics.median(ours):8.0f} images/s"
            if theirs:
                line += f", pytorch {statistics.median(theirs):8.0f} images/s, {statistics.median(ours) / statistics.median(theirs):.2f}x"
            print(line, "  (convkit runs: " + ", ".join(f"{v:.0f}" for v in ours) + ")", flush=True)


if __name__ == "__main__":
    sys.exit(main())
