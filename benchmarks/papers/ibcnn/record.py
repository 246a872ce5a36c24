"""One ibcnn run: a network trained on its training sample, its layer activity recorded after the authors'
logged epochs on the training sample and on the test set.

- Training sample: ``per_class`` images of every class drawn from the official training set, seeded,
  without replacement (the paper's "10,000 training samples randomly"), or with replacement (the authors'
  code: the sample repeats images). ``val_size`` other training images serve the trainer's per-epoch
  validation; nothing is selected on them (the protocol keeps the last epoch's weights).
- Inputs in [0, 1] (the authors divide by 255), Keras-default initialisation (the model's), Adam 1e-3,
  batch 1000.
- Layers measured: every conv's and hidden Dense's tanh output (before any pooling), and the softmax of
  the output layer. One run records both splits (the authors trained one run per split; the network does
  not depend on what is measured, so one run is equivalent and halves the cost).
- Stored per logged epoch (``<activity dir>/epoch<e>.pt``, ``e`` in the authors' numbering: 0 = after the
  first epoch): per split and layer, every sample's binning cell (``estimators.binning.fixed_width_symbols``
  at ``bin_width``: all that the binning estimator needs, for every sample), and the raw activity in
  float16 of ``store_samples`` fixed samples (for continuous estimators such as the KDE bounds); the labels
  and H(X) of each split. Files are written atomically; resuming a killed run rewrites the epochs since its
  last checkpoint with identical content (the training is deterministic).

``python -m benchmarks.papers.ibcnn.record --spec <json> --seed 0 --data-root data --activity-dir <dir>
--out <record.json>`` (the rule ``ibcnn_run``).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch
from torch import nn

from ... import checkpoint, datasets, fileio, logs, training
from ...activations import record
from ...models import build_model
from ...provenance import git_commit
from . import direct

log = logging.getLogger("ibbench.ibcnn")


def training_sample(labels: torch.Tensor, per_class: int, replacement: bool, seed: int) -> torch.Tensor:
    """Indices of ``per_class`` samples of every class (class by class, seeded)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for c in torch.unique(labels).tolist():
        pool = (labels == c).nonzero().squeeze(1)
        if replacement:
            pick = torch.randint(0, len(pool), (per_class,), generator=gen)
        else:
            if per_class > len(pool):
                raise ValueError(f"training sample: {per_class} images of class {c} without replacement, but the "
                                 f"training pool has {len(pool)}")
            pick = torch.randperm(len(pool), generator=gen)[:per_class]
        out.append(pool[pick])
    return torch.cat(out)


def load_run_splits(spec: dict, data_root: Path) -> datasets.Splits:
    full = datasets.with_unit_inputs(datasets.load_splits(
        spec["dataset"], data_root, val_size=spec["val_size"], split_seed=spec["split_seed"],
        max_test=spec["max_test"]))
    s = spec["sample"]
    idx = training_sample(full.train.labels, s["per_class"], s["replacement"], s["seed"])
    return datasets.Splits(train=full.train.subset(idx), val=full.val, test=full.test, info=full.info,
                           notes={**full.notes, "sample": dict(s), "sample_size": len(idx)})


def measured_layers(model: nn.Module) -> list[tuple[str, str]]:
    """(module name, layer name) of the activities the paper measures, in execution order: each conv's and
    hidden Dense's tanh (``conv1``..., ``fc1``...), then the output layer (``output``, softmax applied)."""
    out, last_kind, counts = [], None, {"conv": 0, "fc": 0}
    linear_names = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            last_kind = "conv"
        elif isinstance(m, nn.Linear):
            last_kind = "fc"
            linear_names.append(name)
        elif isinstance(m, nn.Tanh):
            counts[last_kind] += 1
            out.append((name, f"{last_kind}{counts[last_kind]}"))
    if not linear_names:
        raise ValueError("ibcnn: the network has no output layer (nn.Linear)")
    out.append((linear_names[-1], "output"))
    return out


def _entropy_bits(symbols: torch.Tensor) -> float:
    from estimators.binning import grouped_entropy, label_codes

    codes, k = label_codes(symbols)
    return float(grouped_entropy(codes.unsqueeze(0), k)[0]) / math.log(2.0)


def input_entropy_bits(images: torch.Tensor) -> float:
    """H(X) in bits of the sample's inputs: log2 n when no image repeats (less with repeats)."""
    return _entropy_bits(torch.unique(images.reshape(len(images), -1), dim=0, return_inverse=True)[1])


def label_entropy_bits(labels: torch.Tensor) -> float:
    return _entropy_bits(labels)


class ActivityStore(training.Callback):
    """After each logged epoch (authors' numbering = the trainer's epoch - 1), measure-ready activity of
    every layer on every split into ``out_dir/epoch<e>.pt`` (module docstring). The state holds the
    epochs written."""

    def __init__(self, out_dir: Path, log_epochs: Sequence[int], splits: dict[str, Callable[[], object]],
                 labels: dict[str, torch.Tensor], layers: list[tuple[str, str]], bin_width: float,
                 stored_rows: dict[str, torch.Tensor], header: dict[str, dict]):
        self.out_dir, self.log_epochs = Path(out_dir), set(int(e) for e in log_epochs)
        self.splits, self.labels, self.layers = splits, labels, layers
        self.bin_width, self.stored_rows, self.header = bin_width, stored_rows, header
        self.written: list[int] = []

    def on_epoch_end(self, ctx: training.EpochContext) -> None:
        epoch = ctx.epoch - 1
        if epoch not in self.log_epochs:
            return
        from estimators.binning import fixed_width_symbols

        data = {"epoch": epoch, "bin_width": self.bin_width, "splits": {}}
        for split, batches in self.splits.items():
            acts = record(ctx.model, batches(), [m for m, _ in self.layers])
            layers = {}
            for module, name in self.layers:
                a = acts[module].flatten(1)
                if name == "output":
                    a = torch.softmax(a, 1)
                cells, _ = fixed_width_symbols(a, self.bin_width)
                layers[name] = {"cells": cells.to(torch.int32), "raw": a[self.stored_rows[split]].to(torch.float16),
                                "dim": a.shape[1]}
            data["splits"][split] = {"labels": self.labels[split], "stored_rows": self.stored_rows[split],
                                     "layers": layers, **self.header[split]}
        fileio.torch_save(data, self.out_dir / f"epoch{epoch:05d}.pt")
        if epoch not in self.written:
            self.written.append(epoch)

    def state_dict(self) -> dict:
        return {"written": list(self.written)}

    def load_state_dict(self, state: dict) -> None:
        self.written = list(state["written"])


