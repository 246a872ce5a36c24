"""Smoke-scale runs of the CIFAR and ImageNet baselines (which need a GPU or a cluster at paper scale)
through the same job entry points the DAG calls, on synthetic data written in the real on-disk formats."""
import dataclasses
import hashlib
import pickle
import tarfile

import numpy as np
import pytest

from benchmarks import checkpoint, config, datasets, jobs

from conftest import REPO  # noqa: F401  (puts tests/ on the path for the shared fixtures)

CFG = config.load_config(overrides={"smoke": {"max_train": 48, "max_val": 16, "max_test": 16, "epochs": 1,
                                              "seeds": [0], "image_size": 32}})
CIFAR_BENCHMARKS = sorted(n for n, b in CFG["benchmarks"].items() if b["dataset"] in ("cifar10", "cifar100"))


def _cifar_archive(tmp_path, name):
    """A CIFAR python-pickle tarball of random images (real layout: rows of 3072 bytes, R then G then B)."""
    rng = np.random.default_rng(0)
    top, files, key, classes = {
        "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], b"labels", 10),
        "cifar100": ("cifar-100-python", ["train", "test"], b"fine_labels", 100)}[name]
    src = tmp_path / "src" / top
    src.mkdir(parents=True)
    for f in files:
        n = 60
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), key: rng.integers(0, classes, n).tolist()}
        (src / f).write_bytes(pickle.dumps(batch, protocol=2))
    archive = tmp_path / "mirror" / datasets.get(name).archives[0].filename
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(src, arcname=top)
    return archive


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cifar")
    mp = pytest.MonkeyPatch()
    for name in ("cifar10", "cifar100"):
        spec = datasets.get(name)
        archive = _cifar_archive(tmp, name)
        md5 = hashlib.md5(archive.read_bytes()).hexdigest()
        mp.setattr(spec, "archives", (dataclasses.replace(spec.archives[0], md5=md5),))
        datasets.prepare(name, tmp / "data", mirror=tmp / "mirror", download=False)
    yield tmp / "data"
    mp.undo()


def _run(spec, root, tmp_path):
    train = jobs.train(spec, 0, root, tmp_path / "model.pt", tmp_path / "train.json")
    rec = jobs.evaluate(spec, root, tmp_path / "model.pt", tmp_path / "train.json", tmp_path / "seed0.json")
    model, ckpt = checkpoint.load_model(tmp_path / "model.pt")
    assert ckpt["arch"]["model"] == spec["model"]
    return train, rec


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


VIBNET_CIFAR_TABLES = sorted(t for t, s in CFG["vibnet"]["tables"].items()
                             if CFG["benchmarks"][s["benchmark"]]["dataset"].startswith("cifar"))


@pytest.mark.parametrize("table", VIBNET_CIFAR_TABLES)
def test_vibnet_cifar_protocol_smoke(table, cifar_root, tmp_path):
    """Each VIBNet Table 3/4 protocol end to end (pretrained baseline -> IB training -> folding and
    physical pruning -> fine-tuning -> metrics) at smoke scale, as the DAG's vibnet_run job calls it."""
    t = CFG["vibnet"]["tables"][table]
    spec = config.resolve_benchmark(CFG, t["benchmark"], "smoke")
    spec["val_size"] = 50
    _run(spec, cifar_root, tmp_path)  # the "pretrained" baseline these protocols start from
    ((param, values),) = t["sweep"].items()
    params = {**t["params"], param: values[0], "protocol": config.finetune_protocol(CFG, t["protocol"], "smoke")}
    rec = jobs.prune(spec, 0, cifar_root, tmp_path / "model.pt", tmp_path / "seed0.json", "vibnet", params, 0.0,
                     "per_layer", config.finetune_protocol(CFG, t.get("finetune"), "smoke"), tmp_path / "vib.pt",
                     tmp_path / "vib.json")
    assert rec["method"] == "vibnet" and rec["setting"] == f"{param}={values[0]:g}"
    assert 0 < rec["metrics"]["r_w"] <= 1 and rec["test"]["n"] == 16
    model, ckpt = checkpoint.load_model(tmp_path / "vib.pt")
    assert "widths" in ckpt["arch"]


