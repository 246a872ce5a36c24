"""VIBNet: neuron / channel pruning with the variational information bottleneck.

Dai, Zhu, Guo, Wipf, "Compressing Neural Networks using the Variational Information Bottleneck",
ICML 2018. Every hidden layer's output is multiplied by Gaussian noise ``mu + eps * sigma`` per neuron or
channel (eq. 4), the network is trained on cross-entropy plus ``sum_i gamma_i / L * sum_j log(1 + alpha_ij)``
(eq. 9 in per-sample form, L = number of bottlenecked layers, ``alpha = mu^2 / sigma^2``, eq. 10), and the
units with small ``alpha`` are removed; the test-time network multiplies by ``mu`` (Sec. 6).

- ``layers``: the IB layer, KL terms (paper and authors'-code forms), loss coefficients, parameter groups.
- ``surgery``: IB placement in a registry network (``equip``) and the exact conversion back to a plain,
  smaller-to-be network of the registry architecture (``to_plain``).
- ``VIBNet``: the ``PruningMethod``. ``masks`` equips the given network (or a freshly initialised copy,
  ``from_scratch``, as the paper's LeNet experiments), trains it under ``Params.protocol`` with the
  caller's trainer (``harness.train``, the KL term as an extra loss) and returns the folded plain network
  with the keep-masks; a pipeline (the suite's: ``benchmarks.pipeline``) then removes the units
  physically, optionally fine-tunes and measures. The compression
  is set by ``gamma`` (or ``kl_fac``), not by the pipeline's target ratio, which VIBNet ignores; the
  target's ``min_keep`` / ``min_keep_fraction`` floors are honoured.
"""
from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Union

import torch
from torch import nn

from ..base import PruningMethod, Target, require_harness
from ..pruning import prune
from .layers import (FORMS, InformationBottleneck, code_equivalent_gamma, decay_penalty, kl_penalty,
                     objective_coefficients, parameter_groups)
from .surgery import FoldingError, Site, WithBottleneck, bottlenecks, equip, find_sites, to_plain

log = logging.getLogger("ibbench.vibnet")

_PROTOCOL_KEYS = ("optimizer", "lr", "batch_size", "epochs")


def _number(name: str, v: Any, *, low: float | None = None) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or (low is not None and v < low):
        bound = f" >= {low}" if low is not None else ""
        raise ValueError(f"vibnet param {name} must be a finite number{bound}, got {v!r}")
    return float(v)


def reinitialise(model: nn.Module) -> nn.Module:
    """Fresh default initialisation of every layer (and BatchNorm statistics), in place."""
    for m in model.modules():
        if m is not model and hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return model


def _weight_count(model: nn.Module) -> int:
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


@torch.no_grad()
def _error(model: nn.Module, harness, dataset) -> Optional[float]:
    if len(dataset) == 0:
        return None
    model.eval()
    wrong = seen = 0
    for x, y in harness.eval_batches(dataset):
        wrong += int((model(x).argmax(1) != y).sum())
        seen += len(y)
    return wrong / seen


