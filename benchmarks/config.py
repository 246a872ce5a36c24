"""Configuration: the one loader, validation and resolution of one benchmark at one scale.

``config/config.yaml`` is the shared part (scales, protocols, benchmarks, the cross-method table, the list
of ``papers``); each paper's settings live in its home, ``config/papers/<key>.yaml`` (one top-level key,
the paper's), validated by ``config/papers/<key>.schema.yaml``. ``add_paper_sections`` puts them under
their key, beneath any override already there (``--configfile`` overlays and ``--config`` win);
``validate`` checks every section against its schema (JSON Schema draft 2020-12) and then what a schema
cannot express (a benchmark naming a protocol, dataset or model that does not exist). The Snakefile calls
both; ``load_config`` does all of it outside Snakemake, and ``load_checked_yaml`` is the same loader for the
suite's other YAML files (the estimator benchmark's).
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
PAPERS_DIR = REPO / "config" / "papers"
SCALES = ("paper", "smoke")


class ConfigError(ValueError):
    """A configuration value that is missing, of the wrong type or not allowed (names the key)."""


def put_interpreter_first_on_path(code_root: Optional[Path] = None) -> None:
    """Make ``python`` in job shells the interpreter running Snakemake, so jobs see the same packages
    whether or not a virtual environment was activated; with ``code_root`` (the workflow's folder), jobs
    import the code of this checkout even when another one is the installed package."""
    import sys

    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    if code_root is not None:
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(code_root), os.environ.get("PYTHONPATH")) if p)


SCALE_WORKDIR_ENV = "IBBENCH_SCALE_WORKDIR"


def enter_scale_workdir(scale: str) -> Path:
    """Change into the folder where a scale's outputs live: "." for paper, "smoke/" for smoke.

    (Snakemake's ``workdir:`` directive is ignored when the user passes ``--directory``, which would let a
    smoke run write where paper results live; changing directory here holds in every case.)
    """
    if scale == "smoke":
        entered = os.environ.get(SCALE_WORKDIR_ENV)
        if entered and Path(entered) == Path.cwd():
            # a cluster job step re-reads the Snakefile inside the folder its submitter entered: stay
            return Path.cwd()
        Path("smoke").mkdir(exist_ok=True)
        os.chdir("smoke")
        os.environ[SCALE_WORKDIR_ENV] = str(Path.cwd())  # inherited by the jobs (SLURM: --export=ALL)
    return Path.cwd()


def _key_path(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _describe(sub: dict) -> str:
    if "enum" in sub:
        return "one of " + ", ".join(map(repr, sub["enum"]))
    if "description" in sub:  # a pattern says more to a user in words
        return sub["description"]
    lo = f" >= {sub['minimum']}" if "minimum" in sub else ""
    return f"{sub.get('type', 'any value')}{lo}"


def schema_errors(instance: Any, schema: Any, prefix: tuple = ()) -> list[str]:
    """Every violation of a JSON schema (draft 2020-12; a dict or a YAML file), one line each naming the
    key and what is allowed there."""
    import jsonschema

    if not isinstance(schema, dict):
        schema = yaml.safe_load(Path(schema).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    lines = []
    for e in sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path]):
        msg = e.message
        if e.validator == "enum":
            msg = f"{e.instance!r} is not allowed (allowed: {', '.join(map(str, e.validator_value))})"
        elif e.validator == "additionalProperties":
            msg += f" (allowed keys: {', '.join(sorted(e.schema.get('properties', {})))})"
        elif e.validator in ("oneOf", "anyOf"):
            msg = f"{e.instance!r} is not allowed (allowed: {'; or '.join(_describe(s) for s in e.validator_value)})"
        elif e.validator == "type":
            msg += f" (expected type: {e.validator_value})"
        lines.append(f"config key '{_key_path((*prefix, *e.absolute_path))}': {msg}")
    return lines


def paper_schema(key: str) -> Path:
    return PAPERS_DIR / f"{key}.schema.yaml"


def validate_schema(config: dict, schema_path: Path = SCHEMA) -> None:
    """The shared part against ``schema_path``; each paper's section against its own schema."""
    papers = [k for k in config.get("papers", []) if isinstance(k, str)]
    shared = {k: v for k, v in config.items() if k not in papers}
    lines = schema_errors(shared, schema_path)
    for key in papers:
        if key not in config:
            lines.append(f"config key '{key}': paper {key!r} is listed in 'papers' but has no settings "
                         f"(expected {PAPERS_DIR / (key + '.yaml')})")
        elif not paper_schema(key).exists():
            lines.append(f"config key '{key}': no schema for paper {key!r} (expected {paper_schema(key)})")
        else:
            lines += schema_errors(config[key], paper_schema(key), (key,))
    if lines:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))


