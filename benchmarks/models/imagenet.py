"""ImageNet VGG-16 and ResNet-50 through torchvision, optionally with ImageNet-pretrained weights.

- ``ibfs`` ("Interpreting CNN compression using information bottleneck", ICLR 2020 submission, Sec. 5)
  fine-tunes ImageNet-pretrained VGG-16 (Simonyan & Zisserman 2014, configuration D without BatchNorm,
  as the paper's Keras layer names ``block5_conv3`` indicate) and ResNet-50 (He et al. 2016) on binary
  tasks (2 classes).
- MINT (Ganesh et al., ICPR 2020, App. B) starts ResNet-50 on ILSVRC2012 from "a standard pretrained
  model from PyTorch zoo"; its baseline top-1 of 76.13% (Table I) is exactly torchvision's
  ``IMAGENET1K_V1`` ResNet-50, whereas torchvision's ``DEFAULT`` ResNet-50 is now ``IMAGENET1K_V2``
  (80.86%). Pass ``weights="IMAGENET1K_V1"`` to reproduce MINT.

``num_classes`` other than 1000 replaces the last Linear layer with a freshly initialised one (after the
pretrained weights were loaded). ResNet-50 with 1000 classes has 25,557,032 parameters, VGG-16
138,357,544.

Pretrained weights (``pretrained=True``; ``weights`` names the torchvision weights entry, ``DEFAULT``
unless given) are fetched with ``torch.hub`` into ``$TORCH_HOME/hub/checkpoints``
(``~/.cache/torch/hub/checkpoints`` when TORCH_HOME is unset). Where the network is unreachable, put the
file there by hand; a failed download raises ``PretrainedWeightsError`` with the exact path and URL.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ._validation import check_bool, check_choice, check_input_shape, check_num_classes


class PretrainedWeightsError(RuntimeError):
    """Pretrained weights could not be loaded; the message says where to place the file."""


def weights_path(weights) -> Path:
    """Where ``torch.hub`` looks for (and caches) a torchvision weights file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def _load_pretrained(model: nn.Module, name: str, weights) -> None:
    try:
        # Looked up on torch.hub at call time (not imported by name) so tests can stand in for the network.
        state = torch.hub.load_state_dict_from_url(weights.url, progress=False, check_hash=True)
    except (OSError, RuntimeError, ValueError) as exc:  # URLError is an OSError; a bad hash a RuntimeError
        torch_home = os.environ.get("TORCH_HOME")
        raise PretrainedWeightsError(
            f"model {name!r}: could not load the pretrained weights {weights} ({type(exc).__name__}: {exc}). "
            f"torchvision caches them in $TORCH_HOME/hub/checkpoints (TORCH_HOME "
            + (f"is {torch_home}" if torch_home else "is unset, so ~/.cache/torch is used")
            + f"); download {weights.url} where the network is reachable and place it at "
            f"{weights_path(weights)}, or build with pretrained=False"
        ) from exc
    model.load_state_dict(state)


def _build(name: str, constructor: Callable[..., nn.Module], weights_enum, set_head: Callable[[nn.Module, int], None],
           num_classes, input_shape, pretrained, weights: str) -> nn.Module:
    num_classes = check_num_classes(name, num_classes)
    check_input_shape(name, input_shape, channels=3, min_hw=32)  # stride-32 feature extractors
    pretrained = check_bool(name, "pretrained", pretrained)
    check_choice(name, "weights", weights, ["DEFAULT"] + [w.name for w in weights_enum])
    model = constructor(weights=None)
    if pretrained:
        _load_pretrained(model, name, weights_enum[weights] if weights != "DEFAULT" else weights_enum.DEFAULT)
    if num_classes != 1000:
        set_head(model, num_classes)
    return model


def _set_vgg_head(model: nn.Module, num_classes: int) -> None:
    model.classifier[6] = nn.Linear(model.classifier[6].in_features, num_classes)


def _set_resnet_head(model: nn.Module, num_classes: int) -> None:
    model.fc = nn.Linear(model.fc.in_features, num_classes)


VGG_HEADS = ("torchvision", "ibfs")


def build_vgg16(num_classes: int, input_shape: tuple[int, int, int], *, pretrained: bool = False,
                weights: str = "DEFAULT", head: str = "torchvision", head_hidden: int = 256) -> nn.Module:
    """torchvision ``vgg16`` (no BatchNorm). ``head="torchvision"``: its classifier (4096-4096, the last
    layer ``classifier[6]`` replaced for num_classes != 1000). ``head="ibfs"``: the ``ibfs`` paper's head on
    the 7 x 7 x 512 features of a 224 x 224 image, Flatten -> Dense ``head_hidden`` (256) + ReLU -> Dense
    num_classes (what reconstructs its Table 1; the paper's last layer is one sigmoid unit, ours
    num_classes softmax units: 514 parameters instead of 257 for two classes, the same functions)."""
    check_choice("vgg16", "head", head, list(VGG_HEADS))
    import torchvision  # here, not at import: its model zoo costs seconds on every workflow start

    model = _build("vgg16", torchvision.models.vgg16, torchvision.models.VGG16_Weights, _set_vgg_head,
                   num_classes, input_shape, pretrained, weights)
    if head == "ibfs":
        model.classifier = nn.Sequential(nn.Linear(512 * 7 * 7, head_hidden), nn.ReLU(inplace=True),
                                         nn.Linear(head_hidden, num_classes))
    return model


def build_resnet50(num_classes: int, input_shape: tuple[int, int, int], *, pretrained: bool = False,
                   weights: str = "DEFAULT") -> nn.Module:
    """torchvision ``resnet50``; its last layer is ``fc``."""
    import torchvision  # here, not at import (see build_vgg16)

    return _build("resnet50", torchvision.models.resnet50, torchvision.models.ResNet50_Weights, _set_resnet_head,
                  num_classes, input_shape, pretrained, weights)
