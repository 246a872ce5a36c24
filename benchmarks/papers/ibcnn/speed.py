"""Training speed of the ibcnn networks: optimisation steps per second of each variant against plain eager
PyTorch on the same network, batch and thread count, measured in one process (so the ratio holds on the
machine it ran on). A step is what the runs do: forward, cross-entropy, backward, Adam step on a batch of
1000 images in [0, 1].

Variants: ``eager`` (NCHW, the reference), ``channels_last`` (the network's weights in channels-last
memory format: oneDNN's faster convolution path for these few-channel layers; what the runs use when
``channels_last`` is on), ``direct`` (the direct convolution + tanh kernels of ``direct.py``, NCHW; what the
runs use when ``direct_conv`` is on), ``compile`` (``torch.compile`` of the eager network) and
``compile_channels_last``: each one training process with the job's threads, so ``speedup_vs_eager`` is the
speed-up of one run.

``channels_last_processes`` and ``direct_processes``: the machine's throughput instead, what the CPU overlay
does with its cores (``resources.cpus: 1``: ``snakemake --cores T`` trains T networks side by side): T
single-thread processes, each training its own copy of the network (channels-last, or on the direct
kernels) at the same time; its ``steps_per_second`` is the sum over the processes, its
``median_step_seconds`` one process's median step. oneDNN's tiny convolutions use a second thread poorly
(1.2-1.9x), so two runs side by side finish more steps per second than one run on two threads. The
processes are timed after the alternating variants, so run the benchmark on an otherwise idle machine.

How far a faster kernel could go: each network's counted operations per step against the machine's own
float32 matrix-product rate, measured in the same run (``peak_bound_speedup``, ``speed_table``).

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
from . import direct

log = logging.getLogger("ibbench.ibcnn")
# each process variant: the in-process variant its single-thread processes train
PROCESS_VARIANTS = {"channels_last_processes": "channels_last", "direct_processes": "direct"}
VARIANTS = ("eager", "channels_last", "direct", "compile", "compile_channels_last", *PROCESS_VARIANTS)


def prepare(model: torch.nn.Module, variant: str):
    """The callable a training step runs for ``variant`` (the model itself, converted or compiled)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant: expected one of {VARIANTS}, got {variant!r}")
    if variant in PROCESS_VARIANTS:
        raise ValueError(f"variant: {variant!r} runs in its own processes (process_step_seconds)")
    if variant == "direct":
        direct.use_direct_kernels(model)
    if "channels_last" in variant:
        model.to(memory_format=torch.channels_last)
    return torch.compile(model) if variant.startswith("compile") else model