def add_paper_sections(config: dict, papers_dir: Path = PAPERS_DIR) -> dict:
    """Put each listed paper's ``config/papers/<key>.yaml`` under ``config[key]`` (in place), beneath what
    ``config[key]`` already holds: an overlay given on the command line overrides the paper's file."""
    for key in config.get("papers", []):
        path = Path(papers_dir) / f"{key}.yaml"
        if not path.exists():
            raise ConfigError(f"config key 'papers': {key!r} has no settings file {path}")
        data = yaml.safe_load(path.read_text()) or {}
        if set(data) != {key}:
            raise ConfigError(f"{path}: must hold exactly one top-level key, {key!r}; found {sorted(data)}")
        config[key] = merge(data[key], config.get(key) or {})
    return config


def validate(config: dict) -> None:
    validate_schema(config)
    check_references(config)


def load_checked_yaml(path: Path, schema_path: Path) -> dict:
    """A YAML file validated against its schema (draft 2020-12); errors name the file and the key."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    lines = schema_errors(data, schema_path)
    if lines:
        raise ConfigError(f"invalid configuration in {path}:\n  " + "\n  ".join(lines))
    return data


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
        if p.get("epochs", 0) > 0 and p.get("lr") == 0:
            problems.append(f"config key 'protocols.{name}.lr': 0 with {p['epochs']} epochs trains nothing; give a "
                            f"positive learning rate (or epochs: 0 for an evaluation-only protocol)")
    for name, b in benchmarks.items():
        if b["protocol"] not in protocols:
            problems.append(f"config key 'benchmarks.{name}.protocol': {b['protocol']!r} is not a protocol "
                            f"(defined: {', '.join(sorted(protocols))})")
        elif protocols[b["protocol"]].get("epochs", 0) == 0 and not b.get("model_params", {}).get("pretrained"):
            problems.append(f"config key 'benchmarks.{name}.protocol': {b['protocol']!r} trains 0 epochs and the "
                            f"model is not pretrained, so its result would be an untrained network")
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

        for key in ("benchmarks", "study_benchmarks"):
            for name in t1.get(key, []):
                if name not in benchmarks:
                    problems.append(f"config key 'table1.{key}': {name!r} is not a benchmark "
                                    f"(defined: {', '.join(sorted(benchmarks))})")
        if t1.get("finetune") and t1["finetune"] not in protocols:
            problems.append(f"config key 'table1.finetune': {t1['finetune']!r} is not a protocol "
                            f"(defined: {', '.join(sorted(protocols))})")
        for name in t1["methods"]:
            if name not in METHODS:
                problems.append(f"config key 'table1.methods': {name!r} is not a pruning method "
                                f"(available: {', '.join(sorted(METHODS))})")
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


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
    """The configuration as the workflow sees it: main file, ``overrides``, the papers' sections beneath
    them; validated."""
    config = yaml.safe_load(Path(path or DEFAULT_CONFIG).read_text())
    if overrides:
        config = merge(config, overrides)
    add_paper_sections(config)
    validate(config)
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


def export_mirror(mirror_path: Optional[Path]) -> None:
    """Hand the mirror to the jobs through ``IBBENCH_MIRROR`` (``benchmarks.datasets.default_mirror``; jobs
    inherit the environment, also through SLURM's default ``--export=ALL``) rather than a rule param, so
    that moving the md5-verified archives does not rerun the data preparation and everything after it."""
    if mirror_path:
        os.environ["IBBENCH_MIRROR"] = str(mirror_path)


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
        "input_scaling": b.get("input_scaling", "standardize"),
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
