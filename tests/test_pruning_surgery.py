"""Tests of methods.pruning: physical removal equals the masked network on every registry family (random
masks, eval mode, BatchNorm statistics randomised so BN is not the identity), hand-computed parameter
counts, the unit structure (residual streams tied, option-A shortcut streams separate, classifier never
prunable), the scores -> masks step on constructed scores, validation errors, weight masks and dead units,
and the checkpoint round trip of pruned networks."""
from __future__ import annotations

import pytest
import torch
from torch import fx, nn

from benchmarks import checkpoint
from benchmarks.models import build_model
from methods.pruning import (ChannelScatter, FlattenSelect, apply_weight_masks, architecture_string,
                             build_pruned, dead_units, masked_copy, masks_from_scores, prunable_units, prune,
                             prune_dead, pruned_architecture)

torch.set_num_threads(1)

MNIST = (1, 28, 28)
CIFAR = (3, 32, 32)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def built(name, shape, seed=0, **params) -> nn.Module:
    torch.manual_seed(seed)
    m = build_model(name, 10, shape, **params).eval()
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():  # trained-looking BatchNorm: eval-mode BN then differs from the identity
        for mod in m.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.running_mean.copy_(0.2 * torch.randn(mod.num_features, generator=g))
                mod.running_var.copy_(0.5 + torch.rand(mod.num_features, generator=g))
                mod.weight.copy_(0.5 + torch.rand(mod.num_features, generator=g))
                mod.bias.copy_(0.2 * torch.randn(mod.num_features, generator=g))
    return m


def random_keep(units, seed, p=0.6):
    g = torch.Generator().manual_seed(seed)
    keep = {}
    for u in units:
        k = torch.rand(u.size, generator=g) < p
        k[torch.randint(u.size, (1,), generator=g)] = True  # never empty
        keep[u.name] = k
    return keep


def assert_close(a, b):
    scale = max(1.0, b.abs().max().item())
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * scale), (a - b).abs().max().item()


CASES = [
    ("lenet_300_100", MNIST, {}),
    ("lenet5_caffe", MNIST, {}),
    ("mint_mlp", MNIST, {}),
    *[("vgg16_cifar", CIFAR, {"head": h}) for h in ("vibnet_bc", "vibnet_pf", "vibnet_ns", "hrel", "mint")],
    ("resnet56", CIFAR, {"shortcut": "A"}),
    ("resnet56", CIFAR, {"shortcut": "B"}),
    ("ibcnn", MNIST, {"width": 4, "depth": 4, "pooling": True, "fc_layers": [20, 12]}),
]


@pytest.mark.parametrize("name,shape,params", CASES,
                         ids=[c[0] + "".join(f"-{v}" for k, v in c[2].items() if k != "fc_layers") for c in CASES])
