"""results/vibnet/tableN.csv: the VIBNet paper's tables with the paper's rows beside ours.

For each protocol of a paper table (config ``vibnet.tables``), the sweep runs (gamma, or kl_fac in the
code form; every seed) are averaged per sweep value. The value reported as "ours" is chosen on the
*validation* split: the smallest r_W among the sweep values whose mean validation error, minus the
validation-test offset of our split measured on the unpruned baselines (``split_offset_pct``; rule
``split_offset``, the default; ``raw`` leaves it out), is within ``tolerance`` percentage points of the
paper's VIBNet error (the paper tunes gamma to match its error). The rule is fixed before any sweep
value's test error is read. If no value gets there, the one with the lowest validation error is reported
and the row says so. Beside the chosen row, the goal read off the whole sweep on the test set (mean of
seeds): ``r_w_at_paper_error_pct``, where the sweep's frontier (log r_W linear in the error between the two
sweep values that bracket it) crosses the paper's error + ``tolerance`` (NaN when no pair brackets it), and
``smallest_r_w_within_error_pct``, the smallest r_W of a sweep value whose test error is within it.

Rows: the paper's reported rows (``source = paper``, from ``results/reference/vibnet_tableN.csv``; the
competitors are reported-only), our chosen VIBNet row (``source = ibbench``) with its differences to the
paper's VIBNet row, and, where the pruning core ran on the same benchmark, its baselines (L1-norm,
random) at the target ratio whose r_W is closest to ours. ``tableN_sweep.csv`` and
``figures/vibnet/tableN_sweep.png`` hold the whole sweep (error vs r_W, one point per sweep value).

Units as in the paper: r_W, r_N and errors in percent, FLOPs in millions of multiply-adds per input.
"""
from __future__ import annotations

import argparse
import itertools
import json
import logging
import time
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from ... import logs
from ...plotting import pyplot, save_figure
from ...provenance import write_provenance
from ...reference import load_reference
from ...studies import record_setting

log = logging.getLogger("ibbench.vibnet_tables")

REFERENCE_COLUMNS = ("method", "r_w_pct", "r_n_pct", "error_pct")
REFERENCE_NUMERIC = ("r_w_pct", "flops_m", "r_n_pct", "error_pct", "error_finetuned_pct")


def run_row(r: dict) -> dict:
    m = r["metrics"]
    return {"benchmark": r["benchmark"], "scale": r["scale"], "seed": r["seed"],
            "setting": record_setting(r),
            "error_pct": 100 * r["test_before_finetune"]["error"],
            "error_finetuned_pct": 100 * r["test"]["error"] if r.get("finetune_protocol") else np.nan,
            "val_error_pct": 100 * r["val"]["error"] if "val" in r else np.nan, "r_w_pct": 100 * m["r_w"], "r_n_pct": 100 * m["r_n"],
            "flops_m": m["flops"] / 1e6, "pruned_model": r["pruned_architecture"],
            "method_seconds": r["method_seconds"]}


