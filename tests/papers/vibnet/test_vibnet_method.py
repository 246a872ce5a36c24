"""VIBNet (Dai et al., ICML 2018): IB layer, KL terms, threshold rule, placement, exact folding, training."""
import math

import pytest
import torch
from torch import nn

from benchmarks import checkpoint, models, pipeline
from methods import METHODS, Target
from methods import get as get_method
from methods.pruning import architecture_string, build_pruned, prune, pruned_architecture
from methods.vibnet import (FoldingError, InformationBottleneck, VIBNet, bottlenecks, code_equivalent_gamma, equip,
                            find_sites, kl_penalty, objective_coefficients, parameter_groups, to_plain)

PROTOCOL = {"optimizer": "adam", "lr": 1e-3, "batch_size": 50, "epochs": 1}


def ib_with(mu, log_sigma2, **kw) -> InformationBottleneck:
    ib = InformationBottleneck(len(mu), **kw).double()
    with torch.no_grad():
        ib.mu.copy_(torch.tensor(mu, dtype=torch.float64))
        ib.log_sigma2.copy_(torch.tensor(log_sigma2, dtype=torch.float64))
    return ib


# alpha = mu^2 / sigma^2 = 1, 1, 0, 1: KL = 3 log 2; d/dmu = 2 mu / (sigma^2 (1 + alpha)) = 1, -2, 0, 0.5;
# d/dlog sigma^2 = -alpha / (1 + alpha) = -1/2, -1/2, 0, -1/2.
MU = [1.0, -0.5, 0.0, 2.0]
LOG_S2 = [0.0, math.log(0.25), -1.0, math.log(4.0)]


def test_paper_kl_and_its_gradient_match_the_hand_computation():
    ib = ib_with(MU, LOG_S2)
    kl = ib.kl()
    assert kl.item() == pytest.approx(3 * math.log(2), rel=1e-12)
    kl.backward()
    assert ib.mu.grad.tolist() == pytest.approx([1.0, -2.0, 0.0, 0.5], rel=1e-12, abs=1e-15)
    assert ib.log_sigma2.grad.tolist() == pytest.approx([-0.5, -0.5, 0.0, -0.5], rel=1e-12, abs=1e-15)
    # and against the analytic derivative at random points
    g = torch.Generator().manual_seed(0)
    mu, ls = torch.randn(50, generator=g, dtype=torch.float64), torch.randn(50, generator=g, dtype=torch.float64) * 3
    ib = ib_with(mu.tolist(), ls.tolist())
    ib.kl().backward()
    a = mu ** 2 * torch.exp(-ls)
    assert torch.allclose(ib.mu.grad, 2 * mu * torch.exp(-ls) / (1 + a), rtol=1e-10)
    assert torch.allclose(ib.log_sigma2.grad, -a / (1 + a), rtol=1e-10)


def test_code_kl_uses_half_the_log_and_the_map_side():
    # 0.5 * 3 log 2 * H * W * kl_mult, kl_mult = 1 / W: the factor is H (8 for 8x8 maps, 4 for 4x8, 1 for FC)
    for spatial, factor in (((8, 8), 8.0), ((4, 8), 4.0), ((), 1.0)):
        ib = ib_with(MU, LOG_S2, form="code", spatial=spatial)
        assert ib.code_kl_weight == factor
        assert ib.kl().item() == pytest.approx(0.5 * 3 * math.log(2) * factor, rel=1e-7)  # 1e-8 added to sigma^2


def test_objective_coefficients_and_penalty():
    assert objective_coefficients(3, form="paper", gamma=0.3) == pytest.approx([0.1, 0.1, 0.1])
    assert objective_coefficients(2, form="paper", gamma=[1.0, 4.0]) == pytest.approx([0.5, 2.0])
    assert objective_coefficients(4, form="code", kl_fac=1e-5) == [1e-5] * 4
    with pytest.raises(ValueError, match="gamma lists 2 values but the network has 3"):
        objective_coefficients(3, form="paper", gamma=[1.0, 2.0])
    a, b = ib_with(MU, LOG_S2), ib_with([1.0], [0.0])  # KLs 3 log 2 and log 2
    assert kl_penalty([a, b], [0.5, 2.0]).item() == pytest.approx(3.5 * math.log(2))


