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
    from benchmarks import papers

    full = C.add_paper_sections(copy.deepcopy(cfg))
    C.validate(full)
    papers.check(full)
    assert set(cfg["papers"]) <= set(full) and all(k not in cfg for k in cfg["papers"])


@pytest.mark.parametrize("overlay", ["mint_mnist_only.yaml", "vibnet_table2_cpu.yaml"])
def test_shipped_overlays_override_the_paper_settings(overlay):
    over = yaml.safe_load((REPO / "config" / overlay).read_text())
    merged = C.load_config(overrides=over)
    plain = C.load_config()
    assert merged != plain
    # the overlay wins over the paper's file, the rest of the paper's settings stay
    ((key, section),) = over.items()
    assert C.merge(plain[key], section) == merged[key]


def test_every_paper_has_its_home():
    """A listed paper has its settings, schema, rules, package and tests; nothing else names it."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    snakefile = (REPO / "Snakefile").read_text()
    for key in cfg["papers"]:
        for path in (f"config/papers/{key}.yaml", f"config/papers/{key}.schema.yaml", f"rules/papers/{key}.smk",
                     f"benchmarks/papers/{key}/__init__.py", f"benchmarks/papers/{key}/README.md", f"tests/papers/{key}"):
            assert (REPO / path).exists(), path
        assert f'include: "rules/papers/{key}.smk"' in snakefile


def test_paper_settings_errors_name_the_paper_key():
    with pytest.raises(C.ConfigError, match=r"config key 'mint\.variants\.mlp\.params\.groups'.*integer"):
        C.load_config(overrides={"mint": {"variants": {"mlp": {"params": {"groups": "many"}}}}})
    with pytest.raises(C.ConfigError, match=r"vibnet\.tables\.table1.*gamma_typo"):
        C.load_config(overrides={"vibnet": {"tables": {"table1": {"sweep": {"gamma_typo": [1.0]}}}}})
    with pytest.raises(C.ConfigError, match=r"'ghost' has no settings file"):
        C.load_config(overrides={"papers": ["vibnet", "ghost"]})


def test_paper_cross_references_are_checked():
    from benchmarks import papers

    cfg = C.load_config(overrides={"mint": {"figures": {"characterize": "nope"}},
                                   "vibnet": {"tables": {"table1": {"benchmark": "ghost_bench"}}}})
    with pytest.raises(C.ConfigError) as err:
        papers.check(cfg)
    assert "mint.figures.characterize" in str(err.value) and "vibnet.tables.table1.benchmark" in str(err.value)


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
    (lambda c: c["protocols"]["lenet_mnist"].update(lr=0.0), r"protocols\.lenet_mnist\.lr.*trains nothing"),
    (lambda c: c["protocols"]["lenet_mnist"].update(epochs=0), r"lenet5_caffe_mnist\.protocol.*untrained network"),
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
    sources = [REPO / "Snakefile", *sorted((REPO / "rules").rglob("*.smk"))]
    text = {p: p.read_text() for p in sources}
    rules = {m for t in text.values() for m in re.findall(r"^rule (\w+):", t, flags=re.M)}
    assert profile["executor"] == "slurm"
    unknown = set(profile["set-resources"]) - rules
    assert not unknown, f"profiles/slurm/config.yaml sets resources for unknown rules {sorted(unknown)}"
    # aggregation steps (tables, figures from records, the merge of score chunks) run on the submitting
    # host, not as cluster jobs: they declare it themselves, so a paper's rules need no profile entry
    for rule in ("table1", "vibnet_table", "mint_scores", "mint_table1", "mint_ablation"):
        body = next(t.split(f"rule {rule}:", 1)[1].split("\nrule ", 1)[0] for t in text.values() if f"rule {rule}:" in t)
        assert "localrule: True" in body, rule


def test_loading_the_config_does_not_import_the_model_zoo():
    """Every Snakemake start loads the config; torchvision's model zoo (seconds) waits until a model is built."""
    import subprocess
    import sys

    code = ("import sys; from benchmarks import config; config.load_config(); "
            "print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
