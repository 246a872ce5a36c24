"""Mutual-information estimator benchmark: accuracy and speed on tasks with known MI (Table 2).

For every estimator x task x sample size x seed of the config (``config/estimators.yaml``, section
``estimator_benchmark.<scale>``), samples are drawn from ``benchmarks.mi_tasks`` and the estimator is run
through its ``run()`` (which never raises). Per estimator x task x sample size one warm-up call on the first
seed's sample comes first and is not recorded, so one-time costs (allocations, kernel selection, imports)
do not count. All estimators of a (task, n, seed) see the same sample; scikit-learn's KSG
(``mutual_info_regression`` / ``mutual_info_classif``, 1-D x only) runs in the same job on those samples as
rows named ``sklearn_ksg``, so speed ratios come from one run on one machine.

Outputs
-------
* raw CSV: one row per run (estimate, truth, seconds, ok, error message, status ok/failed/skipped);
* table (``results/table2.csv``): one row per estimator and task at the table's sample size (the largest
  n the estimator ran on that task unless ``table_n`` says otherwise): mean estimate, truth, bias
  (mean - truth), MAE (mean |estimate - truth|), std over seeds, median seconds, failures, the ratio of
  median seconds to sklearn_ksg's on the same task and n, and the scale;
* targets CSV (``results/perf/estimators_targets.csv``): targeted speed/accuracy measurements
  (target, measured, limit, pass) -- see ``TARGETS``;
* figures: accuracy_vs_runtime.png (one point per estimator: median seconds vs mean MAE over the tasks it
  ran, log x, Pareto front), error_vs_n.png, runtime_vs_n.png, runtime_vs_dim.png (Gaussian tasks);
* a provenance JSON beside the table.

Estimators are looked up by name in ``estimators.ESTIMATORS`` when the job starts; a name that is not
registered (or whose parameters are rejected) yields failed rows carrying the error, never an exception.
Estimators that declare ``units: dimensionless`` in the config (GMI, a Henze-Penrose dependency measure in
[0, 1)) are timed and their estimates recorded, but bias and MAE against a truth in nats are left empty.
An estimator that does not support conditional MI is not run on conditional tasks (no rows).
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import pandas as pd
import torch
import yaml

from . import mi_tasks, outside_estimators
from .config import ConfigError, load_checked_yaml, schema_errors
from .plotting import pyplot, save_figure
from .mi_tasks import Task

log = logging.getLogger("ibbench.mi_benchmark")

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO / "config" / "estimators.yaml"
SCHEMA_PATH = REPO / "config" / "schema" / "estimators.schema.yaml"
SCALES = ("paper", "smoke")
FIGURES = ("accuracy_vs_runtime", "error_vs_n", "runtime_vs_n", "runtime_vs_dim")
PEERS = ("sklearn_ksg",)


# ---------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------

SECTION_DEFAULTS: dict[str, Any] = {
    "threads": None,  # None: every core this job may use
    "device": "auto",
    "warmup": True,
    "table_n": "max",
    "max_seconds_per_run": None,
    "tasks": ["*"],
    "peers": [],
    "targets": {},
}


def _schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _validate(instance: Any, schema: dict, prefix: Sequence[Any], source: str) -> None:
    lines = schema_errors(instance, schema, tuple(prefix))
    if lines:
        raise ConfigError(f"{source}: invalid estimator benchmark config:\n  " + "\n  ".join(lines))


def resolve_section(section: dict, *, scale: str = "paper", source: str = "<config>") -> dict:
    """Validate one scale section against the schema, fill defaults, check task patterns resolve."""
    schema = _schema()
    sub = dict(schema["definitions"]["scale"], definitions=schema["definitions"])
    _validate(section, sub, ["estimator_benchmark", scale], source)
    cfg = copy.deepcopy(SECTION_DEFAULTS)
    cfg.update(copy.deepcopy(section))
    cfg["scale"] = scale
    where = f"estimator_benchmark.{scale}"
    for key, entries in (("estimators", cfg["estimators"]), ("peers", cfg["peers"])):
        for i, e in enumerate(entries):
            for sub in ("tasks", "exclude"):
                try:
                    mi_tasks.select_tasks(e.get(sub, cfg["tasks"]))
                except KeyError as exc:
                    raise ConfigError(f"{source}: key '{where}.{key}.{i}.{sub}': {exc.args[0]}") from None
    try:
        mi_tasks.select_tasks(cfg["tasks"])
    except KeyError as exc:
        raise ConfigError(f"{source}: key '{where}.tasks': {exc.args[0]}") from None
    labels = [e.get("label", e["name"]) for e in cfg["estimators"] + cfg["peers"]]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ConfigError(f"{source}: key '{where}.estimators': labels {dup} appear twice; give each "
                          f"entry of the same estimator its own 'label'")
    return cfg


def load_config(path: Path | str = DEFAULT_CONFIG, scale: str = "paper") -> dict:
    path = Path(path)
    if scale not in SCALES:
        raise ConfigError(f"scale: expected one of {SCALES}, got {scale!r}")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    raw = load_checked_yaml(path, SCHEMA_PATH)
    if scale not in raw["estimator_benchmark"]:
        raise ConfigError(f"{path}: no section 'estimator_benchmark.{scale}' for the {scale} scale (it has "
                          f"{sorted(raw['estimator_benchmark'])})")
    return resolve_section(raw["estimator_benchmark"][scale], scale=scale, source=str(path))


def job_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# ---------------------------------------------------------------------------------------------------
# Estimator entries
# ---------------------------------------------------------------------------------------------------

class SklearnKSG:
    """scikit-learn's KSG (Kraskov et al. 2004; Ross 2014 for labels) as a peer, for 1-D x only.

    ``mutual_info_regression`` / ``mutual_info_classif`` score each feature of x separately, so they
    estimate the MI of the pair only when x has one column (and y is one column or labels).
    """

    name = "sklearn_ksg"
    supports_conditional = False

    def __init__(self, n_neighbors: int = 3, random_state: int = 0):
        self.n_neighbors, self.random_state = n_neighbors, random_state

    @staticmethod
    def applicable(task: Task) -> Optional[str]:
        if task.conditional:
            return "sklearn's mutual_info_* has no conditional form"
        if task.dim_x != 1 or (not task.labels and task.dim_y != 1):
            return "sklearn's mutual_info_* scores single features; needs 1-D x and 1-D y (or labels)"
        return None

    def run(self, x: Any, y: Any, z: Any = None):
        from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

        from estimators import EstimateResult

        start = time.perf_counter()
        try:
            if z is not None:
                raise ValueError("z: sklearn_ksg does not support conditional MI")
            x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
            y = np.asarray(y)
            kw = dict(discrete_features=False, n_neighbors=self.n_neighbors, random_state=self.random_state)
            if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
                value = mutual_info_classif(x, y, **kw)[0]
            else:
                value = mutual_info_regression(x, y.reshape(len(y), -1)[:, 0], **kw)[0]
            return EstimateResult(self.name, float(value), time.perf_counter() - start, True)
        except Exception as exc:  # a peer failure is recorded like any estimator failure
            return EstimateResult(self.name, float("nan"), time.perf_counter() - start, False,
                                  f"{type(exc).__name__}: {exc}")


@dataclass
class Entry:
    """One configured estimator (or peer): what to build, and on which tasks, n and seeds to run it."""

    label: str
    name: str
    params: dict
    tasks: list[Task]
    sample_sizes: list[int]
    seeds: list[int]
    max_dim: Optional[int]
    units: str
    instance: Any = None
    broken: Optional[str] = None  # the error message when it could not be built
    too_slow: set = field(default_factory=set)  # tasks whose warm-up exceeded max_seconds_per_run

    def skip_reason(self, task: Task) -> Optional[str]:
        widest = max(task.dim_x, task.dim_y, task.dim_z)
        if self.max_dim is not None and widest > self.max_dim:
            return f"a variable of dimension {widest} > max_dim {self.max_dim}"
        if isinstance(self.instance, SklearnKSG):
            return SklearnKSG.applicable(task)
        if self.instance is not None and task.conditional and not self.instance.supports_conditional:
            return "no conditional MI"
        return None


def _entry_tasks(spec: dict, cfg: dict) -> list[Task]:
    drop = {t.name for t in mi_tasks.select_tasks(spec["exclude"])} if spec.get("exclude") else set()
    return [t for t in mi_tasks.select_tasks(spec.get("tasks", cfg["tasks"])) if t.name not in drop]


def build_entry(spec: dict, cfg: dict, *, peer: bool) -> Entry:
    entry = Entry(label=spec.get("label", spec["name"]), name=spec["name"], params=dict(spec.get("params", {})),
                  tasks=_entry_tasks(spec, cfg),
                  sample_sizes=sorted(spec.get("sample_sizes", cfg["sample_sizes"])),
                  seeds=list(spec.get("seeds", cfg["seeds"])), max_dim=spec.get("max_dim"),
                  units=spec.get("units", "nats"))
    try:
        if peer:
            if spec["name"] != "sklearn_ksg":
                raise KeyError(f"unknown peer {spec['name']!r}; available: {list(PEERS)}")
            entry.instance = SklearnKSG(**entry.params)
        elif outside_estimators.is_outside(spec["name"]):
            entry.instance = outside_estimators.build(spec["name"], entry.params, entry.label)
        else:
            import estimators

            params = dict(entry.params)
            cls = estimators.ESTIMATORS.get(spec["name"])
            if cls is not None and "device" not in params and any(
                    f.name == "device" for f in dataclasses.fields(cls.Params)):
                params["device"] = cfg["device"]
            entry.instance = estimators.get(spec["name"], **params)
    except Exception as exc:  # recorded on every row this entry would have produced
        entry.broken = f"{type(exc).__name__}: {exc.args[0] if exc.args else exc}"
        log.warning("estimator %s cannot be built: %s", entry.label, entry.broken)
    return entry


# ---------------------------------------------------------------------------------------------------
# The benchmark loop
# ---------------------------------------------------------------------------------------------------

RAW_COLUMNS = ["scale", "estimator", "method", "params", "units", "task", "family", "dim_x", "dim_y", "dim_z",
               "dim", "conditional", "labels", "n", "seed", "truth", "truth_se", "estimate", "est_minus_truth",
               "seconds", "ok", "status", "error", "device", "threads"]


def _planned(entries: list[Entry], task: Task, n: int) -> list[Entry]:
    return [e for e in entries if n in e.sample_sizes and any(t.name == task.name for t in e.tasks)
            and e.skip_reason(task) is None]


def run_benchmark(cfg: dict, *, progress: bool = True) -> pd.DataFrame:
    """Run the grid of one scale section and return the raw rows (``RAW_COLUMNS``).

    ``cfg`` is a section from ``load_config`` / ``resolve_section``, a bare section dict (validated here,
    scale taken from its ``scale`` key, default paper), or a whole file dict with ``estimator_benchmark``.
    """
    if "estimator_benchmark" in cfg:
        scale = cfg.get("scale", "paper")
        _validate({k: v for k, v in cfg.items() if k != "scale"}, _schema(), [], "<config>")
        cfg = resolve_section(cfg["estimator_benchmark"][scale], scale=scale)
    elif "scale" not in cfg or "table_n" not in cfg:
        cfg = resolve_section({k: v for k, v in cfg.items() if k != "scale"}, scale=cfg.get("scale", "paper"))
    from tqdm.auto import tqdm

    cores = int(cfg.get("job_cores") or job_cores())
    threads = min(int(cfg.get("threads") or cores), cores)
    torch.set_num_threads(threads)
    entries = [build_entry(s, cfg, peer=False) for s in cfg["estimators"]]
    entries += [build_entry(s, cfg, peer=True) for s in cfg.get("peers", [])]
    for e in entries:
        skipped = sorted({t.name for t in e.tasks if e.skip_reason(t)})
        if skipped:
            log.info("%s: not run on %d task(s) it cannot take (%s)", e.label, len(skipped),
                     "; ".join(f"{t}: {e.skip_reason(mi_tasks.get_task(t))}" for t in skipped[:3])
                     + (" ..." if len(skipped) > 3 else ""))

    tasks = [t for t in mi_tasks.all_tasks() if any(t.name == u.name for e in entries for u in e.tasks)]
    sizes = sorted({n for e in entries for n in e.sample_sizes})
    total = sum(len(e.seeds) for t in tasks for n in sizes for e in _planned(entries, t, n))
    rows: list[dict] = []
    max_s = cfg.get("max_seconds_per_run")
    bar = tqdm(total=total, desc=f"MI benchmark ({cfg['scale']})", unit="run", disable=not progress,
               file=sys.stderr, mininterval=1.0)

    def record(e: Entry, task: Task, n: int, seed: int, value: float, seconds: float, ok: bool, status: str,
               error: Optional[str]) -> None:
        truth = task.truth
        nats = e.units == "nats"
        rows.append(dict(scale=cfg["scale"], estimator=e.label, method=e.name,
                         params=json.dumps(e.params, sort_keys=True), units=e.units, task=task.name,
                         family=task.family, dim_x=task.dim_x, dim_y=task.dim_y, dim_z=task.dim_z, dim=task.dim,
                         conditional=task.conditional, labels=task.labels, n=n, seed=seed, truth=truth,
                         truth_se=task.truth_se, estimate=value,
                         est_minus_truth=(value - truth) if (ok and nats) else float("nan"),
                         seconds=seconds, ok=ok, status=status, error=error or "",
                         device=str(getattr(e.instance, "device", "cpu")),
                         threads=threads))
        bar.update(1)

    for task in tasks:
        for n in sizes:
            planned = _planned(entries, task, n)
            if not planned:
                continue
            bar.set_postfix_str(f"{task.name} n={n}")
            seeds = sorted({s for e in planned for s in e.seeds})
            samples = {s: task.sample(n, s) for s in seeds}
            for e in planned:
                if e.broken is not None:
                    for s in e.seeds:
                        record(e, task, n, s, float("nan"), float("nan"), False, "failed", e.broken)
                    continue
                if task.name in e.too_slow:
                    for s in e.seeds:
                        record(e, task, n, s, float("nan"), float("nan"), False, "skipped",
                               f"skipped: a smaller n on this task took more than max_seconds_per_run={max_s}")
                    continue
                if cfg.get("warmup", True):
                    warm = e.instance.run(*samples[e.seeds[0]])
                    if max_s is not None and warm.seconds > max_s:
                        e.too_slow.add(task.name)
                        for s in e.seeds:
                            record(e, task, n, s, float("nan"), float("nan"), False, "skipped",
                                   f"skipped: warm-up took {warm.seconds:.1f} s > max_seconds_per_run={max_s}")
                        continue
                for s in e.seeds:
                    res = e.instance.run(*samples[s])
                    record(e, task, n, s, res.value, res.seconds, res.ok, "ok" if res.ok else "failed", res.error)
                    if not res.ok:
                        log.debug("%s on %s n=%d seed=%d failed: %s", e.label, task.name, n, s, res.error)
    bar.close()
    return pd.DataFrame(rows, columns=RAW_COLUMNS)


# ---------------------------------------------------------------------------------------------------
# Table 2
# ---------------------------------------------------------------------------------------------------

TABLE_COLUMNS = ["scale", "estimator", "method", "units", "task", "family", "dim_x", "dim_y", "dim_z", "n",
                 "truth", "truth_se", "mean_estimate", "bias", "mae", "std", "median_seconds",
                 "seconds_vs_sklearn_ksg", "runs", "ok_runs", "failures", "skipped", "first_error"]


def _table_rows(raw: pd.DataFrame, table_n: Any) -> pd.DataFrame:
    """The (estimator, task) groups at the table's n: the largest n run, or ``table_n`` where run."""
    if raw.empty:
        return raw
    if table_n == "max":
        n_pick = raw.groupby(["estimator", "task"])["n"].transform("max")
    else:
        n_pick = raw.groupby(["estimator", "task"])["n"].transform(
            lambda s: int(table_n) if (s == int(table_n)).any() else s.max())
    return raw[raw["n"] == n_pick]