def test_code_equivalent_gamma_reproduces_the_code_penalty():
    torch.manual_seed(0)
    ib_model = equip(models.build_model("lenet5_caffe", 10, (1, 28, 28)), torch.zeros(1, 1, 28, 28), form="code")
    ibs = bottlenecks(ib_model)
    assert [ib.code_kl_weight for ib in ibs] == [12.0, 4.0, 1.0]  # maps 12x12 and 4x4 after the pools; FC
    with torch.no_grad():
        for ib in ibs:
            ib.log_sigma2.copy_(torch.randn(ib.channels) * 2)  # alpha around 1; sigma^2 >> the code's 1e-8
    code = kl_penalty(ibs, objective_coefficients(3, form="code", kl_fac=2e-5)).item()
    gammas = code_equivalent_gamma(ibs, 2e-5)
    assert gammas == pytest.approx([3 * 2e-5 * 0.5 * w for w in (12, 4, 1)])
    for ib in ibs:
        ib.form = "paper"
    paper = kl_penalty(ibs, objective_coefficients(3, form="paper", gamma=gammas)).item()
    assert paper == pytest.approx(code, rel=1e-5)


def test_test_time_network_is_the_noise_free_one_and_noise_is_shared_over_positions():
    torch.manual_seed(0)
    ib = InformationBottleneck(6, spatial=(5, 5))  # log alpha ~ 9 at initialisation: every unit kept
    assert bool(ib.keep_mask().all())
    x = torch.randn(3, 6, 5, 5)
    ib.train()
    clean = ib.apply_noise(x, torch.zeros(3, 6))
    ib.eval()
    assert torch.equal(ib(x), clean)
    assert torch.allclose(clean, x * ib.mu.detach().view(1, 6, 1, 1))
    ib.train()
    with torch.no_grad():
        ib.log_sigma2.fill_(0.0)  # sigma = 1: visible noise
    z = ib(x) / x
    assert torch.allclose(z, z[:, :, :1, :1].expand_as(z), rtol=1e-5)  # one draw per (sample, channel)
    assert z[:, :, 0, 0].std() > 0.3


def test_threshold_rule_paper_and_code_forms():
    # alpha = 2, 0.5, 100, 0.25, 4 (the last with negative mu)
    mu = [1.0, 1.0, 0.1, 0.5, -2.0]
    ls = [math.log(0.5), math.log(2.0), math.log(1e-4), 0.0, 0.0]
    expected = [True, False, True, False, True]
    for form in ("paper", "code"):
        assert ib_with(mu, ls, form=form).keep_mask().tolist() == expected
    # keep alpha > 3: paper threshold log 3 on log alpha, code threshold -log 3 on log(1 / alpha)
    assert ib_with(mu, ls, threshold=math.log(3)).keep_mask().tolist() == [False, False, True, False, True]
    assert ib_with(mu, ls, form="code", threshold=-math.log(3)).keep_mask().tolist() == [False, False, True,
                                                                                         False, True]
    # floor: nothing passes; the most informative units stay
    assert ib_with(mu, ls, threshold=10.0).keep_mask().tolist() == [False, False, True, False, False]
    assert ib_with(mu, ls, threshold=10.0, min_keep=2).keep_mask().tolist() == [False, False, True, False, True]
    ib = ib_with(mu, ls)
    assert ib.deterministic_scale().tolist() == [1.0, 0.0, 0.1, 0.0, -2.0]


