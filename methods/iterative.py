"""HRel's iterative workflow for filter pruning ranked by a relevance score, shared by ``hrel`` and ``aura``.

Sarvani et al., "HRel: Filter pruning based on High Relevance between activation maps and class labels",
Neural Networks 2022, and Musat & Andonie, "Accelerating Convolutional Neural Network Pruning via Spatial
Aura Entropy", 2023 (which keeps HRel's workflow and replaces its score). One round:

1. score every filter of every pruned layer: its maps on ``score_batches`` batches of ``batch_size``
   training images, the relevance to the labels per batch (the subclass's ``relevance``), averaged;
2. remove the lowest-scoring ``int(n * p) + 1`` filters of every layer still above its limit (n: the
   layer's current width, p: its fraction), never going below the limit (HRel's LeNet/ResNet code), or,
   with ``overshoot=True``, without that cap (HRel's VGG code, which ends below its limits: with the
   paper's VGG-16 limits exactly ``aura``'s "Configuration 1", in 37 rounds);
3. fine-tune the smaller network (``finetune`` protocol, through the caller's harness);

until every layer is at its limit. The filters are removed physically by the structural pruning core
after every round; the last round's removal and fine-tuning are left to the caller's pipeline (``masks``
returns the network of the last round with that round's keep-masks), so the pipeline's fine-tuning
protocol should be the per-round one.

Limits: the final width of each pruned layer comes from the target: ``Target.widths`` (unit name ->
width; the named units are the pruned ones), or the target ratio (``n - round(ratio * n)`` for every
pruned layer, as the pruning core's per-layer masks), so the method can be compared with others at equal
widths. Pruned layers without ``Target.widths``: every convolution whose channels are not tied to others
(not a residual stream), as HRel's ResNet code prunes the block-inner convolutions' filters.
"""
from __future__ import annotations

import copy
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Optional, Sequence, Union

import torch
from torch import nn

from .activity import post_activation_module
from .base import PruningMethod, Target, require_harness
from .pruning import masks_to_widths, prunable_units, prune, resolve_widths

log = logging.getLogger("ibbench.iterative")

HOOKS = ("conv", "activation")
REMOVALS = ("physical", "masked")


def round_removals(widths: Sequence[int], limits: Sequence[int], fractions: Sequence[float],
                   overshoot: bool = False) -> list[int]:
    """Filters each layer loses in one round: ``int(n * p) + 1`` while above its limit (capped at the limit
    unless ``overshoot``), 0 at or below it."""
    out = []
    for n, lim, p in zip(widths, limits, fractions):
        if n <= lim:
            out.append(0)
            continue
        k = int(n * p) + 1
        out.append(min(k, n - 1) if overshoot else min(k, n - lim))
    return out


def schedule(sizes: Sequence[int], limits: Sequence[int], fractions: Sequence[float],
             overshoot: bool = False, max_rounds: int = 10_000) -> list[list[int]]:
    """Widths after every round, from ``sizes`` until every layer is at (or, overshooting, below) its limit."""
    widths, out = list(sizes), []
    for _ in range(max_rounds):
        rm = round_removals(widths, limits, fractions, overshoot)
        if not any(rm):
            return out
        widths = [w - k for w, k in zip(widths, rm)]
        out.append(list(widths))
    raise RuntimeError(f"schedule: no end after {max_rounds} rounds (sizes {list(sizes)}, limits {list(limits)})")


