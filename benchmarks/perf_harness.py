"""Harness overhead: seconds per training epoch of ``benchmarks.training.train`` against a bare PyTorch
loop on the same model, data, optimiser and batch size, in the same process (target: at most 10% slower).

The bare loop is the minimal idiomatic one: data normalised once into a tensor, a random permutation per
epoch, forward / cross-entropy / backward / step. The trainer's time per epoch is its whole wall time
(optimiser setup, progress bar, loss accumulation, the checkpoint written after every epoch) minus the
validation passes, which the bare loop does not do and which are reported in their own column. Runs
alternate bare / trainer so that drift in machine load affects both alike; the median over repeats is
reported.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from . import datasets, logs, models, training
from .provenance import write_provenance

log = logging.getLogger("ibbench.perf")

PROTOCOL = {"optimizer": "adam", "lr": 1e-3, "batch_size": 100, "schedule": {"type": "none"},
            "selection": "best_val"}


def bare_epochs(model, x, y, batch_size: int, epochs: int, seed: int) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=PROTOCOL["lr"])
    g = torch.Generator().manual_seed(seed)
    model.train()
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0], generator=g)
        for i in range(0, x.shape[0], batch_size):
            idx = perm[i:i + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return (time.perf_counter() - t0) / epochs


def trainer_epochs(model, splits, epochs: int, seed: int, state_dir: Path) -> tuple[float, float]:
    protocol = dict(PROTOCOL, epochs=epochs)
    state = state_dir / "state.pt"
    state.unlink(missing_ok=True)
    t0 = time.perf_counter()
    res = training.train(model, splits, protocol, seed=seed, device=torch.device("cpu"), state_path=state,
                         progress=False)
    # validation passes (of the starting weights and after each epoch) are excluded: the bare loop has none
    wall = time.perf_counter() - t0 - res.initial_eval_seconds
    eval_s = sum(h["eval_seconds"] for h in res.history)
    return (wall - eval_s) / epochs, eval_s / epochs


def run(data_root: Path, scale: str, repeats: int, epochs: int) -> pd.DataFrame:
    max_train = None if scale == "paper" else 2000
    splits = datasets.load_splits("mnist", data_root, val_size=5000, max_train=max_train,
                                  max_val=None if scale == "paper" else 500)
    x = datasets.normalize(splits.train.images, splits.info)
    y = splits.train.labels
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("lenet_300_100", "lenet5_caffe"):
            bare, harness, evals = [], [], []
            for r in range(repeats):
                torch.manual_seed(r)
                m = models.build_model(name, 10, (1, 28, 28))
                bare.append(bare_epochs(m, x, y, PROTOCOL["batch_size"], epochs, r))
                torch.manual_seed(r)
                m = models.build_model(name, 10, (1, 28, 28))
                h, e = trainer_epochs(m, splits, epochs, r, Path(tmp))
                harness.append(h)
                evals.append(e)
                log.info("%s repeat %d: bare %.2f s/epoch, trainer %.2f s/epoch (+%.2f s validation)",
                         name, r, bare[-1], harness[-1], evals[-1])
            b, h = statistics.median(bare), statistics.median(harness)
            rows.append({"model": name, "scale": scale, "train_samples": len(splits.train),
                         "batch_size": PROTOCOL["batch_size"], "epochs_per_repeat": epochs, "repeats": repeats,
                         "threads": torch.get_num_threads(), "bare_s_per_epoch": b, "trainer_s_per_epoch": h,
                         "overhead_pct": 100 * (h / b - 1), "target_pct": 10.0, "meets_target": h <= 1.10 * b,
                         "validation_s_per_epoch": statistics.median(evals)})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--scale", choices=["paper", "smoke"], default="paper")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--log", type=Path, default=None)
    a = p.parse_args(argv)
    logs.setup(a.log)
    torch.set_num_threads(a.threads)
    repeats = a.repeats or (3 if a.scale == "paper" else 1)
    epochs = a.epochs or (2 if a.scale == "paper" else 1)
    t0 = time.perf_counter()
    df = run(a.data_root, a.scale, repeats, epochs)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    df.round(4).to_csv(a.out, index=False)
    write_provenance(a.out, command=f"snakemake --config scale={a.scale} {a.out}",
                     config={"protocol": PROTOCOL, "repeats": repeats, "epochs": epochs, "threads": a.threads},
                     scale=a.scale, wall_seconds=time.perf_counter() - t0, outputs=[str(a.out)], device="cpu")
    log.info("\n%s", df.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
