"""A classifier and its test images in raw pixel units, for tools that perturb or explain inputs (adversarial
attacks, Grad-CAM): the network is wrapped behind its input normalisation, so an attack's epsilon is in
pixel units (as papers state it) and the valid-image clamp is simply [0, 1]."""
from __future__ import annotations


def on_raw_pixels(model, info):
    """The network behind its input normalisation: it takes raw [0, 1] pixels, so an attack's epsilon is
    in pixel units (as in the paper) and the valid-image clamp is simply [0, 1]."""
    import torch
    from torch import nn

    class WithNormalization(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net
            self.register_buffer("mean", torch.tensor(info.mean).view(1, -1, 1, 1))
            self.register_buffer("std", torch.tensor(info.std).view(1, -1, 1, 1))

        def forward(self, x):
            return self.net((x - self.mean) / self.std)

    return WithNormalization(model).eval()


def raw_test_images(splits, n: int):
    """The first n test images as [0, 1] float tensors with their labels."""
    import torch

    from .datasets import TensorImageDataset

    ds = splits.test
    n = min(n, len(ds))
    if isinstance(ds, TensorImageDataset):
        return ds.images[:n].float() / 255.0, ds.labels[:n]
    info = splits.info
    mean = torch.tensor(info.mean).view(-1, 1, 1)
    std = torch.tensor(info.std).view(-1, 1, 1)
    xs, ys = zip(*(ds[i] for i in range(n)))
    return torch.stack(xs) * std + mean, torch.tensor(ys)
