"""Caltech-UCSD Birds-200-2011 (Wah, Branson, Welinder, Perona, Belongie, 2011, CNS-TR-2011-001).

11,788 images of 200 bird species with the official train/test split (5,994 / 5,794). The archive
``CUB_200_2011.tgz`` extracts to ``CUB_200_2011/`` with ``images/<class>/<file>.jpg`` and three index
files, one line per image id: ``images.txt`` (id, relative path under images/), ``image_class_labels.txt``
(id, class 1..200) and ``train_test_split.txt`` (id, 1 = train, 0 = test). Whole images are used (no
bounding-box crop); labels are 0-based. Read from disk with the shared ImageNet-protocol transforms,
normalised with ImageNet statistics (the networks fine-tuned on it are ImageNet-pretrained).
"""
from __future__ import annotations

from pathlib import Path

from .base import (IMAGENET_MEAN, IMAGENET_STD, Archive, DatasetError, DatasetInfo, FileDatasetSpec,
                   ImageRecord, check_split, extract_once, missing_error)

TOP = "CUB_200_2011"


def _read_table(path: Path, name: str) -> dict[int, str]:
    """``<id> <value>`` per line -> {id: value}; errors name the file and line."""
    if not path.is_file():
        raise missing_error(name, path)
    table: dict[int, str] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or not parts[0].isdigit():
            raise DatasetError(f"{path}:{lineno}: expected '<image id> <value>', got {line!r}")
        table[int(parts[0])] = parts[1].strip()
    return table


class Cub200Spec(FileDatasetSpec):
    folder = "CUB200"

    def __init__(self, info: DatasetInfo, archive: Archive):
        self.info = info
        self.archives = (archive,)

    def _extract(self, data_root: Path, archive_paths: list[Path]) -> None:
        extract_once(archive_paths[0], self.root(data_root), TOP)

    def records(self, data_root: Path, split: str) -> list[ImageRecord]:
        check_split(split)
        top = self.root(data_root) / TOP
        name = self.info.name
        paths = _read_table(top / "images.txt", name)
        labels = _read_table(top / "image_class_labels.txt", name)
        is_train = _read_table(top / "train_test_split.txt", name)
        if not (paths.keys() == labels.keys() == is_train.keys()):
            raise DatasetError(f"{top}: images.txt, image_class_labels.txt and train_test_split.txt list "
                               f"different image ids ({len(paths)}, {len(labels)}, {len(is_train)} ids)")
        want = "1" if split == "train" else "0"
        out = []
        for i in sorted(paths):
            if is_train[i] not in ("0", "1"):
                raise DatasetError(f"{top / 'train_test_split.txt'}: image {i} has flag {is_train[i]!r}, expected 0 or 1")
            if is_train[i] != want:
                continue
            label = int(labels[i]) - 1
            if not 0 <= label < self.info.num_classes:
                raise DatasetError(f"{top / 'image_class_labels.txt'}: image {i} has class {labels[i]}, "
                                   f"expected 1..{self.info.num_classes}")
            out.append(ImageRecord(top / "images" / paths[i], label))
        missing = [str(r.path) for r in out if not r.path.is_file()]
        if missing:
            raise DatasetError(f"{name}: {len(missing)} images listed in {top / 'images.txt'} are missing, "
                               f"e.g. {missing[:3]}; delete {top} and run the preparation step again")
        return out


SPEC = Cub200Spec(
    DatasetInfo("cub200", 200, (3, 224, 224), IMAGENET_MEAN, IMAGENET_STD, in_memory=False,
                citation="Wah, Branson, Welinder, Perona, Belongie (2011), CNS-TR-2011-001"),
    Archive("CUB_200_2011.tgz", "97eceeb196236b17998738112f37df78",
            "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz",
            how_to_obtain="The dataset page is https://data.caltech.edu/records/65de6-vp158 (CaltechDATA)"),
)
