"""The shared pruning pipeline: baseline -> method masks -> physical removal -> fine-tuning -> metrics.

Every method goes through the same steps, so their rows in ``results/table1.csv`` and the papers' tables
are comparable:

1. load the trained baseline (selected on validation);
2. the method turns it into keep-masks over the prunable units (``PruningMethod.masks``: scores plus the
   shared scores -> masks step, or a method-specific procedure); what it needs from the harness (the
   trainer, batches of a split) it gets through ``TrainerHarness``;
3. ``methods.pruning.prune`` builds the physically smaller network;
4. optional fine-tuning with the configured protocol (same trainer, selection on validation); methods
   that declare ``weight_level`` keep their zeroed connections zero;
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

from methods import METHODS, Target
from methods import get as get_method
from methods.pruning import architecture_string, hold_zeros, prunable_units, prune, pruned_architecture

from . import checkpoint, metrics, training
from .datasets import Splits, TensorImageDataset
from .studies import TARGET_PARAM, TARGET_PARAMS, WIDTHS_PARAM, value_label

log = logging.getLogger("ibbench.prune")


def example_input(splits: Splits, device: torch.device) -> torch.Tensor:
    return torch.zeros((1, *splits.info.input_shape), device=device)


class TrainerHarness:
    """``methods.base.Harness`` with the suite's trainer: what a method that trains (VIBNet) or reads
    activations (MINT) gets from the pipeline. ``callbacks`` are added to every training run it makes."""

    def __init__(self, splits: Splits, device: torch.device, callbacks: tuple = ()):
        self.splits, self.device, self.callbacks = splits, device, tuple(callbacks)

    def train(self, model, protocol, *, seed, state_path=None, extra_losses=(), callbacks=()):
        return training.train(model, self.splits, protocol, seed=seed, device=self.device, state_path=state_path,
                              extra_losses=list(extra_losses), callbacks=[*self.callbacks, *callbacks])

    def eval_batches(self, dataset, indices=None, batch_size=500):
        if indices is not None:
            dataset = dataset.subset(indices) if isinstance(dataset, TensorImageDataset) else \
                torch.utils.data.Subset(dataset, indices.tolist())
        return training.batches_for(dataset, self.device).eval_batches(batch_size)


def setting_label(method_cls, method_params: dict, target: Target) -> str:
    """What distinguishes the runs of one study: the value of the parameter its method sweeps (declared by
    the method, ``sweep_params``), else the target ratio."""
    for key in method_cls.sweep_params:
        if key not in TARGET_PARAMS and method_params.get(key) is not None:
            return f"{key}={value_label(method_params[key])}"
    if target.widths is not None:
        return f"{WIDTHS_PARAM}=" + "-".join(str(w) for w in target.widths.values())
    return f"{TARGET_PARAM}={target.ratio:g}"


def layer_weights(pruned: torch.nn.Module, original: torch.nn.Module,
                  extra: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """Per Conv/Linear layer: nonzero weights of the pruned network and all weights of the original, plus
    the per-layer metrics ``extra`` (names in ``metrics.LAYER_METRICS``) of both networks, which a method
    declares when its paper reports them (``PruningMethod.layer_metrics``)."""
    pruned_layers = dict(metrics.weight_layers(pruned))
    pruned_index = {name: i for i, name in enumerate(pruned_layers)}
    out = {}
    for i, (name, mod) in enumerate(metrics.weight_layers(original)):
        kept = pruned_layers.get(name)
        row = {"nonzero": int(torch.count_nonzero(kept.weight.detach())) if kept is not None else 0,
               "total_original": int(mod.weight.numel())}
        for key in extra:
            fn = metrics.LAYER_METRICS[key]
            row[key] = fn(pruned, pruned_index[name]) if kept is not None else 0.0
            row[f"{key}_original"] = fn(original, i)
        out[name] = row
    return out


def run(baseline_path: Path, splits: Splits, *, method: str, method_params: dict, target: Target,
        finetune: Optional[dict], seed: int, device: torch.device, out_model: Path,
        state_path: Optional[Path] = None, measure_options: Optional[dict] = None,
        callbacks: tuple = ()) -> dict[str, Any]:
    """``measure_options`` go to ``benchmarks.metrics.measure`` (smoke runs time fewer, smaller batches);
    ``callbacks`` (``training.Callback``) join every training run of the method and the fine-tuning."""
    t_start = time.perf_counter()
    original, ckpt = checkpoint.load_model(baseline_path)
    original.to(device).eval()
    x0 = example_input(splits, device)
    units = prunable_units(original, x0)
    params = dict(method_params)
    fields = {f.name for f in dataclasses.fields(METHODS[method].Params)}
    if "seed" in fields:
        params.setdefault("seed", seed)  # seeded methods (random) follow the run's seed unless told otherwise
    if "state_path" in fields and params.get("state_path") is None:
        # methods that train (vibnet) resume from here when their job is killed and rerun
        params["state_path"] = str(Path(out_model).with_name("method_state.pt"))
    m = get_method(method, **params)
    harness = TrainerHarness(splits, device, callbacks)

    t0 = time.perf_counter()
    training.seed_everything(seed)
    scored_model, keep = m.masks(original, units, splits, target, device, harness=harness)
    pruned = prune(scored_model, keep, x0).to(device)
    with_input = "input" in keep  # input features pruned (VIBNet's LeNet-300-100): report them too
    arch_string = architecture_string(pruned, include_input=with_input)
    method_seconds = time.perf_counter() - t0
    test_b = training.batches_for(splits.test, device)
    before = training.evaluate(pruned, test_b)
    log.info("%s (%s): %s, test error before fine-tuning %.2f%%", method,
             setting_label(METHODS[method], method_params, target), arch_string, 100 * before["error"])

    history, finetune_seconds = [], 0.0
    if finetune and finetune["epochs"] > 0:
        # weight-level methods (MINT) retrain the surviving connections only: zeroed ones stay zero
        held = hold_zeros(pruned, sorted(m.weight_masks)) if m.weight_level else []
        res = harness.train(pruned, finetune, seed=seed, state_path=state_path)
        history, finetune_seconds = res.history, res.train_seconds
        for h in held:
            h.remove()
    logits, labels = training.predict(pruned, test_b)
    test = training.classification_metrics(logits, labels)
    val = training.evaluate(pruned, training.batches_for(splits.val, device))
    opts = measure_options or {}
    measured = metrics.measure(pruned, original, x0, logits=logits, labels=labels, device=device, **opts)
    # The unpruned network through the same code (latency, storage), for the baseline rows of the tables.
    orig_logits, _ = training.predict(original, test_b)
    original_measured = metrics.measure(original, original, x0, logits=orig_logits, labels=labels, device=device,
                                        **opts)
    arch = pruned_architecture(ckpt["arch"], pruned)
    checkpoint.save_model(out_model, pruned, arch, meta={"method": method, "ratio": target.ratio})
    Path(params.get("state_path") or out_model).with_name("method_state.pt").unlink(missing_ok=True)
    return {
        "method": method, "method_params": method_params, "setting": setting_label(METHODS[method], method_params, target),
        "target": target.__dict__, "seed": seed, "weight_level": m.weight_level,
        "starts_from": "scratch" if m.trains_from_scratch() else "trained baseline",
        "pruned_architecture": arch_string, "widths": arch.get("widths"),
        "test_before_finetune": before, "test": test, "val": val, "metrics": measured,
        "original_metrics": original_measured, "layer_weights": layer_weights(pruned, original, m.layer_metrics),
        "method_report": getattr(m, "report", None), "original_architecture": architecture_string(original, x0, include_input=with_input),
        "method_seconds": method_seconds, "finetune_seconds": finetune_seconds,
        "wall_seconds": time.perf_counter() - t_start, "finetune_history": history, "device": str(device),
    }
