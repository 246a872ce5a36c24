"""aura (Musat & Andonie 2023) and its baseline HRel (Sarvani et al., Neural Networks 2022): filters ranked
by their relevance to the labels (spatial aura matrix entropy / matrix-based Renyi MI), pruned in HRel's
rounds. The methods are ``methods.hrel`` and ``methods.aura`` (``methods.iterative``: the rounds); this
package is what the harness needs to reproduce the paper (README.md): its studies, the tables and
figures (``tables``), the score sanity check (``sanity``)."""
from __future__ import annotations

from ...config import finetune_protocol, resolve_benchmark
from ...studies import WIDTHS_PARAM, Study

KEY = "aura"
ITERATIVE = ("hrel", "aura", "l1_rounds", "random_rounds")  # params carry the per-round fine-tuning protocol
# the studies of results/aura/lenet5.csv (HRel's LeNet-5 at equal widths); the first one's baselines serve all
LENET5_STUDIES = ["lenet5-hrel", "lenet5-hrel-tracked", "lenet5-aura", "lenet5-l1", "lenet5-random", "lenet5-l1-rounds",
                  "lenet5-random-rounds", "lenet5-hrel-core", "lenet5-aura-core", "lenet5-l1-core", "lenet5-random-core"]


def studies(config: dict, scale: str) -> list[Study]:
    """One study per configured entry: its method pruned to each named set of widths, on every seed."""
    out = []
    for name, s in config[KEY]["studies"].items():
        finetune = finetune_protocol(config, s.get("finetune"), scale)
        params = dict(s.get("params", {}))
        if s["method"] in ITERATIVE:
            params["finetune"] = finetune
            if scale == "smoke":  # the smoke run checks the pipeline, not the ranking or the schedule:
                params["score_batches"] = min(params.get("score_batches", 10), 2)  # a few scoring batches,
                params["fractions"] = 0.5  # and a few rounds (half of each layer's filters above its limit)
        seeds = s.get("seeds") or resolve_benchmark(config, s["benchmark"], scale)["seeds"]
        out.append(Study(owner=KEY, name=name, method=s["method"], benchmark=s["benchmark"],
                         sweep_param=WIDTHS_PARAM, values=list(s["widths"]), widths=s["widths"], seeds=seeds,
                         params=params, finetune=finetune, in_table1=s.get("in_table1", False)))
    return out


def paper_tables(config: dict) -> dict[int, list[str]]:
    """Paper table number -> the studies whose rows it shows."""
    out: dict[int, list[str]] = {}
    for name, s in config[KEY]["studies"].items():
        if "paper_table" in s:
            out.setdefault(int(s["paper_table"]), []).append(name)
    return out


def check_config(config: dict) -> list[str]:
    problems = []
    for name, s in config[KEY]["studies"].items():
        key = f"{KEY}.studies.{name}"
        if s["benchmark"] not in config["benchmarks"]:
            problems.append(f"config key '{key}.benchmark': {s['benchmark']!r} is not a benchmark")
        if s.get("finetune") and s["finetune"] not in config["protocols"]:
            problems.append(f"config key '{key}.finetune': {s['finetune']!r} is not a protocol")
        if s["method"] not in ITERATIVE and s.get("params"):
            problems.append(f"config key '{key}.params': method {s['method']!r} takes no params here (it prunes "
                            f"once to the widths)")
    return problems