def _stepper(params: dict, variant: str, batch: int, seed: int):
    """One training step of a fresh ``variant`` network on a fixed random batch (the same for every
    variant of a seed)."""
    g = torch.Generator().manual_seed(seed)
    x, y = torch.rand(batch, 1, 28, 28, generator=g), torch.randint(0, 10, (batch,), generator=g)
    torch.manual_seed(seed)
    model = build_model("ibcnn", 10, (1, 28, 28), **params)
    run = prepare(model, variant)
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def step():
        loss = F.cross_entropy(run(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _process_worker(params, variant, batch, warmup, steps, seed, barrier, results):
    torch.set_num_threads(1)
    step = _stepper(params, variant, batch, seed)
    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    warm = time.perf_counter() - t0
    barrier.wait()  # every process starts timing together: the machine is fully loaded throughout
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    results.put((times, warm))


def process_step_seconds(params: dict, processes: int, batch: int = 1000, warmup: int = 2, steps: int = 5,
                         seed: int = 0, variant: str = "channels_last") -> list[tuple[list[float], float]]:
    """Per process: (seconds of each timed step, warm-up seconds), ``processes`` single-thread processes
    training side by side, each its own network of the in-process ``variant``."""
    import multiprocessing

    if processes < 1:
        raise ValueError(f"processes: expected at least 1, got {processes}")
    if variant in PROCESS_VARIANTS or variant not in VARIANTS:
        raise ValueError(f"variant: expected an in-process variant, got {variant!r}")
    if variant == "direct":
        direct.extension()  # built once here, not by every worker at once
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    workers = [ctx.Process(target=_process_worker, args=(params, variant, batch, warmup, steps, seed + i, barrier, results))
               for i in range(processes)]
    for w in workers:
        w.start()
    try:
        out = [results.get(timeout=3600) for _ in workers]
    finally:
        for w in workers:
            w.join(timeout=60)
    failed = [w.exitcode for w in workers if w.exitcode != 0]
    if failed:
        raise RuntimeError(f"{variant} in {processes} processes: worker exit codes {failed}")
    return out


def step_seconds(params: dict, variants, batch: int = 1000, warmup: int = 2, steps: int = 5,
                 seed: int = 0) -> dict[str, tuple[list[float], float]]:
    """Per variant: (seconds of each timed step, seconds of the warm-up steps, which include compilation).
    The variants' steps alternate (one step of each in turn), so a change in the machine's load during the
    measurement falls on all of them alike and their ratios stay fair."""
    steppers = {variant: _stepper(params, variant, batch, seed) for variant in variants}
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


def step_gflop(params: dict, batch: int) -> float:
    """Floating-point operations of one training step, forward and backward of every convolution and matrix
    product (``torch.utils.flop_counter``; element-wise work is not counted), in GFLOP."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build_model("ibcnn", 10, (1, 28, 28), **params)
    x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / 1e9


def matmul_gflops(size: int = 2048, reps: int = 5) -> float:
    """This machine's float32 matrix-product rate on the current threads: the practical peak of its cores."""
    a, b = torch.rand(size, size), torch.rand(size, size)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * size ** 3 * reps / (time.perf_counter() - t) / 1e9


def speed_table(networks: dict[str, dict], variants, batch: int = 1000, steps: int = 5) -> pd.DataFrame:
    """One row per network and variant. Beside the speed-up: ``gflop_per_step``, the rate a variant reached
    (``gflops``), the machine's matrix-product rate on the job's threads measured in the same run
    (``peak_gflops``), and ``peak_bound_speedup``: the speed-up over eager a step would have if all its
    counted operations ran at that rate and nothing else took time, a bound no kernel is likely to reach."""
    if variants[0] != "eager":
        raise ValueError(f"variants: the first must be 'eager' (the reference of every ratio), got {list(variants)}")
    threads = torch.get_num_threads()
    peak = matmul_gflops()
    log.info("float32 matrix product on %d threads: %.0f GFLOP/s", threads, peak)
    in_process = [v for v in variants if v not in PROCESS_VARIANTS]
    rows = []
    for name, params in networks.items():
        gflop = step_gflop(params, batch)
        measured = step_seconds(params, in_process, batch=batch, steps=steps)
        base = statistics.median(measured["eager"][0])
        bound = {"gflop_per_step": gflop, "peak_gflops": peak, "peak_bound_speedup": base * peak / gflop}
        for variant, (times, warm) in measured.items():
            med = statistics.median(times)
            rows.append({"network": name, "variant": variant, "batch": batch, "steps": steps,
                         "median_step_seconds": med, "steps_per_second": 1.0 / med,
                         "speedup_vs_eager": base / med, "warmup_seconds": warm,
                         "threads": threads, "processes": 1, "gflops": gflop / med, **bound})
            log.info("%s %s: %.3f s/step (%.2fx eager)", name, variant, med, rows[-1]["speedup_vs_eager"])
        for variant in (v for v in variants if v in PROCESS_VARIANTS):
            per_process = process_step_seconds(params, threads, batch=batch, steps=steps,
                                               variant=PROCESS_VARIANTS[variant])
            rate = sum(1.0 / statistics.median(t) for t, _ in per_process)
            rows.append({"network": name, "variant": variant, "batch": batch, "steps": steps,
                         "median_step_seconds": statistics.median([statistics.median(t) for t, _ in per_process]),
                         "steps_per_second": rate, "speedup_vs_eager": rate * base,
                         "warmup_seconds": max(w for _, w in per_process), "threads": 1, "processes": threads,
                         "gflops": gflop * rate, **bound})
            log.info("%s %s, %d single-thread processes: %.2f steps/s together (%.2fx eager on %d threads)", name,
                     variant, threads, rate, rate * base, threads)
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
