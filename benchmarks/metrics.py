"""Compression and prediction metrics, defined once for every pruning method and measured on the
physically pruned network (a plain ``nn.Module`` with smaller layers) against the original.

Model size, FLOPs and run-time memory follow VIBNet (Dai, Zhu, Guo, Wipf, "Compressing Neural Networks
using the Variational Information Bottleneck", ICML 2018, Sec. 6 "Evaluation Metrics"); storage follows
MINT (Ganesh, Corso, Sekeh, ICPR 2020, Sec. IV-B); calibration follows MINT Fig. 8 (ECE of Guo et al.
2017); AUC serves the binary tasks of ``ibfs``.

Definitions (all per ONE input sample; ratios are fractions, not percent)
-------------------------------------------------------------------------
Weight layers are ``nn.Linear`` and (non-transposed) ``nn.Conv1d/2d/3d`` modules.

- ``r_w`` (VIBNet "model size"): nonzero weights of the pruned network / all weights of the original.
  Counted by default, as in VIBNet's Tables 1-3 and its code: the ``weight`` tensors of the weight
  layers only -- no biases, no normalisation parameters. ``include_bias`` / ``include_norm`` add them.
  Check: LeNet-300-100 pruned to 97-71-33 gives (97*71 + 71*33 + 33*10) / 266,200 = 3.59 % (Table 1).
- ``flops``: multiply-accumulates (MACs) of the weight layers, the unit of VIBNet's "FLOP(Mil)" columns
  and of its code (bias additions, BatchNorm, activations and pooling are not counted):
      Linear: out_numel * in_features;   Conv: out_numel * (in_channels / groups) * prod(kernel_size),
  with ``out_numel`` the element count of the layer's actual output (so stride, padding and dilation
  enter through the output shape). LeNet-300-100: 266,200; LeNet-5-Caffe: 2,293,000.
  ``flops_torch`` counts the same forward with ``torch.utils.flop_counter.FlopCounterMode``, which
  reports 2 * MACs for mm/addmm/convolution (one multiply plus one add), so ``flops == flops_torch / 2``
  for networks whose matmuls all live in weight layers.
- ``activation_memory`` / ``r_n`` (VIBNet "run-time memory footprint": "the space for storing hidden
  feature maps ... the feature map sizes (product of the channel, height, and width) across each
  layer"): the element count of the input read by the first weight layer (``include_input=True``) plus
  the outputs of every weight-layer call except the last (the logits, which are not a hidden map).
  This reproduces Table 1 exactly, where VIBNet also prunes the input: LeNet-300-100 = 784+300+100 =
  1,184 and 97-71-33 gives 201 / 1,184 = 16.98 %. Because the first layer's *input* is counted (not
  the raw image), a network that selects input features before its first layer counts only those.
  Conv outputs are counted before pooling (they are the layer's units). Table 2 (LeNet-5) is no anchor:
  for the Bayesian-Compression architectures 5-10-76-16 and 8-13-88-13, whose r_W (0.64 / 0.95 %) and
  FLOPs (0.153 / 0.283 M) this module reproduces, no simple choice of counted maps gives the printed
  r_N of 22.80 / 35.03 % (this default: 27.0 / 39.0 %; without the input: 23.2 / 35.8 %).
- ``csr_storage_mb``: bytes to store the weights in scipy's CSR format -- per weight tensor, reshaped to
  2-D (out, in * prod(kernel)): data float32 (4 B per nonzero) + indices int32 (4 B per nonzero) +
  indptr int32 (4 B per row + 4) -- plus the weight layers' biases dense (4 B each); normalisation
  parameters and running statistics (4 tensors per norm layer, dense) only with ``include_norm``
  (they fold into the preceding conv at inference). Reported in MB = 10^6 bytes.
- ``csr_storage_mint``: MINT's own convention, pinned down from the authors' comparison scripts: each
  weight and bias of the weight layers is converted to ``scipy.sparse.csr_matrix`` (conv weights
  reshaped to (out, -1), biases as a 1 x n row) and written with ``scipy.sparse.save_npz`` (zip
  *deflate-compressed* .npz); the file sizes are summed and divided by 1024 * 1024. MINT's "Mb" is thus
  MiB of compressed npz files, not megabits nor raw CSR bytes. For the MNIST MLP the table counts
  layer 2 only ("* indicates comparison of layer 2's weights"; the script drops fc1 and fc3): the
  500->300 layer at PyTorch's default init gives 0.538 MiB against the published 0.539. Whole networks
  at init: VGG-16 (MINT head) 53.17 (published 53.904), ResNet-56 option B 3.120 (3.110), ResNet-50
  90.97 (91.163) -- compression depends on the weight values, so trained weights differ slightly.
- ``latency``: median / p10 / p90 seconds of a forward pass of a random batch after warm-up, in eval
  mode under ``torch.inference_mode`` (CUDA synchronised around each pass on a GPU); the intra-op
  thread count is recorded.
- ``expected_calibration_error``: confidence = max class probability; ``n_bins`` equal-width bins
  (lo, hi] on [0, 1] (confidence 0 goes to the first); ECE = sum_b (n_b / n) |acc_b - conf_b|.
- ``auc``: ROC AUC by the Mann-Whitney rank statistic with average ranks for ties:
  (sum of positive ranks - n_pos (n_pos + 1) / 2) / (n_pos n_neg).
"""
from __future__ import annotations

