"""Smoke-scale runs of the CIFAR and ImageNet baselines (which need a GPU or a cluster at paper scale)
through the same job entry points the DAG calls, on synthetic data written in the real on-disk formats."""
import numpy as np
import pytest

from benchmarks import config

from conftest import SMOKE_CFG as CFG
from conftest import train_and_evaluate as _run

CIFAR_BENCHMARKS = sorted(n for n, b in CFG["benchmarks"].items() if b["dataset"] in ("cifar10", "cifar100"))


@pytest.mark.parametrize("name", CIFAR_BENCHMARKS)
def test_cifar_benchmark_smoke(name, cifar_root, tmp_path):
    spec = config.resolve_benchmark(CFG, name, "smoke")
    spec["val_size"] = 50  # the synthetic training set has 300 images, not 50,000
    train, rec = _run(spec, cifar_root, tmp_path)
    assert len(train["history"]) == 1 and rec["test"]["n"] == 16
    assert 0.0 <= rec["test"]["error"] <= 1.0 and np.isfinite(rec["test"]["loss"])


def test_imagenet_style_benchmark_smoke(tmp_path):
    """The file-backed path (ImageFolder, DataLoader, per-sample transforms) at a 32-pixel smoke crop."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c, wnid in enumerate(["n01440764", "n01443537"]):
            d = tmp_path / "data" / "imagenet" / split / wnid
            d.mkdir(parents=True)
            for k in range(12):
                Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(d / f"{k}.JPEG")
    for name, protocol in (("resnet50_imagenet", None), ("resnet50_imagenet", "ibfs_finetune")):
        cfg = CFG if protocol is None else config.merge(CFG, {"benchmarks": {name: {"protocol": protocol}}})
        spec = config.resolve_benchmark(cfg, name, "smoke")
        spec["val_size"] = 4
        assert spec["model_params"]["pretrained"] is False  # no downloads at smoke scale
        train, rec = _run(spec, tmp_path / "data", tmp_path / (protocol or "eval"))
        assert len(train["history"]) == (0 if protocol is None else 1)
        assert rec["test"]["n"] == 16
