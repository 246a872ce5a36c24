"""The small channel-map modules a (pruned) network may contain.

Both carry their indices as non-persistent buffers (they move with ``.to(device)`` but are not part of the
state dict): the indices are architecture, recorded in the checkpoint's ``arch["index_maps"]`` by
``pruned_architecture`` and restored by ``build_pruned``; the state dict holds only weights.

- ``ChannelScatter`` replaces an option-A ``ZeroPadShortcut`` (He et al. 2016, Sec. 4.2) once the residual
  channels on either side were pruned: the identity maps input channel ``src[i]`` to output channel
  ``dst[i]`` and leaves every other output channel zero. A zero-padding module can only place one contiguous
  block of input channels at an offset, which kept channels of a pruned stream no longer form.
- ``ZeroPadShortcut`` is the option-A shortcut itself (``x[:, :, ::stride, ::stride]`` zero-padded in
  channels), defined here because the tracer must recognise it as a channel map; models import it.
- ``FlattenSelect`` replaces the ``nn.Flatten`` in front of the first Linear layer when input features are
  pruned (VIBNet, Dai et al. 2018, Table 1 prunes input pixels): the pruned network still takes whole
  images and keeps the features ``index`` of the flattened input.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _index(name: str, values, limit: int, what: str) -> torch.Tensor:
    idx = torch.as_tensor(values, dtype=torch.long).reshape(-1)
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= limit):
        raise ValueError(f"{name}: {what} must lie in [0, {limit}), got min {int(idx.min())}, max {int(idx.max())}")
    return idx


class ChannelScatter(nn.Module):
    """``out[:, dst[i]] = x[:, src[i], ::stride, ::stride]``; all other of the ``out_channels`` are zero."""

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 src: Sequence[int] | torch.Tensor, dst: Sequence[int] | torch.Tensor):
        super().__init__()
        src = _index("ChannelScatter", src, in_channels, "src channels")
        dst = _index("ChannelScatter", dst, out_channels, "dst channels")
        if src.numel() != dst.numel():
            raise ValueError(f"ChannelScatter: src and dst need the same length, got {src.numel()} and {dst.numel()}")
        if torch.unique(dst).numel() != dst.numel():
            raise ValueError(f"ChannelScatter: dst channels must be distinct, got {dst.tolist()}")
        self.in_channels, self.out_channels, self.stride = int(in_channels), int(out_channels), int(stride)
        self.register_buffer("src", src, persistent=False)
        self.register_buffer("dst", dst, persistent=False)

    def pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.src, self.dst

    def forward(self, x):
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        out = x.new_zeros((x.shape[0], self.out_channels, *x.shape[2:]))
        return out.index_copy(1, self.dst, x.index_select(1, self.src))

    def spec(self) -> dict:
        return {"kind": "channel_scatter", "in_channels": self.in_channels, "out_channels": self.out_channels,
                "stride": self.stride, "src": self.src.tolist(), "dst": self.dst.tolist()}

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}, pairs={self.src.numel()}"


class FlattenSelect(nn.Module):
    """``torch.flatten(x, start_dim, end_dim)[:, index]``: a Flatten that keeps only some features."""

    def __init__(self, in_features: int, index: Sequence[int] | torch.Tensor, start_dim: int = 1,
                 end_dim: int = -1):
        super().__init__()
        index = _index("FlattenSelect", index, in_features, "feature indices")
        if index.numel() == 0:
            raise ValueError("FlattenSelect: index must keep at least one feature")
        self.in_features, self.start_dim, self.end_dim = int(in_features), int(start_dim), int(end_dim)
        self.register_buffer("index", index, persistent=False)

    def forward(self, x):
        return torch.flatten(x, self.start_dim, self.end_dim).index_select(1, self.index)

    def spec(self) -> dict:
        return {"kind": "flatten_select", "in_features": self.in_features, "start_dim": self.start_dim,
                "end_dim": self.end_dim, "index": self.index.tolist()}

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, kept={self.index.numel()}"


def module_from_spec(spec: dict) -> nn.Module:
    """Rebuild an index module from ``spec()`` (the form stored in ``arch["index_maps"]``)."""
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind == "channel_scatter":
        return ChannelScatter(spec["in_channels"], spec["out_channels"], spec["stride"], spec["src"], spec["dst"])
    if kind == "flatten_select":
        return FlattenSelect(spec["in_features"], spec["index"], spec["start_dim"], spec["end_dim"])
    raise ValueError(f"index map spec must have kind 'channel_scatter' or 'flatten_select', got {spec!r:.200}")


class ZeroPadShortcut(nn.Module):
    """Option A: ``x[:, :, ::stride, ::stride]`` with zero channels added on both sides
    (``(out - in) // 2`` in front, the rest behind: 8 + 8 for 16 -> 32)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"ZeroPadShortcut cannot reduce channels ({in_channels} -> {out_channels})")
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.pad_front = (out_channels - in_channels) // 2
        self.pad_back = out_channels - in_channels - self.pad_front

    def forward(self, x):
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad_front, self.pad_back))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"
