"""ROC AUC, what the ``ibfs`` filter selection holds while it masks filters (and what the harness reports
for binary tasks: ``benchmarks.metrics.auc`` is this function).

- ``auc``: binary, by the Mann-Whitney rank statistic with average ranks for tied scores (equals the
  trapezoidal ROC area);
- ``network_auc``: a network's AUC from its outputs: one output (a logit, the ``ibfs`` paper's Dense-1
  head) or two (the class-1 probability) for binary labels, and for more classes the macro average of
  the one-vs-rest AUCs of the softmax probabilities (an extension: the paper's tasks are binary).
"""
from __future__ import annotations

from typing import Any

import torch


def auc(scores: Any, labels: Any) -> float:
    """ROC AUC of ``scores`` (higher = positive) for binary ``labels`` in {0, 1}."""
    s = torch.as_tensor(scores).to(torch.float64)
    y = torch.as_tensor(labels, device=s.device)
    if s.dim() != 1 or y.dim() != 1 or s.shape != y.shape:
        raise ValueError(f"scores and labels must be 1-D of equal length, got {tuple(s.shape)} and {tuple(y.shape)}")
    if torch.isnan(s).any():
        raise ValueError("scores contain NaN")
    yb = y.to(torch.float64)
    if not bool(((yb == 0) | (yb == 1)).all()):
        raise ValueError("labels must be 0 or 1")
    n_pos = int(yb.sum())
    n_neg = yb.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"AUC needs both classes; got {n_pos} positive and {n_neg} negative labels")
    _, inverse, counts = torch.unique(s, sorted=True, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).to(torch.float64)
    avg_rank = ends - (counts.to(torch.float64) - 1) / 2  # mean of ranks ends-count+1 .. ends (1-based)
    rank_sum_pos = (avg_rank[inverse] * yb).sum()
    return float((rank_sum_pos - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def network_auc(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """AUC of a network's outputs (n, K) for integer labels 0..C-1 (module docstring)."""
    if logits.dim() != 2 or logits.shape[0] != labels.shape[0]:
        raise ValueError(f"logits (n, K) and labels (n,) expected, got {tuple(logits.shape)} and {tuple(labels.shape)}")
    k = logits.shape[1]
    if k == 1:
        return auc(logits[:, 0], labels)
    probs = torch.softmax(logits.to(torch.float64), 1)
    if k == 2:
        return auc(probs[:, 1], labels)
    present = torch.unique(labels).tolist()
    return sum(auc(probs[:, c], (labels == c).long()) for c in present) / len(present)
