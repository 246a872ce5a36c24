"""HRel and aura as pruning methods: HRel's round arithmetic (limits, per-round counts, the VGG code's
overshoot reproducing aura's Configuration 1), rounds of scoring -> physical removal -> fine-tuning through
the harness, the function kept on kept channels, and resuming a killed run at its last finished round."""
import pytest
import torch
from torch import nn

from benchmarks import pipeline, training
from methods import Target, get
from methods.iterative import round_removals, schedule
from methods.pruning import masked_copy, prune

from test_training import CPU, toy_splits

VGG_SIZES = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
VGG_FRACTIONS = [.02] * 2 + [.04] * 2 + [.05] * 3 + [.1] * 6
VGG_PAPER_LIMITS = [19, 48, 65, 65, 96, 112, 110, 186, 79, 79, 49, 48, 60]
CONFIGURATION_1 = [19, 48, 64, 64, 95, 107, 107, 175, 71, 71, 44, 44, 56]  # aura Table 1


def test_round_counts_and_limits():
    assert round_removals([20, 50], [2, 3], [0.04, 0.12]) == [1, 7]  # int(20 * .04) + 1, int(50 * .12) + 1
    assert round_removals([3, 4], [2, 3], [0.5, 0.9]) == [1, 1]  # capped at the limit
    assert round_removals([2, 3], [2, 3], [0.5, 0.5]) == [0, 0]
    assert round_removals([3, 4], [2, 3], [0.5, 0.9], overshoot=True) == [2, 3]
    plan = schedule([20, 50], [2, 3], [0.04, 0.12])
    assert plan[-1] == [2, 3] and plan[0] == [19, 43] and len(plan) == 18  # conv1 loses one filter a round


def test_overshoot_reproduces_configuration_1_from_the_paper_limits():
    """HRel's VGG code does not cap a round's removal at the limit: from the paper's limits it ends at
    exactly aura's Configuration 1, after 37 rounds (the notes' count)."""
    plan = schedule(VGG_SIZES, VGG_PAPER_LIMITS, VGG_FRACTIONS, overshoot=True)
    assert plan[-1] == CONFIGURATION_1 and len(plan) == 37
    capped = schedule(VGG_SIZES, VGG_PAPER_LIMITS, VGG_FRACTIONS)
    assert capped[-1] == VGG_PAPER_LIMITS and len(capped) == 37


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(8 * 36, 3))


FINETUNE = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "batch_size": 40, "epochs": 1}


@pytest.mark.parametrize("method,extra", [("aura", {"bins": 16}), ("hrel", {}), ("hrel", {"alpha": 1.0})])
def test_rounds_prune_physically_and_keep_the_function_on_kept_channels(method, extra):
    splits = toy_splits()
    m = get(method, fractions=[0.2, 0.2], score_batches=2, batch_size=30, finetune=FINETUNE, **extra)
    x0 = torch.zeros(1, 1, 6, 6)
    model = _net()
    training.seed_everything(0)
    last, keep = m.masks(model, None, splits, Target(0.0, widths={"0": 3, "2": 4}), CPU,
                         harness=pipeline.TrainerHarness(splits, CPU))
    plan = m.report["plan"]
    assert plan[-1] == [3, 4] and m.report["rounds"] == len(plan) >= 2
    # the network handed back is the one before the last round, physically smaller already
    assert [last[0].out_channels, last[2].out_channels] == plan[-2]
    assert {k: int(v.sum()) for k, v in keep.items()} == {"0": 3, "2": 4}
    pruned = prune(last, keep, x0)
    x = torch.randn(5, 1, 6, 6)
    with torch.no_grad():
        assert torch.allclose(pruned(x), masked_copy(last, keep, x0)(x), atol=1e-6)
    hist = m.report["history"]
    assert [h["round"] for h in hist] == list(range(1, len(plan) + 1))
    assert all(len(h["scores"]["0"]) == h["widths_before"]["0"] for h in hist)


