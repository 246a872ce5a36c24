"""ibcnn's figures and final-layer table from synthetic measurement CSVs (measure.py's format): Figs 4-7
and 8 are drawn in both estimator sets; the table takes the last layer's I(Y;T) at the last logged epoch and
its maximum, averages seeds, puts the authors' values beside with the differences, keeps reported-only rows
and never fills ours from the paper; the CLI writes its outputs with provenance; a bad CSV is named."""
import json

import numpy as np
import pandas as pd
import pytest

from benchmarks.papers.ibcnn import figures

from conftest import REPO

REFERENCE = REPO / "results" / "reference" / "ibcnn_final_layer.csv"
NETWORKS = {"w1": "1-1-1-1-1-1", "w3": "3-3-3-3-3-3"}
EPOCHS = [0, 2, 49, 199]
# the output layer's binning I(Y;T) at EPOCHS (peaks before the end: the last and the max differ)
OUTPUT_IYT = {"w1": [1.0, 2.5, 2.0, 1.8], "w3": [1.2, 2.2, 2.9, 2.7]}
DATASET_SHIFT = {"mnist": 0.0, "fashion_mnist": -0.3}
SPLIT_SHIFT = {"test": 0.0, "train": 0.05}
LAYERS = [(1, "conv1"), (2, "conv2"), (3, "output")]


def _rows(network, dataset, split, seed, scale="paper", cap=199, estimators=figures.ESTIMATORS):
    rows = []
    for ei, epoch in enumerate(EPOCHS):
        for layer, name in LAYERS:
            for est in estimators:
                if name == "output":
                    iyt = OUTPUT_IYT[network][ei] + DATASET_SHIFT[dataset] + SPLIT_SHIFT[split] + 0.2 * seed
                    ixt = 1.0 + 0.5 * ei
                else:  # the conv layers saturate (higher than the output layer: picking one would show)
                    iyt, ixt = 3.3, 13.0
                iyt += {"binning": 0.0, "kde_upper": 0.3, "kde_lower": -0.3}[est]
                rows.append({"study": "width", "network": network, "setting": NETWORKS[network], "dataset": dataset,
                             "split": split, "seed": seed, "epoch": epoch, "layer": layer, "layer_name": name,
                             "estimator": est, "i_xt_bits": ixt, "i_yt_bits": iyt, "h_x_bits": 13.29,
                             "h_y_bits": 3.32, "scale": scale, "epoch_cap": cap, "samples": 10000})
    return rows


@pytest.fixture(scope="module")
def csvs(tmp_path_factory):
    """One CSV per run: 2 networks x 2 datasets x 2 splits x 2 seeds."""
    tmp = tmp_path_factory.mktemp("information")
    paths = []
    for net in NETWORKS:
        for dataset in DATASET_SHIFT:
            for split in SPLIT_SHIFT:
                for seed in (0, 1):
                    p = tmp / f"{net}_{dataset}_{split}_seed{seed}.csv"
                    pd.DataFrame(_rows(net, dataset, split, seed)).to_csv(p, index=False)
                    paths.append(p)
    return paths


@pytest.fixture(scope="module")
def info(csvs):
    return figures.load_information(csvs)


def _is_png(path):
    return path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000


def test_figures_are_drawn_in_both_estimator_sets(info, tmp_path):
    assert len(info) == 16 * len(EPOCHS) * len(LAYERS) * 3
    figures.plot_mi_vs_epoch(info, "width", "binning", tmp_path / "fig4.png", networks=["w3", "w1"])
    figures.plot_information_plane(info, "width", "binning", tmp_path / "fig8.png")
    few = info[info["dataset"] == "mnist"]  # (fewer panels: a faster test)
    figures.plot_mi_vs_epoch(few, "width", "kde", tmp_path / "fig4_kde.png")
    figures.plot_information_plane(few, "width", "kde_upper", tmp_path / "fig8_kde.png", networks=["w1"])
    for name in ("fig4", "fig4_kde", "fig8", "fig8_kde"):
        assert _is_png(tmp_path / f"{name}.png"), name
    with pytest.raises(ValueError, match="estimator_set"):
        figures.plot_mi_vs_epoch(info, "width", "kde_upper", tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"networks \['w6'\]"):
        figures.plot_mi_vs_epoch(info, "width", "binning", tmp_path / "x.png", networks=["w1", "w6"])
    with pytest.raises(ValueError, match="no kde estimates"):
        figures.plot_mi_vs_epoch(info[info["estimator"] == "binning"], "width", "kde", tmp_path / "x.png")