def _stats(g: pd.DataFrame) -> dict:
    ok = g[g["ok"].astype(bool)]
    nats = (g["units"].iloc[0] == "nats")
    errs = ok["estimate"] - ok["truth"]
    return dict(mean_estimate=ok["estimate"].mean() if len(ok) else float("nan"),
                bias=errs.mean() if (len(ok) and nats) else float("nan"),
                mae=errs.abs().mean() if (len(ok) and nats) else float("nan"),
                std=ok["estimate"].std(ddof=1) if len(ok) > 1 else float("nan"),
                median_seconds=ok["seconds"].median() if len(ok) else float("nan"),
                runs=len(g), ok_runs=len(ok), failures=int((g["status"] == "failed").sum()),
                skipped=int((g["status"] == "skipped").sum()),
                first_error=next((str(m)[:300] for m in g["error"] if isinstance(m, str) and m), ""))


def summarise(raw: pd.DataFrame, table_n: Any = "max", scale: Optional[str] = None) -> pd.DataFrame:
    """Table 2: one row per estimator and task (see module docstring)."""
    if raw.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    keys = ["scale", "estimator", "method", "units", "task", "family", "dim_x", "dim_y", "dim_z", "n"]
    out = []
    for key, g in _table_rows(raw, table_n).groupby(keys, sort=False):
        row = dict(zip(keys, key), truth=g["truth"].iloc[0], truth_se=g["truth_se"].iloc[0])
        row.update(_stats(g))
        out.append(row)
    table = pd.DataFrame(out)
    # speed relative to the sklearn peer on the same task and n (from the raw rows, any table n)
    sk = raw[(raw["estimator"] == "sklearn_ksg") & raw["ok"].astype(bool)].groupby(["task", "n"])["seconds"].median()
    table["seconds_vs_sklearn_ksg"] = [
        r.median_seconds / sk[(r.task, r.n)] if (r.task, r.n) in sk.index and sk[(r.task, r.n)] > 0 else float("nan")
        for r in table.itertuples()]
    if scale is not None:
        table["scale"] = scale
    return table[TABLE_COLUMNS]


