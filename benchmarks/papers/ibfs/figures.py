"""ibfs figures from the analysis CSVs and the selection's run records (every figure says its scale and
seeds; a benchmark without data is a panel that says so):

* Fig 2 ``plot_information_plane``: each filter of each analysed layer as a dot at (I(X;T), I(T;Y)), one
  panel per benchmark, a colour per layer, the seeds pooled;
* Fig 3 ``plot_heatmaps``: sample images with the summed maps of the most and the least informative
  filters of the top layer overlaid (first seed);
* Fig 4a ``plot_masking_curves``: the AUC while the top layer's lowest-ranked filters are masked, one line
  per ranking (mean over seeds, range shaded);
* Fig 4b ``plot_selection_paths``: the selection's AUC against each layer's compression (the share of its
  filters masked) along the accepted steps, one line per layer (the three top layers), per study.

``python -m benchmarks.papers.ibfs.figures fig2|fig3|fig4a|fig4b ...`` (the rule ``ibfs_figure``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import torch

from ...plotting import pyplot, save_figure
from . import finish_output, output_parser, start_output

RANKING_LABEL = {"y0": "Y0 (class 0's information)", "y1": "Y1 (class 1's information)", "y0_y1": "Y0 u Y1 = I(T;Y)",
                 "ixt": "I(X;T)"}


def _scale_text(scales: Sequence[str]) -> str:
    return "SMOKE SCALE (pipeline check, not results)" if "smoke" in set(scales) else "paper scale"


def _seeds_text(seeds) -> str:
    s = sorted(set(int(x) for x in seeds))
    return f"seed{'s' if len(s) > 1 else ''} {', '.join(map(str, s))}"


def _title(fig, text: str) -> None:
    """A suptitle wrapped to the figure's width (about 11 characters of 9 pt text per inch)."""
    import textwrap

    fig.suptitle("\n".join(textwrap.wrap(text, max(30, int(11 * fig.get_size_inches()[0])))), fontsize=9)


def _missing(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"{what}\nnot run", ha="center", va="center", transform=ax.transAxes, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_information_plane(info: pd.DataFrame, benchmarks: Sequence[str], path: Path, scale: str) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(benchmarks), figsize=(4.2 * len(benchmarks), 3.8), squeeze=False)
    for ax, bench in zip(axes[0], benchmarks):
        d = info[info["benchmark"] == bench]
        ax.set_title(bench, fontsize=9)
        if d.empty:
            _missing(ax, bench)
            continue
        for layer_label, g in d.groupby("label", sort=False):
            ax.scatter(g["i_xt_bits"], g["i_ty_bits"], s=8, alpha=0.6, label=f"{layer_label} ({g['filter'].nunique()} filters)")
        ax.set_xlabel("I(X;T) (bits)")
        ax.set_ylabel("I(T;Y) (bits)")
        ax.legend(fontsize=7)
        pooled = " pooled" if d["seed"].nunique() > 1 else ""
        ax.text(0.01, 0.99, _seeds_text(d["seed"]) + pooled, transform=ax.transAxes, va="top", fontsize=7)
    _title(fig, f"Information plane of filters (one value per filter and image, equal-width bins); {_scale_text([scale])}")
    return save_figure(fig, path)


def _denormalise(images: torch.Tensor, h: dict) -> np.ndarray:
    x = images.float()
    if h.get("input_scaling", "standardize") != "unit":
        x = x * torch.tensor(h["std"]).view(1, -1, 1, 1) + torch.tensor(h["mean"]).view(1, -1, 1, 1)
    x = x.clamp(0, 1)
    return (x[:, 0] if x.shape[1] == 1 else x.permute(0, 2, 3, 1)).numpy()


def plot_heatmaps(maps: dict[str, Optional[dict]], path: Path, scale: str) -> Path:
    """``maps``: benchmark -> the analysis' heatmaps (None: not run)."""
    plt = pyplot()
    n_img = max([len(h["images"]) for h in maps.values() if h] or [1])
    fig, axes = plt.subplots(3 * len(maps), n_img, figsize=(1.8 * n_img + 0.6, 1.8 * 3 * len(maps) + 0.6), squeeze=False)
    for bi, (bench, h) in enumerate(maps.items()):
        rows = axes[3 * bi: 3 * bi + 3]
        if not h:
            for r in rows:
                for ax in r:
                    ax.axis("off")
            _missing(rows[1][0], bench)
            continue
        imgs = _denormalise(h["images"], h)
        for j in range(n_img):
            for r, (kind, title) in enumerate(((None, "image"), ("most", f"{h['filters']} most informative"),
                                               ("least", f"{h['filters']} least informative"))):
                ax = rows[r][j]
                ax.axis("off")
                if j >= len(imgs):
                    continue
                ax.imshow(imgs[j], cmap="gray" if imgs.ndim == 3 else None)
                if kind:
                    ax.imshow(h[kind][j].numpy(), cmap="jet", alpha=0.45)
                if j == 0:
                    ax.set_title(f"{bench} {h['label']}: {title}" if r else f"{bench}: {title}", fontsize=7, loc="left")
    rankings = sorted({RANKING_LABEL.get(h["ranking"], h["ranking"]) for h in maps.values() if h})
    _title(fig, f"Overlapped heatmaps of the top layer's filters ranked by {', '.join(rankings) or '-'}; "
                f"{_scale_text([scale])}")
    return save_figure(fig, path)