def test_placement_follows_the_paper_and_code():
    x = torch.zeros(1, 1, 28, 28)
    sites = find_sites(models.build_model("lenet_300_100", 10, (1, 28, 28)), x, input_bottleneck=True)
    assert [(s.unit, s.path, s.channels) for s in sites] == [("input", "0", 784), ("1", "2", 300), ("3", "4", 100)]
    # LeNet-5-Caffe: no ReLU after the convs, so after the max-pools; FC after its ReLU
    sites = find_sites(models.build_model("lenet5_caffe", 10, (1, 28, 28)), x)
    assert [(s.unit, s.path, s.spatial) for s in sites] == [("0", "1", (12, 12)), ("2", "3", (4, 4)), ("5", "6", ())]
    vgg = models.build_model("vgg16_cifar", 10, (3, 32, 32), head="vibnet_bc")
    sites = find_sites(vgg, torch.zeros(1, 3, 32, 32))
    assert len(sites) == 15  # 13 convs + 2 FC, config D4 of the authors' code
    assert (sites[1].unit, sites[1].path, sites[1].spatial) == ("features.3", "features.5", (32, 32))  # ReLU, pre-pool
    assert sites[-1].path == "classifier.4"
    with pytest.raises(ValueError, match="input_bottleneck=True needs"):
        find_sites(models.build_model("lenet5_caffe", 10, (1, 28, 28)), x, input_bottleneck=True)
    with pytest.raises(NotImplementedError, match="residual stream"):
        find_sites(models.build_model("resnet56", 10, (3, 32, 32)), torch.zeros(1, 3, 32, 32))


