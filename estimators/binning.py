"""Plug-in (histogram) mutual information over equal-width bins.

Both variables are discretised and the empirical joint distribution is plugged into Shannon's formula

    I(A; B) = H(A) + H(B) - H(A, B),    H(A) = -sum_a p(a) log p(a),   p = counts / n   (nats).

Two discretisations, chosen by ``Params.mode``:

``"per_variable"`` -- the ``ibfs`` paper ("Interpreting CNN compression using information bottleneck",
    ICLR 2020 submission, Sec. 5.2): one scalar variable (one filter's activation, e.g. spatially
    averaged) is cut into ``bins`` (100) equal intervals between its lowest and highest value over the
    sample, bin index = min(floor((v - min) / (max - min) * bins), bins - 1). Class labels are used as
    they are; a continuous ``y`` is binned the same way. ``per_filter_mi`` computes I(T_f; Y) for every
    column f of an (n, F) activation matrix at once. A constant column falls into a single bin, so its
    MI is exactly 0 (a defined value, not an error). Several columns per side make a joint histogram (a
    sample's cell is its row of per-column bins), up to ``max_cells`` grid cells (bins ** columns).

``"fixed_width"`` -- the ``ibcnn`` paper (Li & Liu, "Information Bottleneck Methods on Convolutional
    Neural Networks", Sec. II.B; bin size from the authors' code): every activation of a whole layer is
    mapped to floor(a / bin_width) (bins anchored at 0, width 0.67), and each sample's whole discretised
    activation vector is one symbol T (identical rows = same symbol). For a deterministic network
    H(T | X) = 0, so I(X; T) = H(T); and I(T; Y) = H(T) - H(T | Y) with H(T | Y) = sum_y p(y) H(T | Y = y)
    (``layer_information``). With n samples of distinct inputs, H(T) <= log n: the estimate saturates at
    log n once all rows are distinct (13.29 bits for n = 10,000 in the paper's conv layers).

All values are in nats (the ``ibcnn`` paper reports bits: divide by log 2).

Plug-in entropies are biased low by about (K - 1) / (2 n) for K occupied cells, so the plug-in MI of
independent variables is biased high, by about (K_a - 1)(K_b - 1) / (2 n) (Miller-Madow); with 100 bins
and 10 classes that is about 0.045 nats at n = 10,000.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import torch

from .base import EstimatorInputError, MIEstimator, as_samples, is_labels

# Above this many (group x value) cells the dense bincount would allocate too much memory;
# a sort-based count gives the same entropies with memory proportional to the number of samples.
_DENSE_CELL_LIMIT = 1 << 22


def grouped_entropy(codes: torch.Tensor, num_values: int) -> torch.Tensor:
    """Plug-in entropy (nats) of each row of ``codes`` (G, m), int64 values in [0, num_values).

    Every row is an independent sample of m symbols; returns (G,) float64. Vectorised over rows.
    """
    if codes.ndim != 2:
        raise EstimatorInputError(f"codes: expected shape (groups, samples), got {tuple(codes.shape)}")
    g, m = codes.shape
    if m == 0:
        raise EstimatorInputError("codes: no samples to compute an entropy from")
    offset = torch.arange(g, device=codes.device, dtype=torch.int64).unsqueeze(1) * num_values
    flat = (codes + offset).reshape(-1)
    if g * num_values <= _DENSE_CELL_LIMIT:
        counts = torch.bincount(flat, minlength=g * num_values).reshape(g, num_values).to(torch.float64)
        clogc = torch.special.xlogy(counts, counts).sum(1)
    else:
        values, counts = torch.unique(flat, sorted=True, return_counts=True)
        counts = counts.to(torch.float64)
        clogc = torch.zeros(g, dtype=torch.float64, device=codes.device)
        clogc.scatter_add_(0, values // num_values, torch.special.xlogy(counts, counts))
    return math.log(m) - clogc / m


def label_codes(labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Map arbitrary integer labels to 0..C-1 (order preserved); returns (codes, C)."""
    uniq, inv = torch.unique(labels, return_inverse=True)
    return inv.to(torch.int64), int(uniq.numel())


def equal_width_codes(v: torch.Tensor, bins: int, dims: tuple[int, ...] = (0,)) -> torch.Tensor:
    """Bin index (int32) of every value: ``bins`` equal intervals between the min and max over ``dims``.

    With the default ``dims=(0,)`` each column of an (n, F) matrix gets its own range. The maximum falls
    into the last bin; a constant slice has span 0 and lands entirely in bin 0 (entropy 0).
    """
    lo = v.amin(dim=dims, keepdim=True)
    span = v.amax(dim=dims, keepdim=True) - lo
    scale = torch.where(span > 0, bins / span, torch.zeros_like(span))
    t = v - lo
    t.mul_(scale).floor_().clamp_(0, bins - 1)
    return t.to(torch.int32)  # int32 halves the memory traffic of the counting that follows


