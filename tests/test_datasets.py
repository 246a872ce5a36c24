"""Dataset loaders on tiny files written here in each dataset's real on-disk format.

Every archive goes through ``prepare`` with a mirror folder, so the checksum path is exercised; the
official md5s are monkeypatched to those of the generated files. Sections: mnist / fashion_mnist,
CIFAR, ImageNet, CUB-200, Places365, PASCAL-Part, ibfs binary tasks, load_splits.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

import benchmarks.datasets as D
from benchmarks.datasets import cifar, cub200, ibfs_tasks, places365, voc_part
from benchmarks.datasets.base import IMAGENET_MEAN, IMAGENET_STD, DatasetError, DatasetInfo

torch.set_num_threads(1)


# --- helpers ------------------------------------------------------------------------------------------

def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def make_tar(path: Path, src: Path, mode: str = "w:gz") -> Path:
    """Archive every top-level entry of ``src`` under its own name (like the official archives)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as tf:
        for entry in sorted(src.iterdir()):
            tf.add(entry, arcname=entry.name)
    return path


def jpeg(path: Path, color, size=(12, 10), box=None, box_color=None) -> Path:
    """A solid-colour JPEG (W, H = size), optionally with a rectangle ``box`` of another colour."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.new("RGB", size, color)
    if box is not None:
        im.paste(Image.new("RGB", (box[2] - box[0], box[3] - box[1]), box_color), box[:2])
    im.save(path, quality=100, subsampling=0)  # no chroma subsampling: colours stay exact at box edges
    return path


def patch_md5(monkeypatch, spec, **md5s):
    """Replace the md5 of ``spec``'s archives by filename (keyword: the filename with . and - as _)."""
    key = lambda f: f.replace(".", "_").replace("-", "_")
    new = tuple(dataclasses.replace(a, md5=md5s.get(key(a.filename), a.md5)) for a in spec.archives)
    monkeypatch.setattr(spec, "archives", new)


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def expected_pixel(rgb, info: DatasetInfo) -> torch.Tensor:
    return (torch.tensor(rgb, dtype=torch.float32) / 255 - torch.tensor(info.mean)) / torch.tensor(info.std)


# --- mnist / fashion_mnist (IDX) ------------------------------------------------------------------------

