"""Shared by the benchmark scripts: run a command that prints JSON, and turn `convkit train
--json`'s report of its recipe into the Benchmarks/torch_train.py command for the same recipe."""
import json, os, subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_json(cmd):
    """Runs cmd in the repository root and returns the last JSON object it printed."""
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def export_option(directory):
    """What a `convkit train` command adds so that torch_command can give PyTorch the same data."""
    return ["--export-data", directory]


def torch_command(python, report, threads, seed, epochs=None):
    """PyTorch on the recipe a `convkit train --json --export-data DIR` report describes, on the
    images and labels ConvKit wrote to DIR; torch_train.py checks their digests and refuses to
    run on anything else."""
    if not report.get("data_digest") or not report.get("export_data"):
        raise SystemExit("same_recipe.py: the convkit report has no data_digest: run convkit train with export_option(DIR)")
    r = report["recipe"]
    cmd = [python, os.path.join(ROOT, "Benchmarks", "torch_train.py"), "--layers", report["layers"],
           "--optimizer", r["optimizer"], "--lr", str(r["lr"]), "--betas", r["betas"], "--momentum", str(r["momentum"]),
           "--batch", str(r["batch"]), "--epochs", str(epochs if epochs is not None else r["epochs"]),
           "--schedule", r["schedule"], "--label-smoothing", str(r["label_smoothing"]), "--weight-init", r["weight_init"],
           "--weight-decay", str(r["weight_decay"]), "--normalization", r["normalization"],
           "--threads", str(threads), "--seed", str(seed), "--loss", r["loss"], "--classes", str(len(report["classes"])),
           "--data", report["export_data"], "--expect-digest", json.dumps(report["data_digest"])]
    if r.get("augment"):
        cmd += ["--augment", r["augment"]]
    return cmd
