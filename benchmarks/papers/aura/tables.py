"""The aura paper's outputs from the run records: Tables 1-3 (HRel and aura accuracies, the paper's beside
ours), the LeNet-5 comparison at equal widths (hrel, aura, L1, random), and the per-filter MI
distributions during pruning (Tables 4-5: VGG-16 conv5 and conv12; the same figure for LeNet-5's convs).

    python -m benchmarks.papers.aura.tables table --table N --runs ... --baselines ... --reference ... --out ...
    python -m benchmarks.papers.aura.tables lenet5 --runs ... --baselines ... --out ... --figure ...
    python -m benchmarks.papers.aura.tables distributions --runs ... --layers L1 L2 --widths ... --figure ...

Our accuracy of a row is the mean (and spread) over seeds of the test accuracy after the last round's
fine-tuning; the network is the one the protocol selects on the validation split (never on the test
set). A row of the paper we did not run keeps its reported values only (``ours`` empty).
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from ... import logs
from ...plotting import pyplot, save_figure
from ...provenance import write_provenance
from ...reference import load_reference

log = logging.getLogger("ibbench.aura_tables")

REFERENCE_COLUMNS = ("table", "architecture", "configuration", "filters_per_layer", "hrel_acc_pct", "aura_acc_pct")
REFERENCE_NUMERIC = ("table", "hrel_acc_pct", "aura_acc_pct")
METHOD_COLUMNS = {"hrel": "hrel_acc_pct", "aura": "aura_acc_pct"}


def _records(paths: Sequence) -> list[dict]:
    return [json.loads(Path(p).read_text()) for p in paths]


def run_rows(runs: list[dict]) -> pd.DataFrame:
    rows = []
    for r in runs:
        rep = r.get("method_report") or {}
        rows.append({"study": r["study"]["name"], "method": r["method"], "benchmark": r["benchmark"],
                     "scale": r["scale"], "widths_set": r["study"]["sweep_value"], "seed": r["seed"],
                     "widths": "-".join(str(v) for v in (r["target"].get("widths") or {}).values()),
                     "pruned_architecture": r["pruned_architecture"],
                     "accuracy_pct": 100 * r["test"]["accuracy"],
                     "accuracy_before_finetune_pct": 100 * r["test_before_finetune"]["accuracy"],
                     "val_accuracy_pct": 100 * r["val"]["accuracy"],
                     "rounds": rep.get("rounds", 1), "params": r["metrics"].get("params_nonzero"),
                     "r_w_pct": 100 * r["metrics"]["r_w"], "flops": r["metrics"].get("flops"),
                     "method_seconds": r["method_seconds"], "finetune_seconds": r["finetune_seconds"],
                     "finetune_protocol": r.get("finetune_protocol"), "device": r.get("device")})
    return pd.DataFrame(rows)


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    g = rows.groupby(["study", "method", "benchmark", "scale", "widths_set", "widths"], sort=False)
    out = g.agg(seeds=("seed", "nunique"), accuracy_pct=("accuracy_pct", "mean"), accuracy_std=("accuracy_pct", "std"),
                accuracy_before_finetune_pct=("accuracy_before_finetune_pct", "mean"),
                val_accuracy_pct=("val_accuracy_pct", "mean"), rounds=("rounds", "max"),
                pruned_architecture=("pruned_architecture", "first"), params=("params", "mean"),
                r_w_pct=("r_w_pct", "mean"), flops=("flops", "mean"), method_seconds=("method_seconds", "mean"),
                finetune_seconds=("finetune_seconds", "mean"),
                finetune_protocol=("finetune_protocol", "first")).reset_index()
    out["accuracy_std"] = out["accuracy_std"].fillna(0.0)
    return out


def baseline_accuracy(baselines: list[dict], benchmark: str) -> tuple[float, float, int]:
    acc = [100 * b["test"]["accuracy"] for b in baselines if b["benchmark"] == benchmark]
    return (float(np.mean(acc)), float(np.std(acc, ddof=1)) if len(acc) > 1 else 0.0, len(acc)) if acc else \
        (np.nan, np.nan, 0)


def build_paper_table(n: int, runs: list[dict], baselines: list[dict], reference: pd.DataFrame,
                      benchmarks: dict) -> pd.DataFrame:
    """Table ``n``: every reported row with ours beside it where run. ``benchmarks``: the paper's
    architecture key (``vgg16_cifar10``) -> our benchmark name. Rows match on the filters per layer."""
    ref = reference[reference["table"] == n]
    ours = summarise(run_rows(runs)) if runs else pd.DataFrame(columns=["method", "widths", "benchmark"])
    rows = []
    for _, r in ref.iterrows():
        bench = benchmarks.get(r["architecture"])
        row = {"table": n, "architecture": r["architecture"], "configuration": r["configuration"],
               "filters_per_layer": r["filters_per_layer"], "paper_hrel_acc_pct": r["hrel_acc_pct"],
               "paper_aura_acc_pct": r["aura_acc_pct"], "benchmark": bench}
        if r["configuration"] == "original":
            mean, std, k = baseline_accuracy(baselines, bench)
            for method in METHOD_COLUMNS:  # the unpruned network is both methods' starting point
                row[f"ours_{method}_acc_pct"], row[f"ours_{method}_std"], row[f"ours_{method}_seeds"] = mean, std, k
        else:
            for method in METHOD_COLUMNS:
                hit = ours[(ours["method"] == method) & (ours["widths"] == r["filters_per_layer"])
                           & (ours["benchmark"] == bench)]
                if len(hit):
                    h = hit.iloc[0]
                    row.update({f"ours_{method}_acc_pct": h["accuracy_pct"], f"ours_{method}_std": h["accuracy_std"],
                                f"ours_{method}_seeds": int(h["seeds"]), f"ours_{method}_rounds": int(h["rounds"]),
                                "scale": h["scale"]})
        for method in METHOD_COLUMNS:
            if pd.notna(row.get(f"ours_{method}_acc_pct", np.nan)):
                row[f"diff_{method}_pp"] = row[f"ours_{method}_acc_pct"] - row[f"paper_{method}_acc_pct"]
        rows.append(row)
    return pd.DataFrame(rows)


def build_lenet5(runs: list[dict], baselines: list[dict]) -> pd.DataFrame:
    """The four methods at each named set of widths, side by side, with the unpruned baseline."""
    table = summarise(run_rows(runs))
    bench = table["benchmark"].iloc[0]
    mean, std, k = baseline_accuracy(baselines, bench)
    base = {"study": "baseline (unpruned)", "method": "baseline", "benchmark": bench, "scale": table["scale"].iloc[0],
            "widths_set": "", "widths": "", "seeds": k, "accuracy_pct": mean, "accuracy_std": std}
    table = pd.concat([pd.DataFrame([base]), table], ignore_index=True)
    order = {"baseline": 0, "hrel": 1, "aura": 2, "l1_rounds": 3, "random_rounds": 4, "l1": 5, "random": 6}
    return table.sort_values(["widths_set", "method", "study"],
                             key=lambda c: c.map(order) if c.name == "method" else c,
                             kind="stable").reset_index(drop=True)


def score_snapshots(run: dict, layer: str, widths: Optional[Sequence[int]] = None) -> list[tuple[int, np.ndarray]]:
    """(layer width, per-filter scores) at the rounds where the layer had the given widths (nearest round
    for each; default: first, middle and last round)."""
    hist = [h for h in (run.get("method_report") or {}).get("history", []) if h.get("scores")]
    hist = [h for h in hist if layer in h["scores"]]
    if not hist:
        raise ValueError(f"run {run['study']['name']} seed {run['seed']}: no saved scores for layer {layer!r}")
    if widths is None:
        picks = sorted({0, len(hist) // 2, len(hist) - 1})
    else:
        picks = [int(np.argmin([abs(h["widths_before"][layer] - w) for h in hist])) for w in widths]
    return [(hist[i]["widths_before"][layer], np.asarray(hist[i]["scores"][layer], float)) for i in picks]


def plot_distributions(runs: list[dict], layers: Sequence[str], widths: Optional[Sequence[Sequence[int]]],
                       path: Path, title: str) -> None:
    """Histograms of the per-filter scores (weights 1/n, % on the y axis) at chosen rounds: one row per
    method (HRel on top), one column per (layer, round)."""
    plt = pyplot()
    by_method = {}
    for r in sorted(runs, key=lambda r: r["seed"]):
        by_method.setdefault(r["method"], r)  # first seed of each method
    methods = [m for m in ("hrel", "aura") if m in by_method]
    cols = [(layer, i) for li, layer in enumerate(layers)
            for i in range(len(widths[li]) if widths else 3)]
    fig, axes = plt.subplots(len(methods), len(cols), figsize=(2.6 * len(cols), 2.4 * len(methods)), squeeze=False)
    for mi, m in enumerate(methods):
        for li, layer in enumerate(layers):
            snaps = score_snapshots(by_method[m], layer, widths[li] if widths else None)
            for si, (w, s) in enumerate(snaps):
                ax = axes[mi][cols.index((layer, si))]
                ax.hist(s, bins=20, weights=np.full(len(s), 100.0 / len(s)), color="tab:blue" if m == "hrel" else "tab:orange")
                ax.set_title(f"{m}: {layer}, {w} filters", fontsize=7)
                ax.set_xlabel("relevance to labels" if m == "aura" else "MI (nats)", fontsize=7)
                ax.tick_params(labelsize=6)
        axes[mi][0].set_ylabel("% of filters", fontsize=7)
    scale = ", ".join(sorted({r["scale"] for r in runs}))
    protocol = ", ".join(sorted({str(r.get("finetune_protocol")) for r in runs}))
    fig.suptitle(f"{title} ({scale} scale, fine-tuning {protocol}, seed {min(r['seed'] for r in runs)})", fontsize=8)
    save_figure(fig, path)


def plot_lenet5(table: pd.DataFrame, path: Path) -> None:
    plt = pyplot()
    t = table[table["method"] != "baseline"]
    sets = list(dict.fromkeys(t["widths_set"]))
    colours = {m: plt.cm.tab10(k % 10) for k, m in enumerate(dict.fromkeys(t["method"]))}  # one per method
    # the y axis shows the differences between the methods; a collapsed run's bar is cut and labelled
    floor = max(0.0, min(90.0, np.nanmedian(t["accuracy_pct"].to_numpy(float)) - 5))
    fig, ax = plt.subplots(figsize=(9, 4))
    centres, labels, seen = [], [], set()
    x = 0.0
    for s in sets:
        ts = t[t["widths_set"] == s]
        first = x
        methods_here: set = set()
        for _, r in ts.iterrows():
            option = r["method"] in methods_here  # a second study of a method in one set (an option): hatched
            methods_here.add(r["method"])
            label = r["study"] if option else r["method"]
            ax.bar(x, r["accuracy_pct"] - floor, 0.8, bottom=floor, yerr=r["accuracy_std"], capsize=2,
                   color=colours[r["method"]], hatch="//" if option else None, edgecolor="white" if option else None,
                   label=None if label in seen else label)
            seen.add(label)
            if r["accuracy_pct"] < floor:
                ax.text(x, floor + 0.3, f"{r['accuracy_pct']:.1f}", ha="center", va="bottom", fontsize=6, rotation=90)
            x += 1.0
        centres.append((first + x - 1.0) / 2)
        labels.append(f"{s}\n({ts['widths'].iloc[0]})")
        x += 1.0  # a gap between the width sets
    base = table[table["method"] == "baseline"]["accuracy_pct"]
    if len(base) and np.isfinite(base.iloc[0]):
        ax.axhline(base.iloc[0], color="k", linestyle="--", linewidth=1, label="unpruned")
    ax.set_xticks(centres, labels)
    ax.set_ylim(floor, 100)
    ax.set_ylabel("test accuracy (%)")
    scale = ", ".join(sorted(set(t["scale"])))
    protocol = ", ".join(sorted(set(t["finetune_protocol"].dropna())))
    ax.set_title(f"LeNet-5 (HRel's) on MNIST, pruned to the same widths ({scale} scale; fine-tuning {protocol})",
                 fontsize=8)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    save_figure(fig, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.papers.aura.tables", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("table", "lenet5", "distributions"):
        sp = sub.add_parser(name)
        sp.add_argument("--runs", nargs="*", default=[])
        logs.add_record_arguments(logs.add_job_arguments(sp, threads=False))
    t = sub.choices["table"]
    t.add_argument("--table", type=int, required=True)
    t.add_argument("--baselines", nargs="*", default=[])
    t.add_argument("--reference", type=Path, required=True)
    t.add_argument("--benchmarks", required=True, help="the paper's architecture key -> benchmark, as JSON")
    t.add_argument("--out", type=Path, required=True)
    le = sub.choices["lenet5"]
    le.add_argument("--baselines", nargs="+", required=True)
    le.add_argument("--out", type=Path, required=True)
    le.add_argument("--figure", type=Path, required=True)
    d = sub.choices["distributions"]
    d.add_argument("--layers", nargs="+", required=True)
    d.add_argument("--widths", default="null", help="per layer, the widths to show, as JSON (null: first/middle/last)")
    d.add_argument("--title", default="")
    d.add_argument("--figure", type=Path, required=True)
    a = p.parse_args(argv)
    logs.start_job(a)
    t0 = time.perf_counter()
    runs = _records(a.runs)
    try:
        if a.cmd == "table":
            table = build_paper_table(a.table, runs, _records(a.baselines),
                                      load_reference(a.reference, REFERENCE_COLUMNS, REFERENCE_NUMERIC),
                                      json.loads(a.benchmarks))
            a.out.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(a.out, index=False, float_format="%.4f")
            outputs, inputs = [a.out], [*a.runs, *a.baselines, a.reference]
        elif a.cmd == "lenet5":
            table = build_lenet5(runs, _records(a.baselines))
            a.out.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(a.out, index=False, float_format="%.4f")
            plot_lenet5(table, a.figure)
            outputs, inputs = [a.out, a.figure], [*a.runs, *a.baselines]
        else:
            plot_distributions(runs, a.layers, json.loads(a.widths), a.figure, a.title)
            outputs, inputs = [a.figure], list(a.runs)
    except (ValueError, KeyError) as exc:
        log.error("%s", exc)
        return 2
    scale = ",".join(sorted({r["scale"] for r in runs})) or "paper"
    write_provenance(outputs[0], command=a.command, config=json.loads(a.config), scale=scale,
                     wall_seconds=time.perf_counter() - t0, inputs=[str(i) for i in inputs],
                     outputs=[str(o) for o in outputs],
                     device=",".join(sorted({r.get("device", "unknown") for r in runs})) or "none")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
