"""The Snakemake DAG: paper-scale dry run lists every baseline job, lint is clean, and the smoke DAG runs
end to end on the real MNIST (from the mirror) in a temporary directory without touching paper results."""
import json
import subprocess
import sys

import pandas as pd
import pytest

from conftest import REPO


def snakemake(workdir, *args, timeout=900):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def test_paper_dry_run_lists_every_baseline(tmp_path):
    import yaml

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    rc, out = snakemake(tmp_path, "-n", "all_baselines", "--config", f"data_root={tmp_path / 'data'}")
    assert rc == 0, out
    n_train = sum(len(b.get("seeds", [0])) for b in cfg["benchmarks"].values())
    assert f"train_baseline{' ' * 12}{n_train}" in out.replace("\t", " ") or \
        any(line.split()[:2] == ["train_baseline", str(n_train)] for line in out.splitlines()), out[-2000:]
    for name in cfg["benchmarks"]:
        assert f"results/baselines/{name}.csv" in out
    datasets = {b["dataset"] for b in cfg["benchmarks"].values()}
    assert any(line.split()[:2] == ["prepare_data", str(len(datasets))] for line in out.splitlines())


def test_lint_clean(tmp_path):
    rc, out = snakemake(tmp_path, "--lint", "--config", f"data_root={tmp_path / 'data'}")
    assert rc == 0 and "Congratulations" in out, out[-3000:]


@pytest.mark.slow
def test_smoke_dag_end_to_end(tmp_path, mnist_mirror):
    data = tmp_path / "data"
    rc, out = snakemake(tmp_path, "--cores", "2", "results/baselines.csv", "results/table1.csv", "--config", "scale=smoke",
                        f"mirror={mnist_mirror}", f"data_root={data}", "download=False")
    assert rc == 0, out[-4000:]
    smoke = tmp_path / "smoke"
    table = pd.read_csv(smoke / "results" / "baselines.csv")
    assert set(table["benchmark"]) == {"lenet_300_100_mnist", "lenet5_caffe_mnist", "mint_mlp_mnist"}
    assert (table["scale"] == "smoke").all()
    # trained on a subset for two epochs, but clearly better than chance (90% error)
    assert (table["test_error_pct_mean"] < 60).all(), table
    prov = json.loads((smoke / "results" / "baselines.provenance.json").read_text())
    assert prov["scale"] == "smoke" and prov["wall_seconds"] > 0 and "commit" in prov
    rec = json.loads((smoke / "results" / "baselines" / "lenet5_caffe_mnist" / "seed0.json").read_text())
    assert rec["test"]["n"] == 500 and len(rec["history"]) == 2
    assert (smoke / "logs" / "train_baseline" / "lenet5_caffe_mnist_seed0.log").read_text().count("epoch ") >= 2
    t1 = pd.read_csv(smoke / "results" / "table1.csv")
    assert {"random", "l1", "vibnet", "baseline (unpruned)"} <= set(t1["method"]) and (t1["scale"] == "smoke").all()
    assert (smoke / "figures" / "table1.png").stat().st_size > 10_000
    # ratio-based methods remove their target share; VIBNet's compression follows from gamma and two smoke
    # epochs need not prune anything, so only its presence is checked
    pruned = t1[t1["method"].isin(["random", "l1"])]
    assert (pruned["r_w_pct"] < 100).all() and (pruned["flops_pct"] < 100).all()
    assert json.loads((smoke / "results" / "table1.provenance.json").read_text())["scale"] == "smoke"
    # a smoke run never writes where paper-scale results live
    assert not (tmp_path / "results").exists()
    # nothing left to do on a rerun (resumable, complete)
    rc, out = snakemake(tmp_path, "-n", "results/baselines.csv", "results/table1.csv", "--config", "scale=smoke",
                        f"mirror={mnist_mirror}", f"data_root={data}", "download=False")
    assert rc == 0 and "Nothing to be done" in out, out[-2000:]


@pytest.mark.slow
def test_killed_training_job_resumes(tmp_path, mnist_root):
    """Kill the train job mid-run (simulated by stopping after some steps), rerun: it continues from the
    checkpoint and ends with the same weights as an uninterrupted run."""
    import torch

    from benchmarks import checkpoint, config, jobs, training

    cfg = config.load_config(overrides={"smoke": {"max_train": 600, "max_val": 100, "max_test": 100,
                                                  "epochs": 2, "seeds": [0]}})
    spec = config.resolve_benchmark(cfg, "lenet_300_100_mnist", "smoke")
    full = jobs.train(spec, 0, mnist_root, tmp_path / "a" / "model.pt", tmp_path / "a" / "train.json")
    orig_train = training.train

    def interrupted(*a, **kw):
        return orig_train(*a, stop_after_steps=9, **kw)

    training.train = interrupted
    try:
        with pytest.raises(KeyboardInterrupt):
            jobs.train(spec, 0, mnist_root, tmp_path / "b" / "model.pt", tmp_path / "b" / "train.json")
    finally:
        training.train = orig_train
    assert (tmp_path / "b" / "train_state.pt").exists() and not (tmp_path / "b" / "model.pt").exists()
    resumed = jobs.train(spec, 0, mnist_root, tmp_path / "b" / "model.pt", tmp_path / "b" / "train.json")
    assert resumed["resumed_from"] == {"epoch": 2, "step": 0}
    ma, _ = checkpoint.load_model(tmp_path / "a" / "model.pt")
    mb, _ = checkpoint.load_model(tmp_path / "b" / "model.pt")
    for (k, va), vb in zip(ma.state_dict().items(), mb.state_dict().values()):
        assert torch.equal(va, vb), k
    assert full["val"] == resumed["val"]


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
    assert not (tmp_path / "results").exists()