def summarise_by_n(raw: pd.DataFrame) -> pd.DataFrame:
    """Per estimator, task and n: MAE and median seconds (for the figures)."""
    ok = raw[raw["ok"].astype(bool)].copy()
    ok["abs_err"] = (ok["estimate"] - ok["truth"]).abs().where(ok["units"] == "nats")
    return ok.groupby(["estimator", "units", "task", "family", "dim", "n"], as_index=False).agg(
        mae=("abs_err", "mean"), median_seconds=("seconds", "median"))


# ---------------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------------

def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points not dominated in (x, y), both to be minimised, sorted by x."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    front, best_y = [], math.inf
    for i in order:
        if points[i][1] < best_y:
            front.append(i)
            best_y = points[i][1]
    return front


def _empty(ax, msg: str) -> None:
    ax.text(0.5, 0.5, msg, ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def make_figures(raw: pd.DataFrame, table: pd.DataFrame, fig_dir: Path | str) -> list[Path]:
    plt = pyplot()

    fig_dir = Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    by_n = summarise_by_n(raw) if not raw.empty else pd.DataFrame(
        columns=["estimator", "units", "task", "family", "dim", "n", "mae", "median_seconds"])
    scale = str(raw["scale"].iloc[0]) if not raw.empty else "?"
    written = []
    # one colour per estimator in every figure
    palette = plt.get_cmap("tab10").colors + plt.get_cmap("Dark2").colors
    names = sorted(set(raw["estimator"])) if not raw.empty else []
    color = {est: palette[i % len(palette)] for i, est in enumerate(names)}

    def ticks_at(ax, values) -> None:
        values = sorted(set(int(v) for v in values))
        ax.set_xticks(values)
        ax.set_xticklabels([str(v) for v in values])
        ax.minorticks_off()

    # accuracy vs runtime. Left: each estimator over the tasks it ran, at its table n (task sets differ).
    # Right: only the tasks every nats estimator ran, at the largest n where such tasks exist, so the
    # points compare like with like.
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    t = table[(table["units"] == "nats") & (table["ok_runs"] > 0)] if not table.empty else table

    def draw(ax, pts, title):
        if not pts:
            _empty(ax, "no successful runs on a common task set")
            ax.set_title(title, fontsize=10)
            return
        for est, s, m, k, ns in pts:
            ax.scatter(s, m, s=40, color=color[est], label=f"{est} ({k} tasks, n={'/'.join(map(str, ns))})")
        front = pareto_front([(p[1], p[2]) for p in pts])
        ax.step([pts[i][1] for i in front], [pts[i][2] for i in front], where="post", color="k", lw=1,
                ls="--", label="Pareto front")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("median seconds per estimate")
        ax.set_ylabel("MAE (nats), mean over tasks")
        ax.set_title(title, fontsize=10)
        _legend(ax)

    pts = []
    for est, g in (t.groupby("estimator") if not t.empty else []):
        g = g.dropna(subset=["mae", "median_seconds"])
        if len(g):
            pts.append((est, float(g["median_seconds"].median()), float(g["mae"].mean()), len(g),
                        sorted(set(g["n"]))))
    draw(ax, pts, f"Accuracy vs runtime, each estimator's own tasks ({scale} scale)")
    common_pts, common_title = [], "no task run by every estimator"
    nats = by_n[by_n["units"] == "nats"].dropna(subset=["mae"]) if not by_n.empty else by_n
    for n in sorted(set(nats["n"]), reverse=True) if len(nats) else []:
        at_n = nats[nats["n"] == n]
        ests = sorted(set(nats["estimator"]))
        tasks = set.intersection(*(set(at_n[at_n["estimator"] == e]["task"]) for e in ests))
        if tasks:
            c = at_n[at_n["task"].isin(tasks)]
            common_pts = [(e, float(g["median_seconds"].median()), float(g["mae"].mean()), len(g), [int(n)])
                          for e, g in c.groupby("estimator")]
            common_title = f"Same {len(tasks)} tasks for every estimator, n={int(n)}: {', '.join(sorted(tasks))}"
            break
    draw(ax2, common_pts, common_title)
    ax2.title.set_fontsize(8)
    written.append(_save(fig, fig_dir / "accuracy_vs_runtime.png"))

    # error and runtime vs n: averaged over the tasks each estimator ran at every one of its n
    for metric, fname, ylabel, logy in (("mae", "error_vs_n", "MAE (nats), mean over tasks", False),
                                        ("median_seconds", "runtime_vs_n", "median seconds", True)):
        fig, ax = plt.subplots(figsize=(8.5, 4.5))
        d = by_n if metric == "median_seconds" else by_n[by_n["units"] == "nats"]
        drawn, xs = False, set()
        for est, g in d.groupby("estimator"):
            ns = sorted(g["n"].unique())
            common = set.intersection(*(set(g[g["n"] == n]["task"]) for n in ns)) if ns else set()
            g = g[g["task"].isin(common)]
            curve = g.groupby("n")[metric].mean() if metric == "mae" else g.groupby("n")[metric].median()
            curve = curve.dropna()
            if len(curve):
                ax.plot(curve.index, curve.values, marker="o", color=color[est], label=f"{est} ({len(common)} tasks)")
                drawn = True
                xs.update(curve.index)
        if drawn:
            ax.set_xscale("log")
            ticks_at(ax, xs)
            if logy:
                ax.set_yscale("log")
            ax.set_xlabel("sample size n")
            ax.set_ylabel(ylabel)
            _legend(ax)
        else:
            _empty(ax, "no successful runs")
        ax.set_title(f"{ylabel.split(',')[0]} vs n ({scale} scale)", fontsize=10)
        written.append(_save(fig, fig_dir / f"{fname}.png"))

    # runtime vs dimension on the Gaussian tasks, at each estimator's largest n there
    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    gd = by_n[by_n["family"].isin(["gaussian-dense", "gaussian-sparse"])]
    drawn, xs = False, set()
    for est, g in gd.groupby("estimator"):
        n = g["n"].max()
        curve = g[g["n"] == n].groupby("dim")["median_seconds"].median().dropna()
        if len(curve):
            ax.plot(curve.index, curve.values, marker="o", color=color[est], label=f"{est} (n={n})")
            drawn = True
            xs.update(curve.index)
    if drawn:
        ax.set_xscale("log")
        ticks_at(ax, xs)
        ax.set_yscale("log")
        ax.set_xlabel("dim_x + dim_y (Gaussian tasks)")
        ax.set_ylabel("median seconds")
        _legend(ax)
    else:
        _empty(ax, "no successful runs on Gaussian tasks")
    ax.set_title(f"Runtime vs dimension ({scale} scale)", fontsize=10)
    written.append(_save(fig, fig_dir / "runtime_vs_dim.png"))
    return written


def _legend(ax) -> None:
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)


