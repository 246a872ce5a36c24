"""Pruning methods registry. Each entry is a ``PruningMethod`` subclass in its own module.

Adding a method: one module defining the class, one line in ``METHODS``.
"""
from __future__ import annotations

from typing import Any

from .aura import Aura
from .base import PruningMethod, Target
from .hrel import HRel
from .ibfs import IBFilterSelection
from .l1_norm import L1Norm
from .mint import MINT
from .random_pruning import RandomPruning
from .rounds_controls import L1Rounds, RandomRounds
from .vibnet import VIBNet

METHODS: dict[str, type[PruningMethod]] = {
    "random": RandomPruning,
    "l1": L1Norm,
    "vibnet": VIBNet,
    "mint": MINT,
    "hrel": HRel,
    "aura": Aura,
    "l1_rounds": L1Rounds,
    "random_rounds": RandomRounds,
    "ibfs": IBFilterSelection,
}


def get(name: str, **params: Any) -> PruningMethod:
    try:
        cls = METHODS[name]
    except KeyError:
        raise KeyError(f"unknown pruning method {name!r}; available: {sorted(METHODS)}") from None
    return cls(**params)


__all__ = ["METHODS", "PruningMethod", "Target", "get"]
