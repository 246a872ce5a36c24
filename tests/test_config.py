"""Configuration validation: a wrong key, type or value stops the run before any job, naming the key
and what is allowed."""
import copy
import subprocess
import sys

import pytest
import yaml

from benchmarks import config as C

from conftest import REPO


@pytest.fixture(scope="module")
def cfg():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_shipped_config_is_valid(cfg):
    C.validate_schema(cfg)
    C.check_references(cfg)


@pytest.mark.parametrize("overlay", ["mint_mnist_only.yaml", "vibnet_table2_cpu.yaml"])
def test_shipped_overlays_merge_into_a_valid_config(cfg, overlay):
    merged = C.merge(cfg, yaml.safe_load((REPO / "config" / overlay).read_text()))
    C.validate_schema(merged)
    C.check_references(merged)
    assert merged != cfg


@pytest.mark.parametrize("path,value,expect", [
    (("protocols", "lenet_mnist", "lr"), "fast", r"protocols\.lenet_mnist\.lr.*not of type.*number"),
    (("protocols", "lenet_mnist", "optimizer"), "rmsprop", r"protocols\.lenet_mnist\.optimizer.*allowed: sgd, adam"),
    (("scale",), "huge", r"'scale'.*allowed: paper, smoke"),
    (("benchmarks", "lenet5_caffe_mnist", "seeds"), [0, 0], r"benchmarks\.lenet5_caffe_mnist\.seeds"),
    (("smoke", "epochs"), -1, r"smoke\.epochs"),
    (("protocols", "lenet_mnist", "batch_size"), 1.5, r"protocols\.lenet_mnist\.batch_size.*integer"),
])
def test_schema_errors_name_the_key(cfg, path, value, expect):
    bad = copy.deepcopy(cfg)
    node = bad
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    with pytest.raises(C.ConfigError, match=expect):
        C.validate_schema(bad)


def test_unknown_key_rejected(cfg):
    bad = copy.deepcopy(cfg)
    bad["protocols"]["lenet_mnist"]["learning_rate"] = 0.1
    with pytest.raises(C.ConfigError, match=r"protocols\.lenet_mnist.*learning_rate"):
        C.validate_schema(bad)


@pytest.mark.parametrize("mutate,expect", [
    (lambda c: c["benchmarks"]["lenet5_caffe_mnist"].update(protocol="nope"), r"benchmarks\.lenet5_caffe_mnist\.protocol.*'nope'"),
    (lambda c: c["benchmarks"]["lenet5_caffe_mnist"].update(dataset="svhn"), r"'svhn' is not a dataset.*available: .*mnist"),
    (lambda c: c["benchmarks"]["lenet5_caffe_mnist"].update(model="alexnet"), r"'alexnet' is not a model"),
    (lambda c: c["baseline_summary"].append("ghost"), r"baseline_summary.*'ghost'"),
    (lambda c: c["protocols"]["lenet_mnist"].update(schedule={"type": "step"}), r"needs 'step_size'"),
    (lambda c: c["protocols"]["lenet_mnist"].update(schedule={"type": "multistep", "milestones": [30, 20]}), r"must increase"),
])
def test_reference_errors(cfg, mutate, expect):
    bad = copy.deepcopy(cfg)
    mutate(bad)
    with pytest.raises(C.ConfigError, match=expect):
        C.check_references(bad)


def test_smoke_resolution_shrinks_but_keeps_protocol(cfg):
    paper = C.resolve_benchmark(cfg, "vgg16_mint_cifar10", "paper")
    smoke = C.resolve_benchmark(cfg, "vgg16_mint_cifar10", "smoke")
    assert paper["protocol"]["epochs"] == 300 and paper["max_train"] is None
    assert smoke["protocol"]["epochs"] == cfg["smoke"]["epochs"]
    assert smoke["max_train"] == cfg["smoke"]["max_train"] and smoke["seeds"] == cfg["smoke"]["seeds"]
    assert smoke["protocol"]["optimizer"] == paper["protocol"]["optimizer"] == "sgd"
    assert smoke["protocol"]["schedule"]["milestones"] == sorted(smoke["protocol"]["schedule"]["milestones"])
    assert all(1 <= m <= smoke["protocol"]["epochs"] for m in smoke["protocol"]["schedule"]["milestones"])
    assert C.resolve_benchmark(cfg, "resnet50_imagenet", "smoke")["model_params"]["pretrained"] is False
    with pytest.raises(C.ConfigError, match="unknown benchmark 'nope'"):
        C.resolve_benchmark(cfg, "nope")


def test_snakemake_stops_before_any_job(tmp_path):
    """A bad value given on the command line fails at workflow start, naming the key."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                           "-n", "--config", "scale=huge"], capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "scale" in proc.stdout + proc.stderr and "paper" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "runs").exists()


def test_slurm_profile_names_only_rules_of_the_workflow():
    """A misspelt rule in the profile's set-resources would be silently ignored by Snakemake."""
    import re
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    sources = [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]
    rules = {m for p in sources for m in re.findall(r"^rule (\w+):", p.read_text(), flags=re.M)}
    assert profile["executor"] == "slurm"
    unknown = set(profile["set-resources"]) - rules
    assert not unknown, f"profiles/slurm/config.yaml sets resources for unknown rules {sorted(unknown)}"
    # the aggregation steps stay off the GPU partition
    for rule in ("table1", "vibnet_table", "mint_scores", "mint_table1", "mint_ablation"):
        assert profile["set-resources"][rule]["slurm_partition"] == "cpu"
