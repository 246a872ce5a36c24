"""Does a filter-relevance score find the label-relevant filters? Constructed layers with a known answer.

HRel and aura rank the filters of a conv layer by a "relevance to the labels" score and prune the lowest.
Before pruning with a score, it must score what it claims on data whose answer is known. This module builds
one such layer (``constructed_layer``): filters that are, by construction, functions of the label, and
filters that are, by construction, independent of it, and tabulates how every score of the suite ranks
them (``sanity_table``), per map size, seed and class count.

Filters of ``constructed_layer`` (n maps each, float32; labels balanced, ``arange(n) % c`` shuffled):

label-dependent, the label also carried by the map's global mean (``LABEL_FILTERS``):
  ``label_pattern``        a fixed random pattern per class: Z_c - mean(Z_c) + m_c with Z_c ~ N(0, 1) per
                           cell and m_c = linspace(-1, 1, c)[class], so the maps of a class are identical, the
                           classes differ in their spatial pattern *and* in their mean (evenly spaced, so
                           a per-map-mean score, the ibfs binning reference, can separate them too);
  ``label_intensity``      spatially uniform, value class / c, nothing else;
  ``label_pattern_noisy``  ``label_pattern`` + N(0, 0.5^2) i.i.d. per cell;
label-dependent, the label carried only by *where* the map is bright (``SPATIAL_LABEL_FILTERS``; the
global mean is the same for every class, so a mean-pooled score cannot see them; they test whether a
spatial score does):
  ``label_stripe``         1 on column (class mod W), 0 elsewhere;
  ``label_image``          aura's own label image (``estimators.aura.label_image``: the one-hot vector
                           tiled c x c and nearest-resized to H x W) as a float map: the filter that agrees
                           best with what aura compares maps against;
label-free (``LABEL_FREE_FILTERS``):
  ``noise``                N(0, 1) i.i.d. per cell;
  ``noise_smooth``         N(0, 1) blurred with a 3 x 3 box (valid part of an (H+2) x (W+2) field, times
                           3 to restore unit variance): spatial structure without label information;
  ``constant``             a dead filter: all zeros;
  ``relu_noise``           ReLU(N(0, 1)): about half the cells exactly 0.

Scores (``SCORES``; each ``fn(maps, labels, num_classes) -> (F,)``, higher = more relevant):
  ``aura``               ``estimators.aura.filter_relevance`` with the paper's defaults (bins=128,
                         pooling="batch", bin_range="filter");
  ``aura_sample``        the same with pooling="sample" (per-map co-occurrences, averaged);
  ``renyi_alignment``    ``estimators.renyi.filter_relevance``, alpha=1.01, a kernel width per filter
                         chosen by label alignment;
  ``renyi_layer_sigma``  alpha=1.01, one width for the whole layer (``renyi.layer_sigma``: HRel's rule);
  ``renyi_vn``           alpha=1.0 (von Neumann limit) with the layer width: what HRel's code computes;
  ``renyi_silverman``    alpha=1.01, per-filter Silverman-like width;
  ``binning_mean``       reference: ``estimators.binning.per_filter_mi`` (the ibfs paper's per-variable
                         plug-in MI, nats) of each map's global mean with 100 equal-width bins.
Units differ (aura: none; Renyi and binning: nats); only the ranking within a row is compared.

Table columns (one row per score, class count, map size and seed): ``score``, ``num_classes``, ``size``
("HxW"), ``height``, ``width``, ``seed``, ``n``, ``label_image_classes`` (how many classes reach aura's
label image at this width: fewer than c when W < c, see ``estimators.aura``), ``note`` (why a score was
skipped, or what limits it), one column per filter with its score, ``first`` (the filter ranked first;
ties joined by "|"), ``rank_<filter>`` (1 = highest; tied scores share the best rank), ``label_margin``
(lowest ``LABEL_FILTERS`` score minus highest label-free score), ``label_lowest`` and ``free_highest``
(the two filters behind that margin), ``label_above_noise`` (every
``LABEL_FILTERS`` score above every label-free score), ``spatial_label_above_noise`` (the same for
``SPATIAL_LABEL_FILTERS``), ``dead_last`` (the constant filter ranked last or tied for last). Scores within
``TIE_TOL`` (relative to max(1, |score|)) count as tied; a tie between a label and a label-free filter is
not "above".

CLI: ``python -m benchmarks.papers.aura.sanity --out results/aura/score_sanity.csv [--log LOG]`` writes the
table, ``<stem>_summary.csv`` beside it (per score, class count and size: the fraction of seeds with each
boolean and the filters ranked first) and a provenance record. A few seconds on one CPU thread.
"""
from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
import torch
import torch.nn.functional as F_nn