def sweep_table(runs: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame([run_row(r) for r in runs])
    g = df.groupby(["benchmark", "scale", "setting"], sort=False)
    out = g.agg(seeds=("seed", "nunique"), error_pct=("error_pct", "mean"), error_pct_std=("error_pct", "std"),
                error_finetuned_pct=("error_finetuned_pct", "mean"), val_error_pct=("val_error_pct", "mean"),
                r_w_pct=("r_w_pct", "mean"), r_n_pct=("r_n_pct", "mean"), flops_m=("flops_m", "mean"),
                pruned_model=("pruned_model", "first"), method_seconds=("method_seconds", "mean")).reset_index()
    out["error_pct_std"] = out["error_pct_std"].fillna(0.0)
    return out


def r_w_at_error(points: pd.DataFrame, error_pct: float) -> float:
    """r_W where the frontier through ``points`` (error_pct, r_w_pct; one per gamma) crosses ``error_pct``,
    log r_W linear in the error between the two bracketing gammas; NaN when no pair brackets it."""
    p = points.sort_values("r_w_pct")
    for (_, lo), (_, hi) in zip(p.iloc[:-1].iterrows(), p.iloc[1:].iterrows()):
        e0, e1 = lo["error_pct"], hi["error_pct"]  # smaller network (higher error) first
        if min(e0, e1) <= error_pct <= max(e0, e1) and e0 != e1:
            t = (error_pct - e0) / (e1 - e0)
            return float(np.exp(np.log(lo["r_w_pct"]) + t * (np.log(hi["r_w_pct"]) - np.log(lo["r_w_pct"]))))
    return np.nan


def smallest_r_w_within(points: pd.DataFrame, error_pct: float) -> float:
    """The smallest r_W among ``points`` (one per gamma) whose test error is at most ``error_pct``: a bound on
    the frontier's crossing read on the test set, for a sweep whose gammas do not bracket the error; NaN
    when no gamma is that accurate."""
    ok = points[points["error_pct"] <= error_pct]
    return float(ok["r_w_pct"].min()) if len(ok) else np.nan


SELECTION_RULES = ("split_offset", "raw")


def split_offset_pct(baselines: list[dict]) -> float:
    """How much higher our validation split reads than the test set, in percentage points: the mean over
    the unpruned baselines' seeds of validation error minus test error. The selection rule subtracts it
    so that a sweep value is not penalised for our split (the 5,000 held-out images read 0.2-0.5 pp above
    the test set at every gamma); it is fixed by the baselines before any sweep value's test error is
    looked at."""
    if not baselines:
        raise ValueError("split_offset: no baseline records to measure the validation-test offset on")
    return float(np.mean([100 * (b["val"]["error"] - b["test"]["error"]) for b in baselines]))


def split_offsets(baselines: list[dict]) -> dict[str, float]:
    """``split_offset_pct`` per benchmark of the given baseline records (NaN for a benchmark without a
    validation split)."""
    return {b: split_offset_pct([r for r in baselines if r["benchmark"] == b])
            for b in {r["benchmark"] for r in baselines}}


def choose(sweep: pd.DataFrame, paper_error: float, tolerance: float, offset: float = 0.0) -> tuple[pd.Series, str]:
    ok = sweep[sweep["val_error_pct"] - offset <= paper_error + tolerance]
    shifted = f" minus the split offset {offset:+.2f} pp" if offset else ""
    if len(ok):
        return ok.sort_values("r_w_pct").iloc[0], (
            f"smallest r_W with validation error{shifted} <= paper error {paper_error:g} + {tolerance:g} pp")
    best = sweep.sort_values("val_error_pct").iloc[0]
    return best, (f"paper error {paper_error:g}% (+{tolerance:g} pp) not reached on validation{shifted} by any "
                  f"sweep value; lowest validation error shown")


def closest_baselines(baseline_runs: list[dict], benchmark: str, r_w_pct: float) -> list[dict]:
    rows = [run_row(r) | {"method": r["method"], "ratio": r["target"]["ratio"]} for r in baseline_runs
            if r["benchmark"] == benchmark]
    if not rows:
        return []
    df = pd.DataFrame(rows)
    agg = df.groupby(["method", "ratio"]).agg(
        seeds=("seed", "nunique"), error_pct=("error_finetuned_pct", "mean"), error_pct_std=("error_finetuned_pct", "std"),
        r_w_pct=("r_w_pct", "mean"), r_n_pct=("r_n_pct", "mean"), flops_m=("flops_m", "mean"),
        pruned_model=("pruned_model", "first")).reset_index()
    out = []
    for method, grp in agg.groupby("method"):
        best = grp.iloc[(grp["r_w_pct"] - r_w_pct).abs().argsort().iloc[0]]
        out.append({"source": "ibbench", "method": f"{method} (pruning core, ratio {best['ratio']:g}, fine-tuned)",
                    **{k: best[k] for k in ("seeds", "error_pct", "r_w_pct", "r_n_pct", "flops_m", "pruned_model")},
                    "error_pct_std": 0.0 if pd.isna(best["error_pct_std"]) else best["error_pct_std"]})
    return out


def build(runs: list[dict], reference: pd.DataFrame, tolerance: float, baseline_runs: list[dict],
          tables: dict, target_factor: float,
          split_offsets: Optional[dict[str, float]] = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``tables``: the config tables of this paper table (``vibnet.tables.<name>``); a run belongs to the
    one its study names. ``split_offsets``: benchmark -> ``split_offset_pct`` of its baselines (the
    split_offset rule); None chooses on the raw validation error."""
    by_table: dict[str, list[dict]] = {}
    for r in runs:
        by_table.setdefault(r["study"]["name"], []).append(r)
    rows, sweeps = [], []
    for config_table, trs in by_table.items():
        protocol = tables[config_table].get("paper_protocol") or ""
        pref = reference[reference["protocol"] == protocol] if "protocol" in reference.columns else reference
        for _, pr in pref.iterrows():
            rows.append({"protocol": protocol, "source": "paper", "method": pr["method"],
                         **{k: pr[k] for k in ("r_w_pct", "flops_m", "r_n_pct", "error_pct", "error_finetuned_pct",
                                               "pruned_model") if k in pr.index and not pd.isna(pr[k])}})
        paper = pref[pref["method"] == "VIBNet"].iloc[0]
        sweep = sweep_table(trs)
        sweep.insert(0, "protocol", protocol)
        sweeps.append(sweep)
        benchmark = sweep["benchmark"].iloc[0]
        if split_offsets is not None and benchmark not in split_offsets:
            raise ValueError(f"split_offset rule: no baseline records of benchmark {benchmark!r} were given")
        offset = 0.0 if split_offsets is None else split_offsets[benchmark]
        best, why = choose(sweep, float(paper["error_pct"]), tolerance, offset)
        ours = {"protocol": protocol, "source": "ibbench", "method": "VIBNet", "setting": best["setting"],
                **{k: best[k] for k in ("seeds", "error_pct", "error_pct_std", "error_finetuned_pct", "val_error_pct",
                                        "r_w_pct", "r_n_pct", "flops_m", "pruned_model", "method_seconds")},
                "split_offset_pct": offset, "scale": best["scale"], "selection": why}
        for k in ("r_w_pct", "flops_m", "r_n_pct", "error_pct", "error_finetuned_pct"):
            if k in paper.index and not pd.isna(paper[k]) and not pd.isna(ours.get(k, np.nan)):
                ours[f"diff_{k}"] = ours[k] - float(paper[k])
        within = abs(ours["error_pct"] - float(paper["error_pct"])) <= tolerance
        small = all(ours[k] <= target_factor * float(paper[k]) for k in ("r_w_pct", "r_n_pct")
                    if k in paper.index and not pd.isna(paper[k]))
        ours["meets_target"] = bool(within and small)
        # the goal read off the whole sweep on the test set, beside the row the validation rule chose
        goal_error = float(paper["error_pct"]) + tolerance
        ours["r_w_at_paper_error_pct"] = r_w_at_error(sweep, goal_error)
        ours["smallest_r_w_within_error_pct"] = smallest_r_w_within(sweep, goal_error)
        rows.append(ours)
        for b in closest_baselines(baseline_runs, best["benchmark"], ours["r_w_pct"]):
            rows.append({"protocol": protocol, "scale": best["scale"], **b})
    cols = ["protocol", "source", "method", "setting", "scale", "seeds", "r_w_pct", "flops_m", "r_n_pct", "error_pct",
            "error_pct_std", "error_finetuned_pct", "val_error_pct", "split_offset_pct", "pruned_model", "diff_r_w_pct",
            "diff_flops_m", "diff_r_n_pct", "diff_error_pct", "diff_error_finetuned_pct", "meets_target",
            "r_w_at_paper_error_pct", "smallest_r_w_within_error_pct", "selection", "method_seconds"]
    table = pd.DataFrame(rows)
    table = table[[c for c in cols if c in table.columns]]
    if table["protocol"].eq("").all():
        table = table.drop(columns="protocol")
    return table, pd.concat(sweeps, ignore_index=True)


def _annotate_apart(ax, points) -> None:
    """Label (x, y, label, colour) points on a log x axis; a point close to the previous one (within a
    factor 1.6 in x) takes the next vertical offset, so clustered labels do not print over each other."""
    offsets = [(3, 3), (3, -10), (3, 12), (3, -19)]
    level, last_x = 0, None
    for x, y, label, colour in sorted(points):
        level = (level + 1) % len(offsets) if last_x is not None and x < last_x * 1.6 else 0
        ax.annotate(label, (x, y), xytext=offsets[level], textcoords="offset points", fontsize=7, color=colour)
        last_x = x


def _short_setting(setting: str) -> str:
    """'gamma=0.0002' -> 'γ=2e-04' (a sweep point's label)."""
    name, _, value = str(setting).partition("=")
    try:
        return f"{'γ' if name == 'gamma' else name}={float(value):.0e}"
    except ValueError:
        return str(setting)


def plot(sweep: pd.DataFrame, table: pd.DataFrame, path: Path, title: str) -> None:
    plt = pyplot()
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    protocols = list(dict.fromkeys(sweep["protocol"]))
    fig, axes = plt.subplots(1, len(protocols), figsize=(5 * len(protocols), 3.8), squeeze=False)
    for ax, proto in zip(axes[0], protocols):
        s = sweep[sweep["protocol"] == proto].sort_values("r_w_pct")
        ax.errorbar(s["r_w_pct"], s["error_pct"], yerr=s["error_pct_std"], marker="o", capsize=2,
                    label=f"ibbench VIBNet sweep ({', '.join(sorted(set(s['scale'])))} scale)")
        labels = [(x, y, _short_setting(t), "C0") for x, y, t in zip(s["r_w_pct"], s["error_pct"], s["setting"])]
        t = table[(table.get("protocol", "") == proto) if "protocol" in table.columns else slice(None)]
        paper = t[t["source"] == "paper"]
        own = paper["method"] == "VIBNet"
        ax.scatter(paper.loc[own, "r_w_pct"], paper.loc[own, "error_pct"], marker="*", s=80, color="black",
                   label="VIBNet (paper)")
        others = paper[~own]
        unnamed = others["method"].astype(str).str.startswith("unnamed")  # names lost in the text extraction
        if unnamed.any():
            ax.scatter(others.loc[unnamed, "r_w_pct"], others.loc[unnamed, "error_pct"], marker="x", s=60,
                       color="grey", label="other methods (paper)")
        # named methods: a marker each, named in the legend (labels beside clustered points overlap)
        for (_, r), marker in zip(others[~unnamed].iterrows(), itertools.cycle("xP^vDs<>ph")):
            ax.scatter(r["r_w_pct"], r["error_pct"], marker=marker, s=45, color="0.45", label=f"{r['method']} (paper)")
        _annotate_apart(ax, labels)
        ax.set_xscale("log")
        # plain numbers at 1, 2, 5 x 10^k read better than "2x10^0" on every minor tick
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("r_W (% of weights kept)")
        ax.set_ylabel("test error (%)")
        ax.set_title(f"{title} {proto}".strip())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5, ncol=2 if len(ax.get_legend_handles_labels()[1]) > 4 else 1)
    save_figure(fig, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="VIBNet paper tables with the paper's rows beside ours")
    p.add_argument("--table", required=True, help="paper table number")
    p.add_argument("--runs", type=Path, nargs="+", required=True)
    p.add_argument("--baseline-runs", type=Path, nargs="*", default=[])
    p.add_argument("--reference", type=Path, required=True)
    p.add_argument("--tolerance", type=float, required=True)
    p.add_argument("--selection-rule", choices=SELECTION_RULES, default="split_offset",
                   help="split_offset: validation error minus the baselines' validation-test offset (default); "
                        "raw: validation error as it is")
    p.add_argument("--baselines", type=Path, nargs="*", default=[],
                   help="the unpruned baselines' records (results/baselines/<benchmark>/seed<s>.json)")
    p.add_argument("--target-factor", type=float, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--sweep-out", type=Path, required=True)
    p.add_argument("--figure", type=Path, required=True)
    logs.add_record_arguments(logs.add_job_arguments(p, threads=False))
    a = p.parse_args(argv)
    logs.start_job(a)
    t0 = time.perf_counter()
    runs = [json.loads(f.read_text()) for f in a.runs]
    baseline_runs = [json.loads(f.read_text()) for f in a.baseline_runs]
    config = json.loads(a.config)
    offsets = None
    if a.selection_rule == "split_offset":
        baselines = [json.loads(f.read_text()) for f in a.baselines]
        offsets = split_offsets(baselines)
        log.info("split offsets (validation minus test error of the baselines, pp): %s", offsets)
    table, sweep = build(runs, load_reference(a.reference, REFERENCE_COLUMNS, REFERENCE_NUMERIC), a.tolerance,
                         baseline_runs, config, a.target_factor, offsets)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    table.round(4).to_csv(a.out, index=False)
    sweep.round(4).to_csv(a.sweep_out, index=False)
    plot(sweep, table, a.figure, f"VIBNet Table {a.table}")
    write_provenance(a.out, command=a.command, config=config, scale=",".join(sorted({r["scale"] for r in runs})),
                     wall_seconds=sum(r["wall_seconds"] for r in runs) + time.perf_counter() - t0,
                     inputs=[str(f) for f in a.runs + a.baseline_runs + a.baselines + [a.reference]],
                     outputs=[str(a.out), str(a.sweep_out), str(a.figure)],
                     device=",".join(sorted({r["device"] for r in runs})))
    log.info("\n%s", table.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