def _save(fig, path: Path) -> Path:
    return save_figure(fig, path)


# ---------------------------------------------------------------------------------------------------
# Targeted measurements
# ---------------------------------------------------------------------------------------------------

TARGET_COLUMNS = ["target", "measured", "limit", "comparison", "pass", "unit", "detail", "error"]


def _row(target: str, measured: float, limit: float, comparison: str, unit: str, detail: str = "",
         error: str = "") -> dict:
    ok = (not error) and math.isfinite(measured) and (
        measured <= limit if comparison == "<=" else measured >= limit)
    return dict(target=target, measured=measured, limit=limit, comparison=comparison, **{"pass": bool(ok)},
                unit=unit, detail=detail, error=error)


def _median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    out = fn()  # warm-up, not timed
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _class_features(n: int, f: int, classes: int, seed: int, spatial: tuple[int, ...] = ()) -> tuple:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=g)
    shift = torch.randn(classes, f, *spatial, generator=g)
    acts = (shift[labels] + torch.randn(n, f, *spatial, generator=g)).relu().float()
    return acts, labels


def target_ksg_gaussian_2d(p: dict) -> list[dict]:
    import estimators

    task = mi_tasks.get_task(p.get("task", "gauss-sparse-d1"))
    n, seeds = int(p.get("n", 10_000)), list(p.get("seeds", [0, 1, 2, 3, 4]))
    est = estimators.get("ksg", **p.get("params", {"k": 3}))
    est.run(*task.sample(n, seeds[0]))  # warm-up
    res = [est.run(*task.sample(n, s)) for s in seeds]
    bad = [r.error for r in res if not r.ok]
    if bad:
        raise RuntimeError(bad[0])
    mae = float(np.mean([abs(r.value - task.truth) for r in res]))
    sec = float(np.median([r.seconds for r in res]))
    detail = f"{task.name} (truth {task.truth:.4f}), n={n}, {len(seeds)} seeds, params {p.get('params', {'k': 3})}"
    return [_row("ksg_gaussian_2d_seconds", sec, 0.1, "<=", "s", "median over seeds; " + detail),
            _row("ksg_gaussian_2d_abs_error", mae, 0.02, "<=", "nats", "mean |estimate - truth|; " + detail)]


