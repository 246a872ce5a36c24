"""``ibfs`` ("Interpreting CNN compression using information bottleneck", anonymous ICLR 2020 submission):
post-training filter selection held at an AUC target, layer by layer from the top conv layer down.

Scores (Sec. 3, 5.2). Each filter's post-activation map is reduced to one scalar per image (its global
mean by default, ``reduce="max"`` as an option: ``methods.activity.channel_responses``), binned into
``bins`` (100) equal-width bins between that filter's min and max over the scoring images
(``estimators.binning.per_filter_information``): I(X;T_i) = H(T_i) and I(T_i;Y) (the information plane of
filters, Fig. 2) and the class-specific information KL(p(T_i|Y=k) || p(T_i)) of each class. Rankings
(Fig. 4a): ``"y0"``, ``"y1"`` (class 0's / class 1's information; ``"y<k>"`` for any class), ``"y0_y1"``
(I(T;Y), their p-weighted mix). The paper's text says its method ranks by Y0 (the default) while its own
Fig. 4a favours Y1. A filter with more information ranks higher.

Selection (Sec. 3-4), no retraining: from the top pruned layer down, with the layers above frozen as
selected, filters are masked (their post-activation maps zeroed: what removing them gives the layers
after) while the network's AUC on the held-out ``auc`` images stays at or above the threshold:

1. the lowest-ranked filters in growing groups (``first_group``, doubled after every accepted group,
   halved after a rejected one, until a single filter is rejected);
2. the same from the highest-ranked end ("high-informative filters ... might learn environmental
   information");
3. the rest in rank order (lowest first), ``middle_step`` filters at a time, each kept out if the AUC holds.

The threshold is ``auc_target`` (Table 1: 0.997) or the unpruned network's AUC minus ``auc_tolerance``
(the paper's |R_AUC - R^_AUC| < delta); the AUC images must be a held-out split, never the test split
(``auc_split``, default "val"). The group sizes, the tolerance and the split are not given in the paper
(IMPLEMENTATION_NOTES.md). ``methods.auc.network_auc``: binary AUC for a two-class task, the macro
one-vs-rest AUC for more classes (our extension, used for the 10-class LeNet-5 rows of Table 1).

The pipeline removes the masked filters physically afterwards; ``report`` keeps every unit's scores and
every trial (phase, filters masked, AUC, accepted) for the figures.
"""
from __future__ import annotations

import copy
import fnmatch
import logging
import math
import re
from dataclasses import dataclass
from typing import Callable, ClassVar, Optional

import torch
from torch import nn

from estimators.binning import per_filter_information

from .activity import REDUCTIONS, channel_responses, masked_channels, post_activation_module
from .auc import network_auc
from .base import PruningMethod, Target, require_harness
from .pruning import prunable_units

log = logging.getLogger("ibbench.ibfs")
LOG2 = math.log(2.0)
PHASES = ("low", "high", "middle")


def check_ranking(ranking: str) -> None:
    if not isinstance(ranking, str) or not re.fullmatch(r"y\d+|y0_y1|ixt", ranking):
        raise ValueError(f"ibfs ranking must be 'y<k>' (a class), 'y0_y1' or 'ixt', got {ranking!r}")


def ranking_scores(info: dict[str, torch.Tensor], ranking: str) -> torch.Tensor:
    """(F,) scores of a ranking from ``per_filter_information``'s output: ``"y<k>"`` class k's information
    (k indexes ``info["classes"]``), ``"y0_y1"`` I(T;Y), ``"ixt"`` H(T)."""
    check_ranking(ranking)
    if ranking == "y0_y1":
        return info["i_ty"]
    if ranking == "ixt":
        return info["h_t"]
    k = int(ranking[1:])
    if k >= info["class_info"].shape[1]:
        raise ValueError(f"ibfs ranking {ranking!r}: the labels have only {info['class_info'].shape[1]} classes")
    return info["class_info"][:, k]


def masked_network_auc(model: nn.Module, modules: dict[str, str], keep: dict[str, torch.Tensor], batches: list,
                       labels: torch.Tensor) -> float:
    """The network's AUC (``network_auc``) on ``batches`` with the channels of each unit outside
    ``keep[unit]`` masked at the output of ``modules[unit]`` (what removing those filters gives)."""
    with torch.no_grad(), masked_channels(model, modules, keep):
        logits = torch.cat([model(x).float().cpu() for x, _ in batches])
    return network_auc(logits, labels)


