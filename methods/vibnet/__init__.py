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
        ``state_path`` makes the IB training resumable (the trainer's state file)."""

        protocol: Optional[dict] = None
        gamma: Union[float, tuple, None] = None
        kl_fac: Optional[float] = None
        faithful_to: str = "paper"
        input_bottleneck: bool = False
        threshold: float = 0.0
        from_scratch: bool = False
        seed: int = 0
        state_path: Optional[str] = None

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
        coefs = objective_coefficients(len(ibs), form=p.faithful_to, gamma=p.gamma, kl_fac=p.kl_fac)
        groups = parameter_groups(ib_model, weight_decay, decay_bottlenecks=p.faithful_to == "code")

        def extra_loss(_model: nn.Module) -> torch.Tensor:
            return kl_penalty(ibs, coefs) + decay_penalty(groups)

        return extra_loss

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
        plain, keep = to_plain(ib_model, x0)
        self.report = {
            "selected_epoch": res.selected_epoch, "val": res.val, "history": res.history,
            "train_seconds": res.train_seconds,
            "kept": {ib.unit: int(keep[ib.unit].sum()) for ib in bottlenecks(ib_model)},
            "sizes": {ib.unit: ib.channels for ib in bottlenecks(ib_model)},
        }
        log.info("vibnet: kept %s of %s", self.report["kept"], self.report["sizes"])
        return plain, keep


__all__ = ["FoldingError", "InformationBottleneck", "Site", "VIBNet", "WithBottleneck", "bottlenecks",
           "code_equivalent_gamma", "decay_penalty", "equip", "find_sites", "kl_penalty", "objective_coefficients",
           "parameter_groups", "reinitialise", "to_plain"]
