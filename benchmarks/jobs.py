"""Entry points of the Snakemake rules (one function per rule, each also a CLI sub-command).

    python -m benchmarks.jobs prepare  --dataset mnist --data-root data --marker runs/data/mnist.json
    python -m benchmarks.jobs train    --spec '{...}' --seed 0 --data-root data --model-out ... --summary-out ...
    python -m benchmarks.jobs evaluate --spec '{...}' --data-root data --model ... --train-summary ... --out ...
    python -m benchmarks.jobs summarize --inputs a.json b.json --out results/baselines/x.csv

The ``--spec`` is the benchmark resolved at one scale by ``benchmarks.config.resolve_benchmark``
(the Snakefile passes it as a param, so a changed protocol reruns the job).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Optional

import torch

from . import checkpoint, datasets, logs, training
from .config import ConfigError
from .fileio import write_json
from .provenance import git_commit
from .reference import load_reference
from .studies import record_setting

log = logging.getLogger("ibbench.jobs")
# Smoke runs check the pipeline, not the speed: time batch 1 only, a few repeats.
SMOKE_MEASURE = {"latency_batches": (1,), "latency_repeats": 3, "latency_warmup": 1}
REFERENCE_BASELINES = Path(__file__).resolve().parent.parent / "results" / "reference" / "baselines.csv"


def prepare(dataset: str, data_root: Path, marker: Path, mirror: Optional[Path] = None,
            download: bool = True) -> None:
    t0 = time.perf_counter()
    folder = datasets.prepare(dataset, data_root, mirror=mirror, download=download)
    spec = datasets.get(dataset)
    write_json(marker, {"dataset": dataset, "folder": str(folder), "seconds": time.perf_counter() - t0,
                         "archives": {a.filename: a.md5 for a in spec.archives}})
    log.info("%s ready in %s", dataset, folder)


def train(spec: dict, seed: int, data_root: Path, model_out: Path, summary_out: Path,
          state_path: Optional[Path] = None, checkpoint_every_steps: int = 0, num_workers: int = 0) -> dict:
    t0 = time.perf_counter()
    device = training.resolve_device(spec["device"])
    training.seed_everything(seed)
    splits = datasets.load_for_benchmark(spec, data_root)
    arch = checkpoint.architecture(spec["model"], spec["model_params"], splits.info.num_classes,
                                   splits.info.input_shape)
    torch.manual_seed(seed)  # initial weights depend on the seed only
    model = build_model_for(spec, splits)
    log.info("%s seed %d: %s on %s (%d train / %d val / %d test), %d parameters, device %s",
             spec["benchmark"], seed, spec["model"], spec["dataset"], len(splits.train), len(splits.val),
             len(splits.test), sum(p.numel() for p in model.parameters()), device)
    state_path = Path(state_path) if state_path else Path(model_out).with_name("train_state.pt")
    result = training.train(model, splits, spec["protocol"], seed=seed, device=device, state_path=state_path,
                            checkpoint_every_steps=checkpoint_every_steps, num_workers=num_workers)
    summary = {"benchmark": spec["benchmark"], "seed": seed, "scale": spec["scale"],
               "selected_epoch": result.selected_epoch,
               "selection": spec["protocol"].get("selection", "best_val"), "val": result.val,
               "train_seconds": result.train_seconds, "job_wall_seconds": time.perf_counter() - t0,
               "resumed_from": result.resumed_from, "device": str(device), "history": result.history,
               "split": splits.notes, "parameters": sum(p.numel() for p in model.parameters()),
               "code": git_commit()}
    checkpoint.save_model(model_out, model, arch, meta={k: v for k, v in summary.items() if k != "history"})
    write_json(summary_out, summary)
    state_path.unlink(missing_ok=True)  # the finished model supersedes the resume state
    return summary


def build_model_for(spec: dict, splits: datasets.Splits) -> torch.nn.Module:
    from . import models

    return models.build_model(spec["model"], splits.info.num_classes, splits.info.input_shape,
                              **spec["model_params"])


def evaluate(spec: dict, data_root: Path, model_path: Path, train_summary: Path, out: Path) -> dict:
    device = training.resolve_device(spec["device"])
    splits = datasets.load_for_benchmark(spec, data_root)
    model, ckpt = checkpoint.load_model(model_path)
    model.to(device)
    t0 = time.perf_counter()
    test = training.evaluate(model, training.batches_for(splits.test, device),
                             spec["protocol"].get("eval_batch_size", 1000))
    summary = json.loads(Path(train_summary).read_text())
    record = {"benchmark": spec["benchmark"], "seed": summary["seed"], "scale": spec["scale"],
              "dataset": spec["dataset"], "model": spec["model"], "protocol": spec["protocol"]["name"],
              "test": test, "eval_seconds": time.perf_counter() - t0, **{k: summary[k] for k in (
                  "val", "selected_epoch", "selection", "train_seconds", "job_wall_seconds", "device",
                  "parameters", "split", "history")}, "trained_with_code": summary.get("code")}
    write_json(out, record)
    log.info("%s seed %d: test error %.2f%% (val error %.2f%%, epoch %d kept by selection %s)",
             spec["benchmark"], summary["seed"], 100 * test["error"], 100 * summary["val"]["error"],
             summary["selected_epoch"], summary["selection"])
    return record


def prune(spec: dict, seed: int, data_root: Path, baseline: Path, baseline_record: Path, method: str,
          method_params: dict, ratio: float, scope: str, finetune: Optional[dict], model_out: Path,
          out: Path, study: Optional[dict] = None, widths: Optional[dict] = None) -> dict:
    """One run of a study (``benchmarks.studies``): the pipeline, then the run record with the study's
    context (owner, name, sweep parameter and value) so tables never parse paths."""
    from methods import Target

    from . import pipeline

    device = training.resolve_device(spec["device"])
    training.seed_everything(seed)
    splits = datasets.load_for_benchmark(spec, data_root)
    rec = pipeline.run(baseline, splits, method=method, method_params=method_params,
                       target=Target(ratio=ratio, scope=scope, widths=widths), finetune=finetune, seed=seed, device=device,
                       out_model=model_out, state_path=Path(model_out).with_name("finetune_state.pt"),
                       measure_options=SMOKE_MEASURE if spec["scale"] == "smoke" else None)
    base = json.loads(Path(baseline_record).read_text())
    rec.update({"benchmark": spec["benchmark"], "scale": spec["scale"], "dataset": spec["dataset"],
                "model": spec["model"], "baseline_test_error": base["test"]["error"],
                "finetune_protocol": (finetune or {}).get("name")})
    if study:
        rec["study"] = study
        rec["setting"] = record_setting(rec)
    write_json(out, rec)
    Path(model_out).with_name("finetune_state.pt").unlink(missing_ok=True)
    log.info("%s %s %s seed %d: %s, test error %.2f%% (baseline %.2f%%), r_W %.2f%%",
             spec["benchmark"], method, rec["setting"], seed, rec["pruned_architecture"], 100 * rec["test"]["error"],
             100 * rec["baseline_test_error"], 100 * rec["metrics"]["r_w"])
    return rec


def summarize(inputs: list[Path], out: Path, command: str, config: Any) -> None:
    """One row per benchmark: mean and spread over seeds of test/val error, plus a per-seed CSV."""
    import pandas as pd

    from .provenance import write_provenance

    recs = [json.loads(Path(p).read_text()) for p in inputs]
    per_seed = pd.DataFrame([{"benchmark": r["benchmark"], "scale": r["scale"], "dataset": r["dataset"],
                              "model": r["model"], "protocol": r["protocol"], "seed": r["seed"],
                              "parameters": r["parameters"], "test_error_pct": 100 * r["test"]["error"],
                              "val_error_pct": 100 * r["val"]["error"], "selected_epoch": r["selected_epoch"],
                              "epochs": len(r["history"]), "train_seconds": r["train_seconds"],
                              "device": r["device"]} for r in recs])
    g = per_seed.groupby(["benchmark", "scale", "dataset", "model", "protocol", "parameters"], sort=False)
    table = g.agg(seeds=("seed", "count"), test_error_pct_mean=("test_error_pct", "mean"),
                  test_error_pct_std=("test_error_pct", "std"), val_error_pct_mean=("val_error_pct", "mean"),
                  epochs=("epochs", "max"), train_seconds_mean=("train_seconds", "mean")).reset_index()
    table["test_error_pct_std"] = table["test_error_pct_std"].fillna(0.0)
    # The paper's reported baseline error beside ours (results/reference/baselines.csv), where one exists.
    ref = load_reference(REFERENCE_BASELINES, ("benchmark", "paper", "reported_test_error_pct"),
                         ["reported_test_error_pct"])[["benchmark", "paper", "reported_test_error_pct"]]
    table = table.merge(ref.rename(columns={"reported_test_error_pct": "paper_test_error_pct"}),
                        on="benchmark", how="left")
    table["diff_vs_paper_pct"] = table["test_error_pct_mean"] - table["paper_test_error_pct"]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.round(4).to_csv(out, index=False)
    per_seed.round(4).to_csv(out.with_name(out.stem + "_per_seed.csv"), index=False)
    scales = sorted(set(per_seed["scale"]))
    trained = sorted({json.dumps(r.get("trained_with_code")) for r in recs})
    write_provenance(out, command=command, config=config, scale=",".join(scales),
                     extra={"trained_with_code": [json.loads(t) for t in trained]},
                     wall_seconds=float(sum(r["job_wall_seconds"] + r["eval_seconds"] for r in recs)),
                     inputs=[str(p) for p in inputs], outputs=[str(out), str(out.with_name(out.stem + "_per_seed.csv"))],
                     device=",".join(sorted({r["device"] for r in recs})))


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.jobs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("prepare", "train", "evaluate", "summarize", "prune"):
        sp = sub.add_parser(name)
        logs.add_job_arguments(sp)
        if name in ("prepare", "train", "evaluate", "prune"):
            sp.add_argument("--data-root", type=Path, required=True)
        if name in ("train", "evaluate", "prune"):
            sp.add_argument("--spec", required=True, help="resolved benchmark as JSON")
    sub.choices["prepare"].add_argument("--dataset", required=True)
    sub.choices["prepare"].add_argument("--marker", type=Path, required=True)
    sub.choices["prepare"].add_argument("--mirror", type=Path, default=None)
    sub.choices["prepare"].add_argument("--no-download", action="store_true")
    t = sub.choices["train"]
    t.add_argument("--seed", type=int, required=True)
    t.add_argument("--model-out", type=Path, required=True)
    t.add_argument("--summary-out", type=Path, required=True)
    t.add_argument("--state", type=Path, default=None, help="resume file (default: beside --model-out)")
    t.add_argument("--checkpoint-every-steps", type=int, default=0)
    t.add_argument("--num-workers", type=int, default=0)
    e = sub.choices["evaluate"]
    e.add_argument("--model", type=Path, required=True)
    e.add_argument("--train-summary", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True)
    s = sub.choices["summarize"]
    s.add_argument("--inputs", type=Path, nargs="+", required=True)
    s.add_argument("--out", type=Path, required=True)
    logs.add_record_arguments(s)
    pr = sub.choices["prune"]
    pr.add_argument("--seed", type=int, required=True)
    pr.add_argument("--baseline", type=Path, required=True, help="the trained baseline's model file")
    pr.add_argument("--baseline-record", type=Path, required=True, help="the baseline's evaluation JSON")
    pr.add_argument("--method", required=True)
    pr.add_argument("--method-params", default="{}", help="the method's params as JSON")
    pr.add_argument("--ratio", type=float, required=True)
    pr.add_argument("--scope", choices=["per_layer", "global"], default="per_layer")
    pr.add_argument("--finetune", default="null", help="fine-tuning protocol as JSON (null: none)")
    pr.add_argument("--widths", default="null", help="final widths per unit as JSON (null: the ratio applies)")
    pr.add_argument("--study", default="null", help="the study this run belongs to, as JSON (benchmarks.studies)")
    pr.add_argument("--model-out", type=Path, required=True)
    pr.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)

    tag = ""
    if getattr(a, "spec", None):  # which benchmark and seed each console line belongs to
        tag = json.loads(a.spec).get("benchmark", "") + (f" seed{a.seed}" if getattr(a, "seed", None) is not None else "")
    logs.start_job(a, tag=tag)
    try:
        if a.cmd == "prepare":
            prepare(a.dataset, a.data_root, a.marker, mirror=a.mirror, download=not a.no_download)
        elif a.cmd == "train":
            train(json.loads(a.spec), a.seed, a.data_root, a.model_out, a.summary_out, a.state,
                  a.checkpoint_every_steps, a.num_workers)
        elif a.cmd == "evaluate":
            evaluate(json.loads(a.spec), a.data_root, a.model, a.train_summary, a.out)
        elif a.cmd == "prune":
            prune(json.loads(a.spec), a.seed, a.data_root, a.baseline, a.baseline_record, a.method,
                  json.loads(a.method_params), a.ratio, a.scope, json.loads(a.finetune), a.model_out, a.out,
                  json.loads(a.study), json.loads(a.widths))
        else:
            summarize(a.inputs, a.out, a.command, json.loads(a.config))
    except (datasets.DatasetError, ConfigError, ValueError, KeyError) as exc:
        log.error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