def run(spec: dict, seed: int, data_root: Path, activity_dir: Path, out: Path,
        checkpoint_every_epochs: int = 50, stop_after_steps: Optional[int] = None) -> dict:
    t0 = time.perf_counter()
    device = training.resolve_device(spec["device"])
    training.seed_everything(seed)
    splits = load_run_splits(spec, data_root)
    torch.manual_seed(seed)  # the initial weights depend on the seed only
    model = build_model(spec["model"], splits.info.num_classes, splits.info.input_shape, **spec["model_params"])
    layers = measured_layers(model)
    kernels = "pytorch"
    if spec.get("direct_conv") and device.type == "cpu":  # the same training on the direct kernels (direct.py)
        kernels = f"direct ({direct.use_direct_kernels(model)} conv + tanh layers)"
    elif spec.get("channels_last"):  # the same training on oneDNN's faster path (benchmarks/papers/ibcnn/speed.py)
        model.to(memory_format=torch.channels_last)
        kernels = "pytorch, channels-last"
    activity_dir = Path(activity_dir)
    activity_dir.mkdir(parents=True, exist_ok=True)
    eval_bs = spec["protocol"].get("eval_batch_size", 1000)
    measured = {"train": splits.train, "test": splits.test}
    gen = torch.Generator().manual_seed(seed + 7)
    stored = {k: torch.randperm(len(ds), generator=gen)[:spec["store_samples"]].sort().values
              for k, ds in measured.items()}
    header = {k: {"h_x_bits": input_entropy_bits(ds.images), "h_y_bits": label_entropy_bits(ds.labels),
                  "samples": len(ds)} for k, ds in measured.items()}
    store = ActivityStore(activity_dir, spec["log_epochs"],
                          {k: (lambda ds=ds: training.batches_for(ds, device).eval_batches(eval_bs))
                           for k, ds in measured.items()},
                          {k: ds.labels.clone() for k, ds in measured.items()}, layers, spec["bin_width"], stored, header)
    log.info("ibcnn %s on %s seed %d: %d training images (%s replacement), %d test, layers %s, %d parameters, "
             "logged epochs %s, device %s, kernels %s", spec["network"], spec["dataset"], seed, len(splits.train),
             "with" if spec["sample"]["replacement"] else "without", len(splits.test), [n for _, n in layers],
             sum(p.numel() for p in model.parameters()), spec["log_epochs"], device, kernels)
    result = training.train(model, splits, spec["protocol"], seed=seed, device=device,
                            state_path=activity_dir / "train_state.pt", callbacks=[store],
                            checkpoint_every_epochs=checkpoint_every_epochs, stop_after_steps=stop_after_steps)
    test = training.evaluate(model, training.batches_for(splits.test, device), eval_bs)
    steps = len(result.history) * math.ceil(len(splits.train) / spec["protocol"]["batch_size"])
    rec = {"paper": "ibcnn", "network": spec["network"], "dataset": spec["dataset"], "seed": seed,
           "scale": spec["scale"], "epoch_cap": spec["epoch_cap"], "log_epochs": spec["log_epochs"],
           "written_epochs": sorted(store.written), "layers": [n for _, n in layers],
           "model_params": spec["model_params"], "protocol": spec["protocol"], "sample": spec["sample"],
           "split": splits.notes, "test": test, "final_epoch": result.history[-1] if result.history else None,
           "train_seconds": result.train_seconds, "steps": steps,
           "steps_per_second": steps / result.train_seconds if result.train_seconds else None,
           "wall_seconds": time.perf_counter() - t0, "resumed_from": result.resumed_from, "device": str(device),
           "kernels": kernels,
           "torch_threads": torch.get_num_threads(), "activity_dir": str(activity_dir), "code": git_commit(),
           "parameters": sum(p.numel() for p in model.parameters())}
    checkpoint.save_model(activity_dir / "model.pt", model,
                          checkpoint.architecture(spec["model"], spec["model_params"], splits.info.num_classes,
                                                  splits.info.input_shape), meta={"seed": seed})
    fileio.write_json(out, rec)
    (activity_dir / "train_state.pt").unlink(missing_ok=True)
    log.info("ibcnn %s on %s seed %d: test accuracy %.4f after epoch %d, %.1f steps/s", spec["network"],
             spec["dataset"], seed, test["accuracy"], spec["epoch_cap"], rec["steps_per_second"] or 0.0)
    return rec


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description="train one ibcnn network and store its layer activity at the logged epochs")
    p.add_argument("--spec", required=True, help="the run's spec as JSON (benchmarks.papers.ibcnn.run_spec)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--activity-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--checkpoint-every-epochs", type=int, default=50)
    logs.add_job_arguments(p)
    a = p.parse_args(argv)
    logs.start_job(a)
    run(json.loads(a.spec), a.seed, a.data_root, a.activity_dir, a.out, a.checkpoint_every_epochs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
