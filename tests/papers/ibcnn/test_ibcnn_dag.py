"""ibcnn through the DAG at smoke scale on the real MNIST: runs -> stored activity -> measurements ->
Figs 7 (MI against epoch) and 8 (information plane), binning and KDE versions, with provenance. (Every
figure's drawing is tested on constructed measurements in test_ibcnn_figures.py.)"""
import json

import pandas as pd
import pytest

from conftest import snakemake


@pytest.mark.slow
def test_smoke_dag_draws_figures_from_measured_runs(tmp_path, mnist_mirror):
    overlay = tmp_path / "mnist_only.yaml"
    overlay.write_text("ibcnn:\n  datasets: [mnist]\n")
    targets = ["figures/ibcnn/fig7.png", "figures/ibcnn/fig8.png"]
    rc, out = snakemake(tmp_path, "--cores", "2", "--configfile", str(overlay), "--config", "scale=smoke",
                        f"mirror={mnist_mirror}", f"data_root={tmp_path / 'data'}", "download=False", "--", *targets)
    assert rc == 0, out[-4000:]
    smoke = tmp_path / "smoke"
    for n in (7, 8):
        for name in (f"fig{n}.png", f"fig{n}_kde.png"):
            assert (smoke / "figures" / "ibcnn" / name).stat().st_size > 5_000
        prov = json.loads((smoke / "figures" / "ibcnn" / f"fig{n}.provenance.json").read_text())
        assert prov["scale"] == "smoke" and prov["inputs"]
    info = pd.read_csv(smoke / "results" / "ibcnn" / "information" / "multi_fc" / "mnist" / "seed0.csv")
    assert set(info["layer_name"]) == {"conv1", "conv2", "conv3", "conv4", "conv5", "fc1", "fc2", "fc3", "output"}
    assert (info["scale"] == "smoke").all() and set(info["estimator"]) == {"binning", "kde_upper", "kde_lower"}
    run = json.loads((smoke / "results" / "ibcnn" / "runs" / "pool_on" / "mnist" / "seed0.json").read_text())
    assert run["written_epochs"] == run["log_epochs"] and run["epoch_cap"] == run["log_epochs"][-1]
    assert (tmp_path / "smoke" / "runs" / "ibcnn" / "pool_on" / "mnist" / "seed0" / "epoch00000.pt").exists()


def test_ibcnn_records_are_never_taken_for_pruning_runs(tmp_path):
    """results/ibcnn/runs/... lies in the pruning runs' path scheme (results/<owner>/runs/...): the prune
    rule's owner is restricted to the studies' owners, so strict DAG evaluation finds no failing input
    function of `prune` when planning ibcnn's figures."""
    rc, out = snakemake(tmp_path, "-n", "--cores", "1", "--strict-dag-evaluation", "functions",
                        "--config", f"data_root={tmp_path / 'data'}", "--", "figures/ibcnn/fig7.png", "ibcnn_all")
    assert rc == 0 and "InputFunctionException" not in out, out[-3000:]
    assert "rule prune" not in out
