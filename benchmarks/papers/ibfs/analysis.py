"""The analysis of one trained network (one benchmark, one seed) behind Figs 2, 3 and 4a, without pruning:

* ``information`` (Fig 2): per filter of each analysed layer, I(X;T) = H(T), I(T;Y) and each class's
  information in bits (``methods.ibfs``' scores: the global mean of the filter's map per training image,
  100 equal-width bins);
* ``curve`` (Fig 4a): the validation AUC while the ``k`` lowest-ranked filters of the top layer are masked,
  for ``curve_points`` values of k from 0 to all but one, one curve per ranking;
* ``heatmaps`` (Fig 3): on a few validation images, the sum of the maps of the ``heatmap_filters`` most
  and least informative filters of the top layer (I(T;Y)), each upsampled to the image.

A layer is named by a module: a conv layer stands for its post-activation map (the activation after it),
any other module (a ResNet block, whose output is after its add and ReLU) for its own output.

``python -m benchmarks.papers.ibfs.analysis --spec '{...}' --seed 0 --data-root data --baseline MODEL
--layers '{"features.28": "block5_conv3"}' --top features.28 --rankings y0 y1 y0_y1 --information CSV
[--curve CSV --heatmaps PT]`` (the rule ``ibfs_analysis``).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from estimators.binning import per_filter_information
from methods.activity import channel_responses, post_activation_module
from methods.ibfs import masked_network_auc, ranking_scores

from ... import checkpoint, datasets, fileio, logs, training
from ...activations import record
from ...provenance import write_provenance

log = logging.getLogger("ibbench.ibfs")
LOG2 = math.log(2.0)
CURVE_COLUMNS = ("benchmark", "seed", "layer", "label", "ranking", "masked", "filters", "auc", "auc_split")


def map_module(model: nn.Module, layer: str) -> str:
    """The module whose output is the analysed map of ``layer`` (module docstring)."""
    if isinstance(model.get_submodule(layer), (nn.Conv2d, nn.Linear)):
        return post_activation_module(model, layer, or_unit=True)
    return layer


def information_table(model: nn.Module, modules: dict[str, str], labels_of: dict[str, str], batches,
                      bins: int, reduce: str) -> tuple[pd.DataFrame, dict[str, dict]]:
    """(one row per filter, the raw ``per_filter_information`` per layer)."""
    responses, labels = channel_responses(model, modules, batches, reduce)
    rows, info = [], {}
    for layer, r in responses.items():
        i = per_filter_information(r, labels, bins=bins)
        info[layer] = i
        for f in range(r.shape[1]):
            row = {"layer": layer, "label": labels_of[layer], "filter": f, "i_xt_bits": float(i["h_t"][f]) / LOG2 + 0.0,
                   "i_ty_bits": float(i["i_ty"][f]) / LOG2, "samples": len(labels)}
            for k, c in enumerate(i["classes"].tolist()):
                row[f"class{c}_info_bits"] = float(i["class_info"][f, k]) / LOG2
            rows.append(row)
    return pd.DataFrame(rows), info


def masking_curve(model: nn.Module, unit: str, module: str, scores: torch.Tensor, auc_batches: list,
                  labels: torch.Tensor, points: int) -> list[tuple[int, float]]:
    """(filters masked, AUC) with the ``k`` lowest-scored filters of ``unit`` masked, ``points`` values of k
    from 0 to all but one (the paper's Fig 4a: "pruning low-informative filters")."""
    n = scores.numel()
    order = torch.argsort(scores, stable=True)
    ks = sorted({int(round(v)) for v in torch.linspace(0, n - 1, min(points, n)).tolist()})
    out = []
    for k in ks:
        keep = torch.ones(n, dtype=torch.bool)
        keep[order[:k]] = False
        out.append((k, masked_network_auc(model, {unit: module}, {unit: keep}, auc_batches, labels)))
    return out


def heatmaps(model: nn.Module, module: str, scores: torch.Tensor, images: torch.Tensor, filters: int) -> dict:
    """The summed maps of the ``filters`` highest- and lowest-scored filters on ``images``, each upsampled
    (bilinear) to the image and scaled to [0, 1] per image."""
    maps = record(model, [(images, None)], [module])[module]
    k = min(filters, scores.numel() // 2)
    order = torch.argsort(scores, descending=True, stable=True)
    out = {"images": images.cpu(), "filters": k}
    for name, idx in (("most", order[:k]), ("least", order[-k:])):
        m = F.interpolate(maps[:, idx].sum(1, keepdim=True), size=tuple(images.shape[-2:]), mode="bilinear",
                          align_corners=False)[:, 0]
        lo = m.flatten(1).amin(1).view(-1, 1, 1)
        span = (m.flatten(1).amax(1).view(-1, 1, 1) - lo).clamp_min(1e-12)
        out[name] = ((m - lo) / span).cpu()
    return out


def run(spec: dict, seed: int, data_root: Path, baseline: Path, layers: dict[str, str], top: Optional[str],
        rankings: Sequence[str], bins: int, reduce: str, curve_points: int, heatmap_filters: int,
        heatmap_images: int, heatmap_ranking: str, batch_size: int = 500) -> dict:
    device = training.resolve_device(spec["device"])
    splits = datasets.load_for_benchmark(spec, data_root)
    model, _ = checkpoint.load_model(baseline)
    model.to(device).eval()
    modules = {layer: map_module(model, layer) for layer in layers}
    table, info = information_table(model, modules, layers,
                                    training.batches_for(splits.train, device).eval_batches(batch_size), bins, reduce)
    table.insert(0, "seed", seed)
    table.insert(0, "benchmark", spec["benchmark"])
    out = {"information": table}
    if top is not None:
        if top not in layers:
            raise ValueError(f"ibfs analysis: the top layer {top!r} is not one of the analysed layers {list(layers)}")
        auc_batches = list(training.batches_for(splits.val, device).eval_batches(batch_size))
        auc_labels = torch.cat([y.cpu() for _, y in auc_batches])
        rows = []
        for ranking in rankings:
            for k, value in masking_curve(model, top, modules[top], ranking_scores(info[top], ranking), auc_batches,
                                          auc_labels, curve_points):
                rows.append({"benchmark": spec["benchmark"], "seed": seed, "layer": top, "label": layers[top],
                             "ranking": ranking, "masked": k, "filters": int(info[top]["h_t"].numel()), "auc": value,
                             "auc_split": "val"})
            log.info("ibfs analysis %s seed %d: %s curve over %d points", spec["benchmark"], seed, ranking,
                     curve_points)
        out["curve"] = pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
        x = torch.cat([x for x, _ in auc_batches])[:heatmap_images]
        out["heatmaps"] = {**heatmaps(model, modules[top], ranking_scores(info[top], heatmap_ranking), x,
                                      heatmap_filters), "layer": top, "label": layers[top], "ranking": heatmap_ranking,
                           "mean": list(splits.info.mean), "std": list(splits.info.std),
                           "input_scaling": spec.get("input_scaling", "standardize")}
    return out


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description="ibfs: filter information, masking curves and heatmaps of a network")
    p.add_argument("--spec", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--baseline", type=Path, required=True)
    p.add_argument("--layers", required=True, help="JSON: module name -> the paper's label")
    p.add_argument("--top", default=None)
    p.add_argument("--rankings", nargs="+", default=["y0", "y1", "y0_y1"])
    p.add_argument("--method-params", default="{}", help="JSON: methods/ibfs.py params (bins, reduce, batch_size)")
    p.add_argument("--curve-points", type=int, default=20)
    p.add_argument("--heatmap-filters", type=int, default=40)
    p.add_argument("--heatmap-images", type=int, default=4)
    p.add_argument("--heatmap-ranking", default="y0_y1")
    p.add_argument("--information", type=Path, required=True)
    p.add_argument("--curve", type=Path, default=None)
    p.add_argument("--heatmaps", type=Path, default=None)
    logs.add_record_arguments(logs.add_job_arguments(p))
    a = p.parse_args(argv)
    logs.start_job(a)
    t0 = time.perf_counter()
    spec = json.loads(a.spec)
    top = a.top or None
    if top is not None and (a.curve is None or a.heatmaps is None):
        p.error("--top needs --curve and --heatmaps (where its masking curve and heatmaps go)")
    mp = json.loads(a.method_params)
    out = run(spec, a.seed, a.data_root, a.baseline, json.loads(a.layers), top, a.rankings, mp.get("bins", 100),
              mp.get("reduce", "mean"), a.curve_points, a.heatmap_filters, a.heatmap_images, a.heatmap_ranking,
              batch_size=mp.get("batch_size", 500))
    written = [a.information]
    fileio.atomic_write(a.information, lambda tmp: out["information"].to_csv(tmp, index=False, float_format="%.6g"))
    # without a top layer (ResNet-50: Fig 2 only) the curve has no rows and the heatmaps are None
    if a.curve is not None:
        curve = out.get("curve", pd.DataFrame(columns=list(CURVE_COLUMNS)))
        fileio.atomic_write(a.curve, lambda tmp: curve.to_csv(tmp, index=False, float_format="%.6g"))
        written.append(a.curve)
    if a.heatmaps is not None:
        fileio.torch_save(out.get("heatmaps"), a.heatmaps)
        written.append(a.heatmaps)
    write_provenance(a.information, command=a.command, config=json.loads(a.config), scale=spec["scale"],
                     wall_seconds=time.perf_counter() - t0, outputs=written)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
