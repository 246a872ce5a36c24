"""The paper's Table 1 accounting, reconstructed: from its filter counts alone, every printed row
(parameters before and after, percentages) comes out exactly as printed; the total's "74 %" is 76.1 % in
consistent units."""
import pandas as pd
import pytest

from benchmarks.papers.ibfs import accounting

from conftest import REPO

REFERENCE = REPO / "results" / "reference" / "ibfs_table1.csv"


def test_paper_rows_reproduce_the_printed_table_from_its_filter_counts():
    ref = pd.read_csv(REFERENCE, dtype=str)
    convs = ref[ref["layer"].str.startswith("Conv")]
    removed = {r.layer: int(r.filters_pruned) for r in convs.itertuples()}
    ours = accounting.paper_rows(accounting.vgg16_layers(), removed)
    assert list(ours["layer"]) == list(ref["layer"])
    for col in ("params_original", "params_pruned", "pruned_pct"):
        assert ours[col].astype(str).tolist() == ref[col].astype(str).tolist(), col
    assert ours.loc[ours["layer"].str.startswith("Conv"), "filters_original"].astype(int).tolist() == \
        convs["filters_original"].astype(int).tolist()
    assert accounting.consistent_total_pct(ours) == pytest.approx(76.1, abs=0.05)
    # VGG-16's 13 convs and the binary head: 21,137,729 parameters
    assert int(ours[ours["layer"] == "Total"]["params_original_count"].iloc[0]) == 21_137_729


def test_units_and_bad_counts():
    assert accounting.paper_units(84) == "84" and accounting.paper_units(1792) == "1.75K"
    assert accounting.paper_units(1_180_160) == "1.15M"  # 1152.5 K -> M = 1000 K
    with pytest.raises(ValueError, match="Conv9-9"):
        accounting.paper_rows(accounting.vgg16_layers(), {"Conv9-9": 1})
    with pytest.raises(ValueError, match="Conv1-1: 65 filters removed of 64"):
        accounting.paper_rows(accounting.vgg16_layers(), {"Conv1-1": 65})
