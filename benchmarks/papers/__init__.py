"""The papers the suite reproduces, one package each (``benchmarks/papers/<key>/``), listed in
``config/config.yaml`` under ``papers``.

A paper package provides:

* ``studies(config, scale) -> list[benchmarks.studies.Study]``: its pruning runs (the shared ``prune``
  rule makes them; ``Study.in_table1`` puts a curve into the cross-method ``results/table1.csv``);
* ``check_config(config) -> list[str]``: cross-references in its settings a schema cannot express;
* its table and figure builders and any paper-only job (``python -m benchmarks.papers.<key>.<module>``),
  and a README mapping each output to its rule and function.

Its other homes: ``rules/papers/<key>.smk``, ``config/papers/<key>.yaml`` (+ ``.schema.yaml``),
``tests/papers/<key>/``. No paper imports another (an import-linter contract checks it).
"""
from __future__ import annotations

import importlib
from types import ModuleType

from ..config import ConfigError
from ..studies import Study


def module(key: str) -> ModuleType:
    try:
        return importlib.import_module(f"{__name__}.{key}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{key}":
            raise
        raise ConfigError(f"config key 'papers': {key!r} has no package benchmarks/papers/{key}/") from None


def check(config: dict) -> None:
    """Every listed paper's own cross-reference checks; one error naming every problem."""
    problems = [p for key in config.get("papers", []) for p in module(key).check_config(config)]
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def studies(config: dict, scale: str) -> list[Study]:
    return [s for key in config.get("papers", []) for s in module(key).studies(config, scale)]
