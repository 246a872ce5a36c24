"""VIBNet protocol study (issue 15): factor studies from the config, points per threshold, the documented
selection rule per factor (the base factor's gamma for a factor without validation split), the frontier
interpolation, and the builder end to end on constructed records."""
import json
import math

import pandas as pd
import pytest

from benchmarks import config as C
from benchmarks.papers import vibnet as VP
from benchmarks.papers.vibnet import protocol_study as P

LABELS = {"base": "base protocol", "epochs300": "(a) 300 epochs", "all_train": "(b) all 60k"}
PAPER = pd.Series({"method": "VIBNet", "r_w_pct": 3.59, "r_n_pct": 16.98, "error_pct": 1.6})


def record(factor, gamma, seed, test_err, val_err, r_w, sweep=(), bench="lenet_300_100_mnist"):
    return {"benchmark": bench, "scale": "paper", "seed": seed, "method": "vibnet",
            "method_params": {"gamma": gamma}, "target": {"ratio": 0.0},
            "study": {"owner": "vibnet", "name": "table1" if factor == "base" else f"protocol_{factor}", "sweep_param": "gamma", "sweep_value": gamma,
                      "setting": f"gamma{gamma:g}"},
            "test_before_finetune": {"error": test_err}, "test": {"error": test_err},
            "val": {"error": val_err}, "metrics": {"r_w": r_w, "r_n": 0.2, "flops": 30000},
            "pruned_architecture": "97-71-33", "method_seconds": 10.0, "wall_seconds": 11.0, "device": "cpu",
            "finetune_protocol": None,
            "method_report": {"threshold_sweep": [
                {"threshold": t, "kept": {"input": k, "1": 70, "3": 30}, "weight_fraction": w,
                 "val_error": ve, "test_error": te} for t, k, w, ve, te in sweep]}}


def test_factor_studies_change_one_thing_of_the_base_table():
    cfg = C.load_config()
    studies = {s.name: s for s in VP.protocol_studies(cfg, "paper")}
    all_studies = VP.protocol_study_configs(cfg)
    assert set(studies) == {f"protocol_{f}" for ps in all_studies.values() for f in ps["factors"]}
    ps = all_studies["protocol_study"]
    base = {s.name: s for s in VP.studies(cfg, "paper")}[ps["base_table"]]
    assert base.benchmark == "lenet_300_100_mnist" and base.params["protocol"]["epochs"] == 100
    layer = studies["protocol_layer_gamma"]  # a factor that changes only a method param
    assert layer.benchmark == base.benchmark and layer.params["protocol"] == base.params["protocol"]
    assert layer.values == tuple(ps["sweep"]["gamma"]) and layer.params["threshold_sweep"] == ps["thresholds"]
    assert studies["protocol_epochs300"].params["protocol"]["epochs"] == 300
    assert studies["protocol_epochs300"].params["protocol"]["schedule"] == base.params["protocol"]["schedule"]
    assert studies["protocol_finetuned"].finetune["epochs"] == 10 and base.finetune is None
    assert studies["protocol_decay_all"].params["decay_bottlenecks"] is True
    assert studies["protocol_decay_all"].params["protocol"]["weight_decay"] == pytest.approx(5e-5)
    spec = C.resolve_benchmark(cfg, studies["protocol_all_train"].benchmark)
    assert spec["val_size"] == 0 and spec["protocol"]["selection"] == "last"
    assert C.resolve_benchmark(cfg, studies["protocol_unit_inputs"].benchmark)["input_scaling"] == "unit"
    # the per-layer scale: each unit's fan-in + fan-out weights over their mean (input 300, 784+100, 300+10)
    scale = studies["protocol_layer_gamma"].params["layer_scale"]
    assert scale == pytest.approx([w / (1494 / 3) for w in (300, 884, 310)], abs=1e-3)
    # smoke scale shrinks the changed protocol like every other
    smoke = {s.name: s for s in VP.protocol_studies(cfg, "smoke")}
    assert smoke["protocol_epochs300"].params["protocol"]["epochs"] == cfg["smoke"]["epochs"]
    assert VP.check_config(cfg) == []
    # the reference is the base table's runs at the study's gammas, which must be in its sweep
    runs = VP.protocol_study_runs(cfg, {(s.owner, s.name): s for s in VP.studies(cfg, "paper")}, "protocol_study")
    assert runs[:2] == ["results/vibnet/runs/table1/gamma0.0005/seed0.json",
                        "results/vibnet/runs/table1/gamma0.0005/seed1.json"]
    assert len(runs) == 6 * (1 + len(ps["factors"]))
    bad = json.loads(json.dumps(cfg))
    bad["vibnet"]["protocol_studies"]["protocol_study"]["sweep"]["gamma"] = [0.0007]
    assert any("[0.0007] are not values of the base table's sweep" in p for p in VP.check_config(bad))


