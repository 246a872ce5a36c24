"""Physical removal of channels / neurons, its masked reference, weight-level masks and dead units.

Mask semantics (shared by ``prune`` and ``masked_copy``): ``keep[unit][c] = False`` means channel ``c`` of
the unit does not exist. Every tensor that carries the unit's channels (a layer's output, after its
BatchNorm, after the activation, after pooling, the residual stream after each addition) has that channel
at zero, so no later layer sees it. ``prune`` realises this by deleting the channel: output rows of every
producing Conv/Linear, the BatchNorm entries, the input columns of every consuming layer (for the first
Linear after a Flatten, the channel's whole block of ``k`` spatial positions, ``j // k == c``), and the
channel-map pairs of option-A shortcuts; ``masked_copy`` realises it by multiplying every such tensor by
the mask. The two agree exactly (up to float summation order) in eval mode, and in train mode as well
since BatchNorm statistics are per channel. Note that zeroing a conv's output alone would not do: the
following BatchNorm (eval) maps zero to ``beta - mean * gamma / sqrt(var + eps)``.

Dead units (``dead_units``), for weight-level sparsity such as MINT's (Ganesh et al., ICPR 2020: zeroed
blocks ``W_child[c, g]`` of input connections): a channel is dead when removing it changes nothing, either

- nothing reads it: every consuming layer's weights on it are zero (all ``k`` columns of its block) and no
  option-A shortcut copies it; or
- it is identically zero: every producing layer has a zero weight row and zero (or no) bias, every
  BatchNorm on it maps 0 to 0 in both modes (``beta = 0`` and ``gamma = 0`` or ``running_mean = 0``),
  every elementwise op on it maps 0 to 0 (ReLU, tanh, pooling, dropout; not sigmoid), and no shortcut
  writes into it.

Both rules are exact for every input, so ``prune_dead`` returns a network with the same outputs and only
the remaining zeros left as sparse weights.
"""
from __future__ import annotations

import copy
from typing import Mapping

import torch
from torch import fx, nn

from .graph import INPUT_UNIT, Analysis, Unit, analyse
from .modules import ChannelScatter, FlattenSelect

Keep = Mapping[str, torch.Tensor]


# ---------------------------------------------------------------- validation

def _names_hint(units: dict[str, Unit]) -> str:
    names = list(units)
    return ", ".join(repr(n) for n in names[:8]) + (f", ... ({len(names)} units)" if len(names) > 8 else "")


def validate_keep(a: Analysis, keep: Keep) -> dict[str, torch.Tensor]:
    """Check every mask before any work; returns the masks as CPU bool tensors."""
    if not isinstance(keep, Mapping):
        raise TypeError(f"keep must be a dict of unit name -> bool mask, got {type(keep).__name__}")
    units = a.units_by_name()
    out = {}
    for name, mask in keep.items():
        if name not in units:
            owner = next((u.name for u in a.units if name in u.members), None)
            if owner is not None:
                raise KeyError(f"keep mask {name!r}: this layer's channels are tied (residual additions) in unit "
                               f"{owner!r} with members {list(units[owner].members)}; give the mask under "
                               f"{owner!r}")
            if name == INPUT_UNIT:
                raise KeyError(f"keep mask {name!r}: input features can be pruned only when the first layer is a "
                               f"Linear after an nn.Flatten of the input, which this model does not have")
            raise KeyError(f"keep mask {name!r} is not a prunable unit of this model; units: {_names_hint(units)}")
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            got = f"dtype {mask.dtype}" if isinstance(mask, torch.Tensor) else f"type {type(mask).__name__}"
            raise TypeError(f"keep mask for unit {name!r} must be a torch.bool tensor, got {got}")
        size = units[name].size
        if tuple(mask.shape) != (size,):
            raise ValueError(f"keep mask for unit {name!r} must have shape ({size},), got {tuple(mask.shape)}")
        if not bool(mask.any()):
            raise ValueError(f"keep mask for unit {name!r} removes all {size} channels; keep at least one")
        out[name] = mask.detach().cpu()
    return out


def _kept_indices(a: Analysis, masks: dict[str, torch.Tensor]) -> dict[int, torch.Tensor]:
    """Class root -> kept channel indices, only for classes that lose channels."""
    return {a.unit_root[n]: torch.nonzero(m).flatten() for n, m in masks.items() if not bool(m.all())}


def _expand(idx: torch.Tensor, k: int) -> torch.Tensor:
    """Channel indices -> entry indices of a (channel, k) blocked axis."""
    return (idx[:, None] * k + torch.arange(k)).flatten() if k > 1 else idx


def _set_module(root: nn.Module, path: str, new: nn.Module) -> None:
    parent, _, child = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, new)


def _slice_param(module: nn.Module, name: str, dim: int, idx: torch.Tensor | None) -> None:
    t = getattr(module, name, None)
    if t is None or idx is None:
        return
    new = t.detach().index_select(dim, idx.to(t.device)).clone()
    if isinstance(t, nn.Parameter):
        setattr(module, name, nn.Parameter(new, requires_grad=t.requires_grad))
    else:
        setattr(module, name, new)  # a registered buffer stays a buffer


