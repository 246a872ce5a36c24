"""ImageNet ILSVRC2012 (Russakovsky et al., 2015) as two ImageFolder trees, read from disk.

Expected layout under the data root::

    imagenet/train/<wnid>/*.JPEG   (1000 class folders, e.g. n01440764)
    imagenet/val/<wnid>/*.JPEG     (the 50,000 validation images sorted into the same class folders)

The archives cannot be downloaded automatically: they are distributed by image-net.org to registered
users only. ``split="test"`` is the official validation set, because the labels of ImageNet's test
set are not public; the benchmark's own validation split is held out of ``train`` by ``load_splits``.
Transforms are the standard ImageNet protocol (``base.image_transform``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from torch.utils.data import Dataset

from .base import IMAGENET_MEAN, IMAGENET_STD, DatasetError, DatasetInfo, DatasetSpec, check_split, image_transform

HOW_TO_OBTAIN = (
    "ImageNet cannot be downloaded automatically. Register at https://image-net.org, download "
    "ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar (with the devkit), and lay them out as "
    "{root}/train/<wnid>/*.JPEG and {root}/val/<wnid>/*.JPEG: the training archive holds one tar per "
    "class (extract each into its <wnid> folder), and the validation images come in one flat folder "
    "and must be sorted into the same <wnid> class folders using the devkit's ground-truth labels. "
    "A symbolic link {root} -> an existing copy works too.")


class ImageNetSpec(DatasetSpec):
    folder = "imagenet"
    split_dirs = {"train": "train", "test": "val"}

    def __init__(self, info: DatasetInfo):
        self.info = info

    def _classes(self, folder: Path) -> set[str]:
        if not folder.is_dir():
            raise DatasetError(f"{self.info.name}: folder {folder} does not exist. "
                               + HOW_TO_OBTAIN.format(root=folder.parent))
        classes = {p.name for p in folder.iterdir() if p.is_dir()}
        if not classes:
            raise DatasetError(f"{self.info.name}: {folder} has no class folders; expected "
                               f"{folder}/<wnid>/*.JPEG. " + HOW_TO_OBTAIN.format(root=folder.parent))
        return classes

    def check_layout(self, data_root: Path) -> None:
        root = self.root(data_root)
        train, val = (self._classes(root / d) for d in ("train", "val"))
        if train != val:
            only_t, only_v = sorted(train - val), sorted(val - train)
            raise DatasetError(
                f"{self.info.name}: {root}/train and {root}/val have different class folders "
                f"({len(train)} vs {len(val)}; only in train: {only_t[:5]}, only in val: {only_v[:5]}). "
                f"Was val sorted into class folders? " + HOW_TO_OBTAIN.format(root=root))

    def prepare(self, data_root: Path, *, mirror: Optional[Path] = None, download: bool = True) -> Path:
        self.check_layout(data_root)
        return self.root(data_root)

    def load(self, data_root: Path, split: str, *, train_transform: bool = False) -> Dataset:
        from torchvision.datasets import ImageFolder

        check_split(split, tuple(self.split_dirs))
        self.check_layout(data_root)
        folder = self.root(data_root) / self.split_dirs[split]
        try:
            return ImageFolder(str(folder), transform=image_transform(self.info, train_transform))
        except FileNotFoundError as exc:  # a class folder without any image file
            raise DatasetError(f"{self.info.name}: {exc}") from exc


SPEC = ImageNetSpec(DatasetInfo("imagenet", 1000, (3, 224, 224), IMAGENET_MEAN, IMAGENET_STD, in_memory=False,
                                citation="Russakovsky et al. (2015), ILSVRC2012"))
