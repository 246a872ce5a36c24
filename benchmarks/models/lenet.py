"""LeNet-5-Caffe, the convolutional MNIST network of VIBNet (Dai et al., "Compressing Neural Networks
using the Variational Information Bottleneck", ICML 2018, Table 2), which points to Caffe's
``examples/mnist`` model:

    conv 20 (5x5) -> max-pool 2 -> conv 50 (5x5) -> max-pool 2 -> FC 800->500 -> ReLU -> FC 500->10

As in Caffe's ``lenet`` there is no nonlinearity after the convolutions (only the first FC layer is
followed by a ReLU); convolutions are 'valid' with stride 1, pooling is 2x2 with stride 2. On 1x28x28
inputs the maps are 24 -> 12 -> 8 -> 4, so the first FC layer sees 50*4*4 = 800 features and the
network has 431,080 parameters (520 + 25,050 + 400,500 + 5,010).

Caffe rounds pooled sizes up (``ceil``), so ``ceil_mode=True`` here; it only matters for odd map sizes,
never for 28x28.

``lenet5_hrel`` is HRel's LeNet-5 (Sarvani et al. 2022, the authors' code): the same layers with a ReLU
after each convolution (conv -> ReLU -> max-pool) and Kaiming-normal initialisation of every conv and
linear weight (zero biases); 431,080 parameters as well.
"""
from __future__ import annotations

from torch import nn

from ._validation import check_input_shape, check_num_classes

_NAME = "lenet5_caffe"
_NAME_HREL = "lenet5_hrel"


def _pooled(size: int) -> int:
    return -(-size // 2)  # ceil(size / 2), Caffe's pooling arithmetic for kernel 2, stride 2


def lenet5_caffe(in_channels: int, height: int, width: int, num_classes: int,
                 conv_relu: bool = False) -> nn.Sequential:
    """A plain (sliceable) ``nn.Sequential``; ``conv_relu`` puts a ReLU after each convolution."""
    h, w = height, width
    for _ in range(2):  # two (5x5 valid conv, 2x2 pool) stages
        h, w = _pooled(h - 4), _pooled(w - 4)

    def stage(cin: int, cout: int) -> list[nn.Module]:
        act = [nn.ReLU()] if conv_relu else []
        return [nn.Conv2d(cin, cout, kernel_size=5), *act, nn.MaxPool2d(2, 2, ceil_mode=True)]

    return nn.Sequential(
        *stage(in_channels, 20),
        *stage(20, 50),
        nn.Flatten(),
        nn.Linear(50 * h * w, 500),
        nn.ReLU(),
        nn.Linear(500, num_classes),
    )


def build_lenet5_caffe(num_classes: int, input_shape: tuple[int, int, int]) -> nn.Sequential:
    # Smallest side that survives: 5x5 conv (>=5) -> pool -> 5x5 conv needs a pooled side >= 5,
    # i.e. an input side >= 13 (13 -> 9 -> 5 -> 1 -> 1).
    c, h, w = check_input_shape(_NAME, input_shape, min_hw=13)
    return lenet5_caffe(c, h, w, check_num_classes(_NAME, num_classes))


def build_lenet5_hrel(num_classes: int, input_shape: tuple[int, int, int]) -> nn.Sequential:
    c, h, w = check_input_shape(_NAME_HREL, input_shape, min_hw=13)
    model = lenet5_caffe(c, h, w, check_num_classes(_NAME_HREL, num_classes), conv_relu=True)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)
            nn.init.zeros_(m.bias)
    return model
