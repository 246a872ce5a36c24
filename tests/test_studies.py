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


def test_table1_takes_the_papers_study_benchmarks():
    """table1's rows: its own sweeps on `benchmarks`, and every in_table1 study on those or on
    `study_benchmarks` (aura's LeNet-5 at equal widths), never a study that does not ask for it."""
    from benchmarks import config, papers, table1

    cfg = config.load_config()
    assert table1.table_benchmarks(cfg) == [*cfg["table1"]["benchmarks"], "lenet5_hrel_mnist"]
    all_studies = [*table1.studies(cfg, "paper"), *papers.studies(cfg, "paper")]
    runs = table1.table_runs(cfg, all_studies)
    assert any("/aura/runs/lenet5-hrel-core/" in r for r in runs) and any("/aura/runs/lenet5-l1/" in r for r in runs)
    assert not any("lenet5-hrel-tracked" in r or "vgg16" in r for r in runs)
    none = config.merge(cfg, {"table1": {"study_benchmarks": []}})
    assert not any("/aura/" in r for r in table1.table_runs(none, all_studies))
    bad = config.merge(cfg, {"table1": {"study_benchmarks": ["nope"]}})
    with pytest.raises(config.ConfigError, match="table1.study_benchmarks"):
        config.validate(bad)
