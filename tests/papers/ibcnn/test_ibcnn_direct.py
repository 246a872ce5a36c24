"""The direct convolution + tanh kernels (benchmarks/papers/ibcnn/direct.py): values and all three gradients
against a float64 PyTorch reference on shapes that exercise every block remainder, the tanh's accuracy,
thread-independent weight gradients, the module swap keeping the network and its recorded layers, and a
run recorded on them. One file, so one test worker compiles the extension (about 25 s, once per machine)."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.models import build_model
from benchmarks.papers.ibcnn import direct, record

# (in channels, out channels, kernel, padding, images, size): output channels 1/3/7/12 cover the forward
# kernel's 6-channel blocks and remainders and the weight gradient's 4-channel blocks; 3x3 and 11x11 cover
# the 6-tap blocks' remainders; 3 and 17 images fewer and more than the 16 chunks.
SHAPES = [(1, 3, 3, 1, 5, 12), (3, 3, 3, 0, 17, 10), (12, 12, 3, 0, 3, 9), (3, 7, 5, 2, 4, 11),
          (2, 5, 11, 5, 2, 14), (6, 1, 3, 0, 3, 8), (4, 2, 7, 0, 3, 13)]


def _reference(x, w, b, pad, tanh):
    y = F.conv2d(x, w, b, padding=pad)
    return torch.tanh(y) if tanh else y


@pytest.mark.parametrize("tanh", [True, False])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "C{}K{}R{}p{}N{}H{}".format(*s))
def test_values_and_gradients_match_float64_pytorch(shape, tanh):
    c, k, r, pad, n, h = shape
    g = torch.Generator().manual_seed(sum(shape))
    x64 = torch.rand(n, c, h, h + 1, generator=g, dtype=torch.float64)  # a non-square image
    w64 = torch.randn(k, c, r, r, generator=g, dtype=torch.float64) * 0.4
    b64 = torch.randn(k, generator=g, dtype=torch.float64)
    ref_in = [t.clone().requires_grad_() for t in (x64, w64, b64)]
    y64 = _reference(*ref_in, pad, tanh)
    gy = torch.randn(y64.shape, generator=g, dtype=torch.float64)
    (y64 * gy).sum().backward()
    ours_in = [t.float().requires_grad_() for t in (x64, w64, b64)]
    y = direct.ConvTanhFunction.apply(*ours_in, pad, tanh)
    (y * gy.float()).sum().backward()
    assert y.shape == y64.shape
    for name, a, ref in [("y", y, y64), *zip(("dx", "dw", "db"), (t.grad for t in ours_in), (t.grad for t in ref_in))]:
        err = ((a.double() - ref).abs().max() / ref.abs().max()).item()
        assert err < 5e-6, (name, err)  # float32 rounding: PyTorch's own float32 path is at 1e-7 - 3e-6 here


def test_without_bias_and_without_input_gradient():
    x, w = torch.rand(4, 2, 9, 9), torch.randn(3, 2, 3, 3, requires_grad=True)
    y = direct.ConvTanhFunction.apply(x, w, None, 1, True)
    y.sum().backward()
    w_ref = w.detach().clone().requires_grad_()
    torch.tanh(F.conv2d(x, w_ref, padding=1)).sum().backward()
    torch.testing.assert_close(w.grad, w_ref.grad, rtol=1e-5, atol=1e-5)
    assert x.grad is None


def test_tanh_is_within_1e7_of_the_exact_value():
    z = torch.cat([torch.linspace(-20, 20, 400_001), torch.tensor([0.0, -0.0, 1e-30, -1e-8, 0.625, -0.625, 9.0, 10.0, 88.0, -1e4])])
    ours = direct.extension().tanh(z).double()
    exact = torch.tanh(z.double())
    assert (ours - exact).abs().max().item() < 1.5e-7  # PyTorch's float32 tanh: 3e-8
    small = z.abs() < 0.625  # the polynomial branch is relatively accurate too, down to tiny inputs
    assert ((ours - exact)[small].abs() / exact[small].abs().clamp_min(1e-38)).max().item() < 3e-7
    assert torch.equal(ours[z.abs() >= 9.1], torch.sign(z[z.abs() >= 9.1]).double())  # saturates as float does
    assert torch.equal(direct.extension().tanh(-z), -direct.extension().tanh(z))  # odd, exactly


@pytest.mark.parametrize("ceil_mode", [True, False])
@pytest.mark.parametrize("size", [(24, 24), (7, 9), (1, 3)])
def test_max_pooling_equals_pytorchs_values_and_gradients_exactly(size, ceil_mode):
    if not ceil_mode and min(size) < 2:
        pytest.skip("no full window")
    g = torch.Generator().manual_seed(size[0])
    x = torch.randint(-3, 3, (3, 4, *size), generator=g).float()  # many ties: the same maximum must win
    x[0, 0].fill_(-float("inf"))
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y = direct.MaxPool2Function.apply(x1, ceil_mode)
    ref = F.max_pool2d(x2, 2, 2, ceil_mode=ceil_mode)
    assert torch.equal(y, ref)
    gy = torch.randn(y.shape, generator=g)
    y.backward(gy)
    ref.backward(gy)
    assert torch.equal(x1.grad, x2.grad)


def test_weight_gradient_does_not_depend_on_the_thread_count():
    g = torch.Generator().manual_seed(3)
    x, w = torch.rand(40, 3, 12, 12, generator=g), torch.randn(5, 3, 3, 3, generator=g)
    b = torch.zeros(5)
    y = direct.extension().forward(x, w, b, 0, True)
    gy = torch.randn(y.shape, generator=g)
    threads = torch.get_num_threads()
    try:
        results = []
        for t in (1, 2, 3):
            torch.set_num_threads(t)
            results.append(direct.extension().backward(x, w, y, gy, 0, True, True))
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other))


def test_bad_input_is_refused_with_a_clear_error():
    ext = direct.extension()
    with pytest.raises(RuntimeError, match="float32 CPU"):
        ext.forward(torch.rand(2, 1, 8, 8, dtype=torch.float64), torch.rand(1, 1, 3, 3), torch.zeros(1), 0, True)
    with pytest.raises(RuntimeError, match="input channels"):
        ext.forward(torch.rand(2, 2, 8, 8), torch.rand(1, 1, 3, 3), torch.zeros(1), 0, True)
    with pytest.raises(RuntimeError, match="square kernels"):
        ext.forward(torch.rand(2, 1, 8, 8), torch.rand(1, 1, 3, 5), torch.zeros(1), 0, True)


def test_the_swap_keeps_parameters_layers_and_outputs():
    torch.manual_seed(0)
    model = build_model("ibcnn", 10, (1, 28, 28), width=3, depth=4, kernel_size=3, pooling=True, pool_every=2,
                        fc_layers=[20])
    reference = build_model("ibcnn", 10, (1, 28, 28), width=3, depth=4, kernel_size=3, pooling=True, pool_every=2,
                            fc_layers=[20])
    reference.load_state_dict(model.state_dict())
    layers, keys = record.measured_layers(model), list(model.state_dict())
    assert direct.use_direct_kernels(model) == 4
    assert record.measured_layers(model) == layers and list(model.state_dict()) == keys
    assert [type(m) for m in model][:3] == [direct.DirectConvTanh, direct.AppliedTanh, direct.DirectConvTanh]
    assert sum(type(m) is direct.DirectMaxPool2d for m in model) == 2
    x = torch.rand(6, 1, 28, 28)
    acts = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.Tanh):  # the recorded layers still see each conv's tanh output
            m.register_forward_hook(lambda mod, i, o, name=name: acts.__setitem__(name, o))
    out = model(x)
    ref_acts = {}
    for name, m in reference.named_modules():
        if isinstance(m, nn.Tanh):
            m.register_forward_hook(lambda mod, i, o, name=name: ref_acts.__setitem__(name, o))
    ref_out = reference(x)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    for name in ref_acts:
        torch.testing.assert_close(acts[name], ref_acts[name], rtol=1e-5, atol=1e-5)
    y = torch.randint(0, 10, (6,))
    F.cross_entropy(out, y).backward()
    F.cross_entropy(ref_out, y).backward()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_unsupported_convolutions_are_named():
    assert direct.unsupported(nn.Conv2d(1, 2, 3, stride=2)) .startswith("stride")
    assert "square" in direct.unsupported(nn.Conv2d(1, 2, (3, 5)))
    assert "float32" in direct.unsupported(nn.Conv2d(1, 2, 3).double())
    assert direct.unsupported(nn.Conv2d(1, 2, 3, padding="same")) is None
    with pytest.raises(ValueError, match="stride"):
        direct.use_direct_kernels(nn.Sequential(nn.Conv2d(1, 2, 3, stride=2), nn.Tanh()))
    # a network without conv + tanh pairs is left alone
    assert direct.use_direct_kernels(nn.Sequential(nn.Flatten(), nn.Linear(4, 2))) == 0


def test_a_run_on_the_direct_kernels_is_recorded_and_deterministic(tmp_path, mnist_root):
    from benchmarks import config as ibconfig
    from benchmarks.papers import ibcnn

    spec = ibcnn.run_spec(ibconfig.merge(ibconfig.load_config(), {"ibcnn": {"epoch_cap": 2, "direct_conv": True}}),
                          "k2_3", "mnist", "paper")
    spec.update(val_size=50, max_test=60, store_samples=12, device="cpu")
    spec["sample"]["per_class"] = 6
    spec["protocol"]["batch_size"] = 20
    assert spec["direct_conv"]
    recs = [record.run(spec, 0, mnist_root, tmp_path / f"act{i}", tmp_path / f"run{i}.json") for i in (0, 1)]
    assert recs[0]["kernels"] == "direct (2 conv + tanh layers)" and recs[0]["written_epochs"] == [0, 2]
    assert recs[0]["test"] == recs[1]["test"]
    for e in (0, 2):
        a, b = (torch.load(tmp_path / f"act{i}" / f"epoch{e:05d}.pt", weights_only=False) for i in (0, 1))
        for name, layer in a["splits"]["test"]["layers"].items():
            assert torch.equal(layer["raw"], b["splits"]["test"]["layers"][name]["raw"]), (e, name)


def test_speed_table_measures_the_direct_kernels_in_and_across_processes(monkeypatch):
    from benchmarks.papers.ibcnn import speed

    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # the job's threads: two processes
    table = speed.speed_table({"d1": {"width": 2, "depth": 1, "kernel_size": 3}},
                              ["eager", "direct", "direct_processes"], batch=8, steps=2)
    assert list(table["variant"]) == ["eager", "direct", "direct_processes"]
    side = table.iloc[2]
    assert side["processes"] == 2 and side["threads"] == 1 and side["steps_per_second"] > 0
    with pytest.raises(ValueError, match="own processes"):
        speed.prepare(torch.nn.Sequential(), "direct_processes")