def test_limits_from_the_target_ratio_match_the_pruning_core():
    m = get("aura", bins=8, fractions=0.5, score_batches=1, batch_size=20)
    units = m.pruned_units(_net(), torch.zeros(1, 1, 6, 6))
    assert [u.name for u in units] == ["0", "2"]
    assert m.limits_for(units, Target(0.5)) == [3, 4] and m.limits_for(units, Target(0.7)) == [2, 2]
    only_second = m.pruned_units(_net(), torch.zeros(1, 1, 6, 6), Target(0.0, widths={"2": 5}))
    assert [u.name for u in only_second] == ["2"]
    assert [u.name for u in m.pruned_units(_net(), torch.zeros(1, 1, 6, 6), Target(0.0, widths={"[02]": 2}))] == ["0", "2"]
    with pytest.raises(ValueError, match="matches no prunable unit"):
        m.pruned_units(_net(), torch.zeros(1, 1, 6, 6), Target(0.0, widths={"9": 5}))


def test_a_killed_run_resumes_at_its_last_finished_round(tmp_path):
    splits = toy_splits()
    state = tmp_path / "rounds.pt"
    kw = dict(fractions=[0.2, 0.2], score_batches=1, batch_size=30, finetune=FINETUNE, bins=16)

    def run(harness, state_path=None):
        training.seed_everything(0)
        m = get("aura", state_path=state_path, **kw)
        return m, m.masks(_net(), None, splits, Target(0.0, widths={"0": 2, "2": 3}), CPU, harness=harness)

    full, (model_a, keep_a) = run(pipeline.TrainerHarness(splits, CPU))

    class Killed(pipeline.TrainerHarness):
        calls = 0

        def train(self, *a, **k):
            Killed.calls += 1
            if Killed.calls == 2:
                raise KeyboardInterrupt("killed in the second round's fine-tuning")
            return super().train(*a, **k)

    with pytest.raises(KeyboardInterrupt):
        run(Killed(splits, CPU), str(state))
    assert state.exists()
    resumed, (model_b, keep_b) = run(pipeline.TrainerHarness(splits, CPU), str(state))
    assert {k: v.tolist() for k, v in keep_a.items()} == {k: v.tolist() for k, v in keep_b.items()}
    for (k, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(a, b), k
    assert not state.exists()


def test_structural_methods_prune_to_given_widths():
    """L1 and random reach the same widths as HRel/aura through the shared scores -> masks step; units not
    named keep every channel."""
    from methods.pruning import prunable_units

    splits = toy_splits()
    model = _net()
    units = prunable_units(model, torch.zeros(1, 1, 6, 6))
    for name in ("l1", "random"):
        _, keep = get(name).masks(model, units, splits, Target(0.0, widths={"2": 3}), CPU)
        assert {k: int(v.sum()) for k, v in keep.items()} == {"0": 6, "2": 3}
    with pytest.raises(ValueError, match="positive ints"):
        Target(0.0, widths={"0": 0})


@pytest.mark.parametrize("method", ["l1_rounds", "random_rounds"])
def test_rounds_controls_rank_without_data(method):
    """The controls keep HRel's rounds and rank by weights / at random: the L1 control keeps the filters of
    largest L1 norm in the last round, the random one draws anew each round."""
    splits = toy_splits()
    m = get(method, fractions=[0.2, 0.2], finetune=None)
    model = _net()
    last, keep = m.masks(model, None, splits, Target(0.0, widths={"0": 3, "2": 4}), CPU,
                         harness=pipeline.TrainerHarness(splits, CPU))
    assert {k: int(v.sum()) for k, v in keep.items()} == {"0": 3, "2": 4} and m.report["rounds"] >= 2
    if method == "l1_rounds":
        norms = last[0].weight.detach().abs().sum((1, 2, 3))
        assert set(torch.topk(norms, 3).indices.tolist()) == set(torch.nonzero(keep["0"]).flatten().tolist())
    else:
        scores = [h["scores"]["0"] for h in m.report["history"]]
        assert scores[0][:3] != scores[1][:3]


def test_hrel_tracked_kernel_width_follows_the_fine_tuning_steps():
    """HRel's code option: the layer width is an EMA over the fine-tuning steps, and the next round scores
    with it; the tracker's state is what the trainer saves for an exact resume."""
    splits = toy_splits()
    m = get("hrel", kernel_width="tracked", track_epochs=1, fractions=[0.2, 0.2], score_batches=1, batch_size=30,
            finetune=FINETUNE)
    m.masks(_net(), None, splits, Target(0.0, widths={"0": 3, "2": 4}), CPU, harness=pipeline.TrainerHarness(splits, CPU))
    assert set(m._tracked) == {"0", "2"} and all(v > 0 for v in m._tracked.values())
    tracker = m._trackers[0]
    assert tracker.state_dict() == {"sigma": m._tracked} and not tracker._handles  # hooks removed after use


def _bn_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
                         nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 36, 3))