def test_dotted_h_x_is_the_plotted_estimators_ceiling(info, tmp_path, monkeypatch):
    # binning's H(X) is log2 of the sample, the KDE's log2 of its subsample: each figure draws its own
    few = info[(info["dataset"] == "mnist") & (info["network"] == "w1")].copy()
    few.loc[few["estimator"] != "binning", "h_x_bits"] = 9.97
    drawn = {}

    def keep(fig, path, title, **_):
        drawn[path.name] = fig
        return path

    monkeypatch.setattr(figures, "_finish", keep)
    for est_set in ("binning", "kde"):
        figures.plot_mi_vs_epoch(few, "width", est_set, tmp_path / f"{est_set}.png")
    for name, h_x in (("binning.png", 13.29), ("kde.png", 9.97)):
        top_left = drawn[name].axes[0]  # I(X;T) of the first block: its dotted line is H(X)
        dotted = [ln.get_ydata()[0] for ln in top_left.get_lines() if ln.get_linestyle() == ":"]
        assert dotted == [pytest.approx(h_x)], name


def test_titles_say_how_far_the_runs_trained(info):
    assert figures.describe_scale(info) == "CPU overlay: trained to epoch 199 of 9999"
    assert "smoke scale" in figures.describe_scale(info.assign(scale="smoke"))
    assert "the paper's protocol" in figures.describe_scale(info.assign(epoch_cap=9999))
    mixed = info.assign(epoch_cap=np.where(info["network"] == "w1", 9999, 1999))
    text = figures.describe_scale(mixed)
    assert "epoch 1999 of 9999 [w3]" in text and "epoch 9999 of 9999 (the paper's protocol) [w1]" in text


def test_final_layer_table_takes_the_last_layer_averages_seeds_and_sits_beside_the_paper(info):
    from benchmarks.reference import load_reference

    ref = load_reference(REFERENCE, figures.REFERENCE_COLUMNS, figures.REFERENCE_NUMERIC)
    t = figures.final_layer_table(info, ref)
    assert list(t.columns) == figures.TABLE_COLUMNS
    # every reference row is kept; ours add the train split of the settings we ran
    assert len(t) == len(ref) + 4 and (t["split"] == "test").sum() == len(ref)
    row = t[(t["setting"] == "1-1-1-1-1-1") & (t["dataset"] == "mnist") & (t["split"] == "test")].iloc[0]
    assert row["network"] == "w1" and row["seeds"] == 2 and row["last_epoch"] == 199 and row["epoch_cap"] == 199
    assert row["ours_last_bits"] == pytest.approx(1.8 + 0.1)  # seeds 0 and 1: +0, +0.2
    assert row["ours_max_bits"] == pytest.approx(2.5 + 0.1)
    assert row["ours_kde_upper_last_bits"] == pytest.approx(1.9 + 0.3)
    assert row["ours_kde_lower_last_bits"] == pytest.approx(1.9 - 0.3)
    assert row["paper_last_bits"] == pytest.approx(2.46) and row["paper_max_bits"] == pytest.approx(2.73)
    assert row["diff_last_bits"] == pytest.approx(1.9 - 2.46) and row["diff_max_bits"] == pytest.approx(2.6 - 2.73)
    assert row["scale"] == "paper"
    fm = t[(t["setting"] == "3-3-3-3-3-3") & (t["dataset"] == "fashion_mnist") & (t["split"] == "test")].iloc[0]
    assert fm["ours_last_bits"] == pytest.approx(2.7 - 0.3 + 0.1)
    assert fm["ours_max_bits"] == pytest.approx(2.9 - 0.3 + 0.1)
    # our train row: ours filled, no paper values, placed right after its test row
    i = t.index[(t["setting"] == "1-1-1-1-1-1") & (t["dataset"] == "mnist") & (t["split"] == "test")][0]
    train = t.loc[i + 1]
    assert (train["setting"], train["dataset"], train["split"]) == ("1-1-1-1-1-1", "mnist", "train")
    assert train["ours_last_bits"] == pytest.approx(1.9 + 0.05)
    assert pd.isna(train["paper_last_bits"]) and pd.isna(train["diff_last_bits"]) and pd.isna(train["paper_source"])
    # reported-only rows: the paper's values, ours empty
    only = t[t["setting"] == "6-6-6-6-6-6"]
    assert len(only) == 2 and only["paper_last_bits"].notna().all()
    ours_cols = [c for c in t.columns if c.startswith("ours_") or c.startswith("diff_")] + ["seeds", "last_epoch"]
    assert only[ours_cols].isna().all().all()
    assert len(t[t["study"] != "width"]) == (ref["study"] != "width").sum()
    assert t[t["study"] != "width"][ours_cols].isna().all().all()