from estimators import aura, binning, renyi
from estimators.base import EstimatorInputError

from ... import logs
from ...fileio import atomic_write
from ...provenance import write_provenance

log = logging.getLogger("ibbench.aura.sanity")

LABEL_FILTERS = ("label_pattern", "label_intensity", "label_pattern_noisy")
SPATIAL_LABEL_FILTERS = ("label_stripe", "label_image")
LABEL_FREE_FILTERS = ("noise", "noise_smooth", "constant", "relu_noise")
FILTERS = LABEL_FILTERS + SPATIAL_LABEL_FILTERS + LABEL_FREE_FILTERS

PATTERN_NOISE = 0.5  # std of the noise added to label_pattern_noisy (the pattern cells have std 1)
MEAN_SPREAD = 1.0  # class means of label_pattern: linspace(-MEAN_SPREAD, MEAN_SPREAD, c)
SMOOTH_BOX = 3  # box-filter side of noise_smooth
TIE_TOL = 1e-9

DEFAULT_SIZES = ((8, 8), (4, 4), (2, 2))
DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_CLASS_COUNTS = (10, 2)


def balanced_labels(n: int, num_classes: int, generator: torch.Generator) -> torch.Tensor:
    """``arange(n) % c`` in a seeded random order: class counts differ by at most one."""
    return (torch.arange(n) % num_classes)[torch.randperm(n, generator=generator)]


