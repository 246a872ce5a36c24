"""Structural pruning: find removable channel groups, remove them physically, describe and rebuild the result.

Every method of this suite ends in the same step: keep-masks over *units* (groups of output channels /
neurons removed together) become a physically smaller network, on which parameters, FLOPs, memory and
latency are measured (the papers' own codes only mask or zero weights; each paper's README in
``benchmarks/papers/<key>/`` says what its authors' code does).

- ``graph``: ``prunable_units(model, x)``: the units, found by tracing channel dependencies with torch.fx.
- ``surgery``: ``prune(model, keep, x)`` (a new smaller plain module), ``masked_copy`` (the reference it
  must equal: removed channels zero in every tensor that carries them), ``apply_weight_masks`` and
  ``dead_units`` / ``prune_dead`` for weight-level sparsity (MINT zeroes input-connection blocks).
- ``masks``: ``masks_from_scores``: importance scores -> keep-masks (per-layer or global ratio, floors);
  ``output_l1_norms``: the L1 filter score shared by the L1 methods.
- ``architecture``: ``pruned_architecture`` / ``build_pruned`` (checkpoint ``arch`` with ``"widths"``),
  ``architecture_string`` ("97-71-33").
- ``modules``: ``ChannelScatter`` (the option-A shortcut after its channels were pruned) and
  ``FlattenSelect`` (kept input features of an MLP).

Why our own torch.fx dependency tracing and not Torch-Pruning (``torch-pruning`` on PyPI): the networks
here use a closed set of standard layers (Conv, Linear, BatchNorm, elementwise activations, pooling,
Flatten, residual additions), and the one non-standard piece, the option-A zero-padding shortcut of the
CIFAR ResNets, is exactly what Torch-Pruning's dependency graph does not know. Pruning the residual streams
through it needs more than a custom pruner: once kept channels on either side are no longer contiguous
the padding cannot be expressed by a padding module at all, and it has to become an index map whose
indices must then be recorded in the checkpoint. The suite also needs three things a pruning library
does not give: the exact masked reference of a removal (to test every surgery for equivalence),
dead-unit detection for weight-level masks, and rebuilding a pruned architecture from the checkpoint's
description. All of them read the same channel-dependency graph, so one small tracer (a union-find over
channel spaces, ``graph.py``) serves all four, adds no dependency, and refuses with a message naming the
graph node anything it does not understand (concatenation, grouped convolutions, channel slicing)
rather than guessing.
"""
from __future__ import annotations

from .architecture import architecture_string, build_pruned, pruned_architecture
from .graph import INPUT_UNIT, Unit, prunable_units
from .masks import masks_from_scores, masks_to_widths, output_l1_norms, resolve_widths
from .modules import ChannelScatter, FlattenSelect, ZeroPadShortcut
from .surgery import apply_weight_masks, dead_units, hold_zeros, masked_copy, prune, prune_dead

__all__ = ["INPUT_UNIT", "ChannelScatter", "FlattenSelect", "Unit", "ZeroPadShortcut", "apply_weight_masks", "architecture_string",
           "build_pruned", "dead_units", "hold_zeros", "masked_copy", "masks_from_scores", "masks_to_widths", "output_l1_norms", "resolve_widths", "prunable_units", "prune",
           "prune_dead", "pruned_architecture"]
