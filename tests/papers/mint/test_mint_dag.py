"""MINT's CPU part through the DAG at smoke scale on the real MNIST."""
import pandas as pd
import pytest

from conftest import REPO, snakemake


@pytest.mark.slow
def test_mint_mnist_smoke_dag(tmp_path, mnist_mirror):
    """MINT's MNIST row and its CPU figures through the DAG at smoke scale: chunked scoring, prune + retrain
    per prune percent, Table I (paper rows beside ours), Figs. 4a/4b/A-1/5/6/8 and the scoring record."""
    data = tmp_path / "data"
    targets = ["results/mint/table1.csv", "results/mint/fig4a.csv", "results/mint/fig4b.csv",
               "results/mint/figA1.csv", "results/mint/fig6.csv"]
    rc, out = snakemake(tmp_path, "--cores", "2", *targets, "--configfile", str(REPO / "config" / "mint_mnist_only.yaml"),
                        "--config", "scale=smoke", f"mirror={mnist_mirror}", f"data_root={data}", "download=False")
    assert rc == 0, out[-4000:]
    res = tmp_path / "smoke" / "results" / "mint"
    t = pd.read_csv(res / "table1.csv")
    ours = t[t["source"] == "ibbench"]
    assert set(ours["method"]) == {"Baseline", "MINT"} and (ours["scale"] == "smoke").all()
    assert set(t[t["source"] == "paper"]["benchmark"]) == {"mlp_mnist", "vgg16_cifar10", "resnet56_cifar10",
                                                           "resnet50_ilsvrc2012"}
    mint = ours[ours["method"] == "MINT"].iloc[0]
    assert mint["paper_params_pruned_pct"] == 96.01 and 0 < mint["params_pruned_pct"] <= 100
    assert mint["diff_accuracy_pp"] == pytest.approx(mint["accuracy_pct"] - 98.47)
    for fig in ("fig4a", "fig4b", "figA1"):
        a = pd.read_csv(res / f"{fig}.csv")
        assert (a["scale"] == "smoke").all() and len(a) >= 3
    assert set(pd.read_csv(res / "figA1.csv")["series"]) == {"none", "fixed", "linear", "quadratic"}
    att = pd.read_csv(res / "fig6.csv")
    assert set(att["network"]) == {"original", "pruned"} and set(att["attack"]) == {"ifgsm", "ill"}
    perf = pd.read_csv(tmp_path / "smoke" / "results" / "perf" / "mint_scoring.csv")
    assert perf["n_estimates"].iloc[0] > 0 and perf["chunks"].iloc[0] == 2
    for f in ("fig4a", "fig4b", "figA1", "fig5", "fig6", "fig8"):
        assert (tmp_path / "smoke" / "figures" / "mint" / f"{f}.png").stat().st_size > 5_000
    # every builder records its inputs and the device
    import json
    for name in ("table1", "fig4a", "fig6"):
        prov = json.loads((res / f"{name}.provenance.json").read_text())
        assert prov["inputs"] and prov["device"]["device"], name
    assert not (tmp_path / "results").exists()