def constructed_layer(n: int = 100, num_classes: int = 10, size: tuple[int, int] = (8, 8),
                      seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(maps (n, F, H, W) float32, labels (n,) int64, filter names) of the constructed layer (module doc)."""
    h, w = int(size[0]), int(size[1])
    if n < 1 or num_classes < 2 or h < 1 or w < 1:
        raise ValueError(f"expected n >= 1, num_classes >= 2 and a positive size, got n={n}, "
                         f"num_classes={num_classes}, size={size}")
    g = torch.Generator().manual_seed(int(seed))
    y = balanced_labels(n, num_classes, g)
    z = torch.randn(num_classes, h, w, generator=g)
    patterns = z - z.mean((1, 2), keepdim=True) + torch.linspace(-MEAN_SPREAD, MEAN_SPREAD, num_classes)[:, None, None]
    maps = {}
    maps["label_pattern"] = patterns[y]
    maps["label_intensity"] = (y.to(torch.float32) / num_classes)[:, None, None].expand(n, h, w)
    maps["label_pattern_noisy"] = patterns[y] + PATTERN_NOISE * torch.randn(n, h, w, generator=g)
    stripe = torch.zeros(n, h, w)
    stripe[torch.arange(n), :, y % w] = 1.0
    maps["label_stripe"] = stripe
    maps["label_image"] = aura.label_image(y, num_classes, (h, w)).to(torch.float32)
    maps["noise"] = torch.randn(n, h, w, generator=g)
    k = SMOOTH_BOX
    field = torch.randn(n, 1, h + k - 1, w + k - 1, generator=g)
    maps["noise_smooth"] = F_nn.avg_pool2d(field, k, stride=1).squeeze(1) * k  # box mean of k*k: std 1/k
    maps["constant"] = torch.zeros(n, h, w)
    maps["relu_noise"] = torch.relu(torch.randn(n, h, w, generator=g))
    names = list(FILTERS)
    return torch.stack([maps[f] for f in names], 1).to(torch.float32).contiguous(), y, names


# ---- scores -----------------------------------------------------------------------------------------------

def _aura(pooling: str) -> Callable:
    def score(maps: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
        return aura.filter_relevance(maps, labels, num_classes=num_classes, bins=128, pooling=pooling,
                                     bin_range="filter")
    return score


def _renyi(alpha: float, width: str) -> Callable:
    def score(maps: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
        if width == "layer":
            return renyi.filter_relevance(maps, labels, alpha=alpha, sigma=renyi.layer_sigma(maps, labels))
        return renyi.filter_relevance(maps, labels, alpha=alpha, sigma_rule=width)
    return score


def _binning_mean(maps: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return binning.per_filter_mi(maps.mean((2, 3)), labels, bins=100)  # nats


SCORES: dict[str, Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]] = {
    "aura": _aura("batch"),
    "aura_sample": _aura("sample"),
    "renyi_alignment": _renyi(1.01, "alignment"),
    "renyi_layer_sigma": _renyi(1.01, "layer"),
    "renyi_vn": _renyi(1.0, "layer"),
    "renyi_silverman": _renyi(1.01, "silverman"),
    "binning_mean": _binning_mean,
}

SCORE_CONFIG = {
    "aura": {"bins": 128, "pooling": "batch", "bin_range": "filter"},
    "aura_sample": {"bins": 128, "pooling": "sample", "bin_range": "filter"},
    "renyi_alignment": {"alpha": 1.01, "sigma_rule": "alignment", "label_sigma": 0.1},
    "renyi_layer_sigma": {"alpha": 1.01, "sigma": "layer_sigma(maps, labels)", "label_sigma": 0.1},
    "renyi_vn": {"alpha": 1.0, "sigma": "layer_sigma(maps, labels)", "label_sigma": 0.1},
    "renyi_silverman": {"alpha": 1.01, "sigma_rule": "silverman", "label_sigma": 0.1},
    "binning_mean": {"estimator": "binning.per_filter_mi", "bins": 100, "variable": "per-map global mean",
                     "unit": "nats"},
}


# ---- table ------------------------------------------------------------------------------------------------

def _tol(v: float) -> float:
    return TIE_TOL * max(1.0, abs(v))


def ranks(scores: dict[str, float]) -> dict[str, int]:
    """1 + the number of filters scoring clearly higher (tied scores share the best rank)."""
    return {f: 1 + sum(o > s + _tol(s) for o in scores.values()) for f, s in scores.items()}


def judge(scores: dict[str, float]) -> dict[str, object]:
    """``first``, ``rank_<f>``, ``label_margin`` and the booleans for one row of per-filter scores."""
    r = ranks(scores)
    free_max = max(scores[f] for f in LABEL_FREE_FILTERS)

    def above(group: Sequence[str]) -> bool:
        return bool(min(scores[f] for f in group) > free_max + _tol(free_max))

    others_min = min(s for f, s in scores.items() if f != "constant")
    out: dict[str, object] = {"first": "|".join(f for f in scores if r[f] == 1)}
    out.update({f"rank_{f}": r[f] for f in scores})
    out["label_margin"] = min(scores[f] for f in LABEL_FILTERS) - free_max
    out["label_lowest"] = min(LABEL_FILTERS, key=lambda f: scores[f])
    out["free_highest"] = max(LABEL_FREE_FILTERS, key=lambda f: scores[f])
    out["label_above_noise"] = above(LABEL_FILTERS)
    out["spatial_label_above_noise"] = above(SPATIAL_LABEL_FILTERS)
    out["dead_last"] = bool(scores["constant"] <= others_min + _tol(others_min))
    return out


def visible_classes(num_classes: int, width: int) -> int:
    """How many classes reach aura's nearest-resized label image of this width."""
    return len({(j * num_classes) // width for j in range(width)} & set(range(num_classes)))


def sanity_table(sizes: Sequence[tuple[int, int]] = DEFAULT_SIZES, seeds: Sequence[int] = DEFAULT_SEEDS,
                 n: int = 100, class_counts: Sequence[int] = DEFAULT_CLASS_COUNTS,
                 scores: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (score, num_classes, map size, seed): see the module docstring for the columns."""
    names = list(SCORES) if scores is None else list(scores)
    rows = []
    for c in class_counts:
        for size in sizes:
            h, w = int(size[0]), int(size[1])
            shown = visible_classes(c, w)
            for seed in seeds:
                maps, labels, filters = constructed_layer(n=n, num_classes=c, size=(h, w), seed=seed)
                for name in names:
                    row: dict[str, object] = {"score": name, "num_classes": c, "size": f"{h}x{w}", "height": h,
                                              "width": w, "seed": seed, "n": n, "label_image_classes": shown,
                                              "note": ""}
                    if name.startswith("aura") and shown < c:
                        row["note"] = f"label image shows {shown} of {c} classes (W={w} < c)"
                    try:
                        values = SCORES[name](maps, labels, c).to(torch.float64).cpu().tolist()
                    except EstimatorInputError as e:  # e.g. aura on maps narrower than 2 x 2
                        row["note"] = f"skipped: {e}"
                        row.update({f: float("nan") for f in filters})
                        row.update({"first": "", **{f"rank_{f}": pd.NA for f in filters}, "label_margin": float("nan"),
                                    "label_lowest": "", "free_highest": "",
                                    "label_above_noise": pd.NA, "spatial_label_above_noise": pd.NA,
                                    "dead_last": pd.NA})
                        rows.append(row)
                        continue
                    per_filter = dict(zip(filters, values))
                    row.update(per_filter)
                    row.update(judge(per_filter))
                    rows.append(row)
    table = pd.DataFrame(rows)
    for f in FILTERS:
        table[f"rank_{f}"] = table[f"rank_{f}"].astype("Int64")
    for b in ("label_above_noise", "spatial_label_above_noise", "dead_last"):
        table[b] = table[b].astype("boolean")
    return table


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per score, class count and size: seeds, the fraction of them with each boolean, the filters ranked
    first, the lowest label filter and the highest label-free filter (each with its count of seeds) and the
    mean and lowest ``label_margin``."""
    rows = []
    for (score, c, size), g in table.groupby(["score", "num_classes", "size"], sort=False):
        done = g[g["first"] != ""]
        firsts = Counter(done["first"])

        def rate(col: str) -> float:
            return float(done[col].astype(float).mean()) if len(done) else float("nan")

        rows.append({
            "score": score, "num_classes": c, "size": size, "seeds": len(g), "scored": len(done),
            "label_above_noise_rate": rate("label_above_noise"),
            "spatial_label_above_noise_rate": rate("spatial_label_above_noise"),
            "dead_last_rate": rate("dead_last"),
            "first": "; ".join(f"{f} x{k}" for f, k in firsts.most_common()),
            "label_lowest": "; ".join(f"{f} x{k}" for f, k in Counter(done["label_lowest"]).most_common()),
            "free_highest": "; ".join(f"{f} x{k}" for f, k in Counter(done["free_highest"]).most_common()),
            "label_margin_mean": float(done["label_margin"].mean()) if len(done) else float("nan"),
            "label_margin_min": float(done["label_margin"].min()) if len(done) else float("nan"),
            "note": "; ".join(sorted(set(g["note"]) - {""})),
        })
    return pd.DataFrame(rows)


def _write_csv(df: pd.DataFrame, path: Path) -> Path:
    return atomic_write(Path(path), lambda tmp: df.to_csv(tmp, index=False, float_format="%.6g"))


def _parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected a size HxW such as 8x8, got {text!r}") from e
    return h, w


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Filter-relevance scores on a constructed layer with a known answer")
    p.add_argument("--out", type=Path, default=Path("results/aura/score_sanity.csv"))
    p.add_argument("--summary-out", type=Path, default=None,
                   help="summary CSV (default: <out stem>_summary.csv beside --out)")
    p.add_argument("--sizes", type=_parse_size, nargs="+", default=list(DEFAULT_SIZES), help="map sizes HxW")
    p.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    p.add_argument("--n", type=int, default=100, help="maps per batch (the aura paper estimates from 100)")
    p.add_argument("--classes", type=int, nargs="+", default=list(DEFAULT_CLASS_COUNTS), help="class counts c")
    logs.add_job_arguments(p)
    a = p.parse_args(argv)
    logs.start_job(a)
    t0 = time.perf_counter()
    summary_out = a.summary_out or a.out.with_name(a.out.stem + "_summary.csv")
    table = sanity_table(sizes=[tuple(s) for s in a.sizes], seeds=a.seeds, n=a.n, class_counts=a.classes)
    summary = summarize(table)
    _write_csv(table, a.out)
    _write_csv(summary, summary_out)
    config = {"sizes": [f"{h}x{w}" for h, w in a.sizes], "seeds": list(a.seeds), "n": a.n,
              "class_counts": list(a.classes), "scores": SCORE_CONFIG, "filters": list(FILTERS),
              "label_filters": list(LABEL_FILTERS), "spatial_label_filters": list(SPATIAL_LABEL_FILTERS),
              "label_free_filters": list(LABEL_FREE_FILTERS), "pattern_noise": PATTERN_NOISE,
              "mean_spread": MEAN_SPREAD, "smooth_box": SMOOTH_BOX, "tie_tol": TIE_TOL,
              "torch_threads": torch.get_num_threads()}
    command = "python -m benchmarks.papers.aura.sanity " + " ".join(
        shlex.quote(v) for v in (sys.argv[1:] if argv is None else argv))
    write_provenance(a.out, command=command.strip(), config=config, scale="paper",
                     wall_seconds=time.perf_counter() - t0, inputs=[], outputs=[str(a.out), str(summary_out)],
                     device="cpu")
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        log.info("score sanity summary (%s):\n%s", summary_out, summary.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
