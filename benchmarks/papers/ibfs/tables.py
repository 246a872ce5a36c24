"""ibfs tables from the selection's run records:

* ``table1`` (``results/ibfs/table1.csv``): the paper's Table 1 (VGG-16, PASCAL-Part cat vs Places, AUC
  0.997) row by row, the paper's values (``results/reference/ibfs_table1.csv``) beside ours where ours were
  run (our removed filters averaged over seeds, put through the paper's own accounting,
  ``accounting.paper_rows``), with the differences; reported-only rows otherwise. Two more rows measure our
  physically pruned network in consistent units (all parameters, the next layers' inputs included).
* ``selection_table`` (``results/ibfs/lenet5.csv``, the Table-1 analogue run here): per study, setting
  and pruned layer, the filters before and after (mean and spread over seeds), the removed filters' own
  parameters (the paper's accounting) and, per run, the measured pruned network (parameters, FLOPs) and
  its AUC on the validation split (held) and the test split, before and after.

``python -m benchmarks.papers.ibfs.tables table1|selection --runs ... --out ...`` (the rule ``ibfs_table``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

from ... import fileio
from . import accounting, finish_output, output_parser, start_output

PAPER_COLUMNS = ("filters_original", "filters_pruned", "params_original", "params_pruned", "pruned_pct")


def _unit_sizes(rec: dict) -> dict[str, tuple[int, int]]:
    """Unit -> (filters, filters kept) of one run, in execution order."""
    rep = rec["method_report"]
    order = rep["layers_top_down"][::-1]
    return {u: (rep["filters"][u], rep["kept"][u]) for u in order}


def table1(reference: pd.DataFrame, runs: Sequence[dict]) -> pd.DataFrame:
    ref = reference.astype({"layer": str}).set_index("layer")
    rows = [{"layer": layer, **{f"paper_{c}": ref.loc[layer, c] for c in PAPER_COLUMNS}} for layer in ref.index]
    out = pd.DataFrame(rows)
    out["ours_seeds"] = 0
    if not runs:
        out["source"] = "paper only (our VGG-16 runs need a GPU)"
        return out
    layers = accounting.vgg16_layers()
    removed_per_run = []
    for rec in runs:
        sizes = list(_unit_sizes(rec).values())
        if len(sizes) != len(layers) or [s for s, _ in sizes] != [c.c_out for c in layers]:
            raise ValueError(f"ibfs table1: a run prunes layers of widths {[s for s, _ in sizes]}, not VGG-16's 13 "
                             f"conv layers {[c.c_out for c in layers]}")
        removed_per_run.append({c.name: n - k for c, (n, k) in zip(layers, sizes)})
    mean_removed = {c.name: round(sum(r[c.name] for r in removed_per_run) / len(runs)) for c in layers}
    ours = accounting.paper_rows(layers, mean_removed).set_index("layer")
    for c in PAPER_COLUMNS:
        out[f"ours_{c}"] = out["layer"].map(ours[c]) if c in ours else None
    out["ours_seeds"] = len(runs)
    out["diff_filters_pruned"] = pd.to_numeric(out["ours_filters_pruned"]) - pd.to_numeric(out["paper_filters_pruned"])
    out["diff_pruned_pct"] = pd.to_numeric(out["ours_pruned_pct"]) - pd.to_numeric(out["paper_pruned_pct"])
    measured = pd.DataFrame([{
        "layer": "Total (measured: pruned network, all parameters)", "ours_seeds": len(runs),
        "ours_params_original": sum(r["metrics"]["params_total_original"] for r in runs) / len(runs),
        "ours_params_pruned": sum(r["metrics"]["params_total_original"] - r["metrics"]["params_total"] for r in runs) / len(runs),
        "ours_pruned_pct": 100 * sum(1 - r["metrics"]["params_total"] / r["metrics"]["params_total_original"]
                                     for r in runs) / len(runs)}])
    out["source"] = "ours: removed filters through the paper's accounting (units as printed)"
    measured["source"] = "ours: the physically pruned network"
    return pd.concat([out, measured], ignore_index=True)


def selection_table(runs: Sequence[dict]) -> pd.DataFrame:
    """One row per (study, setting, layer) with the spread over seeds (module docstring)."""
    rows = []
    for rec in runs:
        study = rec["study"]
        rep = rec["method_report"]
        base = {"study": study["name"], "setting": study["setting"], "sweep_value": study["sweep_value"],
                "benchmark": rec["benchmark"], "scale": rec["scale"], "seed": rec["seed"], "ranking": rep["ranking"],
                "auc_threshold": rep["auc_threshold"], "auc_val_before": rep["auc_unpruned"],
                "auc_val_after": rep["auc_selected"], "auc_test_before": rec["original_metrics"].get("auc"),
                "auc_test_after": rec["metrics"].get("auc"), "test_error_after": rec["test"]["error"],
                "params_after": rec["metrics"]["params_total"], "params_before": rec["metrics"]["params_total_original"],
                "flops_ratio": rec["metrics"]["flops_ratio"], "finetune": rec.get("finetune_protocol") or "none"}
        for unit, (n, kept) in _unit_sizes(rec).items():
            # the paper's accounting: a removed filter's own weights and its bias
            own = rec["layer_weights"][unit]["total_original"] // n + 1
            rows.append({**base, "layer": unit, "filters_before": n, "filters_after": kept,
                         "removed_own_params": (n - kept) * own})
    d = pd.DataFrame(rows)
    if d.empty:
        return d
    keys = ["study", "setting", "sweep_value", "benchmark", "scale", "ranking", "finetune", "layer"]
    agg = d.groupby(keys, sort=False).agg(
        seeds=("seed", "nunique"), filters_before=("filters_before", "first"),
        filters_after_mean=("filters_after", "mean"), filters_after_std=("filters_after", "std"),
        removed_own_params_mean=("removed_own_params", "mean"), auc_threshold=("auc_threshold", "mean"),
        auc_val_before=("auc_val_before", "mean"), auc_val_after=("auc_val_after", "mean"),
        auc_test_before=("auc_test_before", "mean"), auc_test_after=("auc_test_after", "mean"),
        test_error_after=("test_error_after", "mean"), params_before=("params_before", "first"),
        params_after_mean=("params_after", "mean"), flops_ratio_mean=("flops_ratio", "mean")).reset_index()
    agg["filters_after_std"] = agg["filters_after_std"].fillna(0.0)
    return agg


def main(argv: Optional[list[str]] = None) -> int:
    p = output_parser("ibfs tables")
    p.add_argument("table", choices=["table1", "selection"])
    p.add_argument("--runs", nargs="*", type=Path, default=[])
    p.add_argument("--reference", type=Path, default=None)
    a, t0 = start_output(p, argv)
    runs = [json.loads(Path(r).read_text()) for r in a.runs]
    if a.table == "table1":
        if a.reference is None:
            p.error("table1 needs --reference")
        table = table1(pd.read_csv(a.reference, dtype=str), runs)
    else:
        table = selection_table(runs)
    fileio.atomic_write(a.out, lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g"))
    return finish_output(a, t0)


if __name__ == "__main__":
    raise SystemExit(main())
