"""ibcnn runs: the logging schedule, the training sample, the measured layers and their sizes per figure,
activity stored after the right epochs, resuming with identical stored activity, and the measurement
(binning from the stored cells equals binning of the activations; saturation caps)."""
import math

import pytest
import torch

from benchmarks import config as ibconfig
from benchmarks import training
from benchmarks.activations import record as record_activity
from benchmarks.models import build_model
from benchmarks.papers import ibcnn
from benchmarks.papers.ibcnn import measure, record
from estimators.binning import layer_information, symbol_information

CFG = ibconfig.load_config()


def test_logged_epochs_follow_the_authors_schedule():
    full = ibcnn.log_epochs()
    assert len(full) == 36 and full[:6] == [0, 2, 4, 6, 8, 14] and full[12:17] == [49, 99, 149, 199, 499]
    assert full[-1] == 9999 and all(b - a == 500 for a, b in zip(full[16:], full[17:]))
    assert ibcnn.log_epochs(199) == full[:16]
    assert ibcnn.log_epochs(1999) == full[:20]  # 1999 is logged: no extra epoch
    assert ibcnn.log_epochs(2500)[-2:] == [2499, 2500]  # a truncated run also measures its last epoch
    with pytest.raises(ValueError):
        ibcnn.log_epochs(-1)


def test_run_spec_paper_default_and_caps():
    spec = ibcnn.run_spec(CFG, "w6", "mnist", "paper")
    assert spec["epoch_cap"] == 9999 and spec["protocol"]["epochs"] == 10000 and len(spec["log_epochs"]) == 36
    assert spec["protocol"]["batch_size"] == 1000 and spec["protocol"]["optimizer"] == "adam"
    assert spec["sample"] == {"per_class": 1000, "replacement": False, "seed": 0}
    assert set(spec["memberships"]) == {("width", "6-6-6-6-6-6"), ("depth", "6 convs")}
    capped = ibconfig.merge(CFG, {"ibcnn": {"epoch_cap": 1999}})
    assert ibcnn.run_spec(capped, "w6", "mnist", "paper")["protocol"]["epochs"] == 2000
    overlay = ibconfig.merge(CFG, {"ibcnn": {"epoch_cap": 199, "epoch_caps": {"multi_fc": 999}}})
    assert ibcnn.run_spec(overlay, "multi_fc", "mnist", "paper")["log_epochs"][-1] == 999
    assert ibcnn.run_spec(overlay, "d1", "mnist", "paper")["epoch_cap"] == 199
    wrong = ibconfig.merge(CFG, {"ibcnn": {"epoch_caps": {"w7": 5}}})
    assert "'w7' is not in ibcnn.networks" in " ".join(ibcnn.check_config(wrong))
    smoke = ibcnn.run_spec(CFG, "w6", "mnist", "smoke")
    assert smoke["epoch_cap"] == CFG["ibcnn"]["smoke"]["epoch_cap"] and smoke["sample"]["per_class"] == 20
    assert ibcnn.check_config(CFG) == []
    bad = ibconfig.merge(CFG, {"ibcnn": {"figures": {"9": {"study": "x", "networks": {"nope": "?"}}}}})
    assert "'nope' is not in ibcnn.networks" in " ".join(ibcnn.check_config(bad))


def test_training_sample_per_class_with_and_without_replacement():
    labels = torch.arange(10).repeat_interleave(30)
    idx = record.training_sample(labels, 20, replacement=False, seed=3)
    assert torch.equal(torch.bincount(labels[idx]), torch.full((10,), 20)) and len(set(idx.tolist())) == 200
    assert torch.equal(idx, record.training_sample(labels, 20, replacement=False, seed=3))
    assert not torch.equal(idx, record.training_sample(labels, 20, replacement=False, seed=4))
    rep = record.training_sample(labels, 30, replacement=True, seed=3)
    assert torch.equal(torch.bincount(labels[rep]), torch.full((10,), 30)) and len(set(rep.tolist())) < 300
    with pytest.raises(ValueError, match="without replacement"):
        record.training_sample(labels, 31, replacement=False, seed=0)
    images = torch.arange(8.0).reshape(8, 1)
    assert record.input_entropy_bits(images) == pytest.approx(3.0)
    assert record.input_entropy_bits(images[[0, 0, 1, 2]]) == pytest.approx(1.5)


# side of each measured conv layer (28x28 input; first conv 'same', the others 'valid'), then Dense widths
EXPECTED = {
    "w1": [28, 26, 24, 22, 20, 18], "k2_11": [28, 18], "k5_7": [28, 22, 16, 10, 4], "d1": [28],
    "d9": [28, 26, 24, 22, 20, 18, 16, 14, 12], "pool_off": [28, 26, 24], "pool_on": [28, 26, 11],
}


