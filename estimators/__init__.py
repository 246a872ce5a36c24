"""Mutual-information estimators behind one interface (see ``estimators.base``).

Registry: ``ESTIMATORS`` maps a name to its class; ``get(name, **params)`` builds one.
Adding an estimator: one module defining a ``MIEstimator`` subclass, and one line below.
"""
from __future__ import annotations

from typing import Any

from .base import EstimateResult, EstimatorInputError, MIEstimator
from .aura import AuraEstimator
from .binning import BinningEstimator
from .gaussian import GaussianEstimator
from .gmi import GMIEstimator
from .infonce import InfoNCEEstimator
from .kde import KDEEstimator
from .ksg import KSGEstimator
from .mine import MINEEstimator
from .renyi import RenyiEstimator

ESTIMATORS: dict[str, type[MIEstimator]] = {
    # name: class  -- filled in as estimator modules land
    "binning": BinningEstimator,
    "kde": KDEEstimator,
    "ksg": KSGEstimator,
    "gaussian": GaussianEstimator,
    "renyi": RenyiEstimator,
    "aura": AuraEstimator,
    "gmi": GMIEstimator,
    "mine": MINEEstimator,
    "infonce": InfoNCEEstimator,
}


def get(name: str, **params: Any) -> MIEstimator:
    try:
        cls = ESTIMATORS[name]
    except KeyError:
        raise KeyError(f"unknown estimator {name!r}; available: {sorted(ESTIMATORS)}") from None
    return cls(**params)


__all__ = ["ESTIMATORS", "EstimateResult", "EstimatorInputError", "MIEstimator", "get"]