@pytest.mark.parametrize("resume", [False, True])
def test_masked_removal_keeps_the_bn_shift_of_removed_channels(tmp_path, resume):
    """HRel's ResNet code (``removal="masked"``): removed filters are zeroed and held at zero through the
    rounds' fine-tuning while their BN stays, so each removed channel outputs the BN's shift; the network
    stays full-size until the pipeline removes the channels with the last round. Resuming replays it."""
    splits = toy_splits()
    x0 = torch.zeros(1, 1, 6, 6)
    state = str(tmp_path / "rounds.pt") if resume else None

    class Killed(pipeline.TrainerHarness):
        calls = 0

        def train(self, *a, **k):
            Killed.calls += 1
            if resume and Killed.calls == 2:
                raise KeyboardInterrupt("killed in the second round's fine-tuning")
            return super().train(*a, **k)

    def run(harness, state_path=state):
        training.seed_everything(0)
        m = get("hrel", fractions=[0.2], score_batches=2, batch_size=30, finetune=FINETUNE, removal="masked",
                state_path=state_path)
        return m, m.masks(_bn_net(), None, splits, Target(0.0, widths={"0": 2}), CPU, harness=harness)

    if resume:
        with pytest.raises(KeyboardInterrupt):
            run(Killed(splits, CPU))
    m, (last, keep) = run(pipeline.TrainerHarness(splits, CPU))
    if resume:  # the same network and keep-masks as a run never killed
        _, (last_ref, keep_ref) = run(pipeline.TrainerHarness(splits, CPU), None)
        assert torch.equal(keep["0"], keep_ref["0"])
        for (k, a), b in zip(last.state_dict().items(), last_ref.state_dict().values()):
            assert torch.equal(a, b), k
    plan = m.report["plan"]
    assert m.report["removal"] == "masked" and len(plan) >= 3 and plan[-1] == [2]
    assert last[0].out_channels == 6 and int(keep["0"].sum()) == 2  # full size; keep in its coordinates
    hist = m.report["history"]
    assert [len(h["scores"]["0"]) for h in hist] == [h["widths_before"]["0"] for h in hist]  # live ones only
    removed_before_last = last[0].weight.detach().flatten(1).abs().sum(1) == 0
    assert int(removed_before_last.sum()) == 6 - plan[-2][0]  # zeroed, and held there through fine-tuning
    assert not bool((removed_before_last & keep["0"]).any())  # the last round keeps only live channels
    last.eval()
    with torch.no_grad():
        bn_out = last[1](last[0](torch.randn(4, 1, 6, 6)))
        shift = last[1].bias - last[1].weight * last[1].running_mean / torch.sqrt(last[1].running_var + last[1].eps)
        dead = removed_before_last.nonzero().squeeze(1)
        assert torch.allclose(bn_out[:, dead], shift[dead].reshape(1, -1, 1, 1).expand_as(bn_out[:, dead]), atol=1e-6)
        assert bool((shift[dead].abs() > 1e-4).any())  # the removed channels carry a constant, not zero
        x = torch.randn(5, 1, 6, 6)
        pruned = prune(last, keep, x0)  # the pipeline's physical removal drops those constants
        assert pruned[0].out_channels == 2
        assert torch.allclose(pruned(x), masked_copy(last, keep, x0)(x), atol=1e-5)
    if resume:
        assert not (tmp_path / "rounds.pt").exists()


def test_removal_option_is_checked():
    with pytest.raises(ValueError, match="removal must be one of"):
        get("hrel", removal="bn")
