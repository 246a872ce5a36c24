"""Estimators from outside the package in the estimator benchmark (a Python module:Class and a command-line
program, named in the config), failures and timeouts recorded, and the regression report: it flags a
deliberately degraded estimator and passes an unchanged one."""
import sys

import numpy as np
import pandas as pd
import pytest

from benchmarks import mi_benchmark, mi_regression
from benchmarks.outside_estimators import CommandEstimator

from conftest import REPO

TOY = REPO / "tests" / "data" / "outside_estimators"
TASKS = ["gauss-dense-d1", "gauss-sparse-d2"]


def section(estimators):
    return {"description": "outside estimators", "threads": 1, "device": "cpu", "warmup": False, "table_n": "max",
            "tasks": TASKS, "sample_sizes": [400], "seeds": [0, 1], "estimators": estimators, "peers": []}


@pytest.fixture
def toy_path(monkeypatch):
    monkeypatch.syspath_prepend(str(TOY))


def test_python_and_command_estimators_run_through_the_benchmark(toy_path):
    command = [sys.executable, str(TOY / "toy_estimator.py"), "{samples}", "{dim_x}", "{dim_y}"]
    raw = mi_benchmark.run_benchmark(section([
        {"name": "toy_estimator:CorrelationMI", "label": "toy"},
        {"name": "command", "label": "toy_cli", "params": {"command": command, "timeout": 60}},
        {"name": "toy_estimator:make_broken", "label": "broken"},
        {"name": "command", "label": "sleepy", "params": {"command": [sys.executable, "-c", "import time; time.sleep(5)"],
                                                          "timeout": 0.5}},
    ]), progress=False)
    by = {k: g for k, g in raw.groupby("estimator")}
    assert by["toy"]["ok"].all() and by["toy_cli"]["ok"].all()
    # the same estimate through the sample file (17 significant digits) as in process
    np.testing.assert_allclose(by["toy_cli"].sort_values(["task", "seed"])["estimate"].to_numpy(),
                               by["toy"].sort_values(["task", "seed"])["estimate"].to_numpy(), rtol=1e-9)
    # exact for a 1-D Gaussian pair: close to the truth
    d1 = by["toy"][by["toy"]["task"] == "gauss-dense-d1"]
    assert (d1["est_minus_truth"].abs() < 0.05).all()
    # failures are rows, never fatal: a factory that raises, a program that times out
    assert (~by["broken"]["ok"]).all() and by["broken"]["error"].str.contains("cannot be built").all()
    assert (~by["sleepy"]["ok"]).all() and by["sleepy"]["error"].str.contains("timeout").all()


def test_command_estimator_reports_bad_output_and_exit_status(tmp_path):
    x, y = np.random.default_rng(0).standard_normal((50, 2)), np.arange(50) % 3
    assert "not a number" in CommandEstimator([sys.executable, "-c", "print('hello')"]).run(x, y).error
    bad = CommandEstimator([sys.executable, "-c", "import sys; sys.exit('no way')"]).run(x, y)
    assert not bad.ok and "exit status 1" in bad.error and "no way" in bad.error
    # the sample file: a header, labels as one integer column
    dims = CommandEstimator.write_samples(tmp_path / "s.csv", x, y)
    assert dims == {"dim_x": 2, "dim_y": 1, "dim_z": 0, "labels": 1}
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "x1,x2,y1" and lines[1].split(",")[-1] == "0"
    with pytest.raises(ValueError, match="non-empty list"):
        CommandEstimator("python est.py")


def test_regression_report_flags_a_degraded_estimator_and_passes_an_unchanged_one(toy_path, tmp_path):
    def table(params):
        raw = mi_benchmark.run_benchmark(section([{"name": "toy_estimator:CorrelationMI", "label": "toy",
                                                   "params": params}]), progress=False)
        return mi_benchmark.summarise(raw, "max", "paper")

    reference, unchanged, degraded = table({}), table({}), table({"shrink": 0.5})
    # timings of microsecond calls vary: only accuracy is judged here (the time flag is tested below)
    same = mi_regression.compare(unchanged, reference, error_tolerance=0.02, time_factor=1e6)
    assert (same["flag"] == "ok").all() and len(same) == len(TASKS)
    worse = mi_regression.compare(degraded, reference, error_tolerance=0.02, time_factor=1e6)
    assert worse.set_index("task").loc["gauss-dense-d1", "flag"] == "less accurate"
    # the CLI: report, summary, figure, and an exit status for CI
    ref_path, cur_path = tmp_path / "ref.csv", tmp_path / "cur.csv"
    reference.to_csv(ref_path, index=False)
    degraded.to_csv(cur_path, index=False)
    out = tmp_path / "regression.csv"
    args = ["--current", str(cur_path), "--reference", str(ref_path), "--out", str(out), "--figure",
            str(tmp_path / "regression.png"), "--time-factor", "1e6"]
    assert mi_regression.main(args) == 0  # a report, not a gate, unless asked
    assert mi_regression.main(args + ["--fail-on-regression"]) == 1
    reference.to_csv(cur_path, index=False)
    assert mi_regression.main(args + ["--fail-on-regression"]) == 0
    summ = pd.read_csv(tmp_path / "regression_summary.csv")
    assert summ.loc[0, "estimator"] == "toy" and summ.loc[0, "compared"] == len(TASKS)
    assert (tmp_path / "regression.png").stat().st_size > 5_000


def test_time_flags_failures_and_rows_on_one_side():
    ref = pd.DataFrame({"estimator": ["a", "a", "b"], "task": ["t1", "t2", "t1"], "n": [100] * 3, "units": ["nats"] * 3,
                        "truth": [1.0] * 3, "mean_estimate": [1.0] * 3, "mae": [0.01] * 3,
                        "median_seconds": [0.1] * 3, "runs": [3] * 3, "failures": [0] * 3})
    cur = ref.copy()
    cur.loc[0, "median_seconds"] = 0.5  # 5x slower
    cur.loc[1, "failures"] = 2
    cur = pd.concat([cur.iloc[:2], pd.DataFrame([{**cur.iloc[0].to_dict(), "estimator": "c"}])], ignore_index=True)
    rep = mi_regression.compare(cur, ref, time_factor=2.0).set_index(["estimator", "task"])["flag"]
    assert rep[("a", "t1")] == "slower" and rep[("a", "t2")] == "now fails"
    assert rep[("b", "t1")] == "not run" and rep[("c", "t1")] == "new"
    with pytest.raises(ValueError, match="not an estimator benchmark table"):
        mi_regression._read_table(REPO / "results" / "baselines.csv")


def test_the_report_says_when_machines_or_load_differ(tmp_path):
    import json

    for name, cpu, load in (("now", "CPU A", 0.1), ("ref", "CPU B", 3.5)):
        (tmp_path / f"{name}.provenance.json").write_text(json.dumps(
            {"device": {"cpu": cpu, "load_average_1_5_15min": [load, load, load]}}))
    note = mi_regression.machines(tmp_path / "now.csv", tmp_path / "ref.csv")
    assert "different machines (CPU A now, CPU B reference)" in note and "load average 0.1 now, 3.5" in note
    assert mi_regression.machines(tmp_path / "now.csv", tmp_path / "now.csv") is None