def select_filters(order: torch.Tensor, holds: Callable[[torch.Tensor], tuple[bool, float]], first_group: int = 1,
                   middle_step: int = 1, min_keep: int = 1) -> tuple[torch.Tensor, list[dict]]:
    """The greedy selection of one layer (module docstring). ``order``: the filter indices from the lowest
    ranked to the highest; ``holds(keep)`` -> (whether the AUC condition holds with only ``keep`` (bool
    mask) alive, the AUC). Returns (keep mask, trials: phase, filters masked in the trial, AUC, accepted,
    filters alive after it). Every accepted step held the condition."""
    n = order.numel()
    keep = torch.ones(n, dtype=torch.bool)
    trials: list[dict] = []

    def attempt(phase: str, idx: list[int]) -> bool:
        trial = keep.clone()
        trial[idx] = False
        ok, value = holds(trial)
        if ok:
            keep[idx] = False
        trials.append({"phase": phase, "filters": [int(i) for i in idx], "auc": value, "accepted": bool(ok),
                       "alive": int(keep.sum())})
        return ok

    for phase in ("low", "high"):
        group = first_group
        while group >= 1:
            alive = [int(i) for i in order.tolist() if keep[i]]
            if phase == "high":
                alive = alive[::-1]
            group = min(group, len(alive) - min_keep)
            if group < 1:
                break
            group = group * 2 if attempt(phase, alive[:group]) else group // 2
    for start in range(0, n, middle_step):
        idx = [int(i) for i in order[start:start + middle_step].tolist() if keep[i]]
        if idx and int(keep.sum()) - len(idx) >= min_keep:
            attempt("middle", idx)
    return keep, trials


