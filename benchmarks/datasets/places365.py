"""Places365-Standard (Zhou, Lapedriza, Khosla, Oliva, Torralba, 2017, "Places: A 10 million image
database for scene recognition", TPAMI), read through ``torchvision.datasets.Places365``.

Archives, URLs and md5s are the ones torchvision's Places365 class knows (read from it, not copied),
fetched with this package's archive machinery so that a mirror folder works. Default: the small
variant (images resized to 256x256). Layout under ``<data root>/Places365`` (torchvision's):
``categories_places365.txt`` and ``places365_{train_standard,val}.txt`` from the devkit archive,
``data_256_standard/<letter>/<class>/*.jpg`` (train) and ``val_256/*.jpg`` (val); the large variant uses
``data_large_standard`` / ``val_large``. ``split="test"`` is the official validation set (36,500 images,
100 per class): the test set's labels are not public. Normalised with ImageNet statistics.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional, Sequence

from .base import (IMAGENET_MEAN, IMAGENET_STD, Archive, DatasetError, DatasetInfo, FileDatasetSpec,
                   ImageRecord, check_split, extract_archive, fetch_archive, image_transform, missing_error)

_TV_SPLIT = {"train": "train-standard", "test": "val"}


def _places_class():
    from torchvision.datasets import Places365

    return Places365


class Places365Spec(FileDatasetSpec):
    folder = "Places365"

    def __init__(self, info: DatasetInfo, small: bool = True):
        self.info = info
        self.small = small

    def _tv_meta(self):
        P = _places_class()
        try:
            return P._BASE_URL, P._DEVKIT_META["standard"], P._IMAGES_META
        except (AttributeError, KeyError) as exc:
            raise DatasetError(f"this torchvision's Places365 no longer exposes its archive table ({exc}); "
                               f"update benchmarks/datasets/places365.py") from exc

    def split_archives(self, splits: Sequence[str]) -> list[Archive]:
        """The devkit first, then one image archive per requested split."""
        base, (devkit, devkit_md5), images = self._tv_meta()
        how = "The archives are listed at http://places2.csail.mit.edu/download.html"
        out = [Archive(devkit, devkit_md5, base + devkit, how_to_obtain=how)]
        for s in splits:
            name, md5 = images[(_TV_SPLIT[check_split(s)], self.small)]
            out.append(Archive(name, md5, base + name, how_to_obtain=how))
        return out

    @property
    def archives(self) -> list[Archive]:  # type: ignore[override]
        return self.split_archives(("train", "test"))

    def images_dir(self, data_root: Path, split: str) -> Path:
        size = "256" if self.small else "large"
        name = f"data_{size}_standard" if split == "train" else f"val_{size}"
        return self.root(data_root) / name

    def prepare(self, data_root: Path, *, mirror: Optional[Path] = None, download: bool = True) -> Path:
        return self.prepare_splits(data_root, ("train", "test"), mirror=mirror, download=download)

    def prepare_splits(self, data_root: Path, splits: Sequence[str], *, mirror: Optional[Path] = None,
                       download: bool = True) -> Path:
        root = self.root(data_root)
        archives = self.split_archives(splits)
        paths = [fetch_archive(a, root, mirror=mirror, download=download, dataset_dir_name=self.folder)
                 for a in archives]
        file_lists = _places_class()._FILE_LIST_META
        devkit_files = [_places_class()._CATEGORIES_META[0]] + [file_lists[_TV_SPLIT[s]][0] for s in splits]
        if not all((root / f).exists() for f in devkit_files):
            extract_archive(paths[0], root)
        for split, path in zip(splits, paths[1:]):
            final = self.images_dir(data_root, split)
            if final.exists():
                continue
            # The train archive's top folder is data_<size>; torchvision expects data_<size>_standard.
            # Extract into a private staging folder and rename the finished folder into place.
            stage = root / f".stage-{final.name}"
            shutil.rmtree(stage, ignore_errors=True)  # left by an interrupted earlier run
            try:
                extract_archive(path, stage)
                entries = list(stage.iterdir())
                if len(entries) != 1 or not entries[0].is_dir():
                    raise DatasetError(f"{path}: expected a single top-level folder, found "
                                       f"{sorted(p.name for p in entries)}")
                os.replace(entries[0], final)
            finally:
                shutil.rmtree(stage, ignore_errors=True)
        return root

    def torchvision_dataset(self, data_root: Path, split: str, transform=None):
        root = self.root(data_root)
        images = self.images_dir(data_root, check_split(split))
        if not images.is_dir():
            raise missing_error(self.info.name, images)
        try:
            return _places_class()(str(root), split=_TV_SPLIT[split], small=self.small, download=False,
                                   transform=transform)
        except RuntimeError as exc:  # torchvision: devkit file missing or failing its md5
            raise DatasetError(f"{self.info.name}: torchvision rejected the devkit files in {root} ({exc}); "
                               f"delete them and run the data preparation step again") from exc

    def records(self, data_root: Path, split: str) -> list[ImageRecord]:
        ds = self.torchvision_dataset(data_root, split)
        return [ImageRecord(Path(p), int(t)) for p, t in ds.imgs]

    def load(self, data_root: Path, split: str, *, train_transform: bool = False):
        return self.torchvision_dataset(data_root, split, image_transform(self.info, train_transform))


SPEC = Places365Spec(DatasetInfo("places365", 365, (3, 224, 224), IMAGENET_MEAN, IMAGENET_STD, in_memory=False,
                                 citation="Zhou, Lapedriza, Khosla, Oliva, Torralba (2017), Places365-Standard"))