class VIBNet(PruningMethod):
    name: ClassVar[str] = "vibnet"
    # the compression follows from the KL weight: gamma (paper form) or kl_fac (the authors' code form)
    sweep_params: ClassVar[tuple[str, ...]] = ("gamma", "kl_fac")

    @dataclass(frozen=True)
    class Params:
        """``protocol``: the IB-training protocol for the harness's trainer (optimizer sgd/adam, lr,
        batch_size, epochs, weight_decay, schedule, ...). ``faithful_to="paper"`` needs ``gamma`` (one
        value, or one per bottlenecked layer in execution order, the input bottleneck first);
        ``faithful_to="code"`` needs ``kl_fac`` (loss ``CE + kl_fac * sum_i KL_code_i``, weight decay also
        on mu and log sigma^2). ``threshold`` is on log alpha (paper: keep ``log alpha > threshold``; code:
        keep ``log alpha_code < threshold``); 0 in both means keep ``mu^2 > sigma^2``.
        ``state_path`` makes the IB training resumable (the trainer's state file).
        ``decay_bottlenecks``: whether the protocol's weight decay also applies to mu and log sigma^2
        (default: only in the code form, as the authors' code; eq. 9 has no such term).
        ``layer_scale``: per-layer multipliers of a single ``gamma`` (gamma_i = gamma * layer_scale[i], one
        per bottlenecked layer in execution order): eq. 9's per-layer trade-off with one swept gamma.
        ``threshold_sweep``: thresholds at which the trained IB network is also folded after training; the
        report then holds each one's kept widths, weight fraction and validation/test error (the paper
        says the results are insensitive to the threshold; this measures it without retraining)."""

        protocol: Optional[dict] = None
        gamma: Union[float, tuple, None] = None
        kl_fac: Optional[float] = None
        faithful_to: str = "paper"
        input_bottleneck: bool = False
        threshold: float = 0.0
        from_scratch: bool = False
        seed: int = 0
        state_path: Optional[str] = None
        decay_bottlenecks: Optional[bool] = None
        layer_scale: Optional[tuple] = None
        threshold_sweep: tuple = ()

        def __post_init__(self):
            if self.faithful_to not in FORMS:
                raise ValueError(f"vibnet param faithful_to must be one of {FORMS}, got {self.faithful_to!r}")
            if not isinstance(self.protocol, dict):
                raise ValueError(f"vibnet param protocol must be a training protocol dict with keys "
                                 f"{list(_PROTOCOL_KEYS)} (and optionally weight_decay, schedule, selection), "
                                 f"got {self.protocol!r}")
            missing = [k for k in _PROTOCOL_KEYS if k not in self.protocol]
            if missing:
                raise ValueError(f"vibnet param protocol lacks {missing}; it needs {list(_PROTOCOL_KEYS)}")
            if self.protocol.get("weight_decay", 0) and self.protocol["optimizer"] not in ("sgd", "adam"):
                raise ValueError(f"vibnet param protocol: weight decay is realised as an L2 penalty, which equals "
                                 f"the coupled decay of 'sgd' and 'adam' only; got optimizer "
                                 f"{self.protocol['optimizer']!r}")
            _number("protocol.weight_decay", self.protocol.get("weight_decay", 0.0), low=0.0)
            if self.faithful_to == "paper":
                if self.kl_fac is not None:
                    raise ValueError("vibnet param kl_fac belongs to faithful_to='code'; the paper form is set "
                                     "by gamma")
                if self.gamma is None:
                    raise ValueError("vibnet param gamma is required with faithful_to='paper' (the paper states "
                                     "no value; eq. 9's per-layer trade-off, a number or a list per layer)")
                if isinstance(self.gamma, (list, tuple)):
                    if not self.gamma:
                        raise ValueError("vibnet param gamma: an empty list")
                    object.__setattr__(self, "gamma", tuple(_number(f"gamma[{i}]", g, low=0.0)
                                                            for i, g in enumerate(self.gamma)))
                else:
                    _number("gamma", self.gamma, low=0.0)
            else:
                if self.gamma is not None:
                    raise ValueError("vibnet param gamma belongs to faithful_to='paper'; the code form is set "
                                     "by kl_fac")
                if self.kl_fac is None:
                    raise ValueError("vibnet param kl_fac is required with faithful_to='code' (the authors' "
                                     "README uses 1e-5 to 3e-5 for VGG-16)")
                _number("kl_fac", self.kl_fac, low=0.0)
            _number("threshold", self.threshold)
            for flag in ("input_bottleneck", "from_scratch"):
                if not isinstance(getattr(self, flag), bool):
                    raise ValueError(f"vibnet param {flag} must be true or false, got {getattr(self, flag)!r}")
            if isinstance(self.seed, bool) or not isinstance(self.seed, int):
                raise ValueError(f"vibnet param seed must be an int, got {self.seed!r}")
            if self.decay_bottlenecks is not None and not isinstance(self.decay_bottlenecks, bool):
                raise ValueError(f"vibnet param decay_bottlenecks must be true, false or null, got "
                                 f"{self.decay_bottlenecks!r}")
            if self.layer_scale is not None:
                if self.faithful_to != "paper" or isinstance(self.gamma, tuple):
                    raise ValueError("vibnet param layer_scale scales one gamma per layer: it needs "
                                     "faithful_to='paper' and a single gamma")
                if not isinstance(self.layer_scale, (list, tuple)) or not self.layer_scale:
                    raise ValueError(f"vibnet param layer_scale must be a non-empty list of numbers, got "
                                     f"{self.layer_scale!r}")
                object.__setattr__(self, "layer_scale", tuple(_number(f"layer_scale[{i}]", v, low=0.0)
                                                              for i, v in enumerate(self.layer_scale)))
            if not isinstance(self.threshold_sweep, (list, tuple)):
                raise ValueError(f"vibnet param threshold_sweep must be a list of numbers, got "
                                 f"{self.threshold_sweep!r}")
            object.__setattr__(self, "threshold_sweep", tuple(_number(f"threshold_sweep[{i}]", v)
                                                              for i, v in enumerate(self.threshold_sweep)))
            if self.state_path is not None and not isinstance(self.state_path, str):
                raise ValueError(f"vibnet param state_path must be a path string or null, got {self.state_path!r}")

    report: Optional[dict] = None  # the last ``masks`` call's training history and kept widths

    def equip(self, model: nn.Module, example_input: torch.Tensor, target: Optional[Target] = None) -> nn.Module:
        """``model`` with IB layers as these params place them."""
        p = self.params
        return equip(model, example_input, input_bottleneck=p.input_bottleneck, form=p.faithful_to,
                     threshold=p.threshold, min_keep=target.min_keep if target else 1,
                     min_keep_fraction=target.min_keep_fraction if target else 0.0)

    def loss(self, ib_model: nn.Module, weight_decay: float = 0.0):
        """``extra_loss(model)`` for the trainer: the eq. (9) KL terms (or the code's) plus the weight decay
        of ``parameter_groups`` as an L2 penalty (the trainer then runs with weight_decay 0)."""
        p = self.params
        ibs = bottlenecks(ib_model)
        gamma = p.gamma
        if p.layer_scale is not None:
            if len(p.layer_scale) != len(ibs):
                raise ValueError(f"vibnet param layer_scale lists {len(p.layer_scale)} values but the network "
                                 f"has {len(ibs)} bottlenecked layers ({[ib.unit for ib in ibs]})")
            gamma = [float(p.gamma) * s for s in p.layer_scale]
        coefs = objective_coefficients(len(ibs), form=p.faithful_to, gamma=gamma, kl_fac=p.kl_fac)
        decay_ib = p.faithful_to == "code" if p.decay_bottlenecks is None else p.decay_bottlenecks
        groups = parameter_groups(ib_model, weight_decay, decay_bottlenecks=decay_ib)

        def extra_loss(_model: nn.Module) -> torch.Tensor:
            return kl_penalty(ibs, coefs) + decay_penalty(groups)

        return extra_loss

    @staticmethod
    def fold_at(ib_model: nn.Module, threshold: float, x0: torch.Tensor, data, harness) -> dict:
        """The trained IB network folded at ``threshold`` (the layers' own thresholds are restored after):
        kept widths, the fraction of Conv/Linear weights left in the physically pruned network, and its
        validation and test error (``None`` for an empty split)."""
        ibs = bottlenecks(ib_model)
        saved = [ib.threshold for ib in ibs]
        try:
            for ib in ibs:
                ib.threshold = float(threshold)
            plain, keep = to_plain(ib_model, x0)
        finally:
            for ib, t in zip(ibs, saved):
                ib.threshold = t
        original_weights = _weight_count(to_plain(ib_model, x0)[0])  # every unit kept: the layers' full sizes
        pruned = prune(plain, keep, x0)
        out = {"threshold": float(threshold), "kept": {ib.unit: int(keep[ib.unit].sum()) for ib in ibs},
               "weight_fraction": _weight_count(pruned) / original_weights}
        for split in ("val", "test"):
            out[f"{split}_error"] = _error(pruned, harness, getattr(data, split))
        return out

    def trains_from_scratch(self) -> bool:
        return self.params.from_scratch

    def masks(self, model, units, data, target, device, harness=None):
        harness = require_harness(self.name, harness)
        p = self.params
        info = getattr(data, "info", None)
        if info is None or not hasattr(data, "train"):
            raise TypeError(f"vibnet: data must be the dataset Splits (train/val/test/info), got {type(data).__name__}")
        if target.ratio:
            log.info("vibnet: target ratio %.2f ignored; the compression is set by gamma/kl_fac", target.ratio)
        x0 = torch.zeros((1, *info.input_shape), device=device)
        base = reinitialise(copy.deepcopy(model)) if p.from_scratch else copy.deepcopy(model)
        ib_model = self.equip(base.to(device), x0, target)
        protocol = dict(p.protocol)
        wd = float(protocol.get("weight_decay", 0.0))
        protocol["weight_decay"] = 0.0  # applied through self.loss, per parameter group
        res = harness.train(ib_model, protocol, seed=p.seed, state_path=p.state_path,
                            extra_losses=[self.loss(ib_model, wd)])
        sweep = [self.fold_at(ib_model, t, x0, data, harness) for t in p.threshold_sweep]
        plain, keep = to_plain(ib_model, x0)
        self.report = {
            "selected_epoch": res.selected_epoch, "val": res.val, "history": res.history,
            "train_seconds": res.train_seconds,
            "kept": {ib.unit: int(keep[ib.unit].sum()) for ib in bottlenecks(ib_model)},
            "sizes": {ib.unit: ib.channels for ib in bottlenecks(ib_model)},
        }
        if sweep:
            self.report["threshold_sweep"] = sweep
        log.info("vibnet: kept %s of %s", self.report["kept"], self.report["sizes"])
        return plain, keep


__all__ = ["FoldingError", "InformationBottleneck", "Site", "VIBNet", "WithBottleneck", "bottlenecks",
           "code_equivalent_gamma", "decay_penalty", "equip", "find_sites", "kl_penalty", "objective_coefficients",
           "parameter_groups", "reinitialise", "to_plain"]