def plot_masking_curves(curves: pd.DataFrame, benchmarks: Sequence[str], path: Path, scale: str) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(benchmarks), figsize=(4.2 * len(benchmarks), 3.6), squeeze=False)
    for ax, bench in zip(axes[0], benchmarks):
        d = curves[curves["benchmark"] == bench]
        if d.empty:
            _missing(ax, bench)
            ax.set_title(bench, fontsize=9)
            continue
        for ranking, g in d.groupby("ranking", sort=False):
            s = g.groupby("masked")["auc"].agg(["mean", "min", "max"]).reset_index()
            (line,) = ax.plot(s["masked"], s["mean"], label=RANKING_LABEL.get(ranking, ranking))
            ax.fill_between(s["masked"], s["min"], s["max"], color=line.get_color(), alpha=0.2)
        ax.set_title(f"{bench}: {d['label'].iloc[0]} ({int(d['filters'].iloc[0])} filters)", fontsize=9)
        ax.set_xlabel("lowest-ranked filters masked")
        ax.set_ylabel(f"AUC ({d['auc_split'].iloc[0]})")
        ax.legend(fontsize=7)
        ax.text(0.01, 0.01, _seeds_text(d["seed"]), transform=ax.transAxes, fontsize=7)
    _title(fig, f"AUC while pruning low-informative filters of the top layer; {_scale_text([scale])}")
    return save_figure(fig, path)


def selection_paths(record: dict, layers: int = 3) -> list[tuple[str, list[float], list[float]]]:
    """(unit, compression after each accepted step, AUC) of the ``layers`` top layers of one run."""
    rep = record["method_report"]
    out = []
    for unit in rep["layers_top_down"][:layers]:
        n = rep["filters"][unit]
        acc = [t for t in rep["trials"][unit] if t["accepted"]]
        out.append((unit, [0.0] + [1 - t["alive"] / n for t in acc], [rep["auc_unpruned"]] + [t["auc"] for t in acc]))
    return out


def plot_selection_paths(records: dict[str, list[dict]], path: Path, scale: str,
                         labels: Optional[dict[str, dict[str, str]]] = None) -> Path:
    """``records``: study -> its run records (one setting: the first value of the sweep); ``labels``:
    benchmark -> {unit: the paper's layer name} (the analysis config) for the legend."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(records), figsize=(4.2 * len(records), 3.6), squeeze=False)
    for ax, (study, recs) in zip(axes[0], records.items()):
        ax.set_title(study, fontsize=9)
        if not recs:
            _missing(ax, study)
            continue
        colours = {}
        for rec in recs:
            names = (labels or {}).get(rec["benchmark"], {})
            for unit, x, y in selection_paths(rec):
                kw = {"color": colours[unit]} if unit in colours else {"label": names.get(unit, unit)}
                (line,) = ax.plot(x, y, marker=".", markersize=3, linewidth=1, **kw)
                colours.setdefault(unit, line.get_color())
        thr = recs[0]["method_report"]["auc_threshold"]
        ax.axhline(thr, color="k", linestyle=":", linewidth=1)
        ax.set_xlabel("compression of the layer (share of filters masked)")
        ax.set_ylabel(f"AUC ({recs[0]['method_report']['auc_split']})")
        ax.legend(fontsize=7, title="layer (top first)", title_fontsize=7)
        ax.text(0.01, 0.01, f"{_seeds_text([r['seed'] for r in recs])}; dotted: threshold {thr:.4g}",
                transform=ax.transAxes, fontsize=7)
    _title(fig, f"AUC against compression in the top layers (the selection's accepted steps); {_scale_text([scale])}")
    return save_figure(fig, path)


def _read_csvs(paths: Sequence[Path]) -> pd.DataFrame:
    frames = [pd.read_csv(p) for p in paths if Path(p).stat().st_size > 0]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def main(argv: Optional[list[str]] = None) -> int:
    p = output_parser("ibfs figures")
    p.add_argument("figure", choices=["fig2", "fig3", "fig4a", "fig4b"])
    p.add_argument("--inputs", nargs="*", type=Path, default=[], help="analysis CSVs / heatmaps, or run records")
    p.add_argument("--benchmarks", nargs="*", default=[], help="fig2, fig3, fig4a: the panels, in order")
    p.add_argument("--studies", default="{}", help="fig4b: JSON study -> its run records")
    a, t0 = start_output(p, argv)
    if a.figure in ("fig2", "fig4a"):
        df = _read_csvs(a.inputs)
        (plot_information_plane if a.figure == "fig2" else plot_masking_curves)(df, a.benchmarks, a.out, a.scale)
    elif a.figure == "fig3":
        loaded = [torch.load(f, map_location="cpu", weights_only=False) for f in a.inputs]
        by_bench = {}
        for f, h in zip(a.inputs, loaded):
            by_bench.setdefault(Path(f).parent.name, h)  # the analysis path: .../<benchmark>/seed<k>.pt
        plot_heatmaps({b: by_bench.get(b) for b in a.benchmarks}, a.out, a.scale)
    else:
        studies = {s: [json.loads(Path(r).read_text()) for r in recs] for s, recs in json.loads(a.studies).items()}
        analysis = json.loads(a.config).get("analysis", {})
        plot_selection_paths(studies, a.out, a.scale, {b: v.get("layers", {}) for b, v in analysis.items()})
    return finish_output(a, t0)


if __name__ == "__main__":
    raise SystemExit(main())
