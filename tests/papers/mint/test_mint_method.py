"""MINT: groups, the quantile/cap rule, paired sampling, connection masks, the shared-block group scores,
zeros held through retraining, score chunks, and a smoke run of the whole method through the pipeline."""
import pytest
import torch
from torch import nn

from benchmarks.datasets.base import DatasetInfo, Splits, TensorImageDataset
from estimators.gmi import conditional_from_sqdist, contiguous_groups, group_scores, sqdist
from estimators import _mst_numba
from methods import Target

from benchmarks import pipeline
from methods.mint import MINT, merge_scores, score
from methods.mint.core import (LayerPair, cap_value, collect_activations, connection_masks, layer_pairs, lookup,
                               pair_groups, per_class_indices, select_pairs, thresholds)
from methods.pruning import apply_weight_masks, hold_zeros


def test_groups_are_contiguous_and_cover_every_unit():
    groups = contiguous_groups(10, 3)
    assert [g.tolist() for g in groups] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert [len(g) for g in contiguous_groups(500, 250)] == [2] * 250
    with pytest.raises(ValueError, match="1..10"):
        contiguous_groups(10, 11)
    pair = LayerPair("fc2", "fc3", 300, 10, 1)
    assert pair_groups(pair, {"fc3": [300, 10]}, 64) == (300, 10)
    assert pair_groups(pair, {}, 64) == (64, 10)  # the 10 logits cannot form 64 groups
    assert pair_groups(LayerPair("a", "layer2.3.conv1", 32, 32, 1), {"layer1.*": 16, "layer2.*": 32}, 64) == (32, 32)
    assert lookup({"layer2.0.conv1": 1, "layer2.*": 2}, "layer2.0.conv1", 0) == 1


def test_threshold_is_the_pooled_quantile_and_the_cap_takes_over_per_pair():
    a = torch.arange(10, dtype=torch.float64).reshape(2, 5) / 10  # 0.0 .. 0.9
    b = torch.full((2, 5), 0.05, dtype=torch.float64)  # all low: delta would remove every connection
    delta, per = thresholds({"a": a, "b": b}, 0.5, {"a": None, "b": None})
    pooled = torch.cat([a.flatten(), b.flatten()])
    assert delta == pytest.approx(float(torch.quantile(pooled, 0.5)))
    assert per == {"a": delta, "b": delta}
    # cap 0.3 on b: it would lose 100% > 30%, so b uses its own 0.3 quantile (all equal -> 0.05, keeps all)
    delta2, per2 = thresholds({"a": a, "b": b}, 0.5, {"a": None, "b": 0.3})
    assert delta2 == delta and per2["b"] == pytest.approx(0.05) and per2["a"] == delta
    assert float((b >= per2["b"]).double().mean()) == 1.0
    # cap on a: at delta a loses 2 of 10 (< 0.3), so the pooled delta stands
    _, per3 = thresholds({"a": a, "b": b}, 0.5, {"a": 0.3, "b": None})
    assert per3["a"] == delta
    # unique quantile (the authors' code) differs where scores repeat
    d_unique, _ = thresholds({"b": b, "a": a}, 0.5, {}, quantile_of="unique")
    assert d_unique == pytest.approx(float(torch.quantile(pooled.unique(), 0.5)))
    with pytest.raises(ValueError, match="prune_percent"):
        thresholds({"a": a}, 1.5, {})
    with pytest.raises(ValueError, match="NaN"):
        thresholds({"a": torch.tensor([[float("nan")]])}, 0.5, {})


def test_cap_as_a_function_of_groups():
    assert cap_value(None, 10) is None and cap_value(0.8, 50) == 0.8
    assert cap_value({"type": "linear", "a": 0.5, "b": 0.01}, 20) == pytest.approx(0.7)
    assert cap_value({"type": "quadratic", "a": 0.5, "b": 0.0, "c": 0.001}, 10) == pytest.approx(0.6)
    assert cap_value({"type": "linear", "a": 0.9, "b": 0.01}, 50) == 1.0  # clipped
    with pytest.raises(ValueError, match="cap"):
        cap_value({"type": "cubic"}, 3)


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))