import copy
import io
import math
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np
import scipy.sparse
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.instancenorm import _InstanceNorm
from torch.utils.flop_counter import FlopCounterMode

from methods.auc import auc

__all__ = [
    "activation_memory", "activation_sizes", "auc", "count_parameters", "counted_weights", "csr_storage_bytes", "csr_storage_mb", "csr_storage_mint",
    "expected_calibration_error", "flops", "flops_torch", "latency", "layer_flops", "measure", "r_n", "r_w",
    "reliability_diagram_data", "weight_layers",
]

NORM_LAYERS = (_BatchNorm, _InstanceNorm, nn.LayerNorm, nn.GroupNorm)
_F32, _I32 = 4, 4  # bytes of a CSR data value and of an index, as scipy stores float32 weights


# ----------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------

def _is_weight_layer(m: nn.Module) -> bool:
    return isinstance(m, nn.Linear) or (isinstance(m, _ConvNd) and not m.transposed)


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of the Linear and Conv layers in ``model.modules()`` order. Transposed
    convolutions are rejected because their MACs follow the input, not the output, shape."""
    out = []
    for name, m in model.named_modules():
        if isinstance(m, _ConvNd) and m.transposed:
            raise TypeError(f"layer {name!r} ({type(m).__name__}): transposed convolutions are not supported "
                            "by benchmarks.metrics")
        if _is_weight_layer(m):
            out.append((name, m))
    return out


def _check_model(model: Any, arg: str) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{arg} must be a torch.nn.Module, got {type(model).__name__}")
    return model


def _one_sample(example_input: Any) -> torch.Tensor:
    """The first sample of a batched example input, kept as a batch of one."""
    if not isinstance(example_input, torch.Tensor):
        raise TypeError(f"example_input must be a torch.Tensor with a batch dimension, got "
                        f"{type(example_input).__name__}")
    if example_input.dim() < 2 or example_input.shape[0] < 1:
        raise ValueError(f"example_input must have shape (batch >= 1, ...features), got {tuple(example_input.shape)}")
    return example_input[:1]


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode for the duration; restores each module's own training flag (a model may legitimately
    mix modes, e.g. frozen BatchNorm, which ``model.train(flag)`` would overwrite)."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


@contextmanager
def _evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """``eval_mode`` and no autograd."""
    with eval_mode(model), torch.no_grad():
        yield model


def _trace_weight_layers(model: nn.Module, example_input: torch.Tensor,
                         record: Callable[[str, nn.Module, torch.Tensor, torch.Tensor], None]) -> None:
    """Run one sample through ``model`` with forward hooks on every weight layer; ``record`` sees each
    call (a layer called twice is recorded twice) in execution order."""
    x = _one_sample(example_input)
    handles = []
    for name, m in weight_layers(model):
        def hook(mod, inputs, output, _name=name):
            record(_name, mod, inputs[0], output)
        handles.append(m.register_forward_hook(hook))
    try:
        with _evaluating(model):
            model(x)
    finally:
        for h in handles:
            h.remove()


def _ratio(num: float, den: float, what: str) -> float:
    if den == 0:
        raise ValueError(f"{what}: the original network has none (denominator 0)")
    return float(num) / float(den)


# ----------------------------------------------------------------------------------------------------
# parameters and r_W
# ----------------------------------------------------------------------------------------------------

def count_parameters(model: nn.Module) -> dict[str, int]:
    """All parameters (shared ones once): ``total`` elements and ``nonzero`` elements (exact zeros count
    as removed, so masked-but-not-removed networks are measured fairly)."""
    _check_model(model, "model")
    params = list(model.parameters())
    return {"total": sum(p.numel() for p in params),
            "nonzero": sum(int(torch.count_nonzero(p.detach())) for p in params)}


def _counted_tensors(model: nn.Module, include_bias: bool, include_norm: bool) -> list[torch.Tensor]:
    seen: set[int] = set()
    out = []

    def add(t: Optional[torch.Tensor]) -> None:
        if t is not None and id(t) not in seen:
            seen.add(id(t))
            out.append(t.detach())

    for _, m in weight_layers(model):
        add(m.weight)
        if include_bias:
            add(m.bias)
    if include_norm:
        for m in model.modules():
            if isinstance(m, NORM_LAYERS):
                add(getattr(m, "weight", None))
                add(getattr(m, "bias", None))
    return out


def counted_weights(model: nn.Module, *, include_bias: bool = False,
                    include_norm: bool = False) -> dict[str, int]:
    """``total`` and ``nonzero`` elements of the tensors that ``r_w`` counts."""
    ts = _counted_tensors(_check_model(model, "model"), include_bias, include_norm)
    return {"total": sum(t.numel() for t in ts), "nonzero": sum(int(torch.count_nonzero(t)) for t in ts)}


def r_w(pruned: nn.Module, original: nn.Module, *, include_bias: bool = False,
        include_norm: bool = False) -> float:
    """VIBNet's model-size ratio: nonzero counted weights of ``pruned`` / all counted weights of
    ``original`` (default: Conv/Linear ``weight`` tensors only, as in VIBNet)."""
    num = counted_weights(_check_model(pruned, "pruned"), include_bias=include_bias, include_norm=include_norm)
    den = counted_weights(_check_model(original, "original"), include_bias=include_bias, include_norm=include_norm)
    return _ratio(num["nonzero"], den["total"], "r_w")


# ----------------------------------------------------------------------------------------------------
# FLOPs
# ----------------------------------------------------------------------------------------------------

def _macs(m: nn.Module, output: torch.Tensor) -> int:
    if isinstance(m, nn.Linear):
        return output.numel() * m.in_features
    return output.numel() * (m.in_channels // m.groups) * math.prod(m.kernel_size)


def layer_flops(model: nn.Module, example_input: torch.Tensor) -> list[tuple[str, int]]:
    """``(layer name, MACs)`` for every weight-layer call on one sample, in execution order."""
    out: list[tuple[str, int]] = []
    _trace_weight_layers(_check_model(model, "model"), example_input,
                         lambda name, m, inp, output: out.append((name, _macs(m, output))))
    return out


def flops(model: nn.Module, example_input: torch.Tensor) -> int:
    """Multiply-accumulates of all Conv/Linear calls for ONE sample (the first of ``example_input``),
    from the actual output shapes. Operations outside Conv/Linear modules (functional matmuls,
    attention) are not seen: cross-check such models with ``flops_torch``."""
    return sum(macs for _, macs in layer_flops(model, example_input))


def flops_torch(model: nn.Module, example_input: torch.Tensor) -> int:
    """PyTorch's own count for one sample (``FlopCounterMode``): 2 * MACs for every mm/addmm/bmm/
    convolution, wherever it happens; bias additions, normalisation, activations and pooling are not
    counted. For Conv/Linear networks ``flops_torch(...) == 2 * flops(...)``."""
    _check_model(model, "model")
    x = _one_sample(example_input)
    counter = FlopCounterMode(display=False)
    with _evaluating(model), counter:
        model(x)
    return int(counter.get_total_flops())


# ----------------------------------------------------------------------------------------------------
# run-time memory (r_N)
# ----------------------------------------------------------------------------------------------------

def activation_sizes(model: nn.Module, example_input: torch.Tensor, *,
                     include_input: bool = True) -> list[tuple[str, int]]:
    """The feature maps ``activation_memory`` sums, as ``(label, elements)`` for one sample: first
    ``("input:<layer>", n)`` for what the first weight layer reads (if ``include_input``), then
    ``(layer, n)`` for the output of each weight-layer call except the last (the logits)."""
    calls: list[tuple[str, int, int]] = []
    _trace_weight_layers(_check_model(model, "model"), example_input,
                         lambda name, m, inp, output: calls.append((name, inp.numel(), output.numel())))
    if not calls:
        raise ValueError("model has no Linear/Conv layer, so it has no hidden feature maps to count")
    sizes = [(f"input:{calls[0][0]}", calls[0][1])] if include_input else []
    return sizes + [(name, out_n) for name, _, out_n in calls[:-1]]


def activation_memory(model: nn.Module, example_input: torch.Tensor, *, include_input: bool = True) -> int:
    """VIBNet's run-time memory: elements of the hidden feature maps for one sample (see module
    docstring; the first weight layer's input is included unless ``include_input=False``)."""
    return sum(n for _, n in activation_sizes(model, example_input, include_input=include_input))


