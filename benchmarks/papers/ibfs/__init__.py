"""ibfs ("Interpreting CNN compression using information bottleneck", anonymous ICLR 2020 submission,
withdrawn; no public code): the information plane of filters and the post-training filter selection held
at an AUC target. The method is ``methods.ibfs``; this package is what the harness needs to reproduce
the paper (README.md): its studies, the analysis of trained networks (``analysis``: Figs 2, 3, 4a), the
figures (``figures``) and Table 1 with the paper's parameter accounting (``tables``, ``accounting``)."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ... import logs
from ...config import finetune_protocol, resolve_benchmark
from ...provenance import write_provenance
from ...studies import Study

KEY = "ibfs"
METHOD = "ibfs"
# the analysis of one trained network (analysis.py): CSVs under results/, the heatmap tensors under runs/
ANALYSIS = {"information": "results/ibfs/analysis/{benchmark}/seed{seed}_information.csv",
            "curve": "results/ibfs/analysis/{benchmark}/seed{seed}_curve.csv",
            "heatmaps": "runs/ibfs/analysis/{benchmark}/seed{seed}.pt"}
FIGURE_INPUT = {"fig2": "information", "fig3": "heatmaps", "fig4a": "curve"}


def study_params(config: dict, name: str) -> dict:
    """The method params of a study: the paper's shared settings under the study's own."""
    return {**config[KEY]["method_params"], **config[KEY]["studies"][name].get("params", {})}


def studies(config: dict, scale: str) -> list[Study]:
    out = []
    for name, s in config[KEY]["studies"].items():
        seeds = s.get("seeds") or resolve_benchmark(config, s["benchmark"], scale)["seeds"]
        out.append(Study(owner=KEY, name=name, method=METHOD, benchmark=s["benchmark"],
                         sweep_param=s["sweep"]["param"], values=list(s["sweep"]["values"]), seeds=seeds,
                         params=study_params(config, name), finetune=finetune_protocol(config, s.get("finetune"), scale),
                         in_table1=s.get("in_table1", False)))
    return out


def analysed_benchmarks(config: dict) -> list[str]:
    """The benchmarks of the analysis figures (Figs 2, 3, 4a), in the config's order."""
    figs = config[KEY]["figures"]
    return list(dict.fromkeys(figs["fig2"] + figs["fig3"] + figs["fig4a"]))


def check_config(config: dict) -> list[str]:
    problems = []
    c = config[KEY]
    for name, s in c["studies"].items():
        key = f"{KEY}.studies.{name}"
        if s["benchmark"] not in config["benchmarks"]:
            problems.append(f"config key '{key}.benchmark': {s['benchmark']!r} is not a benchmark")
        if s.get("finetune") and s["finetune"] not in config["protocols"]:
            problems.append(f"config key '{key}.finetune': {s['finetune']!r} is not a protocol")
        try:
            from methods.ibfs import IBFilterSelection

            IBFilterSelection(**{**study_params(config, name), s["sweep"]["param"]: s["sweep"]["values"][0]})
        except (TypeError, ValueError) as exc:
            problems.append(f"config key '{key}.params': {exc}")
    for fig in ("fig2", "fig3", "fig4a"):
        for b in c["figures"][fig]:
            if b not in c["analysis"]:
                problems.append(f"config key '{KEY}.figures.{fig}': {b!r} has no entry in {KEY}.analysis")
            if b not in config["benchmarks"]:
                problems.append(f"config key '{KEY}.figures.{fig}': {b!r} is not a benchmark")
    for fig in ("fig3", "fig4a"):
        for b in c["figures"][fig]:
            if b in c["analysis"] and not c["analysis"][b]["top"]:
                problems.append(f"config key '{KEY}.analysis.{b}.top': {fig} needs the top layer (a unit name)")
    for key, names in (("figures.fig4b", c["figures"]["fig4b"]), ("selection_studies", c["selection_studies"])):
        for s in names:
            if s not in c["studies"]:
                problems.append(f"config key '{KEY}.{key}': {s!r} is not a study")
    return problems


def table1_studies(config: dict) -> list[str]:
    """The studies behind results/ibfs/table1.csv (none when ``table1_ours`` is off: the paper's rows only)."""
    if not config[KEY]["table1_ours"]:
        return []
    return [n for n, s in config[KEY]["studies"].items() if s.get("paper_table") == 1]


def analysis_files(config: dict, scale: str, figure: str) -> list[str]:
    """The analysis outputs a figure (fig2, fig3, fig4a) reads: every seed of each of its benchmarks."""
    kind = FIGURE_INPUT[figure]
    return [ANALYSIS[kind].format(benchmark=b, seed=seed) for b in config[KEY]["figures"][figure]
            for seed in resolve_benchmark(config, b, scale)["seeds"]]


def output_parser(description: str) -> argparse.ArgumentParser:
    """The command line shared by the figure and table builders: ``--scale``, ``--out``, ``--log`` and the
    provenance's ``--command`` / ``--config``; ``start_output`` and ``finish_output`` wrap the job."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--scale", default="paper")
    p.add_argument("--out", type=Path, required=True)
    logs.add_record_arguments(logs.add_job_arguments(p, threads=False))
    return p


def start_output(parser: argparse.ArgumentParser, argv) -> tuple[argparse.Namespace, float]:
    a = parser.parse_args(argv)
    logs.start_job(a)
    return a, time.perf_counter()


def finish_output(a: argparse.Namespace, t0: float) -> int:
    """The provenance record of the one output ``a.out``."""
    write_provenance(a.out, command=a.command, config=json.loads(a.config), scale=a.scale,
                     wall_seconds=time.perf_counter() - t0, outputs=[a.out])
    return 0
