"""PASCAL-Part cats (Chen, Mottaghi, Liu, Fidler, Urtasun, Yuille, 2014, "Detect what you can"):
the PASCAL VOC 2010 images (Everingham et al., 2010) that PASCAL-Part annotates with a 'cat' object.

Two archives: ``VOCtrainval_03-May-2010.tar`` (images and image lists) and PASCAL-Part's
``trainval.tar.gz`` (one ``Annotations_Part/<image id>.mat`` per VOC2010 trainval image). Each .mat holds
``anno`` with ``imname`` and ``objects``, a struct array whose entries have ``class`` (VOC class name),
``class_ind``, ``mask`` (the instance's H x W binary mask) and ``parts`` (``part_name``, ``mask``).

Samples: one per image containing at least one cat instance. The ibfs paper counts its positives in
"pictures" (N = 441) but does not say whether the whole picture or the object is fed to the network.
By default each sample is the bounding box of the image's largest cat instance (box of the instance
mask's nonzero pixels), so the positive is the cat rather than the indoor scene around it -- the
negatives are Places scene images, and a whole-picture positive would let a classifier separate
scene types instead of detecting the object. ``crop=False`` gives whole pictures. Splits follow VOC:
``train`` = ImageSets/Main/train.txt, ``test`` = val.txt (VOC2010 test annotations are not public and
PASCAL-Part covers trainval only). All samples have label 0 (one class, "cat"); the ibfs task module
relabels them. Scanning the .mat files is slow, so the cat instances are indexed once into
``cat_index.json`` (built by ``prepare``, or on first load).

The PASCAL-Part project publishes no checksum for its archive, so it is fetched unverified (a
truncated file still fails at extraction) and the md5 seen is reported in a warning.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Optional

import numpy as np

from .. import fileio
from .base import (IMAGENET_MEAN, IMAGENET_STD, Archive, DatasetError, DatasetInfo, FileDatasetSpec,
                   ImageRecord, check_split, extract_once, missing_error)

VOC_DIR = Path("VOCdevkit") / "VOC2010"
PARTS_DIR = "Annotations_Part"
INDEX = "cat_index.json"
_INDEX_VERSION = 1
_VOC_SPLIT = {"train": "train", "test": "val"}


def mask_box(mask: np.ndarray) -> Optional[tuple[int, int, int, int]]:
    """(left, top, right, bottom) of the nonzero pixels, right/bottom exclusive (PIL's crop box)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def read_instances(path: Path, cls: str) -> list[list[int]]:
    """Every ``cls`` object of a PASCAL-Part .mat as [left, top, right, bottom, mask area]."""
    from scipy.io import loadmat

    try:
        anno = loadmat(str(path), squeeze_me=True, struct_as_record=False)["anno"]
        objects = np.atleast_1d(anno.objects)
        out = []
        for obj in objects:
            if str(getattr(obj, "class")) != cls:
                continue
            mask = np.asarray(obj.mask)
            box = mask_box(mask)
            if box is not None:
                out.append([*box, int(np.count_nonzero(mask))])
        return out
    except Exception as exc:  # scipy raises all sorts of errors on a damaged file
        raise DatasetError(f"{path} is not a readable PASCAL-Part annotation ({exc!r}); expected a .mat with "
                           f"anno.objects[i].class / .mask") from exc


def _read_ids(path: Path, name: str) -> list[str]:
    if not path.is_file():
        raise missing_error(name, path)
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


class VocPartSpec(FileDatasetSpec):
    folder = "VOCPart"

    def __init__(self, info: DatasetInfo, voc: Archive, parts: Archive, cls: str = "cat", crop: bool = True):
        self.info = info
        self.archives = (voc, parts)
        self.cls = cls
        self.crop = crop

    def _extract(self, data_root: Path, archive_paths: list[Path]) -> None:
        root = self.root(data_root)
        extract_once(archive_paths[0], root, VOC_DIR.parts[0])
        extract_once(archive_paths[1], root, PARTS_DIR)
        self.index(data_root)

    def _candidates(self, main: Path, split: str) -> list[str]:
        """Image ids of a VOC split; narrowed by VOC's own ``<cls>_<split>.txt`` presence list (flag -1 =
        absent) when it exists, which saves reading ~90% of the .mat files."""
        ids = _read_ids(main / f"{split}.txt", self.info.name)
        presence = main / f"{self.cls}_{split}.txt"
        if presence.is_file():
            absent = {p[0] for p in (line.split() for line in presence.read_text().splitlines())
                      if len(p) == 2 and p[1] == "-1"}
            ids = [i for i in ids if i not in absent]
        return ids

    def _build_index(self, root: Path) -> dict:
        main = root / VOC_DIR / "ImageSets" / "Main"
        parts = root / PARTS_DIR
        if not parts.is_dir():
            raise missing_error(self.info.name, parts)
        images, no_anno = [], []
        for split, voc_split in _VOC_SPLIT.items():
            for image_id in self._candidates(main, voc_split):
                mat = parts / f"{image_id}.mat"
                if not mat.is_file():
                    no_anno.append(image_id)
                    continue
                boxes = read_instances(mat, self.cls)
                if boxes:
                    images.append({"id": image_id, "split": split, "instances": boxes})
        if no_anno:
            warnings.warn(f"{len(no_anno)} VOC2010 images have no PASCAL-Part annotation in {parts} "
                          f"(e.g. {no_anno[:3]}); they are left out", stacklevel=3)
        return {"version": _INDEX_VERSION, "class": self.cls, "images": images, "missing_annotations": len(no_anno)}

    def index(self, data_root: Path) -> dict:
        root = self.root(data_root)
        path = root / INDEX
        if path.is_file():
            idx = json.loads(path.read_text())
            if idx.get("version") == _INDEX_VERSION and idx.get("class") == self.cls:
                return idx
        idx = self._build_index(root)
        fileio.write_text(path, json.dumps(idx))
        return idx

    def records(self, data_root: Path, split: str) -> list[ImageRecord]:
        check_split(split)
        root = self.root(data_root)
        jpegs = root / VOC_DIR / "JPEGImages"
        if not jpegs.is_dir():
            raise missing_error(self.info.name, jpegs)
        out = []
        for entry in self.index(data_root)["images"]:
            if entry["split"] != split:
                continue
            box = None
            if self.crop:  # the largest instance by mask area
                box = tuple(max(entry["instances"], key=lambda b: b[4])[:4])
            out.append(ImageRecord(jpegs / f"{entry['id']}.jpg", 0, box))
        return out


SPEC = VocPartSpec(
    DatasetInfo("voc_part", 1, (3, 224, 224), IMAGENET_MEAN, IMAGENET_STD, in_memory=False,
                citation="Chen et al. (2014), PASCAL-Part; Everingham et al. (2010), PASCAL VOC 2010"),
    voc=Archive("VOCtrainval_03-May-2010.tar", "da459979d0c395079b5c75ee67908abb",
                "https://thor.robots.ox.ac.uk/pascal/VOC/voc2010/VOCtrainval_03-May-2010.tar",
                how_to_obtain="The VOC2010 page is http://host.robots.ox.ac.uk/pascal/VOC/voc2010/"),
    parts=Archive("trainval.tar.gz", None, "http://roozbehm.info/pascal-parts/trainval.tar.gz",
                  mirror_subdir="PASCAL-Part",
                  how_to_obtain="PASCAL-Part's page is http://roozbehm.info/pascal-parts/pascal-parts.html"),
)