def test_prune_equals_masked_copy(name, shape, params):
    model = built(name, shape, **params)
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(1))
    units = prunable_units(model, x, include_input=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        full = model(x)
    for seed in range(3):
        keep = random_keep(units, seed)
        pruned = prune(model, keep, x)
        ref = masked_copy(model, keep, x)
        with torch.no_grad():
            out, want = pruned(x), ref(x)
        assert_close(out, want)
        assert not torch.allclose(out, full)  # the masks changed the function, so the check has teeth
        assert n_params(pruned) < n_params(model)
        # every unit has the kept width in the pruned model
        assert architecture_string(pruned) == "-".join(str(int(keep[u.name].sum())) for u in units
                                                        if u.name != "input")
    # the input model is untouched
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_resnet56_a_prunes_residual_streams_through_zero_pad():
    model = built("resnet56", CIFAR, shortcut="A")
    x = torch.randn(2, *CIFAR)
    units = {u.name: u for u in prunable_units(model, x)}
    assert len(units) == 30  # 27 inner convs + 3 residual streams; fc is never prunable
    streams = {n: u for n, u in units.items() if u.tied}
    assert sorted(streams) == ["conv1", "layer2.0.conv2", "layer3.0.conv2"]
    assert streams["conv1"].members == ("conv1",) + tuple(f"layer1.{i}.conv2" for i in range(9))
    assert streams["layer2.0.conv2"].maps == ("layer2.0.shortcut", "layer3.0.shortcut")
    assert "fc" in streams["layer3.0.conv2"].consumers and "fc" not in units
    # remove stage-1 channel 3 and stage-2 channel 8+5: the padding can no longer express the shortcut
    keep = {"conv1": torch.arange(16) != 3, "layer2.0.conv2": torch.arange(32) != 13}
    pruned = prune(model, keep, x)
    sc = pruned.layer2[0].shortcut
    assert isinstance(sc, ChannelScatter) and (sc.in_channels, sc.out_channels) == (15, 31)
    # kept stage-1 channels 0..15 except 3 and 5 (whose target 13 is gone) land at 8+c, renumbered
    src = [c for c in range(16) if c not in (3, 5)]
    assert sc.src.tolist() == [c if c < 3 else c - 1 for c in src]
    assert sc.dst.tolist() == [8 + c if 8 + c < 13 else 8 + c - 1 for c in src]
    assert_close(pruned(x), masked_copy(model, keep, x)(x))
    # train mode (batch statistics) agrees too: BatchNorm normalises each channel on its own
    pruned.train()
    ref = masked_copy(model, keep, x).train()
    assert_close(pruned(x), ref(x))


def test_resnet56_b_projection_is_a_stream_member_and_resnet50_equivalence():
    model = built("resnet56", CIFAR, shortcut="B")
    x = torch.randn(2, *CIFAR)
    stage2 = next(u for u in prunable_units(model, x) if u.name == "layer2.0.conv2")
    assert "layer2.0.shortcut.0" in stage2.members and "layer2.0.shortcut.1" in stage2.norms
    r50 = built("resnet50", (3, 64, 64))
    x = torch.randn(2, 3, 64, 64)
    units = prunable_units(r50, x)
    assert len(units) == 16 * 2 + 1 + 4  # two inner convs per bottleneck, the stem, one stream per stage
    keep = random_keep(units, 0)
    assert_close(prune(r50, keep, x)(x), masked_copy(r50, keep, x)(x))


def test_torchvision_vgg16_units_block_the_flattened_pool():
    model = build_model("vgg16", 2, CIFAR)
    units = prunable_units(model, torch.zeros(1, *CIFAR))
    assert [u.size for u in units] == [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512, 4096, 4096]
    assert units[12].consumers == ("classifier.0",)  # 512 channels x 7x7 pooled positions -> 25088 inputs


def test_lenet_300_100_param_count_with_input_pruning():
    model = built("lenet_300_100", MNIST)
    x = torch.randn(4, *MNIST)
    keep = {"input": torch.zeros(784, dtype=torch.bool), "1": torch.zeros(300, dtype=torch.bool),
            "3": torch.zeros(100, dtype=torch.bool)}
    keep["input"][torch.randperm(784, generator=torch.Generator().manual_seed(0))[:97]] = True
    keep["1"][::4][:71] = True
    keep["3"][1:34] = True
    pruned = prune(model, keep, x)
    # 97 inputs -> 71 -> 33 -> 10: 97*71+71 + 71*33+33 + 33*10+10
    assert n_params(pruned) == 6958 + 2376 + 340 == 9674
    assert architecture_string(pruned, include_input=True) == "97-71-33"
    assert architecture_string(pruned) == "71-33"
    assert isinstance(pruned[0], FlattenSelect)
    assert torch.equal(pruned[1].weight, model[1].weight[keep["1"]][:, keep["input"]])
    assert_close(pruned(x), masked_copy(model, keep, x)(x))


def test_lenet5_flatten_blocks_and_param_count():
    model = built("lenet5_caffe", MNIST)
    x = torch.randn(2, *MNIST)
    keep = {"0": torch.arange(20) < 10, "2": torch.arange(50) % 5 == 0, "5": torch.arange(500) < 100}
    pruned = prune(model, keep, x)
    # conv 1*10*25+10, conv 10*10*25+10, FC (10 channels * 4*4)*100+100, FC 100*10+10
    assert n_params(pruned) == 260 + 2510 + 16100 + 1010
    # kept channel j (original 5j) owns inputs 16j..16j+15, taken from original 80j..80j+15
    cols = torch.cat([torch.arange(80 * j, 80 * j + 16) for j in range(10)])
    assert torch.equal(pruned[5].weight, model[5].weight[:100][:, cols])
    assert_close(pruned(x), masked_copy(model, keep, x)(x))


def test_pruned_model_is_plain():
    model = built("vgg16_cifar", CIFAR, head="hrel")
    x = torch.randn(2, *CIFAR)
    keep = random_keep(prunable_units(model, x), 3)
    pruned = prune(model, keep, x)
    assert type(pruned) is type(model) and not isinstance(pruned, fx.GraphModule)
    for m in pruned.modules():
        assert not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks)
    assert not any("mask" in k for k in pruned.state_dict())
    assert set(pruned.state_dict()) == set(model.state_dict())
    assert pruned.features[0].weight.shape == (int(keep["features.0"].sum()), 3, 3, 3)
    assert pruned.classifier[1].in_features == int(keep["features.40"].sum())


# ---------------------------------------------------------------- scores -> masks

