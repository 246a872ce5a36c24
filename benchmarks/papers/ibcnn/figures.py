"""ibcnn's paper outputs from the measurement CSVs (``measure.py``, one per run): Figs 4-7 (MI of every
layer against the epoch), Fig 8 (the information plane of the multi-FC network) and the final-layer table
(our I(Y;T) of the softmax layer beside the authors').

    python -m benchmarks.papers.ibcnn.figures figure --figure 4 --study width --networks w1 w3 w6 w12 \\
        --information CSV... --out figures/ibcnn/fig4.png [--kde-out figures/ibcnn/fig4_kde.png]
    python -m benchmarks.papers.ibcnn.figures final-layer --information CSV... \\
        --reference results/reference/ibcnn_final_layer.csv --out results/ibcnn/final_layer.csv

Figures 4-7 follow the authors' notebook: MI against the epoch on a log axis (plotted at epoch + 1, the
number of epochs trained, so the authors' "epoch 0" = after the first epoch sits at 1), I(X;T) on top and
I(Y;T) below, one line per layer, black dotted lines at H(X) and H(Y), y limit 1.1 H. One column per network,
one pair of rows per (dataset, split), in the notes' likely lettering: (a) MNIST train, (b) Fashion-MNIST
train, (c) MNIST test, (d) Fashion-MNIST test. The binning figure draws the binning estimate; the KDE
figure draws the upper bound solid and the lower bound dashed. Fig 8 puts every layer at every logged
epoch in the (I(X;T), I(Y;T)) plane, coloured by epoch (gnuplot over 0-9999 whatever the run's cap).
Several seeds are averaged point by point. Every title states the scale and the last trained epoch, so
a CPU overlay (trained to fewer than the paper's 10,000 epochs) or a smoke run is never read as the paper's.

The final-layer table: per study, setting, dataset and split, our binning I(Y;T) of the last layer at the
last logged epoch (``ours_last_bits``) and its maximum over the logged epochs (``ours_max_bits``), each
per seed then averaged over seeds, beside the authors' values (test split only; ``paper_*``) and the
differences. Reference rows we did not run keep the paper's values with the ``ours`` columns empty; our
train rows have no paper values. ``ours_kde_*_last_bits``: the KDE bounds of the same layer and epoch;
``h_y_bits``: H(Y), the ceiling; ``last_epoch``: the last logged epoch (the smallest over seeds, with a
warning, if they differ); ``epoch_cap``: the last epoch the runs trained to (9999 = the paper's 10,000
epochs). Seeds averaged together must share the scale and the cap (a ValueError otherwise).
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
from ...plotting import pyplot
from ...provenance import write_provenance
from ...reference import load_reference
from . import PAPER_LAST_EPOCH  # the paper trains 10,000 epochs, numbered from 0

log = logging.getLogger("ibbench.ibcnn_figures")

COLUMNS = ("study", "network", "setting", "dataset", "split", "seed", "epoch", "layer", "layer_name", "estimator",
           "i_xt_bits", "i_yt_bits", "h_x_bits", "h_y_bits", "scale", "epoch_cap", "samples")
INT_COLUMNS = ("seed", "epoch", "layer", "epoch_cap", "samples")
FLOAT_COLUMNS = ("i_xt_bits", "i_yt_bits", "h_x_bits", "h_y_bits")
ESTIMATORS = ("binning", "kde_upper", "kde_lower")
SPLITS = ("train", "test")
# one run: its rows must agree on scale and cap (seeds of one network are averaged)
RUN_KEYS = ["study", "network", "dataset", "split", "seed"]
POINT_KEYS = [*RUN_KEYS, "epoch", "layer", "estimator"]

STUDY_TITLE = {"width": "convolutional layer widths", "kernel": "kernel sizes", "depth": "depths",
               "pooling": "pooling layer", "multi_fc": "multi-fully connected layers"}
DATASET_LABEL = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
# the notes' likely reading of the panel letters: (a) MNIST-train, (b) F-MNIST-train, (c) MNIST-test, ...
BLOCK_ORDER = [("mnist", "train"), ("fashion_mnist", "train"), ("mnist", "test"), ("fashion_mnist", "test")]

REFERENCE_COLUMNS = ("study", "setting", "dataset", "split", "final_layer_I_Y_T_bits_last",
                     "final_layer_I_Y_T_bits_max", "source")
REFERENCE_NUMERIC = ("final_layer_I_Y_T_bits_last", "final_layer_I_Y_T_bits_max")
TABLE_KEYS = ["study", "setting", "dataset", "split"]
TABLE_COLUMNS = ["study", "setting", "network", "dataset", "split", "ours_last_bits", "ours_max_bits",
                 "paper_last_bits", "paper_max_bits", "diff_last_bits", "diff_max_bits", "ours_kde_upper_last_bits",
                 "ours_kde_lower_last_bits", "h_y_bits", "last_epoch", "epoch_cap", "scale", "seeds", "samples",
                 "paper_source"]


# ---------------------------------------------------------------- input
def load_information(paths: Sequence) -> pd.DataFrame:
    """The measurement CSVs concatenated, with their columns checked (a ValueError names the file and the
    missing columns, an unknown estimator or split, or a point measured twice)."""
    frames = []
    for p in paths:
        t = pd.read_csv(p)
        missing = [c for c in COLUMNS if c not in t.columns]
        if missing:
            raise ValueError(f"{p}: missing columns {missing}; a measurement CSV has {list(COLUMNS)}")
        for col, known in (("estimator", ESTIMATORS), ("split", SPLITS)):
            bad = sorted(set(t[col].astype(str)) - set(known))
            if bad:
                raise ValueError(f"{p}: unknown {col} {bad}; expected one of {list(known)}")
        for c in INT_COLUMNS:
            values = pd.to_numeric(t[c], errors="coerce")
            if values.isna().any() or (values != values.round()).any():
                raise ValueError(f"{p}: column {c!r} must hold whole numbers")
            t[c] = values.astype(int)
        for c in FLOAT_COLUMNS:
            values = pd.to_numeric(t[c], errors="coerce")
            if values.isna().any():
                raise ValueError(f"{p}: column {c!r} must hold numbers")
            t[c] = values.astype(float)
        t["_file"] = str(p)
        frames.append(t)
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=int if c in INT_COLUMNS else float if c in FLOAT_COLUMNS else object)
                             for c in COLUMNS})
    df = pd.concat(frames, ignore_index=True)
    dup = df.duplicated(POINT_KEYS, keep=False)
    if dup.any():
        first = df[dup].iloc[0]
        files = sorted(set(df[dup & (df[POINT_KEYS] == first[POINT_KEYS]).all(axis=1)]["_file"]))
        raise ValueError(f"{', '.join(files)}: the point {dict(first[POINT_KEYS])} is measured more than once "
                         "(a file given twice?)")
    return df.drop(columns="_file")


def _check_uniform(df: pd.DataFrame, keys: Sequence[str]) -> None:
    """Seeds of one network are averaged: they must share the scale and the epoch cap."""
    for key, g in df.groupby(list(keys), sort=False):
        for col in ("scale", "epoch_cap"):
            values = sorted(set(g[col]), key=str)
            if len(values) > 1:
                raise ValueError(f"{dict(zip(keys, key))}: the runs mix {col} {values}; "
                                 "seeds averaged together must share the scale and the epoch cap")


def _study_rows(df: pd.DataFrame, study: str, networks: Optional[Sequence[str]]) -> tuple[pd.DataFrame, list[str]]:
    d = df[df["study"] == study]
    if d.empty:
        raise ValueError(f"no measurements of study {study!r} (studies present: {sorted(set(df['study']))})")
    present = list(dict.fromkeys(d["network"]))
    if networks:
        missing = [n for n in networks if n not in present]
        if missing:
            raise ValueError(f"study {study!r}: no measurements of networks {missing} (present: {present})")
        d = d[d["network"].isin(networks)]
        present = list(networks)
    _check_uniform(d, ["network", "dataset", "split"])
    return d, present


def _blocks(d: pd.DataFrame) -> list[tuple[str, str]]:
    have = set(zip(d["dataset"], d["split"]))
    extra = sorted(have - set(BLOCK_ORDER))
    return [b for b in BLOCK_ORDER if b in have] + extra


def _mean_over_seeds(d: pd.DataFrame) -> pd.DataFrame:
    """One value per (network, dataset, split, estimator, layer, epoch): the mean over seeds."""
    return (d.groupby(["network", "dataset", "split", "estimator", "layer", "epoch"], sort=True)
            .agg(layer_name=("layer_name", "first"), i_xt_bits=("i_xt_bits", "mean"), i_yt_bits=("i_yt_bits", "mean"),
                 h_x_bits=("h_x_bits", "max"), h_y_bits=("h_y_bits", "max"), seeds=("seed", "nunique"))
            .reset_index())


def describe_scale(d: pd.DataFrame) -> str:
    """How far the runs behind ``d`` trained, for a title: the paper's protocol, a CPU overlay trained to a
    lower epoch, or a smoke run."""
    parts = []
    groups = d.groupby(["scale", "epoch_cap"], sort=True)
    for (scale, cap), g in groups:
        nets = ", ".join(dict.fromkeys(g["network"]))
        if scale == "smoke":
            text = f"smoke scale (not the paper's protocol): trained to epoch {cap} of {PAPER_LAST_EPOCH}"
        elif cap < PAPER_LAST_EPOCH:
            text = f"CPU overlay: trained to epoch {cap} of {PAPER_LAST_EPOCH}"
        elif cap > PAPER_LAST_EPOCH:
            text = f"{scale} scale: trained to epoch {cap} (past the paper's {PAPER_LAST_EPOCH})"
        else:
            text = f"{scale} scale: trained to epoch {cap} of {PAPER_LAST_EPOCH} (the paper's protocol)"
        parts.append(text if groups.ngroups == 1 else f"{text} [{nets}]")
    return "; ".join(parts)


def _seeds_text(d: pd.DataFrame) -> str:
    n = d.groupby(["network", "dataset", "split"])["seed"].nunique()
    lo, hi = int(n.min()), int(n.max())
    return "1 seed" if hi == 1 else f"mean over {lo} seeds" if lo == hi else f"mean over {lo}-{hi} seeds"


def _finish(fig, path: Path, title: str, right: float = 1.0, before_save=None) -> Path:
    """A suptitle wrapped to the figure's width, then saved as ``save_figure`` does
    (tight layout, 120 dpi; the panels end at ``right``, the rest is left to ``before_save``, which runs
    after the layout)."""
    import textwrap

    width_in = fig.get_size_inches()[0]
    per_line = max(40, int(0.95 * width_in * 72 / (8 * 0.5)))  # characters of an 8 pt line
    lines = [w for line in title.split("\n") for w in textwrap.wrap(line, per_line)]
    height_in = fig.get_size_inches()[1]
    sup = fig.suptitle("\n".join(lines), fontsize=8, y=1 - 2 / 72 / height_in, va="top")
    sup.set_in_layout(False)  # room for it is kept by the rect below
    renderer = fig.canvas.get_renderer()
    bottom = fig.transFigure.inverted().transform(sup.get_window_extent(renderer))[0][1]
    fig.tight_layout(rect=(0, 0, right, bottom - 2 / 72 / height_in))  # the panels below the title
    if before_save:
        before_save()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    pyplot().close(fig)
    return path


# hidden layers by position; every network's output layer in one colour (the paper's pink output line)
HIDDEN_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:gray",
                  "tab:olive", "tab:cyan"]
OUTPUT_COLOUR = "tab:pink"


def _layer_colour(layer: int, last: int) -> str:
    return OUTPUT_COLOUR if layer == last else HIDDEN_COLOURS[(layer - 1) % len(HIDDEN_COLOURS)]


# ---------------------------------------------------------------- Figs 4-7
def plot_mi_vs_epoch(df: pd.DataFrame, study: str, estimator_set: str, path: Path,
                     networks: Optional[Sequence[str]] = None, title: Optional[str] = None) -> Path:
    """Figs 4-7: MI against epoch (log axis at epoch + 1), I(X;T) top and I(Y;T) bottom of each 2-row block
    (one block per (dataset, split)), one column per network (in ``networks``' order; default: as they
    appear). ``estimator_set``: "binning", or "kde" (upper bound solid, lower bound dashed)."""
    if estimator_set not in ("binning", "kde"):
        raise ValueError(f"estimator_set must be 'binning' or 'kde', not {estimator_set!r}")
    estimators = {"binning": [("binning", "-")], "kde": [("kde_upper", "-"), ("kde_lower", "--")]}[estimator_set]
    d, nets = _study_rows(df, study, networks)
    if not d["estimator"].isin([e for e, _ in estimators]).any():
        raise ValueError(f"study {study!r}: no {estimator_set} estimates in the measurements")
    blocks = _blocks(d)
    mean = _mean_over_seeds(d)
    x_max = max(PAPER_LAST_EPOCH, int(d["epoch_cap"].max())) + 1
    plt = pyplot()
    fig, axes = plt.subplots(2 * len(blocks), len(nets), figsize=(2.7 * len(nets) + 0.6, 2.0 * 2 * len(blocks) + 0.9),
                             squeeze=False)
    for bi, (dataset, split) in enumerate(blocks):
        letter = chr(ord("a") + bi)
        for ni, net in enumerate(nets):
            ax_x, ax_y = axes[2 * bi][ni], axes[2 * bi + 1][ni]
            sub = mean[(mean["network"] == net) & (mean["dataset"] == dataset) & (mean["split"] == split)]
            raw = d[(d["network"] == net) & (d["dataset"] == dataset) & (d["split"] == split)]
            # H(X) as the plotted estimators see it: the KDE's ceiling is log2 of its subsample, not binning's
            plotted = raw[raw["estimator"].isin([e for e, _ in estimators])]
            setting = raw["setting"].iloc[0] if len(raw) else d[d["network"] == net]["setting"].iloc[0]
            ax_x.set_title(f"({letter}) {DATASET_LABEL.get(dataset, dataset)} {split}: {setting}", fontsize=7)
            if sub.empty:
                for ax in (ax_x, ax_y):
                    ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes, fontsize=7)
            handles = {}
            last = int(d[d["network"] == net]["layer"].max())
            for est, style in estimators:
                e = sub[sub["estimator"] == est]
                for layer, g in e.groupby("layer", sort=True):
                    g = g.sort_values("epoch")
                    kw = dict(color=_layer_colour(int(layer), last), linestyle=style, linewidth=1.0)
                    (line,) = ax_x.plot(g["epoch"] + 1, g["i_xt_bits"], **kw)
                    ax_y.plot(g["epoch"] + 1, g["i_yt_bits"], **kw)
                    if style == "-":
                        handles.setdefault(int(layer), (line, g["layer_name"].iloc[0]))
            for ax, h_col, i_col, label in ((ax_x, "h_x_bits", "i_xt_bits", "I(X;T) (bits)"),
                                            (ax_y, "h_y_bits", "i_yt_bits", "I(Y;T) (bits)")):
                h = float(plotted[h_col].max()) if len(plotted) else float(d[h_col].max())
                top = max(1.1 * h, 1.02 * float(sub[i_col].max()) if len(sub) else 0.0)  # 1.1 H unless exceeded
                ax.axhline(h, color="k", linestyle=":", linewidth=1.0)
                ax.set_xscale("log")
                ax.set_xlim(1, x_max)
                ax.set_ylim(0, top)
                ax.tick_params(labelsize=6)
                if ni == 0:
                    ax.set_ylabel(label, fontsize=7)
                cap = int(raw["epoch_cap"].iloc[0]) if len(raw) else None
                if cap is not None and cap < PAPER_LAST_EPOCH:  # where this run stopped
                    ax.axvline(cap + 1, color="0.6", linestyle="-.", linewidth=0.8)
            ax_y.set_xlabel("epochs trained", fontsize=7)
            if handles and bi == 0:  # the layer names once per column
                items = [handles[k] for k in sorted(handles)]
                extra = []
                if estimator_set == "kde":
                    extra = [(plt.Line2D([], [], color="k", linestyle="-"), "KDE upper"),
                             (plt.Line2D([], [], color="k", linestyle="--"), "KDE lower")]
                # in the I(X;T) panel's usual gap (hidden layers near H(X), the output layer at most log2 11)
                ax_x.legend([h for h, _ in items + extra], [n for _, n in items + extra], fontsize=5,
                            loc="center right", ncol=2, handlelength=1.5, framealpha=0.6)
    est_text = "binning (bin width 0.67)" if estimator_set == "binning" else \
        "KDE bounds (solid: upper, dashed: lower)"
    head = title or f"MI path on CNNs with different {STUDY_TITLE.get(study, study)}"
    return _finish(fig, path, f"{head}; {est_text}; {_seeds_text(d)}\n{describe_scale(d)}; "
                   "dotted: H(X) and H(Y)")


# ---------------------------------------------------------------- Fig 8
def plot_information_plane(df: pd.DataFrame, study: str, estimator: str, path: Path,
                           networks: Optional[Sequence[str]] = None, title: Optional[str] = None) -> Path:
    """Fig 8: every layer at every logged epoch as a dot at (I(X;T), I(Y;T)), coloured by epoch (gnuplot
    over 0-9999), the layers of one epoch joined by a faint line. One panel per (dataset, split) (columns),
    one row per network. Axes [0, 15] x [0, 5], widened if the data exceed them."""
    import matplotlib

    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {list(ESTIMATORS)}, not {estimator!r}")
    d, nets = _study_rows(df, study, networks)
    if not (d["estimator"] == estimator).any():
        raise ValueError(f"study {study!r}: no {estimator} estimates in the measurements")
    blocks = _blocks(d)
    mean = _mean_over_seeds(d[d["estimator"] == estimator])
    x_top = max(15.0, 1.03 * float(mean["i_xt_bits"].max()))
    y_top = max(5.0, 1.03 * float(mean["i_yt_bits"].max()))
    norm = matplotlib.colors.Normalize(vmin=0, vmax=PAPER_LAST_EPOCH)
    cmap = matplotlib.colormaps["gnuplot"]
    plt = pyplot()
    fig, axes = plt.subplots(len(nets), len(blocks), figsize=(3.3 * len(blocks) + 1.0, 3.0 * len(nets) + 0.9),
                             squeeze=False)
    for ni, net in enumerate(nets):
        for bi, (dataset, split) in enumerate(blocks):
            ax = axes[ni][bi]
            sub = mean[(mean["network"] == net) & (mean["dataset"] == dataset) & (mean["split"] == split)]
            raw = d[(d["network"] == net) & (d["dataset"] == dataset) & (d["split"] == split)]
            setting = raw["setting"].iloc[0] if len(raw) else d[d["network"] == net]["setting"].iloc[0]
            ax.set_title(f"({chr(ord('a') + bi)}) {DATASET_LABEL.get(dataset, dataset)} {split}: {setting}",
                         fontsize=7)
            if sub.empty:
                ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes, fontsize=7)
            for epoch, g in sub.groupby("epoch", sort=True):
                g = g.sort_values("layer")
                ax.plot(g["i_xt_bits"], g["i_yt_bits"], color=cmap(norm(epoch)), alpha=0.1, linewidth=0.8, zorder=1)
            ax.scatter(sub["i_xt_bits"], sub["i_yt_bits"], c=sub["epoch"], cmap=cmap, norm=norm, s=12,
                       edgecolors="none", zorder=2)
            ax.set_xlim(0, x_top)
            ax.set_ylim(0, y_top)
            ax.set_xlabel("I(X;T) (bits)", fontsize=7)
            ax.set_ylabel("I(Y;T) (bits)", fontsize=7)
            ax.tick_params(labelsize=6)
    est_text = {"binning": "binning (bin width 0.67)", "kde_upper": "KDE upper bound",
                "kde_lower": "KDE lower bound"}[estimator]
    head = title or f"Information plane for {STUDY_TITLE.get(study, study)} on CNNs"
    title = f"{head}; {est_text}; {_seeds_text(d)}\n{describe_scale(d)}"
    right = 1 - 0.9 / fig.get_size_inches()[0]  # room for the colourbar

    def colourbar():  # an axes of its own beside the laid-out panels (tight_layout would not place it)
        top, bottom = axes[0][-1].get_position().y1, axes[-1][-1].get_position().y0
        cax = fig.add_axes((right + 0.15 * (1 - right), bottom, 0.12 * (1 - right), top - bottom))
        cb = fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), cax=cax)
        cb.set_label("Epoch", fontsize=7)
        cb.ax.tick_params(labelsize=6)

    return _finish(fig, path, title, right=right, before_save=colourbar)


# ---------------------------------------------------------------- final-layer table
def _ours_final_layer(df: pd.DataFrame) -> pd.DataFrame:
    """Per (study, setting, dataset, split): the last layer's I(Y;T), per seed, then the mean over seeds."""
    if df.empty:
        return pd.DataFrame(columns=TABLE_KEYS)
    _check_uniform(df, ["study", "setting", "dataset", "split"])
    last_layer = df.groupby(RUN_KEYS)["layer"].transform("max")
    d = df[df["layer"] == last_layer]
    per_seed = []
    for key, g in d.groupby([*TABLE_KEYS, "network", "seed"], sort=False):
        b = g[g["estimator"] == "binning"].sort_values("epoch")
        row = dict(zip([*TABLE_KEYS, "network", "seed"], key))
        row.update(scale=g["scale"].iloc[0], epoch_cap=int(g["epoch_cap"].iloc[0]), samples=int(g["samples"].max()),
                   h_y_bits=float(g["h_y_bits"].max()))
        if len(b):
            last = b["epoch"].max()
            row.update(ours_last_bits=float(b[b["epoch"] == last]["i_yt_bits"].iloc[0]),
                       ours_max_bits=float(b["i_yt_bits"].max()), last_epoch=int(last))
        for est in ("kde_upper", "kde_lower"):
            e = g[g["estimator"] == est]
            if len(e):
                row[f"ours_{est}_last_bits"] = float(e[e["epoch"] == e["epoch"].max()]["i_yt_bits"].iloc[0])
        per_seed.append(row)
    per_seed = pd.DataFrame(per_seed)
    for c in ("ours_last_bits", "ours_max_bits", "last_epoch", "ours_kde_upper_last_bits", "ours_kde_lower_last_bits"):
        if c not in per_seed:
            per_seed[c] = np.nan
    out = []
    for key, g in per_seed.groupby(TABLE_KEYS, sort=False):
        nets = list(dict.fromkeys(g["network"]))
        if len(nets) > 1:
            raise ValueError(f"{dict(zip(TABLE_KEYS, key))}: networks {nets} share one setting label")
        if g["last_epoch"].nunique() > 1:
            log.warning("%s: the seeds' last logged epochs differ (%s); each seed's own last epoch is averaged",
                        dict(zip(TABLE_KEYS, key)), sorted(g["last_epoch"].dropna().astype(int)))
        out.append({**dict(zip(TABLE_KEYS, key)), "network": nets[0],
                    "ours_last_bits": g["ours_last_bits"].mean(), "ours_max_bits": g["ours_max_bits"].mean(),
                    "ours_kde_upper_last_bits": g["ours_kde_upper_last_bits"].mean(),
                    "ours_kde_lower_last_bits": g["ours_kde_lower_last_bits"].mean(),
                    "h_y_bits": g["h_y_bits"].max(), "last_epoch": g["last_epoch"].min(),
                    "epoch_cap": int(g["epoch_cap"].iloc[0]), "scale": g["scale"].iloc[0],
                    "seeds": int(g["seed"].nunique()), "samples": int(g["samples"].max())})
    return pd.DataFrame(out)