def target_binning_per_filter(p: dict) -> list[dict]:
    from estimators.binning import per_filter_mi

    n, f, classes, bins = int(p.get("n", 10_000)), int(p.get("filters", 512)), int(p.get("classes", 10)), \
        int(p.get("bins", 100))
    acts, labels = _class_features(n, f, classes, 0)
    sec, out = _median_time(lambda: per_filter_mi(acts, labels, bins), int(p.get("repeats", 5)))
    out = torch.as_tensor(out)
    if out.shape != (f,) or not torch.isfinite(out).all():
        raise RuntimeError(f"per_filter_mi returned shape {tuple(out.shape)} (expected ({f},)) or non-finite values")
    return [_row("binning_per_filter_mi_seconds", sec, 0.2, "<=", "s",
                 f"{f} filters x {classes} classes, n={n}, bins={bins}, float32 acts; median of "
                 f"{p.get('repeats', 5)} after a warm-up")]


def target_gmi_conditional(p: dict) -> list[dict]:
    import estimators
    from estimators.gmi import reference_double_loop

    task = mi_tasks.get_task(p.get("task", "cmi-gauss-dx1-dy1-dz1"))
    n = int(p.get("n", 2_000))
    x, y, z = task.sample(n, 0)
    params = dict(p.get("params", {}))
    est = estimators.get("gmi", **params)
    fast_sec, fast = _median_time(lambda: est.estimate(x, y, z), int(p.get("repeats", 3)))
    ref_kw = {k: v for k, v in params.items() if k in ("seed", "n_bootstrap", "standardize", "clip")}
    t0 = time.perf_counter()
    ref = reference_double_loop(x, y, z, **ref_kw)
    ref_sec = time.perf_counter() - t0
    detail = f"{task.name}, n={n}: fast {fast_sec:.4f} s -> {fast:.6f}; double loop {ref_sec:.2f} s -> {ref:.6f}"
    return [_row("gmi_conditional_speedup", ref_sec / fast_sec, 50.0, ">=", "x", detail),
            _row("gmi_conditional_same_value", abs(float(fast) - float(ref)), 1e-9, "<=", "abs diff", detail)]