@pytest.mark.parametrize("network", sorted(CFG["ibcnn"]["networks"]))
def test_measured_layers_and_their_sizes(network):
    params = CFG["ibcnn"]["networks"][network]
    model = build_model("ibcnn", 10, (1, 28, 28), **params)
    layers = record.measured_layers(model)
    names = [n for _, n in layers]
    convs = [n for n in names if n.startswith("conv")]
    assert len(convs) == params["depth"] and names[-1] == "output"
    assert [n for n in names if n.startswith("fc")] == [f"fc{i + 1}" for i in range(len(params.get("fc_layers", [])))]
    acts = record_activity(model, [(torch.zeros(2, 1, 28, 28), None)], [m for m, _ in layers])
    dims = [acts[m].flatten(1).shape[1] for m, _ in layers]
    if network in EXPECTED:
        assert dims[:len(convs)] == [params["width"] * s * s for s in EXPECTED[network]]
    assert dims[len(convs):] == [*params.get("fc_layers", []), 10]


def _tiny_spec(tmp_path, cap=4):
    spec = ibcnn.run_spec(ibconfig.merge(CFG, {"ibcnn": {"epoch_cap": cap}}), "k2_3", "mnist", "paper")
    spec.update(val_size=50, max_test=60, store_samples=12, device="cpu")
    spec["sample"]["per_class"] = 6
    spec["protocol"]["batch_size"] = 20
    spec["kde"]["samples"] = 10
    return spec


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, mnist_root):
    tmp = tmp_path_factory.mktemp("ibcnn")
    spec = _tiny_spec(tmp)
    torch.set_num_threads(1)
    rec = record.run(spec, 0, mnist_root, tmp / "act", tmp / "run.json", checkpoint_every_epochs=2)
    return spec, rec, tmp


def test_activity_is_stored_after_the_logged_epochs(tiny_run, mnist_root):
    spec, rec, tmp = tiny_run
    assert spec["log_epochs"] == [0, 2, 4] and rec["written_epochs"] == [0, 2, 4]
    assert sorted(p.name for p in (tmp / "act").glob("epoch*.pt")) == ["epoch00000.pt", "epoch00002.pt", "epoch00004.pt"]
    # epoch 2 (authors' numbering) = the network after 3 epochs: retrain to there and record it directly
    splits = record.load_run_splits(spec, mnist_root)
    training.seed_everything(0)
    torch.manual_seed(0)
    model = build_model("ibcnn", 10, (1, 28, 28), **spec["model_params"])
    assert spec["channels_last"]  # the configured default: the run's weights in channels-last format
    model.to(memory_format=torch.channels_last)
    protocol = {**spec["protocol"], "epochs": 3}
    training.train(model, splits, protocol, seed=0, device=torch.device("cpu"))
    layers = record.measured_layers(model)
    acts = record_activity(model, training.batches_for(splits.test, torch.device("cpu")).eval_batches(1000),
                           [m for m, _ in layers])
    stored = torch.load(tmp / "act" / "epoch00002.pt", weights_only=False)["splits"]["test"]
    rows = stored["stored_rows"]
    for module, name in layers:
        a = acts[module].flatten(1)
        a = torch.softmax(a, 1) if name == "output" else a
        assert torch.equal(stored["layers"][name]["raw"], a[rows].half()), name
        # the stored cells measure what binning of the activations measures
        assert symbol_information(stored["layers"][name]["cells"].long(), stored["labels"]) == pytest.approx(
            layer_information(a, stored["labels"], spec["bin_width"]), abs=1e-12), name
    assert stored["samples"] == 60 and stored["labels"].shape == (60,)


def test_a_killed_run_resumes_with_identical_stored_activity(tiny_run, mnist_root, tmp_path):
    spec, _, tmp = tiny_run
    with pytest.raises(KeyboardInterrupt):  # 3 steps an epoch: killed in epoch 4, after the epoch-2 checkpoint
        record.run(spec, 0, mnist_root, tmp_path / "act", tmp_path / "run.json", checkpoint_every_epochs=2,
                   stop_after_steps=11)
    assert (tmp_path / "act" / "train_state.pt").exists() and not (tmp_path / "run.json").exists()
    rec = record.run(spec, 0, mnist_root, tmp_path / "act", tmp_path / "run.json", checkpoint_every_epochs=2)
    assert rec["resumed_from"] is not None and rec["written_epochs"] == [0, 2, 4]
    for e in (0, 2, 4):
        a = torch.load(tmp / "act" / f"epoch{e:05d}.pt", weights_only=False)
        b = torch.load(tmp_path / "act" / f"epoch{e:05d}.pt", weights_only=False)
        for split in ("train", "test"):
            for name, layer in a["splits"][split]["layers"].items():
                other = b["splits"][split]["layers"][name]
                assert torch.equal(layer["cells"], other["cells"]) and torch.equal(layer["raw"], other["raw"])


