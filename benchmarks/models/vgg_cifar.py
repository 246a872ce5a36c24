"""VGG-16 for 32x32 inputs (CIFAR-10/100), one implementation with the classifier heads of the papers.

Feature extractor (Simonyan & Zisserman 2014, configuration D, with BatchNorm as in all three reference
codes): 3x3 convs with padding 1, each followed by BatchNorm2d and ReLU,

    64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, P

where M is a 2x2 max-pool and P the last pooling (max or average, per head). On 32x32 inputs the last
map is 1x1, so the classifier sees 512 features.

``head`` (required: the papers differ and none is "the" CIFAR VGG-16) selects the variant:

- ``vibnet_bc`` -- VIBNet (Dai et al., ICML 2018) Table 3 row 1, the protocol of Bayesian Compression
  (Louizos et al. 2017): the two 4096-wide FC layers of VGG-16 become 512 wide, i.e.
  ``Linear(512,512) -> ReLU -> Linear(512,512) -> ReLU -> Linear(512,classes)`` (config D4 of the
  VIBNet code).
- ``vibnet_pf`` -- Table 3 row 2, the Pruning-Filters protocol (Li et al. 2016), which removes one more
  FC layer: ``Linear(512,512) -> ReLU -> Linear(512,classes)`` (config D6; also config G of Table 4 row 1).
- ``vibnet_ns`` -- Table 3 row 3 / Table 4 row 2, the Network-Slimming protocol (Liu et al. 2017). The
  paper says the NS model "replaces two fully connected layers with three convolutional layers": VGG-16's
  13 convs + 3 FC become 16 convs + 1 FC. The VIBNet code (config G5) adds the three convs as a fourth
  conv in each of stages 3, 4 and 5 (the VGG-19 conv layout 64x2, 128x2, 256x4, 512x4, 512x4), replaces
  the last max-pool by a 2x2 average pool (a global average pool on the 2x2 map) and classifies with a
  single ``Linear(512, classes)``. That is what is built here.
- ``hrel`` -- the VGG-16 of HRel (Sarvani et al., Neural Networks 2022), the base network of the
  spatial-aura paper (Musat & Andonie 2023): last max-pool replaced by ``AvgPool2d(2)``, head
  ``Linear(512,512) -> BatchNorm1d -> ReLU -> Linear(512,classes)`` (from the HRel code).
- ``mint`` -- the CIFAR-10 VGG-16 of MINT (Ganesh et al., ICPR 2020). The paper does not state the
  head; the authors' code uses the last max-pool and ``Linear(512,512) -> BatchNorm1d -> ReLU ->
  Linear(512,classes)`` (its ``linear1`` / ``linear3``; the 4096-wide ``linear2`` is commented out).

Dropout: none of the three reference codes uses dropout in these heads, so ``dropout`` defaults to 0;
a positive value inserts ``Dropout(p)`` after every hidden FC block (for experiments outside the
papers).

Convolutions keep their bias (as in all three codes) although BatchNorm follows; PyTorch's default
initialisation is used (as in the VIBNet and MINT codes). ReLUs are separate, non-in-place modules so
that forward hooks on a BatchNorm or conv output see it unmodified.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ._validation import check_choice, check_input_shape, check_num_classes, check_probability

_NAME = "vgg16_cifar"

_VGG16_STAGES: tuple[tuple[int, ...], ...] = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512),
                                               (512, 512, 512))


@dataclass(frozen=True)
class HeadSpec:
    extra_convs: bool  # one more 3x3 conv at the end of stages 3, 4, 5 (VGG-19 layout, NS protocol)
    last_pool: str  # 'max' or 'avg': the pooling after the last conv stage
    hidden: tuple[int, ...]  # widths of the hidden FC layers before the classifier
    hidden_bn: bool  # BatchNorm1d between each hidden Linear and its ReLU


HEADS: dict[str, HeadSpec] = {
    "vibnet_bc": HeadSpec(extra_convs=False, last_pool="max", hidden=(512, 512), hidden_bn=False),
    "vibnet_pf": HeadSpec(extra_convs=False, last_pool="max", hidden=(512,), hidden_bn=False),
    "vibnet_ns": HeadSpec(extra_convs=True, last_pool="avg", hidden=(), hidden_bn=False),
    "hrel": HeadSpec(extra_convs=False, last_pool="avg", hidden=(512,), hidden_bn=True),
    "mint": HeadSpec(extra_convs=False, last_pool="max", hidden=(512,), hidden_bn=True),
}


def stage_widths(head: str) -> tuple[tuple[int, ...], ...]:
    """Conv widths per stage for a head (VGG-16's, or VGG-19's for ``vibnet_ns``)."""
    spec = HEADS[check_choice(_NAME, "head", head, HEADS)]
    if not spec.extra_convs:
        return _VGG16_STAGES
    return tuple(s + (s[-1],) if i >= 2 else s for i, s in enumerate(_VGG16_STAGES))


class VGGCifar(nn.Module):
    """``features`` (conv/BN/ReLU stages and pools) then ``classifier`` (Flatten and the head)."""

    def __init__(self, head: str, in_channels: int, height: int, width: int, num_classes: int,
                 dropout: float = 0.0):
        super().__init__()
        spec = HEADS[head]
        self.head = head
        stages = stage_widths(head)
        layers: list[nn.Module] = []
        c = in_channels
        for i, stage in enumerate(stages):
            for out in stage:
                layers += [nn.Conv2d(c, out, kernel_size=3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
                c = out
            last = i == len(stages) - 1
            layers.append(nn.AvgPool2d(2, 2) if last and spec.last_pool == "avg" else nn.MaxPool2d(2, 2))
            height, width = height // 2, width // 2
        self.features = nn.Sequential(*layers)

        head_layers: list[nn.Module] = [nn.Flatten()]
        f = c * height * width
        for h in spec.hidden:
            head_layers.append(nn.Linear(f, h))
            if spec.hidden_bn:
                head_layers.append(nn.BatchNorm1d(h))
            head_layers.append(nn.ReLU())
            if dropout > 0:
                head_layers.append(nn.Dropout(dropout))
            f = h
        head_layers.append(nn.Linear(f, num_classes))
        self.classifier = nn.Sequential(*head_layers)

    def forward(self, x):
        return self.classifier(self.features(x))


def build_vgg16_cifar(num_classes: int, input_shape: tuple[int, int, int], *, head: str,
                      dropout: float = 0.0) -> VGGCifar:
    check_choice(_NAME, "head", head, HEADS)
    c, h, w = check_input_shape(_NAME, input_shape, min_hw=32)  # five 2x2 poolings
    return VGGCifar(head, c, h, w, check_num_classes(_NAME, num_classes),
                    dropout=check_probability(_NAME, "dropout", dropout))
