"""Fully connected ReLU networks on flattened images.

- ``lenet_300_100``: LeCun et al. 1998, as used by VIBNet (Dai et al., "Compressing Neural Networks using
  the Variational Information Bottleneck", ICML 2018, Table 1): 784-300-100-10 with ReLU, no dropout.
  266,610 parameters on 1x28x28 inputs (784*300+300 + 300*100+100 + 100*10+10).
- ``mint_mlp``: the MNIST MLP of MINT (Ganesh, Corso, Sekeh, ICPR 2020, Table I; layer sizes and
  dropout from the authors' code): 784-500-300-10 with ReLU and dropout 0.2 after each hidden ReLU.

Layout: ``Flatten -> [Linear -> ReLU -> (Dropout)] * hidden -> Linear``; the input width is
C*H*W of ``input_shape`` (784 for MNIST). No softmax: the loss takes logits.
"""
from __future__ import annotations

import math
from typing import Sequence

from torch import nn

from ._validation import check_input_shape, check_num_classes, check_probability


def mlp(in_features: int, hidden: Sequence[int], num_classes: int, dropout: float = 0.0) -> nn.Sequential:
    """Plain ``nn.Sequential`` (sliceable, e.g. ``model[:k]``) of Flatten, Linear, ReLU and optional
    Dropout; each ReLU is its own non-in-place module, so forward hooks on a Linear see its output
    unchanged."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def build_lenet_300_100(num_classes: int, input_shape: tuple[int, int, int]) -> nn.Sequential:
    """LeNet-300-100 (VIBNet Table 1)."""
    shape = check_input_shape("lenet_300_100", input_shape)
    return mlp(math.prod(shape), (300, 100), check_num_classes("lenet_300_100", num_classes))


def build_mint_mlp(num_classes: int, input_shape: tuple[int, int, int], *, dropout: float = 0.2) -> nn.Sequential:
    """MINT's MNIST MLP 784-500-300-10; ``dropout`` is 0.2 in the authors' code."""
    shape = check_input_shape("mint_mlp", input_shape)
    return mlp(math.prod(shape), (500, 300), check_num_classes("mint_mlp", num_classes),
               dropout=check_probability("mint_mlp", "dropout", dropout))
