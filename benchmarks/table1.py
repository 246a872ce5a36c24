"""results/table1.csv: pruning methods side by side on the MNIST benchmarks, measured the same way on the
physically pruned networks, and figures/table1.png (error vs r_W and vs FLOPs, one curve per method).

One row per benchmark x method x setting (target ratio, the sweep value of methods like VIBNet whose
compression follows from a penalty weight, or a named set of final widths; mean and spread over seeds) x
fine-tuning protocol, plus one unpruned baseline row per benchmark. Columns:
  finetune: the fine-tuning protocol's name (a CPU overlay's protocol says so in its name, e.g. aura's
  ``hrel_lenet5_finetune_cpu``; none for methods trained from scratch),
  error_pct (mean, std over seeds), error_before_finetune_pct, baseline_error_pct, r_w_pct (nonzero weights
  of conv/linear layers, pruned / original), flops (multiply-adds of conv and linear layers for one input),
  flops_pct, r_n_pct (activation memory, pruned / original), csr_mb (weights in scipy CSR), latency
  (median ms, batch 1 and 128, CPU), ece, pruned architecture (of the first seed; all seeds listed in
  architectures when they differ), the method's own wall time (scoring + surgery) and fine-tuning time.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import logs
from .plotting import pyplot, save_figure
from .provenance import write_provenance
from .studies import Study, check_sweep, record_ratio, record_setting

log = logging.getLogger("ibbench.table1")

METRIC_COLUMNS = {  # output column: key in the run's metrics dict, scale factor
    "r_w_pct": ("r_w", 100.0),
    "flops": ("flops", 1.0),
    "flops_pct": ("flops_ratio", 100.0),
    "r_n_pct": ("r_n", 100.0),
    "params_nonzero": ("params_nonzero", 1.0),
    "csr_mb": ("csr_mb", 1.0),
    "latency_b1_cpu_ms": ("latency_b1_cpu_ms", 1.0),
    "latency_b128_cpu_ms": ("latency_b128_cpu_ms", 1.0),
    "ece": ("ece", 1.0),
}
BASELINE_COLUMNS = ("flops", "params_nonzero", "csr_mb", "latency_b1_cpu_ms", "latency_b128_cpu_ms")


OWNER = "pruning"  # results/pruning/runs/<method>-<benchmark>/ratio<r>/seed<s>.json


def studies(config: dict, scale: str) -> list[Study]:
    """The cross-method comparison's own studies: every ``table1.methods`` entry on every benchmark, swept
    over the target ratios, fine-tuned with ``table1.finetune``. (Papers add their studies' curves with
    ``Study.in_table1``.)"""
    from methods import METHODS

    from .config import finetune_protocol, resolve_benchmark

    t1 = config["table1"]
    out = []
    for method, m in t1["methods"].items():
        for bench in t1["benchmarks"]:
            s = Study(owner=OWNER, name=f"{method}-{bench}", method=method, benchmark=bench, sweep_param="ratio",
                      values=t1["ratios"], seeds=resolve_benchmark(config, bench, scale)["seeds"],
                      params=m.get("params", {}), finetune=finetune_protocol(config, t1["finetune"], scale),
                      scope=m.get("scope", "per_layer"), in_table1=True)
            check_sweep(s, METHODS[method].sweep_params)
            out.append(s)
    return out


def table_benchmarks(config: dict) -> list[str]:
    """Every benchmark with rows in the table: those with the comparison's own sweep, then those whose rows
    come only from the papers' studies (``table1.study_benchmarks``)."""
    t1 = config["table1"]
    return list(dict.fromkeys([*t1["benchmarks"], *t1.get("study_benchmarks", [])]))


def table_runs(config: dict, all_studies) -> list[str]:
    """The run records behind the table: every ``in_table1`` study on one of its benchmarks."""
    benches = set(table_benchmarks(config))
    return [r for s in all_studies if s.in_table1 and s.benchmark in benches for r in s.records()]


def _row(r: dict) -> dict:
    m = r["metrics"]
    ratio = record_ratio(r)  # None: the method's compression follows from another swept parameter
    row = {"benchmark": r["benchmark"], "scale": r["scale"], "method": r["method"],
           "scope": r["target"]["scope"], "setting": record_setting(r), "finetune": r.get("finetune_protocol") or "",
           "ratio": np.nan if ratio is None else ratio, "seed": r["seed"],
           "error_pct": 100 * r["test"]["error"], "error_before_finetune_pct": 100 * r["test_before_finetune"]["error"],
           "baseline_error_pct": 100 * r["baseline_test_error"], "pruned_architecture": r["pruned_architecture"],
           "method_seconds": r["method_seconds"], "finetune_seconds": r["finetune_seconds"]}
    for col, (key, f) in METRIC_COLUMNS.items():
        row[col] = f * m[key] if m.get(key) is not None else np.nan
    return row


def _baseline_rows(runs: list[dict], baselines: list[dict]) -> list[dict]:
    """The unpruned networks, measured by the same metric code (each run records its original too)."""
    rows = []
    first_run = {}
    for r in runs:
        first_run.setdefault(r["benchmark"], r)
    for b in baselines:
        r = first_run.get(b["benchmark"])
        m = r["original_metrics"] if r else {}
        row = {"benchmark": b["benchmark"], "scale": b["scale"], "method": "baseline (unpruned)", "scope": "",
               "setting": "", "finetune": "", "ratio": 0.0, "seed": b["seed"], "error_pct": 100 * b["test"]["error"],
               "error_before_finetune_pct": np.nan, "baseline_error_pct": 100 * b["test"]["error"],
               "pruned_architecture": r["original_architecture"] if r else "", "method_seconds": 0.0,
               "finetune_seconds": 0.0, "r_w_pct": 100.0, "flops_pct": 100.0, "r_n_pct": 100.0,
               "ece": m.get("ece", np.nan)}
        for col in BASELINE_COLUMNS:
            row[col] = m.get(METRIC_COLUMNS[col][0], np.nan)
        rows.append(row)
    return rows