def test_measurement_from_stored_activity(tiny_run):
    spec, rec, tmp = tiny_run
    table = measure.measure_run(rec, spec)
    assert list(table.columns) == measure.COLUMNS
    assert set(table["estimator"]) == {"binning", "kde_upper", "kde_lower"}
    assert set(table["study"]) == {"kernel"} and set(table["setting"]) == {"2 convs k3"}
    assert sorted(set(table["epoch"])) == [0, 2, 4] and set(table["split"]) == {"train", "test"}
    b = table[table["estimator"] == "binning"]
    n_train = 60  # 6 per class
    assert (b[b["split"] == "train"]["i_xt_bits"] <= math.log2(n_train) + 1e-9).all()
    out = b[b["layer_name"] == "output"]
    assert (out["i_xt_bits"] <= math.log2(11) + 1e-9).all()  # at most 11 binned softmax states
    assert (b["i_yt_bits"] <= b["h_y_bits"] + 1e-9).all() and (b["i_yt_bits"] <= b["i_xt_bits"] + 1e-9).all()
    kde = table[table["estimator"] != "binning"].pivot_table(index=["split", "epoch", "layer"], columns="estimator",
                                                                values="i_xt_bits")
    assert (kde["kde_lower"] <= kde["kde_upper"] + 1e-9).all() and (kde["kde_upper"] <= math.log2(10) + 1e-9).all()
    missing = dict(spec, log_epochs=[0, 1])
    with pytest.raises(FileNotFoundError, match=r"logged epochs \[1\]"):
        measure.measure_run(rec, missing)


def test_speed_table_reports_each_variant_against_eager(tmp_path):
    from benchmarks.papers.ibcnn import speed

    table = speed.speed_table({"d1": {"width": 2, "depth": 1, "kernel_size": 3}}, ["eager", "channels_last"],
                              batch=8, steps=2)
    assert list(table["variant"]) == ["eager", "channels_last"] and table["speedup_vs_eager"].iloc[0] == 1.0
    cl = table.iloc[1]
    assert cl["speedup_vs_eager"] == pytest.approx(table["median_step_seconds"].iloc[0] / cl["median_step_seconds"])
    with pytest.raises(ValueError, match="variant"):
        speed.prepare(torch.nn.Linear(2, 2), "fast")
    out = tmp_path / "speed.csv"
    assert speed.main(["--networks", '{"d1": {"width": 2, "depth": 1, "kernel_size": 3}}', "--steps", "1",
                       "--out", str(out)]) == 0
    assert out.exists() and (tmp_path / "speed.provenance.json").exists()
    with pytest.raises(ValueError, match="first must be 'eager'"):
        speed.speed_table({"d1": {"width": 2, "depth": 1, "kernel_size": 3}}, ["channels_last"], batch=8, steps=1)


def test_step_operations_are_counted_by_hand_and_bound_the_speed_up():
    from benchmarks.papers.ibcnn import speed

    # d1 at width 2, batch 8: conv 1->2 (3x3, 'same', 28x28) forward and its weight gradient (the input
    # needs none); Dense 1568->10 forward, its input gradient and its weight gradient
    conv, dense = 2 * 8 * 784 * 2 * 9, 2 * 8 * 1568 * 10
    assert speed.step_gflop({"width": 2, "depth": 1, "kernel_size": 3}, 8) * 1e9 == pytest.approx(2 * conv + 3 * dense)
    table = speed.speed_table({"d1": {"width": 2, "depth": 1, "kernel_size": 3}}, ["eager"], batch=8, steps=1)
    row = table.iloc[0]
    assert row["peak_gflops"] > 0 and row["gflops"] == pytest.approx(row["gflop_per_step"] / row["median_step_seconds"])
    assert row["peak_bound_speedup"] == pytest.approx(row["peak_gflops"] / row["gflops"])


def test_side_by_side_processes_report_the_machines_steps_per_second(monkeypatch):
    from benchmarks.papers.ibcnn import speed

    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # the job's threads: two processes
    table = speed.speed_table({"d1": {"width": 2, "depth": 1, "kernel_size": 3}},
                              ["eager", "channels_last_processes"], batch=8, steps=2)
    assert list(table["variant"]) == ["eager", "channels_last_processes"]
    eager, side = table.iloc[0], table.iloc[1]
    assert side["processes"] == 2 and side["threads"] == 1 and eager["threads"] == 2
    # together at least as many steps per second as one of them alone, and the ratio against eager's
    assert side["steps_per_second"] >= 1.0 / side["median_step_seconds"]
    assert side["speedup_vs_eager"] == pytest.approx(side["steps_per_second"] / eager["steps_per_second"])
    with pytest.raises(ValueError, match="at least 1"):
        speed.process_step_seconds({"width": 2, "depth": 1, "kernel_size": 3}, 0)
