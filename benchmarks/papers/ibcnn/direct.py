"""A faster CPU path for the ibcnn networks: direct convolution with the tanh fused in
(``direct_conv.cpp``), swapped into a built network without changing its parameters, state dict or layers.

Why: the networks' convolutions have 1-12 channels and stride 1. oneDNN (PyTorch's CPU convolution, NCHW or
channels-last) runs such layers at 10-40 GFLOP/s on one core of this CPU, far below the 91 GFLOP/s its
sgemm reaches, and the tanh PyTorch uses (Sleef, 1 ulp) costs about 2.5 ns per element, as much as the
convolution of a 12-channel layer. The kernels here keep a block of output positions x output channels in
registers and stream the padded image past them (``direct_conv.cpp``), apply the activation while the block
is still in registers, and in the backward pass form the pre-activation gradient once per image for the
weight, bias and input gradients. The 2x2 max-pooling of the pooling networks gets a kernel too (PyTorch's
NCHW pooling with indices costs about 6 ns per input element here).
``results/perf/ibcnn_training_speed.csv`` (variants ``direct`` and ``direct_processes``) measures whole
training steps against eager PyTorch.

Numerics: float32 like the oneDNN path, with a different summation order, so a run's numbers are not
bit-identical to a oneDNN run's (as a GPU run's are not either); the tanh is within 1e-7 of the exact value
(tests). The weight gradient is summed over a fixed number of image chunks in a fixed order, so the result
is the same for any number of threads, and a run is deterministic on a machine.

Requires a C++ compiler and ninja (a declared dependency); the extension is compiled once per machine
(about 25 s) into torch's extension cache. ``ibcnn.direct_conv: false`` (the default) keeps oneDNN.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional

import torch
from torch import nn

SOURCE = Path(__file__).with_name("direct_conv.cpp")
_BUILD_FLAGS = ["-O3", "-march=native", "-ffp-contract=fast"]


def _cpu_identity() -> bytes:
    """The CPU's model and instruction-set flags (Linux), part of the build's name: a build for one CPU
    (-march=native) is never loaded on another that shares the extension cache (a cluster's home)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        import platform

        return platform.processor().encode()
    return "\n".join(sorted({ln for ln in lines if ln.startswith(("model name", "flags"))})).encode()


@functools.lru_cache(maxsize=None)
def extension():
    """The compiled kernels (built on first use; a clear error where no compiler is available). The build's
    name carries a hash of the source, the flags and the CPU: an edited kernel is compiled anew, never a
    stale build reused."""
    import hashlib

    from torch.utils import cpp_extension

    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(_BUILD_FLAGS).encode() + _cpu_identity()).hexdigest()[:12]
    try:
        return cpp_extension.load(name=f"ibbench_ibcnn_direct_{digest}", sources=[str(SOURCE)],
                                  extra_cflags=_BUILD_FLAGS, verbose=False)
    except Exception as e:  # the compiler's own message is in the chained exception
        raise RuntimeError(
            f"ibcnn.direct_conv: building the C++ kernels {SOURCE} failed ({type(e).__name__}: {e}). They need a "
            "C++ compiler (g++ or clang) and ninja (pip install ninja); or set ibcnn.direct_conv: false to train "
            "with PyTorch's own convolutions") from e


class ConvTanhFunction(torch.autograd.Function):
    """y = tanh(conv2d(x, w, b, padding=pad)) (or without the tanh), stride 1, square kernel."""

    @staticmethod
    def forward(ctx, x, weight, bias, pad: int, tanh: bool):
        y = extension().forward(x, weight, bias if bias is not None else weight.new_empty(0), pad, tanh)
        ctx.save_for_backward(x, weight, y)
        ctx.pad, ctx.tanh, ctx.has_bias = pad, tanh, bias is not None
        return y

    @staticmethod
    def backward(ctx, grad_y):
        x, weight, y = ctx.saved_tensors
        need_dx = ctx.needs_input_grad[0]
        dx, dw, db = extension().backward(x, weight, y, grad_y, ctx.pad, ctx.tanh, need_dx)
        return (dx if need_dx else None), dw, (db if ctx.has_bias else None), None, None


