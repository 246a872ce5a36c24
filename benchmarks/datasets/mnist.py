"""MNIST (LeCun et al., 1998): the four official IDX archives, held in memory as uint8 tensors."""
from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import torch

from .. import fileio
from .base import Archive, DatasetError, DatasetInfo, DatasetSpec, TensorImageDataset

log = logging.getLogger("ibbench.datasets")
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _idx_layout(path: Path, head: bytes, size: int) -> tuple[list[int], np.dtype, int]:
    """(dims, dtype, header bytes) of an IDX file from its first bytes (magic 0x0000 <dtype code> <ndim>,
    big-endian dims) and its size in bytes; a bad magic number, a truncated header or a size that is not
    what the dims need is a ``DatasetError``."""
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_DTYPES:
        raise DatasetError(f"{path} is not an IDX file (bad magic number {head[:4].hex()})")
    ndim = head[3]
    header = 4 + 4 * ndim
    if size < header or len(head) < header:
        raise DatasetError(f"{path} is truncated: header needs {header} bytes, file has {size}")
    dims = [int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_IDX_DTYPES[head[2]])
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if size != expected:
        raise DatasetError(f"{path} is truncated or corrupt: dims {dims} need {expected} bytes, file has {size}")
    return dims, dtype, header


def read_idx(path: Path) -> np.ndarray:
    """Parse an (uncompressed) IDX file (``_idx_layout``) into an array."""
    raw = Path(path).read_bytes()
    dims, dtype, header = _idx_layout(path, raw, len(raw))
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def idx_size_ok(path: Path) -> bool:
    """Whether an IDX file's size is what its header's dims need (reads the header only)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4 + 4 * 255)  # the longest header: 255 dims
        _idx_layout(path, head, Path(path).stat().st_size)
        return True
    except (OSError, DatasetError):
        return False


def gunzip_atomic(src: Path, dest: Path) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as out, gzip.open(src, "rb") as inp:
            for block in iter(lambda: inp.read(1 << 20), b""):
                out.write(block)

    try:
        fileio.atomic_write(dest, write)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(f"cannot decompress {src}: {exc}. The archive is truncated or corrupt; "
                           f"delete it and obtain it again") from exc


class IdxImageDataset(DatasetSpec):
    """MNIST-format dataset: four gzipped IDX archives under ``<root>/<folder>/raw``."""

    split_files = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                   "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

    def __init__(self, info: DatasetInfo, folder: str, base_url: str, md5s: dict[str, str]):
        self.info = info
        self.folder = folder
        how = f"The official archives are at {base_url}"
        self.archives = tuple(Archive(f + ".gz", md5s[f], base_url + f + ".gz", mirror_subdir=f"{folder}/raw",
                                      how_to_obtain=how) for pair in self.split_files.values() for f in pair)

    def archive_dir(self, data_root: Path) -> Path:
        return self.root(data_root) / "raw"

    def _extract(self, data_root: Path, archive_paths: list[Path]) -> None:
        # An extracted file is checked against its own header (the size its dims need): one left truncated
        # by an earlier interrupted or tampered preparation is extracted again from the verified archive,
        # so the data marker never vouches for a file that training would fail to read.
        for gz in archive_paths:
            out = gz.with_suffix("")
            if out.exists() and not idx_size_ok(out):
                log.warning("%s is truncated or corrupt (size does not match its header); extracting it "
                            "again from %s", out, gz.name)
                out.unlink()
            if not out.exists():
                gunzip_atomic(gz, out)
            if not idx_size_ok(out):
                raise DatasetError(f"{out}, extracted from the md5-verified {gz.name}, does not match its "
                                   f"header; delete {out.parent} and prepare again")

    def load(self, data_root: Path, split: str, *, train_transform: bool = False) -> TensorImageDataset:
        if split not in self.split_files:
            raise ValueError(f"split must be one of {sorted(self.split_files)}, got {split!r}")
        raw = self.archive_dir(data_root)
        img_name, lbl_name = self.split_files[split]
        for name in (img_name, lbl_name):
            if not (raw / name).exists():
                raise DatasetError(f"{self.info.name}: {raw / name} is missing; run the data preparation "
                                   f"step first (snakemake target runs/data/{self.info.name}.json) or "
                                   f"benchmarks.datasets.prepare({self.info.name!r}, ...)")
        images = read_idx(raw / img_name)
        labels = read_idx(raw / lbl_name)
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise DatasetError(f"{raw}: {img_name} has shape {images.shape} and {lbl_name} {labels.shape}; "
                               f"expected (N, H, W) images and N labels")
        return TensorImageDataset(torch.from_numpy(images.copy()).unsqueeze(1),
                                  torch.from_numpy(labels.astype(np.int64)), self.info)


SPEC = IdxImageDataset(
    DatasetInfo("mnist", 10, (1, 28, 28), (0.1307,), (0.3081,), in_memory=True,
                citation="LeCun, Bottou, Bengio, Haffner (1998)"),
    folder="MNIST",
    base_url="https://ossci-datasets.s3.amazonaws.com/mnist/",
    md5s={"train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
          "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
          "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
          "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c"},
)