def final_layer_table(df: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Every reference row (test split) with ours beside it where run, then our rows the reference lacks
    (the train split, or a setting it does not list) with empty paper columns. ``ours_*`` come from the
    measurements only; a reference row we did not run keeps them empty."""
    ours = _ours_final_layer(df)
    ours_by_key = {tuple(r[k] for k in TABLE_KEYS): r for r in ours.to_dict("records")}
    rows, used = [], set()

    def our_row(key) -> dict:
        used.add(key)
        r = ours_by_key.get(key, {})
        return {c: r.get(c, np.nan) for c in TABLE_COLUMNS if c not in TABLE_KEYS and not c.startswith("paper_")}

    study_order = list(dict.fromkeys([*reference["study"], *ours.get("study", [])]))
    for _, ref in reference.iterrows():
        key = tuple(ref[k] for k in TABLE_KEYS)
        rows.append({**dict(zip(TABLE_KEYS, key)), **our_row(key),
                     "paper_last_bits": ref["final_layer_I_Y_T_bits_last"],
                     "paper_max_bits": ref["final_layer_I_Y_T_bits_max"], "paper_source": ref["source"]})
        other = (key[0], key[1], key[2], "train" if key[3] == "test" else "test")
        if other in ours_by_key and other not in used and not _in_reference(reference, other):
            rows.append({**dict(zip(TABLE_KEYS, other)), **our_row(other)})
    for key in ours_by_key:
        if key not in used:
            if key[3] == "test":
                log.warning("%s: no reference row (is the setting label the paper's?)", dict(zip(TABLE_KEYS, key)))
            rows.append({**dict(zip(TABLE_KEYS, key)), **our_row(key)})
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    table["diff_last_bits"] = table["ours_last_bits"] - table["paper_last_bits"]
    table["diff_max_bits"] = table["ours_max_bits"] - table["paper_max_bits"]
    for c in ("last_epoch", "epoch_cap", "seeds", "samples"):
        table[c] = table[c].astype("Int64")
    order = {s: i for i, s in enumerate(study_order)}
    return table.sort_values("study", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)


def _in_reference(reference: pd.DataFrame, key: tuple) -> bool:
    return bool((reference[TABLE_KEYS] == pd.Series(key, index=TABLE_KEYS)).all(axis=1).any())


# ---------------------------------------------------------------- CLI
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.papers.ibcnn.figures", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("figure", "final-layer"):
        sp = sub.add_parser(name)
        sp.add_argument("--information", nargs="+", required=True, help="measurement CSVs (measure.py)")
        sp.add_argument("--out", type=Path, required=True)
        logs.add_record_arguments(logs.add_job_arguments(sp, threads=False))
    f = sub.choices["figure"]
    f.add_argument("--figure", type=int, required=True, help="the paper's figure number (config ibcnn.figures)")
    f.add_argument("--study", required=True, help="the study the figure shows (config ibcnn.figures.<n>.study)")
    f.add_argument("--plane", action="store_true", help="an information plane (Fig 8) instead of MI against epoch")
    f.add_argument("--networks", nargs="*", default=None, help="the columns, in order (default: all of the study)")
    f.add_argument("--kde-out", type=Path, default=None,
                   help="also draw the KDE version here (Figs 4-7: upper and lower bounds; Fig 8: the upper bound)")
    f.add_argument("--title", default=None)
    fl = sub.choices["final-layer"]
    fl.add_argument("--reference", type=Path, required=True)
    a = p.parse_args(argv)
    logs.start_job(a)
    t0 = time.perf_counter()
    try:
        df = load_information(a.information)
        if a.cmd == "figure":
            study = a.study
            outputs = [a.out] + ([a.kde_out] if a.kde_out else [])
            if a.plane:
                plot_information_plane(df, study, "binning", a.out, a.networks, a.title)
                if a.kde_out:
                    plot_information_plane(df, study, "kde_upper", a.kde_out, a.networks, a.title)
            else:
                plot_mi_vs_epoch(df, study, "binning", a.out, a.networks, a.title)
                if a.kde_out:
                    plot_mi_vs_epoch(df, study, "kde", a.kde_out, a.networks, a.title)
            used = df[(df["study"] == study) & (df["network"].isin(a.networks) if a.networks else True)]
            extra = {"figure": a.figure, "study": study, "scale_description": describe_scale(used)}
        else:
            table = final_layer_table(df, load_reference(a.reference, REFERENCE_COLUMNS, REFERENCE_NUMERIC))
            a.out.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(a.out, index=False, float_format="%.4f")
            outputs, used = [a.out], df
            extra = {"epoch_caps": sorted(int(c) for c in set(df["epoch_cap"]))}
    except (ValueError, KeyError) as exc:
        log.error("%s", exc)
        return 2
    inputs = [*a.information, *([a.reference] if a.cmd == "final-layer" else [])]
    write_provenance(outputs[0], command=a.command, config=json.loads(a.config),
                     scale=",".join(sorted(set(used["scale"]))) or "paper", wall_seconds=time.perf_counter() - t0,
                     inputs=[str(i) for i in inputs], outputs=[str(o) for o in outputs], device="none", extra=extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
