"""The ibfs method on constructed networks whose informative filters are known: the rankings put the
label-driven filters above the noise filters, the greedy selection keeps them and holds the AUC condition
at every accepted step, layers are processed top-down with the layers above frozen, masking equals
removing, and bad parameters are named."""
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from methods import Target, get
from methods import ibfs as ibfs_method
from methods.auc import network_auc
from methods.pruning import prune

SIGNAL, NOISE = [0, 1], [2, 3, 4, 5, 6, 7]


class Harness:
    """``methods.base.Harness``'s eval_batches over (images, labels) pairs."""

    def eval_batches(self, dataset, indices=None, batch_size=500):
        x, y = dataset
        if indices is not None:
            x, y = x[indices], y[indices]
        return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(y), batch_size)]

    def train(self, *a, **k):
        raise AssertionError("ibfs does not retrain")


def toy_data(n: int, seed: int):
    """Channel 0 carries the label (class 1 bright), channels 1-2 are noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.rand(n, 3, 4, 4, generator=g)
    x[:, 0] = 0.2 * torch.rand(n, 4, 4, generator=g) + y.view(-1, 1, 1).float()
    return x, y


def toy_network() -> nn.Module:
    """conv1 (1x1, 8 filters: 0-1 read the label channel, 2-7 the noise channels) -> ReLU -> conv2 (1x1,
    8 filters: 0-1 read conv1's signal filters, 2-7 its noise filters) -> ReLU -> mean -> linear; the
    classifier leans on the signal and a little on the noise."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU(), nn.Conv2d(8, 8, 1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
    with torch.no_grad():
        for conv, src_signal, src_noise in ((net[0], [0], [1, 2]), (net[2], SIGNAL, NOISE)):
            conv.weight.zero_()
            conv.bias.fill_(0.01)
            for f in SIGNAL:
                conv.weight[f, src_signal] = 1.0
            for i, f in enumerate(NOISE):
                conv.weight[f, src_noise[i % len(src_noise)]] = 1.0 + 0.1 * i
        net[6].weight.zero_()
        net[6].bias.zero_()
        net[6].weight[1, SIGNAL] = 2.0
        net[6].weight[0, SIGNAL] = -2.0
        net[6].weight[1, NOISE] = torch.linspace(-0.3, 0.3, len(NOISE))
    return net.eval()


@pytest.fixture(scope="module")
def splits():
    return SimpleNamespace(train=toy_data(400, 1), val=toy_data(300, 2), test=toy_data(300, 3),
                           info=SimpleNamespace(input_shape=(3, 4, 4), num_classes=2))


def test_rankings_put_the_label_driven_filters_first(splits):
    """The scoring rule scores what it claims: on conv2 every label ranking puts the signal filters above
    every noise filter (a filter's image-level mean of a noise channel carries almost no label information)."""
    method = get("ibfs", auc_target=0.99)
    net = toy_network()
    from methods.activity import channel_responses
    from estimators.binning import per_filter_information

    resp, labels = channel_responses(net, {"2": "3"}, Harness().eval_batches(splits.train), "mean")
    info = per_filter_information(resp["2"], labels, bins=method.params.bins)
    for ranking in ("y0", "y1", "y0_y1"):
        s = ibfs_method.ranking_scores(info, ranking)
        assert float(s[SIGNAL].min()) > float(s[NOISE].max()) + 0.3, ranking
    assert float(info["i_ty"][SIGNAL].min()) == pytest.approx(math.log(2), abs=0.01)  # the label, fully


def test_greedy_selection_keeps_the_known_informative_filters():
    # the condition holds exactly while filters 5 and 9 are alive; they rank at the top
    order = torch.tensor([3, 0, 7, 1, 8, 2, 4, 6, 9, 5])
    calls = []

    def holds(keep):
        calls.append(keep.clone())
        ok = bool(keep[5] and keep[9])
        return ok, float(ok)

    keep, trials = ibfs_method.select_filters(order, holds, first_group=1, middle_step=1)
    assert keep.nonzero().flatten().tolist() == [5, 9]
    # low end: groups 1, 2, 4 accepted; 8 capped at 2 (one filter must stay) fails, 1 accepted, 1 fails;
    # high end: the top filter fails at once; middle: the two left fail
    assert [(t["phase"], len(t["filters"]), t["accepted"]) for t in trials] == [
        ("low", 1, True), ("low", 2, True), ("low", 4, True), ("low", 2, False), ("low", 1, True),
        ("low", 1, False), ("high", 1, False), ("middle", 1, False), ("middle", 1, False)]
    for t in trials:  # every accepted step held; every rejected one did not
        assert t["accepted"] == (t["auc"] == 1.0)
    # min_keep is never crossed, middle steps of several filters
    keep, _ = ibfs_method.select_filters(order, lambda k: (True, 1.0), middle_step=3, min_keep=2)
    assert int(keep.sum()) == 2


def test_method_keeps_signal_filters_top_down_with_upper_layers_frozen(splits, monkeypatch):
    net = toy_network()
    seen = []
    original = ibfs_method.masked_channels

    def spy(model, modules, keep):
        seen.append({u: k.clone() for u, k in keep.items()})
        return original(model, modules, keep)

    monkeypatch.setattr(ibfs_method, "masked_channels", spy)
    method = get("ibfs", auc_target=0.99, ranking="y1")
    model, keep = method.masks(net, None, splits, Target(0.0), torch.device("cpu"), harness=Harness())
    rep = method.report
    assert rep["layers_top_down"] == ["2", "0"] and rep["auc_unpruned"] > 0.99
    # conv2 keeps only signal filters, at least one; every noise filter goes
    assert keep["2"][NOISE].sum() == 0 and keep["2"][SIGNAL].sum() >= 1
    # top-down: conv2's trials come first, and while conv1 is tried conv2 stays as selected (frozen)
    conv1_calls = [k for k in seen if "0" in k and not bool(k["0"].all())]
    assert conv1_calls and all(torch.equal(k["2"], keep["2"]) for k in conv1_calls)
    first_conv1 = next(i for i, k in enumerate(seen) if "0" in k and not bool(k["0"].all()))
    assert all("0" not in k or bool(k["0"].all()) for k in seen[:first_conv1])
    for unit, trials in rep["trials"].items():
        assert all(t["auc"] >= rep["auc_threshold"] for t in trials if t["accepted"]), unit
    assert rep["auc_selected"] >= 0.99
    # masking equals removing: the physically smaller network gives the masked network's outputs
    x, y = splits.val
    small = prune(model, keep, torch.zeros(1, 3, 4, 4))
    with torch.no_grad(), ibfs_method.masked_channels(model, rep["hook_modules"], keep):
        masked_out = model(x)
    torch.testing.assert_close(small(x), masked_out, rtol=1e-5, atol=1e-6)
    assert network_auc(small(x).detach(), y) == pytest.approx(rep["auc_selected"])
    # the information plane of filters is in the report, in bits
    assert len(rep["information"]["2"]["i_xt_bits"]) == 8 and max(rep["information"]["2"]["i_ty_bits"]) <= 1.0 + 1e-9


def test_tolerance_threshold_is_below_the_unpruned_auc(splits):
    method = get("ibfs", auc_tolerance=0.05, ranking="y0_y1")
    method.masks(toy_network(), None, splits, Target(0.0), torch.device("cpu"), harness=Harness())
    assert method.report["auc_threshold"] == pytest.approx(method.report["auc_unpruned"] - 0.05)


@pytest.mark.parametrize("params, match", [
    ({}, "exactly one of auc_target"),
    ({"auc_target": 0.99, "auc_tolerance": 0.01}, "exactly one of auc_target"),
    ({"auc_target": 1.5}, "auc_target"),
    ({"auc_target": 0.99, "ranking": "y"}, "ranking"),
    ({"auc_target": 0.99, "reduce": "median"}, "reduce"),
    ({"auc_target": 0.99, "auc_split": "test"}, "held-out"),
    ({"auc_target": 0.99, "first_group": 0}, "first_group"),
])
def test_bad_params_are_named(params, match):
    with pytest.raises(ValueError, match=match):
        get("ibfs", **params)


def test_ranking_of_a_missing_class_and_unknown_layers_are_named(splits):
    info = {"h_t": torch.zeros(3), "i_ty": torch.zeros(3), "class_info": torch.zeros(3, 2)}
    with pytest.raises(ValueError, match="only 2 classes"):
        ibfs_method.ranking_scores(info, "y2")
    method = get("ibfs", auc_target=0.9, layers=["conv9"])
    with pytest.raises(ValueError, match="'conv9' matches no prunable unit"):
        method.masks(toy_network(), None, splits, Target(0.0), torch.device("cpu"), harness=Harness())