def idx_bytes(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_idx_datasets_through_mirror(tmp_path, monkeypatch, name):
    spec = D.get(name)
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (7, 28, 28)), "train-labels-idx1-ubyte": np.arange(7) % 10,
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28)), "t10k-labels-idx1-ubyte": np.array([9, 0, 4])}
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    md5s = {}
    for f, arr in arrays.items():
        (mirror / f"{f}.gz").write_bytes(gzip.compress(idx_bytes(arr)))
        md5s[f"{f}.gz"] = md5(mirror / f"{f}.gz")
    monkeypatch.setattr(spec, "archives", tuple(dataclasses.replace(a, md5=md5s[a.filename]) for a in spec.archives))
    D.prepare(name, tmp_path / "data", mirror=mirror, download=False)
    train, test = (spec.load(tmp_path / "data", s) for s in ("train", "test"))
    assert train.images.shape == (7, 1, 28, 28) and test.images.shape == (3, 1, 28, 28)
    assert torch.equal(train.images[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte"].astype(np.uint8)))
    assert test.labels.tolist() == [9, 0, 4]


# --- CIFAR ----------------------------------------------------------------------------------------------

CIFAR_LAYOUT = {  # name -> (top folder, {file: number of images}, label key)
    "cifar10": ("cifar-10-batches-py", {**{f"data_batch_{i}": 2 for i in range(1, 6)}, "test_batch": 3}, b"labels"),
    "cifar100": ("cifar-100-python", {"train": 10, "test": 3}, b"fine_labels"),
}


def cifar_rows(n: int, offset: int) -> np.ndarray:
    """Image k (global index offset + k) has red channel value k everywhere and one marked pixel."""
    rows = np.zeros((n, 3072), np.uint8)
    for k in range(n):
        rows[k, :1024] = offset + k
        rows[k, 1024 + 32 * 2 + 5] = 200  # green channel at (y=2, x=5)
    return rows


def write_cifar(tmp_path: Path, name: str, corrupt: str = "") -> Path:
    top, files, key = CIFAR_LAYOUT[name]
    src = tmp_path / f"src-{name}"
    folder = src / top
    folder.mkdir(parents=True)
    offset = 0
    for f, n in files.items():
        batch = {b"batch_label": f.encode(), b"data": cifar_rows(n, offset), key: [(offset + k) % 7 for k in range(n)]}
        if name == "cifar100":
            batch[b"coarse_labels"] = [0] * n
        data = pickle.dumps(batch, protocol=2)
        if corrupt == f:
            data = data[: len(data) // 2]
        (folder / f).write_bytes(data)
        offset += n
    (folder / ("batches.meta" if name == "cifar10" else "meta")).write_bytes(pickle.dumps({}))
    return make_tar(tmp_path / "mirror" / CIFAR_LAYOUT_ARCHIVE[name], src)


CIFAR_LAYOUT_ARCHIVE = {"cifar10": "cifar-10-python.tar.gz", "cifar100": "cifar-100-python.tar.gz"}


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_prepare_and_load(tmp_path, monkeypatch, name):
    spec = D.get(name)
    archive = write_cifar(tmp_path, name)
    monkeypatch.setattr(spec, "archives", (dataclasses.replace(spec.archives[0], md5=md5(archive)),))
    root = D.prepare(name, tmp_path / "data", mirror=tmp_path / "mirror", download=False)
    assert (root / CIFAR_LAYOUT[name][0]).is_dir()
    train, test = spec.load(tmp_path / "data", "train"), spec.load(tmp_path / "data", "test")
    n_train = sum(CIFAR_LAYOUT[name][1].values()) - 3
    assert train.images.shape == (n_train, 3, 32, 32) and train.images.dtype == torch.uint8
    assert test.images.shape == (3, 3, 32, 32)
    # Row layout -> (C, H, W): red plane is the global index, green (2, 5) the mark, nothing else set.
    assert train.images[:, 0, 31, 31].tolist() == list(range(n_train))
    assert test.images[:, 0, 0, 0].tolist() == [n_train, n_train + 1, n_train + 2]
    assert (train.images[:, 1, 2, 5] == 200).all() and int(train.images[:, 1].sum()) == 200 * n_train
    assert int(train.images[:, 2].sum()) == 0
    assert train.labels.tolist() == [k % 7 for k in range(n_train)]
    # prepare is idempotent and reuses the verified archive in the data root
    D.prepare(name, tmp_path / "data", mirror=None, download=False)


def test_cifar_corrupt_pickle_names_file(tmp_path, monkeypatch):
    """A batch that is corrupt inside the (md5-matching) archive fails the preparation, naming it; a batch
    left truncated after a good extraction is extracted again from the archive."""
    spec = cifar.CIFAR10
    archive = write_cifar(tmp_path, "cifar10", corrupt="data_batch_3")
    monkeypatch.setattr(spec, "archives", (dataclasses.replace(spec.archives[0], md5=md5(archive)),))
    with pytest.raises(DatasetError, match="data_batch_3.*md5-verified cifar-10-python.tar.gz.*corrupt pickle"):
        spec.prepare(tmp_path / "data", mirror=tmp_path / "mirror", download=False)
    with pytest.raises(DatasetError, match="data_batch_3.*corrupt pickle"):
        spec.load(tmp_path / "data", "train")
    spec.load(tmp_path / "data", "test")  # the intact batch still loads


def test_cifar_truncated_extracted_batch_is_extracted_again(tmp_path, monkeypatch):
    spec = cifar.CIFAR10
    archive = write_cifar(tmp_path, "cifar10")
    monkeypatch.setattr(spec, "archives", (dataclasses.replace(spec.archives[0], md5=md5(archive)),))
    spec.prepare(tmp_path / "data", mirror=tmp_path / "mirror", download=False)
    batch = spec.root(tmp_path / "data") / "cifar-10-batches-py" / "data_batch_2"
    intact = batch.read_bytes()
    batch.write_bytes(intact[:100])  # an interrupted copy; the folder still looks extracted
    spec.prepare(tmp_path / "data", mirror=None, download=False)
    assert batch.read_bytes() == intact
    assert spec.load(tmp_path / "data", "train").images.shape[0] > 0


def test_cifar_bad_batch_shape(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(DatasetError, match=r"test_batch.*uint8 \(N, 3072\)"):
        cifar.read_batch(path, "labels", 10)
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}))
    with pytest.raises(DatasetError, match="expected 0..9"):
        cifar.read_batch(path, "labels", 10)


def test_corrupt_archive_leaves_nothing(tmp_path, monkeypatch):
    spec = cifar.CIFAR10
    archive = write_cifar(tmp_path, "cifar10")
    good = md5(archive)
    monkeypatch.setattr(spec, "archives", (dataclasses.replace(spec.archives[0], md5=good),))
    archive.write_bytes(archive.read_bytes()[:-10] + b"0123456789")  # same size, different content
    with pytest.raises(DatasetError) as err:
        spec.prepare(tmp_path / "data", mirror=tmp_path / "mirror", download=False)
    assert "cifar-10-python.tar.gz" in str(err.value) and good in str(err.value)
    assert files_under(tmp_path / "data") in ([], ["CIFAR10"])  # at most the empty dataset folder


def test_truncated_archive_with_matching_md5_extracts_nothing(tmp_path, monkeypatch):
    spec = cifar.CIFAR10
    archive = write_cifar(tmp_path, "cifar10")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    monkeypatch.setattr(spec, "archives", (dataclasses.replace(spec.archives[0], md5=md5(archive)),))
    with pytest.raises(DatasetError, match="cannot extract .*cifar-10-python.tar.gz"):
        spec.prepare(tmp_path / "data", mirror=tmp_path / "mirror", download=False)
    # only the (checksum-verified) archive itself; no extracted or temporary folders
    assert files_under(tmp_path / "data") == ["CIFAR10", "CIFAR10/cifar-10-python.tar.gz"]


def test_missing_archive_says_how_to_obtain(tmp_path):
    (tmp_path / "mirror").mkdir()
    with pytest.raises(DatasetError) as err:
        D.prepare("cifar100", tmp_path / "data", mirror=tmp_path / "mirror", download=False)
    msg = str(err.value)
    assert "cifar-100-python.tar.gz" in msg and "eb9058c3a382ffc7106e4002c42a8d85" in msg
    assert "https://www.cs.toronto.edu/~kriz/" in msg and str(tmp_path / "mirror") in msg
    with pytest.raises(DatasetError, match="CUB_200_2011.tgz.*data.caltech.edu"):
        D.prepare("cub200", tmp_path / "data", mirror=tmp_path / "mirror", download=False)
    with pytest.raises(DatasetError, match="VOCtrainval_03-May-2010.tar.*da459979d0c395079b5c75ee67908abb"):
        D.prepare("voc_part", tmp_path / "data", mirror=None, download=False)
    with pytest.raises(DatasetError, match="filelist_places365-standard.tar.*places2.csail.mit.edu"):
        D.prepare("places365", tmp_path / "data", mirror=None, download=False)
    with pytest.raises(DatasetError, match="is missing.*prepare"):
        D.get("cifar10").load(tmp_path / "data", "train")


# --- ImageNet -------------------------------------------------------------------------------------------

def imagenet_tree(data_root: Path, train_classes, val_classes) -> None:
    for split, classes in (("train", train_classes), ("val", val_classes)):
        for c, wnid in enumerate(classes):
            for k in range(2):
                jpeg(data_root / "imagenet" / split / wnid / f"{wnid}_{k}.JPEG", (40 * c, 100, 20 * k))


def test_imagenet_imagefolder(tmp_path):
    wnids = ["n01440764", "n01443537", "n01484850"]
    imagenet_tree(tmp_path, wnids, wnids)
    spec = D.get("imagenet")
    assert spec.prepare(tmp_path) == tmp_path / "imagenet"
    train = spec.load(tmp_path, "train", train_transform=True)
    test = spec.load(tmp_path, "test")  # the official val set
    assert len(train) == len(test) == 6 and train.class_to_idx == test.class_to_idx
    assert Path(test.root).name == "val"
    x, y = test[2]  # class n01443537 (index 1), colour (40, 100, 0)
    assert y == 1 and x.shape == (3, 224, 224) and x.dtype == torch.float32
    assert torch.allclose(x.mean(dim=(1, 2)), expected_pixel((40, 100, 0), spec.info), atol=0.05)
    xt, _ = train[0]
    assert xt.shape == (3, 224, 224)


def test_imagenet_missing_or_inconsistent(tmp_path):
    spec = D.get("imagenet")
    with pytest.raises(DatasetError) as err:
        spec.prepare(tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "imagenet" / "train") in msg and "image-net.org" in msg
    assert "val" in msg and "sorted into" in msg and "<wnid>" in msg
    imagenet_tree(tmp_path, ["n1", "n2"], ["n1", "n3"])
    with pytest.raises(DatasetError, match=r"different class folders.*only in train: \['n2'\].*only in val: \['n3'\]"):
        spec.load(tmp_path, "train")


# --- CUB-200-2011 ---------------------------------------------------------------------------------------

CUB_CLASSES = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"]


def write_cub(tmp_path: Path, n: int = 6) -> Path:
    """3 classes x n/3 images (in id order); image ids 1..n; odd ids train, even ids test; class c colour
    (50c, 0, 0)."""
    top = tmp_path / "src-cub" / "CUB_200_2011"
    lines = {"images.txt": [], "image_class_labels.txt": [], "train_test_split.txt": []}
    for i in range(1, n + 1):
        c = (i - 1) * 3 // n
        rel = f"{CUB_CLASSES[c]}/{CUB_CLASSES[c].split('.')[1]}_{i:04d}.jpg"
        jpeg(top / "images" / rel, (50 * c, 0, 0))
        lines["images.txt"].append(f"{i} {rel}")
        lines["image_class_labels.txt"].append(f"{i} {c + 1}")
        lines["train_test_split.txt"].append(f"{i} {i % 2}")
    for f, ls in lines.items():
        (top / f).write_text("\n".join(ls) + "\n")
    (tmp_path / "src-cub" / "attributes.txt").write_text("1 has_bill_shape::curved\n")
    return make_tar(tmp_path / "mirror" / "CUB_200_2011.tgz", tmp_path / "src-cub")


def test_cub200(tmp_path, monkeypatch):
    spec = cub200.SPEC
    archive = write_cub(tmp_path)
    patch_md5(monkeypatch, spec, CUB_200_2011_tgz=md5(archive))
    D.prepare("cub200", tmp_path / "data", mirror=tmp_path / "mirror", download=False)
    tr, te = spec.records(tmp_path / "data", "train"), spec.records(tmp_path / "data", "test")
    assert [r.label for r in tr] == [0, 1, 2] and [r.label for r in te] == [0, 1, 2]
    assert [r.path.name for r in tr] == ["Black_footed_Albatross_0001.jpg", "Laysan_Albatross_0003.jpg",
                                         "Sooty_Albatross_0005.jpg"]
    ds = spec.load(tmp_path / "data", "test")
    x, y = ds[2]
    assert y == 2 and x.shape == (3, 224, 224)
    assert torch.allclose(x.mean(dim=(1, 2)), expected_pixel((100, 0, 0), spec.info), atol=0.05)
    assert spec.load(tmp_path / "data", "train", train_transform=True)[0][0].shape == (3, 224, 224)
    # a listed image that vanished is reported, and an empty one fails the preparation
    te[0].path.write_bytes(b"")
    with pytest.raises(DatasetError, match="cub200 test: 1 of 3 listed images are missing or empty"):
        D.prepare("cub200", tmp_path / "data", mirror=None, download=False)
    tr[1].path.unlink()
    with pytest.raises(DatasetError, match="1 images listed.*missing"):
        spec.records(tmp_path / "data", "train")


# --- Places365 (torchvision layout) ---------------------------------------------------------------------

PLACES_CLASSES = ["/a/airfield", "/b/beach"]


def write_places(tmp_path: Path, monkeypatch, n_val: int = 20) -> None:
    """Devkit, train (2 per class) and val (n_val) archives in torchvision's layout; torchvision's
    archive and file-list md5 tables are patched to the generated files."""
    P = places365._places_class()
    dev = tmp_path / "src-places-dev"
    dev.mkdir()
    (dev / "categories_places365.txt").write_text("".join(f"{c} {i}\n" for i, c in enumerate(PLACES_CLASSES)))
    train_lines = []
    for i, c in enumerate(PLACES_CLASSES):
        for k in range(1, 3):
            jpeg(tmp_path / "src-places-train" / f"data_256{c}" / f"{k:08d}.jpg", (0, 60 * i, 0))
            train_lines.append(f"{c}/{k:08d}.jpg {i}\n")
    (dev / "places365_train_standard.txt").write_text("".join(train_lines))
    val_lines = []
    for k in range(1, n_val + 1):
        jpeg(tmp_path / "src-places-val" / "val_256" / f"Places365_val_{k:08d}.jpg", (0, 0, 10 * k))
        val_lines.append(f"Places365_val_{k:08d}.jpg {k % 2}\n")
    (dev / "places365_val.txt").write_text("".join(val_lines))
    (dev / "places365_test.txt").write_text("")
    mirror = tmp_path / "mirror"
    a_dev = make_tar(mirror / "filelist_places365-standard.tar", dev, "w")
    a_train = make_tar(mirror / "train_256_places365standard.tar", tmp_path / "src-places-train", "w")
    a_val = make_tar(mirror / "val_256.tar", tmp_path / "src-places-val", "w")
    monkeypatch.setattr(P, "_DEVKIT_META", {"standard": (a_dev.name, md5(a_dev))})
    monkeypatch.setattr(P, "_IMAGES_META", {("train-standard", True): (a_train.name, md5(a_train)),
                                            ("val", True): (a_val.name, md5(a_val))})
    monkeypatch.setattr(P, "_CATEGORIES_META", ("categories_places365.txt", md5(dev / "categories_places365.txt")))
    monkeypatch.setattr(P, "_FILE_LIST_META", {
        "train-standard": ("places365_train_standard.txt", md5(dev / "places365_train_standard.txt")),
        "val": ("places365_val.txt", md5(dev / "places365_val.txt"))})


def test_places365(tmp_path, monkeypatch):
    write_places(tmp_path, monkeypatch, n_val=4)
    spec = D.get("places365")
    root = D.prepare("places365", tmp_path / "data", mirror=tmp_path / "mirror", download=False)
    assert (root / "data_256_standard" / "b" / "beach" / "00000002.jpg").is_file()
    assert (root / "val_256" / "Places365_val_00000004.jpg").is_file()
    train = spec.load(tmp_path / "data", "train", train_transform=True)
    test = spec.load(tmp_path / "data", "test")
    assert type(train).__name__ == "Places365" and train.split == "train-standard" and test.split == "val"
    assert train.targets == [0, 0, 1, 1] and test.targets == [1, 0, 1, 0]
    x, y = test[2]
    assert y == 1 and x.shape == (3, 224, 224)
    assert torch.allclose(x.mean(dim=(1, 2)), expected_pixel((0, 0, 30), spec.info), atol=0.05)
    assert [r.label for r in spec.records(tmp_path / "data", "train")] == [0, 0, 1, 1]
    # a corrupted devkit file list is caught by torchvision's md5 check and reported as DatasetError
    (root / "places365_val.txt").write_text("Places365_val_00000001.jpg 1\n")
    with pytest.raises(DatasetError, match="places365_val.txt"):
        spec.load(tmp_path / "data", "test")


def test_places365_val_only_and_truncated(tmp_path, monkeypatch):
    write_places(tmp_path, monkeypatch, n_val=3)
    spec = places365.SPEC
    val = tmp_path / "mirror" / "val_256.tar"
    val.write_bytes(val.read_bytes()[:1500])  # cut inside the first member's data
    P = places365._places_class()
    monkeypatch.setitem(P._IMAGES_META, ("val", True), ("val_256.tar", md5(val)))
    with pytest.raises(DatasetError, match="cannot extract .*val_256.tar"):
        spec.prepare_splits(tmp_path / "data", ("test",), mirror=tmp_path / "mirror", download=False)
    left = files_under(tmp_path / "data" / "Places365")
    assert not any(f.startswith(("val_256/", ".stage", ".extract")) or f == "val_256" for f in left)
    assert "train_256_places365standard.tar" not in left  # only the requested split is fetched


# --- PASCAL-Part cats -----------------------------------------------------------------------------------

# image id -> (split, [(class, (left, top, right, bottom))]); images are 16 x 12
VOC_IMAGES = {
    "2008_000001": ("train", [("cat", (2, 2, 6, 6)), ("cat", (8, 1, 15, 9)), ("person", (0, 0, 3, 3))]),
    "2008_000002": ("train", [("dog", (1, 1, 9, 9))]),
    "2008_000003": ("val", [("cat", (4, 3, 12, 11))]),
    "2008_000004": ("train", [("cat", (0, 0, 16, 12))]),  # VOC's cat_train.txt says absent: skipped
}


def write_mat(path: Path, image_id: str, objects) -> None:
    from scipy.io import savemat

    part_dt = [("part_name", "O"), ("mask", "O")]
    objs = np.zeros((1, len(objects)), dtype=[("class", "O"), ("class_ind", "O"), ("mask", "O"), ("parts", "O")])
    for k, (cls, (l, t, r, b)) in enumerate(objects):
        mask = np.zeros((12, 16), np.uint8)
        mask[t:b, l:r] = 1
        parts = np.zeros((1, 1), dtype=part_dt)
        parts[0, 0] = ("head", mask)
        objs[0, k] = (cls, 8.0, mask, parts)
    anno = np.zeros((1, 1), dtype=[("imname", "O"), ("objects", "O")])
    anno[0, 0] = (image_id, objs)
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"anno": anno})


