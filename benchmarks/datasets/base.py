"""Shared machinery of the dataset registry: archives, checksums, mirrors, in-memory tensors.

Every dataset module defines one ``DatasetSpec`` subclass instance named ``SPEC``. The registry in
``benchmarks/datasets/__init__.py`` maps names to those instances.

Getting archives (``fetch_archive``): an archive is taken, in this order, from
1. the dataset's folder under the data root, if already there and its checksum matches;
2. a mirror folder (config ``mirror`` or env ``IBBENCH_MIRROR``), looked up as
   ``<mirror>/<mirror_subdir>/<filename>``, ``<mirror>/<dataset folder>/<filename>`` or ``<mirror>/<filename>``;
   the copy is verified before it is used;
3. the official URL, when the archive has one and downloading is allowed.
An archive whose publisher gives no checksum (``md5=None``) is used unverified, with a warning that shows
its md5 so it can be pinned; a damaged copy then still fails at extraction.
Archives are written to a temporary name and renamed into place only after their checksum matched, and
extraction happens into a temporary folder that is renamed into place when complete, so an interrupted
or failed step leaves nothing half-done behind.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch.utils.data import Dataset


class DatasetError(RuntimeError):
    """A dataset is missing, corrupt or not where it should be; the message says what to do."""


@dataclass(frozen=True)
class Archive:
    filename: str
    md5: Optional[str]  # None: no checksum is published; the file is used unverified (with a warning)
    url: Optional[str] = None  # None: cannot be downloaded automatically (licence, size)
    mirror_subdir: str = ""  # where it sits inside a mirror laid out like the dataset's folder
    how_to_obtain: str = ""  # shown when it is missing


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    num_classes: int
    input_shape: tuple[int, int, int]  # (C, H, W) the models see
    mean: tuple[float, ...]
    std: tuple[float, ...]
    in_memory: bool  # True: the whole split is a uint8 tensor (fast batched path in the trainer)
    citation: str = ""


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def default_data_root() -> Path:
    return Path(os.environ.get("IBBENCH_DATA", "data")).expanduser()


def default_mirror() -> Optional[Path]:
    m = os.environ.get("IBBENCH_MIRROR")
    return Path(m).expanduser() if m else None


def _checksum_error(path: Path, archive: Archive, got: str, source: str) -> DatasetError:
    return DatasetError(
        f"checksum mismatch for {path} (from {source}): expected md5 {archive.md5}, got {got}. "
        f"The file is truncated or corrupt; delete it and obtain it again"
        + (f" from {archive.url}" if archive.url else "")
        + (f". {archive.how_to_obtain}" if archive.how_to_obtain else "")
    )


def fetch_archive(archive: Archive, dest_dir: Path, *, mirror: Optional[Path] = None,
                  download: bool = True, dataset_dir_name: str = "") -> Path:
    """Make ``dest_dir/archive.filename`` exist with the right checksum; return its path."""
    dest_dir = Path(dest_dir)
    target = dest_dir / archive.filename
    if target.exists():
        if archive.md5 is None:
            return target
        got = md5sum(target)
        if got == archive.md5:
            return target
        raise _checksum_error(target, archive, got, "the data root")

    candidates: list[Path] = []
    if mirror is not None:
        mirror = Path(mirror)
        for sub in (archive.mirror_subdir, dataset_dir_name, ""):
            p = mirror / sub / archive.filename if sub else mirror / archive.filename
            if p not in candidates:
                candidates.append(p)
    source = next((p for p in candidates if p.is_file()), None)

    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{archive.filename}.", suffix=".part", dir=dest_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if source is not None:
            shutil.copyfile(source, tmp)
            origin = f"mirror file {source}"
        elif download and archive.url:
            _download(archive.url, tmp)
            origin = archive.url
        else:
            where = (f"; looked in the mirror at {', '.join(map(str, candidates))}" if candidates
                     else "; no mirror folder is set (config `mirror` or env IBBENCH_MIRROR)")
            how = archive.how_to_obtain or (f"download it from {archive.url}" if archive.url else "")
            reason = "downloading is disabled" if archive.url else "it cannot be downloaded automatically"
            raise DatasetError(
                f"missing archive {archive.filename} (md5 {archive.md5 or 'not published'}) for {target}: "
                f"{reason}{where}. {how}".strip())
        got = md5sum(tmp)
        if archive.md5 is None:
            # Nothing to compare against; a truncated file still fails at extraction. The md5 is shown
            # so that it can be pinned in the dataset module once the file is known to be good.
            warnings.warn(f"{archive.filename} from {origin} has no published md5 and was not verified "
                          f"(its md5 is {got})", stacklevel=2)
        elif got != archive.md5:
            raise _checksum_error(tmp if source is None else source, archive, got, origin)
        os.chmod(tmp, _file_mode())  # mkstemp made it 0600: a shared data root must be readable by others
        os.replace(tmp, target)
        return target
    finally:
        tmp.unlink(missing_ok=True)


def _file_mode() -> int:
    """The mode a newly created file gets under the process's umask (0644 under the usual 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _download(url: str, dest: Path) -> None:
    import urllib.request

    from tqdm import tqdm

    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {dest.name.split('.part')[0]}") as bar:
                for block in iter(lambda: resp.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
    except OSError as exc:
        raise DatasetError(f"download of {url} failed ({exc}); put the file in a mirror folder "
                           f"(config `mirror` or env IBBENCH_MIRROR) instead") from exc


def extract_archive(path: Path, dest: Path) -> Path:
    """Extract a tar/tgz/zip archive so that its members appear under ``dest``; atomic per call.

    Members are extracted into a temporary sibling folder, then moved into ``dest`` one top-level
    entry at a time; a corrupt archive raises ``DatasetError`` naming it and leaves ``dest`` as it was.
    """
    path, dest = Path(path), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".extract-{path.name}.", dir=dest))
    try:
        try:
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as zf:
                    zf.extractall(tmp)
            else:
                with tarfile.open(path) as tf:
                    tf.extractall(tmp, filter="data")
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
            raise DatasetError(f"cannot extract {path}: {exc}. The archive is truncated or corrupt; "
                               f"delete it and obtain it again") from exc
        for entry in tmp.iterdir():
            final = dest / entry.name
            if final.exists():
                shutil.rmtree(final) if final.is_dir() else final.unlink()
            os.replace(entry, final)
        return dest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class TensorImageDataset(Dataset):
    """A whole split held in memory: ``images`` uint8 (N, C, H, W) and ``labels`` int64 (N,).

    The trainer batches these directly on the target device (normalising and augmenting whole
    batches), which avoids per-sample Python overhead; ``__getitem__`` exists for generic consumers.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, info: DatasetInfo):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        if labels.shape[0] != images.shape[0]:
            raise ValueError(f"{labels.shape[0]} labels for {images.shape[0]} images")
        self.images = images
        self.labels = labels.long()
        self.info = info

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int):
        return normalize(self.images[i : i + 1], self.info)[0], int(self.labels[i])

    def subset(self, indices: torch.Tensor) -> "TensorImageDataset":
        return TensorImageDataset(self.images[indices], self.labels[indices], self.info)


def normalize(images_u8: torch.Tensor, info: DatasetInfo) -> torch.Tensor:
    x = images_u8.float().div_(255.0)
    mean = torch.tensor(info.mean, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(info.std, device=x.device).view(1, -1, 1, 1)
    return x.sub_(mean).div_(std)


class DatasetSpec:
    """One dataset of the registry. Subclasses set ``info``, ``archives``, ``folder`` and implement
    ``_extract`` (turn verified archives into the on-disk layout) and ``load``."""

    info: DatasetInfo
    archives: Sequence[Archive] = ()
    folder: str = ""  # the dataset's folder under the data root

    def root(self, data_root: Path) -> Path:
        return Path(data_root) / self.folder

    def prepare(self, data_root: Path, *, mirror: Optional[Path] = None, download: bool = True) -> Path:
        """Fetch and verify every archive, lay the data out on disk; idempotent. Returns the folder."""
        paths = [fetch_archive(a, self.archive_dir(data_root), mirror=mirror, download=download,
                               dataset_dir_name=self.folder) for a in self.archives]
        self._extract(data_root, paths)
        return self.root(data_root)

    def archive_dir(self, data_root: Path) -> Path:
        return self.root(data_root)

    def _extract(self, data_root: Path, archive_paths: list[Path]) -> None:
        pass

    def load(self, data_root: Path, split: str, *, train_transform: bool = False) -> Dataset:
        """``split`` is "train" or "test". In-memory datasets return a ``TensorImageDataset``."""
        raise NotImplementedError


@dataclass
class Splits:
    train: Dataset
    val: Dataset
    test: Dataset
    info: DatasetInfo
    notes: dict = field(default_factory=dict)


# --- file-backed datasets (ImageNet, CUB-200, Places365, PASCAL-Part, the ibfs binary tasks) -------------

# ILSVRC2012 training-set channel statistics as used by torchvision's pretrained models. The file-backed
# datasets here are used to fine-tune ImageNet-pretrained networks, so their inputs are normalised the
# way those networks were trained, whatever the dataset.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def extract_once(archive_path: Path, dest: Path, expect: str) -> Path:
    """Extract ``archive_path`` into ``dest`` unless ``dest/expect`` is already there; return that path.

    ``expect`` is a top-level entry of the archive, which ``extract_archive`` moves into place whole, so
    its presence means a complete earlier extraction."""
    out = Path(dest) / expect
    if not out.exists():
        extract_archive(archive_path, dest)
        if not out.exists():
            raise DatasetError(f"{archive_path} does not contain {expect!r} at its top level; "
                               f"it is not the expected archive")
    return out


def image_transform(info: DatasetInfo, train: bool):
    """PIL image -> normalised float tensor (C, H, W) at ``info.input_shape``.

    Training: random-resized crop and horizontal flip; evaluation: resize the short side to
    ``crop * 256 / 224`` then centre crop (the ImageNet protocol, which fixes 256 for a 224 crop)."""
    from torchvision import transforms as T

    crop = info.input_shape[-1]
    tail = [T.ToTensor(), T.Normalize(info.mean, info.std)]
    if train:
        return T.Compose([T.RandomResizedCrop(crop), T.RandomHorizontalFlip(), *tail])
    return T.Compose([T.Resize(round(crop * 256 / 224)), T.CenterCrop(crop), *tail])


@dataclass(frozen=True)
class ImageRecord:
    """One image file of a file-backed dataset; ``box`` = (left, top, right, bottom) crops it first."""
    path: Path
    label: int
    box: Optional[tuple[int, int, int, int]] = None


class FileImageDataset(Dataset):
    """Images read from disk on access: item ``i`` is (transform(RGB image of record i), label)."""

    def __init__(self, records: Sequence[ImageRecord], transform=None):
        self.records = list(records)
        self.transform = transform
        self.targets = [r.label for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int):
        from PIL import Image, UnidentifiedImageError

        rec = self.records[i]
        try:
            with Image.open(rec.path) as im:
                im = im.convert("RGB")
        except (OSError, UnidentifiedImageError) as exc:
            raise DatasetError(f"cannot read image {rec.path}: {exc}") from exc
        if rec.box is not None:
            im = im.crop(rec.box)
        return (self.transform(im) if self.transform is not None else im), rec.label


class FileDatasetSpec(DatasetSpec):
    """A dataset whose splits are lists of image files (``records``); ``load`` wraps them with the
    shared ``image_transform``. ``prepare_splits`` lets a caller that needs only some splits (the ibfs
    tasks draw Places negatives from its validation set) avoid fetching the others."""

    def records(self, data_root: Path, split: str) -> list[ImageRecord]:
        raise NotImplementedError

    def prepare(self, data_root: Path, *, mirror: Optional[Path] = None, download: bool = True) -> Path:
        root = super().prepare(data_root, mirror=mirror, download=download)
        self.verify_files(data_root, ("train", "test"))
        return root

    def prepare_splits(self, data_root: Path, splits: Sequence[str], *, mirror: Optional[Path] = None,
                       download: bool = True) -> Path:
        return self.prepare(data_root, mirror=mirror, download=download)

    def verify_files(self, data_root: Path, splits: Sequence[str]) -> None:
        """Every image file a split lists exists and is not empty, checked when the data are prepared so
        that the data marker never vouches for files training cannot read (the archives carry no per-file
        checksums; a file truncated to a non-zero size is reported when it is read)."""
        for split in splits:
            records = self.records(data_root, split)
            bad = [r.path for r in records if not r.path.is_file() or r.path.stat().st_size == 0]
            if bad:
                raise DatasetError(
                    f"{self.info.name} {split}: {len(bad)} of {len(records)} listed images are missing or empty "
                    f"(first: {bad[0]}); an extraction was interrupted or files were removed: delete the "
                    f"extracted folder under {self.root(data_root)} (keep the verified archives) and prepare again")

    def load(self, data_root: Path, split: str, *, train_transform: bool = False) -> Dataset:
        return FileImageDataset(self.records(data_root, split), image_transform(self.info, train_transform))


def check_split(split: str, allowed: Sequence[str] = ("train", "test")) -> str:
    if split not in allowed:
        raise ValueError(f"split must be one of {list(allowed)}, got {split!r}")
    return split


def missing_error(name: str, path: Path, what: str = "") -> DatasetError:
    return DatasetError(f"{name}: {path} is missing{what}; run the data preparation step first "
                        f"(snakemake target runs/data/{name}.json) or benchmarks.datasets.prepare({name!r}, ...)")
