"""Mutual-information estimators behind one interface (see ``estimators.base``).

Registry: ``ESTIMATORS`` maps a name to its class; ``get(name, **params)`` builds one.
Adding an estimator: one module defining a ``MIEstimator`` subclass, and one line below.
"""
from __future__ import annotations

from typing import Any

from .base import EstimateResult, EstimatorInputError, MIEstimator

ESTIMATORS: dict[str, type[MIEstimator]] = {
    # name: class  -- filled in as estimator modules land
}


def get(name: str, **params: Any) -> MIEstimator:
    try:
        cls = ESTIMATORS[name]
    except KeyError:
        raise KeyError(f"unknown estimator {name!r}; available: {sorted(ESTIMATORS)}") from None
    return cls(**params)


__all__ = ["ESTIMATORS", "EstimateResult", "EstimatorInputError", "MIEstimator", "get"]
