"""Per-filter activity of a trained network, read through forward hooks (methods that score filters by
what they respond to): which module's output is a unit's post-activation map, each filter's response
reduced to one scalar per image, and masking filters at that output (what removing them gives)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator, Mapping

import torch
from torch import nn

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Hardtanh)
REDUCTIONS = ("mean", "max")


def post_activation_module(model: nn.Module, unit: str, or_unit: bool = False) -> str:
    """The activation module that follows layer ``unit`` before the next weight layer, in the model's
    module order (its post-activation map, e.g. a VGG conv's ReLU). With none (Caffe's LeNet-5 has no
    ReLU after its convolutions): ``unit`` itself when ``or_unit``, else an error."""
    names = [n for n, _ in model.named_modules()]
    if unit not in names:
        raise ValueError(f"the model has no layer {unit!r}")
    for n in names[names.index(unit) + 1:]:
        m = model.get_submodule(n)
        if isinstance(m, ACTIVATIONS):
            return n
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            break
    if or_unit:
        return unit
    raise ValueError(f"no activation module after layer {unit!r} before the next weight layer: name the "
                     f"module whose output is its map")


def _reduce(t: torch.Tensor, how: str) -> torch.Tensor:
    flat = t.detach().reshape(t.shape[0], t.shape[1], -1)
    return flat.mean(-1) if how == "mean" else flat.amax(-1)


@torch.no_grad()
def channel_responses(model: nn.Module, modules: Mapping[str, str], batches: Iterable, reduce: str = "mean"
                      ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """``({unit: (n, C) float64 on CPU}, labels (n,))``: each channel of each unit's map (the output of
    ``modules[unit]``) reduced over its positions (``reduce``: "mean" or "max"; a dense layer's neurons
    are their own value) on every batch of (x, y). The model's mode is restored."""
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    seen: dict[str, list[torch.Tensor]] = {u: [] for u in modules}
    handles = [model.get_submodule(m).register_forward_hook(
        lambda _m, _i, out, u=u: seen[u].append(_reduce(out, reduce).to("cpu", torch.float64)))
        for u, m in modules.items()]
    labels = []
    was_training = model.training
    model.eval()
    try:
        for x, y in batches:
            model(x)
            labels.append(y.detach().cpu())
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    if not labels:
        raise ValueError("channel_responses: no batches")
    return {u: torch.cat(v) for u, v in seen.items()}, torch.cat(labels)


@contextmanager
def masked_channels(model: nn.Module, modules: Mapping[str, str], keep: Mapping[str, torch.Tensor]) -> Iterator[None]:
    """Within the block, the channels of each unit outside ``keep[unit]`` (bool, one per channel) are zero
    at the output of ``modules[unit]``: its consumers see what removing those filters gives them."""
    handles = []
    for unit, mask in keep.items():
        def zero(_m, _i, out, mask=mask):
            return out * mask.to(out.device, out.dtype).reshape(1, -1, *([1] * (out.dim() - 2)))
        handles.append(model.get_submodule(modules[unit]).register_forward_hook(zero))
    try:
        yield
    finally:
        for h in handles:
            h.remove()
