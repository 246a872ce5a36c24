"""Logging for job entry points: per-epoch lines go to the rule's log file and to stderr."""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional


def setup(log_file: Optional[Path], level: int = logging.INFO) -> logging.Logger:
    root = logging.getLogger("ibbench")
    root.setLevel(level)
    root.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="a"))
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
    return root
