"""ibcnn's committed final-layer table rebuilds from the committed measurements with the same numbers, and
every committed measurement belongs to the committed run record of the same network at the same epoch cap."""
import json

import pandas as pd

from conftest import REPO, assert_same_table, committed_config


def test_committed_final_layer_table_rebuilds(tmp_path, monkeypatch):
    from benchmarks.papers import ibcnn
    from benchmarks.papers.ibcnn import figures

    monkeypatch.chdir(REPO)
    cfg = committed_config("ibcnn_cpu.yaml")
    information = ibcnn.information_files(cfg)
    assert len(information) == len(cfg["ibcnn"]["networks"])  # every MNIST network is committed
    out = tmp_path / "final_layer.csv"
    assert figures.main(["final-layer", "--information", *information, "--reference",
                         "results/reference/ibcnn_final_layer.csv", "--out", str(out)]) == 0
    assert_same_table(out, REPO / "results" / "ibcnn" / "final_layer.csv")
    for path in information:
        run = json.loads((REPO / path.replace("/information/", "/runs/").replace(".csv", ".json")).read_text())
        caps = set(pd.read_csv(REPO / path)["epoch_cap"])
        assert caps == {run["epoch_cap"]}, (path, caps, run["epoch_cap"])
