"""Layer activity: what named modules of a network output on a dataset, for any paper that measures
information in hidden layers (information planes, per-filter MI).

``record(model, batches, modules)`` runs the batches once through the model in eval mode with forward
hooks and returns each module's outputs stacked on the CPU, every row from the same input sample.
``ActivityRecorder`` is a trainer callback (``benchmarks.training.Callback``) that records them after the
epochs given, so a paper can log layer activity during training and apply estimators later without
retraining; what it recorded is part of its resumable state.
"""
from __future__ import annotations

from typing import Callable, Iterable, Optional, Sequence

import torch
from torch import nn

from .training import Callback, EpochContext

Reduce = Optional[Callable[[torch.Tensor], torch.Tensor]]


@torch.no_grad()
def record(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], modules: Sequence[str],
           reduce: Reduce = None, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """``{module name: (n, ...) tensor}`` of the modules' outputs on every batch (eval mode; the model's
    mode is restored). ``reduce`` maps each output batch first (e.g. a spatial mean per channel)."""
    missing = [m for m in modules if m not in dict(model.named_modules())]
    if missing:
        raise ValueError(f"record: the model has no modules {missing}; it has "
                         f"{[n for n, _ in model.named_modules() if n][:12]}")
    if not modules:
        raise ValueError("record: name at least one module")
    out: dict[str, list[torch.Tensor]] = {m: [] for m in modules}

    def hook(name):
        def store(_module, _inputs, output):
            t = output.detach()
            out[name].append((reduce(t) if reduce else t).to("cpu", dtype))
        return store

    handles = [model.get_submodule(m).register_forward_hook(hook(m)) for m in modules]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():  # activity only: no graph to build and hold (a third of the time)
            for x, _ in batches:
                model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return {m: torch.cat(v) for m, v in out.items()}


class ActivityRecorder(Callback):
    """Records the activity of ``modules`` on ``batches()`` (a function giving fresh batches, e.g. of the
    training sample) after each epoch in ``epochs``; ``self.activity[epoch][module]``."""

    def __init__(self, epochs: Sequence[int], batches: Callable[[], Iterable], modules: Sequence[str],
                 reduce: Reduce = None):
        self.epochs, self.batches, self.modules, self.reduce = set(int(e) for e in epochs), batches, list(modules), reduce
        self.activity: dict[int, dict[str, torch.Tensor]] = {}

    def on_epoch_end(self, ctx: EpochContext) -> None:
        if ctx.epoch in self.epochs:
            self.activity[ctx.epoch] = record(ctx.model, self.batches(), self.modules, self.reduce)

    def state_dict(self) -> dict:
        return {"activity": self.activity}

    def load_state_dict(self, state: dict) -> None:
        self.activity = dict(state["activity"])
