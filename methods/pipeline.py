"""The shared pruning pipeline: baseline -> method masks -> physical removal -> fine-tuning -> metrics.

Every method goes through the same steps, so their rows in ``results/table1.csv`` are comparable:

1. load the trained baseline (selected on validation);
2. the method turns it into keep-masks over the prunable units (``PruningMethod.masks``: scores plus the
   shared scores -> masks step, or a method-specific procedure);
3. ``methods.pruning.prune`` builds the physically smaller network;
4. optional fine-tuning with the configured protocol (same trainer, selection on validation);
5. ``benchmarks.metrics.measure`` on the pruned network against the original: error, parameters, r_W,
   FLOPs, r_N, CSR storage, latency, ECE.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Optional

import torch

from benchmarks import checkpoint, metrics, training
from benchmarks.datasets import Splits

from . import METHODS
from . import get as get_method
from .base import Target
from .pruning import architecture_string, prunable_units, prune, pruned_architecture

log = logging.getLogger("ibbench.prune")


def example_input(splits: Splits, device: torch.device) -> torch.Tensor:
    return torch.zeros((1, *splits.info.input_shape), device=device)


def run(baseline_path: Path, splits: Splits, *, method: str, method_params: dict, target: Target,
        finetune: Optional[dict], seed: int, device: torch.device, out_model: Path,
        state_path: Optional[Path] = None) -> dict[str, Any]:
    t_start = time.perf_counter()
    original, ckpt = checkpoint.load_model(baseline_path)
    original.to(device).eval()
    x0 = example_input(splits, device)
    units = prunable_units(original, x0)
    params = dict(method_params)
    if "seed" in {f.name for f in dataclasses.fields(METHODS[method].Params)}:
        params.setdefault("seed", seed)  # seeded methods (random) follow the run's seed unless told otherwise
    m = get_method(method, **params)

    t0 = time.perf_counter()
    training.seed_everything(seed)
    scored_model, keep = m.masks(original, units, splits, target, device)
    pruned = prune(scored_model, keep, x0).to(device)
    method_seconds = time.perf_counter() - t0
    test_b = training.batches_for(splits.test, device)
    before = training.evaluate(pruned, test_b)
    log.info("%s (%s, ratio %.2f): %s, test error before fine-tuning %.2f%%", method, target.scope, target.ratio,
             architecture_string(pruned), 100 * before["error"])

    history, finetune_seconds = [], 0.0
    if finetune and finetune["epochs"] > 0:
        res = training.train(pruned, splits, finetune, seed=seed, device=device, state_path=state_path)
        history, finetune_seconds = res.history, res.train_seconds
    logits, labels = training.predict(pruned, test_b)
    test = training.classification_metrics(logits, labels)
    measured = metrics.measure(pruned, original, x0, logits=logits, labels=labels, device=device)
    # The unpruned network through the same code (latency, storage), for the baseline rows of the tables.
    orig_logits, _ = training.predict(original, test_b)
    original_measured = metrics.measure(original, original, x0, logits=orig_logits, labels=labels, device=device)
    arch = pruned_architecture(ckpt["arch"], pruned)
    checkpoint.save_model(out_model, pruned, arch, meta={"method": method, "ratio": target.ratio})
    return {
        "method": method, "method_params": method_params, "target": target.__dict__, "seed": seed,
        "pruned_architecture": architecture_string(pruned), "widths": arch.get("widths"),
        "test_before_finetune": before, "test": test, "metrics": measured,
        "original_metrics": original_measured, "original_architecture": architecture_string(original, x0),
        "method_seconds": method_seconds, "finetune_seconds": finetune_seconds,
        "wall_seconds": time.perf_counter() - t_start, "finetune_history": history, "device": str(device),
    }
