"""aura's GPU-scale rows end to end at smoke scale on synthetic CIFAR files, as the DAG's `prune` rule runs
the studies: VGG-16 (HRel's head, Table 1, aura) and ResNet-56 (Table 2, HRel, the block-inner convs to
8-15-30), rounds of scoring -> physical removal -> fine-tuning, the last round through the pipeline."""
import pytest

from benchmarks import checkpoint, config
from benchmarks.papers import aura

from conftest import SMOKE_CFG as CFG
from conftest import run_study, train_and_evaluate

STUDIES = {s.name: s for s in aura.studies(CFG, "smoke")}


@pytest.mark.parametrize("name,widths", [("vgg16-aura", "19-48-64-64-95-107-107-175-71-71-44-44-56-512"),
                                         ("resnet56-hrel", None)])
def test_cifar_study_smoke(name, widths, cifar_root, tmp_path):
    study = STUDIES[name]
    spec = config.resolve_benchmark(CFG, study.benchmark, "smoke")
    spec["val_size"] = 50
    train_and_evaluate(spec, cifar_root, tmp_path)
    rec = run_study(study, cifar_root, tmp_path, spec)
    assert rec["method"] == study.method and rec["study"]["name"] == name and rec["test"]["n"] == 16
    rep = rec["method_report"]
    assert rep["rounds"] >= 2 and len(rep["history"]) == rep["rounds"]
    if widths:
        assert rec["pruned_architecture"] == widths
    else:  # every block-inner conv at its stage's width, the residual streams untouched
        for stage, width in ((1, 8), (2, 15), (3, 30)):
            assert {rec["widths"][f"layer{stage}.{b}.conv1"] for b in range(9)} == {width}
        assert rec["widths"]["conv1"] == 16
    model, ckpt = checkpoint.load_model(tmp_path / f"{name}.pt")
    assert "widths" in ckpt["arch"]