class IterativeRelevancePruning(PruningMethod):
    """Base of the MI-ranked methods: subclasses define ``relevance(maps, labels, num_classes, layer)``."""

    name: ClassVar[str] = "iterative"

    @dataclass(frozen=True)
    class Params:
        """``fractions``: p per pruned layer, in execution order, or unit name/pattern -> p (one number for
        all). ``finetune``: the per-round fine-tuning protocol (needed when more
        than one round runs). ``hook``: score the convolution's output ("conv", HRel's LeNet-5 and
        ResNet-56) or the output of the first ReLU after it ("activation", HRel's VGG-16: after BN and
        ReLU). ``score_batches`` x ``batch_size`` training images (drawn without replacement, seeded)
        give the averaged score. ``state_path``: resume file of the rounds (a killed job continues at
        the last finished round). ``removal``: "physical" (the default: every round's filters leave the
        network through the pruning core) or "masked" (HRel's ResNet code: a removed filter's weights and
        bias are zeroed and held at zero through the rounds' fine-tuning, but the layers after it are left
        as they are, so behind a BatchNorm the channel still outputs the BN's shift, a learned constant;
        the pipeline removes all the channels physically with the last round)."""

        fractions: Union[float, tuple, dict] = 0.1
        overshoot: bool = False
        hook: str = "conv"
        score_batches: int = 10
        batch_size: int = 100
        finetune: Optional[dict] = None
        seed: int = 0
        state_path: Optional[str] = None
        keep_scores: bool = True
        removal: str = "physical"

        def __post_init__(self):
            if self.hook not in HOOKS:
                raise ValueError(f"{type(self).__qualname__}: hook must be one of {HOOKS}, got {self.hook!r}")
            if self.removal not in REMOVALS:
                raise ValueError(f"{type(self).__qualname__}: removal must be one of {REMOVALS}, got {self.removal!r}")
            for name in ("score_batches", "batch_size"):
                v = getattr(self, name)
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise ValueError(f"param {name} must be a positive int, got {v!r}")
            if isinstance(self.fractions, dict):
                fr = tuple(self.fractions.values())
            else:
                fr = tuple(self.fractions) if isinstance(self.fractions, (list, tuple)) else (self.fractions,)
            if any(isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1 for p in fr):
                raise ValueError(f"param fractions: expected numbers in [0, 1), got {self.fractions!r}")
            if isinstance(self.fractions, (list, tuple)):
                object.__setattr__(self, "fractions", tuple(float(p) for p in fr))
            if self.finetune is not None and not isinstance(self.finetune, dict):
                raise ValueError(f"param finetune: expected a training protocol (dict) or null, got {self.finetune!r}")

    report: Optional[dict] = None

    # ------------------------------------------------------------------ to define in subclasses
    def relevance(self, maps: torch.Tensor, labels: torch.Tensor, num_classes: int, layer: str) -> torch.Tensor:
        """(n, F, ...) maps of one layer on one batch and its (n,) labels -> (F,) scores, higher = more relevant."""
        raise NotImplementedError

    # ------------------------------------------------------------------ the workflow
    def pruned_units(self, model: nn.Module, x0: torch.Tensor, target: Optional[Target] = None) -> list:
        units = prunable_units(model, x0)
        if target is not None and target.widths is not None:
            named = resolve_widths(target.widths, [u.name for u in units])
            return [u for u in units if u.name in named]  # execution order
        return [u for u in units if not u.tied and isinstance(model.get_submodule(u.name), nn.Conv2d)]

    def limits_for(self, units: list, target: Target) -> list[int]:
        if target.widths is not None:
            named = resolve_widths(target.widths, [u.name for u in units])
            too_wide = {u.name: named[u.name] for u in units if named[u.name] > u.size}
            if too_wide:
                raise ValueError(f"{self.name}: target widths {too_wide} exceed the layers' sizes")
            return [named[u.name] for u in units]
        return [u.size - int(math.floor(target.ratio * u.size + 0.5)) for u in units]

    def round_callbacks(self, model: nn.Module, units: list[str]) -> list:
        """Trainer callbacks for a round's fine-tuning (none by default; HRel's tracked kernel width)."""
        return []

    def _hook_module(self, model: nn.Module, unit: str) -> str:
        if self.params.hook == "conv":
            return unit
        try:
            return post_activation_module(model, unit)
        except ValueError as exc:
            raise ValueError(f"{self.name}: hook 'activation': {exc}") from None

    def score(self, model: nn.Module, units: list[str], batches, num_classes: int) -> dict[str, torch.Tensor]:
        """Relevance of every filter of ``units``, averaged over ``batches`` (an iterable of (x, y))."""
        hooks = {u: self._hook_module(model, u) for u in units}
        seen: dict[str, torch.Tensor] = {}
        handles = [model.get_submodule(m).register_forward_hook(
            lambda _m, _i, out, u=u: seen.__setitem__(u, out.detach())) for u, m in hooks.items()]
        total: dict[str, torch.Tensor] = {}
        count = 0
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                for x, y in batches:
                    model(x)
                    for u in units:
                        s = self.relevance(seen[u], y, num_classes, u).to("cpu", torch.float64)
                        total[u] = total[u] + s if u in total else s
                    count += 1
        finally:
            model.train(was_training)
            for h in handles:
                h.remove()
        if count == 0:
            raise ValueError(f"{self.name}: no scoring batches (score_batches={self.params.score_batches})")
        return {u: total[u] / count for u in units}

    def _score_batches(self, data, harness, seed: int):
        p = self.params
        n = len(data.train)
        want = p.score_batches * p.batch_size
        gen = torch.Generator().manual_seed(seed)
        rows = torch.randperm(n, generator=gen)[:want] if want <= n else torch.randint(0, n, (want,), generator=gen)
        return harness.eval_batches(data.train, rows, batch_size=p.batch_size)

    def masks(self, model, units, data, target, device, harness=None):
        harness = require_harness(self.name, harness)
        p = self.params
        x0 = torch.zeros((1, *data.info.input_shape), device=device)
        model = copy.deepcopy(model).to(device)
        pruned = self.pruned_units(model, x0, target)
        names = [u.name for u in pruned]
        limits = self.limits_for(pruned, target)
        if isinstance(p.fractions, dict):
            by_unit = resolve_widths(p.fractions, names)
            missing = [n for n in names if n not in by_unit]
            if missing:
                raise ValueError(f"{self.name}: fractions give no p for pruned layers {missing}")
            fractions = [float(by_unit[n]) for n in names]
        else:
            fractions = list(p.fractions) if isinstance(p.fractions, tuple) else [p.fractions] * len(names)
        if len(fractions) != len(names):
            raise ValueError(f"{self.name}: {len(fractions)} fractions for {len(names)} pruned layers {names}")
        plan = schedule([u.size for u in pruned], limits, fractions, p.overshoot)
        state_path = Path(p.state_path) if p.state_path else None
        masked = p.removal == "masked"
        # masked removal: the channels still in the network, in its full-size coordinates (keep-masks too)
        alive = {n: torch.ones(_width(model, n), dtype=torch.bool) for n in names}
        history, start = [], 0
        if state_path is not None and state_path.exists():  # replay the finished rounds, then their weights
            st = torch.load(state_path, map_location="cpu", weights_only=False)
            history, start = st["history"], len(st["history"])
            for h in history:
                if masked:
                    alive = h["keep"]
                else:
                    model = prune(model, h["keep"], x0).to(device)
            model.load_state_dict(st["model"])
            log.info("%s: resumed after round %d of %d", self.name, start, len(plan))
        num_classes = data.info.num_classes
        keep: dict[str, torch.Tensor] = {}
        for r in range(start, len(plan)):
            widths = [int(alive[n].sum()) if masked else _width(model, n) for n in names]
            removals = round_removals(widths, limits, fractions, p.overshoot)
            scores = self.score(model, names, self._score_batches(data, harness, p.seed + r), num_classes)
            if masked:  # rank the channels still in the network; masked ones are out already
                scores = {n: s[alive[n]] for n, s in scores.items()}
            keep = masks_to_widths(scores, {n: w - k for n, w, k in zip(names, widths, removals)})
            if masked:
                keep = {n: _scatter(alive[n], k) for n, k in keep.items()}
            history.append({"round": r + 1, "widths_before": dict(zip(names, widths)),
                            "removed": dict(zip(names, removals)), "keep": keep,
                            "scores": {n: s.tolist() for n, s in scores.items()} if p.keep_scores else None})
            log.info("%s round %d/%d: widths %s -> %s", self.name, r + 1, len(plan), widths, plan[r])
            if r == len(plan) - 1:
                break  # the caller's pipeline removes and fine-tunes the last round
            held = []
            if masked:
                alive = keep
                held = _mask_filters(model, alive)
            else:
                model = prune(model, keep, x0).to(device)
            # the round's fine-tuning resumes from its own trainer state; a finished round is in the rounds' state
            tune_state = state_path.with_name(state_path.name + ".finetune") if state_path else None
            if p.finetune and p.finetune.get("epochs", 0) > 0:
                harness.train(model, p.finetune, seed=p.seed, state_path=str(tune_state) if tune_state else None,
                              callbacks=self.round_callbacks(model, names))
            for h in held:
                h.remove()
            if state_path is not None:  # the finished rounds: their keep-masks (in the history) and the weights
                tmp = state_path.with_name(f".{state_path.name}.{os.getpid()}.tmp")  # atomic: old state or new
                torch.save({"model": model.state_dict(), "history": history}, tmp)
                os.replace(tmp, state_path)
                tune_state.unlink(missing_ok=True)
        if not plan:  # already at the limits: nothing to remove
            keep = {n: torch.ones(_width(model, n), dtype=torch.bool) for n in names}
        self.report = {"rounds": len(plan), "limits": dict(zip(names, limits)), "fractions": dict(zip(names, fractions)),
                       "overshoot": p.overshoot, "removal": p.removal, "plan": plan,
                       "history": [{k: v for k, v in h.items() if k != "keep"} for h in history]}
        if state_path is not None:
            state_path.unlink(missing_ok=True)
        return model, keep


def _scatter(alive: torch.Tensor, keep_of_alive: torch.Tensor) -> torch.Tensor:
    """A keep-mask over the channels still alive, in the layer's full-size coordinates."""
    out = torch.zeros_like(alive)
    out[alive.nonzero().squeeze(1)] = keep_of_alive
    return out


def _mask_filters(model: nn.Module, alive: dict[str, torch.Tensor]) -> list:
    """Masked removal: zero the removed filters' weights and bias, and hold them at zero through training
    (their gradients zeroed, so SGD with coupled weight decay and momentum, and Adam, leave them at 0).
    Nothing after the layer is touched. Returns the gradient-hook handles (``.remove()`` after the round)."""
    handles = []
    with torch.no_grad():
        for unit, keep in alive.items():
            layer = model.get_submodule(unit)
            for param in (layer.weight, layer.bias):
                if param is None:
                    continue
                live = keep.to(param.device, param.dtype).reshape(-1, *([1] * (param.dim() - 1)))
                param.mul_(live)
                handles.append(param.register_hook(lambda g, live=live: g * live))
    return handles


def _width(model: nn.Module, unit: str) -> int:
    m = model.get_submodule(unit)
    return int(m.out_channels if isinstance(m, nn.Conv2d) else m.out_features)