MINT_GPU_VARIANTS = ["vgg16", "resnet56"]


def _mint_smoke(variant, root, tmp_path, spec):
    """A MINT variant as the DAG runs it: scoring split into two chunk jobs, merge, prune + retrain."""
    from benchmarks import mint_jobs

    v = config.mint_variant(CFG, variant, "smoke")
    score_params = {k: v["params"][k] for k in ("groups", "pair_groups", "samples_per_class", "hook", "skip", "only")
                    if k in v["params"]}
    chunks = [mint_jobs.score(spec, root, tmp_path / "model.pt", {**score_params, "seed": 0}, k, 2,
                              tmp_path / f"chunk{k}.pt", 1) for k in range(2)]
    assert sum(c["n_estimates"] for c in chunks) > 0
    mint_jobs.merge([tmp_path / f"chunk{k}.pt" for k in range(2)], tmp_path / "scores.pt", tmp_path / "perf.json")
    params = {**v["params"], "prune_percent": v["prune_percents"][0], "seed": 0, "scores": str(tmp_path / "scores.pt")}
    out = tmp_path / "results" / "mint" / "runs" / variant / f"p{v['prune_percents'][0]:g}" / "seed0.json"
    rec = jobs.prune(spec, 0, root, tmp_path / "model.pt", tmp_path / "seed0.json", "mint", params, 0.0, "per_layer",
                     config.finetune_protocol(CFG, v["retrain"], "smoke"), tmp_path / "mint.pt", out)
    assert rec["method"] == "mint" and rec["test"]["n"] == 16
    rep = rec["method_report"]
    skipped = set(v["params"].get("skip", []))
    assert rep["pairs"] and not any(p.split("->")[1] in skipped for p in rep["pairs"])
    if "only" in v["params"]:
        assert [p.split("->")[1] for p in rep["pairs"]] == v["params"]["only"]
    model, ckpt = checkpoint.load_model(tmp_path / "mint.pt")
    assert "widths" in ckpt["arch"]
    return rec


@pytest.mark.parametrize("variant", MINT_GPU_VARIANTS)
def test_mint_cifar_variant_smoke(variant, cifar_root, tmp_path):
    """MINT's VGG-16 and ResNet-56 CIFAR-10 rows end to end at smoke scale on synthetic CIFAR files."""
    spec = config.resolve_benchmark(CFG, config.mint_variant(CFG, variant, "smoke")["benchmark"], "smoke")
    spec["val_size"] = 50
    _run(spec, cifar_root, tmp_path)
    _mint_smoke(variant, cifar_root, tmp_path, spec)
    if variant == "resnet56":  # Fig. 7 is drawn from the ResNet-56 row
        from benchmarks import mint_tables

        run = next((tmp_path / "results" / "mint" / "runs").glob("resnet56/p*/seed0.json"))
        fig = tmp_path / "fig7.png"
        mint_tables.gradcam_figure(spec, cifar_root, [str(run)], [str(tmp_path / "seed0.json")],
                                   [str(tmp_path / "mint.pt")], [str(tmp_path / "model.pt")], 0.12,
                                   CFG["mint"]["figures"]["gradcam"]["layer"], 3, fig)
        assert fig.stat().st_size > 5_000


def test_mint_imagenet_variant_smoke(tmp_path):
    """MINT's ResNet-50 ILSVRC2012 row at smoke scale on ImageFolder files (5 images per class scored)."""
    from PIL import Image

    rng = np.random.default_rng(1)
    for split in ("train", "val"):
        for wnid in ["n01440764", "n01443537"]:
            d = tmp_path / "data" / "imagenet" / split / wnid
            d.mkdir(parents=True)
            for k in range(12):
                Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(d / f"{k}.JPEG")
    spec = config.resolve_benchmark(CFG, "resnet50_imagenet", "smoke")
    spec["val_size"] = 4
    _run(spec, tmp_path / "data", tmp_path)
    rec = _mint_smoke("resnet50", tmp_path / "data", tmp_path, spec)
    assert "layer4.2.conv3->fc" not in rec["method_report"]["pairs"]