def target_renyi_filter_relevance(p: dict) -> list[dict]:
    from estimators.renyi import filter_relevance

    n, f, classes = int(p.get("batch", 100)), int(p.get("filters", 512)), int(p.get("classes", 10))
    spatial = tuple(p.get("map_size", [4, 4]))
    maps, labels = _class_features(n, f, classes, 1, spatial)
    kw = dict(p.get("params", {}))
    sec, out = _median_time(lambda: filter_relevance(maps, labels, **kw), int(p.get("repeats", 3)))
    out = torch.as_tensor(out)
    if out.shape != (f,) or not torch.isfinite(out).all():
        raise RuntimeError(f"filter_relevance returned shape {tuple(out.shape)} (expected ({f},)) or non-finite values")
    return [_row("renyi_filter_relevance_seconds", sec, 1.0, "<=", "s",
                 f"{f} filters, batch of {n} maps {spatial[0]}x{spatial[1]}, {classes} classes, params {kw}")]


def target_gaussian_tasks_accuracy(p: dict) -> list[dict]:
    import estimators

    n, seeds, max_d = int(p.get("n", 5_000)), list(p.get("seeds", [0, 1, 2])), int(p.get("max_dim", 5))
    tasks = [t for t in mi_tasks.all_tasks() if t.family in ("gaussian-dense", "gaussian-sparse") and t.dim_x <= max_d]
    rows = []
    for spec in p.get("estimators", [{"name": "ksg", "params": {"k": 3}}, {"name": "gaussian"}]):
        for task in tasks:
            target = f"{spec['name']}_{task.name}_n{n}_mae"
            try:
                est = estimators.get(spec["name"], **spec.get("params", {}))
                res = [est.run(*task.sample(n, s)) for s in seeds]
                bad = [r.error for r in res if not r.ok]
                if bad:
                    raise RuntimeError(bad[0])
                mae = float(np.mean([abs(r.value - task.truth) for r in res]))
                rows.append(_row(target, mae, 0.05, "<=", "nats",
                                 f"mean |estimate - truth| over seeds {seeds}; truth {task.truth:.4f}"))
            except Exception as exc:
                rows.append(_row(target, float("nan"), 0.05, "<=", "nats", "", f"{type(exc).__name__}: {exc}"))
    return rows


