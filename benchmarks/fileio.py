"""Writing files so that a reader never sees half a file: every result, record, model and resume state of
the suite is written to a temporary name beside its target and renamed into place (``os.replace`` is
atomic on one file system), so a job killed mid-write leaves the old file or none."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``path`` (parents created), then rename it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def write_json(path: Path, obj: Any, *, indent: int = 2, default: Callable = float) -> Path:
    return write_text(path, json.dumps(obj, indent=indent, default=default) + "\n")


def torch_save(obj: Any, path: Path) -> Path:
    import torch

    return atomic_write(path, lambda tmp: torch.save(obj, tmp))