def write_voc_part(tmp_path: Path) -> tuple[Path, Path]:
    voc = tmp_path / "src-voc" / "VOCdevkit" / "VOC2010"
    main = voc / "ImageSets" / "Main"
    main.mkdir(parents=True)
    for image_id, (split, objects) in VOC_IMAGES.items():
        boxes = [o[1] for o in objects if o[0] == "cat"]
        biggest = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1])) if boxes else None
        jpeg(voc / "JPEGImages" / f"{image_id}.jpg", (10, 10, 10), size=(16, 12), box=biggest, box_color=(250, 0, 0))
        write_mat(tmp_path / "src-parts" / "Annotations_Part" / f"{image_id}.mat", image_id, objects)
    for split in ("train", "val"):
        ids = [i for i, (s, _) in VOC_IMAGES.items() if s == split]
        (main / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
        flags = {i: (" 1" if any(o[0] == "cat" for o in VOC_IMAGES[i][1]) and i != "2008_000004" else "-1") for i in ids}
        (main / f"cat_{split}.txt").write_text("".join(f"{i} {flags[i]}\n" for i in ids))
    (tmp_path / "src-parts" / "demo.m").write_text("% demo\n")
    a_voc = make_tar(tmp_path / "mirror" / "VOCtrainval_03-May-2010.tar", tmp_path / "src-voc", "w")
    a_parts = make_tar(tmp_path / "mirror" / "PASCAL-Part" / "trainval.tar.gz", tmp_path / "src-parts")
    return a_voc, a_parts


def test_voc_part_cats(tmp_path, monkeypatch):
    a_voc, _ = write_voc_part(tmp_path)
    spec = voc_part.SPEC
    patch_md5(monkeypatch, spec, VOCtrainval_03_May_2010_tar=md5(a_voc))
    with pytest.warns(UserWarning, match="trainval.tar.gz .*no published md5"):
        D.prepare("voc_part", tmp_path / "data", mirror=tmp_path / "mirror", download=False)
    assert (tmp_path / "data" / "VOCPart" / voc_part.INDEX).is_file()
    tr, te = spec.records(tmp_path / "data", "train"), spec.records(tmp_path / "data", "test")
    assert [(r.path.name, r.box) for r in tr] == [("2008_000001.jpg", (8, 1, 15, 9))]  # the larger cat
    assert [(r.path.name, r.box) for r in te] == [("2008_000003.jpg", (4, 3, 12, 11))]
    x, y = spec.load(tmp_path / "data", "test")[0]
    assert y == 0 and x.shape == (3, 224, 224)
    # the crop is the cat's box, painted red in the image: the whole crop is red
    assert torch.allclose(x.mean(dim=(1, 2)), expected_pixel((250, 0, 0), spec.info), atol=0.12)
    whole = voc_part.VocPartSpec(spec.info, *spec.archives, crop=False)
    assert whole.records(tmp_path / "data", "test")[0].box is None
    assert voc_part.mask_box(np.zeros((3, 3))) is None


def test_voc_part_bad_mat_names_file(tmp_path):
    bad = tmp_path / "2008_000009.mat"
    bad.write_bytes(b"MATLAB 5.0 MAT-file garbage")
    with pytest.raises(DatasetError, match="2008_000009.mat is not a readable PASCAL-Part annotation"):
        voc_part.read_instances(bad, "cat")


# --- ibfs binary tasks ----------------------------------------------------------------------------------

def test_ibfs_registered_tasks_match_paper():
    cub, voc = D.get("cub_vs_places"), D.get("voccat_vs_places")
    assert (cub.positive.spec, cub.positive.n, cub.negative.spec, cub.negative.n) == (
        cub200.SPEC, 1960, places365.SPEC, 2000)
    assert (voc.positive.spec, voc.positive.n, voc.negative.spec, voc.negative.n) == (
        voc_part.SPEC, 441, places365.SPEC, 500)
    assert cub.info.num_classes == voc.info.num_classes == 2
    assert cub.info.input_shape == (3, 224, 224) and cub.info.mean == IMAGENET_MEAN and cub.info.std == IMAGENET_STD


def tiny_task(seed: int = 0) -> ibfs_tasks.BinaryTask:
    info = dataclasses.replace(ibfs_tasks.CUB_VS_PLACES.info, name="tiny_cub_vs_places")
    return ibfs_tasks.BinaryTask(info, ibfs_tasks.Source(cub200.SPEC, ("train", "test"), 5),
                                 ibfs_tasks.Source(places365.SPEC, ("test",), 10), test_fraction=0.2, seed=seed)


def test_ibfs_task_sampling(tmp_path, monkeypatch):
    write_places(tmp_path, monkeypatch, n_val=20)
    patch_md5(monkeypatch, cub200.SPEC, CUB_200_2011_tgz=md5(write_cub(tmp_path)))
    task = tiny_task()
    task.prepare(tmp_path / "data", mirror=tmp_path / "mirror", download=False)
    assert not (tmp_path / "data" / "Places365" / "train_256_places365standard.tar").exists()
    s = task.sample(tmp_path / "data")
    labels = {k: [r.label for r in v] for k, v in s.items()}
    assert labels["test"] == [1] + [0] * 2 and labels["train"] == [1] * 4 + [0] * 8  # round(0.2 n) per class
    paths = {k: {r.path for r in v} for k, v in s.items()}
    assert not paths["train"] & paths["test"] and len(paths["train"] | paths["test"]) == 15
    assert all(p.parent.name == "val_256" for p in paths["train"] | paths["test"] if "Places" in str(p))
    assert task.sample(tmp_path / "data") == s  # deterministic
    other = tiny_task(seed=1).sample(tmp_path / "data")
    assert {r.path for r in other["train"]} != paths["train"]
    x, y = task.load(tmp_path / "data", "test")[0]
    assert y == 1 and x.shape == (3, 224, 224)
    too_big = ibfs_tasks.BinaryTask(task.info, task.positive, ibfs_tasks.Source(places365.SPEC, ("test",), 21))
    with pytest.raises(DatasetError, match="needs 21 samples of places365.*only 20"):
        too_big.sample(tmp_path / "data")


# --- load_splits: validation split ----------------------------------------------------------------------

def test_load_splits_validation_deterministic_and_disjoint(tmp_path, monkeypatch):
    spec = cifar.CIFAR100  # 10 training images whose red plane is their index
    archive = write_cifar(tmp_path, "cifar100")
    monkeypatch.setattr(spec, "archives", (dataclasses.replace(spec.archives[0], md5=md5(archive)),))
    D.prepare("cifar100", tmp_path / "data", mirror=tmp_path / "mirror", download=False)
    ids = lambda ds: ds.images[:, 0, 0, 0].tolist()
    a = D.load_splits("cifar100", tmp_path / "data", val_size=3, split_seed=7)
    b = D.load_splits("cifar100", tmp_path / "data", val_size=3, split_seed=7)
    c = D.load_splits("cifar100", tmp_path / "data", val_size=3, split_seed=9)
    assert ids(a.val) == ids(b.val) and ids(a.train) == ids(b.train) and len(ids(a.val)) == 3
    assert ids(a.val) != ids(c.val)
    assert not set(ids(a.train)) & set(ids(a.val)) and sorted(ids(a.train) + ids(a.val)) == list(range(10))
    assert ids(a.test) == [10, 11, 12]


def test_load_splits_file_backed_task(tmp_path, monkeypatch):
    write_places(tmp_path, monkeypatch, n_val=20)
    patch_md5(monkeypatch, cub200.SPEC, CUB_200_2011_tgz=md5(write_cub(tmp_path)))
    task = tiny_task()
    monkeypatch.setitem(D.DATASETS, "tiny_cub_vs_places", task)
    D.prepare("tiny_cub_vs_places", tmp_path / "data", mirror=tmp_path / "mirror", download=False)
    a = D.load_splits("tiny_cub_vs_places", tmp_path / "data", val_size=0.25, split_seed=3)
    b = D.load_splits("tiny_cub_vs_places", tmp_path / "data", val_size=0.25, split_seed=3)
    assert a.val.indices == b.val.indices and a.train.indices == b.train.indices and len(a.val) == 3
    assert not set(a.train.indices) & set(a.val.indices) and len(a.train) + len(a.val) == 12
    # val uses the evaluation transform (deterministic), train the augmenting one
    assert torch.equal(a.val[0][0], b.val[0][0])
    assert a.train.dataset.transform is not a.val.dataset.transform


# --- the real MNIST archives (from the mirror) ------------------------------------------------------------

def test_real_mnist_from_mirror(mnist_root):
    splits = D.load_splits("mnist", mnist_root, val_size=5000, split_seed=0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (55000, 5000, 10000)
    assert splits.train.images.shape[1:] == (1, 28, 28) and splits.train.images.dtype == torch.uint8
    assert sorted(splits.test.labels.unique().tolist()) == list(range(10))
    # the official test set's first labels (7, 2, 1, 0, 4) and training set's (5, 0, 4, 1, 9)
    assert splits.test.labels[:5].tolist() == [7, 2, 1, 0, 4]
    full = D.get("mnist").load(mnist_root, "train")
    assert full.labels[:5].tolist() == [5, 0, 4, 1, 9]


def test_prepared_archives_follow_the_umask_and_missing_data_names_the_target(tmp_path, mnist_mirror):
    import os
    import stat

    old = os.umask(0o022)
    try:
        D.prepare("mnist", tmp_path / "data", mirror=mnist_mirror, download=False)
    finally:
        os.umask(old)
    archive = tmp_path / "data" / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    assert stat.S_IMODE(archive.stat().st_mode) == 0o644  # readable by the other users of a shared root
    with pytest.raises(DatasetError, match=r"runs/data/mnist\.json"):
        D.get("mnist").load(tmp_path / "empty", "train")


def test_a_truncated_extracted_file_is_extracted_again(tmp_path, mnist_mirror):
    D.prepare("mnist", tmp_path / "data", mirror=mnist_mirror, download=False)
    labels = tmp_path / "data" / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    good = labels.read_bytes()
    labels.write_bytes(good[:-100])  # an earlier preparation cut short
    D.prepare("mnist", tmp_path / "data", mirror=mnist_mirror, download=False)
    assert labels.read_bytes() == good
    assert len(D.get("mnist").load(tmp_path / "data", "test")) == 10000


def test_one_vs_rest_mnist_labels_one_digit(mnist_root):
    full = D.get("mnist").load(mnist_root, "test")
    task = D.get("mnist3_vs_rest")
    assert task.info.num_classes == 2 and task.info.name == "mnist3_vs_rest" and task.folder == "MNIST"
    binary = task.load(mnist_root, "test")
    assert torch.equal(binary.images, full.images) and torch.equal(binary.labels, (full.labels == 3).long())
    splits = D.load_splits("mnist3_vs_rest", mnist_root, val_size=1000, split_seed=0)
    assert sorted(splits.val.labels.unique().tolist()) == [0, 1]
    from benchmarks.datasets.one_vs_rest import OneVsRest
    with pytest.raises(ValueError, match="positive class 10"):
        OneVsRest(D.get("mnist"), 10)
    with pytest.raises(ValueError, match="file-backed"):
        OneVsRest(D.get("cub200"), 0)


def test_real_mnist_corrupt_mirror_copy(tmp_path, mnist_mirror):
    import shutil

    mirror = tmp_path / "mirror" / "MNIST" / "raw"
    mirror.mkdir(parents=True)
    for f in (mnist_mirror / "MNIST" / "raw").iterdir():
        shutil.copy(f, mirror / f.name)
    bad = mirror / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-100])  # truncated download
    with pytest.raises(DatasetError) as err:
        D.prepare("mnist", tmp_path / "data", mirror=tmp_path / "mirror", download=False)
    msg = str(err.value)
    assert "t10k-labels-idx1-ubyte.gz" in msg and "ec29112dd5afa0611ce80d1b7f02629c" in msg
    leftovers = [p.name for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert "t10k-labels-idx1-ubyte.gz" not in leftovers and not any(n.endswith(".part") for n in leftovers)


def test_idx_reader_rejects_bad_files(tmp_path):
    from benchmarks.datasets.mnist import read_idx

    good = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    (tmp_path / "ok").write_bytes(good)
    assert read_idx(tmp_path / "ok").shape == (2, 3, 4)
    (tmp_path / "short").write_bytes(good[:-1])
    with pytest.raises(DatasetError, match="short is truncated or corrupt"):
        read_idx(tmp_path / "short")
    (tmp_path / "magic").write_bytes(b"\x01\x02" + good[2:])
    with pytest.raises(DatasetError, match="not an IDX file"):
        read_idx(tmp_path / "magic")
