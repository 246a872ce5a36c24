"""aura's committed LeNet-5 comparison rebuilds from the committed run records with the same numbers."""
import json

from conftest import REPO, assert_same_table, committed_config, committed_studies


def test_lenet5_table_rebuilds(monkeypatch, tmp_path):
    from benchmarks.papers import aura
    from benchmarks.papers.aura import tables

    monkeypatch.chdir(REPO)
    cfg = committed_config("aura_lenet5_cpu.yaml")
    studies = committed_studies(cfg)
    runs = [r for n in aura.LENET5_STUDIES for r in studies[("aura", n)].records()]
    seeds = studies[("aura", aura.LENET5_STUDIES[0])].seeds
    baselines = [f"results/baselines/lenet5_hrel_mnist/seed{s}.json" for s in seeds]
    assert len(runs) == 6 * 2 * 3 + 2 + 4 * 3  # HRel's limits x 3 seeds, tracked x 1, core widths x 1
    assert tables.main(["lenet5", "--runs", *runs, "--baselines", *baselines, "--out", str(tmp_path / "t.csv"),
                        "--figure", str(tmp_path / "f.png"),
                        "--config", json.dumps({s: cfg["aura"]["studies"][s] for s in aura.LENET5_STUDIES})]) == 0
    assert_same_table(tmp_path / "t.csv", REPO / "results" / "aura" / "lenet5.csv")
