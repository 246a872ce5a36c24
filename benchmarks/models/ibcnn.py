"""The small tanh CNNs of Li & Liu, "Information Bottleneck Methods on Convolutional Neural Networks"
(Sec. III, Fig. 3; the ``ibcnn`` paper), built as in the authors' Keras code:

    [Conv2D(width, k x k, 'same') -> tanh]
    [Conv2D(width, k x k, 'valid') -> tanh] * (depth - 1)     (optional 2x2 max-pools in between)
    Flatten -> [Dense(h) -> tanh for h in fc_layers] -> Dense(num_classes)

- ``width``: filters in every conv layer (the paper's width study: 1, 3, 6, 12).
- ``depth``: number of conv layers (depth study: 1, 2, 6, 9 with width 6; kernel study: depth 5 with
  kernels 3/5/7 and depth 2 with kernels 3/7/11, width 3, as the authors' result folders are named --
  Fig. 5's caption says depth 6, but six 7x7 layers do not fit a 28x28 input).
- ``kernel_size``: square kernel side, the same for all convs.
- ``pooling``: the paper says only that max pooling is added (Fig. 7, width 12, depth 3). The authors'
  code places ``MaxPooling2D(2x2, padding='same')`` after every second conv (after conv 2, 4, ...), which
  is the default here (``pool_every=2``); ``pool_every=1`` pools after every conv. Keras' 'same'
  pooling rounds sizes up, hence ``ceil_mode=True``.
- ``fc_layers``: widths of hidden tanh Dense layers before the output (the paper's multi-FC study uses
  width 3, depth 5, kernel 3 and ``fc_layers=[500, 1024, 500]``); none by default.

The output layer returns logits: the paper's softmax is part of the cross-entropy loss here. Weights use
Keras' defaults (Glorot-uniform kernels, zero biases) because the information-plane paths the paper
studies depend on the initial state. The spatial size must stay >= 1x1: each 'valid' conv removes
kernel_size - 1 pixels, so on 28x28 MNIST at most 14 layers of 3x3 fit; other settings raise a
``ValueError`` naming ``depth`` and ``kernel_size``.
"""
from __future__ import annotations

from typing import Sequence

from torch import nn

from ._validation import (check_bool, check_input_shape, check_int_list, check_num_classes,
                          check_positive_int)

_NAME = "ibcnn"


def _glorot_zero(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


def ibcnn(input_shape: tuple[int, int, int], num_classes: int, width: int, depth: int, kernel_size: int,
          pooling: bool, pool_every: int, fc_layers: Sequence[int]) -> nn.Sequential:
    """A plain (sliceable) ``nn.Sequential``; every conv and hidden Dense is followed by its own
    ``nn.Tanh``, whose outputs are the layer activities T_i of the paper."""
    c, h, w = input_shape
    layers: list[nn.Module] = []
    for i in range(depth):
        if i == 0:
            layers.append(nn.Conv2d(c, width, kernel_size, padding="same"))
        else:
            h, w = h - kernel_size + 1, w - kernel_size + 1
            if h < 1 or w < 1:
                raise ValueError(
                    f"model {_NAME!r}: depth={depth} with kernel_size={kernel_size}"
                    + (f" and max-pooling after every {pool_every} conv(s)" if pooling else "")
                    + f" shrinks the {input_shape[1]}x{input_shape[2]} input below 1x1 at conv layer {i + 1} "
                    f"(each 'valid' conv removes kernel_size - 1 pixels); use a smaller depth or kernel_size")
            layers.append(nn.Conv2d(width, width, kernel_size))
        layers.append(nn.Tanh())
        if pooling and (i + 1) % pool_every == 0:
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            h, w = -(-h // 2), -(-w // 2)
        c = width
    layers.append(nn.Flatten())
    f = c * h * w
    for units in fc_layers:
        layers += [nn.Linear(f, units), nn.Tanh()]
        f = units
    layers.append(nn.Linear(f, num_classes))
    model = nn.Sequential(*layers)
    model.apply(_glorot_zero)
    return model


def build_ibcnn(num_classes: int, input_shape: tuple[int, int, int], *, width: int = 6, depth: int = 6,
                kernel_size: int = 3, pooling: bool = False, pool_every: int = 2,
                fc_layers: Sequence[int] = ()) -> nn.Sequential:
    return ibcnn(check_input_shape(_NAME, input_shape), check_num_classes(_NAME, num_classes),
                 width=check_positive_int(_NAME, "width", width),
                 depth=check_positive_int(_NAME, "depth", depth),
                 kernel_size=check_positive_int(_NAME, "kernel_size", kernel_size),
                 pooling=check_bool(_NAME, "pooling", pooling),
                 pool_every=check_positive_int(_NAME, "pool_every", pool_every),
                 fc_layers=check_int_list(_NAME, "fc_layers", fc_layers))
