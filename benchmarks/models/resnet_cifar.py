"""ResNets for CIFAR (He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016,
Sec. 4.2): a 3x3 conv with 16 filters, three stages of n basic blocks with 16, 32 and 64 filters (the
first block of stages 2 and 3 has stride 2), global average pooling and one Linear layer; depth 6n+2.
ResNet-56 has n = 9 (853,018 parameters with shortcut A), ResNet-110 n = 18 (1,730,714).

Basic block: ``conv3x3 -> BN -> ReLU -> conv3x3 -> BN``, plus the shortcut, then ReLU. Convolutions have
no bias (BatchNorm follows).

Shortcut where the shape changes (``shortcut`` parameter):
- ``"A"`` (default): the paper's CIFAR choice -- an identity that subsamples by the stride and pads the new
  channels with zeros; parameter-free. Used by HRel's ResNet-56/110 (the base of the ``aura`` paper) and
  by most pruning papers.
- ``"B"``: a projection, ``conv1x1(stride) -> BN``. MINT's code builds its ResNet-56 this way
  (855,770 parameters).

Weights: convs are He-initialised (``kaiming_normal_``, fan-in, ReLU gain) as in the paper; BatchNorm
starts at weight 1, bias 0; the Linear layer keeps PyTorch's default.

For structural pruning: residual additions tie each block's output channels to its input, so pruners
normally remove only the inner channels (``conv1``/``bn1`` of each block). A ``ZeroPadShortcut`` stores its
channel counts; a tool that changes the channels it connects must rebuild it (Torch-Pruning does not
know it and should be told to leave those channels alone, e.g. via ``ignored_layers`` on the stage
outputs or a custom pruner).
"""
from __future__ import annotations

from torch import nn

from methods.pruning.modules import ZeroPadShortcut  # the option-A shortcut the pruning tracer knows

from ._validation import check_choice, check_input_shape, check_num_classes

SHORTCUTS = ("A", "B")


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, channels: int, stride: int, shortcut: str):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu2 = nn.ReLU()
        if stride == 1 and in_channels == channels:
            self.shortcut: nn.Module = nn.Identity()
        elif shortcut == "A":
            self.shortcut = ZeroPadShortcut(in_channels, channels, stride)
        else:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(channels))

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """Depth 6n+2; ``layer1``..``layer3`` are ``nn.Sequential`` of ``BasicBlock``."""

    def __init__(self, depth: int, num_classes: int, in_channels: int = 3, shortcut: str = "A"):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2 with n >= 1, got {depth}")
        n = (depth - 2) // 6
        self.depth = depth
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        stages = []
        c = 16
        for i, width in enumerate((16, 32, 64)):
            blocks = []
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(BasicBlock(c, width, stride, shortcut))
                c = width
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.flatten(self.avgpool(x)))


def _build(name: str, depth: int, num_classes: int, input_shape, shortcut: str) -> CifarResNet:
    check_choice(name, "shortcut", shortcut, SHORTCUTS)
    # Stride-2 3x3 convs (padding 1) and the ::2 shortcut both give ceil(s/2), so any size works.
    c, _, _ = check_input_shape(name, input_shape)
    return CifarResNet(depth, check_num_classes(name, num_classes), in_channels=c, shortcut=shortcut)


def build_resnet56(num_classes: int, input_shape: tuple[int, int, int], *, shortcut: str = "A") -> CifarResNet:
    return _build("resnet56", 56, num_classes, input_shape, shortcut)


def build_resnet110(num_classes: int, input_shape: tuple[int, int, int], *, shortcut: str = "A") -> CifarResNet:
    return _build("resnet110", 110, num_classes, input_shape, shortcut)
