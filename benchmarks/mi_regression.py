"""Regression report of the estimator benchmark: a run's table (``results/table2.csv`` format) against a
reference table (by default the committed ``results/table2.csv``, or any earlier run), per estimator, task
and sample size:

* accuracy: the change in mean absolute error against the ground truth (nats; for dimensionless
  estimators, which have no MAE, the change of the mean estimate is shown and not flagged);
* time: the ratio of median seconds per call (now / reference). Times measured on different machines, or
  under different load, are not comparable: the report says when the two runs' machines differ;
* flags: ``less accurate`` when the MAE grew by more than ``error_tolerance`` nats, ``slower`` when the
  time ratio exceeds ``time_factor``, ``now fails`` when runs that succeeded fail, ``not run`` / ``new``
  for rows on one side only.

``python -m benchmarks.mi_regression --current results/estimators/check/table2.csv --reference
results/table2.csv --out results/estimators/check/regression.csv --figure figures/estimators/regression.png
[--error-tolerance 0.02 --time-factor 2 --fail-on-regression]``: exit status 1 when anything is flagged
and ``--fail-on-regression`` is given (what a CI job needs), 0 otherwise.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

log = logging.getLogger("ibbench.mi_regression")
KEY = ["estimator", "task", "n"]
REPORT_COLUMNS = [*KEY, "units", "truth", "mae_reference", "mae_now", "mae_change", "estimate_reference",
                  "estimate_now", "seconds_reference", "seconds_now", "time_ratio", "failures_reference",
                  "failures_now", "flag"]
FLAGS = ("less accurate", "slower", "now fails")


def _read_table(path: Path) -> pd.DataFrame:
    d = pd.read_csv(path)
    missing = [c for c in (*KEY, "units", "truth", "mean_estimate", "mae", "median_seconds", "runs", "failures")
               if c not in d.columns]
    if missing:
        raise ValueError(f"{path}: not an estimator benchmark table (results/table2.csv format): missing "
                         f"columns {missing}")
    return d


def compare(current: pd.DataFrame, reference: pd.DataFrame, error_tolerance: float = 0.02,
            time_factor: float = 2.0) -> pd.DataFrame:
    """One row per (estimator, task, n) of either table (module docstring)."""
    if not error_tolerance >= 0 or not time_factor >= 1:
        raise ValueError(f"error_tolerance must be >= 0 and time_factor >= 1, got {error_tolerance}, {time_factor}")
    cols = ["units", "truth", "mean_estimate", "mae", "median_seconds", "failures", "runs"]
    m = reference[KEY + cols].merge(current[KEY + cols], on=KEY, how="outer", suffixes=("_ref", "_now"),
                                    indicator=True)
    rows = []
    for d in m.to_dict("records"):
        out = {k: d[k] for k in KEY}
        out["units"] = d["units_now"] if isinstance(d["units_now"], str) else d["units_ref"]
        out["truth"] = d["truth_now"] if not pd.isna(d["truth_now"]) else d["truth_ref"]
        out.update(mae_reference=d["mae_ref"], mae_now=d["mae_now"], estimate_reference=d["mean_estimate_ref"],
                   estimate_now=d["mean_estimate_now"], seconds_reference=d["median_seconds_ref"],
                   seconds_now=d["median_seconds_now"], failures_reference=d["failures_ref"],
                   failures_now=d["failures_now"])
        out["mae_change"] = d["mae_now"] - d["mae_ref"]
        ok_times = not pd.isna(d["median_seconds_ref"]) and d["median_seconds_ref"] > 0 and not pd.isna(d["median_seconds_now"])
        out["time_ratio"] = d["median_seconds_now"] / d["median_seconds_ref"] if ok_times else float("nan")
        if d["_merge"] == "left_only":
            flag = "not run"
        elif d["_merge"] == "right_only":
            flag = "new"
        else:
            flags = []
            if out["units"] == "nats" and not pd.isna(out["mae_change"]) and out["mae_change"] > error_tolerance:
                flags.append("less accurate")
            if not pd.isna(out["time_ratio"]) and out["time_ratio"] > time_factor:
                flags.append("slower")
            now_fail = d["failures_now"] - (0 if pd.isna(d["failures_ref"]) else d["failures_ref"])
            if not pd.isna(now_fail) and now_fail > 0:
                flags.append("now fails")
            flag = ", ".join(flags) or "ok"
        out["flag"] = flag
        rows.append(out)
    return pd.DataFrame(rows, columns=REPORT_COLUMNS).sort_values(KEY, ignore_index=True)


def _is_flagged(flag: str) -> bool:
    return any(x in flag for x in FLAGS)


def flagged(report: pd.DataFrame) -> pd.DataFrame:
    return report[report["flag"].apply(_is_flagged)]


def summary(report: pd.DataFrame) -> pd.DataFrame:
    """Per estimator: rows compared, flagged, the largest MAE growth and the median time ratio."""
    rows = []
    for est, g in report.groupby("estimator", sort=True):
        both = g[~g["flag"].isin(["new", "not run"])]
        rows.append({"estimator": est, "compared": len(both), "less_accurate": int(both["flag"].str.contains("less accurate").sum()),
                     "slower": int(both["flag"].str.contains("slower").sum()),
                     "now_fails": int(both["flag"].str.contains("now fails").sum()),
                     "new": int((g["flag"] == "new").sum()), "not_run": int((g["flag"] == "not run").sum()),
                     "max_mae_change": both["mae_change"].max() if both["mae_change"].notna().any() else float("nan"),
                     "median_time_ratio": both["time_ratio"].median() if both["time_ratio"].notna().any() else float("nan")})
    return pd.DataFrame(rows)


def machines(current: Path, reference: Path) -> Optional[str]:
    """A sentence when the provenance of the two tables names different CPUs, or a load average that
    differs by more than one busy core (None when they agree or are unknown)."""
    def device(table: Path) -> dict:
        prov = table.with_name(table.stem + ".provenance.json")
        try:
            return json.loads(prov.read_text())["device"] or {}
        except (OSError, KeyError, ValueError, TypeError):
            return {}

    a, b = device(current), device(reference)
    notes = []
    if a.get("cpu") and b.get("cpu") and a["cpu"] != b["cpu"]:
        notes.append(f"the runs were timed on different machines ({a['cpu']} now, {b['cpu']} reference)")
    load_a, load_b = ((d.get("load_average_1_5_15min") or [None])[0] for d in (a, b))
    if load_a is not None and load_b is not None and abs(load_a - load_b) > 1.0:
        notes.append(f"under different load (1-minute load average {load_a:g} now, {load_b:g} reference)")
    return "; ".join(notes) + ": time ratios compare those too" if notes else None


def plot(report: pd.DataFrame, path: Path, error_tolerance: float, time_factor: float, note: str = "") -> Path:
    from .plotting import pyplot, save_figure

    plt = pyplot()
    ests = sorted(report["estimator"].unique())
    fig, ax = plt.subplots(figsize=(7.5, 5))
    both = report[~report["flag"].isin(["new", "not run"])]
    for i, est in enumerate(ests):
        g = both[both["estimator"] == est]
        x = g["time_ratio"].where(g["time_ratio"] > 0)
        y = g["mae_change"].fillna(0.0)
        bad = g["flag"].apply(_is_flagged)
        ax.scatter(x[~bad], y[~bad], s=14, color=f"C{i % 10}", label=est, alpha=0.7)
        ax.scatter(x[bad], y[bad], s=40, color=f"C{i % 10}", marker="x")
    ax.axhline(error_tolerance, color="k", linestyle=":", linewidth=1)
    ax.axvline(time_factor, color="k", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("time now / reference (median seconds per call)")
    ax.set_ylabel("MAE now - reference (nats)")
    ax.legend(fontsize=7, ncol=2)
    n_flag = len(flagged(report))
    ax.set_title(f"estimator regression: {n_flag} flagged of {len(both)} compared (x: flagged; dotted: the "
                 f"limits){chr(10) + note if note else ''}", fontsize=8)
    return save_figure(fig, path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.mi_regression", description=__doc__.split("\n")[0])
    ap.add_argument("--current", type=Path, required=True, help="the run's table (results/table2.csv format)")
    ap.add_argument("--reference", type=Path, required=True, help="the reference table (e.g. results/table2.csv)")
    ap.add_argument("--out", type=Path, required=True, help="report CSV; the summary goes to <stem>_summary.csv")
    ap.add_argument("--figure", type=Path, default=None)
    ap.add_argument("--error-tolerance", type=float, default=0.02, help="MAE growth that is flagged (nats)")
    ap.add_argument("--time-factor", type=float, default=2.0, help="time ratio that is flagged")
    ap.add_argument("--fail-on-regression", action="store_true", help="exit 1 when anything is flagged")
    from . import fileio, logs
    from .provenance import write_provenance

    logs.add_record_arguments(logs.add_job_arguments(ap, threads=False))
    a = ap.parse_args(argv)
    logs.start_job(a)
    t0 = time.perf_counter()
    try:
        report = compare(_read_table(a.current), _read_table(a.reference), a.error_tolerance, a.time_factor)
    except (OSError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    note = machines(a.current, a.reference) or ""
    if note:
        log.warning("%s", note)
    fileio.atomic_write(a.out, lambda tmp: report.to_csv(tmp, index=False, float_format="%.6g"))
    summ = summary(report)
    summ["note"] = note
    summary_path = a.out.with_name(a.out.stem + "_summary.csv")
    fileio.atomic_write(summary_path, lambda tmp: summ.to_csv(tmp, index=False, float_format="%.6g"))
    if a.figure is not None:
        plot(report, a.figure, a.error_tolerance, a.time_factor, note)
    current_scales = sorted(set(pd.read_csv(a.current, usecols=["scale"])["scale"].astype(str)))
    write_provenance(a.out, command=a.command, scale="+".join(current_scales) or "unknown",
                     config={**json.loads(a.config), "error_tolerance": a.error_tolerance, "time_factor": a.time_factor},
                     wall_seconds=time.perf_counter() - t0, inputs=[str(a.current), str(a.reference)],
                     outputs=[str(p) for p in (a.out, summary_path, a.figure) if p is not None])
    bad = flagged(report)
    for r in bad.itertuples(index=False):
        log.warning("%s on %s n=%s: %s (MAE %+.4g nats, time x%.3g)", r.estimator, r.task, r.n, r.flag,
                    r.mae_change if not math.isnan(r.mae_change) else 0.0, r.time_ratio)
    log.info("%d rows compared, %d flagged (error tolerance %g nats, time factor %g)",
             int((~report["flag"].isin(["new", "not run"])).sum()), len(bad), a.error_tolerance, a.time_factor)
    return 1 if (a.fail_on_regression and len(bad)) else 0


if __name__ == "__main__":
    sys.exit(main())
