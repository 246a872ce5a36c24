"""Binary one-vs-rest tasks of an in-memory labelled dataset: label 1 for the images of one class (the
positives), 0 for all others, on the base dataset's files (the same archives, folder and preparation).

The ``ibfs`` paper's tasks are binary (birds or cats vs Places); ``mnist<d>_vs_rest`` is the MNIST task
that runs here on a CPU (one digit vs the rest, the digit chosen by the dataset name)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from .base import DatasetSpec, TensorImageDataset


class OneVsRest(DatasetSpec):
    def __init__(self, base: DatasetSpec, positive: int):
        if not base.info.in_memory:
            raise ValueError(f"one-vs-rest tasks need an in-memory dataset; {base.info.name!r} is file-backed")
        if not 0 <= positive < base.info.num_classes:
            raise ValueError(f"positive class {positive} is not a class of {base.info.name!r} "
                             f"(0..{base.info.num_classes - 1})")
        self.base, self.positive = base, positive
        self.info = dataclasses.replace(
            base.info, name=f"{base.info.name}{positive}_vs_rest", num_classes=2,
            citation=f"{base.info.citation}; class {positive} (label 1) vs the rest (label 0)")
        self.archives, self.folder = base.archives, base.folder

    def archive_dir(self, data_root: Path) -> Path:
        return self.base.archive_dir(data_root)

    def _extract(self, data_root: Path, archive_paths: list[Path]) -> None:
        self.base._extract(data_root, archive_paths)

    def load(self, data_root: Path, split: str, *, train_transform: bool = False) -> TensorImageDataset:
        ds = self.base.load(data_root, split, train_transform=train_transform)
        return TensorImageDataset(ds.images, (ds.labels == self.positive).long(), self.info)
