"""The two binary tasks of the ibfs paper ("Interpreting CNN compression using information bottleneck",
anonymous ICLR 2020 submission, Sec. 5.4): an object class as positives (label 1) against Places scene
images as negatives (label 0), on which ImageNet-pretrained VGG-16 / ResNet-50 are fine-tuned and
then pruned at a target AUC.

- ``cub_vs_places``: CUB-200-2011 birds, N = 1960, vs Places, N = 2000;
- ``voccat_vs_places``: PASCAL-Part cats, N = 441, vs Places, N = 500.

The paper gives only these counts. Not stated there, and chosen here (constructor arguments):
- positives are drawn from the whole component dataset (official train and test pooled), since the
  paper's N are totals of the task, not of either official split;
- negatives come from Places365-Standard's validation set (36,500 images, 256x256 variant). The paper
  cites the original Places (Zhou et al., 2014, 205 categories); Places365 is its current release and
  the one torchvision reads. 2,500 images do not justify fetching the 1.8M-image training archive;
- each class's N samples are a fixed-seed random draw without replacement, of which
  ``test_fraction`` = 0.2 form the task's test split (stratified: the same fraction per class) and the
  rest its training pool; ``load_splits`` then holds a validation split out of that pool.
The draw depends only on ``seed`` and the components' file lists, so it is identical on every machine.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch

from . import cub200, places365, voc_part
from .base import IMAGENET_MEAN, IMAGENET_STD, DatasetError, DatasetInfo, FileDatasetSpec, ImageRecord, check_split


@dataclass(frozen=True)
class Source:
    """``n`` samples drawn from the union of ``splits`` of a file-backed registry dataset."""
    spec: FileDatasetSpec
    splits: Sequence[str]
    n: int


class BinaryTask(FileDatasetSpec):
    folder = ""  # no data of its own; its components live in their folders under the data root

    def __init__(self, info: DatasetInfo, positive: Source, negative: Source, *, test_fraction: float = 0.2,
                 seed: int = 0):
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        self.info = info
        self.positive, self.negative = positive, negative
        self.test_fraction = test_fraction
        self.seed = seed

    def prepare(self, data_root: Path, *, mirror: Optional[Path] = None, download: bool = True) -> Path:
        for src in (self.positive, self.negative):
            src.spec.prepare_splits(data_root, src.splits, mirror=mirror, download=download)
        self.sample(data_root)  # fail now, not at training time, if a pool is too small
        return Path(data_root)

    def _draw(self, data_root: Path, src: Source, label: int) -> dict[str, list[ImageRecord]]:
        pool = [r for s in src.splits for r in src.spec.records(data_root, s)]
        if len(pool) < src.n:
            raise DatasetError(f"{self.info.name}: needs {src.n} samples of {src.spec.info.name} "
                               f"(splits {list(src.splits)}) but only {len(pool)} are there")
        # One generator per class, so each class's draw is independent of the other pool's size.
        g = torch.Generator().manual_seed(2 * self.seed + label)
        chosen = torch.randperm(len(pool), generator=g)[: src.n]
        n_test = int(round(src.n * self.test_fraction))
        split_idx = {"test": chosen[:n_test], "train": chosen[n_test:]}
        return {s: [dataclasses.replace(pool[i], label=label) for i in idx.sort().values.tolist()]
                for s, idx in split_idx.items()}

    def sample(self, data_root: Path) -> dict[str, list[ImageRecord]]:
        """{"train": records, "test": records}: positives (label 1) first, then negatives (label 0)."""
        pos = self._draw(data_root, self.positive, 1)
        neg = self._draw(data_root, self.negative, 0)
        return {s: pos[s] + neg[s] for s in ("train", "test")}

    def records(self, data_root: Path, split: str) -> list[ImageRecord]:
        return self.sample(data_root)[check_split(split)]


_CITE = "ibfs (anonymous ICLR 2020 submission), Sec. 5.4"

CUB_VS_PLACES = BinaryTask(
    DatasetInfo("cub_vs_places", 2, (3, 224, 224), IMAGENET_MEAN, IMAGENET_STD, in_memory=False,
                citation=_CITE + "; CUB-200-2011 vs Places365"),
    positive=Source(cub200.SPEC, ("train", "test"), 1960),
    negative=Source(places365.SPEC, ("test",), 2000),
)

VOCCAT_VS_PLACES = BinaryTask(
    DatasetInfo("voccat_vs_places", 2, (3, 224, 224), IMAGENET_MEAN, IMAGENET_STD, in_memory=False,
                citation=_CITE + "; PASCAL-Part cat vs Places365"),
    positive=Source(voc_part.SPEC, ("train", "test"), 441),
    negative=Source(places365.SPEC, ("test",), 500),
)
