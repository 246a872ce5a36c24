"""VIBNet's committed tables rebuild from the committed run records with the same numbers."""
import json

import pytest

from conftest import REPO, assert_same_table, committed_config, committed_studies


@pytest.mark.parametrize("n", ["1", "2"])
def test_committed_table_rebuilds(n, tmp_path, monkeypatch):
    from benchmarks import table1
    from benchmarks.papers import vibnet
    from benchmarks.papers.vibnet import tables

    monkeypatch.chdir(REPO)
    cfg = committed_config("vibnet_table2_cpu.yaml")
    studies = committed_studies(cfg)
    names = vibnet.paper_tables(cfg)[n]
    runs = [r for t in names for r in studies[("vibnet", t)].records()]
    core = vibnet.core_runs(cfg, studies, n, table1.OWNER)
    assert runs and core
    out = tmp_path / f"table{n}.csv"
    assert tables.main(["--table", n, "--runs", *runs, "--baseline-runs", *core,
                        "--reference", f"results/reference/vibnet_table{n}.csv",
                        "--tolerance", str(cfg["vibnet"]["error_tolerance_pct"]),
                        "--selection-rule", cfg["vibnet"]["selection_rule"],
                        "--baselines", *vibnet.baseline_records(cfg, n, "paper"),
                        "--target-factor", str(cfg["vibnet"]["target_factor"]), "--out", str(out),
                        "--sweep-out", str(tmp_path / "sweep.csv"), "--figure", str(tmp_path / "sweep.png"),
                        "--config", json.dumps({t: cfg["vibnet"]["tables"][t] for t in names})]) == 0
    assert_same_table(out, REPO / "results" / "vibnet" / f"table{n}.csv")
    assert_same_table(tmp_path / "sweep.csv", REPO / "results" / "vibnet" / f"table{n}_sweep.csv")


@pytest.mark.parametrize("study", ["protocol_study", "protocol_study_lenet5"])
def test_committed_protocol_study_rebuilds(study, tmp_path, monkeypatch):
    """results/vibnet/<study>.csv and its points rebuild from the committed run and baseline records."""
    from benchmarks.papers import vibnet
    from benchmarks.papers.vibnet import protocol_study

    monkeypatch.chdir(REPO)
    cfg = committed_config()
    runs = vibnet.protocol_study_runs(cfg, committed_studies(cfg), study)
    out, points = tmp_path / "protocol_study.csv", tmp_path / "points.csv"
    assert protocol_study.main(["--runs", *runs, "--baselines", *vibnet.protocol_study_baselines(cfg, "paper", study),
                                "--reference", vibnet.protocol_study_reference(cfg, study),
                                "--tolerance", str(cfg["vibnet"]["error_tolerance_pct"]),
                                "--target-factor", str(cfg["vibnet"]["target_factor"]),
                                "--selection-rule", cfg["vibnet"]["selection_rule"], "--out", str(out),
                                "--points-out", str(points), "--figure", str(tmp_path / "f.png"),
                                "--config", json.dumps(vibnet.protocol_study_configs(cfg)[study])]) == 0
    assert_same_table(out, REPO / "results" / "vibnet" / f"{study}.csv")
    assert_same_table(points, REPO / "results" / "vibnet" / f"{study}_points.csv")