def test_lenet5_study_runs_table2_with_all_training_images():
    """Item 3 of issue 15: LeNet-5 (Table 2) with factor (b); its reference is Table 2's runs and paper row."""
    cfg = C.load_config()
    ps = VP.protocol_study_configs(cfg)["protocol_study_lenet5"]
    study = {s.name: s for s in VP.protocol_studies(cfg, "paper")}["protocol_lenet5_all_train"]
    table2 = {s.name: s for s in VP.studies(cfg, "paper")}["table2"]
    assert study.params["protocol"] == table2.params["protocol"] and study.values == tuple(ps["sweep"]["gamma"])
    spec = C.resolve_benchmark(cfg, study.benchmark)
    assert spec["model"] == "lenet5_caffe" and spec["val_size"] == 0 and spec["protocol"]["selection"] == "last"
    runs = VP.protocol_study_runs(cfg, {(s.owner, s.name): s for s in VP.studies(cfg, "paper")},
                                  "protocol_study_lenet5")
    assert runs[0] == "results/vibnet/runs/table2/gamma0.001/seed0.json" and len(runs) == 12
    assert VP.protocol_study_reference(cfg, "protocol_study_lenet5") == "results/reference/vibnet_table2.csv"
    assert "results/baselines/lenet5_caffe_mnist_all_train/seed2.json" in VP.protocol_study_baselines(
        cfg, "paper", "protocol_study_lenet5")


def test_factor_names_are_unique_over_protocol_studies():
    cfg = C.load_config()
    bad = json.loads(json.dumps(cfg))
    studies = bad["vibnet"]["protocol_studies"]
    studies["protocol_study_lenet5"]["factors"]["all_train"] = studies["protocol_study"]["factors"]["all_train"]
    problems = VP.check_config(bad)
    assert any("factors.all_train': the name is taken by vibnet.protocol_studies.protocol_study" in p
               for p in problems), problems


def test_points_hold_the_trained_threshold_and_the_sweep():
    rec = record("base", 0.001, 0, 0.02, 0.022, 0.03,
                 sweep=[(-1.0, 120, 0.04, 0.021, 0.019), (0.0, 97, 0.03, 0.022, 0.02), (1.0, 80, 0.02, 0.03, 0.028)])
    rows = P.point_rows(rec, "table1")
    assert [r["threshold"] for r in rows] == [0.0, -1.0, 1.0]
    assert rows[0]["trained_threshold"] and rows[0]["r_w_pct"] == pytest.approx(3.0)  # the pipeline's measurement
    assert rows[1]["r_w_pct"] == pytest.approx(4.0) and rows[1]["error_pct"] == pytest.approx(1.9)
    assert rows[2]["pruned_model"] == "80-70-30" and math.isnan(rows[2]["r_n_pct"])
    # a fine-tuned run reports its fine-tuned test error; its sweep (before fine-tuning) is left out
    tuned = json.loads(json.dumps(rec))
    tuned["finetune_protocol"], tuned["test"] = {"name": "finetune_mnist"}, {"error": 0.017}
    (only,) = P.point_rows(tuned, "table1")
    assert only["error_pct"] == pytest.approx(1.7) and only["trained_threshold"]
    # a run without validation split reports None: NaN in the points
    rec["method_report"]["threshold_sweep"][0]["val_error"] = None
    assert math.isnan(P.point_rows(rec, "table1")[1]["val_error_pct"])


def _runs():
    out = []
    for s in range(3):
        out += [record("base", 0.0005, s, 0.0175, 0.0195, 0.063), record("base", 0.001, s, 0.022, 0.026, 0.029),
                # (a) moves the frontier: gamma 1e-3 at the paper's error
                record("epochs300", 0.0005, s, 0.0160, 0.0180, 0.05), record("epochs300", 0.001, s, 0.0175, 0.0195, 0.04),
                record("all_train", 0.0005, s, 0.0170, math.nan, 0.06, bench="all"),
                record("all_train", 0.001, s, 0.0210, math.nan, 0.03, bench="all")]
    return out


