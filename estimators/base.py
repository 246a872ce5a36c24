"""The interface every mutual-information estimator shares.

An estimator is a small object built from a typed, frozen parameter dataclass. It exposes

* ``estimate(x, y, z=None) -> float``: the estimate in nats. ``x`` is (n, d_x), ``y`` is (n, d_y) or
  integer class labels (n,), ``z`` (optional) is (n, d_z) for conditional MI I(X; Y | Z). Inputs may be
  numpy arrays or torch tensors; computation happens in torch on ``self.device`` (CPU or GPU, same code).
* ``run(x, y, z=None) -> EstimateResult``: the same, but it never raises for bad input or numerical
  failure. It returns the value, the wall-clock seconds and the error message, so a benchmark keeps
  going when one estimator fails.

Bad input (NaN/inf, mismatched lengths, too few samples, wrong dimensionality) raises
``EstimatorInputError`` from ``estimate``, with a message naming the argument and what was expected.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import numpy as np
import torch


class EstimatorInputError(ValueError):
    """Input an estimator cannot work with (named argument, expected shape/values)."""


@dataclass(frozen=True)
class EstimateResult:
    estimator: str
    value: float  # nats; NaN when ok is False
    seconds: float
    ok: bool
    error: Optional[str] = None


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def as_samples(a: Any, name: str, *, allow_labels: bool = False, device: torch.device,
               dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Convert ``a`` to a 2-D float tensor (n, d) on ``device``, or a 1-D int64 label tensor.

    Integer 1-D input is kept as labels when ``allow_labels``; any other 1-D input becomes (n, 1).
    """
    if not isinstance(a, torch.Tensor):
        arr = np.asarray(a)
        if arr.dtype.kind not in "biuf":  # strings, objects, complex, dates: not samples of numbers
            raise EstimatorInputError(f"{name}: expected numbers (bool, int or float), got an array of dtype "
                                      f"{arr.dtype} (convert it, e.g. encode categories as integer labels)")
        a = arr
    elif torch.is_complex(a):
        raise EstimatorInputError(f"{name}: expected real numbers, got a {a.dtype} tensor")
    t = torch.as_tensor(a)
    if t.ndim == 1 and allow_labels and not torch.is_floating_point(t) and not torch.is_complex(t):
        return t.to(device=device, dtype=torch.int64)
    if t.ndim == 1:
        t = t.unsqueeze(1)
    if t.ndim != 2:
        raise EstimatorInputError(f"{name}: expected shape (n, d) or (n,), got {tuple(t.shape)}")
    t = t.to(device=device, dtype=dtype)
    if not torch.isfinite(t).all():
        bad = int((~torch.isfinite(t)).sum())
        raise EstimatorInputError(f"{name}: contains {bad} NaN/inf values; remove or impute them first")
    return t


def rows_per_block(n: int, device: torch.device, block_elements: dict[str, int]) -> int:
    """Rows of an (rows x n) block of pairwise values holding ``block_elements["cpu"]`` elements on a CPU
    (sized to stay in cache) or ``block_elements["other"]`` on an accelerator (large, to keep it busy)."""
    return max(1, block_elements["cpu" if device.type == "cpu" else "other"] // n)


def is_labels(t: torch.Tensor) -> bool:
    return t.ndim == 1 and t.dtype == torch.int64


class MIEstimator:
    """Base class. Subclasses set ``name``, ``Params`` and implement ``_estimate``."""

    name: ClassVar[str] = "base"
    supports_conditional: ClassVar[bool] = False
    min_samples: ClassVar[int] = 2

    @dataclass(frozen=True)
    class Params:
        device: str = "auto"

    def __init__(self, params: Optional["MIEstimator.Params"] = None, **overrides: Any):
        if params is None:
            params = self.Params(**overrides)
        elif overrides:
            params = dataclasses.replace(params, **overrides)
        self.params = params
        self.device = resolve_device(getattr(params, "device", "auto"))

    # -- public API -----------------------------------------------------------------------------
    def estimate(self, x: Any, y: Any, z: Any = None) -> float:
        xs = as_samples(x, "x", allow_labels=True, device=self.device)
        ys = as_samples(y, "y", allow_labels=True, device=self.device)
        zs = None if z is None else as_samples(z, "z", device=self.device)
        if z is not None and not self.supports_conditional:
            raise EstimatorInputError(f"estimator {self.name!r} does not support conditional MI (z given)")
        n = xs.shape[0]
        for nm, t in (("y", ys), ("z", zs)):
            if t is not None and t.shape[0] != n:
                raise EstimatorInputError(f"{nm}: has {t.shape[0]} samples but x has {n}; they must be paired")
        if n < self.min_samples:
            raise EstimatorInputError(
                f"estimator {self.name!r} needs at least {self.min_samples} samples, got {n}")
        value = float(self._estimate(xs, ys, zs))
        if not math.isfinite(value):
            raise FloatingPointError(f"estimator {self.name!r} produced a non-finite value ({value})")
        return value

    def run(self, x: Any, y: Any, z: Any = None) -> EstimateResult:
        start = time.perf_counter()
        try:
            value = self.estimate(x, y, z)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            return EstimateResult(self.name, value, time.perf_counter() - start, True)
        except Exception as exc:  # the point of run(): report, never raise
            return EstimateResult(self.name, float("nan"), time.perf_counter() - start, False,
                                  f"{type(exc).__name__}: {exc}")

    # -- to implement ---------------------------------------------------------------------------
    def _estimate(self, x: torch.Tensor, y: torch.Tensor, z: Optional[torch.Tensor]) -> float:
        raise NotImplementedError