def r_n(pruned: nn.Module, original: nn.Module, example_input: torch.Tensor, *,
        include_input: bool = True) -> float:
    """``activation_memory(pruned) / activation_memory(original)`` on the same example input."""
    return _ratio(activation_memory(_check_model(pruned, "pruned"), example_input, include_input=include_input),
                  activation_memory(_check_model(original, "original"), example_input, include_input=include_input),
                  "r_n")


# ----------------------------------------------------------------------------------------------------
# storage
# ----------------------------------------------------------------------------------------------------

def _as_2d(t: torch.Tensor) -> torch.Tensor:
    t = t.detach()
    return t.reshape(1, -1) if t.dim() < 2 else t.reshape(t.shape[0], -1)


def csr_storage_bytes(model: nn.Module, *, include_norm: bool = False) -> int:
    """Bytes of the weights in scipy CSR (float32 data + int32 indices + int32 indptr, each weight
    reshaped to (out, -1)) plus dense float32 biases (and norm layers with ``include_norm``)."""
    total = 0
    seen: set[int] = set()
    for _, m in weight_layers(_check_model(model, "model")):
        if id(m.weight) not in seen:
            seen.add(id(m.weight))
            w = _as_2d(m.weight)
            nnz = int(torch.count_nonzero(w))
            total += nnz * (_F32 + _I32) + (w.shape[0] + 1) * _I32
        if m.bias is not None and id(m.bias) not in seen:
            seen.add(id(m.bias))
            total += m.bias.numel() * _F32
    if include_norm:
        for m in model.modules():
            if isinstance(m, NORM_LAYERS):
                for t in (getattr(m, "weight", None), getattr(m, "bias", None),
                          getattr(m, "running_mean", None), getattr(m, "running_var", None)):
                    if t is not None:
                        total += t.numel() * _F32
    return total


