"""aura's configured settings agree with what they claim to be."""
import torch

from conftest import committed_config


def test_core_width_sets_are_the_pruning_cores_per_layer_widths_at_the_table1_ratios():
    """``lenet5_core_widths`` names ``core<r>`` the conv widths the pruning core's per-layer masks give
    HRel's LeNet-5 at each of table1's ratios r, so hrel/aura there compare with L1/random at equal widths."""
    from benchmarks import models
    from methods.pruning import masks_from_scores, prunable_units

    cfg = committed_config()
    sets = cfg["aura"]["lenet5_core_widths"]
    model = models.build_model("lenet5_hrel", 10, (1, 28, 28))
    units = {u.name: u.size for u in prunable_units(model, torch.zeros(1, 1, 28, 28))}
    core = {name: w for name, w in sets.items() if name.startswith("core")}
    assert sorted(float(n[len("core"):]) for n in core) == sorted(cfg["table1"]["ratios"])
    for name, widths in core.items():
        scores = {u: torch.arange(units[u], dtype=torch.float32) for u in widths}
        keep = masks_from_scores(scores, ratio=float(name[len("core"):]), scope="per_layer")
        assert {u: int(k.sum()) for u, k in keep.items()} == widths, name
    for study in ("lenet5-hrel-core", "lenet5-aura-core", "lenet5-l1-core", "lenet5-random-core"):
        s = cfg["aura"]["studies"][study]
        assert s["widths"] == sets and s["in_table1"], study
