"""Shared by the benchmark scripts: run a command that prints JSON, and turn `convkit train
--json`'s report of its recipe into the Benchmarks/torch_train.py command for the same recipe."""
import json, os, subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_json(cmd):
    """Runs cmd in the repository root and returns the last JSON object it printed."""
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def torch_command(python, report, threads, seed, data=None, epochs=None):
    """PyTorch on the recipe a `convkit train --json` report describes."""
    r = report["recipe"]
    cmd = [python, os.path.join(ROOT, "Benchmarks", "torch_train.py"), "--layers", report["layers"],
           "--optimizer", r["optimizer"], "--lr", str(r["lr"]), "--betas", r["betas"], "--momentum", str(r["momentum"]),
           "--batch", str(r["batch"]), "--epochs", str(epochs if epochs is not None else r["epochs"]),
           "--schedule", r["schedule"], "--label-smoothing", str(r["label_smoothing"]), "--weight-init", r["weight_init"],
           "--weight-decay", str(r["weight_decay"]), "--normalization", r["normalization"],
           "--threads", str(threads), "--seed", str(seed)]
    if r.get("augment"):
        cmd += ["--augment", r["augment"]]
    if data:
        cmd += ["--data", data]
    return cmd
