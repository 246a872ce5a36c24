"""Studies: every pruning run of the suite, for the cross-method table and for every paper, is one run of a
study, made by one Snakemake rule (``prune``) under one path scheme.

A study is one pruning method with fixed params on one benchmark, swept over one of the method's
``sweep_params`` (the target ``ratio`` or named target ``widths`` for structural methods, ``gamma`` for
VIBNet, ``prune_percent`` for MINT), on every seed. Its owner is the table that reports it: ``pruning``
(``results/table1.csv``) or a paper key. Paths (``setting`` is ``<sweep param><value>`` for numbers, e.g.
``ratio0.5``, ``gamma0.001``, and ``<sweep param>-<name>`` for named widths, e.g. ``widths-paper``)::

    results/<owner>/runs/<study>/<setting>/seed<seed>.json     the run record
    runs/<owner>/<study>/<setting>/seed<seed>/model.pt          the pruned network

The run record carries the study, its sweep parameter and value and the setting label, so table builders
read them from the record and never parse a path. ``Study`` objects are made by the owners
(``benchmarks.table1.studies``, ``benchmarks.papers.<key>.studies``) from their configuration with the
scale applied; the Snakefile collects them into one registry keyed by ``(owner, name)``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

RECORD = "results/{owner}/runs/{study}/{setting}/seed{seed}.json"
MODEL = "runs/{owner}/{study}/{setting}/seed{seed}/model.pt"
# The wildcard patterns of the path scheme (also the rule's wildcard constraints).
WILDCARDS = {"owner": r"[a-z0-9_]+", "study": r"[A-Za-z0-9_.\-]+", "setting": r"[A-Za-z0-9_.+\-]+"}
TARGET_PARAM = "ratio"  # the sweep parameter that is the pipeline's target ratio rather than a method param
WIDTHS_PARAM = "widths"  # the sweep over named final widths per unit (Target.widths), e.g. a paper's limits
TARGET_PARAMS = (TARGET_PARAM, WIDTHS_PARAM)


def value_label(value) -> str:
    return value if isinstance(value, str) else f"{float(value):g}"


@dataclass(frozen=True)
class Study:
    owner: str
    name: str
    method: str
    benchmark: str
    sweep_param: str
    values: tuple
    seeds: tuple
    params: dict = field(default_factory=dict)
    finetune: Optional[dict] = None  # resolved protocol (scale applied), or None for no fine-tuning
    scope: str = "per_layer"
    # method param -> file made by an earlier rule of the owner, a template with {seed} (MINT's scores)
    inputs: dict = field(default_factory=dict)
    # whether the study's curve joins the cross-method comparison results/table1.csv
    in_table1: bool = False
    # sweep "widths": value name -> {unit name: final width}
    widths: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.sweep_param == WIDTHS_PARAM:
            missing = [v for v in self.values if v not in self.widths]
            if missing or not all(isinstance(v, str) for v in self.values):
                raise ValueError(f"study {self.owner}/{self.name}: sweeping widths needs named values with their "
                                 f"widths; values {list(self.values)}, widths for {sorted(self.widths)}")
        else:
            object.__setattr__(self, "values", tuple(float(v) for v in self.values))
        object.__setattr__(self, "values", tuple(self.values))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        if not self.values or not self.seeds:
            raise ValueError(f"study {self.owner}/{self.name}: needs at least one sweep value and one seed")

    # -------------------------------------------------------------- paths
    def setting(self, value) -> str:
        if isinstance(value, str):
            return f"{self.sweep_param}-{value}"
        return f"{self.sweep_param}{value_label(value)}"

    def settings(self) -> list[str]:
        return [self.setting(v) for v in self.values]

    def record(self, setting: str, seed: int) -> str:
        return RECORD.format(owner=self.owner, study=self.name, setting=setting, seed=seed)

    def model(self, setting: str, seed: int) -> str:
        return MODEL.format(owner=self.owner, study=self.name, setting=setting, seed=seed)

    def records(self, settings: Optional[list[str]] = None, seeds: Optional[list[int]] = None) -> list[str]:
        return [self.record(st, s) for st in (settings or self.settings()) for s in (seeds or self.seeds)]

    def models(self, settings: Optional[list[str]] = None, seeds: Optional[list[int]] = None) -> list[str]:
        return [self.model(st, s) for st in (settings or self.settings()) for s in (seeds or self.seeds)]

    def value_of(self, setting: str):
        for v in self.values:
            if self.setting(v) == setting:
                return v
        raise ValueError(f"study {self.owner}/{self.name}: setting {setting!r} is not one of its settings "
                         f"{self.settings()}")

    # -------------------------------------------------------------- what the prune job gets
    def target_ratio(self, setting: str) -> float:
        return self.value_of(setting) if self.sweep_param == TARGET_PARAM else 0.0

    def target_widths(self, setting: str) -> Optional[dict]:
        return dict(self.widths[self.value_of(setting)]) if self.sweep_param == WIDTHS_PARAM else None

    def method_params(self, setting: str, inputs: Optional[dict] = None) -> dict[str, Any]:
        p = dict(self.params)
        if self.sweep_param not in TARGET_PARAMS:
            p[self.sweep_param] = self.value_of(setting)
        p.update(inputs or {})
        return p

    def input_files(self, seed: int) -> dict[str, str]:
        return {k: v.format(seed=seed) for k, v in self.inputs.items()}

    def context(self, setting: str) -> dict[str, Any]:
        """What the run record says about the study (read back by the tables)."""
        return {"owner": self.owner, "name": self.name, "sweep_param": self.sweep_param,
                "sweep_value": self.value_of(setting), "setting": setting}

    def describe(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_sweep(study: Study, sweep_params: tuple[str, ...]) -> None:
    # (a method's sweep_params name the target forms it honours, "ratio" and "widths", and its own params)
    """The study sweeps a parameter its method declares (``PruningMethod.sweep_params``)."""
    if study.sweep_param not in sweep_params:
        raise ValueError(f"study {study.owner}/{study.name}: method {study.method!r} sweeps {list(sweep_params)}, "
                         f"not {study.sweep_param!r}")


def registry(*groups: list[Study]) -> dict[tuple[str, str], Study]:
    """One registry from the owners' study lists; a name used twice by one owner is an error."""
    out: dict[tuple[str, str], Study] = {}
    for group in groups:
        for s in group:
            key = (s.owner, s.name)
            if key in out:
                raise ValueError(f"study {s.owner}/{s.name} is defined twice")
            out[key] = s
    return out


def record_setting(record: dict) -> str:
    """The setting label of a run record (``ratio=0.5``, ``gamma=0.001``): from its study context, or for
    records written before studies existed, the label they carry."""
    study = record.get("study")
    if study:
        return f"{study['sweep_param']}={value_label(study['sweep_value'])}"
    return record.get("setting") or f"ratio={record['target']['ratio']:g}"


def record_ratio(record: dict) -> Optional[float]:
    """The target ratio of a run whose study sweeps the ratio; None for methods whose compression follows
    from another parameter (a penalty weight, a score quantile)."""
    label = record_setting(record)
    return float(label.split("=", 1)[1]) if label.startswith(f"{TARGET_PARAM}=") else None
