#!/usr/bin/env python3
"""An alpha-beta model of data-parallel training on N machines, from measured step times.

Each step: every rank runs forward and backward on B/N images (time B/N * t_image, t_image
measured on one machine with all its cores), then ConvKit's rank-order allreduce moves the
gradients: 2(N-1) messages per rank (all-to-all of slices, then all-gather of sums) and about
2(N-1)/N * 4P bytes for P parameters (docs/mpi-design.md). Time per step:

    T(N) = B/N * t_image + 2(N-1) * alpha + 2(N-1)/N * 4P / beta

Speed-up S(N) = T(1) / T(N) with T(1) = B * t_image (no communication).

Usage: python3 Benchmarks/mpi_model.py [--lenet-images-per-second 27000] ...
"""
import argparse

NETWORKS = {
    # name: (parameters, images per second on one 2-core machine measured by convkit bench)
    "lenet": 5994,
    # conv 32 3, relu, maxpool 2, conv 64 3, relu, maxpool 2, flatten, dense 128, relu, dense 10
    "larger": 32 * 9 + 32 + 64 * 32 * 9 + 64 + 1600 * 128 + 128 + 1280 + 10,
}

LINKS = {
    # alpha (s), beta (bytes/s): assumptions, not measurements
    "1 GbE (TCP)": (50e-6, 117e6),
    "10 GbE (TCP)": (20e-6, 1.17e9),
    "InfiniBand HDR": (2e-6, 23e9),
}


def step_time(n, batch, t_image, params, alpha, beta):
    compute = batch / n * t_image
    if n == 1:
        return compute
    return compute + 2 * (n - 1) * alpha + 2 * (n - 1) / n * 4 * params / beta


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--lenet-images-per-second", type=float, default=27000.0)
    p.add_argument("--larger-images-per-second", type=float, default=1500.0)
    args = p.parse_args()
    rates = {"lenet": args.lenet_images_per_second, "larger": args.larger_images_per_second}
    ns = [1, 2, 4, 8, 16, 32, 64]
    for name, params in NETWORKS.items():
        t_image = 1 / rates[name]
        for batch in (64, 256):
            print(f"\n{name}: {params:,} parameters ({4 * params / 1e3:.0f} kB of gradients), "
                  f"{rates[name]:,.0f} images/s per machine, global batch {batch}")
            print("link".ljust(16) + "".join(f"N={n}".rjust(8) for n in ns) + "   best N")
            for link, (alpha, beta) in LINKS.items():
                t1 = step_time(1, batch, t_image, params, alpha, beta)
                speedups = [t1 / step_time(n, batch, t_image, params, alpha, beta) for n in ns]
                best = ns[max(range(len(ns)), key=lambda i: speedups[i])]
                print(link.ljust(16) + "".join(f"{s:8.1f}" for s in speedups) + f"   {best}")


if __name__ == "__main__":
    main()
