"""Tests of the model registry (benchmarks/models): exact parameter counts derived by hand, forward
shapes of every entry, the VGG-16 heads, the ibcnn family and its size errors, argument errors, and
the pretrained-weights path (without network: torch.hub is replaced)."""
from __future__ import annotations

import urllib.error

import pytest
import torch
import torchvision
from torch import nn

from benchmarks.models import (MODELS, VGG_CIFAR_HEADS, PretrainedWeightsError, build_model,
                               model_params)
from benchmarks.models.resnet_cifar import ZeroPadShortcut

torch.set_num_threads(1)

MNIST = (1, 28, 28)
CIFAR = (3, 32, 32)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count(model: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def conv_bn_params(widths, c_in=3, k=3) -> int:
    """3x3 convs with bias, each followed by BatchNorm2d (weight + bias)."""
    total = 0
    for w in widths:
        total += k * k * c_in * w + w + 2 * w
        c_in = w
    return total


# ---------------------------------------------------------------- exact parameter counts

def test_lenet_300_100_params():
    # 784*300+300 + 300*100+100 + 100*10+10
    assert n_params(build_model("lenet_300_100", 10, MNIST)) == 266_610


def test_lenet5_caffe_params_and_layout():
    m = build_model("lenet5_caffe", 10, MNIST)
    # conv 1*20*25+20, conv 20*50*25+50, FC 800*500+500, FC 500*10+10
    assert n_params(m) == 520 + 25_050 + 400_500 + 5_010 == 431_080
    # Caffe's lenet: the only nonlinearity is the ReLU after the first FC layer
    assert count(m, nn.ReLU) == 1
    relu_at = [i for i, layer in enumerate(m) if isinstance(layer, nn.ReLU)][0]
    assert isinstance(m[relu_at - 1], nn.Linear) and m[relu_at - 1].in_features == 800


def test_mint_mlp_params_and_dropout():
    m = build_model("mint_mlp", 10, MNIST)
    assert n_params(m) == 784 * 500 + 500 + 500 * 300 + 300 + 300 * 10 + 10
    drops = [x for x in m.modules() if isinstance(x, nn.Dropout)]
    assert [d.p for d in drops] == [0.2, 0.2]
    assert count(build_model("mint_mlp", 10, MNIST, dropout=0.0), nn.Dropout) == 0


@pytest.mark.parametrize("name, shortcut, expected", [
    # conv1 432 + bn 32; stage 1: n blocks of 2*(16*16*9) + 4*16; stage 2: first block 16*32*9 + 32*32*9
    # + 4*32, then (n-1) blocks of 2*32*32*9 + 4*32; stage 3 likewise with 64; fc 64*10+10.
    # n=9: 464 + 42,048 + 162,432 + 647,424 + 650 = 853,018
    ("resnet56", "A", 853_018),
    # option B adds two 1x1 projections 16*32 + 32*64 = 2,560 and their BN 2*(32+64) = 192
    ("resnet56", "B", 853_018 + 2_752),
    # n=18: 464 + 84,096 + 329,472 + 1,313,280 + 650 = 1,727,962 (the paper's "1.7M")
    ("resnet110", "A", 1_727_962),
    ("resnet110", "B", 1_727_962 + 2_752),
])
def test_cifar_resnet_params(name, shortcut, expected):
    assert n_params(build_model(name, 10, CIFAR, shortcut=shortcut)) == expected


def test_cifar_resnet_structure():
    a = build_model("resnet56", 10, CIFAR)
    assert count(a, nn.Conv2d) == 55  # 1 + 3 stages * 9 blocks * 2
    assert count(a, ZeroPadShortcut) == 2
    b = build_model("resnet56", 10, CIFAR, shortcut="B")
    assert count(b, nn.Conv2d) == 57 and count(b, ZeroPadShortcut) == 0
    assert count(build_model("resnet110", 10, CIFAR), nn.Conv2d) == 109


def test_zero_pad_shortcut_values():
    x = torch.randn(2, 16, 8, 8)
    y = ZeroPadShortcut(16, 32, stride=2)(x)
    assert y.shape == (2, 32, 4, 4)
    torch.testing.assert_close(y[:, 8:24], x[:, :, ::2, ::2])
    assert y[:, :8].abs().sum() == 0 and y[:, 24:].abs().sum() == 0


def test_imagenet_param_counts_on_meta_device():
    # meta tensors: the count without allocating or initialising 138M weights
    with torch.device("meta"):
        assert n_params(build_model("resnet50", 1000, (3, 224, 224))) == 25_557_032
        assert n_params(build_model("vgg16", 1000, (3, 224, 224))) == 138_357_544
        # 2 classes (ibfs binary tasks): last layer 2048*2+2 instead of 2048*1000+1000, 4096 for VGG
        assert n_params(build_model("resnet50", 2, (3, 224, 224))) == 25_557_032 - 2_049_000 + 4_098
        vgg2 = build_model("vgg16", 2, (3, 224, 224))
        assert n_params(vgg2) == 138_357_544 - 4_097_000 + 8_194
        assert vgg2.classifier[6].out_features == 2
        # the ibfs paper's head: the 13 convs (14,714,688) + Dense 256 (6,422,784) + Dense 2 (514); the
        # paper's Table 1 total 21,137,729 has Dense 1 (257)
        ibfs = build_model("vgg16", 2, (3, 224, 224), head="ibfs")
        assert n_params(ibfs) == 14_714_688 + 6_422_784 + 514 == 21_137_729 + 257
    with pytest.raises(ValueError, match="head"):
        build_model("vgg16", 2, (3, 224, 224), head="keras")


# ---------------------------------------------------------------- VGG-16 for CIFAR heads

VGG16_CONVS = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
VGG19_CONVS = [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512]
FC512 = 512 * 512 + 512
OUT10 = 512 * 10 + 10


@pytest.mark.parametrize("head, convs, fc_params, n_linear, bn1d, last_pool", [
    ("vibnet_bc", VGG16_CONVS, 2 * FC512 + OUT10, 3, 0, nn.MaxPool2d),
    ("vibnet_pf", VGG16_CONVS, FC512 + OUT10, 2, 0, nn.MaxPool2d),
    ("vibnet_ns", VGG19_CONVS, OUT10, 1, 0, nn.AvgPool2d),
    ("hrel", VGG16_CONVS, FC512 + 2 * 512 + OUT10, 2, 1, nn.AvgPool2d),
    ("mint", VGG16_CONVS, FC512 + 2 * 512 + OUT10, 2, 1, nn.MaxPool2d),
])
def test_vgg16_cifar_heads(head, convs, fc_params, n_linear, bn1d, last_pool):
    m = build_model("vgg16_cifar", 10, CIFAR, head=head)
    assert n_params(m) == conv_bn_params(convs) + fc_params
    assert [c.out_channels for c in m.modules() if isinstance(c, nn.Conv2d)] == convs
    assert count(m, nn.BatchNorm2d) == len(convs)
    assert count(m, nn.Linear) == n_linear and count(m, nn.BatchNorm1d) == bn1d
    assert count(m, nn.Dropout) == 0
    pools = [p for p in m.features if isinstance(p, (nn.MaxPool2d, nn.AvgPool2d))]
    assert len(pools) == 5 and type(pools[-1]) is last_pool
    assert all(type(p) is nn.MaxPool2d for p in pools[:-1])
    m.train()  # BatchNorm1d needs batch > 1 in training mode
    assert m(torch.randn(2, *CIFAR)).shape == (2, 10)


def test_vgg16_cifar_literal_counts():
    # VGG-16 convs with bias 14,714,688 + BN 2*4,224 = 14,723,136; BC head 2*262,656 + 5,130
    assert n_params(build_model("vgg16_cifar", 10, CIFAR, head="vibnet_bc")) == 15_253_578
    # VGG-19 convs 20,024,384 + BN 2*5,504 + Linear(512, 100) 51,300
    assert n_params(build_model("vgg16_cifar", 100, CIFAR, head="vibnet_ns")) == 20_086_692


def test_vgg16_cifar_dropout_option():
    m = build_model("vgg16_cifar", 10, CIFAR, head="vibnet_bc", dropout=0.5)
    assert [d.p for d in m.modules() if isinstance(d, nn.Dropout)] == [0.5, 0.5]
    assert count(build_model("vgg16_cifar", 10, CIFAR, head="vibnet_ns", dropout=0.5), nn.Dropout) == 0


# ---------------------------------------------------------------- every registry entry runs

FORWARD_CASES = {
    "lenet_300_100": (10, MNIST, {}),
    "lenet5_caffe": (10, MNIST, {}),
    "lenet5_hrel": (10, MNIST, {}),
    "mint_mlp": (10, MNIST, {}),
    "vgg16_cifar": (100, CIFAR, {"head": "vibnet_pf"}),
    "resnet56": (10, CIFAR, {}),
    "resnet110": (10, CIFAR, {"shortcut": "B"}),
    "vgg16": (2, (3, 32, 32), {}),
    "resnet50": (2, (3, 64, 64), {}),
    "ibcnn": (10, MNIST, {}),
}


def test_forward_cases_cover_registry():
    assert set(FORWARD_CASES) == set(MODELS)


@pytest.mark.parametrize("name", sorted(FORWARD_CASES))
def test_forward_shape(name):
    num_classes, shape, params = FORWARD_CASES[name]
    if name == "vgg16":
        # building 138M weights takes seconds on one core; shapes propagate the same on the meta device
        with torch.device("meta"):
            m = build_model(name, num_classes, shape, **params)
            out = m.eval()(torch.empty(2, *shape))
    else:
        m = build_model(name, num_classes, shape, **params).eval()
        with torch.no_grad():
            out = m(torch.randn(2, *shape))
        assert torch.isfinite(out).all()
    assert out.shape == (2, num_classes)


@pytest.mark.parametrize("name", ["lenet_300_100", "lenet5_caffe", "mint_mlp", "resnet56", "ibcnn"])
def test_activations_are_separate_non_inplace_modules(name):
    # forward hooks must see a layer's output before the next activation touches it
    num_classes, shape, params = FORWARD_CASES[name]
    m = build_model(name, num_classes, shape, **params)
    acts = [a for a in m.modules() if isinstance(a, (nn.ReLU, nn.Tanh))]
    assert acts and all(not getattr(a, "inplace", False) for a in acts)
    assert len({id(a) for a in acts}) == len(acts)


def test_non_mnist_input_shapes_change_first_layer():
    assert build_model("lenet_300_100", 10, (3, 32, 32))[1].in_features == 3072
    # 32 -> 28 -> 14 -> 10 -> 5: 50*5*5
    assert build_model("lenet5_caffe", 10, (3, 32, 32))[5].in_features == 1250


# ---------------------------------------------------------------- ibcnn family

def ibcnn(**params):
    return build_model("ibcnn", 10, MNIST, **params)


def flat_features(m: nn.Module) -> int:
    """Width of the first Dense layer, checked against the map the convs really produce."""
    width = next(x for x in m if isinstance(x, nn.Linear)).in_features
    cut = next(i for i, x in enumerate(m) if isinstance(x, nn.Flatten))
    with torch.no_grad():
        assert m[:cut](torch.zeros(1, *MNIST)).numel() == width
    return width


@pytest.mark.parametrize("params, expected_params, flat", [
    # convs 1*3*9+3 and 3*3*9+3; 28 ('same') -> 26; Dense 3*26*26*10+10
    (dict(width=3, depth=2), 30 + 84 + 20_290, 2028),
    # max-pool after conv 2: 26 -> 13
    (dict(width=3, depth=2, pooling=True), 30 + 84 + 5_080, 507),
    # paper's pooling study: width 12, depth 3: 28 -> 26 -> pool 13 -> 11
    (dict(width=12, depth=3, pooling=True), 120 + 1_308 + 1_308 + 14_530, 1452),
    # multi-FC study: width 3, depth 5: 28 -> 20; Dense 1200-500-1024-500-10 with tanh
    (dict(width=3, depth=5, fc_layers=[500, 1024, 500]),
     30 + 4 * 84 + 600_500 + 513_024 + 512_500 + 5_010, 1200),
    # kernel study: depth 2 with 11x11: 28 -> 18
    (dict(width=3, depth=2, kernel_size=11), 3 * 121 + 3 + 9 * 121 + 3 + 3 * 324 * 10 + 10, 972),
    # depth study: width 6, depth 9: 28 -> 12
    (dict(width=6, depth=9), 60 + 8 * 330 + 6 * 144 * 10 + 10, 864),
    # width 1, depth 1
    (dict(width=1, depth=1), 10 + 784 * 10 + 10, 784),
])
def test_ibcnn_configs(params, expected_params, flat):
    m = ibcnn(**params)
    assert n_params(m) == expected_params
    assert flat_features(m) == flat
    assert m(torch.randn(3, *MNIST)).shape == (3, 10)


def test_ibcnn_layer_layout():
    m = ibcnn(width=3, depth=3, fc_layers=[7])
    convs = [x for x in m if isinstance(x, nn.Conv2d)]
    assert convs[0].padding == "same" and all(c.padding == (0, 0) for c in convs[1:])
    assert count(m, nn.Tanh) == 4 and count(m, nn.ReLU) == 0  # 3 convs + 1 hidden Dense
    assert isinstance(m[-1], nn.Linear) and m[-1].out_features == 10  # logits, no softmax
    # Keras defaults: zero biases, Glorot-uniform bound sqrt(6 / (fan_in + fan_out))
    with torch.no_grad():
        assert all(torch.count_nonzero(x.bias) == 0 for x in m if isinstance(x, (nn.Conv2d, nn.Linear)))
        bound = (6 / (3 * 9 + 3 * 9)) ** 0.5
        assert float(convs[1].weight.abs().max()) <= bound
        # PyTorch's default (kaiming_uniform, a=sqrt(5)) would give a bound of 1/sqrt(27) and non-zero biases
        assert float(convs[1].weight.abs().max()) > 1 / 27 ** 0.5


def test_ibcnn_pooling_rounds_up_like_keras_same():
    # 28 -> 28 -> 26 -> pool 13 -> 11 -> 9 -> pool ceil(9/2) = 5 (floor would give 4)
    assert flat_features(ibcnn(width=2, depth=4, pooling=True)) == 2 * 5 * 5
    # pool after every conv: 28 -> 14 -> 12 -> 6 -> 4 -> 2
    m = ibcnn(width=1, depth=3, pooling=True, pool_every=1)
    assert count(m, nn.MaxPool2d) == 3 and flat_features(m) == 4


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_ibcnn_even_kernel():
    m = ibcnn(width=2, depth=3, kernel_size=4)  # 28 ('same') -> 25 -> 22
    assert flat_features(m) == 2 * 22 * 22
    assert m(torch.randn(2, *MNIST)).shape == (2, 10)


def test_ibcnn_depth_limit():
    # each valid 3x3 conv removes 2 pixels: depth 14 leaves 2x2, depth 15 would leave 0x0
    assert flat_features(ibcnn(width=1, depth=14)) == 4
    with pytest.raises(ValueError, match=r"depth=15.*kernel_size=3"):
        ibcnn(width=1, depth=15)
    # kernel study: 7x7 fits 5 layers (28 -> 4) but not 6
    assert flat_features(ibcnn(width=3, depth=5, kernel_size=7)) == 3 * 4 * 4
    with pytest.raises(ValueError, match=r"depth=6.*kernel_size=7"):
        ibcnn(width=3, depth=6, kernel_size=7)
    with pytest.raises(ValueError, match=r"depth=6.*kernel_size=3.*pooling"):
        ibcnn(width=1, depth=6, pooling=True, pool_every=1)  # 28 -> 14 -> 12 -> 6 -> 4 -> 2 -> 0


@pytest.mark.parametrize("bad", [dict(width=0), dict(depth=0), dict(kernel_size=-1), dict(depth=2.5),
                                 dict(pooling="yes"), dict(fc_layers=[10, 0]), dict(fc_layers=5)])
def test_ibcnn_bad_values(bad):
    param = next(iter(bad))
    with pytest.raises(ValueError, match=rf"'ibcnn'.*{param}"):
        ibcnn(**bad)


# ---------------------------------------------------------------- registry errors

def test_unknown_model_lists_available():
    with pytest.raises(KeyError, match="unknown model 'resnet57'") as err:
        build_model("resnet57", 10, CIFAR)
    assert all(name in str(err.value) for name in MODELS)


def test_unknown_param_lists_allowed():
    with pytest.raises(TypeError, match=r"'resnet56'.*\['shortcuts'\].*allowed: shortcut"):
        build_model("resnet56", 10, CIFAR, shortcuts="A")
    with pytest.raises(TypeError, match=r"'lenet_300_100'.*\['dropout'\].*allowed: none"):
        build_model("lenet_300_100", 10, MNIST, dropout=0.1)
    with pytest.raises(TypeError, match=r"'vgg16_cifar'.*\['pretrained'\]"):
        build_model("vgg16_cifar", 10, CIFAR, head="mint", pretrained=True)


def test_missing_and_bad_head():
    with pytest.raises(TypeError, match=r"'vgg16_cifar' requires parameter\(s\) \['head'\]"):
        build_model("vgg16_cifar", 10, CIFAR)
    with pytest.raises(ValueError, match=r"'vgg16_cifar': head='bc'.*vibnet_bc"):
        build_model("vgg16_cifar", 10, CIFAR, head="bc")
    assert set(VGG_CIFAR_HEADS) == {"vibnet_bc", "vibnet_pf", "vibnet_ns", "hrel", "mint"}


@pytest.mark.parametrize("name, num_classes, shape, params, pattern", [
    ("resnet56", 10, CIFAR, {"shortcut": "C"}, r"'resnet56': shortcut='C'"),
    ("mint_mlp", 10, MNIST, {"dropout": 1.0}, r"'mint_mlp': dropout"),
    ("resnet50", 10, (1, 64, 64), {}, r"'resnet50': input_shape must have 3 channels"),
    ("vgg16_cifar", 10, (3, 16, 16), {"head": "mint"}, r"'vgg16_cifar': input_shape needs H and W >= 32"),
    ("lenet5_caffe", 10, (1, 12, 12), {}, r"'lenet5_caffe': input_shape needs H and W >= 13"),
    ("lenet_300_100", 10, (28, 28), {}, r"'lenet_300_100': input_shape must be \(C, H, W\)"),
    ("lenet_300_100", 0, MNIST, {}, r"'lenet_300_100': num_classes must be a positive int"),
    ("resnet50", 10, (3, 64, 64), {"weights": "IMAGENET1K_V9"}, r"'resnet50': weights='IMAGENET1K_V9'"),
    ("vgg16", 10, (3, 64, 64), {"pretrained": "yes"}, r"'vgg16': pretrained must be True or False"),
])
def test_bad_values_name_model_and_param(name, num_classes, shape, params, pattern):
    with pytest.raises(ValueError, match=pattern):
        build_model(name, num_classes, shape, **params)


def test_model_params():
    assert model_params("resnet56") == {"shortcut": "A"}
    assert model_params("lenet5_caffe") == {}
    assert set(model_params("ibcnn")) == {"width", "depth", "kernel_size", "pooling", "pool_every", "fc_layers"}
    with pytest.raises(KeyError):
        model_params("nope")


def test_input_shape_may_be_a_list():
    # configs read from YAML give lists
    assert build_model("mint_mlp", 10, [1, 28, 28])(torch.randn(2, *MNIST)).shape == (2, 10)


# ---------------------------------------------------------------- pretrained weights (no network)

def test_failed_download_says_where_to_put_weights(monkeypatch, tmp_path):
    def offline(url, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(PretrainedWeightsError) as err:
        build_model("resnet50", 2, (3, 224, 224), pretrained=True)
    msg = str(err.value)
    assert "TORCH_HOME" in msg and "no network" in msg
    filename = torchvision.models.ResNet50_Weights.DEFAULT.url.rsplit("/", 1)[-1]
    assert str(tmp_path / "hub" / "checkpoints" / filename) in msg


def test_pretrained_weights_load_from_a_local_file_without_the_network(monkeypatch, tmp_path):
    """Where the network is unreachable, the weights file placed where the error message says (the
    torch.hub cache under TORCH_HOME) is what the network is built from: no download is attempted."""
    import socket

    from benchmarks.models.imagenet import weights_path

    def no_network(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(socket, "create_connection", no_network)
    torch.manual_seed(3)
    stand_in = torchvision.models.resnet50(weights=None)  # a stand-in for the ImageNet file, same format
    target = weights_path(torchvision.models.ResNet50_Weights.DEFAULT)
    assert target.is_relative_to(tmp_path)
    target.parent.mkdir(parents=True)
    torch.save(stand_in.state_dict(), target)
    net = build_model("resnet50", 2, (3, 224, 224), pretrained=True)
    torch.testing.assert_close(net.conv1.weight, stand_in.conv1.weight)
    torch.testing.assert_close(net.layer4[2].conv3.weight, stand_in.layer4[2].conv3.weight)
    assert net.fc.out_features == 2  # the head replaced after loading


def test_pretrained_weights_are_loaded_before_the_head_is_replaced(monkeypatch):
    torch.manual_seed(0)
    reference = torchvision.models.resnet50(weights=None).state_dict()
    requested = []

    def fake_download(url, **kwargs):
        requested.append(url)
        return reference

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    m = build_model("resnet50", 2, (3, 64, 64), pretrained=True, weights="IMAGENET1K_V1")
    assert requested == [torchvision.models.ResNet50_Weights.IMAGENET1K_V1.url]
    torch.testing.assert_close(m.conv1.weight, reference["conv1.weight"])
    torch.testing.assert_close(m.layer4[2].bn3.running_var, reference["layer4.2.bn3.running_var"])
    assert m.fc.out_features == 2 and m.fc.in_features == 2048
    m1000 = build_model("resnet50", 1000, (3, 64, 64), pretrained=True)
    assert requested[-1] == torchvision.models.ResNet50_Weights.DEFAULT.url
    torch.testing.assert_close(m1000.fc.weight, reference["fc.weight"])
