"""The interface every pruning method shares.

A method turns a trained network into keep-masks over its prunable units (neurons / channels, see
``methods.pruning.prunable_units``). Methods differ only in how they score or train:

* score-based methods implement ``scores(model, units, data, device) -> {unit name: scores}`` (higher
  means more important); the shared step ``methods.pruning.masks_from_scores`` turns scores into masks
  under the target (global or per-layer ratio, per-layer floor);
* methods that produce masks directly, or that train (e.g. a variational bottleneck), override
  ``masks(...)`` and may return a modified model with them.

The pipeline (``methods.pipeline``) then removes the masked units physically, optionally fine-tunes the
smaller network with a configured protocol, and measures it with ``benchmarks.metrics``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import torch
from torch import nn


@dataclass(frozen=True)
class Target:
    """How much to remove: ``ratio`` of the units, ranked ``scope``-wide ("per_layer" or "global"), never
    leaving a unit with fewer than ``max(min_keep, ceil(min_keep_fraction * size))`` channels."""

    ratio: float
    scope: str = "per_layer"
    min_keep: int = 1
    min_keep_fraction: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.ratio < 1.0:
            raise ValueError(f"target ratio must be in [0, 1), got {self.ratio}")
        if self.scope not in ("per_layer", "global"):
            raise ValueError(f"target scope must be 'per_layer' or 'global', got {self.scope!r}")


class PruningMethod:
    name: ClassVar[str] = "base"

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

    def scores(self, model: nn.Module, units: list, data, device: torch.device) -> dict[str, torch.Tensor]:
        raise NotImplementedError(f"pruning method {self.name!r} provides no scores")

    def masks(self, model: nn.Module, units: list, data, target: Target,
              device: torch.device) -> tuple[nn.Module, dict[str, torch.Tensor]]:
        """Default: score, then the shared scores -> masks step. Returns (model to prune, keep-masks)."""
        from .pruning import masks_from_scores

        scores = self.scores(model, units, data, device)
        return model, masks_from_scores(scores, ratio=target.ratio, scope=target.scope,
                                        min_keep=target.min_keep, min_keep_fraction=target.min_keep_fraction)