def csr_storage_mb(model: nn.Module, *, include_norm: bool = False) -> float:
    """``csr_storage_bytes`` in MB (10^6 bytes)."""
    return csr_storage_bytes(model, include_norm=include_norm) / 1e6


def _npz_bytes(t: torch.Tensor) -> int:
    buf = io.BytesIO()
    arr = _as_2d(t).cpu().to(torch.float32).numpy()
    scipy.sparse.save_npz(buf, scipy.sparse.csr_matrix(arr), compressed=True)
    return buf.getbuffer().nbytes


def csr_storage_mint(model: nn.Module, *, layers: Optional[Sequence[int]] = None) -> float:
    """MINT's "Memory (Mb)": summed sizes of compressed ``scipy.sparse.save_npz`` files, one per weight
    and per bias of the weight layers, in MiB (2^20 bytes). ``layers`` restricts the sum to those
    positions in ``weight_layers(model)`` (0-based); MINT's MNIST-MLP row uses ``layers=[1]``.
    Normalisation parameters are left out, as MINT's scripts skip its BatchNorm entries."""
    wl = weight_layers(_check_model(model, "model"))
    if layers is None:
        chosen = wl
    else:
        bad = [i for i in layers if not (isinstance(i, int) and 0 <= i < len(wl))]
        if bad:
            raise ValueError(f"layers: positions {bad} are not in 0..{len(wl) - 1} (the model has {len(wl)} "
                             "Linear/Conv layers)")
        chosen = [wl[i] for i in sorted(set(layers))]
    total = 0
    for _, m in chosen:
        total += _npz_bytes(m.weight)
        if m.bias is not None:
            total += _npz_bytes(m.bias)
    return total / 2 ** 20


