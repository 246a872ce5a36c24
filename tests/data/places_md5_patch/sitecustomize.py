"""Test support only. Python imports this at start-up when its folder is on PYTHONPATH, which the
ImageNet-style smoke DAG test (tests/papers/ibfs/test_ibfs_smoke_imagenet.py) does for the Snakemake jobs
it starts: torchvision checks the md5 of Places365's devkit files every time it reads the dataset, and
the synthetic devkit that test writes has its own md5s. The test process patches torchvision's table with
monkeypatch; this gives its job subprocesses the same table, read from the JSON file that
IBBENCH_TEST_PLACES_META names. Without that variable it does nothing."""
import json
import os

_path = os.environ.get("IBBENCH_TEST_PLACES_META")
if _path:
    with open(_path) as _fh:
        _meta = json.load(_fh)
    from torchvision.datasets import Places365

    Places365._CATEGORIES_META = tuple(_meta["categories"])
    Places365._FILE_LIST_META = {k: tuple(v) for k, v in _meta["file_lists"].items()}
