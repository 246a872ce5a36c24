"""Estimators from outside the package in the estimator benchmark, named in its config without editing
the package (``config/estimators.yaml``, ``estimators:`` entries):

* ``name: "my_package.my_module:MyEstimator"``: a Python class or factory, called with the entry's
  ``params``; the object needs ``estimate(x, y, z=None) -> float`` (``run`` too, if it has one: the
  package's ``MIEstimator`` interface), and may set ``supports_conditional``;
* ``name: command`` with ``params: {command: [...], timeout: seconds}``: a program given one sample file
  and the dimensions, printing one number (the MI in nats) as the last line of its output. The command
  is a list of arguments in which ``{samples}``, ``{dim_x}``, ``{dim_y}``, ``{dim_z}`` and ``{labels}``
  are replaced; the file is CSV with a header, columns ``x1..``, ``y1..`` (one integer column ``y1`` for
  class labels) and ``z1..``, one row per sample.

Every failure (an import that fails, an exception, a non-zero exit, output that is not a number, a
timeout) is an ``EstimateResult`` with ``ok=False`` and the reason: recorded in the benchmark's rows,
never fatal.
"""
from __future__ import annotations

import importlib
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from estimators import EstimateResult

COMMAND = "command"


def is_outside(name: str) -> bool:
    return ":" in name or name == COMMAND


def _as_columns(a: Any) -> Optional[np.ndarray]:
    if a is None:
        return None
    arr = np.asarray(a)
    return arr.reshape(len(arr), -1) if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer) else arr


class PythonEstimator:
    """A ``module:attribute`` estimator (module docstring)."""

    def __init__(self, target: str, params: dict):
        module_name, _, attr = target.partition(":")
        obj = getattr(importlib.import_module(module_name), attr)
        self.name = target
        self.impl = obj(**params) if callable(obj) else obj
        if not hasattr(self.impl, "estimate"):
            raise TypeError(f"{target}: the object it builds has no estimate(x, y, z=None) method")
        self.supports_conditional = bool(getattr(self.impl, "supports_conditional", False))

    def run(self, x: Any, y: Any, z: Any = None) -> EstimateResult:
        start = time.perf_counter()
        try:
            value = float(self.impl.estimate(x, y, z) if z is not None else self.impl.estimate(x, y))
            return EstimateResult(self.name, value, time.perf_counter() - start, True)
        except Exception as exc:  # an outside estimator's failure is a recorded row, never fatal
            return EstimateResult(self.name, float("nan"), time.perf_counter() - start, False,
                                  f"{type(exc).__name__}: {exc}")


class CommandEstimator:
    """A command-line estimator (module docstring). Its time includes writing the sample file and
    starting the program, as a user of it would pay."""

    supports_conditional = True  # the program is told dim_z; one that cannot handle z fails and says so

    def __init__(self, command: list, timeout: float = 600.0, label: str = COMMAND):
        if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
            raise ValueError(f"command estimator: params.command must be a non-empty list of strings, got {command!r}")
        if not timeout > 0:
            raise ValueError(f"command estimator: params.timeout must be positive, got {timeout!r}")
        self.command, self.timeout, self.name = command, float(timeout), label

    @staticmethod
    def write_samples(path: Path, x: Any, y: Any, z: Any = None) -> dict:
        parts, header, dims = [], [], {}
        labels = False
        for tag, a in (("x", x), ("y", y), ("z", z)):
            cols = _as_columns(a)
            if cols is None:
                dims[f"dim_{tag}"] = 0
                continue
            if cols.ndim == 1:  # class labels
                labels = tag == "y"
                cols = cols.reshape(-1, 1)
            parts.append(cols)
            header += [f"{tag}{i + 1}" for i in range(cols.shape[1])]
            dims[f"dim_{tag}"] = cols.shape[1]
        table = np.concatenate([p.astype(np.float64) for p in parts], axis=1)
        fmt = ["%d" if (labels and h == "y1") else "%.17g" for h in header]
        np.savetxt(path, table, delimiter=",", header=",".join(header), comments="", fmt=fmt)
        return {**dims, "labels": int(labels)}

    def run(self, x: Any, y: Any, z: Any = None) -> EstimateResult:
        start = time.perf_counter()

        def failed(reason: str) -> EstimateResult:
            return EstimateResult(self.name, float("nan"), time.perf_counter() - start, False, reason)

        with tempfile.TemporaryDirectory(prefix="ibbench-est-") as tmp:
            samples = Path(tmp) / "samples.csv"
            try:
                fields = {"samples": str(samples), **self.write_samples(samples, x, y, z)}
                args = [c.format(**fields) for c in self.command]
            except (KeyError, ValueError, IndexError) as exc:
                return failed(f"command estimator: cannot prepare the call ({type(exc).__name__}: {exc})")
            try:
                proc = subprocess.run(args, capture_output=True, text=True, timeout=self.timeout)
            except subprocess.TimeoutExpired:
                return failed(f"timeout: no answer within {self.timeout:g} s")
            except OSError as exc:
                return failed(f"cannot start {args[0]!r}: {exc}")
            if proc.returncode != 0:
                return failed(f"exit status {proc.returncode}: {proc.stderr.strip()[-300:]}")
            lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
            try:
                value = float(lines[-1])
            except (IndexError, ValueError):
                return failed(f"the output's last line is not a number: {proc.stdout.strip()[-200:]!r}")
            return EstimateResult(self.name, value, time.perf_counter() - start, True)


def build(name: str, params: dict, label: str) -> Any:
    """The benchmark's instance for an outside entry (``is_outside(name)``)."""
    if name == COMMAND:
        unknown = sorted(set(params) - {"command", "timeout"})
        if unknown:
            raise ValueError(f"command estimator: unknown params {unknown}; allowed: command, timeout")
        return CommandEstimator(params.get("command"), params.get("timeout", 600.0), label=label)
    return PythonEstimator(name, params)