def row_symbols(cells: torch.Tensor, what: str = "binning") -> tuple[torch.Tensor, int]:
    """One symbol per row of an (n, d) matrix of integer-valued bin indices: identical rows share a symbol,
    numbered in the rows' lexicographic order; returns (symbols, number of symbols)."""
    # The narrowest integer type that holds every cell: the row-wise unique sorts 8x less data in int8
    # than in int64 (a bounded layer at bin 0.67 has four cells per unit: 0.2 s instead of 4 s for
    # 10,000 x 9,408), and the same values give the same symbols in any type.
    lo, hi = (float(cells.min()), float(cells.max())) if cells.numel() else (0.0, 0.0)
    dtype = next((t for t in (torch.int8, torch.int16, torch.int32, torch.int64)
                  if torch.iinfo(t).min <= lo and hi <= torch.iinfo(t).max), None)
    if dtype is None:
        raise ValueError(f"{what}: cells from {lo} to {hi} (non-finite activity, or values beyond the int64 "
                         f"range): expected finite values")
    _, inv = torch.unique(cells.to(dtype), dim=0, return_inverse=True)
    inv = inv.reshape(-1)
    return inv, int(inv.max()) + 1


def fixed_width_symbols(v: torch.Tensor, bin_width: float) -> tuple[torch.Tensor, int]:
    """One symbol per row of (n, d): identical rows of floor(v / bin_width) share a symbol (numbered in the
    rows' lexicographic order)."""
    return row_symbols(torch.floor(v / bin_width), f"fixed-width binning at bin width {bin_width}")


def _entropy_of_counts(counts: torch.Tensor) -> torch.Tensor:
    """Plug-in entropy (nats) of each row of a (G, cells) count matrix (all rows sum to the same n)."""
    m = counts[0].sum()
    return torch.log(m) - torch.special.xlogy(counts, counts).sum(1) / m


