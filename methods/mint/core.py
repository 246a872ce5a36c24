"""MINT's steps as plain functions: layer pairs, paired activations, group scores, threshold, weight masks.

Ganesh, Corso, Yasaei Sekeh, "MINT: Deep Network Compression via Mutual Information-based Neuron
Trimming", ICPR 2020, Sec. III-B, Alg. 1 and appendix A-B. Facts about the authors' code, and where this
suite differs on purpose, are in ``benchmarks/papers/mint/README.md``.
"""
from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
from torch import nn

from estimators.gmi import contiguous_groups, group_scores
from methods.pruning.graph import analyse

HOOKS = ("layer_output", "consumer_input")


@dataclass(frozen=True)
class LayerPair:
    """Adjacent weight layers: ``child`` reads the channels ``parent`` produces. ``block`` is how many
    input columns of the child each parent channel owns (1, or the spatial size after a flatten)."""

    parent: str
    child: str
    parent_channels: int
    child_channels: int
    block: int

    @property
    def name(self) -> str:
        return f"{self.parent}->{self.child}"


def layer_pairs(model: nn.Module, example_input: torch.Tensor) -> list[LayerPair]:
    """Every (parent, child) pair of Conv/Linear layers in execution order, the parent being the last
    layer executed before the child that writes the channel space the child reads (for a residual stream
    with several writers: the previous block's last conv). Layers reading the network input have no
    parent and are not children here."""
    a = analyse(model, example_input)
    order = list(a.layers)
    pairs = []
    for i, child in enumerate(order):
        call = a.layers[child][0]
        space, block = call.in_ref
        root = a.find(space)
        writers = [p for p in order[:i] if a.find(a.layers[p][0].out_space) == root]
        if not writers:
            continue
        parent = writers[-1]
        pm, cm = model.get_submodule(parent), model.get_submodule(child)
        pairs.append(LayerPair(parent, child, int(pm.weight.shape[0]), int(cm.weight.shape[0]), int(block)))
    return pairs


def select_pairs(pairs: Sequence[LayerPair], skip: Sequence[str] = (), only: Optional[Sequence[str]] = None
                 ) -> list[LayerPair]:
    """Pairs to prune: ``only`` (child layer names, in that order) or all pairs, minus children in ``skip``.
    Unknown names raise, listing the available children."""
    children = [p.child for p in pairs]
    for what, names in (("skip", skip), ("only", only or ())):
        unknown = [n for n in names if n not in children]
        if unknown:
            raise ValueError(f"mint param {what}: {unknown} are not child layers of any pair; children are "
                             f"{children}")
    chosen = [p for p in pairs if p.child in only] if only is not None else list(pairs)
    return [p for p in chosen if p.child not in set(skip)]


# ---------------------------------------------------------------- paired per-class sampling

def dataset_labels(ds) -> torch.Tensor:
    for attr in ("labels", "targets"):
        if hasattr(ds, attr):
            return torch.as_tensor(getattr(ds, attr)).long()
    return torch.tensor([int(ds[i][1]) for i in range(len(ds))])  # generic datasets: read every item


def per_class_indices(labels: torch.Tensor, samples_per_class: int, seed: int) -> torch.Tensor:
    """``samples_per_class`` row indices of every class, drawn with replacement (as the authors' code),
    seeded; classes in ascending order. A class with no samples raises."""
    if isinstance(samples_per_class, bool) or not isinstance(samples_per_class, int) or samples_per_class < 1:
        raise ValueError(f"mint param samples_per_class must be a positive int, got {samples_per_class!r}")
    gen = torch.Generator().manual_seed(int(seed))
    n_classes = int(labels.max()) + 1
    out = []
    for c in range(n_classes):
        rows = (labels == c).nonzero().flatten()
        if rows.numel() == 0:
            raise ValueError(f"mint: class {c} has no training samples to draw activations from")
        out.append(rows[torch.randint(rows.numel(), (samples_per_class,), generator=gen)])
    return torch.cat(out)


def _pool(t: torch.Tensor, channels: int) -> torch.Tensor:
    """(N, channels, ...) or (N, channels * block) -> (N, channels): the mean over each channel's
    positions (the paper's 'average activation across a filter's dimensions')."""
    return t.detach().reshape(t.shape[0], channels, -1).mean(-1)


