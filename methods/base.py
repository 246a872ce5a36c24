"""The interface every pruning method shares.

A method turns a trained network into keep-masks over its prunable units (neurons / channels, see
``methods.pruning.prunable_units``). Methods differ only in how they score or train:

* score-based methods implement ``scores(model, units, data, device) -> {unit name: scores}`` (higher
  means more important); the shared step ``methods.pruning.masks_from_scores`` turns scores into masks
  under the target (global or per-layer ratio, per-layer floor);
* methods that produce masks directly, or that train (e.g. a variational bottleneck), override
  ``masks(...)`` and may return a modified model with them.

A method declares, as class attributes, what the code that runs it (a pipeline, a table) needs to know,
so that such code never tests a method's name:

* ``sweep_params``: the parameters whose value sets how much is pruned and which a study sweeps
  (``"ratio"`` and ``"widths"`` are the two forms of ``Target`` every structural method honours);
* ``weight_level``: True for methods that zero connections inside layers (kept zero while retraining)
  rather than remove whole units only;
* ``layer_metrics``: extra per-layer measurements its paper reports (e.g. MINT's compressed storage);
* ``trains_from_scratch()``: whether it trains the network anew rather than pruning the trained weights.

Everything a method needs from the harness that runs it (training a network under a protocol, batches of
a dataset) comes in through the small ``Harness`` interface, so this package imports nothing from the
benchmark harness: ``benchmarks.pipeline`` removes the masked units physically, optionally fine-tunes
the smaller network and measures it; a researcher can equally call ``masks`` from their own code.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Mapping, Optional, Protocol, Sequence

import torch
from torch import nn


@dataclass(frozen=True)
class Target:
    """How much to remove: ``ratio`` of the units, ranked ``scope``-wide ("per_layer" or "global"), never
    leaving a unit with fewer than ``max(min_keep, ceil(min_keep_fraction * size))`` channels; or, with
    ``widths`` (unit name -> channels to keep), exactly those widths for the named units (the others
    untouched), so that methods can be compared at equal architecture."""

    ratio: float
    scope: str = "per_layer"
    min_keep: int = 1
    min_keep_fraction: float = 0.0
    widths: Optional[Mapping[str, int]] = None

    def __post_init__(self):
        if not 0.0 <= self.ratio < 1.0:
            raise ValueError(f"target ratio must be in [0, 1), got {self.ratio}")
        if self.scope not in ("per_layer", "global"):
            raise ValueError(f"target scope must be 'per_layer' or 'global', got {self.scope!r}")
        if self.widths is not None:
            if not isinstance(self.widths, Mapping) or not self.widths:
                raise ValueError(f"target widths must be a non-empty mapping unit name -> width, got {self.widths!r}")
            bad = {k: v for k, v in self.widths.items()
                   if isinstance(v, bool) or not isinstance(v, int) or v < 1 or not isinstance(k, str)}
            if bad:
                raise ValueError(f"target widths must be positive ints per unit name, got {bad}")
            object.__setattr__(self, "widths", dict(self.widths))


class Harness(Protocol):
    """What a method may ask of the code that runs it. ``benchmarks.pipeline.TrainerHarness`` implements it
    with the suite's trainer; any object with these two methods will do."""

    def train(self, model: nn.Module, protocol: dict, *, seed: int, state_path: Optional[str] = None,
              extra_losses: Sequence = (), callbacks: Sequence = ()) -> Any:
        """Train ``model`` in place under ``protocol`` (optimizer, lr, batch_size, epochs, ...) on the
        training split, adding each ``extra_losses`` term ``f(model) -> scalar`` to the cross-entropy; return
        a record with ``selected_epoch``, ``val``, ``history`` and ``train_seconds``."""

    def eval_batches(self, dataset: Any, indices: Optional[torch.Tensor] = None,
                     batch_size: int = 500) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        """``(inputs, labels)`` batches of ``dataset`` (rows ``indices`` only, in that order), normalised
        as the network sees them and on the harness's device."""


def require_harness(method: str, harness: Optional[Harness]) -> Harness:
    if harness is None:
        raise TypeError(f"pruning method {method!r} trains or reads data: pass harness= (an object with train() "
                        "and eval_batches(), e.g. benchmarks.pipeline.TrainerHarness)")
    return harness


class PruningMethod:
    name: ClassVar[str] = "base"
    sweep_params: ClassVar[tuple[str, ...]] = ("ratio", "widths")
    weight_level: ClassVar[bool] = False
    layer_metrics: ClassVar[tuple[str, ...]] = ()

    @dataclass(frozen=True)
    class Params:
        pass

    def __init__(self, params: Optional[Any] = None, **overrides: Any):
        if params is None:
            try:
                params = self.Params(**overrides)
            except TypeError as exc:
                allowed = [f.name for f in dataclasses.fields(self.Params)]
                raise TypeError(f"pruning method {self.name!r}: {exc}; allowed params: {allowed}") from None
        elif overrides:
            params = dataclasses.replace(params, **overrides)
        self.params = params

    def trains_from_scratch(self) -> bool:
        """True when the method trains a fresh network of the baseline's architecture instead of pruning
        the trained weights."""
        return False

    def scores(self, model: nn.Module, units: list, data, device: torch.device) -> dict[str, torch.Tensor]:
        raise NotImplementedError(f"pruning method {self.name!r} provides no scores")

    def masks(self, model: nn.Module, units: list, data, target: Target, device: torch.device,
              harness: Optional[Harness] = None) -> tuple[nn.Module, dict[str, torch.Tensor]]:
        """Default: score, then the shared scores -> masks step. Returns (model to prune, keep-masks).
        ``data``: the dataset splits (``train``/``val``/``test`` datasets and ``info`` with
        ``input_shape``); ``harness``: see ``Harness`` (needed by methods that train or read batches)."""
        from .pruning import masks_from_scores, masks_to_widths

        scores = self.scores(model, units, data, device)
        if target.widths is not None:
            return model, masks_to_widths(scores, target.widths)
        return model, masks_from_scores(scores, ratio=target.ratio, scope=target.scope,
                                        min_keep=target.min_keep, min_keep_fraction=target.min_keep_fraction)