def test_layer_pairs_and_selection():
    pairs = layer_pairs(_mlp(), torch.zeros(1, 6))
    assert [(p.parent, p.child, p.parent_channels, p.child_channels, p.block) for p in pairs] == [
        ("1", "3", 8, 6, 1), ("3", "5", 6, 3, 1)]
    assert [p.child for p in select_pairs(pairs, skip=["5"])] == ["3"]
    with pytest.raises(ValueError, match="children are"):
        select_pairs(pairs, skip=["7"])
    # conv -> flatten -> linear: each parent channel owns its spatial block of columns
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 2))
    (p,) = layer_pairs(net, torch.zeros(1, 1, 5, 5))
    assert (p.parent, p.child, p.block) == ("0", "3", 25)


def test_paired_sampling_rows_come_from_the_same_images():
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 2])
    idx = per_class_indices(labels, 4, seed=1)
    assert idx.shape == (12,) and (labels[idx] == torch.tensor([0] * 4 + [1] * 4 + [2] * 4)).all()
    assert torch.equal(idx, per_class_indices(labels, 4, seed=1))
    with pytest.raises(ValueError, match="class 1"):
        per_class_indices(torch.tensor([0, 2]), 2, 0)
    model = _mlp().eval()
    pairs = layer_pairs(model, torch.zeros(1, 6))
    x = torch.randn(40, 6)
    batches = [(x[i:i + 7], None) for i in range(0, 40, 7)]  # several batches: rows must stay aligned
    acts = collect_activations(model, batches, pairs, "consumer_input")
    parent, child = acts["1->3"]
    # the child (after ReLU) is a function of the parent row of the same image
    assert torch.allclose(child, torch.relu(model[3](parent)), atol=1e-6)
    assert torch.allclose(parent, torch.relu(model[1](x.flatten(1))), atol=1e-6)
    pre = collect_activations(model, batches, pairs, "layer_output")
    assert torch.allclose(pre["1->3"][1], model[3](torch.relu(pre["1->3"][0])), atol=1e-6)
    # the last child has no consumer: its own output (the logits)
    assert torch.allclose(acts["3->5"][1], model(x), atol=1e-6)


def test_retained_connections_are_exactly_those_above_the_threshold():
    model = _mlp()
    pairs = layer_pairs(model, torch.zeros(1, 6))
    torch.manual_seed(3)
    scores = {"1->3": torch.rand(3, 4, dtype=torch.float64), "3->5": torch.rand(3, 2, dtype=torch.float64)}
    delta, per = thresholds(scores, 0.4, {})
    keep = {n: s >= per[n] for n, s in scores.items()}
    masks = connection_masks(model, pairs, keep)
    w = masks["3.weight"]  # (6 out, 8 in): child groups of 2 rows, parent groups of 2 columns
    for c, cg in enumerate(contiguous_groups(6, 3)):
        for g, gg in enumerate(contiguous_groups(8, 4)):
            assert bool(w[cg][:, gg].all()) == bool(scores["1->3"][c, g] >= delta)
            assert bool(w[cg][:, gg].any()) == bool(scores["1->3"][c, g] >= delta)
    masked = apply_weight_masks(model, masks)
    assert int((masked[3].weight == 0).sum()) == int((~w).sum())
    # conv child: whole kernels W[c, g, :, :]
    conv = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3))
    (p,) = layer_pairs(conv, torch.zeros(1, 1, 8, 8))
    m = connection_masks(conv, [p], {p.name: torch.tensor([[True, False], [False, True]])})["2.weight"]
    assert m.shape == (2, 4, 3, 3)
    assert m[0, :2].all() and not m[0, 2:].any() and not m[1, :2].any() and m[1, 2:].all()


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_group_scores_equal_the_estimator_on_each_triple(backend):
    if backend == "numba" and not _mst_numba.AVAILABLE:
        pytest.skip("numba not installed")
    g = torch.Generator().manual_seed(0)
    parent = torch.randn(150, 6, generator=g, dtype=torch.float64)
    child = torch.randn(150, 4, generator=g, dtype=torch.float64)
    child[:, 0] += 3 * parent[:, 0]  # child group 0 depends on parent group 0
    pg, cg = contiguous_groups(6, 3), contiguous_groups(4, 2)
    s = group_scores(parent, child, pg, cg, seed=5, backend=backend)
    for gi, gg in enumerate(pg):
        rest = torch.tensor([i for i in range(6) if i not in gg.tolist()])
        for ci, cc in enumerate(cg):
            ref = conditional_from_sqdist(sqdist(parent[:, gg]), sqdist(child[:, cc]), sqdist(parent[:, rest]), seed=5)
            assert float(s[ci, gi]) == pytest.approx(float(ref), abs=1e-12)
    assert s[0, 0] == s[0].max()  # the dependent pair scores highest in its row
    part = group_scores(parent, child, pg, cg, seed=5, backend=backend, parent_subset=[1])
    assert torch.isnan(part[:, [0, 2]]).all() and torch.equal(part[:, 1], s[:, 1])
    with pytest.raises(ValueError, match="NaN or inf"):
        group_scores(parent * float("nan"), child, pg, cg)
    with pytest.raises(ValueError, match="at least 6"):
        group_scores(parent[:4], child[:4], pg, cg)


