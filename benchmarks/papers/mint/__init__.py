"""MINT (Ganesh, Corso, Yasaei Sekeh, ICPR 2020): Table I and Figs. 4-8, A-1. The method is
``methods.mint``; this package is what the harness needs to reproduce the paper (see README.md): its
variants as studies, the chunked scoring jobs (``jobs``), the tables and figures (``tables``)."""
from __future__ import annotations

import copy
import json
from typing import Any

from ...config import finetune_protocol, resolve_benchmark
from ...studies import Study

KEY = "mint"
# Params that set the scores: variants that differ only in the rest (caps, prune percents) share them.
SCORE_KEYS = ("groups", "pair_groups", "samples_per_class", "hook", "skip", "only")
SCORES = "runs/mint/scores/{variant}/seed{seed}/scores.pt"


def variant(config: dict, name: str, scale: str) -> dict[str, Any]:
    """A MINT variant with the scale applied: smoke caps samples per class, groups and the sweep."""
    v = copy.deepcopy(config[KEY]["variants"][name])
    v["name"] = name
    if scale == "smoke":
        sm = config[KEY].get("smoke", {})
        p = v["params"]
        cap_g = sm.get("max_groups", 4)
        p["samples_per_class"] = min(p.get("samples_per_class", 250), sm.get("samples_per_class", 6))
        p["groups"] = min(p.get("groups", 64), cap_g)
        p["pair_groups"] = {k: (min(g, cap_g) if isinstance(g, int) else [min(x, cap_g) for x in g])
                            for k, g in p.get("pair_groups", {}).items()}
        v["prune_percents"] = sm.get("prune_percents", v["prune_percents"][:1])
        v.pop("seeds", None)
    if not v.get("seeds"):
        v["seeds"] = resolve_benchmark(config, v["benchmark"], scale)["seeds"]
    return v


def score_params(config: dict, name: str, scale: str) -> dict[str, Any]:
    p = variant(config, name, scale)["params"]
    return {k: p[k] for k in SCORE_KEYS if k in p}


def scoring(config: dict, name: str, scale: str) -> str:
    """The variant whose score files this variant reuses: the first one (config order) with the same
    benchmark and scoring params."""
    def key(n):
        return variant(config, n, scale)["benchmark"], json.dumps(score_params(config, n, scale), sort_keys=True)

    mine = key(name)
    return next(other for other in config[KEY]["variants"] if key(other) == mine)


def studies(config: dict, scale: str) -> list[Study]:
    """One study per variant: prune at every prune percent from the variant's scores, retrain."""
    in_table1 = set(config[KEY]["table1"]["variants"])
    out = []
    for name in config[KEY]["variants"]:
        v = variant(config, name, scale)
        out.append(Study(
            owner=KEY, name=name, method="mint", benchmark=v["benchmark"], sweep_param="prune_percent",
            values=v["prune_percents"], seeds=v["seeds"], params=v["params"],
            finetune=finetune_protocol(config, v["retrain"], scale),
            inputs={"scores": SCORES.format(variant=scoring(config, name, scale), seed="{seed}")},
            in_table1=name in in_table1))
    return out


def variants_json(config: dict, scale: str, names: list[str]) -> str:
    """The named variants (scale applied) as JSON: what the table and figure builders are told."""
    return json.dumps({v: variant(config, v, scale) for v in names})


def figure_variants(config: dict, fig: str) -> list[str]:
    figs = config[KEY]["figures"]
    if fig == "figA1":
        return sorted({v for vs in figs.get("figA1", {}).values() for v in vs})
    return figs.get(fig, [])


def figure_series(config: dict, fig: str) -> dict[str, list[str]]:
    return dict(config[KEY]["figures"]["figA1"]) if fig == "figA1" else {"none": figure_variants(config, fig)}


def check_config(config: dict) -> list[str]:
    mint = config[KEY]
    out = []
    variants = mint["variants"]
    for name, v in variants.items():
        if v["benchmark"] not in config["benchmarks"]:
            out.append(f"config key '{KEY}.variants.{name}.benchmark': {v['benchmark']!r} is not a benchmark")
        if v["retrain"] not in config["protocols"]:
            out.append(f"config key '{KEY}.variants.{name}.retrain': {v['retrain']!r} is not a protocol")
    figs = mint.get("figures", {})
    named = [(f"{KEY}.table1.variants", n) for n in mint["table1"]["variants"]]
    named += [(f"{KEY}.figures.{k}", n) for k in ("fig4a", "fig4b") for n in figs.get(k, [])]
    named += [(f"{KEY}.figures.figA1.{k}", n) for k, ns in figs.get("figA1", {}).items() for n in ns]
    named += [(f"{KEY}.figures.characterize", figs["characterize"])] if "characterize" in figs else []
    named += [(f"{KEY}.figures.gradcam.variant", figs["gradcam"]["variant"])] if "gradcam" in figs else []
    for key, n in named:
        if n not in variants:
            out.append(f"config key '{key}': {n!r} is not a mint variant (defined: {', '.join(sorted(variants))})")
    return out
