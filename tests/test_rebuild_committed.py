"""The committed cross-method results rebuild from the committed run records with the same numbers (the
layout of the harness may move; what it computes from a record may not change unnoticed)."""
import pytest

from conftest import REPO, assert_same_table, committed_config, committed_studies


@pytest.fixture
def at_repo(monkeypatch):
    monkeypatch.chdir(REPO)  # run records are named relative to the repository, as the DAG names them


def test_table1_rebuilds_from_the_committed_runs(tmp_path, at_repo):
    from benchmarks import table1

    cfg = committed_config("vibnet_table2_cpu.yaml", "mint_mnist_only.yaml", "aura_lenet5_cpu.yaml")
    runs = table1.table_runs(cfg, committed_studies(cfg).values())
    baselines = [f"results/baselines/{b}/seed{s}.json" for b in table1.table_benchmarks(cfg) for s in (0, 1, 2)]
    # 96 (pruning core and MINT, VIBNet's LeNet-5 at 3 gammas) + aura's LeNet-5 at equal widths (6 studies x 2
    # limits x 3 seeds, 4 x 3 core widths x 1) + ibfs on the 10-class LeNet-5 (3 tolerances x 3 seeds)
    assert len(runs) == 96 + 48 + 9
    assert table1.main(["--runs", *runs, "--baselines", *baselines, "--out", str(tmp_path / "table1.csv"),
                        "--figure", str(tmp_path / "table1.png")]) == 0
    assert_same_table(tmp_path / "table1.csv", REPO / "results" / "table1.csv")


def test_baselines_summary_rebuilds(tmp_path, at_repo):
    from benchmarks import jobs

    cfg = committed_config()
    inputs = [f"results/baselines/{b}/seed{s}.json" for b in cfg["baseline_summary"] for s in (0, 1, 2)]
    jobs.summarize(inputs, tmp_path / "baselines.csv", command="", config={})
    assert_same_table(tmp_path / "baselines.csv", REPO / "results" / "baselines.csv")
    assert_same_table(tmp_path / "baselines_per_seed.csv", REPO / "results" / "baselines_per_seed.csv")
