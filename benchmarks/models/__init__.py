"""Model registry: name -> builder.

Every builder has the signature ``build(num_classes, input_shape, **params) -> torch.nn.Module`` with
``input_shape`` = (C, H, W), and validates its own arguments. ``build_model`` adds a check of the
parameter names against the builder's signature, so a misspelt option in a config fails loudly instead
of being ignored.

| name            | module          | paper(s)                                   | params                              |
|-----------------|-----------------|--------------------------------------------|-------------------------------------|
| lenet_300_100   | mlp.py          | vibnet (Table 1)                           | --                                  |
| lenet5_caffe    | lenet.py        | vibnet (Table 2)                           | --                                  |
| lenet5_hrel     | lenet.py        | aura (HRel's LeNet-5: ReLU after convs)    | --                                  |
| mint_mlp        | mlp.py          | mint (MNIST)                               | dropout=0.2                         |
| vgg16_cifar     | vgg_cifar.py    | vibnet (Tables 3-4), mint, aura/HRel       | head (required), dropout=0.0        |
| resnet56        | resnet_cifar.py | mint, aura                                 | shortcut='A'                        |
| resnet110       | resnet_cifar.py | aura                                       | shortcut='A'                        |
| vgg16           | imagenet.py     | ibfs                                       | pretrained=False, weights='DEFAULT', head='torchvision' |
| resnet50        | imagenet.py     | ibfs, mint                                 | pretrained=False, weights='DEFAULT' |
| ibcnn           | ibcnn.py        | ibcnn                                      | width, depth, kernel_size, pooling, pool_every, fc_layers |

All models are plain ``nn.Module`` trees of standard layers (Conv2d, BatchNorm, Linear, ReLU/Tanh as
separate non-in-place modules, pools, Flatten, Sequential; residual blocks as small modules), so that
forward hooks and structural pruning can work on them.

Adding a model: a module with a builder of the signature above, and one line in ``MODELS``.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

from torch import nn

from .ibcnn import build_ibcnn
from .imagenet import PretrainedWeightsError, build_resnet50, build_vgg16
from .lenet import build_lenet5_caffe, build_lenet5_hrel
from .mlp import build_lenet_300_100, build_mint_mlp
from .resnet_cifar import build_resnet56, build_resnet110
from .vgg_cifar import HEADS as VGG_CIFAR_HEADS
from .vgg_cifar import build_vgg16_cifar

__all__ = ["MODELS", "VGG_CIFAR_HEADS", "PretrainedWeightsError", "build_model", "model_params"]

MODELS: dict[str, Callable[..., nn.Module]] = {
    "lenet_300_100": build_lenet_300_100,
    "lenet5_caffe": build_lenet5_caffe,
    "lenet5_hrel": build_lenet5_hrel,
    "mint_mlp": build_mint_mlp,
    "vgg16_cifar": build_vgg16_cifar,
    "resnet56": build_resnet56,
    "resnet110": build_resnet110,
    "vgg16": build_vgg16,
    "resnet50": build_resnet50,
    "ibcnn": build_ibcnn,
}

_POSITIONAL = ("num_classes", "input_shape")


def _builder(name: str) -> Callable[..., nn.Module]:
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise KeyError(f"unknown model {name!r}; available: {sorted(MODELS)}") from None


def model_params(name: str) -> dict[str, Any]:
    """The keyword parameters a model accepts, with their defaults (``inspect.Parameter.empty`` where
    the parameter is required)."""
    sig = inspect.signature(_builder(name))
    return {p.name: p.default for p in sig.parameters.values() if p.name not in _POSITIONAL}


def build_model(name: str, num_classes: int, input_shape, **params) -> nn.Module:
    """Build registry model ``name``. Raises ``KeyError`` for an unknown name (listing the available
    ones), ``TypeError`` for unknown or missing parameters (listing the allowed ones) and ``ValueError``
    for bad values (naming the model and the parameter)."""
    builder = _builder(name)
    allowed = model_params(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise TypeError(f"model {name!r} got unknown parameter(s) {unknown}; allowed: "
                        + (", ".join(sorted(allowed)) if allowed else "none"))
    missing = sorted(k for k, v in allowed.items() if v is inspect.Parameter.empty and k not in params)
    if missing:
        raise TypeError(f"model {name!r} requires parameter(s) {missing}; allowed: {', '.join(sorted(allowed))}")
    return builder(num_classes, input_shape, **params)
