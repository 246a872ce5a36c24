"""Each VIBNet Table 3/4 protocol (CIFAR, a GPU at paper scale) end to end at smoke scale on synthetic CIFAR
files: pretrained baseline -> IB training -> folding and physical pruning -> fine-tuning -> metrics, as the
DAG's `prune` rule runs the study."""
import pytest

from benchmarks import checkpoint, config
from benchmarks.papers import vibnet

from conftest import SMOKE_CFG as CFG
from conftest import run_study, train_and_evaluate

STUDIES = {s.name: s for s in vibnet.studies(CFG, "smoke")}
CIFAR_TABLES = sorted(n for n, s in STUDIES.items() if CFG["benchmarks"][s.benchmark]["dataset"].startswith("cifar"))


@pytest.mark.parametrize("table", CIFAR_TABLES)
def test_vibnet_cifar_protocol_smoke(table, cifar_root, tmp_path):
    study = STUDIES[table]
    spec = config.resolve_benchmark(CFG, study.benchmark, "smoke")
    spec["val_size"] = 50
    train_and_evaluate(spec, cifar_root, tmp_path)  # the "pretrained" baseline these protocols start from
    rec = run_study(study, cifar_root, tmp_path, spec)
    assert rec["method"] == "vibnet" and rec["setting"] == f"{study.sweep_param}={study.values[0]:g}"
    assert rec["study"]["name"] == table and rec["starts_from"] == "trained baseline"
    assert 0 < rec["metrics"]["r_w"] <= 1 and rec["test"]["n"] == 16
    model, ckpt = checkpoint.load_model(tmp_path / f"{table}.pt")
    assert "widths" in ckpt["arch"]
