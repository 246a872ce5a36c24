"""Tests of benchmarks.gradcam (Grad-CAM maps for MINT Fig. 7) on hand-built conv nets whose answer is
known: one channel detects a bright square, the other the dark background."""
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn as nn

from benchmarks.gradcam import gradcam, overlay

SQUARE = (slice(4, 8), slice(9, 13))  # rows 4..7, cols 9..12 of a 16 x 16 image


def _detector_net(pool: bool = False) -> nn.Sequential:
    """Channel 0 = 3x3 box sum (bright), channel 1 = ReLU(1 - box sum) (dark); GAP; class c reads
    channel c. So the CAM of class 0 is the box-filtered image, that of class 1 the background."""
    conv = nn.Conv2d(1, 2, 3, padding=1)
    fc = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        conv.weight[0].fill_(1.0)
        conv.weight[1].fill_(-1.0)
        conv.bias.copy_(torch.tensor([0.0, 1.0]))
        fc.weight.copy_(torch.eye(2))
    layers = [("conv", conv), ("relu", nn.ReLU())]
    if pool:
        layers.append(("pool", nn.MaxPool2d(2)))
    layers += [("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", fc)]
    return nn.Sequential(OrderedDict(layers))


def _square_image(value: float = 5.0) -> torch.Tensor:
    x = torch.zeros(1, 1, 16, 16)
    x[0, 0][SQUARE] = value
    return x


def _inside() -> torch.Tensor:
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[SQUARE] = True
    return mask


@pytest.mark.parametrize("layer, pool", [("relu", False), ("conv", False), ("pool", True)])
def test_cam_of_the_bright_class_peaks_inside_the_square(layer, pool):
    model = _detector_net(pool).eval()
    x = _square_image()
    cam = gradcam(model, layer, x, target=0)
    assert cam.shape == (1, 16, 16)
    mask = _inside()
    peak = int(cam[0].argmax())
    assert mask.flatten()[peak], f"peak at {divmod(peak, 16)} lies outside the square"
    assert cam[0].max().item() == pytest.approx(1.0)
    assert cam[0][mask].mean() > 0.5 > cam[0][~mask].mean()
    if not pool:
        # Same resolution, so the map is exactly the box-filtered image scaled to [0, 1].
        box = nn.functional.conv2d(x, torch.ones(1, 1, 3, 3), padding=1)[0, 0]
        torch.testing.assert_close(cam[0], box / box.max())


def test_cam_of_the_dark_class_avoids_the_square():
    model = _detector_net()
    cam = gradcam(model, "relu", _square_image(), target=1)[0]
    mask = _inside()
    assert cam[mask].max().item() == 0.0  # every square pixel has a bright neighbour: no darkness
    assert cam[~mask].max().item() == pytest.approx(1.0)


def test_target_none_uses_the_prediction_and_targets_can_differ_per_sample():
    model = _detector_net()
    x = torch.cat([_square_image(5.0), _square_image(0.2)])
    with torch.no_grad():
        pred = model(x).argmax(1)
    assert pred.tolist() == [0, 1]  # bright square vs nearly dark image
    auto = gradcam(model, "relu", x)
    explicit = gradcam(model, "relu", x, target=pred)
    torch.testing.assert_close(auto, explicit)
    torch.testing.assert_close(auto[0], gradcam(model, "relu", x[:1], target=0)[0])
    torch.testing.assert_close(auto[1], gradcam(model, "relu", x[1:], target=1)[0])
    assert not torch.equal(auto[0], auto[1])


def test_constant_and_negative_evidence_give_all_zero_maps():
    model = _detector_net()
    # A blank image: the dark channel is 1 everywhere, a constant map without localisation.
    blank = gradcam(model, "relu", torch.zeros(1, 1, 16, 16), target=1)
    assert torch.equal(blank, torch.zeros(1, 16, 16))
    # Class 0 weighted negatively: ReLU removes everything.
    model.fc.weight.data[0, 0] = -1.0
    neg = gradcam(model, "relu", _square_image(), target=0)
    assert torch.equal(neg, torch.zeros(1, 16, 16))


def test_shape_range_modes_grads_and_hooks_on_a_random_net():
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict([
        ("features", nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                   nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())),
        ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(8, 4)),
    ]))
    model.train()
    model.features[1].eval()
    x = torch.randn(5, 3, 12, 12)
    stats = model.features[1].running_mean.clone()
    cam = gradcam(model, "features.4", x)
    assert cam.shape == (5, 12, 12) and cam.dtype == x.dtype
    assert cam.min().item() >= 0.0 and cam.max().item() <= 1.0
    assert torch.isfinite(cam).all()
    for m in cam:  # min-max scaled: every map here has contrast, so it spans [0, 1] exactly
        assert m.min().item() == 0.0 and m.max().item() == pytest.approx(1.0)
    assert model.training and model.features[0].training and not model.features[1].training
    assert torch.equal(model.features[1].running_mean, stats)  # evaluated in eval mode
    assert all(p.grad is None for p in model.parameters())
    assert all(len(m._forward_hooks) == 0 for m in model.modules())
    # A single (C, H, W) image is accepted.
    assert gradcam(model, "features.4", x[0]).shape == (1, 12, 12)


def test_frozen_parameters_still_give_a_map():
    model = _detector_net()
    for p in model.parameters():
        p.requires_grad_(False)
    cam = gradcam(model, "relu", _square_image(), target=0)
    assert cam[0].max().item() == pytest.approx(1.0)


def test_bad_layer_names_the_layer_and_lists_modules():
    model = _detector_net()
    with pytest.raises(ValueError, match=r"'conv2'.*conv.*relu.*fc"):
        gradcam(model, "conv2", _square_image())
    with pytest.raises(ValueError, match=r"'fc'.*4-D.*\(1, 2\)"):
        gradcam(model, "fc", _square_image())
    assert all(len(m._forward_hooks) == 0 for m in model.modules())  # removed despite the error
    with pytest.raises(ValueError, match=r"target"):
        gradcam(model, "relu", _square_image(), target=7)
    assert all(len(m._forward_hooks) == 0 for m in model.modules())


def test_overlay():
    cam = torch.zeros(16, 16)
    cam[SQUARE] = 1.0
    gray = _square_image(3.0)[0] - 1.0  # range [-1, 2]: scaled to [0, 1] for display
    out = overlay(gray, cam, alpha=0.5)
    assert isinstance(out, np.ndarray) and out.shape == (16, 16, 3)
    assert out.min() >= 0.0 and out.max() <= 1.0
    # alpha = 0: the scaled image repeated over three channels.
    plain = overlay(gray, cam, alpha=0.0)
    np.testing.assert_allclose(plain[..., 0], plain[..., 2])
    np.testing.assert_allclose(plain[5, 10], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(plain[0, 0], [0.0, 0.0, 0.0])
    # alpha = 1: pure 'jet', dark red (0.5, 0, 0) at 1 and dark blue (0, 0, 0.5) at 0.
    heat = overlay(gray, cam, alpha=1.0)
    np.testing.assert_allclose(heat[5, 10], [0.5, 0.0, 0.0], atol=0.01)
    np.testing.assert_allclose(heat[0, 0], [0.0, 0.0, 0.5], atol=0.01)
    rgb = overlay(np.random.default_rng(0).random((3, 16, 16)), cam.numpy())
    assert rgb.shape == (16, 16, 3)
    with pytest.raises(ValueError, match="does not match"):
        overlay(gray, torch.zeros(8, 8))