@torch.no_grad()
def collect_activations(model: nn.Module, batches, pairs: Sequence[LayerPair], hook: str,
                        all_pairs: Optional[Sequence[LayerPair]] = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{pair name: (parent (n, P), child (n, C))}`` float32 on CPU, every row of both from the same
    input sample (one forward pass feeds both hooks, so the pairing holds by construction).

    ``hook="layer_output"``: the weight layers' own outputs (before BatchNorm/activation, the authors'
    code for VGG/ResNet). ``"consumer_input"``: what the next layer reads, i.e. after activation/pooling
    (the authors' MLP); the parent's is the child's input, the child's the input of the layer after it
    (its own output when nothing reads it, e.g. the logits). ``all_pairs`` (default ``pairs``) is the
    model's full pair list, which says which layer reads each child even when that pair is not pruned."""
    if hook not in HOOKS:
        raise ValueError(f"mint param hook must be one of {HOOKS}, got {hook!r}")
    consumer_of = {}
    for p in (all_pairs if all_pairs is not None else pairs):  # the first layer reading each layer's channels
        consumer_of.setdefault(p.parent, p.child)
    wanted_out, wanted_in = set(), set()
    for p in pairs:
        if hook == "layer_output":
            wanted_out |= {p.parent, p.child}
        else:
            wanted_in.add(p.child)
    reads_child = {}
    if hook == "consumer_input":
        for p in pairs:
            nxt = consumer_of.get(p.child)
            if nxt is not None:
                reads_child[p.child] = nxt
                wanted_in.add(nxt)
            else:
                wanted_out.add(p.child)
    outs: dict[str, list] = {n: [] for n in wanted_out}
    ins: dict[str, list] = {n: [] for n in wanted_in}
    handles = []
    for name in wanted_out:
        handles.append(model.get_submodule(name).register_forward_hook(
            lambda m, i, o, n=name: outs[n].append(_pool(o, m.weight.shape[0]).float().cpu())))
    for name in wanted_in:
        handles.append(model.get_submodule(name).register_forward_pre_hook(
            lambda m, i, n=name: ins[n].append(i[0].detach().float().cpu())))
    was_training = model.training
    model.eval()
    try:
        for x, _ in batches:
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    out = {}
    for p in pairs:
        if hook == "layer_output":
            parent, child = torch.cat(outs[p.parent]), torch.cat(outs[p.child])
        else:
            parent = _pool(torch.cat(ins[p.child]), p.parent_channels)
            nxt = reads_child.get(p.child)
            child = _pool(torch.cat(ins[nxt]), p.child_channels) if nxt else torch.cat(outs[p.child])
        out[p.name] = (parent, child)
    return out


# ---------------------------------------------------------------- scores, threshold, masks

def lookup(mapping: dict, layer: str, default: Any) -> Any:
    """``mapping[layer]``, else the value of the first key that is a shell pattern matching ``layer``
    (``"layer2.*"``), else ``default``."""
    if layer in mapping:
        return mapping[layer]
    for key, value in mapping.items():
        if fnmatch.fnmatchcase(layer, key):
            return value
    return default


def pair_groups(pair: LayerPair, groups: dict, default: int) -> tuple[int, int]:
    """(parent groups, child groups) of a pair: ``groups[child layer]`` = [G_parent, G_child] (or one G
    for both; keys may be shell patterns, see ``lookup``), else ``default`` for both; each limited to its layer's channel count (the MLP's 10
    logits cannot form 64 groups). Keyed by the child because a layer can be grouped differently as a
    parent and as a child (the MNIST MLP's FC2: G = 100 as child of FC1, 300 as parent of FC3)."""
    g = lookup(groups, pair.child, default)
    gp, gc = (g, g) if isinstance(g, int) else g
    return min(int(gp), pair.parent_channels), min(int(gc), pair.child_channels)


def score_pair(parent: torch.Tensor, child: torch.Tensor, n_parent_groups: int, n_child_groups: int, *,
               seed: int, parent_subset: Optional[list[int]] = None, backend: str = "auto",
               threads: Optional[int] = None, progress: bool = False) -> torch.Tensor:
    """(child groups, parent groups) conditional GMI scores ``I(child_c ; parent_g | other parents)``."""
    return group_scores(parent, child, contiguous_groups(parent.shape[1], n_parent_groups),
                        contiguous_groups(child.shape[1], n_child_groups), seed=seed, parent_subset=parent_subset,
                        backend=backend, threads=threads, progress=progress)


def cap_value(cap: Any, n_groups: int) -> Optional[float]:
    """The per-layer cap gamma (max fraction of a layer pair's connections removed) for G groups:
    ``None`` (no cap), a number, or ``{"type": "linear"|"quadratic", "a": .., "b": .., "c": ..}`` giving
    ``a + b G (+ c G^2)`` clipped to [0, 1] (appendix A, Fig. A-1; the paper gives no coefficients)."""
    if cap is None:
        return None
    if isinstance(cap, bool):
        raise ValueError(f"mint param cap: expected null, a number or a {{type, a, b, c}} mapping, got {cap!r}")
    if isinstance(cap, (int, float)):
        value = float(cap)
    elif isinstance(cap, dict) and cap.get("type") in ("linear", "quadratic"):
        a, b = float(cap.get("a", 0.0)), float(cap.get("b", 0.0))
        c = float(cap.get("c", 0.0)) if cap["type"] == "quadratic" else 0.0
        value = a + b * n_groups + c * n_groups ** 2
    else:
        raise ValueError(f"mint param cap: expected null, a number or a mapping with type linear/quadratic, "
                         f"got {cap!r}")
    if not math.isfinite(value):
        raise ValueError(f"mint param cap evaluates to {value} for G = {n_groups}")
    return min(max(value, 0.0), 1.0)


def _quantile(values: torch.Tensor, q: float) -> float:
    return float(torch.quantile(values.to(torch.float64), q))  # linear interpolation, as numpy's default


def thresholds(scores: dict[str, torch.Tensor], prune_percent: float, caps: dict[str, Optional[float]],
               quantile_of: str = "all") -> tuple[float, dict[str, float]]:
    """delta and the per-pair thresholds (appendix A).

    delta = the ``prune_percent`` quantile of the scores pooled over all pairs (``quantile_of="unique"``:
    of the distinct values, as the authors' code does). A connection is retained when its score >= the
    threshold (Alg. 1). Where a pair would lose more than its cap gamma at delta, that pair uses the
    ``gamma`` quantile of its own scores instead. Returns (delta, {pair: threshold})."""
    if isinstance(prune_percent, bool) or not isinstance(prune_percent, (int, float)) or not 0 <= prune_percent <= 1:
        raise ValueError(f"mint param prune_percent must be a number in [0, 1], got {prune_percent!r}")
    if quantile_of not in ("all", "unique"):
        raise ValueError(f"mint param quantile_of must be 'all' or 'unique', got {quantile_of!r}")
    if not scores:
        raise ValueError("mint: no layer pairs were scored")

    def pool(t):
        t = t[torch.isfinite(t)].flatten()
        return t.unique() if quantile_of == "unique" else t

    for name, s in scores.items():
        if not bool(torch.isfinite(s).all()):
            raise ValueError(f"mint: scores of pair {name} contain NaN (an unscored parent group?)")
    delta = _quantile(torch.cat([pool(s) for s in scores.values()]), float(prune_percent))
    per_pair = {}
    for name, s in scores.items():
        cap = caps.get(name)
        per_pair[name] = delta
        if cap is not None and float((s < delta).double().mean()) > cap:
            per_pair[name] = _quantile(pool(s), cap)
    return delta, per_pair


def connection_masks(model: nn.Module, pairs: Sequence[LayerPair], keep_blocks: dict[str, torch.Tensor]
                     ) -> dict[str, torch.Tensor]:
    """Weight masks (``{child.weight: bool}``) zeroing ``W_child[c_filters, g_filters]`` (whole kernels;
    for a Linear after a flatten, the parent channel's block of columns) where ``keep_blocks[pair]``
    (child groups, parent groups) is False. Several pairs with the same child multiply their masks."""
    masks: dict[str, torch.Tensor] = {}
    for p in pairs:
        keep = keep_blocks[p.name]
        w = model.get_submodule(p.child).weight
        c_groups = contiguous_groups(p.child_channels, keep.shape[0])
        g_groups = contiguous_groups(p.parent_channels, keep.shape[1])
        unit = torch.ones(p.child_channels, p.parent_channels, dtype=torch.bool)
        for ci, cg in enumerate(c_groups):
            for gi, gg in enumerate(g_groups):
                if not keep[ci, gi]:
                    unit[cg[:, None], gg[None, :]] = False
        # (out, in_channels) -> the weight's shape: each input channel owns `block` columns / a kernel
        m = unit.repeat_interleave(p.block, dim=1)
        m = m.reshape(m.shape[0], m.shape[1], *([1] * (w.dim() - 2))).expand_as(w)
        key = f"{p.child}.weight"
        masks[key] = masks[key] & m if key in masks else m.clone()
    return masks