def _splits(n=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    info = DatasetInfo(name="toy", num_classes=3, input_shape=(1, 2, 3), mean=(0.5,), std=(0.25,), in_memory=True)
    labels = torch.arange(n) % 3
    images = (torch.rand(n, 1, 2, 3, generator=g) * 60 + labels.view(-1, 1, 1, 1) * 80).to(torch.uint8)
    ds = TensorImageDataset(images, labels, info)
    return Splits(train=ds, val=ds.subset(torch.arange(30)), test=ds.subset(torch.arange(30, 60)), info=info)


def test_score_chunks_merge_to_the_whole_and_settings_are_checked(tmp_path):
    splits = _splits()
    model = _mlp()
    params = MINT.Params(groups=3, samples_per_class=12, hook="consumer_input", prune_percent=0.5)
    cpu = torch.device("cpu")
    harness = pipeline.TrainerHarness(splits, cpu)
    whole = score(model, splits, params, cpu, harness=harness)
    parts = [score(model, splits, params, cpu, harness=harness, chunk=(k, 2)) for k in range(2)]
    merged = merge_scores(parts)
    for name in whole["scores"]:
        assert torch.equal(merged["scores"][name], whole["scores"][name])
    with pytest.raises(ValueError, match="chunks 0..1"):
        merge_scores(parts[:1])
    torch.save(merged, tmp_path / "scores.pt")
    m = MINT(groups=4, samples_per_class=12, hook="consumer_input", prune_percent=0.5, scores=str(tmp_path / "scores.pt"))
    with pytest.raises(ValueError, match="was made with"):
        m.masks(model, None, splits, Target(0.0), torch.device("cpu"))


def test_params_validation():
    with pytest.raises(ValueError, match="hook"):
        MINT(hook="post")
    with pytest.raises(ValueError, match="pair_groups"):
        MINT(pair_groups={"4": [1, 2, 3]})
    with pytest.raises(ValueError, match="prune_percent"):
        MINT(prune_percent=2)
    with pytest.raises(ValueError, match="samples_per_class"):
        MINT(samples_per_class=0)


def test_hold_zeros_keeps_pruned_weights_at_zero_through_sgd_and_adam():
    for opt_cls in (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
                    lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=1e-3)):
        model = _mlp()
        with torch.no_grad():
            model[3].weight[:, :4] = 0
        handles = hold_zeros(model, ["3.weight"])
        opt = opt_cls(model.parameters())
        for _ in range(5):
            opt.zero_grad()
            model(torch.randn(16, 6)).pow(2).mean().backward()
            opt.step()
        assert (model[3].weight[:, :4] == 0).all() and (model[3].weight[:, 4:] != 0).all()
        for h in handles:
            h.remove()
    with pytest.raises(KeyError, match="name no parameter"):
        hold_zeros(_mlp(), ["nope.weight"])


