"""Model files: a state dict plus the architecture description that rebuilds the module.

A checkpoint is ``{"format": 1, "arch": {...}, "state_dict": ..., "meta": {...}}`` where ``arch`` holds
the registry name, its params, ``num_classes`` and ``input_shape``. Pruned networks extend ``arch`` with
their per-unit widths (``"widths"``, plus ``"index_maps"`` where needed) and ``build`` rebuilds them
through ``methods.pruning.build_pruned``. ``load_model`` rebuilds from ``arch`` and refuses a state dict
that does not fit it, naming the first tensor whose shape differs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from methods.pruning import build_pruned

from . import fileio, models

FORMAT = 1


def architecture(model_name: str, model_params: dict, num_classes: int, input_shape) -> dict[str, Any]:
    return {"model": model_name, "model_params": dict(model_params), "num_classes": int(num_classes),
            "input_shape": [int(v) for v in input_shape]}


def build(arch: dict) -> nn.Module:
    if "widths" in arch:  # a pruned network: the original from the registry, then its recorded widths
        return build_pruned(arch, build)
    params = {k: v for k, v in arch["model_params"].items() if k != "pretrained"}
    if "pretrained" in arch["model_params"]:
        params["pretrained"] = False  # weights come from the checkpoint, not from a download
    return models.build_model(arch["model"], arch["num_classes"], tuple(arch["input_shape"]), **params)


def save_model(path: Path, model: nn.Module, arch: dict, meta: dict | None = None) -> None:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    fileio.torch_save({"format": FORMAT, "arch": arch, "state_dict": state, "meta": meta or {}}, path)


def load_model(path: Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    ckpt = torch.load(path, map_location=map_location, weights_only=False)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not an ibbench model file (format {FORMAT} with 'arch' and 'state_dict')")
    model = build(ckpt["arch"])
    expected = model.state_dict()
    for k, v in ckpt["state_dict"].items():
        if k not in expected:
            raise ValueError(f"{path}: tensor {k!r} does not exist in architecture {ckpt['arch']}")
        if tuple(expected[k].shape) != tuple(v.shape):
            raise ValueError(f"{path}: tensor {k!r} has shape {tuple(v.shape)} but architecture "
                             f"{ckpt['arch']['model']} expects {tuple(expected[k].shape)}")
    missing = sorted(set(expected) - set(ckpt["state_dict"]))
    if missing:
        raise ValueError(f"{path}: missing tensors {missing[:5]} for architecture {ckpt['arch']['model']}")
    model.load_state_dict(ckpt["state_dict"])
    return model, ckpt