# ----------------------------------------------------------------------------------------------------
# latency
# ----------------------------------------------------------------------------------------------------


# Per-layer measurements a method may ask the pipeline for (``PruningMethod.layer_metrics``):
# name -> f(model, index of the layer among ``weight_layers(model)``).
LAYER_METRICS = {
    "csr_mint_mib": lambda model, index: csr_storage_mint(model, layers=[index]),
}


def _model_device(model: nn.Module) -> Optional[torch.device]:
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return None


def latency(model: nn.Module, example_input_shape: Sequence[int], batch_size: int, device, *,
            repeats: int = 30, warmup: int = 5, threads: Optional[int] = None, seed: int = 0) -> dict[str, Any]:
    """Forward-pass wall time of ``model`` on a random batch of shape ``(batch_size, *example_input_shape)``.

    Eval mode, ``torch.inference_mode``, ``warmup`` untimed passes, then ``repeats`` timed ones; on CUDA
    the device is synchronised before the clock starts and after each pass. The model is not modified:
    when it lives on another device a deep copy is moved. ``threads`` sets torch's intra-op thread count
    for the call (restored afterwards). Returns ``median_s``, ``p10_s``, ``p90_s``, ``mean_s``,
    ``samples_per_s`` (batch_size / median), ``batch_size``, ``device``, ``threads``, ``repeats``,
    ``warmup``."""
    _check_model(model, "model")
    shape = tuple(int(s) for s in example_input_shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"example_input_shape must be the per-sample shape, e.g. (C, H, W), got {example_input_shape}")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not (isinstance(repeats, int) and repeats >= 1) or not (isinstance(warmup, int) and warmup >= 0):
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got repeats={repeats!r}, warmup={warmup!r}")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"latency: device {device!r} requested but CUDA is not available")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    here = _model_device(model)
    net = model if here is None or here == dev else copy.deepcopy(model).to(dev)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((batch_size, *shape), generator=gen).to(dev)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)

    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    times = []
    try:
        flags = [(m, m.training) for m in net.modules()]
        net.eval()
        try:
            with torch.inference_mode():
                for _ in range(warmup):
                    net(x)
                sync()
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    net(x)
                    sync()
                    times.append(time.perf_counter() - t0)
        finally:
            for m, flag in flags:
                m.training = flag
        used_threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(old_threads)
    arr = np.asarray(times)
    median = float(np.median(arr))
    return {"median_s": median, "p10_s": float(np.percentile(arr, 10)), "p90_s": float(np.percentile(arr, 90)),
            "mean_s": float(arr.mean()), "samples_per_s": batch_size / median if median > 0 else float("inf"),
            "batch_size": batch_size, "device": str(dev), "threads": used_threads, "repeats": repeats,
            "warmup": warmup}


# ----------------------------------------------------------------------------------------------------
# calibration and AUC
# ----------------------------------------------------------------------------------------------------

