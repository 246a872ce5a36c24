import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent


def find_mnist_mirror() -> Path | None:
    """The folder holding MNIST/raw/*.gz: env IBBENCH_MIRROR, else ../shared/datasets beside the repo."""
    for cand in (os.environ.get("IBBENCH_MIRROR"), REPO.parent / "shared" / "datasets"):
        if cand and (Path(cand) / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").exists():
            return Path(cand)
    return None


@pytest.fixture(scope="session")
def mnist_mirror() -> Path:
    m = find_mnist_mirror()
    if m is None:
        msg = ("the MNIST archives were not found (set IBBENCH_MIRROR to a folder holding "
               "MNIST/raw/*-ubyte.gz, or put ../shared/datasets beside the repository)")
        if os.environ.get("CI"):
            pytest.fail(msg)  # CI always has them: their absence is a broken setup, not a skip
        pytest.skip(msg)
    return m


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory, mnist_mirror) -> Path:
    """A data root with MNIST prepared from the mirror (shared by the tests of one session)."""
    from benchmarks import datasets

    root = tmp_path_factory.mktemp("data")
    datasets.prepare("mnist", root, mirror=mnist_mirror, download=False)
    return root


@pytest.fixture(autouse=True)
def _one_thread():
    # The suite runs on 2 cores; keep each test on one thread so timings and runs are predictable.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def assert_same_table(new, committed, rtol: float = 1e-9) -> None:
    """Two result CSVs hold the same rows and numbers (floats to ``rtol``; text exactly)."""
    import numpy as np
    import pandas as pd

    a, b = pd.read_csv(new), pd.read_csv(committed)
    assert list(a.columns) == list(b.columns), f"{committed}: columns {list(a.columns)} != {list(b.columns)}"
    assert len(a) == len(b), f"{committed}: {len(a)} rows rebuilt, {len(b)} committed"
    for c in a.columns:
        x, y = a[c], b[c]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            assert np.allclose(x.to_numpy(float), y.to_numpy(float), rtol=rtol, atol=1e-12, equal_nan=True), \
                f"{committed}: column {c!r} differs:\n{pd.concat([x, y], axis=1)}"
        else:
            assert x.fillna("").astype(str).tolist() == y.fillna("").astype(str).tolist(), \
                f"{committed}: column {c!r} differs"


def committed_config(*overlays: str) -> dict:
    """The configuration the committed paper-scale results were built with (the CPU overlays named)."""
    import yaml

    from benchmarks import config

    over: dict = {}
    for name in overlays:
        over = config.merge(over, yaml.safe_load((REPO / "config" / name).read_text()))
    return config.load_config(overrides=over)


def committed_studies(cfg: dict) -> dict:
    from benchmarks import papers, studies, table1

    return studies.registry(table1.studies(cfg, "paper"), papers.studies(cfg, "paper"))


# ---------------------------------------------------------------- smoke runs of GPU-scale benchmarks
# A smoke scale smaller still than the configured one: CIFAR/ImageNet benchmarks run one epoch on a few
# dozen synthetic images in the real on-disk formats (shared by the baseline and paper smoke tests).
SMOKE_OVERRIDES = {"smoke": {"max_train": 48, "max_val": 16, "max_test": 16, "epochs": 1, "seeds": [0],
                             "image_size": 32}}


def _smoke_cfg():
    from benchmarks import config

    return config.load_config(overrides=SMOKE_OVERRIDES)


SMOKE_CFG = _smoke_cfg()


def _cifar_archive(tmp_path, name):
    """A CIFAR python-pickle tarball of random images (real layout: rows of 3072 bytes, R then G then B)."""
    import pickle
    import tarfile

    import numpy as np

    from benchmarks import datasets

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


# module scope: the md5 of the real archives is patched for the synthetic ones while a module uses them
@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    import dataclasses
    import hashlib

    from benchmarks import datasets

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


def train_and_evaluate(spec, root, tmp_path):
    """The baseline jobs of the DAG (train, evaluate) for one resolved benchmark, seed 0."""
    from benchmarks import checkpoint, jobs

    train = jobs.train(spec, 0, root, tmp_path / "model.pt", tmp_path / "train.json")
    rec = jobs.evaluate(spec, root, tmp_path / "model.pt", tmp_path / "train.json", tmp_path / "seed0.json")
    model, ckpt = checkpoint.load_model(tmp_path / "model.pt")
    assert ckpt["arch"]["model"] == spec["model"]
    return train, rec




def run_study(study, root, tmp_path, spec, inputs=None, out=None):
    """One run of a study (its first setting, seed 0) through the job entry point, with the arguments the
    DAG's `prune` rule passes; the baseline is the one ``train_and_evaluate`` left in ``tmp_path``."""
    from benchmarks import jobs

    setting = study.settings()[0]
    return jobs.prune(spec, 0, root, tmp_path / "model.pt", tmp_path / "seed0.json", study.method,
                      study.method_params(setting, inputs), study.target_ratio(setting), study.scope, study.finetune,
                      tmp_path / f"{study.name}.pt", out or tmp_path / f"{study.name}.json", study.context(setting),
                      study.target_widths(setting))


def snakemake(workdir, *args, timeout=900):
    """Run the workflow of this repository in ``workdir``; (return code, stdout + stderr)."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr
