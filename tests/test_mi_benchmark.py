"""The MI estimator benchmark: CLI end to end on the smoke config, failure recording, table statistics,
config validation messages, the warm-up time guard and the Pareto front."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import estimators
from benchmarks import mi_benchmark as mb
from benchmarks import mi_tasks as mt

REPO = Path(__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def tiny_section(**over) -> dict:
    section = {"threads": 1, "device": "cpu", "tasks": ["gauss-dense-d1", "mixture-c3-d1"],
               "sample_sizes": [100, 200], "seeds": [0, 1],
               "estimators": [{"name": "gaussian"}, {"name": "ksg", "params": {"k": 3}}]}
    section.update(over)
    return section


def test_smoke_config_runs_the_cli_end_to_end(tmp_path):
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "benchmarks.mi_benchmark", "--config", str(REPO / "config" / "estimators.yaml"),
           "--scale", "smoke", "--out-raw", str(out / "estimators" / "raw.csv"), "--out-table",
           str(out / "table2.csv"), "--fig-dir", str(tmp_path / "figures" / "estimators"), "--threads", "1",
           "--no-progress", "--log", str(tmp_path / "logs" / "mi_benchmark.log")]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert time.perf_counter() - t0 < 60

    raw = pd.read_csv(out / "estimators" / "raw.csv")
    assert list(raw.columns) == mb.RAW_COLUMNS
    table = pd.read_csv(out / "table2.csv")
    assert list(table.columns) == mb.TABLE_COLUMNS
    assert set(table["scale"]) == {"smoke"}
    assert not table.duplicated(["estimator", "task"]).any()
    assert (table["n"] == 500).all()
    # the peer ran on the same 1-D tasks in the same job, so its speed ratio is defined there
    sk = table[table["estimator"] == "sklearn_ksg"]
    assert set(sk["task"]) == {"gauss-dense-d1", "uniform-noise-eps0.75", "mixture-c3-d1"}
    ksg_1d = table[(table["estimator"] == "ksg") & (table["task"] == "gauss-dense-d1")].iloc[0]
    assert math.isfinite(ksg_1d["seconds_vs_sklearn_ksg"])
    # registered estimators succeed on what they accept; the truth is the task's
    ok = raw[raw["estimator"].isin(["gaussian", "ksg", "sklearn_ksg"])]
    assert ok["ok"].all(), ok[~ok["ok"]][["estimator", "task", "error"]]
    assert np.allclose(raw.groupby("task")["truth"].first()["gauss-dense-d1"], mt.get_task("gauss-dense-d1").truth)
    assert (raw[raw["method"] == "gmi"]["units"] == "dimensionless").all()
    assert table[table["estimator"] == "gmi"]["mae"].isna().all()

    for name in mb.FIGURES:
        png = tmp_path / "figures" / "estimators" / f"{name}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC
    targets = pd.read_csv(out / "perf" / "estimators_targets.csv")
    assert list(targets.columns) == mb.TARGET_COLUMNS
    assert {"ksg_gaussian_2d_seconds", "ksg_gaussian_2d_abs_error", "binning_per_filter_mi_seconds"} <= set(
        targets["target"])
    # the speed cases: the KSG backend rule and the KDE against its scikit-learn peer, timed in this run
    speed = targets[targets["target"].str.startswith(("ksg_auto_backend_", "kde_speed_vs_sklearn_kde_"))]
    assert len(speed) == 4 and speed["error"].isna().all() and np.isfinite(speed["measured"]).all(), speed
    # at n = 500 the crossover is at joint dimension 3.2: the KD-tree for 2, the torch path for 10
    assert list(speed["detail"].str.contains("auto -> kdtree"))[:2] == [True, False]
    prov = json.loads((out / "table2.provenance.json").read_text())
    assert prov["scale"] == "smoke" and prov["wall_seconds"] > 0
    assert (tmp_path / "logs" / "mi_benchmark.log").read_text().count("targets passed") == 1


def test_missing_estimator_bad_params_and_rejected_input_are_recorded(monkeypatch):
    monkeypatch.delitem(estimators.ESTIMATORS, "kde")  # as if its module had not landed yet
    cfg = mb.resolve_section(tiny_section(
        seeds=[0], sample_sizes=[100],
        estimators=[{"name": "gaussian"}, {"name": "kde"}, {"name": "ksg", "label": "ksg_bad", "params": {"k": 0}},
                    {"name": "ksg"}]), scale="smoke")
    raw = mb.run_benchmark(cfg, progress=False)
    by = {k: g for k, g in raw.groupby("estimator")}
    assert (~by["kde"]["ok"]).all() and by["kde"]["error"].str.contains("unknown estimator 'kde'").all()
    assert (by["kde"]["status"] == "failed").all() and len(by["kde"]) == 2
    assert by["ksg_bad"]["error"].str.contains("k: expected a positive int").all()
    gauss = by["gaussian"].set_index("task")
    assert gauss.loc["gauss-dense-d1", "ok"] and not gauss.loc["mixture-c3-d1", "ok"]
    assert "class labels" in gauss.loc["mixture-c3-d1", "error"]
    assert by["ksg"]["ok"].all()
    table = mb.summarise(raw, scale="smoke")
    row = table[(table["estimator"] == "gaussian") & (table["task"] == "mixture-c3-d1")].iloc[0]
    assert row["failures"] == 1 and row["ok_runs"] == 0 and "class labels" in row["first_error"]


def test_table_statistics_by_hand():
    base = dict(scale="paper", method="est", params="{}", units="nats", task="t", family="f", dim_x=1, dim_y=1,
                dim_z=0, dim=2, conditional=False, labels=False, truth=1.0, truth_se=0.0, device="cpu", threads=1,
                error="", status="ok", ok=True)
    rows = [dict(base, estimator="est", n=100, seed=0, estimate=5.0, seconds=9.0),  # smaller n: not in table
            dict(base, estimator="est", n=400, seed=0, estimate=1.5, seconds=0.2),
            dict(base, estimator="est", n=400, seed=1, estimate=0.7, seconds=0.4),
            dict(base, estimator="est", n=400, seed=2, estimate=1.0, seconds=0.3),
            dict(base, estimator="est", n=400, seed=3, estimate=float("nan"), seconds=0.1, ok=False, status="failed",
                 error="RuntimeError: boom"),
            dict(base, estimator="sklearn_ksg", method="sklearn_ksg", n=400, seed=0, estimate=1.1, seconds=0.1),
            dict(base, estimator="dimless", units="dimensionless", n=400, seed=0, estimate=0.3, seconds=0.01)]
    raw = pd.DataFrame(rows)
    raw["est_minus_truth"] = raw["estimate"] - raw["truth"]
    table = mb.summarise(raw[mb.RAW_COLUMNS]).set_index("estimator")
    r = table.loc["est"]
    assert r["n"] == 400 and r["runs"] == 4 and r["ok_runs"] == 3 and r["failures"] == 1
    assert r["mean_estimate"] == pytest.approx(3.2 / 3)
    assert r["bias"] == pytest.approx(3.2 / 3 - 1.0)
    assert r["mae"] == pytest.approx((0.5 + 0.3 + 0.0) / 3)
    assert r["std"] == pytest.approx(np.std([1.5, 0.7, 1.0], ddof=1))
    assert r["median_seconds"] == pytest.approx(0.3)
    assert r["seconds_vs_sklearn_ksg"] == pytest.approx(3.0)
    assert r["first_error"] == "RuntimeError: boom"
    assert math.isnan(table.loc["dimless", "mae"]) and table.loc["dimless", "mean_estimate"] == pytest.approx(0.3)
    assert mb.summarise(raw[mb.RAW_COLUMNS], table_n=100).set_index("estimator").loc["est", "mae"] == pytest.approx(4.0)


def test_pareto_front():
    pts = [(1.0, 5.0), (2.0, 3.0), (3.0, 4.0), (0.5, 6.0), (4.0, 1.0), (2.5, 3.0)]
    assert mb.pareto_front(pts) == [3, 0, 1, 4]


def test_slow_warmup_skips_the_task(monkeypatch):
    class Slow(estimators.ESTIMATORS["gaussian"]):
        def _estimate(self, x, y, z):
            time.sleep(0.05)
            return 0.0

    monkeypatch.setitem(estimators.ESTIMATORS, "gaussian", Slow)
    cfg = mb.resolve_section(tiny_section(tasks=["gauss-dense-d1"], max_seconds_per_run=0.01,
                                          estimators=[{"name": "gaussian"}]), scale="smoke")
    raw = mb.run_benchmark(cfg, progress=False)
    assert len(raw) == 4 and (raw["status"] == "skipped").all()
    assert raw[raw["n"] == 100]["error"].str.contains("warm-up took").all()
    assert raw[raw["n"] == 200]["error"].str.contains("a smaller n").all()


def write_config(path: Path, section: dict) -> Path:
    path.write_text(yaml.safe_dump({"estimator_benchmark": {"paper": section, "smoke": tiny_section()}}))
    return path


def test_config_errors_name_the_key_and_the_allowed_values(tmp_path):
    with pytest.raises(mb.ConfigError) as err:
        mb.load_config(write_config(tmp_path / "a.yaml", tiny_section(estimators=[{"name": "ksgg"}])), "paper")
    msg = str(err.value)
    assert "estimator_benchmark.paper.estimators.0.name" in msg and "'ksg', 'gaussian'" in msg
    assert "an outside estimator as 'module:Class'" in msg
    with pytest.raises(mb.ConfigError) as err:
        mb.load_config(write_config(tmp_path / "b.yaml", tiny_section(sampel_sizes=[3])), "paper")
    assert "sampel_sizes" in str(err.value) and "allowed keys" in str(err.value) and "sample_sizes" in str(err.value)
    with pytest.raises(mb.ConfigError, match=r"estimator_benchmark\.paper\.table_n.*'max'"):
        mb.load_config(write_config(tmp_path / "c.yaml", tiny_section(table_n="min")), "paper")
    with pytest.raises(mb.ConfigError, match=r"estimators\.1\.tasks.*'gaus-\*' matches no task"):
        mb.load_config(write_config(tmp_path / "d.yaml", tiny_section(
            estimators=[{"name": "gaussian"}, {"name": "ksg", "tasks": ["gaus-*"]}])), "paper")
    with pytest.raises(mb.ConfigError, match="scale"):
        mb.load_config(write_config(tmp_path / "e.yaml", tiny_section()), "huge")
    paper_only = tmp_path / "f.yaml"
    paper_only.write_text(yaml.safe_dump({"estimator_benchmark": {"paper": tiny_section()}}))
    assert mb.load_config(paper_only, "paper")["scale"] == "paper"  # one section is enough for its scale
    with pytest.raises(mb.ConfigError, match=r"no section 'estimator_benchmark\.smoke'.*\['paper'\]"):
        mb.load_config(paper_only, "smoke")
    assert mb.main(["--config", str(tmp_path / "a.yaml"), "--out-raw", str(tmp_path / "r.csv"), "--out-table",
                    str(tmp_path / "t.csv"), "--fig-dir", str(tmp_path / "f")]) == 2


def test_the_repository_config_is_valid_for_both_scales():
    for scale in mb.SCALES:
        cfg = mb.load_config(REPO / "config" / "estimators.yaml", scale)
        assert set(cfg["targets"]) <= set(mb.TARGETS)
        for spec in cfg["estimators"]:
            entry = mb.build_entry(spec, cfg, peer=False)  # the name is registered, the params accepted
            assert entry.broken is None, (spec, entry.broken)
    smoke = mb.load_config(REPO / "config" / "estimators.yaml", "smoke")
    assert max(smoke["sample_sizes"]) <= 500 and len(smoke["seeds"]) <= 2


def test_targets_record_failures_and_compare_against_limits():
    df = mb.run_targets({"gmi_conditional": {"task": "no-such-task"}})
    assert len(df) == 1 and not df["pass"].iloc[0] and "no-such-task" in df["error"].iloc[0]
    assert mb._row("a", 0.1, 0.2, "<=", "s")["pass"] and not mb._row("b", 3.0, 50.0, ">=", "x")["pass"]
    assert not mb._row("c", float("nan"), 1.0, "<=", "s")["pass"]
