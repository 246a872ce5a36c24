"""results/vibnet/<study>.csv: which part of the training protocol moves VIBNet's r_W-vs-error frontier
(issue 15); ``protocol_study`` on LeNet-300-100 (Table 1), ``protocol_study_lenet5`` on LeNet-5 (Table 2).

Each factor of a study of config ``vibnet.protocol_studies`` is its own study (``protocol_<factor>``): the base table's
benchmark, protocol and params with one thing changed, run at the study's gammas on every seed; the base
table's own runs at those gammas are the reference (factor ``base``). Every factor's run is also folded
at each log-alpha threshold of the study after training (factor (e), no retraining; the method's
``threshold_sweep`` report), so the threshold's effect is read from the same trained networks.

Outputs:

- ``<study>_points.csv``: one row per factor, gamma and threshold, means over the seeds: test
  error (and its standard deviation), validation error, r_W (physically pruned network; at the trained
  threshold from the suite's metrics, at the other thresholds from the method's fold of the same network,
  which counts the same Conv/Linear weights), r_N and FLOPs at the trained threshold, kept widths.
- ``<study>.csv``: one row per factor (and per threshold for the threshold sweep), with

  * the row chosen by the documented rule of the VIBNet tables (``tables.choose``: the smallest r_W whose
    validation error minus the benchmark's split offset is within the tolerance of the paper's error);
    a factor without a validation split (trained on all 60,000 images) takes the gamma chosen for the base
    factor, as its hyperparameters are fixed on the validation split;
  * ``r_w_at_paper_error_pct``: r_W where the factor's frontier (the two gammas, log r_W linear in test
    error) crosses the paper's error + tolerance, when the gammas bracket it (no extrapolation): how close
    each factor comes without the selection's noise;
  * ``smallest_r_w_within_error_pct``: the smallest r_W among the factor's gammas whose test error is within
    the paper's error + tolerance (where both gammas are that accurate, the frontier crosses at or below it);
  * ``meets_goal``: the chosen row's test error within the tolerance of the paper's and r_W at most
    ``target_factor`` times the paper's.

The figure draws every factor's frontier with the paper's point and the goal region, and the error and
r_W against the threshold.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ... import logs
from ...plotting import pyplot, save_figure
from ...provenance import write_provenance
from ...reference import load_reference
from . import PROTOCOL_STUDY_PREFIX
from .tables import (REFERENCE_COLUMNS, REFERENCE_NUMERIC, SELECTION_RULES, choose, r_w_at_error, run_row,
                     smallest_r_w_within, split_offsets)

log = logging.getLogger("ibbench.vibnet_protocol_study")


def _nan_to_none_pct(v) -> float:
    return np.nan if v is None else 100 * float(v)


BASE = "base"  # the factor name of the base table's runs


def point_rows(run: dict, base_table: str) -> list[dict]:
    """The run at its trained threshold (measured by the pipeline; after fine-tuning when the run was
    fine-tuned, whose validation error is then the fine-tuned network's too) and at each threshold of its
    sweep (the base table's runs have none; a fine-tuned run's sweep folds the network before fine-tuning,
    so it is left out)."""
    name = run["study"]["name"]
    factor = BASE if name == base_table else name.removeprefix(PROTOCOL_STUDY_PREFIX)
    gamma = float(run["study"]["sweep_value"])
    trained = float(run["method_params"].get("threshold", 0.0))
    base = {"factor": factor, "benchmark": run["benchmark"], "scale": run["scale"], "seed": run["seed"], "gamma": gamma}
    r = run_row(run)
    val = r["val_error_pct"]
    finetuned = bool(run.get("finetune_protocol"))
    rows = [{**base, "threshold": trained, "trained_threshold": True,
             "error_pct": r["error_finetuned_pct"] if finetuned else r["error_pct"],
             "val_error_pct": np.nan if val is None or pd.isna(val) else val, "r_w_pct": r["r_w_pct"],
             "r_n_pct": r["r_n_pct"], "flops_m": r["flops_m"], "pruned_model": r["pruned_model"]}]
    for s in [] if finetuned else (run.get("method_report") or {}).get("threshold_sweep", []):
        if float(s["threshold"]) == trained:
            continue  # the pipeline's own measurement of the same network
        rows.append({**base, "threshold": float(s["threshold"]), "trained_threshold": False,
                     "error_pct": _nan_to_none_pct(s["test_error"]), "val_error_pct": _nan_to_none_pct(s["val_error"]),
                     "r_w_pct": 100 * s["weight_fraction"], "r_n_pct": np.nan, "flops_m": np.nan,
                     "pruned_model": "-".join(str(v) for v in s["kept"].values())})
    return rows


def points_table(runs: list[dict], labels: dict[str, str], base_table: str) -> pd.DataFrame:
    """``labels``: factor -> label, the base first."""
    df = pd.DataFrame([row for r in runs for row in point_rows(r, base_table)])
    g = df.groupby(["factor", "benchmark", "scale", "gamma", "threshold"], sort=False)
    out = g.agg(trained_threshold=("trained_threshold", "first"), seeds=("seed", "nunique"),
                error_pct=("error_pct", "mean"), error_pct_std=("error_pct", "std"),
                val_error_pct=("val_error_pct", "mean"), r_w_pct=("r_w_pct", "mean"), r_n_pct=("r_n_pct", "mean"),
                flops_m=("flops_m", "mean"), pruned_model=("pruned_model", "first")).reset_index()
    out["error_pct_std"] = out["error_pct_std"].fillna(0.0)
    order = {f: i for i, f in enumerate(labels)}
    out = out.sort_values(["factor", "threshold", "gamma"], key=lambda c: c.map(order) if c.name == "factor" else c,
                          kind="stable").reset_index(drop=True)
    out.insert(1, "label", out["factor"].map(labels))
    return out


def summary_table(points: pd.DataFrame, paper: pd.Series, tolerance: float, target_factor: float,
                  offsets: dict[str, float], base_factor: str = BASE) -> pd.DataFrame:
    """One row per factor and threshold: the rule's chosen gamma, its numbers, the interpolated frontier."""
    paper_error, paper_rw = float(paper["error_pct"]), float(paper["r_w_pct"])
    rows, base_choice = [], {}
    # the base factor first: a factor without validation split takes its gamma
    factors = [base_factor] + [f for f in dict.fromkeys(points["factor"]) if f != base_factor]
    for factor in factors:
        fp = points[points["factor"] == factor]
        for threshold, tp in fp.groupby("threshold", sort=True):
            sweep = tp.assign(setting=tp["gamma"].map(lambda g: f"gamma={g:g}"))
            if sweep["val_error_pct"].notna().all():
                offset = offsets.get(tp["benchmark"].iloc[0], 0.0)
                best, why = choose(sweep, paper_error, tolerance, offset)
            elif threshold in base_choice:
                offset = np.nan
                best = sweep[sweep["gamma"] == base_choice[threshold]].iloc[0]
                why = (f"no validation split: the gamma chosen for factor {base_factor!r} "
                       f"({base_choice[threshold]:g})")
            else:
                continue
            if factor == base_factor:
                base_choice[threshold] = float(best["gamma"])
            within = abs(best["error_pct"] - paper_error) <= tolerance
            rows.append({"factor": factor, "label": best["label"], "benchmark": best["benchmark"],
                         "scale": best["scale"], "threshold": threshold, "trained_threshold": best["trained_threshold"],
                         "seeds": best["seeds"], "gamma": best["gamma"], "error_pct": best["error_pct"],
                         "error_pct_std": best["error_pct_std"], "val_error_pct": best["val_error_pct"],
                         "split_offset_pct": offset, "r_w_pct": best["r_w_pct"], "r_n_pct": best["r_n_pct"],
                         "flops_m": best["flops_m"], "pruned_model": best["pruned_model"],
                         "paper_error_pct": paper_error, "paper_r_w_pct": paper_rw,
                         "diff_error_pct": best["error_pct"] - paper_error, "r_w_over_paper": best["r_w_pct"] / paper_rw,
                         "meets_goal": bool(within and best["r_w_pct"] <= target_factor * paper_rw),
                         "r_w_at_paper_error_pct": r_w_at_error(tp, paper_error + tolerance),
                         "smallest_r_w_within_error_pct": smallest_r_w_within(tp, paper_error + tolerance),
                         "selection": why})
    out = pd.DataFrame(rows)
    base = out[(out["factor"] == base_factor) & out["trained_threshold"]]
    if len(base):
        b = base.iloc[0]["r_w_at_paper_error_pct"]
        out["r_w_at_paper_error_vs_base"] = out["r_w_at_paper_error_pct"] / b if b == b else np.nan
    return out


def plot(points: pd.DataFrame, paper: pd.Series, tolerance: float, target_factor: float, path: Path) -> None:
    plt = pyplot()
    fig, (ax, ax_e, ax_w) = plt.subplots(1, 3, figsize=(17, 6.2))
    trained = points[points["trained_threshold"]]
    colours = {f: f"C{i}" for i, f in enumerate(dict.fromkeys(points["factor"]))}
    scale = ", ".join(sorted(set(points["scale"])))
    for factor, fp in trained.groupby("factor", sort=False):
        fp = fp.sort_values("r_w_pct")
        ax.errorbar(fp["r_w_pct"], fp["error_pct"], yerr=fp["error_pct_std"], marker="o", capsize=2,
                    color=colours[factor], label=fp["label"].iloc[0])
        for _, r in fp.iterrows():
            ax.annotate(f"{r['gamma']:g}", (r["r_w_pct"], r["error_pct"]), fontsize=6, xytext=(3, 3),
                        textcoords="offset points", color=colours[factor])
    pe, pw = float(paper["error_pct"]), float(paper["r_w_pct"])
    ax.scatter([pw], [pe], marker="*", s=120, color="black", zorder=5, label="VIBNet (paper)")
    ax.set_xscale("log")
    # the axis spans about one decade: plain numbers on the minor ticks read better than "2x10^0"
    from matplotlib.ticker import FuncFormatter
    for axis_ticks in (ax.xaxis.set_major_formatter, ax.xaxis.set_minor_formatter):
        axis_ticks(FuncFormatter(lambda v, _pos: f"{v:g}"))
    lo = min(pw, trained["r_w_pct"].min()) / 1.3
    ax.set_xlim(lo, max(target_factor * pw, trained["r_w_pct"].max()) * 1.3)
    ax.fill_between([lo, target_factor * pw], pe - tolerance, pe + tolerance, color="grey", alpha=0.15,
                    label=f"goal: r_W <= {target_factor:g} x paper, error within {tolerance:g} pp")
    ax.set_xlabel("r_W (% of weights kept)")
    ax.set_ylabel("test error (%)")
    ax.set_title(f"{points['benchmark'].iloc[0]}: protocol factors ({scale} scale, mean of seeds)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(0.0, -0.13))
    for factor, fp in points.groupby("factor", sort=False):
        for (gamma, gp), style in zip(fp.groupby("gamma"), ("-", "--", ":", "-.")):
            gp = gp.sort_values("threshold")
            ax_e.plot(gp["threshold"], gp["error_pct"], style, marker=".", color=colours[factor],
                      label=f"{factor}, gamma {gamma:g}")
            ax_w.plot(gp["threshold"], gp["r_w_pct"], style, marker=".", color=colours[factor])
    for a, lab in ((ax_e, "test error (%)"), (ax_w, "r_W (%)")):
        a.set_xlabel("pruning threshold on log alpha (trained at 0)")
        a.set_ylabel(lab)
        a.grid(alpha=0.3)
    ax_e.set_yscale("log")  # a collapsed network (90 % error) would flatten the informative range
    ax_w.set_yscale("log")
    ax_e.set_title("(e) threshold, same trained networks")
    ax_w.set_title("(e) r_W of the folded network")
    ax_e.legend(fontsize=6, ncol=2, loc="upper left", bbox_to_anchor=(0.0, -0.13))
    save_figure(fig, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="VIBNet protocol study: which factor moves the r_W-vs-error frontier")
    p.add_argument("--runs", type=Path, nargs="+", required=True)
    p.add_argument("--baselines", type=Path, nargs="*", default=[],
                   help="the unpruned baselines' records of the study's benchmarks (split offsets)")
    p.add_argument("--reference", type=Path, required=True, help="results/reference/vibnet_tableN.csv of the base table")
    p.add_argument("--tolerance", type=float, required=True)
    p.add_argument("--target-factor", type=float, required=True)
    p.add_argument("--selection-rule", choices=SELECTION_RULES, default="split_offset")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--points-out", type=Path, required=True)
    p.add_argument("--figure", type=Path, required=True)
    logs.add_record_arguments(logs.add_job_arguments(p, threads=False))
    a = p.parse_args(argv)
    logs.start_job(a)
    t0 = time.perf_counter()
    config = json.loads(a.config)
    labels = {BASE: config["base_label"], **{f: v["label"] for f, v in config["factors"].items()}}
    runs = [json.loads(f.read_text()) for f in a.runs]
    offsets: dict[str, float] = {}
    if a.selection_rule == "split_offset":
        baselines = [json.loads(f.read_text()) for f in a.baselines]
        offsets = {b: v for b, v in split_offsets(baselines).items() if v == v}  # a benchmark without validation split: NaN
        log.info("split offsets (validation minus test error of the baselines, pp): %s", offsets)
    reference = load_reference(a.reference, REFERENCE_COLUMNS, REFERENCE_NUMERIC)
    paper = reference[reference["method"] == "VIBNet"].iloc[0]
    points = points_table(runs, labels, config["base_table"])
    summary = summary_table(points, paper, a.tolerance, a.target_factor, offsets)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    summary.round(4).to_csv(a.out, index=False)
    points.round(4).to_csv(a.points_out, index=False)
    plot(points, paper, a.tolerance, a.target_factor, a.figure)
    write_provenance(a.out, command=a.command, config=config, scale=",".join(sorted({r["scale"] for r in runs})),
                     wall_seconds=sum(r["wall_seconds"] for r in runs) + time.perf_counter() - t0,
                     inputs=[str(f) for f in a.runs + a.baselines + [a.reference]],
                     outputs=[str(a.out), str(a.points_out), str(a.figure)],
                     device=",".join(sorted({r["device"] for r in runs})))
    log.info("\n%s", summary.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