def _mi_columns(a: torch.Tensor, ka: int, b: torch.Tensor, kb: int) -> torch.Tensor:
    """Plug-in I(A_g; B) for every column g of codes a (n, G) against one code vector b (n,) -> (G,).

    One bincount of the joint (g, a, b) cells gives all three entropies (the marginals are its sums),
    so the n x G codes are read once; groups are chunked to bound the count table's memory.
    """
    n, g = a.shape
    cells = ka * kb
    chunk = max(1, _DENSE_CELL_LIMIT // cells)
    out = []
    for g0 in range(0, g, chunk):
        ac = a[:, g0:g0 + chunk]
        gc = ac.shape[1]
        # int32 indices whenever the table fits: the pass over n x G codes is memory-bound
        dt = torch.int32 if gc * cells < 2 ** 31 else torch.int64
        idx = ac.to(dt) * kb
        idx += b.to(dt).unsqueeze(1)
        idx += torch.arange(gc, device=a.device, dtype=dt) * cells
        counts = torch.bincount(idx.reshape(-1), minlength=gc * cells).reshape(gc, ka, kb)
        counts = counts.to(torch.float64)
        h_a = _entropy_of_counts(counts.sum(2))
        h_b = _entropy_of_counts(counts.sum(1))
        h_ab = _entropy_of_counts(counts.reshape(gc, cells))
        out.append(h_a + h_b - h_ab)
    # Rounding can leave -1e-16 where the plug-in value is exactly 0; a plug-in MI is never negative.
    return torch.cat(out).clamp_min_(0.0)


def _check_bins(bins: int) -> None:
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 1:
        raise EstimatorInputError(f"bins: expected a positive int, got {bins!r}")


def _filter_inputs(acts: Any, labels: Any, bins: int, device: Optional[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(acts (n, F), labels (n,)) checked, on ``device`` (default: the device of ``acts`` when it is a
    tensor, else CPU)."""
    _check_bins(bins)
    if device is None:
        device = acts.device if isinstance(acts, torch.Tensor) else torch.device("cpu")
    device = torch.device(device)
    a = as_samples(acts, "acts", device=device)
    lab = as_samples(labels, "labels", allow_labels=True, device=device)
    if not is_labels(lab):
        raise EstimatorInputError(
            f"labels: expected integer class labels of shape (n,), got {lab.dtype} {tuple(lab.shape)}")
    if lab.shape[0] != a.shape[0]:
        raise EstimatorInputError(f"labels: has {lab.shape[0]} samples but acts has {a.shape[0]}")
    return a, lab


def per_filter_mi(acts: Any, labels: Any, bins: int = 100, device: Optional[str] = None) -> torch.Tensor:
    """I(T_f; Y) in nats for every column f of ``acts`` (n, F) against integer ``labels`` (n,).

    Each column is binned into ``bins`` equal intervals between its own min and max (the ``ibfs``
    paper's per-filter estimate); all F columns are handled in one vectorised pass. Returns (F,) float64
    on ``device`` (default: the device of ``acts`` when it is a tensor, else CPU).
    """
    a, lab = _filter_inputs(acts, labels, bins, device)
    yc, ky = label_codes(lab)
    return _mi_columns(equal_width_codes(a, bins), bins, yc, ky)


def per_filter_information(acts: Any, labels: Any, bins: int = 100,
                           device: Optional[str] = None) -> dict[str, torch.Tensor]:
    """The information plane of filters (the ``ibfs`` paper), every column f of ``acts`` (n, F) binned as
    in ``per_filter_mi``, in nats:

    * ``h_t`` (F,): H(T_f), which is I(X; T_f) for a deterministic filter;
    * ``i_ty`` (F,): I(T_f; Y);
    * ``class_info`` (F, C): the class-specific information of each class k (``classes[k]``),
      KL(p(T_f | Y = k) || p(T_f)) = sum_t p(t | k) log(p(t | k) / p(t)); its p(k)-weighted sum over the
      classes is I(T_f; Y) (so for a binary Y the two classes' values rank filters differently while
      the MI with either class indicator is I(T_f; Y));
    * ``classes`` (C,): the label values, ascending.
    """
    a, lab = _filter_inputs(acts, labels, bins, device)
    classes = torch.unique(lab)
    yc, ky = label_codes(lab)
    codes = equal_width_codes(a, bins).to(torch.int64)
    n, f = codes.shape
    chunk = max(1, _DENSE_CELL_LIMIT // (bins * ky))
    h_t, class_info = [], []
    for f0 in range(0, f, chunk):  # the (filters x bins x classes) count table, a chunk of filters at a time
        c = codes[:, f0:f0 + chunk]
        fc = c.shape[1]
        idx = (torch.arange(fc, device=a.device) * (bins * ky)).unsqueeze(0) + c * ky + yc.unsqueeze(1)
        joint = torch.bincount(idx.reshape(-1), minlength=fc * bins * ky).reshape(fc, bins, ky).to(torch.float64)
        p_t = joint.sum(2) / n  # (fc, bins)
        p_t_given_y = joint / joint.sum(1, keepdim=True)  # (fc, bins, C): every class occurs, so no 0/0
        h_t.append(-torch.special.xlogy(p_t, p_t).sum(1))
        # p(t|k) log(p(t|k) / p(t)); 0 where p(t|k) = 0 (xlogy), and p(t) > 0 wherever p(t|k) > 0
        ratio = torch.where(p_t_given_y > 0, p_t_given_y / p_t.unsqueeze(2).clamp_min(1e-300), torch.ones_like(p_t_given_y))
        class_info.append(torch.special.xlogy(p_t_given_y, ratio).sum(1).clamp_min_(0.0))
    class_info_t = torch.cat(class_info)
    prior = torch.bincount(yc, minlength=ky).to(torch.float64) / n
    return {"h_t": torch.cat(h_t), "i_ty": (class_info_t * prior).sum(1), "class_info": class_info_t,
            "classes": classes}


def layer_information(acts: Any, labels: Any, bin_width: float = 0.67,
                      device: Optional[str] = None) -> tuple[float, float]:
    """(I(X;T), I(T;Y)) in nats for whole-layer activations ``acts`` (n, ...) of a deterministic net.

    T is the row of floor(acts / bin_width) (the ``ibcnn`` paper); I(X;T) = H(T) because H(T|X) = 0,
    and I(T;Y) = H(T) - sum_y p(y) H(T|Y=y).
    """
    if not bin_width > 0:
        raise EstimatorInputError(f"bin_width: expected a positive float, got {bin_width!r}")
    if device is None:
        device = acts.device if isinstance(acts, torch.Tensor) else torch.device("cpu")
    t = torch.as_tensor(acts)
    if t.ndim < 1:
        raise EstimatorInputError("acts: expected shape (n, ...), got a scalar")
    t = as_samples(t.reshape(t.shape[0], -1), "acts", device=torch.device(device))
    lab = as_samples(labels, "labels", allow_labels=True, device=t.device)
    if not is_labels(lab):
        raise EstimatorInputError(
            f"labels: expected integer class labels of shape (n,), got {lab.dtype} {tuple(lab.shape)}")
    if lab.shape[0] != t.shape[0]:
        raise EstimatorInputError(f"labels: has {lab.shape[0]} samples but acts has {t.shape[0]}")
    return symbol_information(fixed_width_symbols(t, bin_width)[0], lab)


def symbol_information(symbols: Any, labels: Any) -> tuple[float, float]:
    """(H(T), I(T;Y)) in nats from one symbol per sample (``fixed_width_symbols``' cells, or any integer
    partition of the samples) and the class labels: what ``layer_information`` computes once the rows are
    binned, so stored cells can be measured again without the activations."""
    sym = torch.as_tensor(symbols)
    lab = torch.as_tensor(labels, device=sym.device)
    if sym.ndim != 1 or sym.is_floating_point() or lab.shape != sym.shape or lab.is_floating_point():
        raise EstimatorInputError(f"symbols, labels: expected two integer vectors of one length, got "
                                  f"{sym.dtype} {tuple(sym.shape)} and {lab.dtype} {tuple(lab.shape)}")
    if sym.numel() == 0:
        raise EstimatorInputError("symbols: no samples")
    sc, k = label_codes(sym)
    yc, ky = label_codes(lab)
    h_t = float(grouped_entropy(sc.unsqueeze(0), k)[0])
    i_ty = float(_mi_columns(sc.unsqueeze(1), k, yc, ky)[0])
    return h_t, i_ty


class BinningEstimator(MIEstimator):
    """Plug-in MI over equal-width bins (see module docstring for the two modes)."""

    name: ClassVar[str] = "binning"
    supports_conditional: ClassVar[bool] = False
    min_samples: ClassVar[int] = 2

    @dataclass(frozen=True)
    class Params:
        mode: str = "per_variable"  # "per_variable" (ibfs) or "fixed_width" (ibcnn)
        bins: int = 100  # per_variable: equal intervals between each variable's min and max
        bin_width: float = 0.67  # fixed_width: width of the bins anchored at 0
        # per_variable with several columns: the joint histogram's grid, bins ** (columns of x and y), may
        # not exceed this (beyond it nearly every sample has a cell of its own and the estimate is log n)
        max_cells: float = 1e8
        device: str = "auto"

        def __post_init__(self) -> None:
            if self.mode not in ("per_variable", "fixed_width"):
                raise ValueError(f"mode: expected 'per_variable' or 'fixed_width', got {self.mode!r}")
            _check_bins(self.bins)
            if not self.bin_width > 0:
                raise ValueError(f"bin_width: expected a positive float, got {self.bin_width!r}")
            if not self.max_cells >= 1:
                raise ValueError(f"max_cells: expected a number >= 1, got {self.max_cells!r}")

    def _discretise(self, t: torch.Tensor, name: str) -> tuple[torch.Tensor, int]:
        if is_labels(t):
            return label_codes(t)
        if self.params.mode == "fixed_width":
            return fixed_width_symbols(t, self.params.bin_width)
        codes = equal_width_codes(t, self.params.bins)
        if t.shape[1] == 1:
            return codes.reshape(-1), self.params.bins
        # several columns: each binned over its own range, a sample's cell is its row of bin indices
        return row_symbols(codes)

    def _check_grid(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if self.params.mode != "per_variable":
            return
        dims = {name: t.shape[1] for name, t in (("x", x), ("y", y)) if not is_labels(t)}
        total = sum(dims.values())
        cells = float(self.params.bins) ** total
        if total > 1 and cells > self.params.max_cells:
            fit = int(self.params.max_cells ** (1.0 / total) + 1e-9)
            raise EstimatorInputError(
                f"per_variable binning of {' + '.join(f'{d} {n} columns' for n, d in dims.items())} at "
                f"{self.params.bins} bins per column: a joint grid of {self.params.bins}^{total} = {cells:.3g} "
                f"cells (max_cells {self.params.max_cells:.3g}); use at most {fit} bins per column, or raise "
                f"max_cells")

    def _estimate(self, x: torch.Tensor, y: torch.Tensor, z: Optional[torch.Tensor]) -> float:
        self._check_grid(x, y)
        xc, kx = self._discretise(x, "x")
        yc, ky = self._discretise(y, "y")
        return float(_mi_columns(xc.unsqueeze(1), kx, yc, ky)[0])
