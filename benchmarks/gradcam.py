"""Grad-CAM class-activation maps for MINT Fig. 7 (Ganesh, Corso, Sekeh, ICPR 2020): where the original and
the pruned network look when they classify an image.

Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
Localization", ICCV 2017, Eq. 1-2): for a convolutional feature map ``A`` of shape ``(C, h, w)`` and the
pre-softmax score ``s_c`` of class ``c``,

    alpha_k = mean_{i,j} d s_c / d A_k[i, j]          (global-average-pooled gradients)
    L_c     = ReLU( sum_k alpha_k * A_k )              (an h x w map)

Here ``L_c`` is upsampled bilinearly to the input's spatial size and min-max normalised per sample to
[0, 1] (a constant map, e.g. all zero, becomes all zero). :func:`overlay` blends a map with its image
for plotting.
"""
from __future__ import annotations

from typing import Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .metrics import eval_mode

Target = Union[int, torch.Tensor, None]

__all__ = ["gradcam", "overlay"]


def _find_layer(model: nn.Module, layer: str) -> nn.Module:
    modules = dict(model.named_modules())
    if layer not in modules or layer == "":
        names = [n for n in modules if n]
        shown = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
        raise ValueError(f"model has no submodule named {layer!r}; available modules: {shown}")
    return modules[layer]


def _min_max(maps: torch.Tensor) -> torch.Tensor:
    """Per-sample min-max scaling of ``(N, H, W)`` maps to [0, 1]; constant maps become zero."""
    flat = maps.flatten(1)
    lo = flat.min(dim=1, keepdim=True).values
    span = flat.max(dim=1, keepdim=True).values - lo
    # Dividing by a zero span would give NaN; a map without contrast carries no localisation.
    scaled = torch.where(span > 0, (flat - lo) / span.clamp_min(torch.finfo(flat.dtype).tiny),
                         torch.zeros_like(flat))
    return scaled.view_as(maps)


def gradcam(model: nn.Module, layer: str, x: torch.Tensor, target: Target = None) -> torch.Tensor:
    """Grad-CAM maps (Selvaraju et al. 2017) of the submodule ``layer`` (a name from
    ``model.named_modules()`` whose output is ``(N, C, h, w)``), as in MINT Fig. 7.

    ``x`` is ``(N, C, H, W)`` (or one ``(C, H, W)`` image); ``target`` is the class whose score is
    explained: None for the predicted class, an int for all samples, or an ``(N,)`` tensor. Returns
    ``(N, H, W)`` maps in [0, 1] on ``x``'s device. The model runs in eval mode (its modes are
    restored), gradients are taken with ``torch.autograd.grad`` (parameters' ``.grad`` untouched) and
    the hook is removed even on error. A layer called several times per forward uses its last call.
    """
    module = _find_layer(model, layer)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4:
        raise ValueError(f"x must be (N, C, H, W) or (C, H, W), got shape {tuple(x.shape)}")

    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs, output) -> None:
        captured.append(output)

    handle = module.register_forward_hook(hook)
    try:
        with eval_mode(model), torch.enable_grad():
            # The input requires grad so that the feature map is in the graph even when every
            # parameter before the layer is frozen.
            logits = model(x.detach().requires_grad_(True))
        if not captured:
            raise ValueError(f"layer {layer!r} was not called in the forward pass")
        act = captured[-1]
        if not isinstance(act, torch.Tensor) or act.dim() != 4:
            shape = tuple(act.shape) if isinstance(act, torch.Tensor) else type(act).__name__
            raise ValueError(f"layer {layer!r} must output a 4-D (N, C, H, W) feature map, got {shape}")
        if logits.dim() != 2:
            raise ValueError(f"model must return (N, num_classes) scores, got shape {tuple(logits.shape)}")
        n, num_classes = logits.shape
        if target is None:
            tgt = logits.detach().argmax(dim=1)
        else:
            tgt = torch.as_tensor(target, device=logits.device, dtype=torch.long)
            if tgt.dim() == 0:
                tgt = tgt.expand(n)
            if tgt.shape != (n,):
                raise ValueError(f"target must be None, an int or an ({n},) tensor, got shape "
                                 f"{tuple(tgt.shape)}")
            if bool((tgt < 0).any()) or bool((tgt >= num_classes).any()):
                raise ValueError(f"target must lie in [0, {num_classes}), got target={target!r}")
        # Samples are independent, so the gradient of the summed scores gives each its own d s_c / d A.
        score = logits.gather(1, tgt.view(-1, 1)).sum()
        (grad,) = torch.autograd.grad(score, act)
    finally:
        handle.remove()

    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * act.detach()).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return _min_max(cam[:, 0])


def _to_numpy(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def overlay(image, cam, alpha: float = 0.5) -> np.ndarray:
    """Blend an image with a Grad-CAM map for display: ``(1 - alpha) * image + alpha * jet(cam)``.

    ``image`` is ``(C, H, W)`` with C = 1 or 3 (or ``(H, W)``), tensor or array, in any range: it is
    min-max scaled to [0, 1] (normalised inputs display without un-normalising) and grayscale is
    repeated to 3 channels. ``cam`` is ``(H, W)`` in [0, 1] (values outside are clipped), coloured with
    matplotlib's 'jet' colormap. Returns an ``(H, W, 3)`` float array in [0, 1] for ``plt.imshow``.
    """
    import matplotlib  # deferred: plotting is optional for the numerical part

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got alpha={alpha!r}")
    img = _to_numpy(image)
    if img.ndim == 2:
        img = img[None]
    if img.ndim != 3 or img.shape[0] not in (1, 3):
        raise ValueError(f"image must be (C, H, W) with C in (1, 3) or (H, W), got shape {img.shape}")
    heat = _to_numpy(cam)
    if heat.ndim == 3 and heat.shape[0] == 1:
        heat = heat[0]
    if heat.shape != img.shape[1:]:
        raise ValueError(f"cam shape {heat.shape} does not match the image's spatial size {img.shape[1:]}")

    lo, hi = img.min(), img.max()
    img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    img = np.repeat(img, 3, axis=0) if img.shape[0] == 1 else img
    img = img.transpose(1, 2, 0)
    colored = matplotlib.colormaps["jet"](np.clip(heat, 0.0, 1.0))[..., :3]
    return (1.0 - alpha) * img + alpha * colored
