#!/usr/bin/env python3
"""End-to-end training figures for docs/performance.md, against PyTorch in the same run when a torch
interpreter is given: the tutorial net at batch 1, LeNet at batch 64, the fast preset, and the
peak resident memory of a full LeNet run. Medians over --repeat runs.

  swift build -c release
  python3 Benchmarks/training.py [--torch .venv-torch/bin/python] [--repeat 3] [--lenet-epochs 2]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
from same_recipe import ROOT, export_option, torch_command


def run_json(cmd):
    """Runs cmd, returns (last JSON object it printed, its peak RSS in MB). The command runs under
    a small Python parent of its own, since RUSAGE_CHILDREN is a maximum over all children."""
    wrapper = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
               "print('peak_rss_kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", wrapper] + cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    obj = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
    rss = [int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("peak_rss_kb")]
    return obj, rss[-1] / 1024 if rss else None


def median(values):
    return statistics.median(values) if values else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--convkit", default=os.path.join(ROOT, ".build", "release", "convkit"))
    ap.add_argument("--torch", help="python with torch, to measure PyTorch in the same run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lenet-epochs", type=int, default=2)
    ap.add_argument("--skip", default="", help="comma list of: tutorial,lenet,fast,memory")
    args = ap.parse_args()
    skip = set(args.skip.split(","))
    ck = args.convkit
    rows = []

    def row(what, threads, ours, theirs, unit):
        ratio = f"{ours / theirs:.2f}x" if theirs else ""
        rows.append((what, threads, ours, theirs, ratio, unit))
        print(f"  {what:<34} {threads} thr  convkit {ours:10.1f}  {'torch ' + format(theirs, '10.1f') if theirs else '':<17} {ratio:>6} {unit}",
              flush=True)

    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, median of {args.repeat}")
    exported = tempfile.TemporaryDirectory()
    # PyTorch runs Benchmarks/torch_train.py on the recipe and the exported images of one of
    # ConvKit's runs (checked by digest), so both train on the same data.
    def compare(what, unit, t, command, rate):
        reports = [run_json(command + export_option(exported.name))[0] for _ in range(args.repeat)]
        theirs = None
        if args.torch:
            theirs = median([rate(run_json(torch_command(args.torch, reports[0], t, 0))[0]) for _ in range(args.repeat)])
        row(what, t, median([rate(r) for r in reports]), theirs, unit)

    if "tutorial" not in skip:
        for t in (1, 2):
            compare("tutorial net, batch 1", "samples/s", t, [ck, "train", "--json", "--threads", str(t)],
                    lambda r: r["samples_per_second"])
    if "lenet" not in skip:
        for t in (1, 2):
            compare("lenet, batch 64", "images/s", t,
                    [ck, "train", "--arch", "lenet", "--epochs", str(args.lenet_epochs), "--json", "--threads", str(t)],
                    lambda r: median([r["train_images"] / e["seconds"] for e in r["epochs"]]))
    if "fast" not in skip:
        runs = [run_json([ck, "train", "--arch", "fast", "--json"])[0] for _ in range(args.repeat)]
        print(f"  fast preset: train_seconds {[round(r['train_seconds'], 2) for r in runs]}, "
              f"test_accuracy {[r['test_accuracy'] for r in runs]}", flush=True)
        row("fast preset, seconds to finish", 0, median([r["train_seconds"] for r in runs]), None, "s")
    if "memory" not in skip:
        report, rss = run_json([ck, "train", "--arch", "lenet", "--json"])
        row(f"lenet full run ({len(report['epochs'])} epochs), peak RSS", 0, rss, None, "MB")
        print(f"  lenet full run: test accuracy {report['test_accuracy']}, train_seconds {report['train_seconds']:.1f}", flush=True)
    json.dump([dict(zip(["what", "threads", "convkit", "torch", "ratio", "unit"], r)) for r in rows], sys.stderr)
    print(file=sys.stderr)


if __name__ == "__main__":
    main()
