"""Layer activity (benchmarks.activations): recorded outputs equal the module's own outputs, row by row, and
the per-epoch recorder keeps what it recorded through an interrupted and resumed training run."""
import pytest
import torch

from benchmarks import training
from benchmarks.activations import ActivityRecorder, record

from test_training import CPU, PROTOCOL, toy_model, toy_splits


def test_record_equals_the_modules_outputs():
    model = toy_model()
    splits = toy_splits()
    batches = training.batches_for(splits.val, CPU)
    got = record(model, batches.eval_batches(25), ["2", "4"])
    x = torch.cat([xb for xb, _ in batches.eval_batches(1000)])
    model.eval()
    with torch.no_grad():
        hidden = model[2](model[1](model[0](x)))
        assert torch.equal(got["2"], hidden) and torch.equal(got["4"], model(x))
    assert got["2"].shape == (60, 16)
    means = record(model, batches.eval_batches(25), ["4"], reduce=lambda t: t.mean(1, keepdim=True))
    assert means["4"].shape == (60, 1)
    with pytest.raises(ValueError, match="no modules"):
        record(model, batches.eval_batches(25), ["nope"])


def test_recorder_logs_set_epochs_and_resumes_exactly(tmp_path):
    splits = toy_splits()

    def recorder():
        return ActivityRecorder([1, 3], lambda: training.batches_for(splits.val, CPU).eval_batches(30), ["2"])

    training.seed_everything(0)
    full = recorder()
    training.train(toy_model(), splits, PROTOCOL, seed=7, device=CPU, progress=False, callbacks=[full])
    assert sorted(full.activity) == [1, 3] and full.activity[1]["2"].shape == (60, 16)
    assert not torch.equal(full.activity[1]["2"], full.activity[3]["2"])  # the network changed in between

    state = tmp_path / "state.pt"
    training.seed_everything(0)
    model = toy_model()
    with pytest.raises(KeyboardInterrupt):
        training.train(model, splits, PROTOCOL, seed=7, device=CPU, progress=False, state_path=state,
                       callbacks=[recorder()], stop_after_steps=20)  # killed in epoch 3, after epoch 1's log
    resumed = recorder()
    training.train(model, splits, PROTOCOL, seed=7, device=CPU, progress=False, state_path=state,
                   callbacks=[resumed])
    assert sorted(resumed.activity) == [1, 3]
    for e in (1, 3):
        assert torch.equal(resumed.activity[e]["2"], full.activity[e]["2"])