def test_mint_through_the_pipeline_prunes_retrains_and_keeps_sparsity(tmp_path):
    """The method end to end on toy data with the registry's MINT MLP (6-500-300-3): score -> threshold ->
    zero blocks -> physical removal of dead units -> retraining with zeros held -> metrics; the record
    carries MINT's report and per-layer weights, and the saved pruned model rebuilds."""
    from benchmarks import checkpoint, models

    splits = _splits(300)
    torch.manual_seed(0)
    arch = checkpoint.architecture("mint_mlp", {}, 3, (1, 2, 3))
    checkpoint.save_model(tmp_path / "base.pt", models.build_model("mint_mlp", 3, (1, 2, 3)), arch)
    rec = pipeline.run(tmp_path / "base.pt", splits, method="mint",
                       method_params={"prune_percent": 0.6, "groups": 5, "pair_groups": {"4": [50, 30]},
                                      "samples_per_class": 60, "hook": "consumer_input", "quantile_of": "unique"},
                       target=Target(0.0), finetune={"name": "ft", "optimizer": "sgd", "lr": 0.05, "momentum": 0.9,
                                                     "batch_size": 16, "epochs": 2},
                       seed=0, device=torch.device("cpu"), out_model=tmp_path / "m.pt",
                       measure_options={"latency_batches": (1,), "latency_repeats": 1, "latency_warmup": 0})
    rep = rec["method_report"]
    assert rep["pairs"] == ["1->4", "4->7"] and min(rep["connections_kept"].values()) < 1
    assert rec["setting"] == "prune_percent=0.6"
    lw = rec["layer_weights"]
    # the zeroed share of layer 2 survives retraining (dead units removed, the rest stays sparse)
    assert lw["4"]["nonzero"] / lw["4"]["total_original"] <= rep["weights_kept"]["4.weight"] + 1e-9
    assert lw["4"]["csr_mint_mib"] < lw["4"]["csr_mint_mib_original"]
    assert rec["metrics"]["params_nonzero"] < rec["original_metrics"]["params_nonzero"]
    pruned, _ = checkpoint.load_model(tmp_path / "m.pt")
    assert int(torch.count_nonzero(pruned.get_submodule("4").weight)) == lw["4"]["nonzero"]


def test_reference_transcriptions_load_and_a_misquoted_row_is_named(tmp_path):
    import pandas as pd
    from benchmarks.papers.mint.tables import REFERENCE_ABLATION_COLUMNS, REFERENCE_TABLE_COLUMNS, build_ablation
    from benchmarks.reference import load_reference
    from conftest import REPO
    root = REPO / "results" / "reference"
    table = load_reference(root / "mint_table1.csv", REFERENCE_TABLE_COLUMNS, REFERENCE_TABLE_COLUMNS[2:])
    assert table.loc[(table["benchmark"] == "mlp_mnist") & (table["method"] == "MINT"), "params_pruned_pct"].item() == 96.01
    ablation = load_reference(root / "mint_ablations_code_readme.csv", REFERENCE_ABLATION_COLUMNS, ["params_pruned_pct"])
    # the ablation lookup finds the authors' value for a run's setting
    run = {"variant": "g5", "benchmark": "b", "scale": "paper", "seed": 0, "prune_percent": 0.5, "delta": 0.01,
           "groups": 5, "samples_per_class": 250, "params_pruned_pct": 80.0, "params_pruned_all_pct": 20.0,
           "accuracy_pct": 98.5, "val_accuracy_pct": 98.4, "accuracy_before_retrain_pct": 90.0, "memory_mb": 0.1,
           "memory_mb_original": 0.5, "ece": 0.01, "pruned_model": "500-300"}
    runs = pd.DataFrame([run])
    baselines = pd.DataFrame([{"benchmark": "b", "seed": 0, "val_accuracy_pct": 98.45, "accuracy_pct": 98.6}])
    out = build_ablation("fig4a", runs, baselines, {"none": ["g5"]}, ablation, 0.09)
    assert out["reference_params_pruned_pct"].item() == 86.27
    assert out["at_grid_top"].item() and "lower bound" in out["note"].item()  # the only grid point qualified
    broken = tmp_path / "broken.csv"
    broken.write_text("study,setting,params_pruned_pct,source\ngroups (MLP, 250 samples/class),G=5,86.27,README\n")
    with pytest.raises(ValueError, match=r"row 2 has 5 fields, the header 4"):
        load_reference(broken, REFERENCE_ABLATION_COLUMNS, ["params_pruned_pct"])
    broken.write_text("study,setting,params_pruned_pct,source\ngroups,G=5,about 86,README\n")
    with pytest.raises(ValueError, match=r"row 2, column 'params_pruned_pct' = 'about 86' is not a number"):
        load_reference(broken, REFERENCE_ABLATION_COLUMNS, ["params_pruned_pct"])
