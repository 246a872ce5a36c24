"""The paper's networks on synthetic data (no ImageNet weights here): the selection on VGG-16 with the
paper's head (the top conv layers, masking = removing), and the filter information of ResNet-50's stage
outputs (Fig 2's layers: the block modules' outputs, after add and ReLU)."""
import math
from types import SimpleNamespace

import torch

from benchmarks.models import build_model
from benchmarks.papers.ibfs import analysis
from methods import Target, get
from methods.ibfs import masked_channels
from methods.pruning import prune

from test_ibfs_method import Harness


def synthetic(n: int, seed: int, side: int = 32):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 3, side, side, generator=g) + 0.5 * y.view(-1, 1, 1, 1).float()
    return x, y


def test_selection_on_vgg16_with_the_paper_head_removes_what_it_masks():
    torch.manual_seed(0)
    net = build_model("vgg16", 2, (3, 32, 32), head="ibfs").eval()
    splits = SimpleNamespace(train=synthetic(24, 1), val=synthetic(24, 2), info=SimpleNamespace(input_shape=(3, 32, 32)))
    # large groups and middle steps: a few dozen trials of a 512-filter layer (a fast test)
    method = get("ibfs", auc_tolerance=0.2, layers=["features.26", "features.28"], batch_size=12, first_group=64,
                 middle_step=128)
    model, keep = method.masks(net, None, splits, Target(0.0), torch.device("cpu"), harness=Harness())
    rep = method.report
    assert rep["layers_top_down"] == ["features.28", "features.26"]
    assert rep["hook_modules"] == {"features.26": "features.27", "features.28": "features.29"}  # the ReLUs
    assert set(keep) == {"features.26", "features.28"} and int(keep["features.28"].sum()) < 512
    x = splits.val[0]
    small = prune(model, keep, torch.zeros(1, 3, 32, 32))
    with torch.no_grad(), masked_channels(model, rep["hook_modules"], keep):
        torch.testing.assert_close(small(x), model(x), rtol=1e-4, atol=1e-4)
    assert small.classifier[0].in_features == int(keep["features.28"].sum()) * 49  # Flatten(7x7xC) -> Dense 256


def test_filter_information_of_resnet50_stage_outputs():
    torch.manual_seed(0)
    net = build_model("resnet50", 2, (3, 32, 32)).eval()
    layers = {"layer4.2": "stage5_out", "layer3.5": "stage4_out", "layer2.3": "stage3_out"}
    modules = {layer: analysis.map_module(net, layer) for layer in layers}
    assert modules == {layer: layer for layer in layers}  # blocks: their own output
    x, y = synthetic(20, 3)
    table, info = analysis.information_table(net, modules, layers, [(x[:10], y[:10]), (x[10:], y[10:])], 100, "mean")
    assert table.groupby("label")["filter"].nunique().to_dict() == {"stage3_out": 512, "stage4_out": 1024,
                                                                     "stage5_out": 2048}
    assert (table["i_ty_bits"] <= table["i_xt_bits"] + 1e-9).all() and (table["samples"] == 20).all()
    assert (table["i_xt_bits"] <= math.log2(20) + 1e-9).all()
