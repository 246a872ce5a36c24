"""Training speed of the ibcnn networks: optimisation steps per second of each variant against plain eager
PyTorch on the same network, batch and thread count, measured in one process (so the ratio holds on the
machine it ran on). A step is what the runs do: forward, cross-entropy, backward, Adam step on a batch of
1000 images in [0, 1].

Variants: ``eager`` (NCHW, the reference), ``channels_last`` (the network's weights in channels-last
memory format: oneDNN's faster convolution path for these few-channel layers; what the runs use when
``channels_last`` is on), ``compile`` (``torch.compile`` of the eager network) and ``compile_channels_last``.

``python -m benchmarks.papers.ibcnn.speed --networks '{"w1": {...}}' --out results/perf/ibcnn_training_speed.csv``
(the rule ``ibcnn_speed``).
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from typing import Optional

import pandas as pd
import torch
import torch.nn.functional as F

from ... import fileio, logs
from ...models import build_model
from ...provenance import write_provenance

log = logging.getLogger("ibbench.ibcnn")
VARIANTS = ("eager", "channels_last", "compile", "compile_channels_last")


def prepare(model: torch.nn.Module, variant: str):
    """The callable a training step runs for ``variant`` (the model itself, converted or compiled)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant: expected one of {VARIANTS}, got {variant!r}")
    if "channels_last" in variant:
        model.to(memory_format=torch.channels_last)
    return torch.compile(model) if variant.startswith("compile") else model


def step_seconds(params: dict, variants, batch: int = 1000, warmup: int = 2, steps: int = 5,
                 seed: int = 0) -> dict[str, tuple[list[float], float]]:
    """Per variant: (seconds of each timed step, seconds of the warm-up steps, which include compilation).
    The variants' steps alternate (one step of each in turn), so a change in the machine's load during the
    measurement falls on all of them alike and their ratios stay fair."""
    g = torch.Generator().manual_seed(seed)
    x, y = torch.rand(batch, 1, 28, 28, generator=g), torch.randint(0, 10, (batch,), generator=g)
    steppers = {}
    for variant in variants:
        torch.manual_seed(seed)
        model = build_model("ibcnn", 10, (1, 28, 28), **params)
        run = prepare(model, variant)
        opt = torch.optim.Adam(model.parameters(), 1e-3)

        def step(run=run, opt=opt):
            loss = F.cross_entropy(run(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        steppers[variant] = step
    warm = {}
    for variant, step in steppers.items():
        t0 = time.perf_counter()
        for _ in range(warmup):
            step()
        warm[variant] = time.perf_counter() - t0
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(steps):
        for variant, step in steppers.items():
            t = time.perf_counter()
            step()
            times[variant].append(time.perf_counter() - t)
    return {v: (times[v], warm[v]) for v in variants}


def speed_table(networks: dict[str, dict], variants, batch: int = 1000, steps: int = 5) -> pd.DataFrame:
    if variants[0] != "eager":
        raise ValueError(f"variants: the first must be 'eager' (the reference of every ratio), got {list(variants)}")
    rows = []
    for name, params in networks.items():
        measured = step_seconds(params, variants, batch=batch, steps=steps)
        base = statistics.median(measured["eager"][0])
        for variant, (times, warm) in measured.items():
            med = statistics.median(times)
            rows.append({"network": name, "variant": variant, "batch": batch, "steps": steps,
                         "median_step_seconds": med, "steps_per_second": 1.0 / med,
                         "speedup_vs_eager": base / med, "warmup_seconds": warm,
                         "threads": torch.get_num_threads()})
            log.info("%s %s: %.3f s/step (%.2fx eager)", name, variant, med, rows[-1]["speedup_vs_eager"])
    return pd.DataFrame(rows)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description="ibcnn training steps per second, each variant against eager PyTorch")
    p.add_argument("--networks", required=True, help="JSON: name -> model params (config ibcnn.networks)")
    p.add_argument("--variants", nargs="+", default=["eager", "channels_last"], choices=VARIANTS)
    p.add_argument("--steps", type=int, default=7)
    p.add_argument("--out", required=True)
    logs.add_record_arguments(logs.add_job_arguments(p))
    a = p.parse_args(argv)
    logs.start_job(a)
    t0 = time.perf_counter()
    chosen = json.loads(a.networks)
    table = speed_table(chosen, a.variants, steps=a.steps)
    fileio.atomic_write(a.out, lambda tmp: table.to_csv(tmp, index=False, float_format="%.5g"))
    write_provenance(a.out, command=a.command, config={"networks": chosen, "variants": a.variants, "steps": a.steps},
                     scale="paper", wall_seconds=time.perf_counter() - t0, outputs=[a.out], device="cpu")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
