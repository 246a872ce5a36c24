"""MINT's scoring jobs: score one share of a layer pair's work items, then merge the shares.

    python -m benchmarks.papers.mint.jobs score --spec JSON --data-root D --baseline model.pt --params JSON
                                         --chunk k --chunks K --out chunk_k.pt [--threads N]
    python -m benchmarks.papers.mint.jobs merge --inputs chunk_0.pt ... --out scores.pt --perf-out perf.json

The scoring of a layer pair is split over K Snakemake jobs (interleaved parent groups), which run in
parallel on a workstation's cores or as cluster jobs; the merged file is what ``MINT(scores=...)`` reads
in the pruning job. ``merge`` also writes the timing record behind ``results/perf/mint_scoring.csv``.
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path
from typing import Optional

import torch

from ... import checkpoint, datasets, fileio, logs, training
from ...config import ConfigError
from ...pipeline import TrainerHarness

log = logging.getLogger("ibbench.mint")


def score(spec: dict, data_root: Path, baseline: Path, params: dict, chunk: int, chunks: int, out: Path,
          threads: Optional[int]) -> dict:
    from methods.mint import MINT, score as mint_score

    device = training.resolve_device(spec["device"])
    splits = datasets.load_for_benchmark(spec, data_root)
    model, _ = checkpoint.load_model(baseline)
    p = MINT.Params(**{**params, "threads": threads})
    t0 = time.perf_counter()
    payload = mint_score(model, splits, p, device, harness=TrainerHarness(splits, device), chunk=(chunk, chunks),
                         progress=sys.stderr.isatty())
    payload.update(wall_seconds=time.perf_counter() - t0, threads=threads or torch.get_num_threads(),
                   device=str(device), cpu=platform.processor() or platform.machine(),
                   n_estimates=int(sum(int((~torch.isnan(s)).sum()) for s in payload["scores"].values())))
    fileio.torch_save(payload, out)
    log.info("mint scores chunk %d/%d: %d estimates in %.1f s on %s", chunk, chunks, payload["n_estimates"],
             payload["wall_seconds"], device)
    return payload


def merge(inputs: list[Path], out: Path, perf_out: Optional[Path]) -> dict:
    from methods.mint import merge_scores

    payloads = [torch.load(p, map_location="cpu", weights_only=False) for p in inputs]
    merged = merge_scores(payloads)
    fileio.torch_save(merged, out)
    if perf_out is not None:
        record = {
            "settings": merged["settings"], "n_samples": merged["n_samples"],
            "pairs": {k: list(v.shape) for k, v in merged["scores"].items()},
            "n_estimates": sum(pl["n_estimates"] for pl in payloads),
            "chunks": len(payloads), "threads_per_chunk": payloads[0]["threads"], "device": payloads[0]["device"],
            "cpu": payloads[0]["cpu"],
            "chunk_wall_seconds": [pl["wall_seconds"] for pl in payloads],
            # the chunks run as parallel jobs: the scoring takes as long as the slowest one
            "parallel_wall_seconds": max(pl["wall_seconds"] for pl in payloads),
            "total_cpu_job_seconds": sum(pl["wall_seconds"] for pl in payloads),
        }
        fileio.write_json(perf_out, record, indent=1)
    return merged


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.papers.mint.jobs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("score")
    s.add_argument("--spec", required=True, help="resolved benchmark as JSON")
    s.add_argument("--data-root", type=Path, required=True)
    s.add_argument("--baseline", type=Path, required=True)
    s.add_argument("--params", required=True, help="MINT params as JSON (those that set the scores)")
    s.add_argument("--chunk", type=int, required=True)
    s.add_argument("--chunks", type=int, required=True)
    s.add_argument("--out", type=Path, required=True)
    m = sub.add_parser("merge")
    m.add_argument("--inputs", type=Path, nargs="+", required=True)
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--perf-out", type=Path, default=None)
    for sp in (s, m):
        logs.add_job_arguments(sp)
    a = p.parse_args(argv)
    logs.start_job(a)
    try:
        if a.cmd == "score":
            score(json.loads(a.spec), a.data_root, a.baseline, json.loads(a.params), a.chunk, a.chunks, a.out,
                  a.threads)
        else:
            merge(a.inputs, a.out, a.perf_out)
    except (datasets.DatasetError, ConfigError, ValueError, KeyError, FileNotFoundError) as exc:
        log.error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
