"""CIFAR-10 and CIFAR-100 (Krizhevsky, 2009, "Learning Multiple Layers of Features from Tiny Images").

The official "python version" tarballs hold pickled batches, each a dict with ``data`` (N, 3072) uint8
rows laid out as 1024 red, 1024 green, 1024 blue values of a 32x32 image in row-major order, and the
labels (``labels`` for CIFAR-10, ``fine_labels``/``coarse_labels`` for CIFAR-100; we use the 100 fine
classes). The batches are read here directly (no torchvision) into in-memory uint8 (N, 3, 32, 32).

Normalisation: per-channel mean and standard deviation of all training-set pixels scaled to [0, 1],
the values used throughout the CIFAR literature (e.g. CIFAR-10 mean 0.4914/0.4822/0.4465, std
0.2470/0.2435/0.2616). Some codebases use std 0.2023/0.1994/0.2010 instead, which is the mean of
per-image standard deviations, not the dataset's; we use the dataset-wide values.
"""
from __future__ import annotations

import logging
import pickle
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .base import (Archive, DatasetError, DatasetInfo, DatasetSpec, TensorImageDataset, check_split,
                   extract_once, missing_error)

log = logging.getLogger("ibbench.datasets")

_SIDE = 32
_ROW = 3 * _SIDE * _SIDE


def _get(batch: dict, key: str):
    """Pickles written by Python 2 load with bytes keys; accept str keys as well."""
    if key.encode() in batch:
        return batch[key.encode()]
    return batch.get(key)


def read_batch(path: Path, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR pickle batch -> (uint8 images (N, 3, 32, 32), int64 labels (N,)), validated."""
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")  # the batches come from a checksum-verified archive
    except Exception as exc:  # unpickling garbage can raise almost anything
        raise DatasetError(f"{path} is not a readable CIFAR batch (corrupt pickle: {exc!r}); delete the "
                           f"extracted folder and run the preparation step again") from exc
    if not isinstance(batch, dict):
        raise DatasetError(f"{path}: expected a pickled dict, got {type(batch).__name__}")
    data, labels = _get(batch, "data"), _get(batch, label_key)
    if data is None or labels is None:
        raise DatasetError(f"{path}: batch lacks 'data' or {label_key!r} (keys: {sorted(map(str, batch))})")
    data = np.asarray(data)
    labels = np.asarray(labels, dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _ROW:
        raise DatasetError(f"{path}: 'data' is {data.dtype} {data.shape}, expected uint8 (N, {_ROW})")
    if labels.shape != (data.shape[0],):
        raise DatasetError(f"{path}: {labels.shape} labels for {data.shape[0]} images")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetError(f"{path}: labels span {labels.min()}..{labels.max()}, expected 0..{num_classes - 1}")
    return data.reshape(-1, 3, _SIDE, _SIDE), labels


class CifarSpec(DatasetSpec):
    def __init__(self, info: DatasetInfo, folder: str, archive: Archive, batch_dir: str,
                 split_files: dict[str, Sequence[str]], label_key: str):
        self.info = info
        self.folder = folder
        self.archives = (archive,)
        self.batch_dir = batch_dir  # the archive's single top-level folder
        self.split_files = split_files
        self.label_key = label_key

    def _extract(self, data_root: Path, archive_paths: list[Path]) -> None:
        # Every batch training reads is parsed once here: a batch left truncated or corrupt by an earlier
        # interrupted or tampered extraction is extracted again from the verified archive, so the data
        # marker never vouches for a file that training would fail to read.
        folder = extract_once(archive_paths[0], self.root(data_root), self.batch_dir)
        bad = self._unreadable_batches(folder)
        if bad:
            log.warning("%s: %s unreadable (%s); extracting %s again from %s", self.info.name, bad[0][0],
                        bad[0][1], folder.name, archive_paths[0].name)
            shutil.rmtree(folder)
            folder = extract_once(archive_paths[0], self.root(data_root), self.batch_dir)
            bad = self._unreadable_batches(folder)
            if bad:
                raise DatasetError(f"{folder / bad[0][0]}, extracted from the md5-verified "
                                   f"{archive_paths[0].name}, is unreadable: {bad[0][1]}")

    def _unreadable_batches(self, folder: Path) -> list[tuple[str, str]]:
        bad = []
        for name in (n for files in self.split_files.values() for n in files):
            if not (folder / name).is_file():
                bad.append((name, "missing"))
                continue
            try:
                read_batch(folder / name, self.label_key, self.info.num_classes)
            except DatasetError as exc:
                bad.append((name, str(exc)))
        return bad

    def load(self, data_root: Path, split: str, *, train_transform: bool = False) -> TensorImageDataset:
        check_split(split, tuple(self.split_files))
        folder = self.root(data_root) / self.batch_dir
        images, labels = [], []
        for name in self.split_files[split]:
            if not (folder / name).is_file():
                raise missing_error(self.info.name, folder / name)
            x, y = read_batch(folder / name, self.label_key, self.info.num_classes)
            images.append(x)
            labels.append(y)
        return TensorImageDataset(torch.from_numpy(np.concatenate(images)),
                                  torch.from_numpy(np.concatenate(labels)), self.info)


_URL = "https://www.cs.toronto.edu/~kriz/"
_HOW = "The official archives are listed at https://www.cs.toronto.edu/~kriz/cifar.html"

CIFAR10 = CifarSpec(
    DatasetInfo("cifar10", 10, (3, 32, 32), (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
                in_memory=True, citation="Krizhevsky (2009)"),
    folder="CIFAR10",
    archive=Archive("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                    _URL + "cifar-10-python.tar.gz", how_to_obtain=_HOW),
    batch_dir="cifar-10-batches-py",
    split_files={"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
    label_key="labels",
)

CIFAR100 = CifarSpec(
    DatasetInfo("cifar100", 100, (3, 32, 32), (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762),
                in_memory=True, citation="Krizhevsky (2009)"),
    folder="CIFAR100",
    archive=Archive("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85",
                    _URL + "cifar-100-python.tar.gz", how_to_obtain=_HOW),
    batch_dir="cifar-100-python",
    split_files={"train": ["train"], "test": ["test"]},
    label_key="fine_labels",
)