def test_final_layer_table_never_fills_ours_from_the_paper(info):
    from benchmarks.reference import load_reference

    ref = load_reference(REFERENCE, figures.REFERENCE_COLUMNS, figures.REFERENCE_NUMERIC)
    kde_only = info[~((info["network"] == "w1") & (info["estimator"] == "binning"))]
    t = figures.final_layer_table(kde_only, ref)
    row = t[(t["setting"] == "1-1-1-1-1-1") & (t["dataset"] == "mnist") & (t["split"] == "test")].iloc[0]
    assert pd.isna(row["ours_last_bits"]) and pd.isna(row["ours_max_bits"]) and pd.isna(row["diff_last_bits"])
    assert row["paper_last_bits"] == pytest.approx(2.46)
    assert row["ours_kde_upper_last_bits"] == pytest.approx(2.2) and row["seeds"] == 2
    # no runs at all: the reference alone, every ours column empty
    empty = figures.final_layer_table(figures.load_information([]), ref)
    assert len(empty) == len(ref) and empty["ours_last_bits"].isna().all()
    assert np.allclose(empty["paper_last_bits"], ref["final_layer_I_Y_T_bits_last"])


def test_seeds_of_different_caps_are_not_averaged(info):
    mixed = info.assign(epoch_cap=np.where(info["seed"] == 1, 1999, 199))
    with pytest.raises(ValueError, match="epoch_cap"):
        figures.final_layer_table(mixed, pd.read_csv(REFERENCE))


def test_load_information_names_the_file_and_the_missing_columns(csvs, tmp_path):
    bad = tmp_path / "bad.csv"
    pd.read_csv(csvs[0]).drop(columns=["i_yt_bits", "h_y_bits"]).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"bad\.csv: missing columns \['i_yt_bits', 'h_y_bits'\]"):
        figures.load_information([csvs[1], bad])
    unknown = tmp_path / "unknown.csv"
    pd.read_csv(csvs[0]).assign(estimator="ksg").to_csv(unknown, index=False)
    with pytest.raises(ValueError, match=r"unknown\.csv: unknown estimator \['ksg'\]"):
        figures.load_information([unknown])
    with pytest.raises(ValueError, match="more than once"):
        figures.load_information([csvs[0], csvs[0]])
    assert figures.main(["final-layer", "--information", str(bad), "--reference", str(REFERENCE),
                         "--out", str(tmp_path / "t.csv")]) == 2
    assert not (tmp_path / "t.csv").exists()


def test_cli_writes_the_figures_and_the_table_with_provenance(csvs, tmp_path):
    paths = [str(p) for p in csvs if p.name.split("_")[1] == "mnist"]  # MNIST only: fewer panels, a faster test
    out, kde = tmp_path / "figures" / "fig4.png", tmp_path / "figures" / "fig4_kde.png"
    assert figures.main(["figure", "--figure", "4", "--study", "width", "--networks", "w1", "w3",
                         "--information", *paths, "--out", str(out), "--kde-out", str(kde),
                         "--command", "snakemake fig4", "--config", '{"epochs": 200}']) == 0
    assert _is_png(out) and _is_png(kde)
    prov = json.loads((out.parent / "fig4.provenance.json").read_text())
    assert prov["scale"] == "paper" and prov["config"] == {"epochs": 200} and prov["figure"] == 4
    assert len(prov["inputs"]) == len(paths) and len(prov["outputs"]) == 2
    assert "epoch 199 of 9999" in prov["scale_description"]
    assert (out.parent / "fig4_kde.provenance.json").exists()

    plane, plane_kde = tmp_path / "figures" / "fig8.png", tmp_path / "figures" / "fig8_kde.png"
    one = [p for p in paths if "w1_mnist_test" in p]  # one panel: the information plane of one run
    assert figures.main(["figure", "--figure", "8", "--study", "width", "--plane", "--information", *one, "--out", str(plane),
                         "--kde-out", str(plane_kde)]) == 0
    assert _is_png(plane) and _is_png(plane_kde) and (plane.parent / "fig8_kde.provenance.json").exists()
    assert json.loads((plane.parent / "fig8.provenance.json").read_text())["figure"] == 8

    table = tmp_path / "results" / "final_layer.csv"
    assert figures.main(["final-layer", "--information", *paths, "--reference", str(REFERENCE),
                         "--out", str(table)]) == 0
    t = pd.read_csv(table)
    assert list(t.columns) == figures.TABLE_COLUMNS and t["ours_last_bits"].notna().sum() == 4
    prov = json.loads((table.parent / "final_layer.provenance.json").read_text())
    assert prov["epoch_caps"] == [199] and str(REFERENCE.name) in prov["inputs"][-1]