def target_ksg_backend_rule(p: dict) -> list[dict]:
    """The "auto" backend's choice against the faster of the two, timed on the same samples: per
    (task, n), auto's seconds over the faster backend's (<= 1.5: a choice off by more than timing noise
    is a wrong rule). The crossover itself is in the detail column (both backends' seconds)."""
    import estimators

    rows = []
    for name in p.get("tasks", ["gauss-dense-d2", "gauss-dense-d5", "gauss-dense-d10"]):
        task = mi_tasks.get_task(name)
        for n in p.get("sample_sizes", [1000, 5000]):
            x, y = task.sample(int(n), 0)[:2]
            sec, est = {}, {}
            for backend in ("kdtree", "torch", "auto"):
                est[backend] = estimators.get("ksg", k=3, backend=backend, device="cpu")
                sec[backend], _ = _median_time(lambda: est[backend].estimate(x, y), int(p.get("repeats", 1)))
            dim = task.dim_x + task.dim_y
            chose = "kdtree" if est["auto"].uses_kdtree(dim, int(n)) else "torch"
            best = min(sec["kdtree"], sec["torch"])
            rows.append(_row(f"ksg_auto_backend_{name}_n{n}", sec["auto"] / best, 1.5, "<=", "x",
                             f"joint dim {dim}, auto -> {chose}; kdtree {sec['kdtree']:.4f} s, torch "
                             f"{sec['torch']:.4f} s, auto {sec['auto']:.4f} s (CPU, median of "
                             f"{p.get('repeats', 1)} after a warm-up)"))
    return rows


def sklearn_kde_mi(x: np.ndarray, y: np.ndarray, kernel: str, bandwidth: float) -> float:
    """The resubstitution KDE estimate of I(X;Y) = mean log p(x,y) - log p(x) - log p(y) with
    scikit-learn's KernelDensity fitted and evaluated on the same samples: the computation behind bmi's
    KDEMutualInformationEstimator (Czyz et al. 2023), our peer for the speed of the pairwise-distance
    KDE, which also evaluates n x n kernels three times."""
    from sklearn.neighbors import KernelDensity

    def log_density(v: np.ndarray) -> np.ndarray:
        return KernelDensity(kernel=kernel, bandwidth=bandwidth).fit(v).score_samples(v)

    return float(np.mean(log_density(np.hstack([x, y])) - log_density(x) - log_density(y)))


def target_kde_vs_sklearn(p: dict) -> list[dict]:
    """Our KDE (pairwise-KL, continuous pair) against scikit-learn's KernelDensity MI on the same
    standardised samples: the peer's seconds over ours (>= 1: at least as fast as the peer)."""
    import estimators

    rows = []
    noise_var = float(p.get("noise_var", 0.1))
    for name in p.get("tasks", ["gauss-dense-d1", "gauss-dense-d5"]):
        task = mi_tasks.get_task(name)
        for n in p.get("sample_sizes", [5000]):
            x, y = (np.asarray(v, dtype=np.float64) for v in task.sample(int(n), 0)[:2])
            x, y = ((v - v.mean(0)) / v.std(0) for v in (x.reshape(len(x), -1), y.reshape(len(y), -1)))
            est = estimators.get("kde", noise_var=noise_var, device="cpu")
            ours, value = _median_time(lambda: est.estimate(x, y), int(p.get("repeats", 3)))
            for kernel in p.get("peer_kernels", ["tophat", "gaussian"]):
                peer, peer_value = _median_time(lambda: sklearn_kde_mi(x, y, kernel, noise_var ** 0.5),
                                                int(p.get("repeats", 3)))
                rows.append(_row(f"kde_speed_vs_sklearn_kde_{kernel}_{name}_n{n}", peer / ours, 1.0, ">=", "x",
                                 f"ours {ours:.4f} s ({value:.4f} nats, noise_var {noise_var}); sklearn "
                                 f"KernelDensity {kernel}, bandwidth sqrt(noise_var): {peer:.4f} s "
                                 f"({peer_value:.4f} nats: the same estimate with the Gaussian kernel, whose normalising "
                                 f"constants cancel in the MI; another with the tophat); "
                                 f"median of {p.get('repeats', 3)} after a warm-up"))
    return rows


