"""aura's headline, measured: the aura score against HRel's Renyi MI on the same maps, for every layer
shape of VGG-16 on CIFAR-10 and of LeNet-5 (``results/perf/aura_vs_hrel.csv``), and the wall time of the
whole prune-and-fine-tune loop of each method on LeNet-5, from the run records.

Per layer shape: ``n`` maps of ``F`` filters (ReLU of Gaussian noise, 10 balanced classes), one torch
thread, median of ``repeats`` calls of each score, all measured in this one process so the ratio compares
like with like. HRel's score is timed as HRel computes it (one kernel width per layer by alignment, then
the per-filter MI: ``renyi_layer``) and with a per-filter alignment width (``renyi_filter``). The goal:
aura at least ``goal`` times faster than ``renyi_layer`` on every shape.

    python -m benchmarks.papers.aura.runtime --out results/perf/aura_vs_hrel.csv [--runs RUN.json ...]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
import torch

from estimators import aura, renyi

from ... import logs
from ...provenance import write_provenance

# (network, layer, filters, side): VGG-16 on CIFAR-10 (13 convs) and LeNet-5's two convs on MNIST
LAYER_SHAPES = [("vgg16_cifar", f"conv{i + 1}", f, s) for i, (f, s) in enumerate(
    [(64, 32), (64, 32), (128, 16), (128, 16), (256, 8), (256, 8), (256, 8), (512, 4), (512, 4), (512, 4),
     (512, 2), (512, 2), (512, 2)])] + [("lenet5", "conv1", 20, 24), ("lenet5", "conv2", 50, 8)]


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (allocations, first-call overheads)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def layer_timings(n: int = 100, repeats: int = 3, shapes=LAYER_SHAPES, seed: int = 0, goal: float = 50.0,
                  filter_rule_max_filters: int = 64) -> pd.DataFrame:
    """One row per distinct layer shape. The per-filter alignment rule is timed on at most
    ``filter_rule_max_filters`` filters and scaled linearly (it is a loop over width candidates per filter
    block, linear in the number of filters)."""
    g = torch.Generator().manual_seed(seed)
    rows, seen = [], {}
    for network, layer, f, side in shapes:
        key = (f, side)
        if key not in seen:
            maps = torch.relu(torch.randn(n, f, side, side, generator=g))
            labels = torch.randperm(n, generator=g) % 10
            t_aura = _median_seconds(lambda: aura.filter_relevance(maps, labels, num_classes=10), repeats)

            def hrel_layer():
                sigma = renyi.layer_sigma(maps, labels)
                return renyi.filter_relevance(maps, labels, sigma=sigma)

            t_layer = _median_seconds(hrel_layer, repeats)
            sub = min(f, filter_rule_max_filters)
            t_filter = _median_seconds(lambda: renyi.filter_relevance(maps[:, :sub], labels, sigma_rule="alignment"),
                                       max(1, repeats // 2)) * f / sub
            seen[key] = (t_aura, t_layer, t_filter, sub)
        t_aura, t_layer, t_filter, sub = seen[key]
        rows.append({"network": network, "layer": layer, "filters": f, "map": f"{side}x{side}", "n": n,
                     "aura_s": t_aura, "renyi_layer_s": t_layer, "renyi_filter_s": t_filter,
                     "renyi_filter_timed_on_filters": sub, "speedup_vs_renyi_layer": t_layer / t_aura,
                     "speedup_vs_renyi_filter": t_filter / t_aura, "goal_speedup": goal,
                     "meets_goal": t_layer / t_aura >= goal})
    return pd.DataFrame(rows)


def loop_timings(runs: Sequence[dict]) -> pd.DataFrame:
    """The whole pruning loop of each method on each width set (scoring + rounds of fine-tuning up to the
    last removal: ``method_seconds``; the pipeline's last fine-tuning: ``finetune_seconds``)."""
    rows = [{"network": r["benchmark"], "method": r["method"], "widths_set": r["study"]["sweep_value"],
             "seed": r["seed"], "rounds": (r.get("method_report") or {}).get("rounds", 1),
             "method_seconds": r["method_seconds"], "finetune_seconds": r["finetune_seconds"],
             "finetune_protocol": r.get("finetune_protocol"), "device": r.get("device")} for r in runs]
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.papers.aura.runtime", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--loop-out", type=Path, default=None, help="the LeNet-5 loop timings (with --runs)")
    p.add_argument("--runs", nargs="*", default=[])
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--goal", type=float, default=50.0)
    logs.add_record_arguments(logs.add_job_arguments(p))
    a = p.parse_args(argv)
    logs.start_job(a)
    torch.set_num_threads(a.threads or 1)
    t0 = time.perf_counter()
    table = layer_timings(a.n, a.repeats, goal=a.goal)
    table.insert(0, "torch_threads", torch.get_num_threads())
    a.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(a.out, index=False, float_format="%.5g")
    outputs = [a.out]
    if a.runs:
        loop = loop_timings([json.loads(Path(f).read_text()) for f in a.runs])
        out = a.loop_out or a.out.with_name(a.out.stem + "_loop.csv")
        loop.to_csv(out, index=False, float_format="%.4g")
        outputs.append(out)
    write_provenance(a.out, command=a.command, config={"n": a.n, "repeats": a.repeats, "goal": a.goal},
                     scale="paper", wall_seconds=time.perf_counter() - t0, inputs=list(a.runs),
                     outputs=[str(o) for o in outputs], device="cpu")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
