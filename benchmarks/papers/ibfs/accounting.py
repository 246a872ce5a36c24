"""The ``ibfs`` paper's own parameter accounting of Table 1, reconstructed (IMPLEMENTATION_NOTES.md), so
that our filter counts can be shown in its form beside the measurement of the physically pruned network.

The paper counts, per VGG-16 conv layer, the *removed* filters' own weights only: removed x (C_in k^2 + 1)
(the next layer's input channels that go with them are not counted), with the VGG-16 head Flatten(7x7x512)
-> Dense 256 -> Dense 1 on 224 x 224 inputs. Dense1 loses the share of its inputs that the last conv's
removed filters fed; Dense2 nothing. Its printed numbers mix units: conv cells are in K = 1024 (and
M = 1000 K above 1000 K), Dense1's original size and the totals in decimal millions, Dense1's pruned size
in 1000 K; every row's percentage is the ratio of the two printed cells, rounded. In consistent units the
paper's "74 %" total is 76.1 %.

``paper_rows`` reproduces the paper's rows (strings and percentages) from filter counts exactly, which
the tests check against ``results/reference/ibfs_table1.csv``; ``consistent_rows`` gives the same
accounting in plain parameter counts."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Mapping, Sequence

import pandas as pd

K = 1024.0


@dataclass(frozen=True)
class ConvLayer:
    """A conv layer of the accounting: the paper's name, input and output channels, kernel side."""
    name: str
    c_in: int
    c_out: int
    kernel: int = 3

    def filter_params(self) -> int:
        return self.c_in * self.kernel ** 2 + 1  # one filter's weights and bias

    def params(self) -> int:
        return self.c_out * self.filter_params()


VGG16_WIDTHS = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]


def vgg16_layers(in_channels: int = 3) -> list[ConvLayer]:
    """VGG-16's 13 conv layers with the paper's names (Conv1-1 ... Conv5-3)."""
    out, c_in = [], in_channels
    for b, block in enumerate(VGG16_WIDTHS, start=1):
        for i, c_out in enumerate(block, start=1):
            out.append(ConvLayer(f"Conv{b}-{i}", c_in, c_out))
            c_in = c_out
    return out


def _two_decimals(x: float) -> str:
    """Rounded half up, as the paper prints 72.125 K as 72.13K (Python's format rounds half to even)."""
    return str(Decimal(repr(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def paper_units(value: float) -> str:
    """A conv cell as the paper prints it: below 1 K the count, else K = 1024 with two decimals, and
    M = 1000 K above 1000 K."""
    if value < K:
        return f"{value:.0f}"
    kilo = value / K
    return f"{_two_decimals(kilo)}K" if kilo < 1000 else f"{_two_decimals(kilo / 1000)}M"


def _printed_value(cell: str) -> float:
    """The number a printed cell stands for, in the units it was printed in (what the paper divides)."""
    scale = {"K": 1.0, "M": 1000.0}.get(cell[-1], 1.0 / K)
    return float(cell.rstrip("KM")) * scale


def _pct(pruned_cell: str, original_cell: str) -> int:
    return int(round(100 * _printed_value(pruned_cell) / _printed_value(original_cell)))


def paper_rows(layers: Sequence[ConvLayer], removed: Mapping[str, int], dense_hidden: int = 256,
               last_map: int = 7 * 7) -> pd.DataFrame:
    """Table 1 in the paper's accounting and units from the removed filters per conv layer (names as in
    ``layers``; a layer not named loses none). Columns as ``results/reference/ibfs_table1.csv``, plus
    ``params_original_count`` / ``params_pruned_count`` (the counts behind the printed cells)."""
    unknown = sorted(set(removed) - {c.name for c in layers})
    if unknown:
        raise ValueError(f"removed filters of unknown layers {unknown}; layers are {[c.name for c in layers]}")
    rows = []
    for c in layers:
        k = int(removed.get(c.name, 0))
        if not 0 <= k <= c.c_out:
            raise ValueError(f"{c.name}: {k} filters removed of {c.c_out}")
        orig, pruned = c.params(), k * c.filter_params()
        po, pp = paper_units(orig), paper_units(pruned)
        rows.append({"layer": c.name, "filters_original": c.c_out, "filters_pruned": k, "params_original": po,
                     "params_pruned": pp, "pruned_pct": _pct(pp, po), "params_original_count": orig,
                     "params_pruned_count": pruned})
    last = layers[-1]
    dense1 = last.c_out * last_map * dense_hidden + dense_hidden
    dense1_pruned = dense1 * int(removed.get(last.name, 0)) / last.c_out
    d1o, d1p = f"{_two_decimals(dense1 / 1e6)}M", f"{_two_decimals(dense1_pruned / K / 1000)}M"
    rows.append({"layer": "Dense1", "params_original": d1o, "params_pruned": d1p,
                 "pruned_pct": int(round(100 * float(d1p[:-1]) / float(d1o[:-1]))),
                 "params_original_count": dense1, "params_pruned_count": dense1_pruned})
    dense2 = dense_hidden + 1
    rows.append({"layer": "Dense2", "params_original": str(dense2), "params_pruned": "0", "pruned_pct": 0,
                 "params_original_count": dense2, "params_pruned_count": 0})
    total = sum(r["params_original_count"] for r in rows)
    # the paper's total pruned: the sum of its printed rows, in millions (15.7256 for its Table 1)
    printed = sum(_printed_value(r["params_pruned"]) / 1000 if r["layer"].startswith("Conv") else
                  float(r["params_pruned"].rstrip("M")) for r in rows)
    tp = f"{int(printed * 100) / 100:.2f}M"  # truncated to two decimals, as the paper's 15.72
    rows.append({"layer": "Total", "params_original": f"{_two_decimals(total / 1e6)}M", "params_pruned": tp,
                 "pruned_pct": int(round(100 * float(tp[:-1]) / (total / 1e6))),
                 "params_original_count": total, "params_pruned_count": sum(r["params_pruned_count"] for r in rows)})
    return pd.DataFrame(rows)


def consistent_total_pct(rows: pd.DataFrame) -> float:
    """The paper's accounting in one unit: the removed parameters' share of the whole network, percent."""
    total = rows[rows["layer"] == "Total"].iloc[0]
    return 100.0 * float(total["params_pruned_count"]) / float(total["params_original_count"])
