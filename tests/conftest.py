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