def test_masks_per_layer_and_rounding_and_ties():
    scores = {"a": torch.tensor([0.5, 0.1, 0.9, 0.3]), "b": torch.arange(1.0, 11.0), "c": torch.ones(5)}
    m = masks_from_scores(scores, ratio=0.5, scope="per_layer")
    assert m["a"].tolist() == [True, False, True, False]
    assert m["b"].tolist() == [False] * 5 + [True] * 5
    assert m["c"].tolist() == [True, True, False, False, False]  # round(2.5) = 3 (half up); ties keep the first
    m = masks_from_scores(scores, ratio=0.9, scope="per_layer", min_keep_fraction=0.3)
    assert m["b"].sum() == 3 and m["b"][-3:].all()  # floor ceil(0.3 * 10) = 3 instead of 10 - 9 = 1
    assert m["a"].sum() == 2  # floor ceil(0.3 * 4) = 2
    m = masks_from_scores(scores, ratio=0.9, scope="per_layer", min_keep=4)
    assert m["a"].all() and m["b"].sum() == 4
    assert all(v.all() for v in masks_from_scores(scores, ratio=0.0, scope="per_layer").values())


def test_masks_global_normalisation_floor_and_ties():
    scores = {"a": torch.tensor([3.0, 4.0]), "b": torch.tensor([10.0, 10.0, 10.0, 100.0])}
    # L2-normalised: a -> [0.6, 0.8], b -> [0.0985] * 3 + [0.985]: the three b's go (3 = 0.5 * 6)
    m = masks_from_scores(scores, ratio=0.5, scope="global")
    assert m["a"].tolist() == [True, True] and m["b"].tolist() == [False, False, False, True]
    # raw: a0 < a1 < b*, but a keeps >= 1, so a0 then the tied b's from the highest index
    m = masks_from_scores(scores, ratio=0.5, scope="global", normalize="none")
    assert m["a"].tolist() == [False, True] and m["b"].tolist() == [True, False, False, True]
    # global removes exactly round(ratio * N) when the floors do not bind
    g = torch.Generator().manual_seed(0)
    rnd = {f"u{i}": torch.rand(n, generator=g) for i, n in enumerate((7, 30, 64))}
    m = masks_from_scores(rnd, ratio=0.37, scope="global")
    assert sum(int((~v).sum()) for v in m.values()) == round(0.37 * 101)
    # and the removed ones are the lowest normalised scores
    norm = torch.cat([v / v.norm() for v in rnd.values()])
    removed = ~torch.cat(list(m.values()))
    assert norm[removed].max() <= norm[~removed].min()


@pytest.mark.parametrize("ratio", [1.0, -0.1, 1.5, "0.5", True, float("nan")])
def test_masks_ratio_errors(ratio):
    with pytest.raises(ValueError, match="ratio must be a number in"):
        masks_from_scores({"a": torch.ones(3)}, ratio=ratio, scope="global")


def test_masks_argument_errors():
    with pytest.raises(ValueError, match="scope"):
        masks_from_scores({"a": torch.ones(3)}, ratio=0.5, scope="layer")
    with pytest.raises(ValueError, match="unit 'a'.*NaN"):
        masks_from_scores({"a": torch.tensor([1.0, float("nan")])}, ratio=0.5, scope="global")
    with pytest.raises(ValueError, match="1-D"):
        masks_from_scores({"a": torch.ones(2, 2)}, ratio=0.5, scope="global")


# ---------------------------------------------------------------- validation

def test_validation_errors_name_the_unit():
    model = built("resnet56", CIFAR)
    x = torch.randn(1, *CIFAR)
    with pytest.raises(ValueError, match=r"'layer1.0.conv1' removes all 16 channels"):
        prune(model, {"layer1.0.conv1": torch.zeros(16, dtype=torch.bool)}, x)
    with pytest.raises(ValueError, match=r"'layer1.0.conv1' must have shape \(16,\), got \(15,\)"):
        prune(model, {"layer1.0.conv1": torch.ones(15, dtype=torch.bool)}, x)
    with pytest.raises(TypeError, match=r"'layer1.0.conv1' must be a torch.bool tensor, got dtype torch.float32"):
        prune(model, {"layer1.0.conv1": torch.ones(16)}, x)
    with pytest.raises(KeyError, match=r"'fc' is not a prunable unit"):
        prune(model, {"fc": torch.ones(10, dtype=torch.bool)}, x)
    with pytest.raises(KeyError, match=r"tied .* in unit 'conv1'"):
        prune(model, {"layer1.3.conv2": torch.ones(16, dtype=torch.bool)}, x)
    with pytest.raises(KeyError, match="input features"):
        prune(model, {"input": torch.ones(3072, dtype=torch.bool)}, x)