class IBFilterSelection(PruningMethod):
    name: ClassVar[str] = "ibfs"
    # the AUC condition sets how much is pruned; a target ratio or widths are not used
    sweep_params: ClassVar[tuple[str, ...]] = ("auc_tolerance", "auc_target")

    @dataclass(frozen=True)
    class Params:
        """``layers``: the units to prune (names, default every conv unit not tied to others), processed
        from the last in execution order to the first; ``hook_modules``: unit -> the module whose output
        is its map (default the activation after it, else its own output); ``score_split`` / ``auc_split``: the splits
        scored and held; ``score_samples`` / ``auc_samples``: at most this many of their images (seeded)."""
        ranking: str = "y0"
        reduce: str = "mean"
        bins: int = 100
        auc_target: Optional[float] = None
        auc_tolerance: Optional[float] = None
        first_group: int = 1
        middle_step: int = 1
        min_keep: int = 1
        layers: Optional[tuple] = None
        hook_modules: Optional[dict] = None
        score_split: str = "train"
        auc_split: str = "val"
        score_samples: Optional[int] = None
        auc_samples: Optional[int] = None
        batch_size: int = 500
        seed: int = 0

        def __post_init__(self):
            if (self.auc_target is None) == (self.auc_tolerance is None):
                raise ValueError("ibfs: give exactly one of auc_target (a fixed AUC) and auc_tolerance "
                                 f"(below the unpruned AUC), got {self.auc_target!r} and {self.auc_tolerance!r}")
            for key in ("auc_target", "auc_tolerance"):
                v = getattr(self, key)
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1):
                    raise ValueError(f"ibfs param {key}: expected a number in [0, 1], got {v!r}")
            if self.reduce not in REDUCTIONS:
                raise ValueError(f"ibfs param reduce must be one of {REDUCTIONS}, got {self.reduce!r}")
            for key in ("bins", "first_group", "middle_step", "min_keep", "batch_size"):
                v = getattr(self, key)
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise ValueError(f"ibfs param {key}: expected a positive int, got {v!r}")
            if self.auc_split == "test":
                raise ValueError("ibfs param auc_split: the AUC condition must be held on a held-out split, "
                                 "not the test split")
            check_ranking(self.ranking)
            if self.layers is not None:
                object.__setattr__(self, "layers", tuple(self.layers))

    report: Optional[dict] = None

    def pruned_units(self, model: nn.Module, x0: torch.Tensor) -> list[str]:
        units = prunable_units(model, x0)
        if self.params.layers is not None:  # names or shell patterns (features.*)
            named = set()
            for key in self.params.layers:
                hits = {u.name for u in units if fnmatch.fnmatchcase(u.name, key)}
                if not hits:
                    raise ValueError(f"ibfs param layers: {key!r} matches no prunable unit "
                                     f"(units: {[u.name for u in units][:12]})")
                named |= hits
            return [u.name for u in units if u.name in named]  # execution order
        return [u.name for u in units if not u.tied and isinstance(model.get_submodule(u.name), nn.Conv2d)]

    def _rows(self, dataset, limit: Optional[int], seed: int) -> Optional[torch.Tensor]:
        if limit is None or limit >= len(dataset):
            return None
        return torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:limit].sort().values

    def masks(self, model: nn.Module, units: list, data, target: Target, device: torch.device,
              harness=None) -> tuple[nn.Module, dict[str, torch.Tensor]]:
        harness = require_harness(self.name, harness)
        p = self.params
        model = copy.deepcopy(model).to(device).eval()
        x0 = torch.zeros((1, *data.info.input_shape), device=device)
        names = self.pruned_units(model, x0)
        if not names:
            raise ValueError("ibfs: no layers to prune")
        modules = {u: (p.hook_modules or {}).get(u) or post_activation_module(model, u, or_unit=True) for u in names}
        score_set, auc_set = getattr(data, p.score_split), getattr(data, p.auc_split)
        responses, labels = channel_responses(
            model, modules, harness.eval_batches(score_set, self._rows(score_set, p.score_samples, p.seed),
                                                 batch_size=p.batch_size), p.reduce)
        info = {u: per_filter_information(r, labels, bins=p.bins) for u, r in responses.items()}
        scores = {u: ranking_scores(i, p.ranking) for u, i in info.items()}

        # the held-out images' inputs stay on the device: every trial is one pass over them
        auc_batches = list(harness.eval_batches(auc_set, self._rows(auc_set, p.auc_samples, p.seed + 1),
                                                batch_size=p.batch_size))
        auc_labels = torch.cat([y.cpu() for _, y in auc_batches])

        def network_auc_with(keep: dict[str, torch.Tensor]) -> float:
            return masked_network_auc(model, modules, keep, auc_batches, auc_labels)

        keep = {u: torch.ones(responses[u].shape[1], dtype=torch.bool) for u in names}
        unpruned = network_auc_with({})
        threshold = p.auc_target if p.auc_target is not None else unpruned - p.auc_tolerance
        log.info("ibfs: unpruned AUC %.5f on %d %s images, threshold %.5f, layers top-down %s", unpruned,
                 len(auc_labels), p.auc_split, threshold, names[::-1])
        trials_by_unit = {}
        for unit in reversed(names):  # the top layer first; the layers above stay as selected (frozen)
            order = torch.argsort(scores[unit], stable=True)

            def holds(trial: torch.Tensor, unit=unit) -> tuple[bool, float]:
                value = network_auc_with({**keep, unit: trial})
                return value >= threshold, value

            keep[unit], trials_by_unit[unit] = select_filters(order, holds, p.first_group, p.middle_step, p.min_keep)
            log.info("ibfs %s: %d of %d filters kept (%d trials)", unit, int(keep[unit].sum()), keep[unit].numel(),
                     len(trials_by_unit[unit]))
        final = network_auc_with(keep)
        self.report = {
            "auc_unpruned": unpruned, "auc_threshold": threshold, "auc_selected": final,
            "auc_split": p.auc_split, "auc_images": len(auc_labels), "ranking": p.ranking, "reduce": p.reduce,
            "layers_top_down": names[::-1], "hook_modules": modules,
            "kept": {u: int(k.sum()) for u, k in keep.items()}, "filters": {u: k.numel() for u, k in keep.items()},
            # the information plane of filters (bits) and each class's information, per unit
            "information": {u: {"i_xt_bits": (i["h_t"] / LOG2).tolist(), "i_ty_bits": (i["i_ty"] / LOG2).tolist(),
                                "class_info_bits": (i["class_info"] / LOG2).tolist(),
                                "classes": i["classes"].tolist()} for u, i in info.items()},
            "trials": trials_by_unit,
        }
        return model, keep
