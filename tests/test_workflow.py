"""The Snakemake DAG: paper-scale dry run lists every baseline job, lint is clean, and the smoke DAG runs
end to end on the real MNIST (from the mirror) in a temporary directory without touching paper results."""
import json

import pandas as pd
import pytest

from conftest import REPO, snakemake


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
    # aura's equal-width studies (table1.study_benchmarks) run end to end in tests/papers/aura; their rows
    # in this table: tests/test_rebuild_committed.py and test_table1_takes_the_papers_study_benchmarks
    overlay = tmp_path / "no_study_benchmarks.yaml"
    overlay.write_text("table1:\n  study_benchmarks: []\n")
    rc, out = snakemake(tmp_path, "--cores", "2", "--configfile", str(overlay), "--config", "scale=smoke",
                        f"mirror={mnist_mirror}", f"data_root={data}", "download=False", "--",
                        "results/baselines.csv", "results/table1.csv")
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
    # every file the jobs wrote under results/ and figures/ is a declared output of the workflow
    rc, out = snakemake(tmp_path, "--list-untracked", "--configfile", str(overlay), "--config", "scale=smoke",
                        f"mirror={mnist_mirror}", f"data_root={data}", "download=False")
    assert rc == 0, out[-2000:]
    untracked = [line.strip() for line in out.splitlines() if line.strip().startswith(("results/", "figures/"))]
    assert not untracked, untracked
    # nothing left to do on a rerun (resumable, complete)
    rc, out = snakemake(tmp_path, "-n", "--configfile", str(overlay), "--config", "scale=smoke",
                        f"mirror={mnist_mirror}", f"data_root={data}", "download=False", "--",
                        "results/baselines.csv", "results/table1.csv")
    assert rc == 0 and "Nothing to be done" in out, out[-2000:]
    # nor after the mirror moved: where md5-verified archives came from reruns nothing
    moved = tmp_path / "moved_mirror"
    moved.mkdir()
    rc, out = snakemake(tmp_path, "-n", "--configfile", str(overlay), "--config", "scale=smoke",
                        f"mirror={moved}", f"data_root={data}", "download=False", "--",
                        "results/baselines.csv", "results/table1.csv")
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