def test_unsupported_graph_fails_loudly():
    class Cat(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.fc = nn.Conv2d(3, 4, 3), nn.Conv2d(3, 4, 3), nn.Linear(8, 2)

        def forward(self, x):
            return self.fc(torch.cat([self.a(x), self.b(x)], 1).mean((2, 3)))

    with pytest.raises(NotImplementedError, match="cat"):
        prunable_units(Cat(), torch.zeros(1, 3, 5, 5))


# ---------------------------------------------------------------- weight masks and dead units

def test_weight_masks_and_dead_units_mlp():
    model = built("mint_mlp", MNIST)
    x = torch.randn(4, *MNIST)
    w2 = torch.ones(300, 500, dtype=torch.bool)
    w2[:, 0:10] = False  # MINT-style block: every child loses parent group 0..9 -> those parents are unread
    w2[5:8, :] = False  # children 5..7 lose all inputs ...
    w2[100, 200] = False  # ... and one scattered weight stays as sparse zero
    b2 = torch.ones(300, dtype=torch.bool)
    b2[5:8] = False  # ... and their bias: after ReLU they are identically zero
    b2[9] = False  # a zero bias alone kills nothing
    apply_weight_masks(model, {"4.weight": w2, "4.bias": b2})
    assert model[4].weight[:, :10].abs().sum() == 0 and model[4].weight[100, 200] == 0
    dead = dead_units(model, x)
    assert torch.nonzero(dead["1"]).flatten().tolist() == list(range(10))
    assert torch.nonzero(dead["4"]).flatten().tolist() == [5, 6, 7]
    pruned = prune_dead(model, x)
    assert architecture_string(pruned) == "490-297"
    assert_close(pruned(x), model(x))
    assert int((pruned[4].weight == 0).sum()) == 1  # the scattered zero remains, as a sparse weight
    with pytest.raises(KeyError, match="'4.wieght'"):
        apply_weight_masks(model, {"4.wieght": w2})
    with pytest.raises(ValueError, match=r"'4.weight' must have the parameter's shape \(300, 500\)"):
        apply_weight_masks(model, {"4.weight": w2[:, :3]})
    with pytest.raises(TypeError, match="'4.weight' must be a torch.bool"):
        apply_weight_masks(model, {"4.weight": w2.float()})


def test_dead_units_respect_batchnorm_and_shortcuts():
    model = built("vgg16_cifar", CIFAR, head="mint")
    x = torch.randn(2, *CIFAR)
    with torch.no_grad():
        model.features[0].weight[3] = 0
        model.features[0].bias[3] = 0
    # BN (eval) maps the zero channel to beta - mean * gamma / sqrt(var + eps) != 0: not dead
    assert not dead_units(model, x)["features.0"].any()
    with torch.no_grad():
        model.features[1].weight[3] = 0
        model.features[1].bias[3] = 0
    assert torch.nonzero(dead_units(model, x)["features.0"]).flatten().tolist() == [3]
    assert_close(prune_dead(model, x)(x), model(x))
    # a stage-1 stream channel read by no conv still reaches stage 2 through the option-A shortcut
    res = built("resnet56", CIFAR)
    with torch.no_grad():
        for i in range(9):
            res.layer1[i].conv1.weight[:, 2] = 0
        res.layer2[0].conv1.weight[:, 2] = 0
    assert not dead_units(res, x)["conv1"].any()


# ---------------------------------------------------------------- architecture and checkpoints

@pytest.mark.parametrize("name,params,include_input", [("resnet56", {"shortcut": "A"}, False),
                                                       ("lenet_300_100", {}, True)])
def test_checkpoint_round_trip(tmp_path, name, params, include_input):
    shape = CIFAR if name == "resnet56" else MNIST
    model = built(name, shape, **params)
    x = torch.randn(2, *shape)
    keep = random_keep(prunable_units(model, x, include_input=include_input), 7)
    pruned = prune(model, keep, x)
    arch = pruned_architecture(checkpoint.architecture(name, params, 10, shape), pruned)
    assert arch["widths"] == {n: int(k.sum()) for n, k in keep.items()}
    assert arch["index_maps"]  # scatter shortcuts / selected inputs are recorded
    checkpoint.save_model(tmp_path / "m.pt", pruned, arch)
    loaded, ckpt = checkpoint.load_model(tmp_path / "m.pt")
    loaded.eval()
    assert torch.equal(loaded(x), pruned(x))
    assert architecture_string(loaded) == architecture_string(pruned)
    assert n_params(loaded) == n_params(pruned)


def test_build_pruned_errors():
    arch = checkpoint.architecture("lenet_300_100", {}, 10, MNIST)
    assert n_params(checkpoint.build(arch | {"widths": {"1": 71, "3": 33}})) == 784 * 71 + 71 + 71 * 33 + 33 + 340
    with pytest.raises(ValueError, match=r"\['5'\].*not prunable units"):
        build_pruned(arch | {"widths": {"5": 3}}, checkpoint.build)
    with pytest.raises(ValueError, match=r"width of unit '1' must be an int in \[1, 300\], got 301"):
        build_pruned(arch | {"widths": {"1": 301}}, checkpoint.build)
