"""Tests of benchmarks.metrics against published and hand-computed numbers."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
import scipy.sparse
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from benchmarks import metrics as M
from benchmarks.models import build_model

MNIST = (1, 28, 28)


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(old)


def x_of(shape):
    return torch.randn(2, *shape)  # a batch of 2: every metric must use one sample only


class SelectFeatures(nn.Module):
    """Keeps a fixed subset of flattened input features (how a pruned input layer looks physically)."""

    def __init__(self, keep: int):
        super().__init__()
        self.register_buffer("idx", torch.arange(keep))

    def forward(self, x):
        return x.index_select(1, self.idx)


def pruned_mlp(widths: tuple[int, int, int]) -> nn.Sequential:
    """LeNet-300-100 after neuron pruning to input-hidden1-hidden2 = ``widths`` (VIBNet Table 1 style)."""
    a, b, c = widths
    return nn.Sequential(nn.Flatten(), SelectFeatures(a), nn.Linear(a, b), nn.ReLU(), nn.Linear(b, c), nn.ReLU(),
                         nn.Linear(c, 10))


def pruned_lenet5(c1: int, c2: int, fc_in: int, fc1: int) -> nn.Sequential:
    """LeNet-5-Caffe pruned to conv1-conv2-(kept fc1 inputs)-fc1 (Bayesian Compression notation)."""
    return nn.Sequential(nn.Conv2d(1, c1, 5), nn.MaxPool2d(2, 2), nn.Conv2d(c1, c2, 5), nn.MaxPool2d(2, 2),
                         nn.Flatten(), SelectFeatures(fc_in), nn.Linear(fc_in, fc1), nn.ReLU(), nn.Linear(fc1, 10))


# ------------------------------------------------------------------------------------------------
# parameters and FLOPs of the published networks
# ------------------------------------------------------------------------------------------------

def test_lenet_300_100_counts():
    m = build_model("lenet_300_100", 10, MNIST)
    assert M.count_parameters(m) == {"total": 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10,
                                     "nonzero": 266_610}
    assert M.flops(m, x_of(MNIST)) == 784 * 300 + 300 * 100 + 100 * 10 == 266_200
    assert M.counted_weights(m)["total"] == 266_200
    assert M.activation_memory(m, x_of(MNIST)) == 784 + 300 + 100
    assert M.r_w(m, m) == 1.0 and M.r_n(m, m, x_of(MNIST)) == 1.0


def test_lenet5_caffe_counts():
    m = build_model("lenet5_caffe", 10, MNIST)
    conv1 = 20 * 24 * 24 * (1 * 5 * 5)  # output maps 20x24x24, each a 1x5x5 dot product
    conv2 = 50 * 8 * 8 * (20 * 5 * 5)
    fc = 800 * 500 + 500 * 10
    assert (conv1, conv2, fc) == (288_000, 1_600_000, 405_000)
    assert M.flops(m, x_of(MNIST)) == conv1 + conv2 + fc == 2_293_000
    assert [n for _, n in M.layer_flops(m, x_of(MNIST))] == [conv1, conv2, 400_000, 5_000]
    assert M.count_parameters(m)["total"] == 431_080
    assert M.counted_weights(m)["total"] == 500 + 25_000 + 400_000 + 5_000


# VIBNet Table 1 (LeNet-300-100): pruned architecture -> (r_W %, r_N %), all seven rows. DN's r_W
# (23.05 %) is not the structural count of 542-83-61 (19.03 %), presumably taken from the DN paper with
# further weight sparsity, so only its r_N is checked.
VIBNET_TABLE1 = {(512, 114, 72): (25.28, 58.95), (278, 98, 13): (10.76, 32.85), (311, 86, 14): (10.55, 34.71),
                 (219, 214, 100): (26.02, 45.02), (266, 88, 33): (10.01, 32.69), (542, 83, 61): (None, 57.94),
                 (97, 71, 33): (3.59, 16.98)}


@pytest.mark.parametrize("widths", list(VIBNET_TABLE1))
def test_vibnet_table1_r_w_and_r_n(widths):
    original = build_model("lenet_300_100", 10, MNIST)
    pruned = pruned_mlp(widths)
    rw_pct, rn_pct = VIBNET_TABLE1[widths]
    if rw_pct is not None:
        assert round(100 * M.r_w(pruned, original), 2) == rw_pct
    assert round(100 * M.r_n(pruned, original, x_of(MNIST)), 2) == rn_pct


def test_vibnet_table2_bc_architectures_r_w_and_flops():
    # Bayesian Compression's LeNet-5 results (5-10-76-16 GHS, 8-13-88-13 GNJ): Table 2 prints
    # r_W 0.64 / 0.95 % and 0.153 / 0.283 MFLOPs for them.
    original = build_model("lenet5_caffe", 10, MNIST)
    for arch, rw_pct, mflops in (((5, 10, 76, 16), 0.64, 0.153), ((8, 13, 88, 13), 0.95, 0.283)):
        pruned = pruned_lenet5(*arch)
        assert round(100 * M.r_w(pruned, original), 2) == rw_pct
        assert round(M.flops(pruned, x_of(MNIST)) / 1e6, 3) == mflops
    ghs = pruned_lenet5(5, 10, 76, 16)
    # hand count: 5*24*24*25 + 10*8*8*5*25 + 76*16 + 16*10
    assert M.flops(ghs, x_of(MNIST)) == 72_000 + 80_000 + 1_216 + 160
    # run-time memory: first-layer input 784, conv1 5x24x24, conv2 10x8x8, fc1 16 (logits excluded)
    assert M.activation_memory(ghs, x_of(MNIST)) == 784 + 2880 + 640 + 16
    assert M.activation_memory(ghs, x_of(MNIST), include_input=False) == 2880 + 640 + 16


def test_r_w_switches_and_zeros():
    original = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
    pruned = nn.Sequential(nn.Linear(4, 2), nn.BatchNorm1d(2), nn.Linear(2, 2))
    with torch.no_grad():
        pruned[0].weight[0, :2] = 0.0  # exact zeros count as removed
    # weights only: (8 - 2 + 4) / (12 + 6)
    assert M.r_w(pruned, original) == pytest.approx(10 / 18)
    assert M.r_w(pruned, original, include_bias=True) == pytest.approx((10 + 2 + 2) / (18 + 3 + 2))
    # BatchNorm starts at weight 1, bias 0: its zero biases count as removed
    assert M.r_w(pruned, original, include_bias=True, include_norm=True) == pytest.approx((14 + 2) / (23 + 6))
    assert M.count_parameters(pruned) == {"total": 8 + 2 + 2 + 2 + 4 + 2, "nonzero": 6 + 2 + 2 + 0 + 4 + 2}


# ------------------------------------------------------------------------------------------------
# flops == flops_torch / 2
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,shape,params", [
    ("mint_mlp", MNIST, {}),
    ("lenet5_caffe", MNIST, {}),
    ("vgg16_cifar", (3, 32, 32), {"head": "mint"}),
    ("resnet56", (3, 32, 32), {}),
    ("ibcnn", MNIST, {"width": 3, "depth": 5, "kernel_size": 3, "pooling": True, "fc_layers": [50, 20]}),
])
def test_flops_agree_with_torch_counter(name, shape, params):
    m = build_model(name, 10, shape, **params)
    x = x_of(shape)
    macs = M.flops(m, x)
    assert macs > 0 and 2 * macs == M.flops_torch(m, x)


def test_flops_of_conv_options_by_hand():
    # groups, stride, padding and dilation enter through the output shape and in_channels/groups
    conv = nn.Conv2d(4, 6, kernel_size=(3, 2), stride=2, padding=1, dilation=(2, 1), groups=2)
    x = torch.randn(1, 4, 9, 8)
    out = conv(x)
    h = (9 + 2 - 2 * (3 - 1) - 1) // 2 + 1  # 4
    w = (8 + 2 - 1 * (2 - 1) - 1) // 2 + 1  # 5
    assert out.shape[2:] == (h, w)
    assert M.flops(conv, x) == 6 * h * w * (4 // 2) * 3 * 2
    assert 2 * M.flops(conv, x) == M.flops_torch(conv, x)
    # a layer used twice counts twice
    lin = nn.Linear(5, 5)
    twice = nn.Sequential(lin, nn.ReLU(), lin)
    assert M.flops(twice, torch.randn(3, 5)) == 2 * 25


def test_metrics_do_not_change_training_mode():
    m = build_model("vgg16_cifar", 10, (3, 32, 32), head="hrel")
    m.train()
    m.features[1].eval()  # a mixed-mode model must come back mixed
    M.flops(m, x_of((3, 32, 32)))
    M.activation_memory(m, x_of((3, 32, 32)))
    assert m.training and not m.features[1].training and m.classifier[2].training


# ------------------------------------------------------------------------------------------------
# activation memory
# ------------------------------------------------------------------------------------------------

def test_activation_memory_tiny_convnet_by_hand():
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),            # 4 x 8 x 8 = 256
        nn.ReLU(), nn.MaxPool2d(2),               # pooled maps are not layer outputs
        nn.Conv2d(4, 5, 3, stride=2, padding=1),  # 5 x 2 x 2 = 20
        nn.Flatten(),
        nn.Linear(20, 7), nn.ReLU(),              # 7
        nn.Linear(7, 3),                          # logits: not counted
    )
    x = torch.randn(2, 3, 8, 8)
    assert M.activation_sizes(net, x) == [("input:0", 3 * 8 * 8), ("0", 256), ("3", 20), ("5", 7)]
    assert M.activation_memory(net, x) == 192 + 256 + 20 + 7
    assert M.activation_memory(net, x, include_input=False) == 256 + 20 + 7


def test_r_n_and_r_w_on_hand_pruned_convnet():
    def net(c1, c2, h):
        return nn.Sequential(nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(),
                             nn.Flatten(), nn.Linear(c2 * 36, h), nn.ReLU(), nn.Linear(h, 2))
    original, pruned = net(8, 6, 10), net(3, 2, 4)
    x = torch.randn(1, 1, 6, 6)
    assert M.r_n(pruned, original, x) == pytest.approx((36 + 3 * 36 + 2 * 36 + 4) / (36 + 8 * 36 + 6 * 36 + 10))
    w_orig = 8 * 9 + 8 * 6 * 9 + 6 * 36 * 10 + 10 * 2
    w_pruned = 3 * 9 + 3 * 2 * 9 + 2 * 36 * 4 + 4 * 2
    assert M.r_w(pruned, original) == pytest.approx(w_pruned / w_orig)
    f_pruned = 36 * 3 * 9 + 36 * 2 * 3 * 9 + 72 * 4 + 4 * 2
    assert M.flops(pruned, x) == f_pruned


# ------------------------------------------------------------------------------------------------
# storage
# ------------------------------------------------------------------------------------------------

def test_csr_bytes_tiny_sparse_linear_by_hand():
    lin = nn.Linear(5, 3)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0., 1., 0., 0., 2.], [0., 0., 0., 0., 0.], [3., 0., 0., 4., 5.]]))
    nnz, rows = 5, 3
    expected = nnz * 4 + nnz * 4 + (rows + 1) * 4 + 3 * 4  # data + indices + indptr + dense bias
    assert M.csr_storage_bytes(lin) == expected == 68
    assert M.csr_storage_mb(lin) == pytest.approx(68e-6)
    csr = scipy.sparse.csr_matrix(lin.weight.detach().numpy())
    assert csr.data.nbytes + csr.indices.nbytes + csr.indptr.nbytes + lin.bias.numel() * 4 == expected


def test_csr_bytes_conv_reshaped_and_norm_switch():
    net = nn.Sequential(nn.Conv2d(2, 3, 2, bias=False), nn.BatchNorm2d(3))
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].weight[1, 0, 1, 1] = 1.0
    # one nonzero; weight viewed as 3 x 8, so indptr has 4 entries
    assert M.csr_storage_bytes(net) == 4 + 4 + 4 * 4
    assert M.csr_storage_bytes(net, include_norm=True) == 24 + 4 * 3 * 4  # weight, bias, mean, var


def test_csr_storage_mint_convention():
    lin = nn.Linear(20, 30)
    with torch.no_grad():
        lin.weight[lin.weight.abs() < 0.1] = 0.0
    expected = 0
    for t in (lin.weight.detach().numpy(), lin.bias.detach().numpy().reshape(1, -1)):
        buf = io.BytesIO()
        scipy.sparse.save_npz(buf, scipy.sparse.csr_matrix(t))  # compressed, as MINT's scripts
        expected += len(buf.getvalue())
    assert M.csr_storage_mint(lin) == pytest.approx(expected / 2 ** 20)
    # MINT's MNIST-MLP row counts layer 2 only: 300x500 weights + 300 biases, about 0.539 MiB
    mlp = build_model("mint_mlp", 10, MNIST)
    layer2 = M.csr_storage_mint(mlp, layers=[1])
    assert 0.50 < layer2 < 0.58
    assert M.csr_storage_mint(mlp) > 3 * layer2
    with pytest.raises(ValueError, match="layers"):
        M.csr_storage_mint(mlp, layers=[3])


# ------------------------------------------------------------------------------------------------
# calibration and AUC
# ------------------------------------------------------------------------------------------------

def test_ece_perfectly_calibrated_is_zero():
    # confidence 0.8 in every row, and exactly 80 % of the predictions right
    probs = torch.tensor([[0.8, 0.2]] * 10, dtype=torch.float64)  # float32 0.8 is 0.8000000119
    labels = torch.tensor([0] * 8 + [1] * 2)
    assert M.expected_calibration_error(probs, labels) == pytest.approx(0.0, abs=1e-12)


def test_ece_known_miscalibration():
    # bin of conf 0.9 (4 samples, 2 right): |0.5 - 0.9| ; bin of conf 0.6 (6 samples, 6 right): |1 - 0.6|
    probs = torch.tensor([[0.9, 0.1]] * 4 + [[0.4, 0.6]] * 6, dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1] + [1] * 6)
    expected = 0.4 * 0.4 + 0.6 * 0.4
    assert M.expected_calibration_error(probs, labels, n_bins=10) == pytest.approx(expected)
    d = M.reliability_diagram_data(probs, labels, n_bins=10)
    assert d["count"].tolist() == [0, 0, 0, 0, 0, 6, 0, 0, 4, 0]  # 0.6 in (0.5, 0.6], 0.9 in (0.8, 0.9]
    assert d["accuracy"][5] == 1.0 and d["accuracy"][8] == 0.5
    assert d["confidence"][8] == pytest.approx(0.9) and math.isnan(d["accuracy"][0])


def test_ece_rejects_logits():
    with pytest.raises(ValueError, match="softmax"):
        M.expected_calibration_error(torch.tensor([[2.0, -1.0]]), torch.tensor([0]))


def test_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.normal(size=300) + labels, 1)  # rounding creates many ties
    assert len(np.unique(scores)) < 150
    assert M.auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert M.auc([0.5, 0.5, 0.5], [0, 1, 1]) == 0.5
    assert M.auc(torch.tensor([0.1, 0.9]), torch.tensor([0, 1])) == 1.0
    with pytest.raises(ValueError, match="both classes"):
        M.auc([0.1, 0.2], [1, 1])


# ------------------------------------------------------------------------------------------------
# latency and measure
# ------------------------------------------------------------------------------------------------

def test_latency_returns_positive_numbers():
    m = build_model("lenet_300_100", 10, MNIST)
    res = M.latency(m, MNIST, 4, "cpu", repeats=3, warmup=1, threads=1)
    assert {"median_s", "p10_s", "p90_s", "threads", "batch_size", "device"} <= set(res)
    assert 0 < res["p10_s"] <= res["median_s"] <= res["p90_s"]
    assert res["threads"] == 1 and res["batch_size"] == 4


def test_measure_flat_dict():
    original = build_model("lenet_300_100", 10, MNIST)
    pruned = pruned_mlp((97, 71, 33))
    logits = torch.tensor([[3.0, 0.0] + [-5.0] * 8, [0.0, 2.0] + [-5.0] * 8, [1.0, 0.0] + [-5.0] * 8])
    labels = torch.tensor([0, 0, 0])
    out = M.measure(pruned, original, x_of(MNIST), logits=logits, labels=labels, latency_batches=(1, 8),
                    latency_repeats=2, latency_warmup=1)
    assert round(100 * out["r_w"], 2) == 3.59 and round(100 * out["r_n"], 2) == 16.98
    assert out["flops"] == 97 * 71 + 71 * 33 + 330 == out["flops_torch_macs"]
    assert out["flops_original"] == 266_200
    assert out["flops_ratio"] == pytest.approx(out["flops"] / 266_200)
    assert out["params_total_original"] == 266_610
    assert out["error"] == pytest.approx(1 / 3) and out["n_test"] == 3
    assert 0 <= out["ece"] <= 1 and out["nll"] > 0
    assert out["csr_mb"] < out["csr_mb_original"] and out["csr_mint_mib"] < out["csr_mint_mib_original"]
    for b in (1, 8):
        assert out[f"latency_b{b}_cpu_ms"] > 0
        assert out[f"latency_b{b}_cpu_p10_ms"] <= out[f"latency_b{b}_cpu_p90_ms"]
    assert out["latency_cpu_threads"] >= 1 and "auc" not in out
    assert all(np.isscalar(v) for v in out.values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_measure_on_cuda():
    original = build_model("lenet5_caffe", 10, MNIST).cuda()
    pruned = pruned_lenet5(5, 10, 76, 16).cuda()
    x = torch.zeros(1, *MNIST, device="cuda")
    out = M.measure(pruned, original, x, latency_batches=(2,), device="cuda", latency_repeats=2, latency_warmup=1)
    assert out["flops"] == 153_376 == out["flops_torch_macs"] and out["flops_original"] == 2_293_000
    assert out["latency_b2_gpu_ms"] > 0 and out["latency_b2_cpu_ms"] > 0
    assert next(pruned.parameters()).is_cuda  # CPU timing used a copy