# ---------------------------------------------------------------- prune

def prune(model: nn.Module, keep: Keep, example_input: torch.Tensor) -> nn.Module:
    """A new, physically smaller copy of ``model`` without the channels whose ``keep`` entry is False.

    ``keep`` maps unit names (see ``prunable_units``; ``"input"`` for the input features of an MLP) to
    bool masks of the unit's size; units not named keep all channels. ``model`` is not modified. The result
    is an instance of the same classes with smaller layers (plus ``ChannelScatter`` / ``FlattenSelect``
    where index maps are needed), without hooks or masks; its state-dict keys are the original ones."""
    a = analyse(model, example_input)
    masks = validate_keep(a, keep)
    kept = _kept_indices(a, masks)
    pruned = copy.deepcopy(model)
    pruned.ibbench_input_shape = tuple(example_input.shape[1:])  # lets architecture_string re-trace it
    if not kept:
        return pruned

    def idx_of(space: int, k: int = 1) -> torch.Tensor | None:
        i = kept.get(a.find(space))
        return None if i is None else _expand(i, k)

    for path, calls in a.layers.items():
        call = calls[0]
        out_idx, in_idx = idx_of(call.out_space), idx_of(*call.in_ref)
        m = pruned.get_submodule(path)
        _slice_param(m, "weight", 0, out_idx)
        _slice_param(m, "bias", 0, out_idx)
        _slice_param(m, "weight", 1, in_idx)
        if isinstance(m, nn.Linear):
            m.out_features, m.in_features = m.weight.shape[0], m.weight.shape[1]
        else:
            m.out_channels, m.in_channels = m.weight.shape[0], m.weight.shape[1]
    for path, refs in a.norms.items():
        idx = idx_of(*refs[0])
        if idx is not None:
            m = pruned.get_submodule(path)
            for name in ("weight", "bias", "running_mean", "running_var"):
                _slice_param(m, name, 0, idx)
            m.num_features = int(idx.numel())
    for path, calls in a.maps.items():
        call = calls[0]
        src_idx, dst_idx = idx_of(call.in_space), idx_of(call.out_space)
        if src_idx is None and dst_idx is None:
            continue
        n_in, n_out = a.sizes[a.find(call.in_space)], a.sizes[a.find(call.out_space)]
        src_pos = _positions(src_idx, n_in)
        dst_pos = _positions(dst_idx, n_out)
        new_src, new_dst = src_pos[call.src], dst_pos[call.dst]
        ok = (new_src >= 0) & (new_dst >= 0)  # a pair survives when both of its channels are kept
        _set_module(pruned, path, ChannelScatter(
            n_in if src_idx is None else src_idx.numel(), n_out if dst_idx is None else dst_idx.numel(),
            call.stride, new_src[ok], new_dst[ok]))
    if a.input_flatten is not None:
        path, space = a.input_flatten
        idx = idx_of(space)
        if idx is not None:
            old = pruned.get_submodule(path)
            if isinstance(old, FlattenSelect):
                _set_module(pruned, path, FlattenSelect(old.in_features, old.index.cpu()[idx], old.start_dim,
                                                        old.end_dim))
            else:
                _set_module(pruned, path, FlattenSelect(a.sizes[space], idx, old.start_dim, old.end_dim))
            pruned.get_submodule(path).to(example_input.device)
    for m in pruned.modules():
        if isinstance(m, ChannelScatter):
            m.to(example_input.device)
    return pruned


def _positions(idx: torch.Tensor | None, n: int) -> torch.Tensor:
    """Old channel -> new position (-1 where removed)."""
    if idx is None:
        return torch.arange(n)
    pos = torch.full((n,), -1, dtype=torch.long)
    pos[idx] = torch.arange(idx.numel())
    return pos


# ---------------------------------------------------------------- masked reference

def masked_copy(model: nn.Module, keep: Keep, example_input: torch.Tensor) -> fx.GraphModule:
    """The same network (a deep copy, as a ``torch.fx.GraphModule``) with every tensor that carries a
    removed channel multiplied by the keep mask: the reference that ``prune`` must match."""
    work = copy.deepcopy(model)
    a = analyse(work, example_input)
    masks = validate_keep(a, keep)
    kept = {a.unit_root[n]: m for n, m in masks.items() if not bool(m.all())}
    gm, graph = a.gm, a.gm.graph
    buffers: dict[tuple[int, int, int], str] = {}
    for node in list(graph.nodes):
        r = a.node_refs.get(node.name)
        if r is None or node.op == "placeholder" or a.find(r[0]) not in kept:
            continue
        ndim = len(node.meta["tensor_meta"].shape)
        key = (a.find(r[0]), r[1], ndim)
        if key not in buffers:
            mask = kept[key[0]].repeat_interleave(r[1]).to(example_input.dtype)
            buffers[key] = f"_keep_mask_{len(buffers)}"
            gm.register_buffer(buffers[key], mask.reshape(1, -1, *([1] * (ndim - 2))).to(example_input.device))
        with graph.inserting_after(node):
            get = graph.get_attr(buffers[key])
        with graph.inserting_after(get):
            mul = graph.call_function(torch.mul, (node, get))
        node.replace_all_uses_with(mul, delete_user_cb=lambda user: user is not mul)
    graph.lint()
    gm.recompile()
    gm.train(model.training)
    return gm