def _randomise(ib_model: nn.Module, negative: dict, seed: int = 0) -> None:
    """Random alphas around 1 (about half the units pruned) and negative mu on the kept units of the named
    bottlenecks; BatchNorm statistics and affine parameters random too."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for ib in bottlenecks(ib_model):
            ib.mu.copy_(0.5 + torch.rand(ib.channels, generator=g))
            ib.log_sigma2.copy_(torch.randn(ib.channels, generator=g) * 2)
            if ib.unit in negative:
                ib.mu[::negative[ib.unit]] *= -1
        for m in ib_model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.weight.copy_(1 + 0.2 * torch.randn(m.num_features, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.num_features, generator=g))


def _check_fold(model, shape, negative, input_bottleneck=False, batch=4):
    torch.manual_seed(0)
    x = torch.randn(batch, *shape)
    ib_model = equip(model, x[:1], input_bottleneck=input_bottleneck).eval()
    _randomise(ib_model, negative)
    plain, keep = to_plain(ib_model, x[:1])
    pruned = prune(plain, keep, x[:1]).eval()
    with torch.no_grad():
        want = ib_model(x)
        got_plain, got = plain.eval()(x), pruned(x)
    scale = want.abs().max()
    assert torch.allclose(got_plain, want, atol=1e-5 * scale, rtol=1e-5)
    assert torch.allclose(got, want, atol=1e-5 * scale, rtol=1e-5)
    for ib in bottlenecks(ib_model):
        assert 0 < int(keep[ib.unit].sum()) < ib.channels  # a real pruning, not all or nothing
    return ib_model, plain, keep, pruned


def test_pruned_lenet_300_100_with_input_bottleneck_equals_the_ib_network():
    model = models.build_model("lenet_300_100", 10, (1, 28, 28))
    ib_model, plain, keep, pruned = _check_fold(model, (1, 28, 28), {"input": 3, "1": 2, "3": 5},
                                                input_bottleneck=True)
    want = "-".join(str(int(keep[u].sum())) for u in ("input", "1", "3"))
    assert architecture_string(pruned, include_input=True) == want
    # the plain network is the registry architecture: the checkpoint rebuild takes its state dict
    assert set(plain.state_dict()) == set(model.state_dict())
    arch = pruned_architecture(checkpoint.architecture("lenet_300_100", {}, 10, (1, 28, 28)), pruned)
    rebuilt = build_pruned(arch, checkpoint.build)
    rebuilt.load_state_dict(pruned.state_dict())
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(rebuilt.eval()(x), pruned(x), atol=1e-6)


def test_pruned_lenet5_caffe_equals_the_ib_network():
    _check_fold(models.build_model("lenet5_caffe", 10, (1, 28, 28)), (1, 28, 28), {"0": 2, "2": 3, "5": 4})


def test_pruned_vgg16_equals_the_ib_network_and_negative_mu_before_a_max_pool_is_refused():
    torch.manual_seed(0)
    vgg = models.build_model("vgg16_cifar", 10, (3, 32, 32), head="vibnet_bc")
    # negative mu where a conv or Linear follows directly (any sign folds); features.3 is followed by a max-pool
    _check_fold(vgg, (3, 32, 32), {"features.0": 2, "features.14": 3, "classifier.1": 2, "classifier.3": 3}, batch=2)
    x = torch.zeros(1, 3, 32, 32)
    ib_model = equip(vgg, x).eval()
    _randomise(ib_model, {"features.3": 1})
    with pytest.raises(FoldingError, match=r"unit 'features.3'.*negative factor"):
        to_plain(ib_model, x)


def test_backward_fold_when_the_forward_path_is_blocked():
    # Linear -> ReLU -> IB -> BatchNorm -> Linear: the BN blocks the forward fold, so the (positive) factor goes
    # into the rows of the first Linear; a negative one cannot cross the ReLU either way, and a removed channel
    # would not be zero after the BN (eval maps 0 to beta - mean * gamma / sd), so removal is refused.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Linear(8, 3))
    x = torch.randn(5, 1, 3, 4)
    for negative, threshold, error in (({}, -1e9, None), ({"1": 2}, -1e9, "negative factor"),
                                       ({}, 0.0, "need not map a removed")):
        ib_model = equip(model, x[:1], threshold=threshold).eval()
        _randomise(ib_model, negative)
        if error:
            with pytest.raises(FoldingError, match=error):
                to_plain(ib_model, x[:1])
            continue
        plain, keep = to_plain(ib_model, x[:1])
        assert bool(keep["1"].all())
        assert not torch.equal(plain[1].weight, ib_model[1].weight)  # folded into the producer's rows
        with torch.no_grad():
            assert torch.allclose(plain.eval()(x), ib_model(x), atol=1e-6)
        assert torch.equal(plain[4].weight, ib_model[4].weight)


def test_parameter_groups_decay_bottlenecks_only_in_code_form():
    ib_model = equip(models.build_model("lenet_300_100", 10, (1, 28, 28)), torch.zeros(1, 1, 28, 28))
    paper = parameter_groups(ib_model, 5e-4, decay_bottlenecks=False)
    code = parameter_groups(ib_model, 5e-4, decay_bottlenecks=True)
    assert [g["weight_decay"] for g in paper] == [5e-4, 0.0] and [g["weight_decay"] for g in code] == [5e-4, 5e-4]
    assert len(paper[1]["params"]) == 4 and len(paper[0]["params"]) == 6  # (mu, log sigma^2) x 2; (W, b) x 3
    # the L2 penalty the trainer gets has gradient wd * p on the decayed parameters only
    m = VIBNet(protocol={**PROTOCOL, "weight_decay": 0.1}, gamma=0.0)
    m.loss(ib_model, 0.1)(ib_model).backward()
    ib = bottlenecks(ib_model)[0]
    assert ib.mu.grad is None or float(ib.mu.grad.abs().max()) == 0.0
    w = ib_model.get_submodule("1").weight
    assert torch.allclose(w.grad, 0.1 * w.detach())


def _toy_splits():
    from benchmarks.datasets import DatasetInfo, Splits, TensorImageDataset

    info = DatasetInfo("toy", 10, (1, 28, 28), (0.5,), (0.25,), in_memory=True)
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (300,), generator=g)
    imgs = (labels.view(-1, 1, 1, 1) * 20 + torch.randint(0, 40, (300, 1, 28, 28), generator=g)).to(torch.uint8)
    ds = TensorImageDataset(imgs, labels, info)
    return Splits(ds.subset(torch.arange(200)), ds.subset(torch.arange(200, 250)), ds.subset(torch.arange(250, 300)),
                  info)


def test_masks_trains_and_returns_a_smaller_plain_network():
    from benchmarks import training

    splits = _toy_splits()
    torch.manual_seed(0)
    model = models.build_model("lenet_300_100", 10, (1, 28, 28))
    method = get_method("vibnet", gamma=30.0, input_bottleneck=True, from_scratch=True,
                        protocol={"optimizer": "adam", "lr": 0.05, "batch_size": 20, "epochs": 2,
                                  "selection": "last"}, threshold_sweep=[-50.0, 0.0, 50.0])
    x = torch.zeros(1, 1, 28, 28)
    training.seed_everything(0)
    plain, keep = method.masks(model, [], splits, Target(ratio=0.0), torch.device("cpu"),
                               harness=pipeline.TrainerHarness(splits, torch.device("cpu")))
    assert set(keep) == {"input", "1", "3"}
    pruned = prune(plain, keep, x)
    before, after = architecture_string(model, x, include_input=True), architecture_string(pruned, include_input=True)
    assert before == "784-300-100" and len(after) < len(before)
    assert sum(method.report["kept"].values()) < 784 + 300 + 100
    assert after == "-".join(str(method.report["kept"][u]) for u in ("input", "1", "3"))
    assert len(method.report["history"]) == 2
    acc = training.evaluate(pruned, training.batches_for(splits.val, torch.device("cpu")))["accuracy"]
    assert acc == pytest.approx(method.report["val"]["accuracy"])  # the pruned network is the selected IB network
    # the threshold sweep folds the same trained network: at the layers' own threshold (0) it is the returned
    # network; a very low threshold keeps every unit, a very high one only the min_keep floor
    low, mid, high = method.report["threshold_sweep"]
    assert mid["kept"] == method.report["kept"] and mid["val_error"] == pytest.approx(1 - acc)
    test_acc = training.evaluate(pruned, training.batches_for(splits.test, torch.device("cpu")))["accuracy"]
    assert mid["test_error"] == pytest.approx(1 - test_acc)
    assert low["kept"] == {"input": 784, "1": 300, "3": 100} and low["weight_fraction"] == 1.0
    assert high["kept"] == {"input": 1, "1": 1, "3": 1}
    assert low["weight_fraction"] > mid["weight_fraction"] > high["weight_fraction"]
    w = sum(m.weight.numel() for m in pruned.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
    assert mid["weight_fraction"] == pytest.approx(w / (784 * 300 + 300 * 100 + 100 * 10))


def test_params_validation():
    assert METHODS["vibnet"] is VIBNet
    with pytest.raises(ValueError, match="protocol must be a training protocol"):
        VIBNet(gamma=1.0)
    with pytest.raises(ValueError, match=r"protocol lacks \['epochs'\]"):
        VIBNet(gamma=1.0, protocol={"optimizer": "adam", "lr": 1e-3, "batch_size": 10})
    with pytest.raises(ValueError, match="gamma is required"):
        VIBNet(protocol=PROTOCOL)
    with pytest.raises(ValueError, match="kl_fac is required"):
        VIBNet(protocol=PROTOCOL, faithful_to="code")
    with pytest.raises(ValueError, match="kl_fac belongs to faithful_to='code'"):
        VIBNet(protocol=PROTOCOL, gamma=1.0, kl_fac=1e-5)
    with pytest.raises(ValueError, match="faithful_to must be one of"):
        VIBNet(protocol=PROTOCOL, gamma=1.0, faithful_to="blog")
    with pytest.raises(ValueError, match=r"gamma\[1\] must be a finite number >= 0"):
        VIBNet(protocol=PROTOCOL, gamma=[1.0, -2.0])
    with pytest.raises(ValueError, match="input_bottleneck must be true or false"):
        VIBNet(protocol=PROTOCOL, gamma=1.0, input_bottleneck="yes")
    with pytest.raises(TypeError, match="allowed params"):
        get_method("vibnet", gama=1.0)
    assert VIBNet(protocol=PROTOCOL, gamma=[1, 2]).params.gamma == (1.0, 2.0)
    # a per-layer list must match the bottlenecks of the network (input bottleneck included)
    x = torch.zeros(1, 1, 28, 28)
    m = VIBNet(protocol=PROTOCOL, gamma=[1.0, 2.0], input_bottleneck=True)
    ib_model = m.equip(models.build_model("lenet_300_100", 10, (1, 28, 28)), x)
    assert len(bottlenecks(ib_model)) == 3
    with pytest.raises(ValueError, match="gamma lists 2 values but the network has 3"):
        m.loss(ib_model)
    with pytest.raises(ValueError, match="layer_scale lists 2 values but the network has 3"):
        VIBNet(protocol=PROTOCOL, gamma=1.0, layer_scale=[1, 2], input_bottleneck=True).loss(ib_model)
    with pytest.raises(ValueError, match="needs faithful_to='paper' and a single gamma"):
        VIBNet(protocol=PROTOCOL, gamma=[1.0, 2.0, 3.0], layer_scale=[1, 2, 3])
    with pytest.raises(ValueError, match="decay_bottlenecks must be true, false or null"):
        VIBNet(protocol=PROTOCOL, gamma=1.0, decay_bottlenecks="yes")
    with pytest.raises(ValueError, match=r"threshold_sweep\[1\] must be a finite number"):
        VIBNet(protocol=PROTOCOL, gamma=1.0, threshold_sweep=[0.0, float("nan")])


def test_layer_scale_and_decay_bottlenecks_shape_the_penalty():
    x = torch.zeros(1, 1, 28, 28)
    ib_model = equip(models.build_model("lenet_300_100", 10, (1, 28, 28)), x, input_bottleneck=True)
    ibs = bottlenecks(ib_model)
    kl = [float(ib.kl().detach()) for ib in ibs]
    scaled = VIBNet(protocol=PROTOCOL, gamma=0.3, layer_scale=[1.0, 2.0, 0.5], input_bottleneck=True)
    expected = sum(0.3 * s / 3 * k for s, k in zip((1.0, 2.0, 0.5), kl))
    assert float(scaled.loss(ib_model)(ib_model).detach()) == pytest.approx(expected, rel=1e-6)
    # weight decay on mu and log sigma^2 in the paper form only when asked (the authors' code decays them)
    for flag, decayed in ((None, False), (True, True)):
        ib_model.zero_grad()
        VIBNet(protocol=PROTOCOL, gamma=0.0, decay_bottlenecks=flag).loss(ib_model, 0.1)(ib_model).backward()
        mu = ibs[1].mu
        assert (mu.grad is not None and torch.allclose(mu.grad, 0.1 * mu.detach())) == decayed


def test_pipeline_runs_vibnet_and_the_checkpoint_rebuilds(tmp_path):

    splits = _toy_splits()
    torch.manual_seed(0)
    model = models.build_model("lenet_300_100", 10, (1, 28, 28))
    arch = checkpoint.architecture("lenet_300_100", {}, 10, (1, 28, 28))
    checkpoint.save_model(tmp_path / "base.pt", model, arch)
    params = {"gamma": 30.0, "input_bottleneck": True, "from_scratch": True,
              "protocol": {"optimizer": "adam", "lr": 0.05, "batch_size": 20, "epochs": 2, "selection": "last"}}
    rec = pipeline.run(tmp_path / "base.pt", splits, method="vibnet", method_params=params, target=Target(ratio=0.0),
                       finetune=None, seed=0, device=torch.device("cpu"), out_model=tmp_path / "pruned.pt")
    widths = rec["widths"]
    assert set(widths) == {"input", "1", "3"} and sum(widths.values()) < 784 + 300 + 100
    # with input pruning the string leads with the kept input features, as VIBNet's Table 1 reports it
    assert rec["pruned_architecture"] == f"{widths['input']}-{widths['1']}-{widths['3']}"
    pruned, ck = checkpoint.load_model(tmp_path / "pruned.pt")
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert pruned.eval()(x).shape == (2, 10)
    assert sum(p.numel() for p in pruned.parameters()) == rec["metrics"]["params_total"]