def build_table(runs: list[dict], baselines: list[dict]) -> pd.DataFrame:
    per_seed = pd.DataFrame([_row(r) for r in runs] + _baseline_rows(runs, baselines))
    keys = ["benchmark", "scale", "method", "scope", "setting", "finetune"]  # a protocol never mixes with another
    g = per_seed.groupby(keys, sort=False, dropna=False)
    table = g.agg(ratio=("ratio", "first"), seeds=("seed", "nunique"), error_pct_mean=("error_pct", "mean"), error_pct_std=("error_pct", "std"),
                  error_before_finetune_pct=("error_before_finetune_pct", "mean"),
                  baseline_error_pct=("baseline_error_pct", "mean"),
                  **{c: (c, "mean") for c in METRIC_COLUMNS},
                  pruned_architecture=("pruned_architecture", "first"),
                  architectures=("pruned_architecture", lambda s: " | ".join(sorted(set(s))) if s.nunique() > 1 else ""),
                  method_seconds=("method_seconds", "mean"), finetune_seconds=("finetune_seconds", "mean")).reset_index()
    table["error_pct_std"] = table["error_pct_std"].fillna(0.0)
    order = {m: i for i, m in enumerate(["baseline (unpruned)"] + sorted(set(table["method"]) - {"baseline (unpruned)"}))}
    table = table.sort_values(["benchmark", "method", "r_w_pct"], ascending=[True, True, False],
                              key=lambda c: c.map(order) if c.name == "method" else c)
    return table.reset_index(drop=True)


def plot(table: pd.DataFrame, path: Path) -> None:
    plt = pyplot()
    import matplotlib.ticker

    benches = list(dict.fromkeys(table["benchmark"]))
    fig, axes = plt.subplots(len(benches), 2, figsize=(10, 3.2 * len(benches)), squeeze=False)
    scale = ", ".join(sorted(set(table["scale"])))
    # one colour per method across every panel, so a method reads the same on every benchmark
    colours = {m: plt.cm.tab10(k % 10) for k, m in enumerate(sorted(set(table["method"])))}
    for i, b in enumerate(benches):
        sub = table[table["benchmark"] == b]
        for j, (col, label, logx) in enumerate((("r_w_pct", "r_W: nonzero weights, % of original", False),
                                                ("flops", "FLOPs (multiply-adds per input)", True))):
            ax = axes[i][j]
            for method, grp in sub.groupby("method", sort=False):
                grp = grp.sort_values(col)
                style = dict(marker="*", markersize=12, linestyle="none") if method.startswith("baseline") else \
                    dict(marker="o", linestyle="-")
                ax.errorbar(grp[col], grp["error_pct_mean"], yerr=grp["error_pct_std"], label=method, capsize=2,
                            color=colours[method], **style)
            # a run that did not recover (e.g. a dead network) would flatten every other curve: cut the
            # axis above the rest and write the cut points' values at the top
            typical = float(np.nanpercentile(sub["error_pct_mean"], 90))
            if sub["error_pct_mean"].max() > 4 * typical:
                top = 2.5 * typical
                ax.set_ylim(0, top)
                for _, r in sub[sub["error_pct_mean"] > top].iterrows():
                    ax.annotate(f"{r['method']}: {r['error_pct_mean']:.1f} ± {r['error_pct_std']:.1f}",
                                (r[col], top), xytext=(0, -12), textcoords="offset points", fontsize=7,
                                ha="center", arrowprops={"arrowstyle": "->", "lw": 0.6})
            ax.set_xlabel(label)
            ax.set_ylabel("test error (%)")
            if logx:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # minor labels collide
            ax.set_title(f"{b} ({scale} scale)")
            ax.grid(alpha=0.3)
        axes[i][0].legend(fontsize=8)
    save_figure(fig, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="aggregate pruning runs into results/table1.csv")
    p.add_argument("--runs", type=Path, nargs="+", required=True)
    p.add_argument("--baselines", type=Path, nargs="+", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--figure", type=Path, required=True)
    logs.add_record_arguments(logs.add_job_arguments(p, threads=False))
    a = p.parse_args(argv)
    logs.start_job(a)
    t0 = time.perf_counter()
    runs = [json.loads(f.read_text()) for f in a.runs]
    baselines = [json.loads(f.read_text()) for f in a.baselines]
    table = build_table(runs, baselines)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    table.round(4).to_csv(a.out, index=False)
    plot(table, a.figure)
    scales = sorted({r["scale"] for r in runs})
    write_provenance(a.out, command=a.command, config=json.loads(a.config), scale=",".join(scales),
                     wall_seconds=sum(r["wall_seconds"] for r in runs) + time.perf_counter() - t0,
                     inputs=[str(f) for f in a.runs + a.baselines], outputs=[str(a.out), str(a.figure)],
                     device=",".join(sorted({r["device"] for r in runs})))
    log.info("\n%s", table[["benchmark", "method", "setting", "error_pct_mean", "r_w_pct", "pruned_architecture"]].to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
