"""Dataset registry. Each entry is a module with one ``SPEC`` (a ``DatasetSpec``).

Adding a dataset: one module defining ``SPEC`` and one line in ``DATASETS``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import torch
from torch.utils.data import Dataset, Subset

from . import cifar, cub200, fashion_mnist, ibfs_tasks, imagenet, mnist, one_vs_rest, places365, voc_part
from .base import (Archive, DatasetError, DatasetInfo, DatasetSpec, Splits, TensorImageDataset,
                   default_data_root, default_mirror, image_transform, normalize)

DATASETS: dict[str, DatasetSpec] = {
    "mnist": mnist.SPEC,
    "fashion_mnist": fashion_mnist.SPEC,
    "cifar10": cifar.CIFAR10,
    "cifar100": cifar.CIFAR100,
    "imagenet": imagenet.SPEC,
    "cub200": cub200.SPEC,
    "places365": places365.SPEC,
    "voc_part": voc_part.SPEC,
    "cub_vs_places": ibfs_tasks.CUB_VS_PLACES,
    "voccat_vs_places": ibfs_tasks.VOCCAT_VS_PLACES,
    **{f"mnist{d}_vs_rest": one_vs_rest.OneVsRest(mnist.SPEC, d) for d in range(10)},
}


def get(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; available: {sorted(DATASETS)}") from None


def prepare(name: str, data_root: Optional[Path] = None, *, mirror: Optional[Path] = None,
            download: bool = True) -> Path:
    data_root = Path(data_root) if data_root is not None else default_data_root()
    mirror = Path(mirror) if mirror is not None else default_mirror()
    return get(name).prepare(data_root, mirror=mirror, download=download)


def _take(ds: Dataset, idx: torch.Tensor) -> Dataset:
    return ds.subset(idx) if isinstance(ds, TensorImageDataset) else Subset(ds, idx.tolist())


def split_indices(n: int, val_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed-seed permutation of range(n): (train indices, validation indices), both sorted. ``val_size`` 0
    trains on the whole official training set (no validation split: the protocol must keep its last epoch)."""
    if not 0 <= val_size < n:
        raise ValueError(f"validation size must be between 0 and {n - 1} for a training set of {n}, got {val_size}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[val_size:].sort().values, perm[:val_size].sort().values


def load_splits(name: str, data_root: Optional[Path] = None, *, val_size: int | float = 5000,
                split_seed: int = 0, max_train: Optional[int] = None, max_val: Optional[int] = None,
                max_test: Optional[int] = None, image_size: Optional[int] = None) -> Splits:
    """Train / validation / test splits. The validation split is held out from the official training
    set with ``split_seed`` (independent of the training seed, so every run validates on the same
    images); ``max_*`` cap each split (smoke scale) by a seeded random subset; ``image_size`` changes
    the crop side of file-backed datasets (smoke scale runs ImageNet-style models on small crops)."""
    spec = get(name)
    info = spec.info
    data_root = Path(data_root) if data_root is not None else default_data_root()
    train_full = spec.load(data_root, "train", train_transform=True)
    train_eval = train_full if info.in_memory else spec.load(data_root, "train", train_transform=False)
    test = spec.load(data_root, "test", train_transform=False)
    if image_size is not None and not info.in_memory:
        info = dataclasses.replace(info, input_shape=(info.input_shape[0], image_size, image_size))
        for ds, train in ((train_full, True), (train_eval, False), (test, False)):
            if not hasattr(ds, "transform"):
                raise TypeError(f"dataset {name!r}: its {type(ds).__name__} has no 'transform' to resize")
            ds.transform = image_transform(info, train)
    n = len(train_full)
    n_val = int(round(val_size * n)) if isinstance(val_size, float) else int(val_size)
    tr_idx, va_idx = split_indices(n, n_val, split_seed)
    g = torch.Generator().manual_seed(split_seed + 1)

    def cap(idx: torch.Tensor, m: Optional[int]) -> torch.Tensor:
        if m is None or m >= len(idx):
            return idx
        return idx[torch.randperm(len(idx), generator=g)[:m]].sort().values

    te_idx = cap(torch.arange(len(test)), max_test)
    return Splits(train=_take(train_full, cap(tr_idx, max_train)), val=_take(train_eval, cap(va_idx, max_val)),
                  test=_take(test, te_idx), info=info,
                  notes={"val_size": n_val, "split_seed": split_seed, "train_pool": n})


INPUT_SCALINGS = ("standardize", "unit")


def with_unit_inputs(splits: Splits) -> Splits:
    """The same in-memory splits with inputs in [0, 1] (no mean/std standardisation), as ``ToTensor()``
    alone gives them (HRel's and ibcnn's code)."""
    info = dataclasses.replace(splits.info, mean=(0.0,) * len(splits.info.mean), std=(1.0,) * len(splits.info.std))
    parts = []
    for ds in (splits.train, splits.val, splits.test):
        if not isinstance(ds, TensorImageDataset):
            raise DatasetError(f"{info.name}: input_scaling 'unit' needs an in-memory dataset (MNIST/CIFAR style)")
        parts.append(TensorImageDataset(ds.images, ds.labels, info))
    return Splits(*parts, info=info, notes={**splits.notes, "input_scaling": "unit"})


def load_for_benchmark(spec: dict, data_root: Path) -> Splits:
    """The splits of a resolved benchmark (``benchmarks.config.resolve_benchmark``) at its scale, its inputs
    standardised by the dataset's mean/std (default) or in [0, 1] (``input_scaling: unit``)."""
    splits = load_splits(spec["dataset"], data_root, val_size=spec["val_size"], split_seed=spec["split_seed"],
                         max_train=spec["max_train"], max_val=spec["max_val"], max_test=spec["max_test"],
                         image_size=spec.get("image_size"))
    scaling = spec.get("input_scaling", "standardize")
    if scaling not in INPUT_SCALINGS:
        raise DatasetError(f"input_scaling: expected one of {INPUT_SCALINGS}, got {scaling!r}")
    return with_unit_inputs(splits) if scaling == "unit" else splits


__all__ = ["Archive", "DATASETS", "load_for_benchmark", "DatasetError", "DatasetInfo", "DatasetSpec", "Splits",
           "TensorImageDataset", "get", "load_splits", "normalize", "prepare", "split_indices"]
