"""MINT: connection pruning by conditional geometric mutual information between adjacent layers.

Ganesh, Corso, Yasaei Sekeh, ICPR 2020. For every pair of adjacent layers (l, l+1) the filters are put in
G contiguous groups per layer; the importance of the input connections from parent group g to child group
c is the conditional GMI ``I(F_c^(l+1) ; F_g^(l) | the other filters of l)`` (``estimators.gmi``),
estimated on the activations of ``samples_per_class`` training images per class (the same images for
both layers, conv outputs averaged over space). Connections whose score falls below the threshold delta
(the ``prune_percent`` quantile of all scores, capped per layer pair by gamma) are zeroed: whole kernels
``W_child[c, g]``. Filters left with no live connection are removed physically by the shared pruning
core; the surviving sparsity is kept through the single retraining step (``hold_zeros`` in the pipeline).

Steps are functions in ``core``; ``score`` is the expensive one and can be split into parallel jobs
(``chunk``) whose outputs ``merge_scores`` joins; ``MINT.masks`` thresholds precomputed scores
(``Params.scores``) or scores on the fly.
"""
from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional, Sequence, Union

import torch
from torch import nn

from ..base import Harness, PruningMethod, require_harness
from ..pruning import apply_weight_masks, dead_units
from .core import (HOOKS, LayerPair, cap_value, collect_activations, connection_masks, dataset_labels,
                   layer_pairs, lookup, pair_groups, per_class_indices, score_pair, select_pairs, thresholds)

log = logging.getLogger("ibbench.mint")

# Params that change the scores (a precomputed score file must match them).
SCORE_KEYS = ("groups", "pair_groups", "samples_per_class", "hook", "skip", "only", "seed")


class MINT(PruningMethod):
    name: ClassVar[str] = "mint"
    weight_level: ClassVar[bool] = True  # prunes connections: the pipeline keeps zeros zero while retraining
    sweep_params: ClassVar[tuple[str, ...]] = ("prune_percent",)
    # Table I reports memory as the compressed-npz size of the kept weights, per layer
    layer_metrics: ClassVar[tuple[str, ...]] = ("csr_mint_mib",)

    @dataclass(frozen=True)
    class Params:
        """``prune_percent``: quantile of the pooled scores taken as delta (the paper's sweep variable).
        ``groups``: G for every layer, ``pair_groups``: per pair, child layer name -> [G_parent, G_child]. ``cap``: gamma,
        null / number / {type: linear|quadratic, a, b, c} in G (the pair's parent G); ``layer_caps``:
        per child layer. ``skip``/``only``: child layers not to prune / the only ones to prune.
        ``hook``: "layer_output" (pre-BN, authors' VGG/ResNet) or "consumer_input" (post-activation,
        authors' MLP). ``scores``: a score file from ``score``/``merge_scores`` (else scored here)."""

        prune_percent: float = 0.5
        groups: int = 64
        pair_groups: dict = field(default_factory=dict)
        samples_per_class: int = 250
        hook: str = "layer_output"
        cap: Union[None, float, dict] = None
        layer_caps: dict = field(default_factory=dict)
        quantile_of: str = "all"
        skip: tuple = ()
        only: Optional[tuple] = None
        seed: int = 0
        scores: Optional[str] = None
        backend: str = "auto"
        threads: Optional[int] = None

        def __post_init__(self):
            if self.hook not in HOOKS:
                raise ValueError(f"mint param hook must be one of {HOOKS}, got {self.hook!r}")
            for name in ("groups", "samples_per_class", "seed"):
                v = getattr(self, name)
                if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "seed" else 1):
                    raise ValueError(f"mint param {name} must be a positive int, got {v!r}")
            for name in ("pair_groups", "layer_caps"):
                if not isinstance(getattr(self, name), dict):
                    raise ValueError(f"mint param {name} must be a mapping layer name -> value, "
                                     f"got {getattr(self, name)!r}")
            object.__setattr__(self, "pair_groups", {str(k): v for k, v in self.pair_groups.items()})
            object.__setattr__(self, "layer_caps", {str(k): v for k, v in self.layer_caps.items()})
            for layer, g in self.pair_groups.items():
                gs = [g] if not isinstance(g, (list, tuple)) else list(g)
                if len(gs) not in (1, 2) or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in gs):
                    raise ValueError(f"mint param pair_groups[{layer!r}] must be a positive int or a list "
                                     f"[G_parent, G_child], got {g!r}")
            for name in ("skip", "only"):
                v = getattr(self, name)
                if v is not None:
                    if isinstance(v, str) or not all(isinstance(x, str) for x in v):
                        raise ValueError(f"mint param {name} must be a list of layer names, got {v!r}")
                    object.__setattr__(self, name, tuple(v))
            cap_value(self.cap, 1)
            for layer, c in self.layer_caps.items():
                cap_value(c, 1)
            thresholds({"check": torch.zeros(1)}, self.prune_percent, {}, self.quantile_of)

    report: Optional[dict] = None
    weight_masks: Optional[dict] = None

    def settings(self) -> dict:
        p = self.params
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in
                ((k, getattr(p, k)) for k in SCORE_KEYS)}

    def pairs(self, model: nn.Module, example_input: torch.Tensor) -> tuple[list[LayerPair], list[LayerPair]]:
        """(all pairs of the model, the pairs these params prune)."""
        everything = layer_pairs(model, example_input)
        return everything, select_pairs(everything, self.params.skip, self.params.only)

    def masks(self, model, units, data, target, device, harness=None):
        p = self.params
        x0 = torch.zeros((1, *data.info.input_shape), device=device)
        _, pairs = self.pairs(model, x0)
        if p.scores:
            payload = load_scores(p.scores, self.settings())
        else:
            payload = score(model, data, p, device, harness=require_harness(self.name, harness))
        scores = payload["scores"]
        missing = [q.name for q in pairs if q.name not in scores]
        if missing:
            raise ValueError(f"mint: no scores for pairs {missing}; the score file has {sorted(scores)}")
        caps = {}
        for q in pairs:
            gp, _ = pair_groups(q, p.pair_groups, p.groups)
            caps[q.name] = cap_value(lookup(p.layer_caps, q.child, p.cap), gp)
        delta, per_pair = thresholds({q.name: scores[q.name] for q in pairs}, p.prune_percent, caps, p.quantile_of)
        keep_blocks = {q.name: scores[q.name] >= per_pair[q.name] for q in pairs}
        weight_masks = connection_masks(model, pairs, keep_blocks)
        masked = apply_weight_masks(copy.deepcopy(model), weight_masks)
        keep = {}
        for unit, dead in dead_units(masked, x0).items():
            k = ~dead
            if not bool(k.any()):
                k[0] = True  # a unit cannot be empty; its one kept channel is dead, so outputs are unchanged
            keep[unit] = k
        self.weight_masks = weight_masks
        self.report = {
            "delta": delta, "thresholds": per_pair, "caps": caps,
            "connections_kept": {n: float(b.double().mean()) for n, b in keep_blocks.items()},
            "weights_kept": {n: float(m.double().mean()) for n, m in weight_masks.items()},
            "score_seconds": payload.get("seconds"), "n_samples": payload.get("n_samples"),
            "pairs": [q.name for q in pairs],
        }
        log.info("mint: delta %.4f, connections kept %s", delta,
                 {n: round(v, 4) for n, v in self.report["connections_kept"].items()})
        return masked, keep