TARGETS: dict[str, Callable[[dict], list[dict]]] = {
    "ksg_backend_rule": target_ksg_backend_rule,  # auto within 1.5x of the faster backend
    "kde_vs_sklearn": target_kde_vs_sklearn,  # at least as fast as scikit-learn's KernelDensity MI
    "ksg_gaussian_2d": target_ksg_gaussian_2d,  # <= 0.1 s and |err| <= 0.02 at n = 10,000, k = 3
    "binning_per_filter_mi": target_binning_per_filter,  # 512 filters x 10 classes, n = 10,000: <= 0.2 s
    "gmi_conditional": target_gmi_conditional,  # >= 50x faster than the double loop, same value
    "renyi_filter_relevance": target_renyi_filter_relevance,  # 512 filters, batch of 100 maps: <= 1 s
    "gaussian_tasks_accuracy": target_gaussian_tasks_accuracy,  # ksg, gaussian within 0.05 nats, d <= 5
}


def run_targets(targets_cfg: dict) -> pd.DataFrame:
    rows = []
    for name, params in targets_cfg.items():
        if params is None or params is False:
            continue
        log.info("target %s", name)
        try:
            rows.extend(TARGETS[name](params if isinstance(params, dict) else {}))
        except Exception as exc:  # a target whose code is missing or broken is a failed row, not a crash
            rows.append(_row(name, float("nan"), float("nan"), "", "", "", f"{type(exc).__name__}: {exc}"))
    return pd.DataFrame(rows, columns=TARGET_COLUMNS)


# ---------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------

def _write_provenance(path: Path, **kw: Any) -> Path:
    try:
        from .provenance import write_provenance
    except ImportError:  # the shared module is optional for this job: write a minimal record instead
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"result": str(path), **kw}, indent=2, default=str) + "\n")
        return path
    return write_provenance(path, **kw)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.mi_benchmark", description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="YAML with estimator_benchmark:")
    ap.add_argument("--scale", choices=SCALES, default="paper")
    ap.add_argument("--out-raw", type=Path, required=True, help="per-run CSV")
    ap.add_argument("--out-table", type=Path, required=True, help="table CSV (results/table2.csv)")
    ap.add_argument("--out-targets", type=Path, default=None,
                    help="targets CSV (default: <table dir>/perf/estimators_targets.csv)")
    ap.add_argument("--fig-dir", type=Path, required=True)
    ap.add_argument("--provenance", type=Path, default=None,
                    help="provenance JSON (default: beside the table, <stem>.provenance.json)")
    ap.add_argument("--threads", type=int, default=None,
                    help="cores given to this job (default: the CPU affinity); torch uses the config's "
                         "'threads' when set and not larger, else all of them")
    ap.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    ap.add_argument("--log", type=Path, default=None, help="also append log lines to this file")
    return ap.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    from . import logs

    logs.setup(args.log)
    start = time.perf_counter()
    try:
        cfg = load_config(args.config, args.scale)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.threads is not None:
        cfg["job_cores"] = args.threads
    raw = run_benchmark(cfg, progress=not args.no_progress)
    table = summarise(raw, cfg["table_n"], cfg["scale"])
    targets = run_targets(cfg.get("targets", {}))

    out_targets = args.out_targets or args.out_table.parent / "perf" / "estimators_targets.csv"
    outputs = [args.out_raw, args.out_table, out_targets]
    for df, path in zip((raw, table, targets), outputs):
        path.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(path, index=False)
    figs = make_figures(raw, table, args.fig_dir)
    prov = args.provenance or args.out_table.with_name(args.out_table.stem + ".provenance.json")
    code = [Path(mi_tasks.__file__), Path(__file__)]
    try:
        import estimators

        code += sorted(Path(estimators.__file__).parent.glob("*.py"))
    except ImportError:
        pass
    argv_used = list(sys.argv[1:] if argv is None else argv)
    _write_provenance(prov, command=" ".join([sys.executable, "-m", "benchmarks.mi_benchmark", *argv_used]),
                      config=cfg, scale=cfg["scale"], wall_seconds=time.perf_counter() - start, device=cfg["device"],
                      inputs=[str(args.config), str(SCHEMA_PATH), *map(str, code)],
                      outputs=[*map(str, outputs), *map(str, figs)])
    n_fail = int((raw["status"] == "failed").sum()) if not raw.empty else 0
    n_pass = int(targets["pass"].sum()) if not targets.empty else 0
    log.info("%d runs (%d failed), %d table rows, targets passed %d/%d, %.1f s", len(raw), n_fail, len(table),
             n_pass, len(targets), time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
