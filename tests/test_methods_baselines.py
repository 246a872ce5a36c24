"""The baseline pruning methods (random, L1-norm) and the shared pipeline step they plug into."""
import pytest
import torch

import methods
from benchmarks import checkpoint, models
from methods import Target
from methods.pruning import masks_from_scores, prunable_units


def lenet5():
    torch.manual_seed(0)
    return models.build_model("lenet5_caffe", 10, (1, 28, 28))


X = torch.zeros(1, 1, 28, 28)


def test_l1_scores_are_filter_l1_norms():
    model = lenet5()
    units = prunable_units(model, X)
    scores = methods.get("l1").scores(model, units, None, torch.device("cpu"))
    conv1 = model[0].weight.detach()
    assert torch.allclose(scores[units[0].name], conv1.abs().sum(dim=(1, 2, 3)))
    fc1 = [u for u in units if u.size == 500][0]
    w = model.get_submodule(fc1.members[0]).weight.detach()
    assert torch.allclose(scores[fc1.name], w.abs().sum(1))


def test_l1_removes_the_smallest_filters():
    model = lenet5()
    with torch.no_grad():
        model[0].weight.mul_(0.01)
        model[0].weight[3].mul_(100.0)  # filter 3 has by far the largest norm
        model[0].weight[7].zero_()  # filter 7 the smallest
    units = prunable_units(model, X)
    _, keep = methods.get("l1").masks(model, units, None, Target(ratio=0.9), torch.device("cpu"))
    k = keep[units[0].name]
    assert k[3] and not k[7] and int(k.sum()) == 2  # round(0.9 * 20) = 18 removed


def test_tied_residual_units_sum_member_norms():
    torch.manual_seed(0)
    model = models.build_model("resnet56", 10, (3, 32, 32))
    units = prunable_units(model, torch.zeros(1, 3, 32, 32))
    tied = [u for u in units if len(u.members) > 1][0]
    scores = methods.get("l1").scores(model, units, None, torch.device("cpu"))
    expected = sum(model.get_submodule(m).weight.detach().abs().reshape(tied.size, -1).sum(1) for m in tied.members)
    assert torch.allclose(scores[tied.name], expected)


def test_random_is_seeded_and_uniform_in_size():
    model = lenet5()
    units = prunable_units(model, X)
    a = methods.get("random", seed=1).scores(model, units, None, None)
    b = methods.get("random", seed=1).scores(model, units, None, None)
    c = methods.get("random", seed=2).scores(model, units, None, None)
    assert all(torch.equal(a[k], b[k]) for k in a) and not all(torch.equal(a[k], c[k]) for k in a)
    keep = masks_from_scores(a, ratio=0.5)
    assert [int(keep[u.name].sum()) for u in units] == [u.size - round(0.5 * u.size + 1e-9) for u in units]


def test_registry_and_params_errors():
    assert set(methods.METHODS) >= {"random", "l1"}
    with pytest.raises(KeyError, match="available"):
        methods.get("magic")
    with pytest.raises(TypeError, match="allowed params"):
        methods.get("random", temperature=1.0)
    with pytest.raises(ValueError, match=r"ratio must be in \[0, 1\)"):
        Target(ratio=1.0)
    with pytest.raises(ValueError, match="scope"):
        Target(ratio=0.5, scope="everywhere")


def test_pipeline_prunes_finetunes_and_measures(tmp_path):
    """The shared pipeline on a toy MNIST-shaped problem: physically smaller, fine-tuned, measured."""
    from benchmarks.datasets import DatasetInfo, Splits, TensorImageDataset
    from benchmarks import pipeline

    info = DatasetInfo("toy", 10, (1, 28, 28), (0.5,), (0.25,), in_memory=True)
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (300,), generator=g)
    imgs = (labels.view(-1, 1, 1, 1) * 20 + torch.randint(0, 40, (300, 1, 28, 28), generator=g)).to(torch.uint8)
    ds = TensorImageDataset(imgs, labels, info)
    splits = Splits(ds.subset(torch.arange(200)), ds.subset(torch.arange(200, 250)), ds.subset(torch.arange(250, 300)), info)
    torch.manual_seed(0)
    model = models.build_model("lenet_300_100", 10, (1, 28, 28))
    arch = checkpoint.architecture("lenet_300_100", {}, 10, (1, 28, 28))
    checkpoint.save_model(tmp_path / "base.pt", model, arch)
    protocol = {"name": "ft", "optimizer": "adam", "lr": 1e-3, "batch_size": 50, "epochs": 1}
    rec = pipeline.run(tmp_path / "base.pt", splits, method="l1", method_params={}, target=Target(ratio=0.7),
                       finetune=protocol, seed=0, device=torch.device("cpu"), out_model=tmp_path / "pruned.pt")
    assert rec["pruned_architecture"] == "90-30" and rec["original_architecture"] == "300-100"
    m = rec["metrics"]
    assert m["params_total"] == 784 * 90 + 90 + 90 * 30 + 30 + 30 * 10 + 10
    assert m["r_w"] == pytest.approx((784 * 90 + 90 * 30 + 30 * 10) / (784 * 300 + 300 * 100 + 100 * 10))
    assert len(rec["finetune_history"]) == 1 and rec["test"]["n"] == 50
    pruned, ck = checkpoint.load_model(tmp_path / "pruned.pt")
    assert sum(p.numel() for p in pruned.parameters()) == m["params_total"] and ck["arch"]["widths"]


def test_checkpoint_architecture_mismatch_is_refused(tmp_path):
    """A model file whose weights do not fit its architecture description fails before any work,
    naming the tensor and both shapes."""
    torch.manual_seed(0)
    model = models.build_model("lenet_300_100", 10, (1, 28, 28))
    arch = checkpoint.architecture("lenet_300_100", {}, 10, (1, 28, 28))
    checkpoint.save_model(tmp_path / "ok.pt", model, arch)
    ck = torch.load(tmp_path / "ok.pt", weights_only=False)
    ck["state_dict"]["3.weight"] = torch.zeros(99, 300)
    torch.save(ck, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"'3.weight' has shape \(99, 300\).*expects \(100, 300\)"):
        checkpoint.load_model(tmp_path / "bad.pt")
    ck["arch"]["widths"] = {"1": 50}  # a pruned architecture the weights do not fit
    ck["state_dict"]["3.weight"] = torch.zeros(100, 300)
    torch.save(ck, tmp_path / "bad2.pt")
    with pytest.raises((ValueError, KeyError)):
        checkpoint.load_model(tmp_path / "bad2.pt")
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not an ibbench model file"):
        checkpoint.load_model(tmp_path / "foreign.pt")
