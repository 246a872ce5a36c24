"""Studies: one path scheme for every pruning run, parsed in one place; settings of numeric sweeps and of
named width sets; what the prune job gets; the run record's setting label."""
import pytest

from benchmarks.studies import Study, record_ratio, record_setting, registry


def test_numeric_sweep_paths_and_params():
    s = Study(owner="pruning", name="l1-lenet", method="l1", benchmark="b", sweep_param="ratio", values=[0.5, 0.7],
              seeds=[0, 1])
    assert s.settings() == ["ratio0.5", "ratio0.7"] and s.value_of("ratio0.7") == 0.7
    assert s.record("ratio0.5", 1) == "results/pruning/runs/l1-lenet/ratio0.5/seed1.json"
    assert s.model("ratio0.5", 1) == "runs/pruning/l1-lenet/ratio0.5/seed1/model.pt"
    assert s.target_ratio("ratio0.5") == 0.5 and s.target_widths("ratio0.5") is None
    assert s.method_params("ratio0.5") == {}  # the ratio is the target, not a method param
    g = Study(owner="vibnet", name="t1", method="vibnet", benchmark="b", sweep_param="gamma", values=[1e-4],
              seeds=[0], params={"a": 1}, inputs={"scores": "x/seed{seed}.pt"})
    assert g.settings() == ["gamma0.0001"] and g.target_ratio("gamma0.0001") == 0.0
    assert g.method_params("gamma0.0001", g.input_files(3)) == {"a": 1, "gamma": 0.0001, "scores": "x/seed3.pt"}
    with pytest.raises(ValueError, match="not one of its settings"):
        g.value_of("gamma0.5")


def test_named_width_sets():
    s = Study(owner="aura", name="lenet5-l1", method="l1", benchmark="b", sweep_param="widths",
              values=["paper", "code"], seeds=[0], widths={"paper": {"0": 2, "3": 3}, "code": {"0": 4, "3": 5}})
    assert s.settings() == ["widths-paper", "widths-code"]
    assert s.target_widths("widths-code") == {"0": 4, "3": 5} and s.target_ratio("widths-code") == 0.0
    assert s.context("widths-paper")["sweep_value"] == "paper"
    rec = {"study": s.context("widths-paper"), "target": {"ratio": 0.0}}
    assert record_setting(rec) == "widths=paper" and record_ratio(rec) is None
    with pytest.raises(ValueError, match="named values with their widths"):
        Study(owner="aura", name="x", method="l1", benchmark="b", sweep_param="widths", values=["nope"], seeds=[0])


def test_old_records_and_duplicates():
    assert record_setting({"setting": "gamma=0.001", "target": {"ratio": 0.0}}) == "gamma=0.001"
    assert record_ratio({"target": {"ratio": 0.5}}) == 0.5
    a = Study(owner="o", name="n", method="l1", benchmark="b", sweep_param="ratio", values=[0.5], seeds=[0])
    with pytest.raises(ValueError, match="defined twice"):
        registry([a], [a])