def score(model: nn.Module, splits, params: "MINT.Params", device: torch.device, *, harness: Harness,
          chunk: tuple[int, int] = (0, 1), progress: bool = False) -> dict[str, Any]:
    """Scores of every pruned pair: ``{"scores": {pair: (Gc, Gp) float64}, "settings", "n_samples",
    "seconds", "chunk"}``. ``chunk=(k, K)`` computes only the k-th of K interleaved shares of the
    (pair, parent group) work items (other entries NaN) for parallel jobs; ``merge_scores`` joins them.
    ``harness.eval_batches`` gives the (normalised) training images the activations are taken on."""
    k, n_chunks = chunk
    if not 0 <= k < n_chunks:
        raise ValueError(f"chunk: expected 0 <= k < K, got {chunk}")
    method = MINT(params)
    x0 = torch.zeros((1, *splits.info.input_shape), device=device)
    model = model.to(device).eval()
    everything, pairs = method.pairs(model, x0)
    t0 = time.perf_counter()
    rows = per_class_indices(dataset_labels(splits.train), params.samples_per_class, params.seed)
    acts = collect_activations(model, harness.eval_batches(splits.train, rows), pairs, params.hook, everything)
    items = []
    for q in pairs:
        gp, _ = pair_groups(q, params.pair_groups, params.groups)
        items += [(q.name, g) for g in range(gp)]
    mine = items[k::n_chunks]
    scores = {}
    for q in pairs:
        gp, gc = pair_groups(q, params.pair_groups, params.groups)
        subset = [g for name, g in mine if name == q.name]
        parent, child = acts[q.name]
        if subset:
            s = score_pair(parent.to(device), child.to(device), gp, gc, seed=params.seed, parent_subset=subset,
                           backend=params.backend, threads=params.threads, progress=progress)
        else:
            s = torch.full((gc, gp), float("nan"), dtype=torch.float64)
        scores[q.name] = s
        log.info("mint: scored %s (%d x %d groups, %d parent groups here, n = %d)", q.name, gc, gp, len(subset),
                 parent.shape[0])
    return {"scores": scores, "settings": method.settings(), "n_samples": int(rows.numel()),
            "seconds": time.perf_counter() - t0, "chunk": [k, n_chunks]}


def merge_scores(payloads: Sequence[dict]) -> dict[str, Any]:
    """Join the chunks of one scoring (same settings, chunks 0..K-1) into complete score matrices."""
    if not payloads:
        raise ValueError("merge_scores: no score chunks given")
    first = payloads[0]
    for pl in payloads[1:]:
        if pl["settings"] != first["settings"]:
            raise ValueError(f"merge_scores: chunks were scored with different settings: {first['settings']} vs "
                             f"{pl['settings']}")
    n_chunks = first["chunk"][1]
    got = sorted(pl["chunk"][0] for pl in payloads)
    if got != list(range(n_chunks)):
        raise ValueError(f"merge_scores: expected chunks 0..{n_chunks - 1}, got {got}")
    scores = {}
    for name, s in first["scores"].items():
        merged = s.clone()
        for pl in payloads[1:]:
            other = pl["scores"][name]
            merged = torch.where(torch.isnan(merged), other, merged)
        if bool(torch.isnan(merged).any()):
            raise ValueError(f"merge_scores: pair {name} still has unscored entries after merging")
        scores[name] = merged
    return {"scores": scores, "settings": first["settings"], "n_samples": first["n_samples"],
            "seconds": sum(pl["seconds"] for pl in payloads), "chunk": [0, 1]}


def load_scores(path: Union[str, Path], settings: dict) -> dict[str, Any]:
    """A merged score file, checked against the settings that produce scores."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mint: score file {path} does not exist; run the scoring step first")
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if payload.get("settings") != settings:
        raise ValueError(f"mint: score file {path} was made with {payload.get('settings')}, but these params need "
                         f"{settings}")
    return payload


__all__ = ["MINT", "LayerPair", "layer_pairs", "load_scores", "merge_scores", "score"]
