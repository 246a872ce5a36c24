"""aura's tables: the paper's rows with ours beside them where run (matched on the filters per layer), the
differences, reported-only rows otherwise; the LeNet-5 comparison and the MI-distribution figure; and the
CPU part of the DAG end to end at smoke scale on the real MNIST."""
import json

import pandas as pd
import pytest

from benchmarks.papers.aura import tables

from conftest import REPO, snakemake

REFERENCE = REPO / "results" / "reference" / "aura_tables.csv"


def _run(method, widths_set, widths, seed, acc, benchmark="vgg16_hrel_cifar10", scores=True):
    hist = [{"round": r, "widths_before": {"0": 20 - r, "3": 50 - 7 * r}, "removed": {"0": 1, "3": 7},
             "scores": {"0": [0.1 * i for i in range(20 - r)], "3": [0.01 * i for i in range(50 - 7 * r)]}
             if scores else None} for r in range(3)]
    return {"study": {"name": f"x-{method}", "sweep_param": "widths", "sweep_value": widths_set},
            "method": method, "benchmark": benchmark, "scale": "paper", "seed": seed,
            "target": {"widths": {f"u{i}": w for i, w in enumerate(widths)}}, "pruned_architecture": "a",
            "test": {"accuracy": acc}, "test_before_finetune": {"accuracy": acc - 0.01}, "val": {"accuracy": acc},
            "method_report": {"rounds": 3, "history": hist}, "metrics": {"params_nonzero": 10, "r_w": 0.1, "flops": 5},
            "method_seconds": 1.0, "finetune_seconds": 2.0, "finetune_protocol": "p", "device": "cpu"}


def test_paper_table_puts_ours_beside_the_paper_and_keeps_reported_only_rows():
    from benchmarks.reference import load_reference

    ref = load_reference(REFERENCE, tables.REFERENCE_COLUMNS, tables.REFERENCE_NUMERIC)
    c1 = [19, 48, 64, 64, 95, 107, 107, 175, 71, 71, 44, 44, 56]
    runs = [_run("aura", "configuration_1", c1, s, a) for s, a in ((0, 0.930), (1, 0.934))]
    base = [{"benchmark": "vgg16_hrel_cifar10", "test": {"accuracy": 0.94}}]
    t = tables.build_paper_table(1, runs, base, ref, {"vgg16_cifar10": "vgg16_hrel_cifar10"})
    assert list(t["configuration"]) == ["original", "configuration 1", "configuration 2"]
    row = t[t["configuration"] == "configuration 1"].iloc[0]
    assert row["ours_aura_acc_pct"] == pytest.approx(93.2) and row["ours_aura_seeds"] == 2
    assert row["diff_aura_pp"] == pytest.approx(93.2 - 93.22) and pd.isna(row.get("ours_hrel_acc_pct"))
    assert pd.isna(t[t["configuration"] == "configuration 2"].iloc[0].get("ours_aura_acc_pct"))  # reported only
    assert t[t["configuration"] == "original"].iloc[0]["ours_hrel_acc_pct"] == pytest.approx(94.0)


def test_lenet5_table_and_distribution_figure(tmp_path):
    runs = [_run(m, ws, w, 0, a, benchmark="lenet5_hrel_mnist") for m, a in (("hrel", .98), ("aura", .97), ("l1", .96))
            for ws, w in (("paper", [2, 3]), ("code", [4, 5]))]
    option = _run("hrel", "paper", [2, 3], 0, .975, benchmark="lenet5_hrel_mnist")
    option["study"]["name"] = "x-hrel-option"  # a second study of the same method (an option)
    runs.append(option)
    base = [{"benchmark": "lenet5_hrel_mnist", "test": {"accuracy": 0.99}}]
    t = tables.build_lenet5(runs, base)
    assert t.iloc[0]["method"] == "baseline" and set(t["widths"]) == {"", "2-3", "4-5"}
    tables.plot_lenet5(t, tmp_path / "l.png")
    assert (tmp_path / "l.png").stat().st_size > 5_000
    snaps = tables.score_snapshots(runs[0], "3", [50, 36])
    assert [w for w, _ in snaps] == [50, 36] and len(snaps[1][1]) == 36
    tables.plot_distributions([r for r in runs if r["method"] in ("hrel", "aura")], ["0", "3"], None,
                              tmp_path / "d.png", "t")
    assert (tmp_path / "d.png").stat().st_size > 5_000


@pytest.mark.slow
def test_aura_cpu_part_through_the_dag(tmp_path, mnist_mirror):
    data = tmp_path / "data"
    targets = ["results/aura/lenet5.csv", "figures/aura/lenet5_mi.png"]
    rc, out = snakemake(tmp_path, "--cores", "2", *targets, "--config", "scale=smoke", f"mirror={mnist_mirror}",
                        f"data_root={data}", "download=False")
    assert rc == 0, out[-4000:]
    res = tmp_path / "smoke" / "results" / "aura"
    t = pd.read_csv(res / "lenet5.csv")
    assert set(t["method"]) == {"baseline", "hrel", "aura", "l1", "random", "l1_rounds", "random_rounds"}
    assert (t["scale"] == "smoke").all()
    pruned = t[t["method"] != "baseline"]
    assert set(pruned["widths"]) == {"2-3", "4-5", "10-25", "6-15", "2-5"} and (pruned["seeds"] == 1).all()
    # the iterative methods ran their rounds; l1 and random prune once to the same widths
    rounds = pruned[pruned["method"].isin(["hrel", "aura", "l1_rounds", "random_rounds"])]
    assert (rounds["rounds"] >= 1).all()  # at smoke scale half the excess goes per round: 20 -> 10 in one
    assert (rounds[rounds["widths"].isin(["2-3", "4-5"])]["rounds"] > 1).all()
    assert set(pruned[pruned["method"] == "hrel"]["study"]) == {"lenet5-hrel", "lenet5-hrel-tracked", "lenet5-hrel-core"}
    assert (pruned[pruned["method"].isin(["l1", "random"])]["rounds"] == 1).all()
    assert (pruned["pruned_architecture"].str.split("-").str[:2].str.join("-") == pruned["widths"]).all()
    prov = json.loads((res / "lenet5.provenance.json").read_text())
    assert prov["inputs"] and prov["scale"] == "smoke"
    assert (tmp_path / "smoke" / "figures" / "aura" / "lenet5_mi.png").stat().st_size > 5_000


def test_runtime_table_measures_both_scores_on_the_same_shapes(tmp_path):
    from benchmarks.papers.aura import runtime

    t = runtime.layer_timings(n=20, repeats=1, shapes=[("toy", "a", 4, 4), ("toy", "b", 4, 4), ("toy", "c", 3, 6)])
    assert list(t["layer"]) == ["a", "b", "c"] and (t[["aura_s", "renyi_layer_s", "renyi_filter_s"]] > 0).all().all()
    assert t.loc[0, "aura_s"] == t.loc[1, "aura_s"]  # one measurement per distinct shape
    assert (t["speedup_vs_renyi_layer"] == t["renyi_layer_s"] / t["aura_s"]).all()
    loop = runtime.loop_timings([_run("hrel", "paper", [2, 3], 0, 0.9, benchmark="lenet5_hrel_mnist")])
    assert loop.iloc[0]["rounds"] == 3 and loop.iloc[0]["method_seconds"] == 1.0
