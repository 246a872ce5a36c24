"""ibfs's ImageNet-style branch end to end at smoke scale: VGG-16 (the paper's binary head) and ResNet-50
fine-tuned on CUB-200-2011 birds vs Places365 written as synthetic files in the real archive formats
(1,960 birds and 2,000 scenes, the task's counts), analysed, VGG-16 pruned by the selection through the
shared prune rule, and Figs 2, 3, 4a, 4b drawn from them, all by the Snakemake DAG.

The archives are not the official ones, so their md5s are not torchvision's: the data are prepared here
with the md5 tables patched (as tests/test_datasets.py does), the DAG starts from the prepared data's
marker, and its job subprocesses get the patched Places365 devkit table through
tests/data/places_md5_patch/sitecustomize.py (torchvision checks those md5s each time it reads Places).
Smoke sizes are shrunk further here (32-pixel crops, one epoch, the top VGG layer) to keep the test
to a minute or two on two CPU cores; pretrained weights are off at smoke scale."""
import dataclasses
import json
import os

import pandas as pd
import pytest

from conftest import REPO, snakemake

SUPPORT = REPO / "tests" / "data" / "places_md5_patch"

OVERLAY = """
smoke: {max_train: 48, max_val: 40, max_test: 24, epochs: 1, image_size: 32}
ibfs:
  table1_ours: false
  studies:
    vgg16-cub:
      # a tolerance an untrained smoke network can hold, on the top conv layer only (the backward order over
      # layers is tested in test_ibfs_method.py)
      sweep: {param: auc_tolerance, values: [0.2]}
      params: {ranking: y0, layers: [features.28], first_group: 64, middle_step: 64}
  heatmap_filters: 4
  heatmap_images: 2
  curve_points: 4
  figures:
    fig2: [vgg16_cub_vs_places, resnet50_cub_vs_places]
    fig3: [vgg16_cub_vs_places]
    fig4a: [vgg16_cub_vs_places]
    fig4b: [vgg16-cub]
"""


@pytest.mark.slow
def test_vgg16_and_resnet50_smoke_dag_on_synthetic_cub_and_places(tmp_path, monkeypatch):
    from test_datasets import md5, write_cub, write_places
    from torchvision.datasets import Places365

    from benchmarks import jobs

    write_cub(tmp_path, n=1960)
    write_places(tmp_path, monkeypatch, n_val=2000)
    # the task's components, with their md5s patched to the generated archives
    from benchmarks.datasets import cub200

    archive = tmp_path / "mirror" / "CUB_200_2011.tgz"
    monkeypatch.setattr(cub200.SPEC, "archives", tuple(dataclasses.replace(a, md5=md5(archive))
                                                       for a in cub200.SPEC.archives))
    data, smoke = tmp_path / "data", tmp_path / "smoke"
    assert jobs.main(["prepare", "--dataset", "cub_vs_places", "--data-root", str(data), "--mirror",
                      str(tmp_path / "mirror"), "--no-download", "--marker", str(smoke / "runs/data/cub_vs_places.json"),
                      "--log", str(tmp_path / "prepare.log")]) == 0
    meta = tmp_path / "places_meta.json"
    meta.write_text(json.dumps({"categories": Places365._CATEGORIES_META, "file_lists": Places365._FILE_LIST_META}))
    monkeypatch.setenv("IBBENCH_TEST_PLACES_META", str(meta))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(SUPPORT), os.environ.get("PYTHONPATH")])))
    overlay = tmp_path / "imagenet_smoke.yaml"
    overlay.write_text(OVERLAY)
    run = "results/ibfs/runs/vgg16-cub/auc_tolerance0.2/seed0.json"
    figures = [f"figures/ibfs/{f}.png" for f in ("fig2", "fig3", "fig4a", "fig4b")]
    rc, out = snakemake(tmp_path, "--cores", "2", "--rerun-triggers", "mtime", "--configfile", str(overlay),
                        "--config", "scale=smoke", f"data_root={data}", "download=False", "--", run, *figures)
    assert rc == 0, out[-4000:]
    assert "rule prepare_data" not in out  # the DAG took the prepared data
    for f in figures:
        assert (smoke / f).stat().st_size > 10_000, f
    rec = json.loads((smoke / run).read_text())
    assert rec["benchmark"] == "vgg16_cub_vs_places" and rec["scale"] == "smoke"
    rep = rec["method_report"]
    assert rep["auc_split"] == "val" and rep["layers_top_down"] == ["features.28"]
    assert rec["metrics"]["params_total"] < rec["metrics"]["params_total_original"]  # physically smaller
    for bench, labels in (("vgg16_cub_vs_places", {"block5_conv3", "block5_conv2", "block4_conv3"}),
                          ("resnet50_cub_vs_places", {"stage5_out", "stage4_out", "stage3_out"})):
        info = pd.read_csv(smoke / "results" / "ibfs" / "analysis" / bench / "seed0_information.csv")
        assert set(info["label"]) == labels, bench
        assert (info["i_ty_bits"] <= info["i_xt_bits"] + 1e-9).all() and (info["i_ty_bits"] <= 1 + 1e-9).all()
        base = json.loads((smoke / "results" / "baselines" / bench / "seed0.json").read_text())
        assert base["test"]["n"] == 24  # the smoke cap of the synthetic task's 792-image test split
    assert not (tmp_path / "results").exists()