def test_summary_chooses_by_the_rule_and_borrows_the_base_gamma_without_validation():
    points = P.points_table(_runs(), LABELS, "table1")
    assert list(dict.fromkeys(points["factor"])) == ["base", "epochs300", "all_train"]
    summary = P.summary_table(points, PAPER, 0.2, 1.25, {"lenet_300_100_mnist": 0.2})
    row = summary.set_index("factor")
    # base: 0.0005 has validation 1.95 - 0.2 = 1.75 <= 1.8; 0.001 has 2.4 > 1.8
    assert row.loc["base", "gamma"] == 0.0005 and row.loc["base", "r_w_pct"] == pytest.approx(6.3)
    assert row.loc["epochs300", "gamma"] == 0.001 and row.loc["epochs300", "meets_goal"]  # 4.0 <= 4.4875
    assert not row.loc["base", "meets_goal"]
    assert row.loc["all_train", "gamma"] == 0.0005 and "no validation split" in row.loc["all_train", "selection"]
    # frontier at 1.8 %: base between (2.2 %, 2.9) and (1.75 %, 6.3); epochs300 not bracketed (1.6-1.75 %)
    assert row.loc["base", "r_w_at_paper_error_pct"] == pytest.approx(
        math.exp(math.log(2.9) + (1.8 - 2.2) / (1.75 - 2.2) * (math.log(6.3) - math.log(2.9))))
    assert math.isnan(row.loc["epochs300", "r_w_at_paper_error_pct"])
    assert row.loc["base", "r_w_at_paper_error_vs_base"] == pytest.approx(1.0)


def test_builder_end_to_end_writes_table_points_figure_and_provenance(tmp_path):
    runs = []
    for i, r in enumerate(_runs()):
        f = tmp_path / f"run{i}.json"
        f.write_text(json.dumps(r))
        runs.append(str(f))
    base = [{"benchmark": "lenet_300_100_mnist", "val": {"error": 0.017}, "test": {"error": 0.015}},
            {"benchmark": "all", "val": {"error": math.nan}, "test": {"error": 0.015}}]
    bfiles = []
    for i, b in enumerate(base):
        f = tmp_path / f"b{i}.json"
        f.write_text(json.dumps(b))
        bfiles.append(str(f))
    ref = tmp_path / "ref.csv"
    ref.write_text("method,r_w_pct,r_n_pct,error_pct,pruned_model\nVIBNet,3.59,16.98,1.6,97-71-33\n")
    out, pts, fig = tmp_path / "t.csv", tmp_path / "p.csv", tmp_path / "f.png"
    cfg = {"base_table": "table1", "base_label": LABELS["base"],
           "factors": {f: {"label": v} for f, v in LABELS.items() if f != "base"}}
    assert P.main(["--runs", *runs, "--baselines", *bfiles, "--reference", str(ref), "--tolerance", "0.2",
                   "--target-factor", "1.25", "--out", str(out), "--points-out", str(pts), "--figure", str(fig),
                   "--command", "snakemake results/vibnet/protocol_study.csv", "--config", json.dumps(cfg),
                   "--log", str(tmp_path / "log.txt")]) == 0
    summary = pd.read_csv(out)
    assert summary.set_index("factor").loc["base", "split_offset_pct"] == pytest.approx(0.2)
    assert len(pd.read_csv(pts)) == 6 and fig.stat().st_size > 0
    assert (tmp_path / "t.provenance.json").exists()


@pytest.mark.slow
def test_smoke_dag_runs_a_factor_without_validation_split(tmp_path, mnist_mirror):
    """Factor (b) through the DAG at smoke scale: its baseline keeps the last epoch (no validation split to
    select on), the VIBNet run has no validation metrics and reports its threshold sweep."""
    from conftest import snakemake

    target = "results/vibnet/runs/protocol_all_train/gamma0.001/seed0.json"
    rc, out = snakemake(tmp_path, "--cores", "2", "--config", "scale=smoke", f"mirror={mnist_mirror}",
                        f"data_root={tmp_path / 'data'}", "download=False", "--", target)
    assert rc == 0, out[-4000:]
    smoke = tmp_path / "smoke"
    rec = json.loads((smoke / target).read_text())
    assert rec["benchmark"] == "lenet_300_100_mnist_all_train" and rec["val"]["n"] == 0
    assert math.isnan(rec["val"]["error"]) and 0 <= rec["test"]["error"] < 1
    sweep = rec["method_report"]["threshold_sweep"]
    assert [s["threshold"] for s in sweep] == [-3, -2, -1, 0, 1, 2, 3]
    assert all(s["val_error"] is None for s in sweep)
    assert [s["weight_fraction"] for s in sweep] == sorted((s["weight_fraction"] for s in sweep), reverse=True)
    at_zero = sweep[3]
    assert at_zero["test_error"] == pytest.approx(rec["test_before_finetune"]["error"])
    assert at_zero["weight_fraction"] == pytest.approx(rec["metrics"]["r_w"])
    base = json.loads((smoke / "results" / "baselines" / "lenet_300_100_mnist_all_train" / "seed0.json").read_text())
    assert base["val"]["n"] == 0 and math.isnan(base["val"]["error"])
