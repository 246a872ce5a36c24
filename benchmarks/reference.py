"""The papers' reported numbers (``results/reference/*.csv``, typed in from the papers), read with checks."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd


def load_reference(path: Path, columns: Sequence[str], numeric: Sequence[str]) -> pd.DataFrame:
    """A transcription from ``results/reference/``, checked: ``columns`` must be present, and those of
    ``numeric`` that are present must hold numbers. A misquoted field (an unquoted comma) shifts the columns
    and would otherwise turn every lookup into a silent miss."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    for i, row in enumerate(rows[1:], start=2):
        if row and len(row) != len(rows[0]):
            raise ValueError(f"{path}: row {i} has {len(row)} fields, the header {len(rows[0])} "
                             "(is a field with a comma left unquoted?)")
    table = pd.read_csv(path)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; expected {list(columns)}, found {list(table.columns)}")
    for c in (c for c in numeric if c in table.columns):
        values = pd.to_numeric(table[c], errors="coerce")
        bad = table[c].notna() & values.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(f"{path}: row {row + 2}, column {c!r} = {table[c].iloc[row]!r} is not a number "
                             "(is a field with a comma left unquoted?)")
        table[c] = values
    return table