def _probs_labels(probs: Any, labels: Any) -> tuple[torch.Tensor, torch.Tensor]:
    p = torch.as_tensor(probs).to(torch.float64)
    y = torch.as_tensor(labels, device=p.device)
    if p.dim() != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise ValueError(f"probs must have shape (n >= 1, classes >= 2), got {tuple(p.shape)}")
    if y.dim() != 1 or y.shape[0] != p.shape[0]:
        raise ValueError(f"labels must have shape ({p.shape[0]},) to match probs, got {tuple(y.shape)}")
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ValueError(f"labels must be integer class indices, got dtype {y.dtype}")
    if int(y.min()) < 0 or int(y.max()) >= p.shape[1]:
        raise ValueError(f"labels must lie in 0..{p.shape[1] - 1}, got range {int(y.min())}..{int(y.max())}")
    if bool((p < 0).any()) or not torch.allclose(p.sum(1), torch.ones_like(p[:, 0]), atol=1e-4):
        raise ValueError("probs rows must be probability vectors (>= 0, summing to 1); pass softmax(logits), "
                         "not logits")
    return p, y.long()


def reliability_diagram_data(probs: Any, labels: Any, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Per-bin statistics of a reliability diagram (MINT Fig. 8): equal-width confidence bins (lo, hi]
    over [0, 1]. Returns ``bin_lower``, ``bin_upper``, ``accuracy`` and ``confidence`` (NaN for empty
    bins) and ``count``."""
    if not (isinstance(n_bins, int) and n_bins >= 1):
        raise ValueError(f"n_bins must be a positive int, got {n_bins!r}")
    p, y = _probs_labels(probs, labels)
    conf, pred = p.max(1)
    correct = (pred == y).to(torch.float64)
    edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64, device=p.device)
    # right=False: bin b holds edges[b] < conf <= edges[b+1]; conf == 0 lands in bin 0
    idx = torch.bucketize(conf, edges[1:-1], right=False)
    count = torch.bincount(idx, minlength=n_bins).to(torch.float64)
    acc_sum = torch.bincount(idx, weights=correct, minlength=n_bins)
    conf_sum = torch.bincount(idx, weights=conf, minlength=n_bins)
    nan = torch.full_like(count, float("nan"))
    nonempty = count > 0
    return {"bin_lower": edges[:-1].cpu().numpy(), "bin_upper": edges[1:].cpu().numpy(),
            "accuracy": torch.where(nonempty, acc_sum / count.clamp(min=1), nan).cpu().numpy(),
            "confidence": torch.where(nonempty, conf_sum / count.clamp(min=1), nan).cpu().numpy(),
            "count": count.long().cpu().numpy()}


def expected_calibration_error(probs: Any, labels: Any, n_bins: int = 15) -> float:
    """ECE = sum over equal-width confidence bins of (n_b / n) * |accuracy_b - mean confidence_b|."""
    d = reliability_diagram_data(probs, labels, n_bins)
    n = d["count"].sum()
    nonempty = d["count"] > 0
    gap = np.abs(d["accuracy"][nonempty] - d["confidence"][nonempty])
    return float((d["count"][nonempty] / n * gap).sum())


# ``auc`` lives with the method that holds it (``methods.auc``); re-exported here for the harness


# ----------------------------------------------------------------------------------------------------
# everything at once
# ----------------------------------------------------------------------------------------------------

def measure(pruned: nn.Module, original: nn.Module, example_input: torch.Tensor, *,
            logits: Optional[torch.Tensor] = None, labels: Optional[torch.Tensor] = None,
            latency_batches: Sequence[int] = (1, 128), device=None, latency_repeats: int = 20,
            latency_warmup: int = 3, ece_bins: int = 15, include_bias: bool = False) -> dict[str, Any]:
    """Every metric of this module for ``pruned`` against ``original`` as one flat dict.

    Keys (ratios are fractions; counts per one sample):
      params_total, params_nonzero, params_total_original  -- all parameters (``count_parameters``)
      weights_nonzero, weights_total_original, r_w          -- VIBNet's counted weights (``r_w``)
      flops, flops_original, flops_ratio                    -- MACs (``flops``)
      flops_torch_macs                                      -- ``flops_torch(pruned) / 2``, a cross-check
      activations, activations_original, r_n                -- VIBNet run-time memory (``r_n``)
      csr_mb, csr_mb_original                               -- MB of CSR storage (``csr_storage_mb``)
      csr_mint_mib, csr_mint_mib_original                   -- MINT's compressed-npz MiB
      latency_b{B}_cpu_ms, latency_b{B}_cpu_p10_ms, latency_b{B}_cpu_p90_ms, latency_cpu_threads
                                                            -- pruned network, for each B in latency_batches
      latency_b{B}_gpu_ms, ..._p10_ms, ..._p90_ms           -- also on the GPU when ``device`` is CUDA
      n_test, error, nll, ece                               -- when ``logits`` (n, C) and ``labels`` are given
      auc                                                   -- additionally when C == 2 (score: class-1 prob)
    The original's latency is not measured here: measure it once with ``measure(original, original, ...)``.
    """
    _check_model(pruned, "pruned")
    _check_model(original, "original")
    out: dict[str, Any] = {}
    pc, po = count_parameters(pruned), count_parameters(original)
    out.update(params_total=pc["total"], params_nonzero=pc["nonzero"], params_total_original=po["total"])
    wc = counted_weights(pruned, include_bias=include_bias)
    wo = counted_weights(original, include_bias=include_bias)
    out.update(weights_nonzero=wc["nonzero"], weights_total_original=wo["total"],
               r_w=_ratio(wc["nonzero"], wo["total"], "r_w"))
    f_p, f_o = flops(pruned, example_input), flops(original, example_input)
    out.update(flops=f_p, flops_original=f_o, flops_ratio=_ratio(f_p, f_o, "flops_ratio"),
               flops_torch_macs=flops_torch(pruned, example_input) // 2)
    a_p, a_o = activation_memory(pruned, example_input), activation_memory(original, example_input)
    out.update(activations=a_p, activations_original=a_o, r_n=_ratio(a_p, a_o, "r_n"))
    out.update(csr_mb=csr_storage_mb(pruned), csr_mb_original=csr_storage_mb(original),
               csr_mint_mib=csr_storage_mint(pruned), csr_mint_mib_original=csr_storage_mint(original))

    shape = tuple(_one_sample(example_input).shape[1:])
    devices = [("cpu", torch.device("cpu"))]
    if device is not None and torch.device(device).type == "cuda":
        devices.append(("gpu", torch.device(device)))
    for tag, dev in devices:
        for b in latency_batches:
            lat = latency(pruned, shape, int(b), dev, repeats=latency_repeats, warmup=latency_warmup)
            out[f"latency_b{b}_{tag}_ms"] = 1e3 * lat["median_s"]
            out[f"latency_b{b}_{tag}_p10_ms"] = 1e3 * lat["p10_s"]
            out[f"latency_b{b}_{tag}_p90_ms"] = 1e3 * lat["p90_s"]
            if tag == "cpu":
                out["latency_cpu_threads"] = lat["threads"]

    if (logits is None) != (labels is None):
        raise ValueError("measure: pass both logits and labels, or neither")
    if logits is not None:
        lg = torch.as_tensor(logits).detach().to(torch.float64).cpu()
        y = torch.as_tensor(labels).detach().cpu().long()
        if lg.dim() != 2 or y.dim() != 1 or lg.shape[0] != y.shape[0]:
            raise ValueError(f"logits must be (n, C) and labels (n,), got {tuple(lg.shape)} and {tuple(y.shape)}")
        probs = torch.softmax(lg, dim=1)
        out.update(n_test=int(y.numel()), error=float((lg.argmax(1) != y).double().mean()),
                   nll=float(F.cross_entropy(lg, y)), ece=expected_calibration_error(probs, y, ece_bins))
        if lg.shape[1] == 2:
            out["auc"] = auc(probs[:, 1], y)
    return out