# ---------------------------------------------------------------- weight-level masks and dead units

def apply_weight_masks(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> nn.Module:
    """Zero individual weights in place: ``masks[param_name]`` is a bool tensor of the parameter's shape,
    False where the weight is removed (e.g. MINT's blocks ``W_child[c, g]``). Returns ``model``."""
    params = dict(model.named_parameters())
    checked = []
    for name, mask in masks.items():
        if name not in params:
            raise KeyError(f"weight mask {name!r} names no parameter of the model; parameters include "
                           f"{list(params)[:8]}")
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            got = f"dtype {mask.dtype}" if isinstance(mask, torch.Tensor) else f"type {type(mask).__name__}"
            raise TypeError(f"weight mask for {name!r} must be a torch.bool tensor, got {got}")
        if mask.shape != params[name].shape:
            raise ValueError(f"weight mask for {name!r} must have the parameter's shape {tuple(params[name].shape)}, "
                             f"got {tuple(mask.shape)}")
        checked.append((params[name], mask))
    with torch.no_grad():
        for p, mask in checked:
            p.masked_fill_(~mask.to(p.device), 0)
    return model


def hold_zeros(model: nn.Module, names) -> list:
    """Keep the entries of the named parameters that are zero now at zero through training: a gradient hook
    zeroes their gradient, so SGD (with momentum, Nesterov, coupled weight decay) and Adam leave them at 0.
    For weight-level pruning (MINT's single retraining step). Returns the hook handles (``.remove()``)."""
    params = dict(model.named_parameters())
    unknown = [n for n in names if n not in params]
    if unknown:
        raise KeyError(f"hold_zeros: {unknown} name no parameter of the model")
    handles = []
    for n in names:
        live = (params[n].detach() != 0).to(params[n].dtype)
        handles.append(params[n].register_hook(lambda g, live=live: g * live))
    return handles


def _rows_zero(w: torch.Tensor, dim: int, k: int = 1) -> torch.Tensor:
    """Per channel along ``dim`` (blocks of ``k`` entries): are all weights zero?"""
    nz = (w.detach() != 0).transpose(0, dim).reshape(w.shape[dim], -1).any(1)
    return ~nz.reshape(-1, k).any(1).cpu()


def dead_units(model: nn.Module, example_input: torch.Tensor, *,
               include_input: bool = False) -> dict[str, torch.Tensor]:
    """``{unit: bool tensor}``, True where the channel is dead (see the module docstring for the rules)."""
    a = analyse(model, example_input)
    units = a.units_by_name(include_input=include_input)
    out = {}
    for name, unit in units.items():
        root = a.unit_root[name]
        in_class = lambda s: a.find(s) == root  # noqa: E731
        unread = torch.ones(unit.size, dtype=torch.bool)
        zero = torch.ones(unit.size, dtype=torch.bool)
        for path, calls in a.layers.items():
            m = model.get_submodule(path)
            if in_class(calls[0].in_ref[0]):
                unread &= _rows_zero(m.weight, 1, calls[0].in_ref[1])
            if in_class(calls[0].out_space):
                zero &= _rows_zero(m.weight, 0)
                if m.bias is not None:
                    zero &= (m.bias.detach() == 0).cpu()
        for path, calls in a.maps.items():
            if in_class(calls[0].in_space):
                unread[calls[0].src] = False
            if in_class(calls[0].out_space):
                zero[calls[0].dst] = False
        for path, refs in a.norms.items():
            if in_class(refs[0][0]):
                zero &= _bn_keeps_zero(model.get_submodule(path), refs[0][1])
        if any(in_class(s) for s in a.not_zero_keeping) or unit.name == INPUT_UNIT:
            zero[:] = False
        out[name] = unread | zero
    return out


def _bn_keeps_zero(bn: nn.Module, k: int) -> torch.Tensor:
    # Train mode maps a zero channel to beta; eval mode to beta - mean * gamma / sqrt(var + eps).
    n = bn.num_features
    beta = bn.bias.detach().cpu() if bn.bias is not None else torch.zeros(n)
    gamma = bn.weight.detach().cpu() if bn.weight is not None else torch.ones(n)
    mean = bn.running_mean.detach().cpu() if bn.running_mean is not None else torch.zeros(n)
    ok = (beta == 0) & ((gamma == 0) | (mean == 0))
    return ok.reshape(-1, k).all(1)


def prune_dead(model: nn.Module, example_input: torch.Tensor, *, include_input: bool = False) -> nn.Module:
    """``prune`` with every dead channel removed. A unit whose channels are all dead keeps its first one
    (a unit cannot be empty; the kept channel is dead, so outputs are unchanged)."""
    keep = {}
    for name, dead in dead_units(model, example_input, include_input=include_input).items():
        k = ~dead
        if not bool(k.any()):
            k[0] = True
        keep[name] = k
    return prune(model, keep, example_input)
