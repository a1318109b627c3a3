#!/usr/bin/env python3
"""The convolution kernels of `convkit bench` against PyTorch's, shape by shape, in one run on one
machine: ConvKit's forward pass, kernel gradient and input gradient (SIMD variant, wall clock)
and PyTorch's conv2d, conv2d_weight and conv2d_input on tensors of the same shapes, at 1 and 2
threads, in GFLOP/s (2·N·O·OH·OW·C·KH·KW per call, the bench's count) and as a ratio.

  swift build -c release
  .venv-torch/bin/python Benchmarks/conv_torch.py [--filter 64x32x26x26] [--repeats 7]

Both time random values (uniform, no subnormals), each from its own generator: a convolution's
time does not depend on the values of normal floats, so only the shapes have to agree, and the
script takes them from ConvKit's own report.
"""
import argparse, json, os, re, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPE = re.compile(r"^(\d+)x(\d+)x(\d+)x(\d+)->(\d+),(\d+)x(\d+)(?:p(\d+))?(?:s(\d+))?$")


def torch_rates(torch, shape, threads, repeats):
    """GFLOP/s of PyTorch's three passes for `shape`, median of `repeats` timings of ~0.2 s each."""
    import torch.nn.functional as F
    from torch.nn import grad
    n, c, h, w, o, kh, kw, p, s = shape
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, c, h, w, generator=g) - 0.5
    k = torch.rand(o, c, kh, kw, generator=g) - 0.5
    y = F.conv2d(x, k, padding=p, stride=s)
    dy = torch.rand(y.shape, generator=g) - 0.5
    flops = 2.0 * n * o * y.shape[2] * y.shape[3] * c * kh * kw
    calls = {
        "conv_forward": lambda: F.conv2d(x, k, padding=p, stride=s),
        "conv_backward_kernel": lambda: grad.conv2d_weight(x, k.shape, dy, padding=p, stride=s),
        "conv_backward_input": lambda: grad.conv2d_input(x.shape, k, dy, padding=p, stride=s),
    }
    rates = {}
    with torch.no_grad():
        for name, call in calls.items():
            call()
            times = []
            for _ in range(repeats):
                started, count = time.perf_counter(), 0
                while time.perf_counter() - started < 0.2:
                    call()
                    count += 1
                times.append((time.perf_counter() - started) / count)
            rates[name] = flops / statistics.median(times) / 1e9
    return rates


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--convkit", default=os.path.join(ROOT, ".build", "release", "convkit"))
    ap.add_argument("--filter", default="conv_", help="passed to convkit bench --filter")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("conv_torch.py: needs torch (README, 'Performance': .venv-torch)")
    info = subprocess.run([args.convkit, "info"], capture_output=True, text=True, check=True).stdout
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, torch {torch.__version__}")
    print("".join(line + "\n" for line in info.splitlines() if line.startswith("kernels")), end="")
    report = json.loads(subprocess.run([args.convkit, "bench", "--json", "--filter", args.filter, "--threads", "1,2",
                                        "--repeat", str(args.repeats)], capture_output=True, text=True, check=True).stdout)
    ours = {(r["kernel"], r["shape"], r["threads"]): r["gflops"] for r in report["results"]
            if r["variant"] == "simd" and r["kernel"].startswith("conv_")}
    print(f"peak {report['peaks']['1']:.1f} / {report['peaks']['2']:.1f} GFLOP/s (1 / 2 threads)")
    print(f"{'kernel':<22} {'shape':<26} {'thr':>3} {'convkit':>8} {'torch':>8} {'ratio':>6}")
    shapes = sorted({key[1] for key in ours}, key=lambda s: list(ours).index(next(k for k in ours if k[1] == s)))
    for text in shapes:
        m = SHAPE.match(text)
        if not m or int(m.group(1)) == 1:
            continue  # single planes: no batched PyTorch counterpart worth timing
        shape = tuple(int(v) if v else d for v, d in zip(m.groups(), [0] * 7 + [0, 1]))
        for threads in (1, 2):
            theirs = torch_rates(torch, shape, threads, args.repeats)
            for kernel in ("conv_forward", "conv_backward_kernel", "conv_backward_input"):
                mine = ours.get((kernel, text, threads))
                if mine is None:
                    continue
                print(f"{kernel:<22} {text:<26} {threads:>3} {mine:>8.1f} {theirs[kernel]:>8.1f} {mine / theirs[kernel]:>5.2f}x",
                      flush=True)


if __name__ == "__main__":
    main()
