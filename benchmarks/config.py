"""Configuration: loading, validation and resolution of one benchmark at one scale.

The Snakefile validates the YAML with ``snakemake.utils.validate`` against
``config/schema/config.schema.yaml`` and then calls ``check_references`` here for what a schema cannot
express (a benchmark naming a protocol, dataset or model that does not exist). Outside Snakemake,
``load_config`` does both.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Optional

import yaml

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO / "config" / "config.yaml"
SCHEMA = REPO / "config" / "schema" / "config.schema.yaml"
SCALES = ("paper", "smoke")


class ConfigError(ValueError):
    """A configuration value that is missing, of the wrong type or not allowed (names the key)."""


def put_interpreter_first_on_path() -> None:
    """Make ``python`` in job shells the interpreter running Snakemake, so jobs see the same packages
    whether or not a virtual environment was activated."""
    import sys

    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")


def enter_scale_workdir(scale: str) -> Path:
    """Change into the folder where a scale's outputs live: "." for paper, "smoke/" for smoke.

    (Snakemake's ``workdir:`` directive is ignored when the user passes ``--directory``, which would let a
    smoke run write where paper results live; changing directory here holds in every case.)
    """
    if scale == "smoke":
        Path("smoke").mkdir(exist_ok=True)
        os.chdir("smoke")
    return Path.cwd()


def _key_path(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def validate_schema(config: dict, schema_path: Path = SCHEMA) -> None:
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for e in errors:
            allowed = ""
            if e.validator == "enum":
                allowed = f" (allowed: {', '.join(map(str, e.validator_value))})"
            elif e.validator == "type":
                allowed = f" (expected type: {e.validator_value})"
            lines.append(f"config key '{_key_path(e.absolute_path)}': {e.message}{allowed}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))


def check_references(config: dict) -> None:
    """Cross-references a JSON schema cannot check: every named protocol/dataset/model exists, and
    schedules carry the fields their type needs."""
    from . import datasets, models

    problems = []
    protocols = config.get("protocols", {})
    benchmarks = config.get("benchmarks", {})
    for name, p in protocols.items():
        sched = p.get("schedule", {"type": "none"})
        if sched["type"] == "step" and "step_size" not in sched:
            problems.append(f"config key 'protocols.{name}.schedule': type 'step' needs 'step_size'")
        if sched["type"] == "multistep":
            ms = sched.get("milestones")
            if not ms:
                problems.append(f"config key 'protocols.{name}.schedule': type 'multistep' needs 'milestones'")
            elif ms != sorted(ms):
                problems.append(f"config key 'protocols.{name}.schedule.milestones': must increase, got {ms}")
    for name, b in benchmarks.items():
        if b["protocol"] not in protocols:
            problems.append(f"config key 'benchmarks.{name}.protocol': {b['protocol']!r} is not a protocol "
                            f"(defined: {', '.join(sorted(protocols))})")
        if b["dataset"] not in datasets.DATASETS:
            problems.append(f"config key 'benchmarks.{name}.dataset': {b['dataset']!r} is not a dataset "
                            f"(available: {', '.join(sorted(datasets.DATASETS))})")
        if b["model"] not in models.MODELS:
            problems.append(f"config key 'benchmarks.{name}.model': {b['model']!r} is not a model "
                            f"(available: {', '.join(sorted(models.MODELS))})")
    for name in config.get("baseline_summary", []):
        if name not in benchmarks:
            problems.append(f"config key 'baseline_summary': {name!r} is not a benchmark "
                            f"(defined: {', '.join(sorted(benchmarks))})")
    t1 = config.get("table1")
    if t1:
        from methods import METHODS

        for name in t1["benchmarks"]:
            if name not in benchmarks:
                problems.append(f"config key 'table1.benchmarks': {name!r} is not a benchmark")
        if t1.get("finetune") and t1["finetune"] not in protocols:
            problems.append(f"config key 'table1.finetune': {t1['finetune']!r} is not a protocol "
                            f"(defined: {', '.join(sorted(protocols))})")
        for name in t1["methods"]:
            if name not in METHODS:
                problems.append(f"config key 'table1.methods': {name!r} is not a pruning method "
                                f"(available: {', '.join(sorted(METHODS))})")
    problems += _mint_problems(config.get("mint"), benchmarks, protocols)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def _mint_problems(mint: Optional[dict], benchmarks: dict, protocols: dict) -> list[str]:
    if not mint:
        return []
    out = []
    variants = mint["variants"]
    for name, v in variants.items():
        if v["benchmark"] not in benchmarks:
            out.append(f"config key 'mint.variants.{name}.benchmark': {v['benchmark']!r} is not a benchmark")
        if v["retrain"] not in protocols:
            out.append(f"config key 'mint.variants.{name}.retrain': {v['retrain']!r} is not a protocol")
    figs = mint.get("figures", {})
    named = [("mint.table1.variants", n) for n in mint["table1"]["variants"]]
    named += [(f"mint.figures.{k}", n) for k in ("fig4a", "fig4b") for n in figs.get(k, [])]
    named += [(f"mint.figures.figA1.{k}", n) for k, ns in figs.get("figA1", {}).items() for n in ns]
    named += [("mint.figures.characterize", figs["characterize"])] if "characterize" in figs else []
    named += [("mint.figures.gradcam.variant", figs["gradcam"]["variant"])] if "gradcam" in figs else []
    for key, n in named:
        if n not in variants:
            out.append(f"config key '{key}': {n!r} is not a mint variant (defined: {', '.join(sorted(variants))})")
    return out


def mint_variant(config: dict, name: str, scale: str) -> dict[str, Any]:
    """A MINT variant with the scale applied: smoke caps samples per class, groups and the sweep."""
    v = copy.deepcopy(config["mint"]["variants"][name])
    v["name"] = name
    v.setdefault("seeds", None)
    if scale == "smoke":
        sm = config["mint"].get("smoke", {})
        p = v["params"]
        cap_g = sm.get("max_groups", 4)
        p["samples_per_class"] = min(p.get("samples_per_class", 250), sm.get("samples_per_class", 6))
        p["groups"] = min(p.get("groups", 64), cap_g)
        p["pair_groups"] = {k: (min(g, cap_g) if isinstance(g, int) else [min(x, cap_g) for x in g])
                            for k, g in p.get("pair_groups", {}).items()}
        v["prune_percents"] = sm.get("prune_percents", v["prune_percents"][:1])
        v["seeds"] = None
    return v


def finetune_protocol(config: dict, name: Optional[str], scale: str) -> Optional[dict]:
    """A fine-tuning protocol with the scale applied (smoke caps epochs like training)."""
    if not name:
        return None
    p = copy.deepcopy(config["protocols"][name])
    p["name"] = name
    if scale == "smoke":
        shrink_epochs(p, config["smoke"]["epochs"])
    return p


def shrink_epochs(protocol: dict, max_epochs: int) -> None:
    """Cap a protocol's epochs in place (smoke scale), keeping the schedule's shape: milestones and step
    sizes scale with the shortened run."""
    orig = protocol["epochs"]
    if orig <= max_epochs:
        return
    protocol["epochs"] = max_epochs
    sched = protocol.get("schedule", {"type": "none"})
    if sched["type"] == "multistep":
        sched["milestones"] = sorted({max(1, round(m * max_epochs / orig)) for m in sched["milestones"]})
    elif sched["type"] == "step":
        sched["step_size"] = max(1, round(sched["step_size"] * max_epochs / orig))


def load_config(path: Optional[Path] = None, overrides: Optional[dict] = None) -> dict:
    config = yaml.safe_load(Path(path or DEFAULT_CONFIG).read_text())
    if overrides:
        config = merge(config, overrides)
    validate_schema(config)
    check_references(config)
    return config


def merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def data_root(config: dict) -> Path:
    return Path(config.get("data_root") or os.environ.get("IBBENCH_DATA") or "data").expanduser().resolve()


def mirror(config: dict) -> Optional[Path]:
    m = config.get("mirror") or os.environ.get("IBBENCH_MIRROR")
    return Path(m).expanduser().resolve() if m else None


def resolve_benchmark(config: dict, name: str, scale: Optional[str] = None) -> dict[str, Any]:
    """Everything one training job needs, with the scale applied (smoke caps data and epochs)."""
    scale = scale or config["scale"]
    if scale not in SCALES:
        raise ConfigError(f"config key 'scale': {scale!r} is not allowed (allowed: {', '.join(SCALES)})")
    try:
        b = config["benchmarks"][name]
    except KeyError:
        raise ConfigError(f"unknown benchmark {name!r} (defined: {', '.join(sorted(config['benchmarks']))})") from None
    protocol = copy.deepcopy(config["protocols"][b["protocol"]])
    protocol["name"] = b["protocol"]
    spec: dict[str, Any] = {
        "benchmark": name,
        "scale": scale,
        "dataset": b["dataset"],
        "model": b["model"],
        "model_params": dict(b.get("model_params", {})),
        "protocol": protocol,
        "seeds": list(b.get("seeds", [0])),
        "val_size": b.get("val_size", 5000),
        "split_seed": config.get("split_seed", 0),
        "max_train": b.get("max_train"),
        "max_val": None,
        "max_test": b.get("max_test"),
        "image_size": None,
        "device": config.get("device", "auto"),
    }
    if scale == "smoke":
        s = config["smoke"]
        cap = lambda v, m: m if v is None else min(v, m)  # noqa: E731
        spec["max_train"] = cap(spec["max_train"], s["max_train"])
        spec["max_val"] = s["max_val"]
        spec["max_test"] = cap(spec["max_test"], s["max_test"])
        spec["seeds"] = list(s["seeds"])
        spec["image_size"] = s.get("image_size")
        shrink_epochs(protocol, s["epochs"])
        if spec["model_params"].get("pretrained"):
            spec["model_params"]["pretrained"] = False  # no weight downloads at smoke scale
    return spec