class MaxPool2Function(torch.autograd.Function):
    """2x2 max-pooling with stride 2 (``ceil_mode`` as ``nn.MaxPool2d``), the maxima chosen as PyTorch
    chooses them, so values and gradients equal ``F.max_pool2d``'s exactly."""

    @staticmethod
    def forward(ctx, x, ceil_mode: bool):
        y, idx = extension().maxpool2_forward(x, ceil_mode)
        ctx.save_for_backward(idx)
        ctx.input_size = x.shape[2:]
        return y

    @staticmethod
    def backward(ctx, grad_y):
        (idx,) = ctx.saved_tensors
        return extension().maxpool2_backward(grad_y, idx, *ctx.input_size), None


def unsupported(conv: nn.Conv2d) -> Optional[str]:
    """Why ``conv`` cannot use the direct kernels, or None if it can."""
    k = conv.kernel_size
    if k[0] != k[1]:
        return f"kernel {k} is not square"
    if conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.groups != 1:
        return f"stride {conv.stride}, dilation {conv.dilation}, groups {conv.groups} (only 1, 1, 1)"
    if conv.padding_mode != "zeros":
        return f"padding mode {conv.padding_mode!r}"
    if conv.padding != "same" and not (isinstance(conv.padding, tuple) and conv.padding[0] == conv.padding[1]
                                       and 0 <= conv.padding[0] < k[0]):
        return f"padding {conv.padding!r}"
    if conv.padding == "same" and k[0] % 2 == 0:
        return f"'same' padding with the even kernel {k}"
    if conv.weight.dtype != torch.float32 or conv.weight.device.type != "cpu":
        return f"{conv.weight.dtype} on {conv.weight.device} (float32 on the CPU only)"
    return None


def _padding(conv: nn.Conv2d) -> int:
    return (conv.kernel_size[0] - 1) // 2 if conv.padding == "same" else conv.padding[0]


class DirectConvTanh(nn.Conv2d):
    """An ``nn.Conv2d`` whose forward also applies the tanh of the ``AppliedTanh`` after it."""

    def forward(self, x):
        return ConvTanhFunction.apply(x.contiguous(), self.weight, self.bias, _padding(self), True)


class AppliedTanh(nn.Tanh):
    """The tanh already applied by the ``DirectConvTanh`` before it: passes its input through. It stays a
    module of the network, so the layer's activity is still recorded at its output (``record.py``)."""

    def forward(self, x):
        return x


class DirectMaxPool2d(nn.MaxPool2d):
    """An ``nn.MaxPool2d(2, 2)`` on the direct kernels (``MaxPool2Function``)."""

    def forward(self, x):
        return MaxPool2Function.apply(x.contiguous(), self.ceil_mode)


def _pool_fits(pool: nn.MaxPool2d) -> bool:
    two = (2, (2, 2))
    return (pool.kernel_size in two and pool.stride in two and pool.padding in (0, (0, 0))
            and pool.dilation in (1, (1, 1)) and not pool.return_indices)


def use_direct_kernels(model: nn.Sequential) -> int:
    """Swap every (``nn.Conv2d``, ``nn.Tanh``) pair of ``model`` that the kernels support to
    (``DirectConvTanh``, ``AppliedTanh``), and every 2x2, stride-2 ``nn.MaxPool2d`` to ``DirectMaxPool2d``,
    in place: the same parameters, state dict and module list. Returns how many conv + tanh pairs were
    swapped; raises if the model has a conv + tanh pair none of which fits."""
    layers = list(model)
    pairs = [(a, b) for a, b in zip(layers, layers[1:]) if type(a) is nn.Conv2d and type(b) is nn.Tanh]
    reasons = [unsupported(conv) for conv, _ in pairs]
    if pairs and all(r is not None for r in reasons):
        raise ValueError("ibcnn.direct_conv: no convolution of the model fits the direct kernels: "
                         + "; ".join(f"{conv}: {r}" for (conv, _), r in zip(pairs, reasons)))
    swapped = 0
    for (conv, act), reason in zip(pairs, reasons):
        if reason is None:
            conv.__class__, act.__class__ = DirectConvTanh, AppliedTanh
            swapped += 1
    if swapped:  # the pooling kernel takes the float32 CPU tensors the direct convolutions give it
        for pool in layers:
            if type(pool) is nn.MaxPool2d and _pool_fits(pool):
                pool.__class__ = DirectMaxPool2d
    return swapped
