"""Describing and rebuilding pruned architectures.

A checkpoint's ``arch`` (``benchmarks.checkpoint.architecture``) names a registry model. A pruned network
adds ``"widths"`` (unit name -> kept channels, for every prunable unit, ``"input"`` included where the
model has that unit) and, where the network needs them, ``"index_maps"`` (module path -> ``spec()`` of a
``ChannelScatter`` or ``FlattenSelect``): which kept shortcut channels land where and which input
features are kept are architecture, not weights, and cannot be recovered from the widths.

``build_pruned(arch, build_original)`` builds the original with ``build_original(arch without the pruning
keys)`` (the caller's model registry: this library knows none), prunes it with keep-first-k masks of the
widths (giving every layer its pruned shape) and installs the recorded index modules, so the pruned
state dict loads into it. ``benchmarks.checkpoint.build`` calls it for any ``arch`` with ``"widths"``.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .graph import INPUT_UNIT, analyse
from .modules import ChannelScatter, FlattenSelect, module_from_spec
from .surgery import _set_module, prune

PRUNING_KEYS = ("widths", "index_maps")


def _device(model: nn.Module) -> torch.device:
    t = next(iter(model.parameters()), None)
    if t is None:
        t = next(iter(model.buffers()), None)
    return t.device if t is not None else torch.device("cpu")


def _example(model: nn.Module, input_shape) -> torch.Tensor:
    return torch.zeros((1, *[int(v) for v in input_shape]), device=_device(model))


def pruned_architecture(arch: dict, pruned_model: nn.Module) -> dict:
    """``arch`` (of the original network) extended with the pruned network's widths and index maps."""
    if not isinstance(arch, dict) or "input_shape" not in arch or "model" not in arch:
        raise ValueError(f"pruned_architecture: arch must be a checkpoint architecture with 'model' and "
                         f"'input_shape', got {arch!r:.200}")
    a = analyse(pruned_model, _example(pruned_model, arch["input_shape"]))
    out = {k: v for k, v in arch.items() if k not in PRUNING_KEYS}
    out["widths"] = {name: u.size for name, u in a.units_by_name(include_input=True).items()}
    maps = {path: m.spec() for path, m in pruned_model.named_modules()
            if isinstance(m, (ChannelScatter, FlattenSelect))}
    if maps:
        out["index_maps"] = maps
    return out


def build_pruned(arch: dict, build_original: Callable[[dict], nn.Module]) -> nn.Module:
    """The pruned architecture ``arch`` with fresh weights (shapes and index maps as recorded);
    ``build_original(arch)`` makes the unpruned network an ``arch`` without widths describes."""
    widths = arch.get("widths")
    if not isinstance(widths, dict):
        raise ValueError(f"build_pruned: arch['widths'] must be a dict of unit name -> width, got {widths!r:.200}")
    base = build_original({k: v for k, v in arch.items() if k not in PRUNING_KEYS})
    x = _example(base, arch["input_shape"])
    units = analyse(base, x).units_by_name(include_input=True)
    unknown = sorted(set(widths) - set(units))
    if unknown:
        raise ValueError(f"build_pruned: arch['widths'] names {unknown}, which are not prunable units of "
                         f"{arch['model']}; units are {list(units)[:8]}{' ...' if len(units) > 8 else ''}")
    keep = {}
    for name, w in widths.items():
        size = units[name].size
        if isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= size:
            raise ValueError(f"build_pruned: width of unit {name!r} must be an int in [1, {size}], got {w!r}")
        keep[name] = torch.arange(size) < w
    pruned = prune(base, keep, x)
    for path, spec in (arch.get("index_maps") or {}).items():
        try:
            old = pruned.get_submodule(path)
        except AttributeError:
            raise ValueError(f"build_pruned: arch['index_maps'] names module {path!r}, which {arch['model']} "
                             f"does not have") from None
        new = module_from_spec(spec).to(x.device)
        if isinstance(new, ChannelScatter):
            ok = (isinstance(old, nn.Module) and getattr(old, "in_channels", None) == new.in_channels
                  and getattr(old, "out_channels", None) == new.out_channels)
        else:
            ok = isinstance(old, (nn.Flatten, FlattenSelect)) and widths.get(INPUT_UNIT) == new.index.numel()
        if not ok:
            raise ValueError(f"build_pruned: index map {path!r} ({spec.get('kind')}) does not fit the module "
                             f"{old} built from the widths")
        _set_module(pruned, path, new)
    return pruned


def architecture_string(pruned_model: nn.Module, example_input: torch.Tensor | None = None, *,
                        include_input: bool = False) -> str:
    """Widths of the prunable units in execution order, e.g. ``"71-33"``; with ``include_input=True`` the
    kept input features come first (VIBNet Table 1 writes LeNet-300-100 as ``"97-71-33"``).

    ``example_input`` may be omitted for models made by ``prune`` or ``build_pruned``, which remember the
    input shape they were traced with."""
    if example_input is None:
        shape = getattr(pruned_model, "ibbench_input_shape", None)
        if shape is None:
            raise ValueError("architecture_string: pass example_input (this model was not made by prune or "
                             "build_pruned, so its input shape is unknown)")
        example_input = _example(pruned_model, shape)
    a = analyse(pruned_model, example_input)
    widths = [u.size for u in a.units]
    if include_input:
        if a.input_unit is None:
            raise ValueError("architecture_string: include_input=True needs a model whose first layer is a "
                             "Linear after an nn.Flatten of the input")
        widths.insert(0, a.input_unit.size)
    return "-".join(str(w) for w in widths)
